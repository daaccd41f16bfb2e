//! After symbol resolution: the conflicts that make a link fail, and the symbols the linker
//! itself defines (`__bss_start`, `_GLOBAL_OFFSET_TABLE_`, `--defsym`, ...).

use crate::linker::context::Link;
use crate::linker::diag;
use crate::linker::symbols::{Def, LinkerSym};
use anyhow::{bail, Result};

/// Checks the results of symbol resolution that make a link fail (with `--noinhibit-exec`,
/// they are reported and the first definition wins, as in GNU ld).
pub fn check_duplicates(link: &Link) -> Result<()> {
    if link.symtab.duplicates.is_empty() || link.args.allow_multiple_definition {
        return Ok(());
    }
    let mut lines = Vec::new();
    for &(id, a, b) in &link.symtab.duplicates {
        lines.push(format!(
            "{}: multiple definition of {}; first defined in {}",
            link.files[b as usize].name,
            diag::quoted_symbol(link.symtab.syms[id as usize].name),
            link.files[a as usize].name
        ));
    }
    if link.args.noinhibit_exec {
        lines.iter().for_each(diag::error);
        return Ok(());
    }
    bail!("{}", lines.join("\nspacer: error: "))
}

/// `--require-defined`: each named symbol must have a definition once inputs and scripts are
/// read (GNU ld's message).
pub fn check_required(link: &Link) -> Result<()> {
    for name in &link.args.require_defined {
        let defined = link
            .symtab
            .get(name.as_bytes())
            .is_some_and(|id| !link.symtab.syms[id as usize].is_undefined());
        if !defined {
            bail!("required symbol `{name}' not defined");
        }
    }
    Ok(())
}

/// Marks sections the output never carries and gives linker-provided symbols their kind.
pub fn define_linker_symbols(link: &mut Link) {
    let pie = link.pie;
    for sym in link.symtab.syms.iter_mut() {
        if sym.is_undefined() {
            if pie && sym.name == b"_DYNAMIC" {
                sym.def = Def::Linker(LinkerSym::Dynamic);
            } else if let Some(k) = crate::linker::symbols::linker_symbol_for(sym.name) {
                sym.def = Def::Linker(k);
            }
        }
    }
    for (i, (name, _)) in link.args.defsyms.iter().enumerate() {
        let name: &'static [u8] = Box::leak(name.clone().into_bytes().into_boxed_slice());
        let id = link.symtab.intern(name);
        link.symtab.syms[id as usize].def = Def::Linker(LinkerSym::Defsym(i));
    }
}
