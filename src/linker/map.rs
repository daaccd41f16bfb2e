//! `-Map FILE`: a readable link map of output sections, their input sections and symbols.

use crate::linker::context::Link;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

pub fn write_map(link: &Link, path: &Path) -> Result<()> {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:>18} {:>10} {:>6}  Input",
        "Section", "Address", "Size", "Align"
    );
    for os in &link.layout.secs {
        let _ = writeln!(
            s,
            "{:<24} {:>#18x} {:>#10x} {:>6}",
            String::from_utf8_lossy(&os.name),
            os.addr,
            os.size,
            os.align
        );
        for &(f, sec) in &os.members {
            let isec = link.section(f, sec);
            let _ = writeln!(
                s,
                "  {:<22} {:>#18x} {:>#10x} {:>6}  {}",
                String::from_utf8_lossy(isec.name),
                os.addr + isec.out_off,
                isec.size,
                isec.align,
                link.files[f as usize].name
            );
        }
    }
    let _ = writeln!(s, "\nSymbols");
    let mut syms: Vec<(u64, String)> = link
        .symtab
        .syms
        .iter()
        .filter(|x| !x.is_undefined())
        .map(|x| (x.value, String::from_utf8_lossy(x.name).into_owned()))
        .collect();
    syms.sort();
    for (v, n) in syms {
        let _ = writeln!(s, "{v:#018x} {n}");
    }
    std::fs::write(path, s).with_context(|| format!("cannot write map file {}", path.display()))
}
