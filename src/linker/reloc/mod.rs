//! Relocation processing (x86-64 only). The scan decides which GOT and PLT entries exist and
//! which references are undefined; `x86_64` applies relocations when the output is written.

pub mod x86_64;

use crate::linker::context::{Link, SymRef, Tables};
use crate::linker::diag;
use anyhow::{bail, Result};

/// Relocation scan: which GOT and PLT entries exist and which input sections need relative
/// relocations; fails on undefined references and relocations spacer cannot apply.
pub fn scan_relocations(link: &Link) -> Result<Tables> {
    use rayon::prelude::*;
    let jobs = link.sections_where(|sec| sec.is_included() && !sec.relocs.is_empty());
    let results: Vec<x86_64::ScanOut> = jobs
        .par_iter()
        .with_max_len(16)
        .map(|&(f, s)| x86_64::scan_section(link, f, s))
        .collect();
    let mut t = Tables::default();
    let mut undefined = Vec::new();
    let mut errors = Vec::new();
    for (&(f, s), r) in jobs.iter().zip(&results) {
        t.needs_got_base |= r.needs_got_base;
        if r.dyn_relocs > 0 {
            t.dyn_start
                .insert((f, s), (t.dyn_section_relocs, r.dyn_relocs));
            t.dyn_section_relocs += r.dyn_relocs;
        }
        errors.extend(r.errors.iter().cloned());
        for &(sym, kind) in &r.got {
            if !t.got_map.contains_key(&(sym, kind)) {
                t.got_map.insert((sym, kind), t.got.len() as u32);
                t.got.push((sym, kind));
            }
        }
        for &sym in &r.plt {
            if !t.plt_map.contains_key(&sym) {
                t.plt_map.insert(sym, t.plt.len() as u32);
                t.plt.push(sym);
            }
        }
        for &(sym, off) in &r.undefined {
            undefined.push((sym, f, s, off));
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\nspacer: error: "));
    }
    if !undefined.is_empty() && !link.args.ignore_unresolved {
        report_undefined(link, &undefined)?;
    }
    Ok(t)
}

/// Undefined references, one per symbol and file, are errors; warnings with
/// `--warn-unresolved-symbols`; errors that do not stop the link with `--noinhibit-exec`.
/// Unreported, an undefined symbol resolves to 0, as in GNU ld.
fn report_undefined(link: &Link, undefined: &[(SymRef, u32, u32, u64)]) -> Result<()> {
    let mut lines = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &(sym, f, s, off) in undefined {
        if !seen.insert((sym, f)) {
            continue;
        }
        lines.push(format!(
            "{}:({}+{off:#x}): undefined reference to {}",
            link.files[f as usize].name,
            String::from_utf8_lossy(link.section(f, s).name),
            diag::quoted_symbol(link.sym_name(sym)),
        ));
    }
    let shown = lines.len().min(50);
    if lines.len() > shown {
        let more = lines.len() - shown;
        lines.truncate(shown);
        lines.push(format!("... and {more} more undefined references"));
    }
    if link.args.warn_unresolved {
        lines.iter().for_each(diag::warn);
    } else if link.args.noinhibit_exec {
        lines.iter().for_each(diag::error);
    } else {
        bail!("{}", lines.join("\nspacer: error: "));
    }
    Ok(())
}
