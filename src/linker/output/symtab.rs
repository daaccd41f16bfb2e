//! The output's `.symtab` and `.strtab`: local symbols of every input file, then the globals,
//! with section indices and values of the image.

use crate::linker::args::Discard;
use crate::linker::context::Link;
use crate::linker::object_file::{ObjSym, ObjectFile};
use crate::linker::symbols::{Def, FastMap, LinkerSym};
use object::elf;
use object::LittleEndian as LE;
use rayon::prelude::*;

/// A temporary label as GNU ld's ELF targets tell one (`.L…`, `..…`, `_.L_…`, and the
/// assembler's `L0^A` fake symbols): what `-X` drops.
pub fn is_local_label(name: &[u8]) -> bool {
    name.starts_with(b".L")
        || name.starts_with(b"..")
        || name.starts_with(b"_.L_")
        || (name.len() > 2 && name[0] == b'L' && name[1].is_ascii_digit() && name[2] == 1)
}

/// Whether the output's `.symtab` leaves out local symbol `sym` of an input: `-x` drops every
/// one, `-X` temporary labels, and by default a final link drops the labels in merged sections
/// (their places moved with the merge). A symbol a kept relocation names stays regardless
/// (the caller checks, with [`reloc_named_locals`]).
pub fn discards_local(
    file: &ObjectFile,
    sym: &ObjSym,
    discard: Discard,
    relocatable: bool,
) -> bool {
    match discard {
        Discard::None => false,
        Discard::All => true,
        Discard::Labels => is_local_label(sym.name),
        Discard::MergeLabels => {
            let merged = file
                .sections
                .get(sym.shndx as usize)
                .is_some_and(|s| s.flags & elf::SHF_MERGE as u64 != 0);
            !relocatable && merged && is_local_label(sym.name)
        }
    }
}

/// For each file, which of its local symbols a relocation of a kept section names (relocations
/// are kept by `-r` and `--emit-relocs`, so those symbols must be in the table). Empty when
/// nothing is discarded or no relocation is kept.
pub fn reloc_named_locals(
    link: &Link,
    keeps_relocs: bool,
    kept: impl Fn(&crate::linker::object_file::InputSection) -> bool + Sync,
) -> Vec<Vec<bool>> {
    if !keeps_relocs || link.args.discard == Discard::None {
        return Vec::new();
    }
    link.files
        .par_iter()
        .with_max_len(4)
        .map(|file| {
            let mut named = vec![false; file.first_global];
            for sec in file.sections.iter().filter(|s| kept(s)) {
                for r in sec.relocs {
                    if let Some(n) = named.get_mut(r.r_sym(LE, false) as usize) {
                        *n = true;
                    }
                }
            }
            named
        })
        .collect()
}

pub struct SymtabOut {
    pub symtab: Vec<u8>,
    pub strtab: Vec<u8>,
    pub n_local: u32,
    /// Where each symbol went, for `--emit-relocs` (which also puts a section symbol for every
    /// output section at indices 1..).
    pub index: Option<SymIndex>,
}

/// The `.symtab` index of the symbols relocations name.
#[derive(Default)]
pub struct SymIndex {
    /// (file, symbol) of an input file's local symbol -> index.
    pub locals: FastMap<(u32, u32), u32>,
    /// Global symbol id -> index (`u32::MAX`: not in the table).
    pub globals: Vec<u32>,
}

impl SymIndex {
    /// The section symbol of output section `k` (0-based, as in `Layout::secs`).
    pub fn section(k: u32) -> u32 {
        k + 1
    }
}

/// Where a symbol pushed while building the table ends up: locals keep their index, globals
/// follow all locals.
#[derive(Clone, Copy)]
enum Slot {
    Local(u32),
    Global(u32),
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
    let emit_relocs = link.args.emit_relocs;
    let mut local_index = FastMap::default();
    let mut global_slot = vec![
        None;
        if emit_relocs {
            link.symtab.syms.len()
        } else {
            0
        }
    ];
    if emit_relocs {
        // Relocations against a section symbol of an input become relocations against the
        // output section's, as in GNU ld's output (which always has them).
        for (k, os) in link.layout.secs.iter().enumerate() {
            let shndx = k as u16 + 1;
            push_sym(
                &mut locals,
                &mut strtab,
                b"",
                elf::STT_SECTION,
                0,
                shndx,
                os.addr,
                0,
            );
        }
    }
    let needed = reloc_named_locals(link, emit_relocs, |s| s.is_included());
    // `--retain-symbols-file`: only the symbols it lists.
    let retained = |name: &[u8]| {
        link.args
            .retain_symbols
            .as_ref()
            .is_none_or(|keep| keep.contains(name))
    };
    let out_shndx = |f: u32, shndx: u32| -> Option<u16> {
        if shndx == crate::linker::object_file::SHN_ABS {
            return Some(elf::SHN_ABS);
        }
        if shndx == 0 || shndx >= crate::linker::object_file::SHN_RESERVED {
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
            let named = needed.get(f as usize).is_some_and(|n| n[i]);
            if !named && (discards_local(file, s, link.args.discard, false) || !retained(s.name)) {
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
            let idx = push_sym(
                &mut locals,
                &mut strtab,
                s.name,
                (elf::STB_LOCAL << 4) | s.typ,
                s.visibility,
                shndx,
                value,
                s.size,
            );
            if emit_relocs {
                local_index.insert((f, i as u32), idx);
            }
        }
    }
    let bss_idx = link
        .layout
        .secs
        .iter()
        .position(|s| s.name == b".bss")
        .map(|i| i as u16 + 1)
        .unwrap_or(elf::SHN_ABS);
    for (id, sym) in link.symtab.syms.iter().enumerate() {
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
        // Relocations kept by --emit-relocs may name any global.
        if !emit_relocs && !retained(sym.name) {
            continue;
        }
        // Hidden and internal symbols become local in an executable, as GNU ld does.
        let hidden = vis == elf::STV_HIDDEN || vis == elf::STV_INTERNAL;
        let value = tls_rel(link, typ, sym.value);
        let slot = if hidden {
            Slot::Local(push_sym(
                &mut locals,
                &mut strtab,
                sym.name,
                (elf::STB_LOCAL << 4) | typ,
                vis,
                shndx,
                value,
                size,
            ))
        } else {
            Slot::Global(push_sym(
                &mut globals,
                &mut strtab,
                sym.name,
                (bind << 4) | typ,
                vis,
                shndx,
                value,
                size,
            ))
        };
        if emit_relocs {
            global_slot[id] = Some(slot);
        }
    }
    let n_local = (locals.len() / 24) as u32;
    locals.extend_from_slice(&globals);
    let index = emit_relocs.then(|| SymIndex {
        locals: local_index,
        globals: global_slot
            .iter()
            .map(|slot| match slot {
                Some(Slot::Local(i)) => *i,
                Some(Slot::Global(i)) => n_local + i,
                None => u32::MAX,
            })
            .collect(),
    });
    SymtabOut {
        symtab: locals,
        strtab,
        n_local,
        index,
    }
}
