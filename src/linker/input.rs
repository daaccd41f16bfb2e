//! Reading inputs: mapping files, searching libraries, expanding input scripts and pulling
//! archive members in GNU ld's order.

use crate::linker::args::{Args, InputArg, InputKind};
use crate::linker::object_file::{ObjectFile, SecState};
use crate::linker::symbols::SymbolTable;
use anyhow::{anyhow, bail, Context, Result};
use object::read::archive::ArchiveFile;
use std::path::{Path, PathBuf};

/// Maps a file for the lifetime of the process. Inputs are read-only and the link is a one-shot
/// process, so leaking the mapping gives every parsed structure a `'static` borrow.
pub fn map_file(path: &Path) -> Result<&'static [u8]> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        bail!("{}: is a directory, not an input file", path.display());
    }
    let len = meta.len();
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: inputs are not expected to change during the link; like every mmap-based linker we
    // accept that a concurrent writer could change what we read.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("cannot map {}", path.display()))?;
    Ok(Box::leak(Box::new(map)))
}

struct ArchiveInput {
    path: PathBuf,
    data: &'static [u8],
    thin: bool,
    /// Symbol index: (name, member offset).
    index: Vec<(&'static [u8], u64)>,
    /// Member offsets already extracted.
    loaded: std::collections::HashSet<u64>,
    position: u32,
}

pub struct Loaded {
    pub files: Vec<ObjectFile>,
    pub symtab: SymbolTable,
}

struct Loader<'a> {
    args: &'a Args,
    files: Vec<ObjectFile>,
    symtab: SymbolTable,
    extract_seq: u32,
}

