//! Layout driven by a GNU linker script: which output section each input section goes to
//! (first matching input-section description wins, orphans placed by GNU ld's rules), the
//! evaluation of `SECTIONS` with its location counter, symbol assignments and `PROVIDE`s,
//! `INSERT AFTER/BEFORE`, `/DISCARD/`, and program headers from `PHDRS` or derived from
//! section flags.

use crate::linker::args::Args;
use crate::linker::context::Link;
use crate::linker::layout::Chunk;
use crate::linker::script::ast::{
    self, AssignKind, Command, Expr, OutputSectionCommand, SectionsCommand,
};
use crate::linker::symbols::{Def, FastMap, LinkerSym};
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

/// The built-in script for static executables (`ld --verbose` shows GNU ld's counterpart).
pub const DEFAULT_SCRIPT: &str = include_str!("../../../linker-scripts/static.lds");

/// The built-in script. With a layout file, `.fini` goes before `.text` (after `.init`): behind
/// `.text` it would move whenever code grows into the delta area, and so would every page that
/// calls `_fini`.
fn builtin_script(stable_layout: bool, separate_code: bool) -> String {
    let mut script = DEFAULT_SCRIPT.to_string();
    if !separate_code {
        // `-z noseparate-code`: code does not start and end on its own pages (GNU ld's
        // default script for that case has no such alignment either).
        let align = "  . = ALIGN(CONSTANT (MAXPAGESIZE));\n";
        script = script.replacen(align, "", 2);
    }
    if !stable_layout {
        return script;
    }
    let fini = "  .fini           : { KEEP (*(SORT_NONE(.fini))) }\n";
    let init = "  .init           : { KEEP (*(SORT_NONE(.init))) }\n";
    script
        .replacen(fini, "", 1)
        .replacen(init, &format!("{init}{fini}"), 1)
}

#[cfg(test)]
mod builtin_script_tests {
    #[test]
    fn fini_precedes_text_with_a_layout_file() {
        let pos = |s: &str, name: &str| s.find(name).unwrap_or_else(|| panic!("no {name}"));
        let plain = super::builtin_script(false, true);
        assert!(pos(&plain, "  .fini ") > pos(&plain, "  .text "));
        let stable = super::builtin_script(true, true);
        assert!(pos(&stable, "  .fini ") < pos(&stable, "  .text "));
        assert!(pos(&stable, "  .init ") < pos(&stable, "  .fini "));
        assert_eq!(stable.matches("SORT_NONE(.fini)").count(), 1);
    }

    #[test]
    fn noseparate_code_drops_the_code_alignment() {
        let align = "ALIGN(CONSTANT (MAXPAGESIZE))";
        assert_eq!(super::builtin_script(false, true).matches(align).count(), 2);
        assert_eq!(
            super::builtin_script(false, false).matches(align).count(),
            0
        );
    }
}

#[derive(Debug)]
pub struct OutStmt {
    pub desc: ast::OutputSection,
    /// Chunks matched by each command (empty for commands that are not input descriptions).
    pub chunks: Vec<Vec<Chunk>>,
    /// Orphans that joined this statement, placed after its commands.
    pub extra: Vec<Chunk>,
    pub orphan: bool,
    /// An orphan of `--unique`: no other section joins it.
    pub unique: bool,
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
                    unique: false,
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
                let script = builtin_script(args.layout.is_some(), args.separate_code);
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
        link.script.hidden.push(matches!(
            a.kind,
            AssignKind::ProvideHidden | AssignKind::Hidden
        ));
        link.script.abs.push(matches!(
            a.expr,
            Expr::Absolute(_) | Expr::Min(..) | Expr::Max(..)
        ));
        plan.sym_index.insert(a.target.clone(), idx);
        let id = link.symtab.intern(name);
        link.symtab.syms[id as usize].def = Def::Linker(LinkerSym::Script(idx as u32));
    }
}
