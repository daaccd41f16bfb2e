//! Layout driven by a GNU linker script: which output section each input section goes to
//! (first matching input-section description wins, orphans placed by GNU ld's rules), the
//! evaluation of `SECTIONS` with its location counter, symbol assignments and `PROVIDE`s,
//! `INSERT AFTER/BEFORE`, `/DISCARD/`, and program headers from `PHDRS` or derived from
//! section flags.

use crate::linker::args::Args;
use crate::linker::context::Link;
use crate::linker::glob::Glob;
use crate::linker::layout::{OutputSection, Phdr, Synth, PAGE};
use crate::linker::object_file::SecState;
use crate::linker::script::ast::{
    self, AssignKind, AssignOp, BinaryOp, Command, Expr, OutputSectionCommand, PhdrType,
    SectionsCommand, Sort, UnaryOp,
};
use crate::linker::symbols::{Def, FastMap, LinkerSym};
use anyhow::{anyhow, bail, Context, Result};
use object::elf;
use std::path::{Path, PathBuf};

/// The built-in script for static executables (`ld --verbose` shows GNU ld's counterpart).
pub const DEFAULT_SCRIPT: &str = include_str!("../../../linker-scripts/static.lds");

/// The built-in script. With a layout file, `.fini` goes before `.text` (after `.init`): behind
/// `.text` it would move whenever code grows into the delta area, and so would every page that
/// calls `_fini`.
fn builtin_script(stable_layout: bool) -> String {
    if !stable_layout {
        return DEFAULT_SCRIPT.to_string();
    }
    let fini = "  .fini           : { KEEP (*(SORT_NONE(.fini))) }\n";
    let init = "  .init           : { KEEP (*(SORT_NONE(.init))) }\n";
    DEFAULT_SCRIPT
        .replacen(fini, "", 1)
        .replacen(init, &format!("{init}{fini}"), 1)
}

#[cfg(test)]
mod builtin_script_tests {
    #[test]
    fn fini_precedes_text_with_a_layout_file() {
        let pos = |s: &str, name: &str| s.find(name).unwrap_or_else(|| panic!("no {name}"));
        let plain = super::builtin_script(false);
        assert!(pos(&plain, "  .fini ") > pos(&plain, "  .text "));
        let stable = super::builtin_script(true);
        assert!(pos(&stable, "  .fini ") < pos(&stable, "  .text "));
        assert!(pos(&stable, "  .init ") < pos(&stable, "  .fini "));
        assert_eq!(stable.matches("SORT_NONE(.fini)").count(), 1);
    }
}

/// Something that can be placed in an output section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chunk {
    Input(u32, u32),
    Synth(Synth),
    Common,
}

#[derive(Debug)]
pub struct OutStmt {
    pub desc: ast::OutputSection,
    /// Chunks matched by each command (empty for commands that are not input descriptions).
    pub chunks: Vec<Vec<Chunk>>,
    /// Orphans that joined this statement, placed after its commands.
    pub extra: Vec<Chunk>,
    pub orphan: bool,
    /// Index in `Layout::secs`, once created.
    pub out: Option<usize>,
}

#[derive(Debug)]
pub enum Stmt {
    Assign(ast::Assignment),
    /// An ASSERT and the script it comes from.
    Assert(ast::Assert, String),
    Out(Box<OutStmt>),
}

#[derive(Debug, Default)]
pub struct Plan {
    pub stmts: Vec<Stmt>,
    pub phdrs: Option<Vec<ast::PhdrDecl>>,
    pub entry: Option<String>,
    /// Symbols the script assigns: name -> index in `values`.
    pub sym_index: FastMap<String, usize>,
    pub values: Vec<u64>,
    /// Assignments outside `SECTIONS`.
    pub globals: Vec<ast::Assignment>,
    pub relro: Option<(u64, u64)>,
    /// Whether this is the built-in script (which also asks for GNU_RELRO).
    pub builtin: bool,
}

fn parse_file(path: &Path) -> Result<ast::Script> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read linker script {}", path.display()))?;
    crate::linker::script::parse_script(&text, &path.display().to_string())
        .map_err(|e| anyhow!("{e}"))
}

/// A file INCLUDEd inside SECTIONS holds SECTIONS content: parse it as such.
fn parse_sections_fragment(path: &Path) -> Result<ast::Script> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read linker script {}", path.display()))?;
    match crate::linker::script::parse_script(&text, &path.display().to_string()) {
        Ok(s) => Ok(s),
        Err(first) => {
            // Wrapped, line numbers stay right because the wrapper adds no newline.
            let wrapped = format!("SECTIONS {{ {text}\n}}");
            crate::linker::script::parse_script(&wrapped, &path.display().to_string())
                .map_err(|_| anyhow!("{first}"))
        }
    }
}

fn find_include(name: &str, args: &Args, from: &Path) -> Result<PathBuf> {
    let p = PathBuf::from(name);
    if p.is_file() {
        return Ok(p);
    }
    let dirs = from
        .parent()
        .into_iter()
        .map(Path::to_path_buf)
        .chain(args.lib_paths.iter().cloned());
    for d in dirs {
        if d.join(name).is_file() {
            return Ok(d.join(name));
        }
    }
    bail!("{}: cannot find included script {name}", from.display())
}

