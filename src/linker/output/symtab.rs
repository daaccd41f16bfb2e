//! The output's `.symtab` and `.strtab`: local symbols of every input file, then the globals,
//! with section indices and values of the image.

use crate::linker::context::Link;
use crate::linker::symbols::{Def, LinkerSym};
use object::elf;

pub struct SymtabOut {
    pub symtab: Vec<u8>,
    pub strtab: Vec<u8>,
    pub n_local: u32,
}

/// Appends an Elf64_Sym (and its name to `strtab`) and returns its index.
#[allow(clippy::too_many_arguments)] // one argument per Elf64_Sym field
pub fn push_sym(
    out: &mut Vec<u8>,
    strtab: &mut Vec<u8>,
    name: &[u8],
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
) -> u32 {
    let name_off = if name.is_empty() {
        0
    } else {
        let o = strtab.len() as u32;
        strtab.extend_from_slice(name);
        strtab.push(0);
        o
    };
    out.extend_from_slice(&name_off.to_le_bytes());
    out.push(info);
    out.push(other);
    out.extend_from_slice(&shndx.to_le_bytes());
    out.extend_from_slice(&value.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    (out.len() / 24) as u32 - 1
}

/// TLS symbols hold offsets into the TLS template, not addresses, as in GNU ld's output.
fn tls_rel(link: &Link, typ: u8, value: u64) -> u64 {
    if typ == elf::STT_TLS {
        value.wrapping_sub(link.layout.tls_start)
    } else {
        value
    }
}

/// The allocated output section an address lies in (or ends at), as a section index.
fn section_of(link: &Link, v: u64) -> u16 {
    let secs = &link.layout.secs;
    let starts = secs
        .iter()
        .position(|s| s.is_alloc() && s.addr == v && s.size > 0);
    let inside = || {
        secs.iter()
            .position(|s| s.is_alloc() && s.addr <= v && v < s.addr + s.size)
    };
    let at_end = || {
        secs.iter()
            .position(|s| s.is_alloc() && s.size > 0 && v == s.addr + s.size)
    };
    match starts.or_else(inside).or_else(at_end) {
        Some(i) => i as u16 + 1,
        None => elf::SHN_ABS,
    }
}

pub fn build_symtab(link: &Link) -> SymtabOut {
    let mut strtab = vec![0u8];
    let mut locals = Vec::new();
    let mut globals = Vec::new();
    push_sym(&mut locals, &mut strtab, b"", 0, 0, 0, 0, 0);
    let out_shndx = |f: u32, shndx: u32| -> Option<u16> {
        if shndx == elf::SHN_ABS as u32 {
            return Some(elf::SHN_ABS);
        }
        if shndx == 0 || shndx >= elf::SHN_LORESERVE as u32 {
            return None;
        }
        let sec = link.section(f, shndx);
        if !sec.is_included() || sec.out_sec == u32::MAX {
            return None;
        }
        Some(sec.out_sec as u16 + 1)
    };
    for f in link.file_order() {
        let file = &link.files[f as usize];
        for (i, s) in file
            .symbols
            .iter()
            .enumerate()
            .take(file.first_global)
            .skip(1)
        {
            if s.typ == elf::STT_SECTION || s.name.is_empty() {
                continue;
            }
            let shndx = if s.typ == elf::STT_FILE {
                Some(elf::SHN_ABS)
            } else {
                out_shndx(f, s.shndx)
            };
            let Some(shndx) = shndx else { continue };
            let value = if s.typ == elf::STT_FILE {
                0
            } else {
                tls_rel(link, s.typ, link.file_sym_addr(f, i as u32))
            };
            push_sym(
                &mut locals,
                &mut strtab,
                s.name,
                (elf::STB_LOCAL << 4) | s.typ,
                s.visibility,
                shndx,
                value,
                s.size,
            );
        }
    }
    let bss_idx = link
        .layout
        .secs
        .iter()
        .position(|s| s.name == b".bss")
        .map(|i| i as u16 + 1)
        .unwrap_or(elf::SHN_ABS);
    for sym in &link.symtab.syms {
        let (bind, typ, vis, shndx, size) = match sym.def {
            Def::Undefined => {
                if sym.strong_ref {
                    continue;
                }
                (elf::STB_WEAK, elf::STT_NOTYPE, 0, elf::SHN_UNDEF, 0)
            }
            Def::Weak(f, s) | Def::Strong(f, s) => {
                let fs = &link.files[f as usize].symbols[s as usize];
                let Some(shndx) = out_shndx(f, fs.shndx) else {
                    continue;
                };
                let bind = if matches!(sym.def, Def::Weak(..)) {
                    elf::STB_WEAK
                } else {
                    elf::STB_GLOBAL
                };
                (bind, fs.typ, fs.visibility, shndx, fs.size)
            }
            Def::Common(f, s) => {
                let fs = &link.files[f as usize].symbols[s as usize];
                (
                    elf::STB_GLOBAL,
                    elf::STT_OBJECT,
                    fs.visibility,
                    bss_idx,
                    fs.size,
                )
            }
            // Nothing refers to the GOT base: GNU ld does not define it then.
            Def::Linker(LinkerSym::GlobalOffsetTable) if !link.tables.needs_got_base => continue,
            // Script symbols are global (hidden with PROVIDE_HIDDEN/HIDDEN) and belong to the
            // output section their value lies in, as in GNU ld's output.
            Def::Linker(LinkerSym::Script(i)) => {
                let vis = if link.script.hidden.get(i as usize).copied().unwrap_or(false) {
                    elf::STV_HIDDEN
                } else {
                    elf::STV_DEFAULT
                };
                let shndx = match link.script.sec.get(i as usize) {
                    Some(Some(s)) => *s as u16 + 1,
                    Some(None) => elf::SHN_ABS,
                    None if link.script.abs.get(i as usize).copied().unwrap_or(false) => {
                        elf::SHN_ABS
                    }
                    None => section_of(link, sym.value),
                };
                (elf::STB_GLOBAL, elf::STT_NOTYPE, vis, shndx, 0)
            }
            Def::Linker(_) => (
                elf::STB_GLOBAL,
                elf::STT_NOTYPE,
                elf::STV_HIDDEN,
                elf::SHN_ABS,
                0,
            ),
        };
        // Hidden and internal symbols become local in an executable, as GNU ld does.
        let hidden = vis == elf::STV_HIDDEN || vis == elf::STV_INTERNAL;
        let value = tls_rel(link, typ, sym.value);
        if hidden {
            push_sym(
                &mut locals,
                &mut strtab,
                sym.name,
                (elf::STB_LOCAL << 4) | typ,
                vis,
                shndx,
                value,
                size,
            );
        } else {
            push_sym(
                &mut globals,
                &mut strtab,
                sym.name,
                (bind << 4) | typ,
                vis,
                shndx,
                value,
                size,
            );
        }
    }
    let n_local = (locals.len() / 24) as u32;
    locals.extend_from_slice(&globals);
    SymtabOut {
        symtab: locals,
        strtab,
        n_local,
    }
}
