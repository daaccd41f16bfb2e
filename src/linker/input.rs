//! Reading inputs: mapping files, searching libraries, expanding input scripts and pulling
//! archive members in GNU ld's order.

use crate::linker::args::{Args, InputArg, InputKind};
use crate::linker::object_file::{ObjectFile, SecState};
use crate::linker::script::ast::{Command, InputItem};
use crate::linker::symbols::{Def, SymbolTable};
use crate::linker::sysroot::Sysroot;
use anyhow::{anyhow, bail, Context, Result};
use object::elf;
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
    /// The parsed archive (its symbol index and long-name table), kept so that extracting a
    /// member only reads that member's header.
    file: ArchiveFile<'static>,
    /// The symbol id of each index entry's name, once the link knows the name (`u32::MAX`
    /// before): a pass over the index reads this array instead of looking every name up in
    /// the symbol table (libstdc++'s index has tens of thousands, read again on every pass).
    ids: Vec<u32>,
    /// Index entries whose name the link did not know yet, by name.
    unknown: rustc_hash::FxHashMap<&'static [u8], Vec<u32>>,
    /// Symbols the table held when `ids` was last brought up to date (`None`: never).
    seen_syms: Option<usize>,
    /// Index entries whose names became known since the last batch parsed ahead.
    newly_known: Vec<u32>,
    /// Member offsets already extracted.
    loaded: std::collections::HashSet<u64>,
    /// Members parsed ahead of their extraction, in parallel (`parse_ahead`).
    ahead: std::collections::HashMap<u64, Result<Member>>,
    /// (member offset, name) pairs known not to define a common symbol's name as data, so a
    /// group's re-scans do not parse the member again.
    not_data: std::collections::HashSet<(u64, &'static [u8])>,
    position: u32,
}

/// An archive member read and parsed (`obj` holds the parse's error, if any).
struct Member {
    mname: String,
    name: String,
    data: &'static [u8],
    obj: Result<ObjectFile>,
}

pub struct Loaded {
    pub files: Vec<ObjectFile>,
    pub symtab: SymbolTable,
}

struct Loader<'a> {
    /// Files to check the relocations of (`load`).
    checks: std::sync::mpsc::Sender<crate::linker::object_file::RelocCheck>,
    args: &'a Args,
    /// `-L` directories (sysroot applied), then `SEARCH_DIR`s of the scripts, in that order.
    lib_paths: Vec<PathBuf>,
    sysroot: Sysroot,
    files: Vec<ObjectFile>,
    symtab: SymbolTable,
    extract_seq: u32,
    /// The command line's objects parsed ahead (`parse_objects_ahead`), by their bytes' address.
    objects_ahead: std::collections::HashMap<usize, Result<ObjectFile>>,
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
    let sysroot = Sysroot::new(args.sysroot.as_deref());
    let mut lib_paths: Vec<PathBuf> = args
        .lib_paths
        .iter()
        .map(|d| sysroot.search_dir(&d.to_string_lossy()))
        .collect();
    // `-T` scripts are read while the command line is, so their SEARCH_DIRs apply to every
    // library search.
    for script in &args.scripts {
        for c in read_script(script)?.commands {
            if let Command::SearchDir(d) = c {
                lib_paths.push(sysroot.search_dir(&d));
            }
        }
    }
    // Relocations are checked on a thread of their own while the files are loaded (loading
    // is mostly serial); the first bad file in link order is the one reported.
    let (checks, to_check) = std::sync::mpsc::channel::<crate::linker::object_file::RelocCheck>();
    let checker = std::thread::spawn(move || to_check.into_iter().find_map(|c| c.run().err()));
    let mut loader = Loader {
        checks,
        args,
        lib_paths,
        sysroot,
        files: Vec::new(),
        symtab: SymbolTable {
            warn_common: args.warn_common,
            ..Default::default()
        },
        extract_seq: 0,
        objects_ahead: Default::default(),
    };
    loader.symtab.wrap(&args.wrap);
    for name in args.undefined.iter().chain(args.entry.iter()) {
        let name: &'static [u8] = Box::leak(name.clone().into_bytes().into_boxed_slice());
        let id = loader.symtab.intern(name);
        loader.symtab.syms[id as usize].strong_ref = true;
    }

    // Split the command line into runs: each group is processed as a unit. Every run is
    // resolved first (library search and input scripts do not depend on what was loaded), so
    // that the command line's objects can be parsed in parallel before they are added in
    // order; a run that fails to resolve is reported after the runs before it were loaded, as
    // if each run were resolved just before it is loaded.
    let mut runs = Vec::new();
    let mut unresolved = None;
    let mut i = 0;
    while i < args.inputs.len() {
        let g = args.inputs[i].group;
        let mut j = i + 1;
        if g.is_some() {
            while j < args.inputs.len() && args.inputs[j].group == g {
                j += 1;
            }
        }
        let items: Result<Vec<(Resolved, bool)>> = args.inputs[i..j]
            .iter()
            .map(|input| Ok((loader.resolve(input)?, input.whole_archive)))
            .collect();
        match items {
            Ok(items) => runs.push((items, g.is_some())),
            Err(e) => {
                unresolved = Some(e);
                break;
            }
        }
        i = j;
    }
    loader.parse_objects_ahead(&runs);
    let mut position = 0u32;
    for (items, group) in runs {
        if group {
            loader.process_group(items, &mut position)?;
        } else {
            for (r, whole) in items {
                loader.process(r, whole, &mut position)?;
            }
        }
    }
    if let Some(e) = unresolved {
        return Err(e);
    }
    loader.files.push(ObjectFile::linker_note());
    drop(loader.checks);
    if let Some(e) = checker.join().expect("relocation checker") {
        return Err(e);
    }
    Ok(Loaded {
        files: loader.files,
        symtab: loader.symtab,
    })
}