/// Flattens INCLUDE at the top level and inside SECTIONS.
fn expand_includes(
    script: ast::Script,
    path: &Path,
    args: &Args,
    depth: usize,
) -> Result<Vec<Command>> {
    if depth > 16 {
        bail!("{}: INCLUDE nested too deeply", path.display());
    }
    let mut out = Vec::new();
    for c in script.commands {
        match c {
            Command::Include(name) => {
                let p = find_include(&name, args, path)?;
                out.extend(expand_includes(parse_file(&p)?, &p, args, depth + 1)?);
            }
            Command::Sections(cmds) => {
                let mut flat = Vec::new();
                for sc in cmds {
                    match sc {
                        SectionsCommand::Include(name) => {
                            let p = find_include(&name, args, path)?;
                            for inner in
                                expand_includes(parse_sections_fragment(&p)?, &p, args, depth + 1)?
                            {
                                match inner {
                                    Command::Sections(v) => flat.extend(v),
                                    Command::Assignment(a) => {
                                        flat.push(SectionsCommand::Assignment(a))
                                    }
                                    _ => bail!(
                                        "{}: only SECTIONS content can be included here",
                                        p.display()
                                    ),
                                }
                            }
                        }
                        other => flat.push(other),
                    }
                }
                out.push(Command::Sections(flat));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

fn stmts_of(cmds: Vec<SectionsCommand>, file: &str) -> Result<Vec<Stmt>> {
    let mut v = Vec::new();
    for c in cmds {
        match c {
            SectionsCommand::Assignment(a) => v.push(Stmt::Assign(a)),
            SectionsCommand::Assert(a) => v.push(Stmt::Assert(a, file.to_string())),
            SectionsCommand::Output(o) => {
                let n = o.commands.len();
                v.push(Stmt::Out(Box::new(OutStmt {
                    desc: o,
                    chunks: vec![Vec::new(); n],
                    extra: Vec::new(),
                    orphan: false,
                    out: None,
                })))
            }
            SectionsCommand::Entry(_) | SectionsCommand::Include(_) => {}
            SectionsCommand::Overlay(o) => bail!("line {}: OVERLAY is not supported", o.loc),
        }
    }
    Ok(v)
}

/// Reads the scripts of the command line (or the built-in one) into a plan: `-dT` replaces
/// the built-in script, a `-T` script without INSERT replaces both, and scripts with INSERT
/// add their statements to the main script.
pub fn load(args: &Args) -> Result<Plan> {
    let mut main: Vec<Command> = Vec::new();
    let mut main_given = false;
    // The script the main commands come from, for messages.
    let mut main_file = String::from("<built-in static.lds>");
    let mut inserts: Vec<(Vec<Command>, PathBuf)> = Vec::new();
    for p in &args.scripts {
        let cmds = expand_includes(parse_file(p)?, p, args, 0)?;
        if cmds.iter().any(|c| matches!(c, Command::Insert { .. })) {
            inserts.push((cmds, p.clone()));
        } else {
            main.extend(cmds);
            main_given = true;
            main_file = p.display().to_string();
        }
    }
    let mut builtin = false;
    if !main_given {
        main = match &args.default_script {
            Some(p) => {
                main_file = p.display().to_string();
                expand_includes(parse_file(p)?, p, args, 0)?
            }
            None => {
                builtin = true;
                let script = builtin_script(args.layout.is_some());
                crate::linker::script::parse_script(&script, "<built-in static.lds>")
                    .map_err(|e| anyhow!("{e}"))?
                    .commands
            }
        };
    }
    let mut plan = Plan {
        builtin,
        ..Default::default()
    };
    absorb(&mut plan, main, None, &main_file)?;
    // Where the previous INSERT for an anchor ended, so that several scripts inserted at the
    // same place keep their command-line order.
    let mut insert_end: FastMap<String, usize> = FastMap::default();
    for (cmds, path) in inserts {
        let (after, anchor) = cmds
            .iter()
            .find_map(|c| match c {
                Command::Insert { after, section } => Some((*after, section.clone())),
                _ => None,
            })
            .unwrap();
        let pos = plan
            .stmts
            .iter()
            .position(|s| matches!(s, Stmt::Out(o) if o.desc.name == anchor))
            .ok_or_else(|| {
                // The INSERT command's line, found in the script's text.
                let line = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| t.lines().position(|l| l.contains("INSERT")))
                    .map(|i| i + 1)
                    .unwrap_or(1);
                anyhow!(
                    "{}:{line}: INSERT {} {anchor}: no such output section",
                    path.display(),
                    if after { "AFTER" } else { "BEFORE" }
                )
            })?;
        // After the anchor and the symbol assignments that follow it (`_edata = .;` belongs
        // with `.data`), as GNU ld does.
        let mut after_pos = pos + 1;
        while after_pos < plan.stmts.len()
            && matches!(&plan.stmts[after_pos], Stmt::Assign(a) if a.target != ".")
        {
            after_pos += 1;
        }
        let at = match (after, insert_end.get(&anchor)) {
            (true, Some(&e)) => e,
            (true, None) => after_pos,
            (false, _) => pos,
        };
        let before = plan.stmts.len();
        absorb(&mut plan, cmds, Some(at), &path.display().to_string())?;
        let added = plan.stmts.len() - before;
        if after {
            insert_end.insert(anchor.clone(), at + added);
        }
        for v in insert_end.values_mut() {
            if *v > at && !(after && *v == at + added) {
                *v += added;
            }
        }
    }
    Ok(plan)
}

fn absorb(plan: &mut Plan, cmds: Vec<Command>, at: Option<usize>, file: &str) -> Result<()> {
    let mut new_stmts = Vec::new();
    for c in cmds {
        match c {
            Command::Entry(e) => plan.entry = Some(e),
            Command::Sections(sc) => new_stmts.extend(stmts_of(sc, file)?),
            Command::Phdrs(p) => plan.phdrs.get_or_insert_with(Vec::new).extend(p),
            Command::Assignment(a) => plan.globals.push(a),
            Command::Assert(a) => new_stmts.push(Stmt::Assert(a, file.to_string())),
            Command::Memory(m) if !m.is_empty() => bail!("MEMORY regions are not supported"),
            Command::Unsupported { name, loc } => {
                bail!("line {loc}: unsupported script command {name}")
            }
            // Format, architecture, search paths and the like do not change a static link.
            _ => {}
        }
    }
    match at {
        Some(i) => {
            let tail = plan.stmts.split_off(i);
            plan.stmts.extend(new_stmts);
            plan.stmts.extend(tail);
        }
        None => plan.stmts.extend(new_stmts),
    }
    Ok(())
}

/// Every symbol the script assigns, so that references to them resolve.
pub fn define_symbols(plan: &mut Plan, link: &mut Link) {
    let mut assigns: Vec<ast::Assignment> = plan.globals.clone();
    for s in &plan.stmts {
        match s {
            Stmt::Assign(a) => assigns.push(a.clone()),
            Stmt::Out(o) => {
                for c in &o.desc.commands {
                    if let OutputSectionCommand::Assignment(a) = c {
                        assigns.push(a.clone());
                    }
                }
            }
            Stmt::Assert(..) => {}
        }
    }
    for a in assigns {
        if a.target == "." || plan.sym_index.contains_key(&a.target) {
            continue;
        }
        let name: &'static [u8] = Box::leak(a.target.clone().into_bytes().into_boxed_slice());
        let provide = matches!(a.kind, AssignKind::Provide | AssignKind::ProvideHidden);
        let existing = link.symtab.get(name);
        if provide {
            // PROVIDE only defines a symbol that is referenced and not defined elsewhere.
            match existing {
                Some(id)
                    if matches!(
                        link.symtab.syms[id as usize].def,
                        Def::Undefined | Def::Linker(_)
                    ) => {}
                _ => continue,
            }
        }
        let idx = plan.values.len();
        plan.values.push(0);
        link.script_hidden.push(matches!(
            a.kind,
            AssignKind::ProvideHidden | AssignKind::Hidden
        ));
        link.script_abs.push(matches!(
            a.expr,
            Expr::Absolute(_) | Expr::Min(..) | Expr::Max(..)
        ));
        plan.sym_index.insert(a.target.clone(), idx);
        let id = link.symtab.intern(name);
        link.symtab.syms[id as usize].def = Def::Linker(LinkerSym::Script(idx as u32));
    }
}

struct ChunkInfo {
    chunk: Chunk,
    name: Vec<u8>,
    file: u32,
}

fn file_parts(name: &str) -> (Option<&str>, &str) {
    // "archive(member)" or a plain path.
    if let (Some(open), true) = (name.rfind('('), name.ends_with(')')) {
        (Some(&name[..open]), &name[open + 1..name.len() - 1])
    } else {
        (None, name)
    }
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Whether a file pattern matches an input (object path or archive member).
fn file_matches(pat: &str, link: &Link, chunk: &Chunk) -> bool {
    let name = match chunk {
        Chunk::Input(f, _) => link.files[*f as usize].name.as_str(),
        // Linker-created sections come from no file; only `*` selects them.
        _ => return pat == "*",
    };
    if pat == "*" {
        return true;
    }
    let (archive, member) = file_parts(name);
    if let Some((a, m)) = pat.split_once(':') {
        let Some(archive) = archive else {
            return a.is_empty() && Glob::new(m).matches(member.as_bytes());
        };
        let ok_a = a.is_empty()
            || Glob::new(a).matches(archive.as_bytes())
            || Glob::new(a).matches(basename(archive).as_bytes());
        return ok_a && (m.is_empty() || Glob::new(m).matches(member.as_bytes()));
    }
    let g = Glob::new(pat);
    g.matches(member.as_bytes())
        || g.matches(name.as_bytes())
        || (archive.is_none() && g.matches(basename(member).as_bytes()))
}

struct Matcher {
    /// (stmt, command, pattern) for every section pattern, in script order.
    pats: Vec<(usize, usize, usize, Glob)>,
    cache: FastMap<Vec<u8>, Vec<u32>>,
}

impl Matcher {
    fn new(plan: &Plan) -> Matcher {
        let mut pats = Vec::new();
        for (si, s) in plan.stmts.iter().enumerate() {
            if let Stmt::Out(o) = s {
                for (ci, c) in o.desc.commands.iter().enumerate() {
                    if let OutputSectionCommand::Input(d) = c {
                        for (pi, p) in d.sections.iter().enumerate() {
                            pats.push((si, ci, pi, Glob::new(&p.pattern)));
                        }
                    }
                }
            }
        }
        Matcher {
            pats,
            cache: FastMap::default(),
        }
    }

    /// First (stmt, command) whose description selects the chunk.
    fn find(&mut self, plan: &Plan, link: &Link, c: &ChunkInfo) -> Option<(usize, usize)> {
        let pats = &self.pats;
        let cands = self.cache.entry(c.name.clone()).or_insert_with(|| {
            pats.iter()
                .enumerate()
                .filter(|(_, p)| p.3.matches(&c.name))
                .map(|(i, _)| i as u32)
                .collect()
        });
        for &i in cands.iter() {
            let (si, ci, pi, _) = &self.pats[i as usize];
            let Stmt::Out(o) = &plan.stmts[*si] else {
                continue;
            };
            let OutputSectionCommand::Input(d) = &o.desc.commands[*ci] else {
                continue;
            };
            if !file_matches(&d.file.pattern, link, &c.chunk) {
                continue;
            }
            if d.file
                .exclude
                .iter()
                .any(|x| file_matches(x, link, &c.chunk))
            {
                continue;
            }
            if d.sections[*pi]
                .exclude_files
                .iter()
                .any(|x| file_matches(x, link, &c.chunk))
            {
                continue;
            }
            if !flags_match(&d.flags, link, &c.chunk) {
                continue;
            }
            return Some((*si, *ci));
        }
        let _ = c.file;
        None
    }
}

fn chunk_flags(link: &Link, c: &Chunk) -> (u64, u32) {
    let a = elf::SHF_ALLOC as u64;
    let w = elf::SHF_WRITE as u64;
    match c {
        Chunk::Input(f, s) => {
            let sec = link.section(*f, *s);
            (sec.flags, sec.sh_type)
        }
        Chunk::Common => (a | w, elf::SHT_NOBITS),
        Chunk::Synth(k) => match k {
            Synth::Got | Synth::GotPlt | Synth::Dynamic => (a | w, elf::SHT_PROGBITS),
            Synth::Iplt => (a | elf::SHF_EXECINSTR as u64, elf::SHT_PROGBITS),
            Synth::RelaIplt | Synth::RelaDyn => (a, elf::SHT_RELA),
            Synth::BuildId => (a, elf::SHT_NOTE),
            Synth::DynSym => (a, elf::SHT_DYNSYM),
            Synth::DynStr => (a, elf::SHT_STRTAB),
            Synth::EhFrameHdr => (a, elf::SHT_PROGBITS),
            Synth::PageDigests => (0, elf::SHT_PROGBITS),
        },
    }
}

fn flags_match(flags: &[ast::SectionFlag], link: &Link, c: &Chunk) -> bool {
    let (f, _) = chunk_flags(link, c);
    flags.iter().all(|fl| {
        let bit = match fl.name.as_str() {
            "SHF_WRITE" => elf::SHF_WRITE,
            "SHF_ALLOC" => elf::SHF_ALLOC,
            "SHF_EXECINSTR" => elf::SHF_EXECINSTR,
            "SHF_MERGE" => elf::SHF_MERGE,
            "SHF_STRINGS" => elf::SHF_STRINGS,
            "SHF_TLS" => elf::SHF_TLS,
            "SHF_GNU_RETAIN" => elf::SHF_GNU_RETAIN,
            _ => return true,
        } as u64;
        (f & bit != 0) != fl.negated
    })
}

fn synth_name(k: Synth) -> &'static [u8] {
    match k {
        Synth::Got => b".got",
        Synth::GotPlt => b".got.plt",
        Synth::Iplt => b".iplt",
        Synth::RelaIplt => b".rela.iplt",
        Synth::EhFrameHdr => b".eh_frame_hdr",
        Synth::BuildId => b".note.gnu.build-id",
        Synth::DynSym => b".dynsym",
        Synth::DynStr => b".dynstr",
        Synth::RelaDyn => b".rela.dyn",
        Synth::Dynamic => b".dynamic",
        Synth::PageDigests => b".spacer.digests",
    }
}

/// Assigns input sections to the plan's statements (before garbage collection, so that KEEP
/// can protect them). Returns the sections KEEP protects. `/DISCARD/`ed sections are dropped.
pub fn assign_inputs(plan: &mut Plan, link: &mut Link) -> Vec<(u32, u32)> {
    let mut m = Matcher::new(plan);
    let mut kept = Vec::new();
    let mut orphans = Vec::new();
    for f in link.file_order() {
        for (s, sec) in link.files[f as usize].sections.iter().enumerate() {
            if sec.state != SecState::Normal {
                continue;
            }
            let ci = ChunkInfo {
                chunk: Chunk::Input(f, s as u32),
                name: sec.name.to_vec(),
                file: f,
            };
            match m.find(plan, link, &ci) {
                Some((si, cmd)) => {
                    let Stmt::Out(o) = &mut plan.stmts[si] else {
                        unreachable!()
                    };
                    if o.desc.is_discard() {
                        kept.push((u32::MAX, 0)); // placeholder removed below
                        kept.pop();
                        orphans.push((f, s as u32, true));
                        continue;
                    }
                    if let OutputSectionCommand::Input(d) = &o.desc.commands[cmd] {
                        if d.keep {
                            kept.push((f, s as u32));
                        }
                    }
                    o.chunks[cmd].push(ci.chunk);
                }
                None => orphans.push((f, s as u32, false)),
            }
        }
    }
    let mut real_orphans = Vec::new();
    for (f, s, discard) in orphans {
        if discard {
            link.files[f as usize].sections[s as usize].state = SecState::ComdatDiscarded;
        } else {
            real_orphans.push(Chunk::Input(f, s));
        }
    }
    place_orphans(plan, link, real_orphans);
    kept
}

/// Places linker-created sections (after the relocation scan decided which exist).
pub fn assign_synthetic(plan: &mut Plan, link: &Link, synth: &[Chunk]) {
    let mut m = Matcher::new(plan);
    let mut orphans = Vec::new();
    for &c in synth {
        let name = match c {
            Chunk::Synth(k) => synth_name(k).to_vec(),
            Chunk::Common => b"COMMON".to_vec(),
            Chunk::Input(..) => continue,
        };
        let ci = ChunkInfo {
            chunk: c,
            name,
            file: u32::MAX,
        };
        match m.find(plan, link, &ci) {
            Some((si, cmd)) => {
                let Stmt::Out(o) = &mut plan.stmts[si] else {
                    unreachable!()
                };
                if !o.desc.is_discard() {
                    o.chunks[cmd].push(c);
                }
            }
            None => orphans.push(c),
        }
    }
    place_orphans(plan, link, orphans);
}

/// Orphan kinds, used to find where GNU ld would put a section the script does not mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Note,
    Text,
    Rodata,
    Tdata,
    Tbss,
    Data,
    Bss,
    NonAlloc,
}

fn kind_of(flags: u64, sh_type: u32) -> Kind {
    let has = |b: u32| flags & b as u64 != 0;
    if !has(elf::SHF_ALLOC) {
        Kind::NonAlloc
    } else if has(elf::SHF_TLS) {
        if sh_type == elf::SHT_NOBITS {
            Kind::Tbss
        } else {
            Kind::Tdata
        }
    } else if sh_type == elf::SHT_NOTE {
        Kind::Note
    } else if has(elf::SHF_WRITE) {
        if sh_type == elf::SHT_NOBITS {
            Kind::Bss
        } else {
            Kind::Data
        }
    } else if has(elf::SHF_EXECINSTR) {
        Kind::Text
    } else {
        Kind::Rodata
    }
}

fn stmt_kind(o: &OutStmt, link: &Link) -> Option<Kind> {
    let mut flags = 0u64;
    let mut ty = elf::SHT_NOBITS;
    let mut any = false;
    for c in o.chunks.iter().flatten().chain(&o.extra) {
        let (f, t) = chunk_flags(link, c);
        flags |= f;
        if t != elf::SHT_NOBITS {
            ty = t;
        }
        any = true;
    }
    if any {
        return Some(kind_of(flags, ty));
    }
    // Statements without inputs are recognised by their conventional names.
    Some(match o.desc.name.as_str() {
        ".note.gnu.build-id" => Kind::Note,
        ".text" => Kind::Text,
        ".rodata" => Kind::Rodata,
        ".tdata" => Kind::Tdata,
        ".tbss" => Kind::Tbss,
        ".data" => Kind::Data,
        ".bss" => Kind::Bss,
        _ => return None,
    })
}

fn place_orphans(plan: &mut Plan, link: &Link, orphans: Vec<Chunk>) {
    for c in orphans {
        let name = match c {
            Chunk::Input(f, s) => String::from_utf8_lossy(link.section(f, s).name).into_owned(),
            Chunk::Synth(k) => String::from_utf8_lossy(synth_name(k)).into_owned(),
            Chunk::Common => ".bss".into(),
        };
        // Same name as an output section: join it.
        if let Some(Stmt::Out(o)) = plan
            .stmts
            .iter_mut()
            .find(|s| matches!(s, Stmt::Out(o) if o.desc.name == name && !o.desc.is_discard()))
        {
            o.extra.push(c);
            continue;
        }
        let (flags, ty) = chunk_flags(link, &c);
        let kind = kind_of(flags, ty);
        // After the last statement of the same kind, or of the nearest kind before it.
        let order = [
            Kind::Note,
            Kind::Text,
            Kind::Rodata,
            Kind::Tdata,
            Kind::Tbss,
            Kind::Data,
            Kind::Bss,
        ];
        let mut pos = None;
        if kind != Kind::NonAlloc {
            let k_idx = order.iter().position(|&k| k == kind).unwrap();
            for want in order[..=k_idx].iter().rev() {
                pos = plan.stmts.iter().rposition(|s| matches!(s, Stmt::Out(o) if !o.desc.is_discard() && stmt_kind(o, link) == Some(*want)));
                if pos.is_some() {
                    break;
                }
            }
            if pos.is_none() {
                // Nothing comparable: before the first statement of a later kind.
                pos = plan
                    .stmts
                    .iter()
                    .position(|s| matches!(s, Stmt::Out(o) if stmt_kind(o, link).is_some_and(|k| k != Kind::NonAlloc)))
                    .map(|p| p.saturating_sub(1));
            }
        }
        let mut desc = ast::OutputSection {
            name: name.clone(),
            address: None,
            type_: None,
            at: None,
            align: None,
            align_with_input: false,
            subalign: None,
            constraint: None,
            commands: Vec::new(),
            region: None,
            lma_region: None,
            phdrs: Vec::new(),
            fill: None,
            loc: Default::default(),
        };
        if kind == Kind::NonAlloc {
            desc.address = Some(Expr::Number(0));
        }
        let stmt = Stmt::Out(Box::new(OutStmt {
            desc,
            chunks: Vec::new(),
            extra: vec![c],
            orphan: true,
            out: None,
        }));
        match pos {
            Some(p) => {
                // Keep orphans in the order they were found: skip orphans already placed here.
                let mut at = p + 1;
                while at < plan.stmts.len() && matches!(&plan.stmts[at], Stmt::Out(o) if o.orphan) {
                    at += 1;
                }
                plan.stmts.insert(at, stmt);
            }
            None => {
                // Non-allocated orphans go before /DISCARD/ at the end.
                plan.stmts.push(stmt)
            }
        }
    }
}

/// Sorts chunks of input descriptions that ask for it.
pub fn sort_chunks(plan: &mut Plan, link: &Link) {
    for s in plan.stmts.iter_mut() {
        let Stmt::Out(o) = s else { continue };
        for (ci, c) in o.desc.commands.iter().enumerate() {
            let OutputSectionCommand::Input(d) = c else {
                continue;
            };
            let sort = d.sections.iter().find_map(|p| p.sort).or(d.file.sort);
            let Some(sort) = sort else { continue };
            let name = |c: &Chunk| match c {
                Chunk::Input(f, s) => link.section(*f, *s).name.to_vec(),
                _ => Vec::new(),
            };
            let align = |c: &Chunk| match c {
                Chunk::Input(f, s) => link.section(*f, *s).align,
                _ => 8,
            };
            let list = &mut o.chunks[ci];
            match sort {
                Sort::Name => list.sort_by_key(|c| name(c)),
                Sort::Alignment => list.sort_by_key(|c| std::cmp::Reverse(align(c))),
                Sort::NameThenAlignment => {
                    list.sort_by_key(|c| (name(c), std::cmp::Reverse(align(c))))
                }
                Sort::AlignmentThenName => {
                    list.sort_by_key(|c| (std::cmp::Reverse(align(c)), name(c)))
                }
                Sort::InitPriority => {
                    list.sort_by_key(|c| crate::linker::layout::init_priority(&name(c)))
                }
                Sort::None => {}
            }
        }
    }
}

/// The result of one evaluation of the SECTIONS statements.
struct SecInfo {
    addr: u64,
    lma: u64,
    size: u64,
    align: u64,
}

struct Env<'a> {
    link: &'a Link,
    plan_values: &'a [u64],
    sym_index: &'a FastMap<String, usize>,
    secs: &'a FastMap<String, SecInfo>,
    headers_size: u64,
    base: u64,
    final_pass: bool,
}

impl Env<'_> {
    fn symbol(&self, name: &str) -> Result<u64> {
        if let Some(&i) = self.sym_index.get(name) {
            return Ok(self.plan_values[i]);
        }
        match self.link.symtab.get(name.as_bytes()) {
            Some(id) if !self.link.symtab.syms[id as usize].is_undefined() => {
                Ok(self.link.symtab.syms[id as usize].value)
            }
            _ if !self.final_pass => Ok(0),
            _ => bail!("undefined symbol '{name}' referenced in expression"),
        }
    }

    fn sec(&self, name: &str) -> Option<&SecInfo> {
        self.secs.get(name)
    }

    /// Evaluates an expression; the flag says whether it is a plain number (which GNU ld takes
    /// as relative to the section when assigned to `.` inside an output section).
    fn eval(&self, e: &Expr, dot: u64) -> Result<(u64, bool)> {
        let v = |x: &Expr| -> Result<u64> { Ok(self.eval(x, dot)?.0) };
        Ok(match e {
            Expr::Number(n) => (*n, true),
            Expr::Symbol(s) => (self.symbol(s)?, false),
            Expr::Dot => (dot, false),
            Expr::Unary(op, x) => {
                let (a, c) = self.eval(x, dot)?;
                let r = match op {
                    UnaryOp::Neg => a.wrapping_neg(),
                    UnaryOp::Not => (a == 0) as u64,
                    UnaryOp::BitNot => !a,
                };
                (r, c)
            }
            Expr::Binary(op, a, b) => {
                let (x, cx) = self.eval(a, dot)?;
                let (y, cy) = self.eval(b, dot)?;
                let r = match op {
                    BinaryOp::Mul => x.wrapping_mul(y),
                    BinaryOp::Div => {
                        if y == 0 {
                            bail!("division by zero in linker script expression");
                        }
                        x / y
                    }
                    BinaryOp::Mod => {
                        if y == 0 {
                            bail!("division by zero in linker script expression");
                        }
                        x % y
                    }
                    BinaryOp::Add => x.wrapping_add(y),
                    BinaryOp::Sub => x.wrapping_sub(y),
                    BinaryOp::Shl => x.wrapping_shl(y as u32),
                    BinaryOp::Shr => x.wrapping_shr(y as u32),
                    BinaryOp::Eq => (x == y) as u64,
                    BinaryOp::Ne => (x != y) as u64,
                    BinaryOp::Lt => ((x as i64) < (y as i64)) as u64,
                    BinaryOp::Le => ((x as i64) <= (y as i64)) as u64,
                    BinaryOp::Gt => ((x as i64) > (y as i64)) as u64,
                    BinaryOp::Ge => ((x as i64) >= (y as i64)) as u64,
                    BinaryOp::BitAnd => x & y,
                    BinaryOp::BitXor => x ^ y,
                    BinaryOp::BitOr => x | y,
                    BinaryOp::LogAnd => (x != 0 && y != 0) as u64,
                    BinaryOp::LogOr => (x != 0 || y != 0) as u64,
                };
                // The difference of two addresses is a plain number, as in GNU ld.
                let c = if *op == BinaryOp::Sub {
                    cx == cy
                } else {
                    cx && cy
                };
                (r, c)
            }
            Expr::Conditional(c, a, b) => {
                if v(c)? != 0 {
                    self.eval(a, dot)?
                } else {
                    self.eval(b, dot)?
                }
            }
            Expr::Align { value, align } => {
                let a = v(align)?.max(1);
                let x = match value {
                    Some(x) => v(x)?,
                    None => dot,
                };
                (x.next_multiple_of(a), false)
            }
            Expr::Block(x) => (v(x)?, false),
            Expr::AlignOf(s) => (self.sec(s).map(|s| s.align).unwrap_or(0), true),
            Expr::SizeOf(s) => (self.sec(s).map(|s| s.size).unwrap_or(0), true),
            Expr::SizeOfHeaders => (self.headers_size, true),
            Expr::Addr(s) => (self.sec(s).map(|s| s.addr).unwrap_or(0), false),
            Expr::LoadAddr(s) => (self.sec(s).map(|s| s.lma).unwrap_or(0), false),
            Expr::Defined(s) => {
                let d = self.sym_index.contains_key(s)
                    || self
                        .link
                        .symtab
                        .get(s.as_bytes())
                        .is_some_and(|id| !self.link.symtab.syms[id as usize].is_undefined());
                (d as u64, true)
            }
            Expr::Absolute(x) => (v(x)?, false),
            Expr::Max(a, b) => (v(a)?.max(v(b)?), false),
            Expr::Min(a, b) => (v(a)?.min(v(b)?), false),
            Expr::Constant(_) => (PAGE, true),
            Expr::DataSegmentAlign { max_page_size, .. } => {
                (dot.next_multiple_of(v(max_page_size)?.max(1)), false)
            }
            Expr::DataSegmentRelroEnd { value, .. } => (v(value)?.next_multiple_of(PAGE), false),
            Expr::DataSegmentEnd(x) => (v(x)?, false),
            Expr::SegmentStart { segment, default } => {
                let d = v(default)?;
                (
                    if segment == "text-segment" {
                        self.base
                    } else {
                        d
                    },
                    false,
                )
            }
            Expr::Next(x) => (dot.next_multiple_of(v(x)?.max(1)), false),
            Expr::Origin(r) | Expr::Length(r) => bail!("MEMORY region '{r}' is not supported"),
            Expr::Log2Ceil(x) => {
                let n = v(x)?;
                (
                    if n <= 1 {
                        0
                    } else {
                        64 - (n - 1).leading_zeros() as u64
                    },
                    true,
                )
            }
            Expr::Assert { expr, message } => {
                if self.final_pass && v(expr)? == 0 {
                    bail!("assertion failed: {message}");
                }
                (0, true)
            }
        })
    }
}

