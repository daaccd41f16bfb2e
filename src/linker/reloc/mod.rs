//! Relocation processing (x86-64 only). The scan decides which GOT and PLT entries exist and
//! which references are undefined; `x86_64` applies relocations when the output is written.

pub mod x86_64;

use crate::linker::context::{Link, Tables};
use anyhow::{bail, Result};

/// Relocation scan: which GOT and PLT entries exist and which input sections need relative
/// relocations; fails on undefined references and relocations spacer cannot apply.
pub fn scan_relocations(link: &Link) -> Result<Tables> {
    use rayon::prelude::*;
    let jobs = link.sections_where(|sec| sec.is_included() && !sec.relocs.is_empty());
    let results: Vec<x86_64::ScanOut> = jobs
        .par_iter()
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
    if !undefined.is_empty() && !link.args.no_undefined_error {
        let mut lines = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for &(sym, f, s, off) in &undefined {
            if !seen.insert((sym, f)) {
                continue;
            }
            lines.push(format!(
                "{}:({}+{off:#x}): undefined reference to {}",
                link.files[f as usize].name,
                String::from_utf8_lossy(link.section(f, s).name),
                crate::linker::diag::quoted_symbol(link.sym_name(sym)),
            ));
        }
        let shown = lines.len().min(50);
        let mut msg = lines[..shown].join("\nspacer: error: ");
        if lines.len() > shown {
            msg.push_str(&format!(
                "\nspacer: error: ... and {} more undefined references",
                lines.len() - shown
            ));
        }
        bail!("{msg}");
    }

    Ok(t)
}