/// An input after library search and script expansion.
enum Resolved {
    Object(PathBuf, &'static [u8]),
    Archive(PathBuf, &'static [u8]),
    /// An input script (glibc's libm.a, say): its inputs and groups, in order.
    Script(PathBuf, Vec<Resolved>),
    Group(Vec<Resolved>),
}

pub fn load(args: &Args) -> Result<Loaded> {
    let mut loader = Loader {
        args,
        files: Vec::new(),
        symtab: SymbolTable::default(),
        extract_seq: 0,
    };
    for name in args.undefined.iter().chain(args.entry.iter()) {
        let name: &'static [u8] = Box::leak(name.clone().into_bytes().into_boxed_slice());
        let id = loader.symtab.intern(name);
        loader.symtab.syms[id as usize].strong_ref = true;
    }

    // Split the command line into runs: each group is processed as a unit.
    let mut i = 0;
    let mut position = 0u32;
    while i < args.inputs.len() {
        let g = args.inputs[i].group;
        let mut j = i + 1;
        if g.is_some() {
            while j < args.inputs.len() && args.inputs[j].group == g {
                j += 1;
            }
        }
        let mut items = Vec::new();
        for input in &args.inputs[i..j] {
            items.push((loader.resolve(input)?, input.whole_archive));
        }
        if g.is_some() {
            let group = items.into_iter().collect::<Vec<_>>();
            loader.process_group(group, &mut position)?;
        } else {
            for (r, whole) in items {
                loader.process(r, whole, &mut position)?;
            }
        }
        i = j;
    }
    loader.files.push(ObjectFile::linker_note());
    // In parallel, and the first bad file in link order is the one reported.
    {
        use rayon::prelude::*;
        let checks: Vec<Result<()>> = loader
            .files
            .par_iter()
            .map(ObjectFile::check_relocations)
            .collect();
        checks.into_iter().collect::<Result<()>>()?;
    }
    Ok(Loaded {
        files: loader.files,
        symtab: loader.symtab,
    })
}

impl Loader<'_> {
    fn find_lib(&self, name: &str, static_only: bool) -> Result<PathBuf> {
        let candidates: Vec<String> = if let Some(exact) = name.strip_prefix(':') {
            vec![exact.to_string()]
        } else if static_only {
            vec![format!("lib{name}.a")]
        } else {
            // spacer builds static executables: a static archive is preferred; a `.so` is only
            // useful when it is an input script that names archives.
            vec![format!("lib{name}.a"), format!("lib{name}.so")]
        };
        for dir in &self.args.lib_paths {
            for c in &candidates {
                // `DIR/NAME` as written, as GNU ld forms it (`-L/usr/lib/` gives
                // `/usr/lib//libc.a`): `-t` and messages name the file as ld.bfd does.
                let mut p = dir.as_os_str().to_owned();
                p.push("/");
                p.push(c);
                let p = PathBuf::from(p);
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
        bail!(
            "cannot find -l{name} (searched {} directories)",
            self.args.lib_paths.len()
        )
    }

    fn resolve(&self, input: &InputArg) -> Result<Resolved> {
        let path = match &input.kind {
            InputKind::File(p) => p.clone(),
            InputKind::Lib(name) => self.find_lib(name, input.static_only)?,
        };
        self.resolve_path(path, input.static_only, 0)
    }

    fn resolve_path(&self, path: PathBuf, static_only: bool, depth: usize) -> Result<Resolved> {
        let data = map_file(&path)?;
        if data.starts_with(b"!<arch>\n") || data.starts_with(b"!<thin>\n") {
            return Ok(Resolved::Archive(path, data));
        }
        if data.starts_with(b"\x7fELF") {
            return Ok(Resolved::Object(path, data));
        }
        if depth > 16 {
            bail!("{}: input scripts nested too deeply", path.display());
        }
        // Text: an input script such as glibc's libm.a (`GROUP ( libm-2.36.a libmvec.a )`).
        let text = std::str::from_utf8(data)
            .map_err(|_| anyhow!("{}: file format not recognized", path.display()))?;
        let entries = parse_input_script(text).with_context(|| {
            format!("{}: not an object, archive or input script", path.display())
        })?;
        let mut out = Vec::new();
        for (is_group, names) in entries {
            let mut items = Vec::new();
            for n in names {
                let p = if let Some(lib) = n.strip_prefix("-l") {
                    self.find_lib(lib, static_only)?
                } else {
                    let p = PathBuf::from(&n);
                    if p.is_file() {
                        p
                    } else if let Some(found) =
                        path.parent().map(|d| d.join(&n)).filter(|p| p.is_file())
                    {
                        found
                    } else {
                        self.args
                            .lib_paths
                            .iter()
                            .map(|d| d.join(&n))
                            .find(|p| p.is_file())
                            .ok_or_else(|| anyhow!("{}: cannot find {n}", path.display()))?
                    }
                };
                items.push(self.resolve_path(p, static_only, depth + 1)?);
            }
            if is_group {
                out.push(Resolved::Group(items));
            } else {
                out.extend(items);
            }
        }
        Ok(Resolved::Script(path, out))
    }

    fn process_group(&mut self, items: Vec<(Resolved, bool)>, position: &mut u32) -> Result<()> {
        let before = self.symtab.undefs;
        let mut archives = Vec::new();
        for (r, whole) in items {
            self.process_into(r, whole, position, &mut archives)?;
        }
        self.search_again(&mut archives, before)
    }

    /// GNU ld's group search: the group's archives are searched again, in order, for as long
    /// as the previous pass added undefined symbols (`before`: the count when it began).
    fn search_again(&mut self, archives: &mut [ArchiveInput], mut before: u64) -> Result<()> {
        while self.symtab.undefs != before {
            before = self.symtab.undefs;
            for ar in archives.iter_mut() {
                self.trace_file(&ar.path);
                self.extract_needed(ar)?;
            }
        }
        Ok(())
    }

    /// `-t`: each input file as it is loaded, and each archive as it is searched, on standard
    /// output as GNU ld prints them.
    fn trace_file(&self, path: &Path) {
        if self.args.trace > 0 {
            println!("{}", path.display());
        }
    }

    /// `-y SYM`: the file's definitions of and references to the traced symbols, in its
    /// symbol table's order. A symbol of a discarded COMDAT group counts as a reference.
    fn trace_symbols(&self, obj: &ObjectFile) {
        for s in &obj.symbols[obj.first_global..] {
            if !self
                .args
                .trace_symbols
                .iter()
                .any(|t| t.as_bytes() == s.name)
            {
                continue;
            }
            let discarded = (s.shndx as usize) < obj.sections.len()
                && obj.sections[s.shndx as usize].state == SecState::ComdatDiscarded;
            let what = if s.is_undefined() || discarded {
                "reference to"
            } else {
                "definition of"
            };
            eprintln!(
                "spacer: {}: {what} {}",
                obj.name,
                String::from_utf8_lossy(s.name)
            );
        }
    }

    fn process(&mut self, r: Resolved, whole: bool, position: &mut u32) -> Result<()> {
        let mut archives = Vec::new();
        self.process_into(r, whole, position, &mut archives)
    }

    /// Loads one resolved input; archives are scanned once and pushed to `archives` so a group
    /// can scan them again.
    fn process_into(
        &mut self,
        r: Resolved,
        whole: bool,
        position: &mut u32,
        archives: &mut Vec<ArchiveInput>,
    ) -> Result<()> {
        match r {
            Resolved::Object(path, data) => {
                *position += 1;
                self.trace_file(&path);
                let obj = ObjectFile::parse(path.display().to_string(), data, (*position, 0))?;
                self.add(obj);
            }
            Resolved::Archive(path, data) => {
                *position += 1;
                self.trace_file(&path);
                let mut ar = open_archive(path, data, *position)?;
                if whole {
                    self.extract_all(&mut ar)?;
                } else {
                    self.extract_needed(&mut ar)?;
                    archives.push(ar);
                }
            }
            Resolved::Script(path, items) => {
                self.trace_file(&path);
                for item in items {
                    self.process_into(item, whole, position, archives)?;
                }
            }
            Resolved::Group(items) => {
                // A GROUP inside an input script: its archives are re-scanned together.
                let before = self.symtab.undefs;
                let mut inner = Vec::new();
                for item in items {
                    self.process_into(item, whole, position, &mut inner)?;
                }
                self.search_again(&mut inner, before)?;
                archives.extend(inner);
            }
        }
        Ok(())
    }

    fn add(&mut self, mut obj: ObjectFile) {
        let idx = self.files.len() as u32;
        self.symtab.add_file(&mut obj, idx, &self.files);
        if !self.args.trace_symbols.is_empty() {
            self.trace_symbols(&obj);
        }
        self.files.push(obj);
    }

    fn extract_member(&mut self, ar: &mut ArchiveInput, offset: u64) -> Result<()> {
        ar.loaded.insert(offset);
        let archive = ArchiveFile::parse(ar.data)
            .map_err(|e| anyhow!("{}: malformed archive: {e}", ar.path.display()))?;
        let member = archive
            .member(object::read::archive::ArchiveOffset(offset))
            .map_err(|e| {
                anyhow!(
                    "{}: malformed archive member at offset {offset}: {e}",
                    ar.path.display()
                )
            })?;
        let mname = String::from_utf8_lossy(member.name()).into_owned();
        let data = if ar.thin {
            let base = ar.path.parent().unwrap_or(Path::new("."));
            map_file(&base.join(&mname))?
        } else {
            member.data(ar.data).map_err(|e| {
                anyhow!(
                    "{}({mname}): truncated archive member: {e}",
                    ar.path.display()
                )
            })?
        };
        self.extract_seq += 1;
        // `-t -t` shows members as GNU ld does, `(archive)member`; a thin archive's members
        // are files of their own and shown with one `-t`, by path.
        if ar.thin && self.args.trace > 0 {
            let base = ar.path.parent().unwrap_or(Path::new("."));
            println!("{}", base.join(&mname).display());
        } else if self.args.trace > 1 {
            println!("({}){mname}", ar.path.display());
        }
        let obj = ObjectFile::parse(
            format!("{}({mname})", ar.path.display()),
            data,
            (ar.position, offset),
        )?;
        self.add(obj);
        Ok(())
    }

    /// Pulls members that define a currently undefined, strongly referenced symbol, until none
    /// is left. Returns whether anything was extracted.
    fn extract_needed(&mut self, ar: &mut ArchiveInput) -> Result<bool> {
        let mut any = false;
        loop {
            let mut progress = false;
            for k in 0..ar.index.len() {
                let (name, off) = ar.index[k];
                if ar.loaded.contains(&off) {
                    continue;
                }
                let Some(id) = self.symtab.get(name) else {
                    continue;
                };
                let s = &self.symtab.syms[id as usize];
                if s.is_undefined() && s.strong_ref {
                    self.extract_member(ar, off)?;
                    progress = true;
                }
            }
            if !progress {
                break;
            }
            any = true;
        }
        Ok(any)
    }

    fn extract_all(&mut self, ar: &mut ArchiveInput) -> Result<()> {
        let archive = ArchiveFile::parse(ar.data)
            .map_err(|e| anyhow!("{}: malformed archive: {e}", ar.path.display()))?;
        let mut offsets = Vec::new();
        for m in archive.members() {
            let m = m.map_err(|e| anyhow!("{}: malformed archive: {e}", ar.path.display()))?;
            let header = m
                .header()
                .ok_or_else(|| anyhow!("{}: unsupported archive format", ar.path.display()))?;
            offsets.push(header as *const _ as usize as u64 - ar.data.as_ptr() as usize as u64);
        }
        for off in offsets {
            if !ar.loaded.contains(&off) {
                self.extract_member(ar, off)?;
            }
        }
        Ok(())
    }
}

fn open_archive(path: PathBuf, data: &'static [u8], position: u32) -> Result<ArchiveInput> {
    let archive = ArchiveFile::parse(data)
        .map_err(|e| anyhow!("{}: malformed archive: {e}", path.display()))?;
    let mut index = Vec::new();
    match archive.symbols() {
        Ok(Some(syms)) => {
            for s in syms {
                let s = s.map_err(|e| {
                    anyhow!("{}: malformed archive symbol table: {e}", path.display())
                })?;
                index.push((s.name(), s.offset().0));
            }
        }
        Ok(None) => {
            // No index: build one from the members' symbol tables, as GNU ld does for archives
            // without an armap (it would refuse; being lenient costs nothing).
            for m in archive.members() {
                let m = m.map_err(|e| anyhow!("{}: malformed archive: {e}", path.display()))?;
                if archive.is_thin() {
                    continue;
                }
                let Some(header) = m.header() else { continue };
                let off = header as *const _ as usize as u64 - data.as_ptr() as usize as u64;
                let Ok(mdata) = m.data(data) else { continue };
                if let Ok(obj) = ObjectFile::parse(String::new(), mdata, (0, 0)) {
                    for s in &obj.symbols[obj.first_global..] {
                        if !s.is_undefined() {
                            index.push((s.name, off));
                        }
                    }
                }
            }
        }
        Err(e) => bail!("{}: malformed archive symbol table: {e}", path.display()),
    }
    // Validate members up front so that a truncated archive is reported as such.
    for m in archive.members() {
        let m =
            m.map_err(|e| anyhow!("{}: malformed or truncated archive: {e}", path.display()))?;
        if !archive.is_thin() && m.data(data).is_err() {
            bail!(
                "{}: truncated archive: member '{}' extends past the end of the file",
                path.display(),
                String::from_utf8_lossy(m.name())
            );
        }
    }
    Ok(ArchiveInput {
        path,
        data,
        thin: archive.is_thin(),
        index,
        loaded: Default::default(),
        position,
    })
}

/// Parses the input-script subset used by library stubs: `GROUP(...)`, `INPUT(...)`,
/// `AS_NEEDED(...)` and ignorable `OUTPUT_FORMAT`/`OUTPUT_ARCH`/`SEARCH_DIR`. Returns
/// (is_group, file names) per command.
fn parse_input_script(text: &str) -> Result<Vec<(bool, Vec<String>)>> {
    let mut cleaned = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        cleaned.push_str(&rest[..start]);
        let end = rest[start..]
            .find("*/")
            .ok_or_else(|| anyhow!("unterminated comment"))?;
        rest = &rest[start + end + 2..];
    }
    cleaned.push_str(rest);
    let tokens: Vec<String> = cleaned
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace(',', " ")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let cmd = tokens[i].as_str();
        if tokens.get(i + 1).map(String::as_str) != Some("(") {
            bail!("unexpected '{cmd}'");
        }
        let mut depth = 0;
        let mut names = Vec::new();
        let mut j = i + 1;
        while j < tokens.len() {
            match tokens[j].as_str() {
                "(" => depth += 1,
                ")" => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                "AS_NEEDED" => {}
                t => names.push(t.to_string()),
            }
            j += 1;
        }
        if depth != 0 {
            bail!("unbalanced parentheses in {cmd}");
        }
        match cmd {
            "GROUP" => out.push((true, names)),
            "INPUT" => out.push((false, names)),
            "OUTPUT_FORMAT" | "OUTPUT_ARCH" | "SEARCH_DIR" | "TARGET" => {}
            _ => bail!("unsupported command '{cmd}' in input script"),
        }
        i = j + 1;
    }
    Ok(out)
}