fn apply_op(op: AssignOp, old: u64, v: u64) -> u64 {
    match op.binary_op() {
        None => v,
        Some(BinaryOp::Add) => old.wrapping_add(v),
        Some(BinaryOp::Sub) => old.wrapping_sub(v),
        Some(BinaryOp::Mul) => old.wrapping_mul(v),
        Some(BinaryOp::Div) => old.checked_div(v).unwrap_or(0),
        Some(BinaryOp::Shl) => old.wrapping_shl(v as u32),
        Some(BinaryOp::Shr) => old.wrapping_shr(v as u32),
        Some(BinaryOp::BitAnd) => old & v,
        Some(BinaryOp::BitOr) => old | v,
        Some(BinaryOp::BitXor) => old ^ v,
        Some(_) => v,
    }
}

/// Size and alignment a chunk occupies.
fn chunk_size_align(link: &Link, c: &Chunk) -> (u64, u64) {
    match c {
        Chunk::Input(f, s) => crate::linker::layout::member_size_align(link, *f, *s),
        Chunk::Common => (link.common_size, link.common_align),
        Chunk::Synth(k) => (
            link.layout.synth_sizes.get(k).copied().unwrap_or(0),
            synth_align(*k),
        ),
    }
}

fn synth_align(k: Synth) -> u64 {
    match k {
        Synth::Iplt => 16,
        Synth::EhFrameHdr | Synth::BuildId => 4,
        Synth::DynStr => 1,
        _ => 8,
    }
}