impl Loader<'_> {
    /// Parses the object files of the resolved runs (not archive members) in parallel; each is
    /// taken by `process_into` when its turn comes.
    fn parse_objects_ahead(&mut self, runs: &[(Vec<(Resolved, bool)>, bool)]) {
        use rayon::prelude::*;
        fn objects<'r>(r: &'r Resolved, out: &mut Vec<(&'r Path, &'static [u8])>) {
            match r {
                Resolved::Object(path, data) => out.push((path, data)),
                Resolved::Archive(..) => {}
                Resolved::Script(_, items) | Resolved::Group(items) => {
                    items.iter().for_each(|i| objects(i, out))
                }
            }
        }
        let mut found = Vec::new();
        for (items, _) in runs {
            items.iter().for_each(|(r, _)| objects(r, &mut found));
        }
        if found.len() < 2 {
            return;
        }
        self.objects_ahead = found
            .par_iter()
            .with_max_len(1)
            .map(|&(path, data)| {
                let obj = ObjectFile::parse(path.display().to_string(), data, (0, 0));
                (data.as_ptr() as usize, obj)
            })
            .collect();
    }

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
        for dir in &self.lib_paths {
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
            self.lib_paths.len()
        )
    }

    fn resolve(&mut self, input: &InputArg) -> Result<Resolved> {
        let path = match &input.kind {
            InputKind::File(p) => p.clone(),
            InputKind::Lib(name) => self.find_lib(name, input.static_only)?,
            InputKind::Script(p) => return self.script_input_files(p, input.static_only),
        };
        self.resolve_path(path, input.static_only, 0)
    }

    /// The files a `-T` script's `INPUT` and `GROUP` commands add at its place on the command
    /// line (its other commands shape the layout, later).
    fn script_input_files(&mut self, path: &Path, static_only: bool) -> Result<Resolved> {
        let mut out = Vec::new();
        for c in read_script(path)?.commands {
            match c {
                Command::Input(items) => {
                    out.extend(self.script_inputs(path, &items, static_only, 0)?)
                }
                Command::Group(items) => out.push(Resolved::Group(self.script_inputs(
                    path,
                    &items,
                    static_only,
                    0,
                )?)),
                _ => {}
            }
        }
        Ok(Resolved::Group(out))
    }

    fn resolve_path(&mut self, path: PathBuf, static_only: bool, depth: usize) -> Result<Resolved> {
        let data = map_file(&path)?;
        if data.starts_with(b"!<arch>\n") || data.starts_with(b"!<thin>\n") {
            return Ok(Resolved::Archive(path, data));
        }
        if data.starts_with(b"\x7fELF") {
            return Ok(Resolved::Object(path, data));
        }
        // LLVM bitcode, raw or in its wrapper: what clang -flto writes.
        if data.starts_with(b"BC\xc0\xde") || data.starts_with(&[0xde, 0xc0, 0x17, 0x0b]) {
            bail!(
                "{}: LLVM bitcode (clang -flto), which spacer does not compile; link it with ld.lld, or compile without -flto (or with gcc -flto)",
                path.display()
            );
        }
        if depth > 16 {
            bail!("{}: input scripts nested too deeply", path.display());
        }
        // Text: an input script such as glibc's libm.a (`GROUP ( libm-2.36.a libmvec.a )`).
        let text = std::str::from_utf8(data)
            .map_err(|_| anyhow!("{}: file format not recognized", path.display()))?;
        let script = crate::linker::script::parse_script(text, &path.display().to_string())
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| {
                format!("{}: not an object, archive or input script", path.display())
            })?;
        let mut out = Vec::new();
        for c in script.commands {
            match c {
                Command::Input(items) => {
                    out.extend(self.script_inputs(&path, &items, static_only, depth)?)
                }
                Command::Group(items) => out.push(Resolved::Group(
                    self.script_inputs(&path, &items, static_only, depth)?,
                )),
                Command::SearchDir(d) => self.lib_paths.push(self.sysroot.search_dir(&d)),
                Command::OutputFormat(..) | Command::OutputArch(_) | Command::Target(_) => {}
                _ => bail!(
                    "{}: only INPUT, GROUP, SEARCH_DIR, OUTPUT_FORMAT and OUTPUT_ARCH are supported in an input script",
                    path.display()
                ),
            }
        }
        Ok(Resolved::Script(path, out))
    }

    /// The files an `INPUT` or `GROUP` of `script` names, found as GNU ld finds them: `-lNAME`
    /// in the library path; `=`/`$SYSROOT` names, and absolute names of a script inside the
    /// sysroot, under the sysroot; other names beside the script, then in the current
    /// directory, then in the library path.
    fn script_inputs(
        &mut self,
        script: &Path,
        items: &[InputItem],
        static_only: bool,
        depth: usize,
    ) -> Result<Vec<Resolved>> {
        let mut out = Vec::new();
        for item in items {
            let p = match item {
                InputItem::Library(lib) => self.find_lib(lib, static_only)?,
                InputItem::AsNeeded(inner) => {
                    out.extend(self.script_inputs(script, inner, static_only, depth)?);
                    continue;
                }
                InputItem::File(n) => self.find_script_file(script, n)?,
            };
            out.push(self.resolve_path(p, static_only, depth + 1)?);
        }
        Ok(out)
    }

    fn find_script_file(&self, script: &Path, name: &str) -> Result<PathBuf> {
        if let Some(p) = self.sysroot.script_file(name, script) {
            if p.is_file() {
                return Ok(p);
            }
            bail!(
                "{}: cannot find {name} (looked for {})",
                script.display(),
                p.display()
            );
        }
        let beside = script.parent().map(|d| d.join(name));
        beside
            .into_iter()
            .chain(std::iter::once(PathBuf::from(name)))
            .chain(self.lib_paths.iter().map(|d| d.join(name)))
            .find(|p| p.is_file())
            .ok_or_else(|| anyhow!("{}: cannot find {name}", script.display()))
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
                let obj = match self.objects_ahead.remove(&(data.as_ptr() as usize)) {
                    Some(parsed) => ObjectFile {
                        order: (*position, 0),
                        ..parsed?
                    },
                    None => ObjectFile::parse(path.display().to_string(), data, (*position, 0))?,
                };
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
        // Once the checker has found a bad file it stops listening, and what is sent after
        // does not matter.
        let _ = self.checks.send(obj.reloc_check());
        if !self.args.trace_symbols.is_empty() {
            self.trace_symbols(&obj);
        }
        self.files.push(obj);
    }

    /// A member's display name and bytes.
    fn member_data(ar: &ArchiveInput, offset: u64) -> Result<(String, &'static [u8])> {
        let member = ar
            .file
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
            member.data(ar.data).map_err(|_| {
                anyhow!(
                    "{}: truncated archive: member '{mname}' extends past the end of the file",
                    ar.path.display()
                )
            })?
        };
        Ok((mname, data))
    }

    /// A member read and parsed, not yet added to the link.
    fn parse_member(ar: &ArchiveInput, offset: u64) -> Result<Member> {
        let (mname, data) = Self::member_data(ar, offset)?;
        let name = format!("{}({mname})", ar.path.display());
        let obj = ObjectFile::parse(name.clone(), data, (ar.position, offset));
        Ok(Member {
            mname,
            name,
            data,
            obj,
        })
    }

    /// The members a pass over the index is about to extract (those defining a symbol that is
    /// undefined now), parsed in parallel. The pass itself stays serial and in index order and
    /// only takes what it would have parsed anyway: a member whose symbol an earlier member of
    /// the pass defines is not extracted, and its parse is dropped.
    fn parse_ahead(&self, ar: &mut ArchiveInput) {
        ar.newly_known.clear();
        let wanted: Vec<u64> = (0..ar.index.len())
            .filter(|&k| self.to_parse(ar, k))
            .map(|k| ar.index[k].1)
            .collect();
        Self::parse_into_ahead(ar, wanted);
    }

    /// Whether index entry `k` names a symbol that is undefined and strongly referenced now,
    /// in a member neither taken nor parsed yet: one worth parsing ahead.
    fn to_parse(&self, ar: &ArchiveInput, k: usize) -> bool {
        let (id, off) = (ar.ids[k], ar.index[k].1);
        id != u32::MAX && {
            let s = &self.symtab.syms[id as usize];
            matches!(s.def, Def::Undefined)
                && s.strong_ref
                && !ar.loaded.contains(&off)
                && !ar.ahead.contains_key(&off)
        }
    }

    /// The member at `off` (index entry `k`), which the pass takes now, parsed together with
    /// the members of entries after it that the members taken since the last batch made
    /// wanted: a pass that keeps finding new names (a library's members calling each other)
    /// parses them in parallel batches instead of one by one.
    fn parse_newly_wanted(&self, ar: &mut ArchiveInput, k: usize, off: u64) {
        let mut batch = vec![off];
        batch.extend(
            ar.newly_known
                .iter()
                .map(|&p| p as usize)
                .filter(|&p| p > k && self.to_parse(ar, p))
                .map(|p| ar.index[p].1),
        );
        ar.newly_known.clear();
        Self::parse_into_ahead(ar, batch);
    }

    /// Brings `ar.ids` up to date with the symbols the table gained since the last call: the
    /// first call looks every index name up, later ones look only the new symbols' names up
    /// among the entries still unknown.
    fn refresh_ids(symtab: &SymbolTable, ar: &mut ArchiveInput) {
        let n = symtab.syms.len();
        match ar.seen_syms {
            None => {
                ar.ids = vec![u32::MAX; ar.index.len()];
                for (k, &(name, _)) in ar.index.iter().enumerate() {
                    match symtab.get(name) {
                        Some(id) => ar.ids[k] = id,
                        None => ar.unknown.entry(name).or_default().push(k as u32),
                    }
                }
            }
            Some(seen) if seen < n && !ar.unknown.is_empty() => {
                for id in seen..n {
                    if let Some(ks) = ar.unknown.remove(symtab.syms[id].name) {
                        for k in ks {
                            ar.ids[k as usize] = id as u32;
                            ar.newly_known.push(k);
                        }
                    }
                }
            }
            Some(_) => {}
        }
        ar.seen_syms = Some(n);
    }

    fn parse_into_ahead(ar: &mut ArchiveInput, mut offsets: Vec<u64>) {
        use rayon::prelude::*;
        offsets.sort_unstable();
        offsets.dedup();
        if offsets.len() < 2 {
            return;
        }
        let ro: &ArchiveInput = ar;
        let parsed: Vec<(u64, Result<Member>)> = offsets
            .par_iter()
            .with_max_len(1)
            .map(|&off| (off, Self::parse_member(ro, off)))
            .collect();
        ar.ahead.extend(parsed);
    }

    fn extract_member(
        &mut self,
        ar: &mut ArchiveInput,
        offset: u64,
        parsed: Option<Result<Member>>,
    ) -> Result<()> {
        ar.loaded.insert(offset);
        let m = match parsed {
            Some(m) => m?,
            None => Self::parse_member(ar, offset)?,
        };
        self.extract_seq += 1;
        // `-t -t` shows members as GNU ld does, `(archive)member`; a thin archive's members
        // are files of their own and shown with one `-t`, by path.
        if ar.thin && self.args.trace > 0 {
            let base = ar.path.parent().unwrap_or(Path::new("."));
            println!("{}", base.join(&m.mname).display());
        } else if self.args.trace > 1 {
            println!("({}){}", ar.path.display(), m.mname);
        }
        let obj = match m.obj {
            Err(e) if crate::linker::lto::needs_lto(&e) => {
                return Err(crate::linker::object_file::SlimLtoMember {
                    name: m.name,
                    data: m.data,
                }
                .into())
            }
            r => r?,
        };
        self.add(obj);
        Ok(())
    }

    /// Whether the member defines `name` as global data, the only kind of definition GNU ld
    /// extracts a member for when the symbol is so far a common: archive indexes also list
    /// commons, and a function of that name is not what the common declared.
    fn member_defines_data(
        ar: &mut ArchiveInput,
        offset: u64,
        name: &'static [u8],
    ) -> Result<bool> {
        if ar.not_data.contains(&(offset, name)) {
            return Ok(false);
        }
        let (mname, data) = Self::member_data(ar, offset)?;
        let obj = ObjectFile::parse(format!("{}({mname})", ar.path.display()), data, (0, 0))?;
        let defines = obj.symbols[obj.first_global..].iter().any(|s| {
            s.name == name
                && (s.bind == elf::STB_GLOBAL || s.bind >= elf::STB_LOOS)
                && s.typ != elf::STT_FUNC
                && !s.is_undefined()
                && !s.is_common()
        });
        if !defines {
            ar.not_data.insert((offset, name));
        }
        Ok(defines)
    }

    /// Pulls members that define a currently undefined, strongly referenced symbol, until none
    /// is left. Returns whether anything was extracted.
    fn extract_needed(&mut self, ar: &mut ArchiveInput) -> Result<bool> {
        let mut any = false;
        loop {
            Self::refresh_ids(&self.symtab, ar);
            self.parse_ahead(ar);
            let mut progress = false;
            for k in 0..ar.index.len() {
                let id = ar.ids[k];
                if id == u32::MAX {
                    continue;
                }
                let (name, off) = ar.index[k];
                if ar.loaded.contains(&off) {
                    continue;
                }
                let s = &self.symtab.syms[id as usize];
                let wanted = match s.def {
                    Def::Undefined => s.strong_ref,
                    Def::Common(..) => Self::member_defines_data(ar, off, name)?,
                    _ => false,
                };
                if wanted {
                    if !ar.ahead.contains_key(&off) {
                        self.parse_newly_wanted(ar, k, off);
                    }
                    let parsed = ar.ahead.remove(&off);
                    self.extract_member(ar, off, parsed)?;
                    // Names the member brought in may stand later in the index.
                    Self::refresh_ids(&self.symtab, ar);
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

    /// `--whole-archive`: every member, parsed in parallel and added in archive order.
    fn extract_all(&mut self, ar: &mut ArchiveInput) -> Result<()> {
        use rayon::prelude::*;
        let mut offsets = Vec::new();
        for m in ar.file.members() {
            let m = m.map_err(|e| anyhow!("{}: malformed archive: {e}", ar.path.display()))?;
            let header = m
                .header()
                .ok_or_else(|| anyhow!("{}: unsupported archive format", ar.path.display()))?;
            let off = header as *const _ as usize as u64 - ar.data.as_ptr() as usize as u64;
            if !ar.loaded.contains(&off) {
                offsets.push(off);
            }
        }
        let ro: &ArchiveInput = ar;
        let parsed: Vec<Result<Member>> = offsets
            .par_iter()
            .with_max_len(1)
            .map(|&off| Self::parse_member(ro, off))
            .collect();
        for (off, m) in offsets.into_iter().zip(parsed) {
            self.extract_member(ar, off, Some(m))?;
        }
        Ok(())
    }
}

fn read_script(path: &Path) -> Result<crate::linker::script::ast::Script> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read linker script {}", path.display()))?;
    crate::linker::script::parse_script(&text, &path.display().to_string())
        .map_err(|e| anyhow!("{e}"))
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
                let mdata = m.data(data).map_err(|_| {
                    anyhow!(
                        "{}: truncated archive: member '{}' extends past the end of the file",
                        path.display(),
                        String::from_utf8_lossy(m.name())
                    )
                })?;
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
    // Members are read, and a damaged one reported, when the link needs them, as GNU ld reads
    // them: walking every header of libc.a up front touched each of its pages and cost more
    // than the members a link takes from it.
    Ok(ArchiveInput {
        path,
        data,
        thin: archive.is_thin(),
        index,
        file: archive,
        ids: Vec::new(),
        unknown: Default::default(),
        seen_syms: None,
        newly_known: Vec::new(),
        loaded: Default::default(),
        ahead: Default::default(),
        not_data: Default::default(),
        position,
    })
}
