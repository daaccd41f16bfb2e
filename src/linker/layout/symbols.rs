//! The end of the layout stage: the page digest section's place, every symbol's value and the
//! entry point.

use super::{set_synthetic_addresses, OutputSection, Synth};
use crate::linker::context::Link;
use crate::linker::symbols::{ArrayKind, Def, LinkerSym};
use anyhow::{bail, Context, Result};
use object::elf;

/// Adds the page digest section (after everything else) and computes symbol values and the
/// entry point: the last step of every layout.
pub fn finish(link: &mut Link) -> Result<()> {
    set_synthetic_addresses(&mut link.layout);
    let lay = &mut link.layout;
    if link.args.page_digests {
        let segs: Vec<crate::pages::digest::LoadSeg> = lay
            .phdrs
            .iter()
            .filter(|p| p.p_type == elf::PT_LOAD)
            .map(|p| crate::pages::digest::LoadSeg {
                offset: p.offset,
                vaddr: p.vaddr,
                filesz: p.filesz,
                memsz: p.memsz,
                flags: p.flags,
            })
            .collect();
        let offset = lay.content_end.next_multiple_of(8);
        let size = crate::pages::digest::section_size(&segs);
        lay.secs.push(OutputSection {
            name: crate::pages::digest::SECTION_NAME.to_vec(),
            sh_type: elf::SHT_PROGBITS,
            align: 8,
            synth: Some(Synth::PageDigests),
            size,
            offset,
            ..OutputSection::default()
        });
        lay.content_end = offset + size;
    }
    compute_symbol_values(link)?;
    let entry_name = link.args.entry.clone().unwrap_or_else(|| "_start".into());
    link.layout.entry = match link.symtab.get(entry_name.as_bytes()) {
        Some(id) if !link.symtab.syms[id as usize].is_undefined() => {
            link.symtab.syms[id as usize].value
        }
        _ => {
            if let Ok(v) = parse_int(&entry_name) {
                v
            } else {
                let text = link.layout.find(b".text").map(|s| s.addr).unwrap_or(0);
                crate::linker::diag::warn(format_args!(
                    "cannot find entry symbol {entry_name}; defaulting to {text:#x}"
                ));
                text
            }
        }
    };
    Ok(())
}

fn parse_int(s: &str) -> Result<u64> {
    let s = s.trim();
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        s.parse()
    };
    v.with_context(|| format!("invalid number '{s}'"))
}

/// Evaluates a `--defsym` expression: terms (numbers or symbols) joined by `+` and `-`.
fn eval_defsym(link: &Link, expr: &str) -> Result<u64> {
    let mut total: u64 = 0;
    let mut sign = 1i64;
    let mut term = String::new();
    let flush = |term: &mut String, sign: i64, total: &mut u64| -> Result<()> {
        let t = term.trim();
        if t.is_empty() {
            bail!("--defsym: malformed expression '{expr}'");
        }
        let v = match parse_int(t) {
            Ok(v) => v,
            Err(_) => {
                let id = link
                    .symtab
                    .get(t.as_bytes())
                    .with_context(|| format!("--defsym: undefined symbol '{t}'"))?;
                link.symtab.syms[id as usize].value
            }
        };
        *total = if sign > 0 {
            total.wrapping_add(v)
        } else {
            total.wrapping_sub(v)
        };
        term.clear();
        Ok(())
    };
    for c in expr.chars() {
        if (c == '+' || c == '-') && !term.trim().is_empty() {
            flush(&mut term, sign, &mut total)?;
            sign = if c == '+' { 1 } else { -1 };
        } else {
            term.push(c);
        }
    }
    flush(&mut term, sign, &mut total)?;
    Ok(total)
}