/// Creates the output sections from the plan (in statement order), with members, merged
/// blobs and synthetic contents, but no addresses yet.
pub fn create_output_sections(plan: &mut Plan, link: &mut Link) -> Result<()> {
    let mut secs: Vec<OutputSection> = Vec::new();
    for s in plan.stmts.iter_mut() {
        let Stmt::Out(o) = s else { continue };
        if o.desc.is_discard() {
            continue;
        }
        let chunks: Vec<Chunk> = o
            .chunks
            .iter()
            .flatten()
            .chain(&o.extra)
            .copied()
            .filter(|c| match c {
                Chunk::Input(f, s) => link.section(*f, *s).is_included(),
                Chunk::Common => link.common_size > 0,
                Chunk::Synth(_) => true,
            })
            .collect();
        let has_data = o.desc.commands.iter().any(|c| {
            matches!(
                c,
                OutputSectionCommand::Data { .. } | OutputSectionCommand::Asciz(_)
            )
        });
        // ONLY_IF_RO / ONLY_IF_RW drop the whole statement when the inputs disagree.
        if let Some(con) = o.desc.constraint {
            let writable = chunks
                .iter()
                .any(|c| chunk_flags(link, c).0 & elf::SHF_WRITE as u64 != 0);
            let keep = match con {
                ast::Constraint::OnlyIfRo => !writable,
                ast::Constraint::OnlyIfRw => writable,
                ast::Constraint::Special => true,
            };
            if !keep {
                // The chunks become orphans of the same name: join the next statement of that
                // name, if any, else stay here without the constraint.
                o.desc.constraint = None;
            }
        }
        // A statement without inputs is dropped unless it moves `.` (GNU ld then keeps it as
        // an empty allocated section that occupies the space).
        let moves_dot = o
            .desc
            .commands
            .iter()
            .any(|c| matches!(c, OutputSectionCommand::Assignment(a) if a.target == "."));
        if chunks.is_empty() && !has_data && !moves_dot {
            continue;
        }
        let mut flags = 0u64;
        let mut sh_type = elf::SHT_NOBITS;
        let mut align = 1u64;
        let mut synth = None;
        for c in &chunks {
            let (f, t) = chunk_flags(link, c);
            flags |= f
                & !(elf::SHF_GROUP | elf::SHF_GNU_RETAIN | elf::SHF_MERGE | elf::SHF_STRINGS)
                    as u64;
            if t != elf::SHT_NOBITS {
                sh_type = if sh_type == elf::SHT_NOBITS || sh_type == t {
                    t
                } else {
                    elf::SHT_PROGBITS
                };
            }
            align = align.max(chunk_size_align(link, c).1);
            if let Chunk::Synth(k) = c {
                if synth.replace(*k).is_some() {
                    bail!(
                        "output section {} would hold two linker-created sections",
                        o.desc.name
                    );
                }
            }
        }
        if has_data {
            if sh_type == elf::SHT_NOBITS {
                sh_type = elf::SHT_PROGBITS;
            }
            flags |= elf::SHF_ALLOC as u64;
        }
        if chunks.is_empty() && !has_data {
            flags |= (elf::SHF_ALLOC | elf::SHF_WRITE) as u64;
        }
        if matches!(o.desc.type_, Some(ast::SectionType::NoLoad)) {
            sh_type = elf::SHT_NOBITS;
        }
        if matches!(
            o.desc.type_,
            Some(ast::SectionType::Info | ast::SectionType::DSect | ast::SectionType::Copy)
        ) {
            flags &= !(elf::SHF_ALLOC as u64);
        }
        if o.desc.name == ".init_array" || o.desc.name.starts_with(".init_array.") {
            sh_type = elf::SHT_INIT_ARRAY;
        } else if o.desc.name == ".fini_array" {
            sh_type = elf::SHT_FINI_ARRAY;
        } else if o.desc.name == ".preinit_array" {
            sh_type = elf::SHT_PREINIT_ARRAY;
        }
        let entsize = match synth {
            Some(Synth::Got | Synth::GotPlt) => 8,
            Some(Synth::Iplt) => 16,
            Some(Synth::RelaIplt | Synth::RelaDyn | Synth::DynSym) => 24,
            Some(Synth::Dynamic) => 16,
            _ => 0,
        };
        let mut os = OutputSection {
            name: o.desc.name.clone().into_bytes(),
            sh_type,
            flags,
            align,
            entsize,
            members: Vec::new(),
            synth,
            common_off: None,
            size: 0,
            addr: 0,
            offset: 0,
            synth_off: 0,
            lma: 0,
            data: Vec::new(),
        };
        let idx = secs.len();
        for c in &chunks {
            if let Chunk::Input(f, s) = c {
                link.files[*f as usize].sections[*s as usize].out_sec = idx as u32;
                os.members.push((*f, *s));
            }
        }
        crate::linker::merge::merge_members(link, &os.members, link.args.layout.is_some())?;
        o.out = Some(idx);
        secs.push(os);
    }
    // The TLS template starts aligned for its most aligned member.
    let tls_align = secs
        .iter()
        .filter(|s| s.is_tls())
        .map(|s| s.align)
        .max()
        .unwrap_or(1);
    if let Some(first) = secs.iter_mut().find(|s| s.is_tls()) {
        first.align = first.align.max(tls_align);
    }
    link.layout.secs = secs;
    Ok(())
}

/// Evaluates the statements: addresses, sizes and symbol values. Runs several passes so that
/// forward references (`SIZEOF` of a later section, symbols defined further down) settle.
pub fn assign_addresses(plan: &mut Plan, link: &mut Link) -> Result<()> {
    let mut stable = link.stable.take();
    let r = assign_addresses_inner(plan, link, &mut stable);
    link.stable = stable;
    r
}

fn assign_addresses_inner(
    plan: &mut Plan,
    link: &mut Link,
    stable: &mut Option<crate::linker::stable::Stable>,
) -> Result<()> {
    let base = link
        .args
        .image_base
        .unwrap_or(if link.pie { 0 } else { 0x400000 });
    let nphdr_guess = phdr_count(plan, link);
    let headers_size =
        crate::linker::layout::EHDR_SIZE + crate::linker::layout::PHDR_SIZE * nphdr_guess as u64;

    let mut secinfo: FastMap<String, SecInfo> = FastMap::default();
    // Enough passes for chains of forward references (LOADADDR of a section whose AT() uses
    // another LOADADDR, ...) to settle; each pass is cheap.
    let passes = 8;
    // Output section of each script symbol (None: absolute), decided in the final pass.
    let mut sym_sec: Vec<Option<usize>> = vec![None; plan.values.len()];
    // Trampolines of code the layout file moved: (section, address of the old place).
    let mut tramps: Vec<((u32, u32, u64), u64)> = Vec::new();
    for pass in 0..passes {
        let final_pass = pass == passes - 1;
        if let Some(st) = stable.as_mut() {
            // Each pass lays out afresh; table slots were given out before layout.
            st.new = crate::layout_file::LayoutFile {
                slots: std::mem::take(&mut st.new.slots),
                ..Default::default()
            };
            st.moved.clear();
        }
        let mut values = plan.values.clone();
        let mut new_info: FastMap<String, SecInfo> = FastMap::default();
        let mut dot = 0u64;
        // GNU ld's state for the section of symbols assigned from `.` outside sections.
        let mut current: Option<usize> = None;
        let mut prefer_next = false;
        // Where the current segment started (for the layout file's headroom).
        let mut segment_start: Option<u64> = None;
        // First link with a layout file: room left after a regioned section (see below).
        let mut section_headroom = 0u64;
        let mut lma_delta: Option<i64> = None;
        let mut relro: (Option<u64>, Option<u64>) = (None, None);
        // The expression environment at this point of the pass.
        macro_rules! env {
            () => {
                Env {
                    link,
                    plan_values: &values,
                    sym_index: &plan.sym_index,
                    secs: &secinfo,
                    headers_size,
                    base,
                    final_pass,
                }
            };
        }
        {
            let env_globals = Env {
                link,
                plan_values: &values,
                sym_index: &plan.sym_index,
                secs: &secinfo,
                headers_size,
                base,
                final_pass,
            };
            let mut assigned = Vec::new();
            for a in &plan.globals {
                if let Some(&i) = plan.sym_index.get(&a.target) {
                    let v = env_globals.eval(&a.expr, dot)?.0;
                    assigned.push((i, apply_op(a.op, 0, v)));
                }
            }
            for (i, v) in assigned {
                values[i] = v;
            }
        }
        for si in 0..plan.stmts.len() {
            match &plan.stmts[si] {
                Stmt::Assign(a) => {
                    let env = env!();
                    let (v, _) = env
                        .eval(&a.expr, dot)
                        .with_context(|| format!("line {}", a.loc))?;
                    if matches!(a.expr, Expr::DataSegmentAlign { .. }) {
                        relro.0 = Some(v);
                    }
                    if let Expr::DataSegmentRelroEnd { value, .. } = &a.expr {
                        relro.1 = Some(env.eval(value, dot)?.0);
                    }
                    if a.target == "." {
                        let new_dot = apply_op(a.op, dot, v);
                        // With a layout file, a jump to a new segment leaves headroom (an
                        // eighth of what the segment before holds, in pages) so that growth of
                        // sections that are not regioned (.eh_frame, say) does not move every
                        // later segment. It is address space only: segments start on their own
                        // pages in the file anyway.
                        // (A relink finds that headroom in the recorded section addresses.)
                        // A relink jumps straight to where the next section was recorded, so
                        // that symbols assigned before it see the same address as last time.
                        let jump = new_dot > dot && new_dot.is_multiple_of(PAGE);
                        if jump {
                            section_headroom = 0;
                        }
                        match stable.as_ref() {
                            Some(st) if jump && st.old.sections.is_empty() => {
                                // Under the built-in script at least a page: the first
                                // segment (headers, notes, IRELATIVE relocations) grows with
                                // a fleet's IFUNCs.
                                let headroom = match segment_start {
                                    Some(start) => {
                                        (dot.saturating_sub(start) / 8).next_multiple_of(PAGE)
                                    }
                                    None => 0,
                                }
                                .max(if plan.builtin { PAGE } else { 0 });
                                dot = new_dot + headroom;
                                segment_start = Some(dot);
                            }
                            Some(st) if jump => {
                                let next = plan.stmts[si + 1..].iter().find_map(|s| match s {
                                    Stmt::Out(o) if o.out.is_some() && o.desc.address.is_none() => {
                                        st.old.sections.get(&o.desc.name).copied()
                                    }
                                    Stmt::Out(_) | Stmt::Assign(_) | Stmt::Assert(..) => None,
                                });
                                dot = next.filter(|&r| r >= new_dot).unwrap_or(new_dot);
                            }
                            _ => {
                                if jump {
                                    segment_start = Some(new_dot);
                                }
                                dot = new_dot;
                            }
                        }
                    } else if let Some(&i) = plan.sym_index.get(&a.target) {
                        values[i] = apply_op(a.op, values[i], v);
                        if final_pass {
                            let (vs, from_dot) = classify(&a.expr, false, link, plan);
                            sym_sec[i] = match vs {
                                ValSec::Sec(name) => link
                                    .layout
                                    .secs
                                    .iter()
                                    .position(|s| s.name == name.as_bytes()),
                                ValSec::Abs if from_dot => {
                                    section_for_dot(plan, link, si, current, prefer_next)
                                }
                                _ => None,
                            };
                        }
                    }
                    if a.target == "." {
                        prefer_next = true;
                    }
                }
                Stmt::Assert(a, file) => {
                    if final_pass {
                        let env = env!();
                        if env.eval(&a.expr, dot)?.0 == 0 {
                            bail!(
                                "{file}:{}: linker script assertion failed: {}",
                                a.loc,
                                a.message
                            );
                        }
                    }
                }
                Stmt::Out(o) => {
                    let Some(idx) = o.out else {
                        // Removed (empty) or discarded: its assignments still run, at `.`.
                        if !o.desc.is_discard() {
                            let env = env!();
                            // The address the section would have had (its address clause or
                            // ALIGN), as GNU ld gives symbols of a removed section.
                            let mut at = match &o.desc.address {
                                Some(e) => env.eval(e, dot)?.0,
                                None => dot,
                            };
                            if let Some(a) = &o.desc.align {
                                at = at.next_multiple_of(env.eval(a, dot)?.0.max(1));
                            }
                            let mut sym_updates = Vec::new();
                            for c in &o.desc.commands {
                                if let OutputSectionCommand::Assignment(a) = c {
                                    if a.target != "." {
                                        if let Some(&i) = plan.sym_index.get(&a.target) {
                                            let v = env.eval(&a.expr, at)?.0;
                                            sym_updates.push((i, apply_op(a.op, values[i], v)));
                                        }
                                    }
                                }
                            }
                            for (i, v) in sym_updates {
                                values[i] = v;
                                if final_pass {
                                    sym_sec[i] = nearby_section(plan, link, si, at);
                                }
                            }
                        }
                        continue;
                    };
                    let os_flags = link.layout.secs[idx].flags;
                    let alloc = os_flags & elf::SHF_ALLOC as u64 != 0;
                    let env = env!();
                    let mut align = link.layout.secs[idx].align;
                    if let Some(a) = &o.desc.align {
                        align = align.max(env.eval(a, dot)?.0);
                    }
                    // Regions are page-aligned in memory only if their section is.
                    if stable.is_some() && alloc && crate::linker::stable::is_regioned(&o.desc.name)
                    {
                        align = align.max(crate::linker::stable::PAGE);
                    }
                    let mut addr = match &o.desc.address {
                        Some(e) => {
                            env.eval(e, dot)
                                .with_context(|| format!("line {}", o.desc.loc))?
                                .0
                        }
                        None if alloc => dot.next_multiple_of(align.max(1)),
                        None => 0,
                    };
                    if o.desc.address.is_some() && o.desc.align.is_some() {
                        addr = addr.next_multiple_of(align.max(1));
                    }
                    if alloc && o.desc.address.is_none() && section_headroom > 0 {
                        addr = (addr + section_headroom).next_multiple_of(align.max(1));
                        section_headroom = 0;
                    }
                    // A layout file keeps the section where the previous link put it, as long
                    // as what comes before still fits below it.
                    if let Some(st) = stable.as_mut() {
                        if alloc && o.desc.address.is_none() {
                            if let Some(&old) = st.old.sections.get(&o.desc.name) {
                                if old >= addr {
                                    addr = old;
                                } else if final_pass {
                                    st.moved.push(format!(
                                        "output section {} moved from {old:#x} to {addr:#x}",
                                        o.desc.name
                                    ));
                                }
                            }
                            st.new.sections.insert(o.desc.name.clone(), addr);
                        }
                    }
                    let subalign = match &o.desc.subalign {
                        Some(e) => Some(env.eval(e, dot)?.0.max(1)),
                        None => None,
                    };
                    let lma = match &o.desc.at {
                        Some(e) => {
                            let l = env.eval(e, dot)?.0;
                            lma_delta = Some(l as i64 - addr as i64);
                            l
                        }
                        // An explicit address without AT() loads where it runs.
                        None if o.desc.address.is_some() => {
                            lma_delta = None;
                            addr
                        }
                        // Otherwise keep the previous section's VMA-LMA difference, aligned
                        // like the section, as GNU ld does.  `.tbss` is not loaded, so the
                        // next section keeps the difference of the last loaded one.
                        None => match lma_delta {
                            Some(d) if alloc => {
                                let l = ((addr as i64 + d) as u64).next_multiple_of(align.max(1));
                                let os = &link.layout.secs[idx];
                                if !(os.is_tls() && os.is_nobits()) {
                                    lma_delta = Some(l as i64 - addr as i64);
                                }
                                l
                            }
                            _ => addr,
                        },
                    };
                    // Walk the commands, placing chunks.
                    let mut cur = addr;
                    let mut sym_updates: Vec<(usize, u64)> = Vec::new();
                    let mut data: Vec<(u64, u64, u64)> = Vec::new();
                    let mut placed: Vec<(Chunk, u64)> = Vec::new();
                    let place = |c: &Chunk, cur: &mut u64, placed: &mut Vec<(Chunk, u64)>| {
                        if let Chunk::Input(f, s) = c {
                            if !link.section(*f, *s).is_included() {
                                return;
                            }
                        }
                        if matches!(c, Chunk::Common) && link.common_size == 0 {
                            return;
                        }
                        let (size, a) = chunk_size_align(link, c);
                        *cur = cur.next_multiple_of(subalign.unwrap_or(a).max(1));
                        placed.push((*c, *cur - addr));
                        *cur += size;
                    };
                    for (ci, c) in o.desc.commands.iter().enumerate() {
                        match c {
                            OutputSectionCommand::Input(_) => {
                                for ch in &o.chunks[ci] {
                                    place(ch, &mut cur, &mut placed);
                                }
                            }
                            OutputSectionCommand::Assignment(a) => {
                                let env = env!();
                                let (v, is_const) = env
                                    .eval(&a.expr, cur)
                                    .with_context(|| format!("line {}", a.loc))?;
                                if a.target == "." {
                                    let v = if is_const && a.op == AssignOp::Assign {
                                        addr + v
                                    } else {
                                        v
                                    };
                                    let nv = apply_op(a.op, cur, v);
                                    if nv < cur && final_pass {
                                        bail!("line {}: cannot move the location counter backwards (from {cur:#x} to {nv:#x})", a.loc);
                                    }
                                    cur = nv.max(cur);
                                } else if let Some(&i) = plan.sym_index.get(&a.target) {
                                    // A plain number assigned inside an output section is
                                    // relative to the section (GNU ld).
                                    let v = if is_const && a.op == AssignOp::Assign && alloc {
                                        addr + v
                                    } else {
                                        v
                                    };
                                    let nv = apply_op(a.op, values[i], v);
                                    values[i] = nv;
                                    sym_updates.push((i, nv));
                                    if final_pass {
                                        let (vs, _) = classify(&a.expr, true, link, plan);
                                        sym_sec[i] =
                                            if vs == ValSec::Abs { None } else { Some(idx) };
                                    }
                                }
                            }
                            OutputSectionCommand::Data { size, expr } => {
                                let env = env!();
                                let v = env.eval(expr, cur)?.0;
                                data.push((cur - addr, size.bytes(), v));
                                cur += size.bytes();
                            }
                            OutputSectionCommand::Asciz(s) => {
                                cur += s.len() as u64 + 1;
                            }
                            OutputSectionCommand::Assert(a) if final_pass => {
                                let env = env!();
                                if env.eval(&a.expr, cur)?.0 == 0 {
                                    bail!(
                                        "line {}: linker script assertion failed: {}",
                                        a.loc,
                                        a.message
                                    );
                                }
                            }
                            _ => {}
                        }
                    }
                    for ch in &o.extra {
                        place(ch, &mut cur, &mut placed);
                    }
                    let _ = sym_updates;
                    let mut size = cur - addr;
                    // The TLS template only under the built-in script: a script of its own
                    // may size or walk it (a kernel's TLS setup), and padding would show.
                    if let Some(st) = stable.as_mut().filter(|_| {
                        alloc
                            && (crate::linker::stable::is_regioned(&o.desc.name)
                                || (plan.builtin
                                    && crate::linker::stable::is_tls_regioned(&o.desc.name)))
                    }) {
                        // Group the chunks by library, each group laid out on its own.
                        let mut groups: Vec<crate::linker::stable::Group> = Vec::new();
                        for (c, _) in &placed {
                            let id = st.identify(link, c);
                            let gi = match groups.iter().position(|g| *g.0 == *id.library) {
                                Some(i) => i,
                                None => {
                                    groups.push((id.library.to_string(), Vec::new()));
                                    groups.len() - 1
                                }
                            };
                            let (size, a) = chunk_size_align(link, c);
                            groups[gi].1.push(crate::linker::stable::Piece {
                                chunk: *c,
                                key: id.key.to_string(),
                                size,
                                align: subalign.unwrap_or(a).max(1),
                                exec: chunk_flags(link, c).0 & elf::SHF_EXECINSTR as u64 != 0,
                                hash: id.hash,
                                external: id.external,
                                funcs: id.funcs.clone(),
                            });
                        }
                        let placement = st.place(&o.desc.name, groups);
                        placed = placement.chunks;
                        cur = addr + placement.size;
                        // Assignments after the last input description (`. = ALIGN(...)`,
                        // `_end = .`) apply after the regions.
                        let last_input = o
                            .desc
                            .commands
                            .iter()
                            .rposition(|c| matches!(c, OutputSectionCommand::Input(_)));
                        for c in &o.desc.commands[last_input.map_or(0, |i| i + 1)..] {
                            let OutputSectionCommand::Assignment(a) = c else {
                                continue;
                            };
                            let env = env!();
                            let (v, is_const) = env.eval(&a.expr, cur)?;
                            if a.target == "." {
                                let v = if is_const && a.op == AssignOp::Assign {
                                    addr + v
                                } else {
                                    v
                                };
                                cur = apply_op(a.op, cur, v).max(cur);
                            } else if let Some(&i) = plan.sym_index.get(&a.target) {
                                let v = if is_const && a.op == AssignOp::Assign {
                                    addr + v
                                } else {
                                    v
                                };
                                values[i] = apply_op(a.op, values[i], v);
                            }
                        }
                        size = cur - addr;
                        // On the first link, the section that follows a regioned one in the
                        // same segment starts as far on again as the section is long (at least
                        // 16 pages, at most 64 MiB), so that regions appended later (other
                        // programs of a fleet bringing libraries of their own, new libraries)
                        // do not move it and everything that refers to it. The gap splits the
                        // segment, so it costs address space only. Scripts with PHDRS decide
                        // segments themselves: a gap there would be file bytes, so they get
                        // none.
                        if st.old.sections.is_empty()
                            && plan.phdrs.is_none()
                            && crate::linker::stable::is_regioned(&o.desc.name)
                        {
                            section_headroom =
                                size.next_multiple_of(PAGE).clamp(16 * PAGE, 64 << 20);
                        }
                        if final_pass {
                            for (c, value, off) in placement.trampolines {
                                if let Chunk::Input(f, s) = c {
                                    tramps.push(((f, s, value), addr + off));
                                }
                            }
                        }
                    }
                    let os = &mut link.layout.secs[idx];
                    os.addr = addr;
                    os.size = size;
                    os.align = align;
                    os.data = data;
                    // Record where chunks landed.
                    let mut members = Vec::new();
                    os.synth_off = 0;
                    os.common_off = None;
                    for (c, off) in &placed {
                        match c {
                            Chunk::Input(f, s) => members.push((*f, *s, *off)),
                            Chunk::Synth(_) => os.synth_off = *off,
                            Chunk::Common => os.common_off = Some(*off),
                        }
                    }
                    os.members = members.iter().map(|&(f, s, _)| (f, s)).collect();
                    let is_tbss = os.is_tls() && os.is_nobits();
                    for (f, s, off) in members {
                        link.files[f as usize].sections[s as usize].out_off = off;
                    }
                    new_info.insert(
                        o.desc.name.clone(),
                        SecInfo {
                            addr,
                            lma,
                            size,
                            align,
                        },
                    );
                    link.layout.secs[idx].lma = lma;
                    // `.tbss` occupies no address space, but `.` still moves to its (aligned)
                    // start, as in GNU ld.
                    if alloc {
                        dot = if is_tbss { addr } else { cur };
                        current = Some(idx);
                        prefer_next = false;
                    }
                }
            }
        }
        plan.values = values;
        if final_pass {
            link.script_sec = sym_sec.clone();
            link.trampolines = tramps.iter().copied().collect();
        }
        plan.relro = match relro {
            (Some(a), Some(b)) if b > a => Some((a, b)),
            _ => None,
        };
        secinfo = new_info;
        // Symbol values for the next pass's expressions.
        crate::linker::layout::set_synthetic_addresses(&mut link.layout);
        for (name, &i) in &plan.sym_index {
            let _ = name;
            link.script_values.resize(plan.values.len(), 0);
            link.script_values[i] = plan.values[i];
        }
        crate::linker::layout::compute_symbol_values(link)?;
    }
    Ok(())
}