pub fn compute_symbol_values(link: &mut Link) -> Result<()> {
    let lay = &link.layout;
    let alloc: Vec<&OutputSection> = lay.secs.iter().filter(|s| s.is_alloc()).collect();
    let end_of = |s: &OutputSection| s.addr + s.size;
    let etext = alloc
        .iter()
        .filter(|s| s.flags & elf::SHF_EXECINSTR as u64 != 0)
        .map(|s| end_of(s))
        .max()
        .unwrap_or(lay.base);
    let edata = alloc
        .iter()
        .filter(|s| !s.is_nobits())
        .map(|s| end_of(s))
        .max()
        .unwrap_or(lay.base);
    let end = alloc
        .iter()
        .filter(|s| !(s.is_tls() && s.is_nobits()))
        .map(|s| end_of(s))
        .max()
        .unwrap_or(lay.base);
    let bss = lay.find(b".bss");
    let bss_start = bss.map(|s| s.addr).unwrap_or(edata);
    let rw_start = alloc
        .iter()
        .find(|s| s.flags & elf::SHF_WRITE as u64 != 0)
        .map(|s| s.addr)
        .unwrap_or(edata);
    let array = |name: &[u8]| {
        lay.find(name)
            .map(|s| (s.addr, s.addr + s.size))
            .unwrap_or((rw_start, rw_start))
    };
    let rela = lay
        .find_synth(crate::linker::layout::Synth::RelaIplt)
        .map(|s| (s.addr, s.addr + s.size))
        .unwrap_or((0, 0));
    let common_base = bss
        .and_then(|s| s.common_off.map(|o| s.addr + o))
        .unwrap_or(0);

    let mut values = vec![0u64; link.symtab.syms.len()];
    let mut defsyms = Vec::new();
    for (i, sym) in link.symtab.syms.iter().enumerate() {
        values[i] = match sym.def {
            Def::Undefined => 0,
            Def::Weak(f, s) | Def::Strong(f, s) => link.file_sym_addr(f, s),
            Def::Common(..) => 0,
            Def::Linker(k) => match k {
                LinkerSym::EhdrStart | LinkerSym::ExecutableStart => lay.base,
                LinkerSym::Etext => etext,
                LinkerSym::Edata => edata,
                LinkerSym::End => end,
                LinkerSym::BssStart => bss_start,
                LinkerSym::GlobalOffsetTable => lay.got_base,
                LinkerSym::RelaIpltStart => rela.0,
                LinkerSym::RelaIpltEnd => rela.1,
                LinkerSym::ArrayStart(a) | LinkerSym::ArrayEnd(a) => {
                    let (s, e) = array(match a {
                        ArrayKind::Preinit => b".preinit_array",
                        ArrayKind::Init => b".init_array",
                        ArrayKind::Fini => b".fini_array",
                    });
                    if matches!(k, LinkerSym::ArrayStart(_)) {
                        s
                    } else {
                        e
                    }
                }
                LinkerSym::SectionStart(n) => lay.find(n).map(|s| s.addr).unwrap_or(0),
                LinkerSym::SectionStop(n) => lay.find(n).map(|s| s.addr + s.size).unwrap_or(0),
                LinkerSym::TlsModuleBase => lay.tp,
                LinkerSym::Script(i) => link.script.values.get(i as usize).copied().unwrap_or(0),
                LinkerSym::Dynamic => lay.find_synth(Synth::Dynamic).map(|s| s.addr).unwrap_or(0),
                LinkerSym::Defsym(d) => {
                    defsyms.push((i, d));
                    0
                }
            },
        };
    }
    for &(id, off) in &link.commons.syms {
        values[id as usize] = common_base + off;
    }
    for (i, v) in values.into_iter().enumerate() {
        link.symtab.syms[i].value = v;
    }
    // In command-line order: a --defsym may use an earlier one.
    defsyms.sort_by_key(|&(_, d)| d);
    for (i, d) in defsyms {
        let expr = link.args.defsyms[d].1.clone();
        let v = eval_defsym(link, &expr)?;
        link.symtab.syms[i].value = v;
    }
    Ok(())
}