fn phdr_count(plan: &Plan, link: &Link) -> usize {
    match &plan.phdrs {
        Some(p) => p.len(),
        None => {
            // Loads by flag class, plus the usual extras; an upper bound is fine here because
            // SIZEOF_HEADERS only needs to leave room.
            let has = |pred: &dyn Fn(&OutputSection) -> bool| link.layout.secs.iter().any(pred);
            let loads = 4;
            let tls = has(&|s| s.is_tls()) as usize;
            let note = has(&|s| s.is_alloc() && s.sh_type == elf::SHT_NOTE) as usize;
            let hdr = has(&|s| s.synth == Some(Synth::EhFrameHdr)) as usize;
            let dynamic = has(&|s| s.synth == Some(Synth::Dynamic)) as usize;
            let relro = (plan.builtin && link.args.relro) as usize;
            let guess = loads + tls + note + hdr + dynamic + 1 + relro;
            // A layout file splits segments at the room it leaves and at holes, a number known
            // only after layout: leave room for 64 program headers (under a page). Static PIEs
            // need them inside their first load.
            if link.args.layout.is_some() {
                guess.max(64)
            } else {
                guess
            }
        }
    }
}

/// File offsets and program headers. With PHDRS, segments are what the script says; without,
/// a new PT_LOAD starts where permissions change, plus PT_TLS, PT_NOTE, PT_GNU_EH_FRAME,
/// PT_GNU_STACK and (for the built-in script) PT_GNU_RELRO.
pub fn assign_segments(plan: &Plan, link: &mut Link) -> Result<()> {
    let base = link
        .args
        .image_base
        .unwrap_or(if link.pie { 0 } else { 0x400000 });
    let nphdr_max = phdr_count(plan, link);
    let exec_stack = link
        .args
        .exec_stack
        .unwrap_or_else(|| link.files.iter().any(|f| f.exec_stack || !f.has_stack_note));
    let secs = &link.layout.secs;
    // Alloc sections by address (stable: script order for ties).
    let mut order: Vec<usize> = (0..secs.len()).filter(|&i| secs[i].is_alloc()).collect();
    order.sort_by_key(|&i| secs[i].addr);

    // Which segment each alloc section goes to.
    struct Seg {
        p_type: u32,
        flags: Option<u32>,
        secs: Vec<usize>,
        headers: bool,
        name: String,
    }
    impl Seg {
        /// A segment of the built-in layout other than a load: no headers, no script name.
        fn extra(p_type: u32, flags: u32, secs: Vec<usize>) -> Seg {
            Seg {
                p_type,
                flags: Some(flags),
                secs,
                headers: false,
                name: String::new(),
            }
        }
    }
    let mut segs: Vec<Seg> = Vec::new();
    match &plan.phdrs {
        Some(decls) => {
            let env_values = &plan.values;
            for d in decls {
                let env = Env {
                    link,
                    plan_values: env_values,
                    sym_index: &plan.sym_index,
                    secs: &FastMap::default(),
                    headers_size: 0,
                    base: 0,
                    final_pass: true,
                };
                let p_type = match &d.type_ {
                    PhdrType::Known(k) => k.value(),
                    PhdrType::Expr(e) => env.eval(e, 0)?.0 as u32,
                };
                let flags = match &d.flags {
                    Some(e) => Some(env.eval(e, 0)?.0 as u32),
                    None => None,
                };
                segs.push(Seg {
                    p_type,
                    flags,
                    secs: Vec::new(),
                    headers: d.filehdr || d.phdrs,
                    name: d.name.clone(),
                });
            }
            // Sections name their segments; others inherit the previous section's.
            let mut current: Vec<String> = Vec::new();
            for s in &plan.stmts {
                let Stmt::Out(o) = s else { continue };
                let Some(idx) = o.out else {
                    if !o.desc.phdrs.is_empty() {
                        current = o.desc.phdrs.clone();
                    }
                    continue;
                };
                if !link.layout.secs[idx].is_alloc() {
                    continue;
                }
                if !o.desc.phdrs.is_empty() {
                    current = o.desc.phdrs.clone();
                }
                for p in &current {
                    let seg = segs.iter_mut().find(|s| &s.name == p).ok_or_else(|| {
                        anyhow!(
                            "section {} refers to undefined program header '{p}'",
                            o.desc.name
                        )
                    })?;
                    seg.secs.push(idx);
                }
            }
        }
        None => {
            let mut cur: Option<Seg> = None;
            let mut last_end = 0u64;
            // VMA-LMA difference of the current segment: a segment loads contiguously, so a
            // section loaded elsewhere (AT()) starts a new one.
            let mut cur_delta = 0i64;
            let mut pending_tbss: Vec<usize> = Vec::new();
            let stable = link.stable.is_some();
            let mut last_nobits = false;
            for &i in &order {
                let s = &secs[i];
                let f = seg_flags(s.flags);
                let delta = s.lma as i64 - s.addr as i64;
                // `.tbss` is not loaded: it never starts a segment of its own.
                let loaded = !(s.is_tls() && s.is_nobits());
                // `.tbss` is not loaded: like GNU ld, put it in the segment of what follows.
                if !loaded {
                    pending_tbss.push(i);
                    continue;
                }
                let start_new = match &cur {
                    None => true,
                    Some(c) => {
                        let cf = c.flags.unwrap();
                        // Tbss overlaps what follows; a gap of more than a page or different
                        // permissions in a new page start a new segment. With a layout file,
                        // so does file content on a later page than the zero-filled memory
                        // before it (the room a layout leaves), which would otherwise take
                        // file bytes.
                        (cf != f && s.addr / PAGE != last_end.saturating_sub(1) / PAGE)
                            || s.addr > last_end.next_multiple_of(PAGE) + PAGE
                            || (loaded && delta != cur_delta)
                            || (stable
                                && last_nobits
                                && !s.is_nobits()
                                && s.addr / PAGE != last_end.saturating_sub(1) / PAGE)
                    }
                };
                if loaded {
                    cur_delta = delta;
                }
                if start_new {
                    if let Some(c) = cur.take() {
                        segs.push(c);
                    }
                    cur = Some(Seg {
                        p_type: elf::PT_LOAD,
                        flags: Some(f),
                        secs: Vec::new(),
                        headers: segs.is_empty(),
                        name: String::new(),
                    });
                } else if let Some(c) = cur.as_mut() {
                    c.flags = Some(c.flags.unwrap() | f);
                }
                let c = cur.as_mut().unwrap();
                c.secs.append(&mut pending_tbss);
                c.secs.push(i);
                last_end = last_end.max(s.addr + s.size);
                last_nobits = s.is_nobits();
            }
            if let Some(mut c) = cur.take() {
                c.secs.append(&mut pending_tbss);
                segs.push(c);
            }
            // The first load carries the headers only if they fit below its first section.
            if let Some(first) = segs.first_mut() {
                let a = first.secs.first().map(|&i| secs[i].addr).unwrap_or(0);
                let hs = crate::linker::layout::EHDR_SIZE
                    + crate::linker::layout::PHDR_SIZE * nphdr_max as u64;
                first.headers = a % PAGE >= hs;
            }
            // Static executables need their program headers mapped (the C library finds
            // PT_TLS through them): with the built-in script they always get a read-only
            // segment at the image base.
            if plan.builtin && !segs.first().is_some_and(|s| s.headers) {
                segs.insert(
                    0,
                    Seg {
                        p_type: elf::PT_LOAD,
                        flags: Some(elf::PF_R),
                        secs: Vec::new(),
                        headers: true,
                        name: "headers".into(),
                    },
                );
            }
            let tls: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| secs[i].is_tls())
                .collect();
            if !tls.is_empty() {
                segs.push(Seg::extra(elf::PT_TLS, elf::PF_R, tls));
            }
            let notes: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| secs[i].sh_type == elf::SHT_NOTE)
                .collect();
            if !notes.is_empty() {
                segs.insert(
                    segs.iter().filter(|s| s.p_type == elf::PT_LOAD).count(),
                    Seg::extra(elf::PT_NOTE, elf::PF_R, notes),
                );
            }
            if let Some(i) = order
                .iter()
                .copied()
                .find(|&i| secs[i].synth == Some(Synth::Dynamic))
            {
                segs.insert(
                    segs.iter().filter(|s| s.p_type == elf::PT_LOAD).count(),
                    Seg::extra(elf::PT_DYNAMIC, elf::PF_R | elf::PF_W, vec![i]),
                );
            }
            if let Some(i) = order
                .iter()
                .copied()
                .find(|&i| secs[i].synth == Some(Synth::EhFrameHdr))
            {
                segs.push(Seg::extra(elf::PT_GNU_EH_FRAME, elf::PF_R, vec![i]));
            }
            let stack = if exec_stack {
                elf::PF_R | elf::PF_W | elf::PF_X
            } else {
                elf::PF_R | elf::PF_W
            };
            segs.push(Seg::extra(elf::PT_GNU_STACK, stack, Vec::new()));
            if plan.builtin && link.args.relro {
                if let Some((a, b)) = plan.relro {
                    let rel: Vec<usize> = order
                        .iter()
                        .copied()
                        .filter(|&i| secs[i].addr >= a && secs[i].addr < b && secs[i].size > 0)
                        .collect();
                    if !rel.is_empty() {
                        segs.push(Seg {
                            p_type: elf::PT_GNU_RELRO,
                            flags: Some(elf::PF_R),
                            secs: rel,
                            headers: false,
                            name: "relro-end".into(),
                        });
                    }
                }
            }
        }
    }
    let nphdr = segs.len();
    let headers_size =
        crate::linker::layout::EHDR_SIZE + crate::linker::layout::PHDR_SIZE * nphdr as u64;

    // File offsets: walk alloc sections by address; a section's offset is congruent to its
    // address modulo the page size and never overlaps what is already placed.
    let mut off = headers_size;
    let mut offsets = vec![0u64; secs.len()];
    let mut prev: Option<usize> = None;
    let load_of: Vec<Option<usize>> = (0..secs.len())
        .map(|i| {
            segs.iter()
                .position(|s| s.p_type == elf::PT_LOAD && s.secs.contains(&i))
        })
        .collect();
    for &i in &order {
        let s = &secs[i];
        let same_load = prev.is_some_and(|p| load_of[p] == load_of[i] && load_of[i].is_some());
        if s.is_nobits() {
            offsets[i] = if same_load {
                off
            } else {
                off.max(s.addr % PAGE)
            };
            continue;
        }
        let want = s.addr % PAGE;
        off = if same_load {
            // Inside one segment: keep the address distance.
            let p = prev.unwrap();
            let po = offsets[p]
                + (s.addr - secs[p].addr).min(if secs[p].is_nobits() { 0 } else { u64::MAX });
            if secs[p].is_nobits() {
                off + ((want + PAGE - off % PAGE) % PAGE)
            } else {
                po
            }
        } else {
            off + ((want + PAGE - off % PAGE) % PAGE)
        };
        offsets[i] = off;
        off += s.size;
        prev = Some(i);
    }
    let mut end = off;
    for (i, s) in secs.iter().enumerate() {
        if !s.is_alloc() {
            end = end.next_multiple_of(s.align.max(1));
            offsets[i] = end;
            end += s.size;
        }
    }
    for (i, s) in link.layout.secs.iter_mut().enumerate() {
        s.offset = offsets[i];
    }
    link.layout.content_end = end;
    let secs = &link.layout.secs;

    // Program headers from the segments.
    let mut phdrs = Vec::new();
    for seg in &segs {
        let all: Vec<&OutputSection> = seg.secs.iter().map(|&i| &secs[i]).collect();
        // `.tbss` takes no room in a loadable segment.
        let members: Vec<&OutputSection> = all
            .iter()
            .copied()
            .filter(|m| seg.p_type != elf::PT_LOAD || !(m.is_tls() && m.is_nobits()))
            .collect();
        let mut flags = seg.flags.unwrap_or(0);
        if seg.flags.is_none() {
            flags = elf::PF_R;
            for m in &all {
                flags |= seg_flags(m.flags);
            }
        }
        let (offset, vaddr, filesz, memsz, align) = if seg.name == "headers" {
            (0, base, headers_size, headers_size, PAGE)
        } else if members.is_empty() {
            let v = if seg.p_type == elf::PT_LOAD {
                // An empty load sits where its sections would have been, as GNU ld does.
                all.first()
                    .map(|s| s.addr)
                    .or_else(|| secs.iter().filter(|s| s.is_alloc()).map(|s| s.addr).next())
                    .unwrap_or(0)
            } else {
                0
            };
            (
                0,
                if seg.p_type == elf::PT_LOAD { v } else { 0 },
                0,
                0,
                if seg.p_type == elf::PT_LOAD {
                    PAGE
                } else if seg.p_type == elf::PT_GNU_STACK {
                    16
                } else {
                    1
                },
            )
        } else {
            let first = members.iter().min_by_key(|m| m.addr).unwrap();
            // A `.tbss` at the start of a load moves its start down (GNU ld).
            let lowest = all
                .iter()
                .map(|m| m.addr)
                .min()
                .unwrap_or(first.addr)
                .min(first.addr);
            let mut vaddr = lowest;
            let mut offset = first.offset.saturating_sub(first.addr - lowest);
            if seg.headers && seg.p_type == elf::PT_LOAD && first.addr >= first.offset {
                vaddr = first.addr - first.offset;
                offset = 0;
            }
            let mem_end = members
                .iter()
                .filter(|m| !(m.is_tls() && m.is_nobits()) || seg.p_type == elf::PT_TLS)
                .map(|m| m.addr + m.size)
                .max()
                .unwrap();
            let file_end = members
                .iter()
                .filter(|m| !m.is_nobits())
                .map(|m| m.offset + m.size)
                .max()
                .unwrap_or(offset);
            let align = match seg.p_type {
                elf::PT_LOAD => PAGE,
                _ => members.iter().map(|m| m.align).max().unwrap_or(1),
            };
            let filesz = file_end.saturating_sub(offset);
            let memsz = mem_end.saturating_sub(vaddr).max(filesz);
            (offset, vaddr, filesz, memsz, align)
        };
        let (mut vaddr, mut memsz, mut filesz) = (vaddr, memsz, filesz);
        if seg.name == "relro-end" {
            if let Some((a, b)) = plan.relro {
                vaddr = a.max(vaddr);
                memsz = b - vaddr;
                filesz = memsz;
            }
        }
        // The physical address follows the first section's load address (AT()).
        let paddr = members
            .iter()
            .min_by_key(|m| m.addr)
            .map(|m| m.lma.wrapping_sub(m.addr.wrapping_sub(vaddr)))
            .unwrap_or(vaddr);

        // GNU ld sizes PT_TLS in load-address space: a `.tbss` whose LMA was rounded up to its
        // alignment (it keeps the previous section's LMA-VMA distance, then aligns) widens the
        // segment even where the virtual addresses are contiguous.
        if seg.p_type == elf::PT_TLS && !members.is_empty() {
            let mut sorted: Vec<_> = members.iter().collect();
            sorted.sort_by_key(|m| m.addr);
            let mut end = paddr;
            for m in sorted {
                end = end.max(m.lma) + m.size;
            }
            memsz = memsz.max(end.wrapping_sub(paddr));
        }
        phdrs.push(Phdr {
            paddr,
            p_type: seg.p_type,
            flags,
            offset,
            vaddr,
            filesz,
            memsz,
            align,
        });
    }
    // PT_PHDR describes the program header table itself, inside the load that carries the
    // headers.
    let header_load = phdrs
        .iter()
        .zip(&segs)
        .find(|(p, s)| p.p_type == elf::PT_LOAD && s.headers && p.offset == 0)
        .map(|(p, _)| (p.vaddr, p.paddr));
    for p in phdrs.iter_mut().filter(|p| p.p_type == elf::PT_PHDR) {
        let (v, pa) = header_load.unwrap_or((base, base));
        let size = crate::linker::layout::PHDR_SIZE * nphdr as u64;
        *p = Phdr {
            p_type: elf::PT_PHDR,
            flags: elf::PF_R,
            offset: crate::linker::layout::EHDR_SIZE,
            vaddr: v + crate::linker::layout::EHDR_SIZE,
            paddr: pa + crate::linker::layout::EHDR_SIZE,
            filesz: size,
            memsz: size,
            align: 8,
        };
    }
    // Static executables find their program headers (for PT_TLS, and a static PIE for its
    // relocations) through AT_PHDR, which the kernel derives from the load that maps them. A
    // layout file adds loads; should there be more program headers than the room kept for
    // them, refuse rather than write an image that does not start.
    if plan.builtin {
        let end =
            crate::linker::layout::EHDR_SIZE + crate::linker::layout::PHDR_SIZE * nphdr as u64;
        let mapped = phdrs.iter().any(|p| {
            p.p_type == elf::PT_LOAD
                && p.offset <= crate::linker::layout::EHDR_SIZE
                && end <= p.offset + p.filesz
        });
        if !mapped {
            bail!(
                "the {nphdr} program headers do not fit in front of the first section, so no \
                 load maps them{}",
                if link.args.layout.is_some() {
                    " (--layout: too many separate loads)"
                } else {
                    ""
                }
            );
        }
    }
    link.layout.phdrs = phdrs;
    let tls: Vec<&OutputSection> = link
        .layout
        .secs
        .iter()
        .filter(|s| s.is_tls() && s.is_alloc())
        .collect();
    if let Some(first) = tls.iter().min_by_key(|s| s.addr) {
        let start = first.addr;
        let end = tls.iter().map(|s| s.addr + s.size).max().unwrap();
        let align = tls.iter().map(|s| s.align).max().unwrap_or(1);
        link.layout.tls_start = start;
        link.layout.tls_align = align;
        link.layout.tp = end.next_multiple_of(align);
        for p in link
            .layout
            .phdrs
            .iter_mut()
            .filter(|p| p.p_type == elf::PT_TLS)
        {
            p.align = align;
        }
    }
    Ok(())
}

fn seg_flags(flags: u64) -> u32 {
    let mut f = elf::PF_R;
    if flags & elf::SHF_WRITE as u64 != 0 {
        f |= elf::PF_W;
    }
    if flags & elf::SHF_EXECINSTR as u64 != 0 {
        f |= elf::PF_X;
    }
    f
}

/// The section an expression's value belongs to, by GNU ld's rules: a plain number, an
/// absolute value, or relative to a named output section. `dot` records whether `.` (or
/// ALIGN, SEGMENT_START) was involved and not made absolute since.
#[derive(Debug, Clone, PartialEq)]
enum ValSec {
    Plain,
    Abs,
    Sec(String),
}

fn classify(e: &Expr, in_section: bool, link: &Link, plan: &Plan) -> (ValSec, bool) {
    let ctx = || {
        if in_section {
            ValSec::Plain
        } else {
            ValSec::Abs
        }
    };
    match e {
        Expr::Number(_) => (ctx(), false),
        Expr::Dot | Expr::Align { .. } | Expr::SegmentStart { .. } | Expr::Origin(_) => {
            (ctx(), true)
        }
        Expr::Addr(s) => (ValSec::Sec(s.clone()), false),
        Expr::LoadAddr(_) => (ValSec::Abs, false),
        Expr::Absolute(_) | Expr::Next(_) => (ValSec::Abs, false),
        Expr::Symbol(name) => {
            if plan.sym_index.contains_key(name) {
                return (ctx(), false);
            }
            let sec = link.symtab.get(name.as_bytes()).and_then(|id| {
                let (f, s) = link.symtab.syms[id as usize].file_sym()?;
                let sym = &link.files[f as usize].symbols[s as usize];
                if sym.is_abs() || sym.is_undefined() || sym.shndx >= elf::SHN_LORESERVE as u32 {
                    return None;
                }
                let sec = link.section(f, sym.shndx);
                link.layout
                    .secs
                    .get(sec.out_sec as usize)
                    .map(|os| String::from_utf8_lossy(&os.name).into_owned())
            });
            (sec.map(ValSec::Sec).unwrap_or_else(ctx), false)
        }
        Expr::Unary(_, x) | Expr::Block(x) | Expr::Log2Ceil(x) | Expr::DataSegmentEnd(x) => {
            let (s, d) = classify(x, in_section, link, plan);
            if matches!(e, Expr::Log2Ceil(_)) {
                (ValSec::Plain, d)
            } else {
                (s, d)
            }
        }
        Expr::Conditional(c, a, b) => {
            let (_, dc) = classify(c, in_section, link, plan);
            // The branch taken is not known here; both branches usually agree.
            let (s, d) = classify(a, in_section, link, plan);
            let _ = b;
            (s, d || dc)
        }
        Expr::Binary(op, a, b) => {
            let (sa, da) = classify(a, in_section, link, plan);
            let (sb, db) = classify(b, in_section, link, plan);
            let keeps = matches!(
                op,
                BinaryOp::Add
                    | BinaryOp::Sub
                    | BinaryOp::Mul
                    | BinaryOp::Div
                    | BinaryOp::Mod
                    | BinaryOp::Shl
                    | BinaryOp::Shr
                    | BinaryOp::BitAnd
                    | BinaryOp::BitOr
                    | BinaryOp::BitXor
            );
            if !keeps {
                return (ValSec::Plain, da || db);
            }
            if sa != sb {
                match (&sa, &sb) {
                    (ValSec::Plain, s) | (s, ValSec::Plain) => (s.clone(), da || db),
                    _ => (ValSec::Abs, false),
                }
            } else {
                (ctx(), da || db)
            }
        }
        Expr::Max(a, b) | Expr::Min(a, b) => {
            let (sa, da) = classify(a, in_section, link, plan);
            let (sb, db) = classify(b, in_section, link, plan);
            if sa != sb && sa != ValSec::Plain && sb != ValSec::Plain {
                (ValSec::Abs, false)
            } else if sa == ValSec::Plain {
                (sb, da || db)
            } else {
                (sa, da || db)
            }
        }
        _ => (ValSec::Plain, false),
    }
}

/// Where GNU ld puts a top-level symbol assigned from `.`: the next kept section after a
/// top-level assignment to `.` (or before any section), else the current one; never a TLS or
/// non-allocated section.
fn section_for_dot(
    plan: &Plan,
    link: &Link,
    stmt: usize,
    current: Option<usize>,
    prefer_next: bool,
) -> Option<usize> {
    let secs = &link.layout.secs;
    let usable = |i: usize| secs[i].is_alloc() && !secs[i].is_tls();
    if current.is_none() || prefer_next {
        let next = plan.stmts[stmt + 1..].iter().find_map(|s| match s {
            Stmt::Out(o) => o.out,
            _ => None,
        });
        let mut i = next.or(if secs.is_empty() {
            None
        } else {
            Some(secs.len() - 1)
        })?;
        loop {
            if usable(i) {
                return Some(i);
            }
            i = i.checked_sub(1)?;
        }
    }
    let mut i = current?;
    loop {
        if usable(i) {
            return Some(i);
        }
        match i.checked_sub(1) {
            Some(j) => i = j,
            None => return (0..secs.len()).find(|&j| usable(j)),
        }
    }
}

/// GNU ld's choice of a kept section for symbols of a removed output section
/// (`_bfd_nearby_section`).
fn nearby_section(plan: &Plan, link: &Link, stmt: usize, addr: u64) -> Option<usize> {
    let secs = &link.layout.secs;
    let prev = plan.stmts[..stmt].iter().rev().find_map(|s| match s {
        Stmt::Out(o) => o.out.filter(|&i| secs[i].is_alloc()),
        _ => None,
    });
    let next = plan.stmts[stmt + 1..].iter().find_map(|s| match s {
        Stmt::Out(o) => o.out.filter(|&i| secs[i].is_alloc()),
        _ => None,
    });
    let (Some(p), Some(n)) = (prev, next) else {
        return next.or(prev);
    };
    let flags = |i: usize| {
        let s = &secs[i];
        let mut f = 0u32;
        if s.is_alloc() {
            f |= 1;
        }
        if s.is_tls() {
            f |= 2;
        }
        if !s.is_nobits() {
            f |= 4;
        }
        if s.flags & elf::SHF_WRITE as u64 == 0 {
            f |= 8;
        }
        if s.flags & elf::SHF_EXECINSTR as u64 != 0 {
            f |= 16;
        }
        f
    };
    let (fp, fnx) = (flags(p), flags(n));
    // The removed section had no inputs: no flags of its own.
    let fs = 0u32;
    let best = if (fp ^ fnx) & 7 != 0 {
        if (fnx ^ fs) & 3 != 0 || (fp & 4 != 0 && fnx & 4 == 0) {
            p
        } else {
            n
        }
    } else if (fp ^ fnx) & 8 != 0 {
        if (fnx ^ fs) & 8 != 0 {
            p
        } else {
            n
        }
    } else if (fp ^ fnx) & 16 != 0 {
        if (fnx ^ fs) & 16 != 0 {
            p
        } else {
            n
        }
    } else if addr < secs[n].addr {
        p
    } else {
        n
    };
    Some(best)
}
