//! `-r`: partial links. Inputs are merged into one relocatable object: sections with the same
//! name are concatenated (COMDAT group members stay separate, one copy per signature),
//! relocations are rewritten against the merged sections, and symbols are kept. With `-d`,
//! common symbols are allocated in `.bss`.

use crate::linker::args::CompressDebug;
use crate::linker::context::{Link, SymRef};
use crate::linker::object_file::{SecState, SHN_ABS, SHN_COMMON, SHN_RESERVED};
use crate::linker::output::compress;
use crate::linker::symbols::Def;
use anyhow::{Context, Result};
use object::elf;
use object::LittleEndian as LE;

struct OutSec {
    name: Vec<u8>,
    sh_type: u32,
    flags: u64,
    align: u64,
    entsize: u64,
    members: Vec<(u32, u32)>,
    size: u64,
    /// Group this section belongs to (index into `groups`).
    group: Option<usize>,
    /// `.bss` gets the COMMON block with `-d`.
    common_off: Option<u64>,
    relocs: Vec<u8>,
    index: u32,
    rela_index: u32,
}

struct Group {
    signature: SymRef,
    members: Vec<usize>,
    index: u32,
}

/// Section-header index of an output section and its symbol, per input section.
struct Placement {
    out: Vec<Vec<Option<usize>>>,
}

pub fn link_relocatable(link: &mut Link) -> Result<()> {
    crate::linker::gc::split_eh_frames(link)?;
    crate::linker::gc::finalize_eh_frames(link);
    let define_common = link.args.define_common;
    if define_common {
        link.commons = crate::linker::commons::allocate_commons(link);
    }

    // Output sections: same name merges; COMDAT members get their own section per group.
    let mut outs: Vec<OutSec> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut by_name: crate::linker::symbols::FastMap<Vec<u8>, usize> = Default::default();
    // SHT_GROUP sections that are kept, by (file, section): signature symbols may live there.
    let mut group_sections: crate::linker::symbols::FastMap<(u32, u32), usize> = Default::default();
    let mut place = Placement {
        out: link
            .files
            .iter()
            .map(|f| vec![None; f.sections.len()])
            .collect(),
    };
    for f in link.file_order() {
        let file = &link.files[f as usize];
        let mut member_group: crate::linker::symbols::FastMap<u32, usize> = Default::default();
        for (sig, members, group_sec) in file.groups.iter() {
            if members
                .iter()
                .any(|&m| file.sections[m as usize].state == SecState::ComdatDiscarded)
            {
                continue;
            }
            let sig_id = link.symtab.get(sig);
            let signature = match sig_id {
                Some(id) => SymRef::Global(id),
                None => {
                    // A local signature symbol: find it in the file.
                    let idx = file
                        .symbols
                        .iter()
                        .position(|s| s.name == *sig)
                        .unwrap_or(0);
                    SymRef::Local(f, idx as u32)
                }
            };
            group_sections.insert((f, *group_sec), groups.len());
            groups.push(Group {
                signature,
                members: Vec::new(),
                index: 0,
            });
            for &m in members {
                member_group.insert(m, groups.len() - 1);
            }
        }
        for (si, sec) in file.sections.iter().enumerate() {
            if sec.state != SecState::Normal {
                continue;
            }
            let group = member_group.get(&(si as u32)).copied();
            let idx = match group {
                Some(g) => {
                    outs.push(new_out(sec.name, sec.sh_type, Some(g)));
                    groups[g].members.push(outs.len() - 1);
                    outs.len() - 1
                }
                None => *by_name.entry(sec.name.to_vec()).or_insert_with(|| {
                    outs.push(new_out(sec.name, sec.sh_type, None));
                    outs.len() - 1
                }),
            };
            let o = &mut outs[idx];
            o.flags |= sec.flags;
            o.align = o.align.max(sec.align);
            if o.entsize == 0 {
                o.entsize = sec.entsize;
            }
            if o.sh_type == elf::SHT_NOBITS && sec.sh_type != elf::SHT_NOBITS {
                o.sh_type = sec.sh_type;
            }
            o.members.push((f, si as u32));
            place.out[f as usize][si] = Some(idx);
        }
    }
    if define_common && link.commons.size > 0 {
        let idx = *by_name.entry(b".bss".to_vec()).or_insert_with(|| {
            outs.push(new_out(b".bss", elf::SHT_NOBITS, None));
            outs.len() - 1
        });
        outs[idx].flags |= (elf::SHF_ALLOC | elf::SHF_WRITE) as u64;
    }
    // The stack note as GNU ld merges it: none if no input has one; executable if an input
    // asks for an executable stack or has no note (which implies one).
    if link.files.iter().any(|f| f.has_stack_note) {
        let exec_stack = link.files.iter().any(|f| f.exec_stack || !f.has_stack_note);
        let mut gnu_stack = new_out(b".note.GNU-stack", elf::SHT_PROGBITS, None);
        if exec_stack {
            gnu_stack.flags = elf::SHF_EXECINSTR as u64;
        }
        outs.push(gnu_stack);
    }

    // GNU ld gives the first TLS output section the largest TLS alignment, so that the TLS
    // template of a later link starts aligned for every TLS input.
    let tls_align = outs
        .iter()
        .filter(|o| o.flags & elf::SHF_TLS as u64 != 0)
        .map(|o| o.align)
        .max()
        .unwrap_or(1);
    if let Some(first) = outs.iter_mut().find(|o| o.flags & elf::SHF_TLS as u64 != 0) {
        first.align = tls_align;
    }
    for o in outs.iter_mut() {
        let mut off = 0u64;
        for &(f, s) in &o.members {
            let sec = &mut link.files[f as usize].sections[s as usize];
            let align = if link.eh.contains_key(&(f, s)) {
                sec.align.min(4)
            } else {
                sec.align
            };
            off = off.next_multiple_of(align);
            sec.out_off = off;
            off += link.eh.get(&(f, s)).map(|e| e.out_size).unwrap_or(sec.size);
        }
        if o.name == b".bss" && define_common && link.commons.size > 0 {
            off = off.next_multiple_of(link.commons.align);
            o.common_off = Some(off);
            o.align = o.align.max(link.commons.align);
            off += link.commons.size;
        }
        o.size = off;
        if o.group.is_some() {
            o.flags |= elf::SHF_GROUP as u64;
        }
        o.flags &= !(elf::SHF_GNU_RETAIN as u64) | (o.flags & elf::SHF_GNU_RETAIN as u64);
    }

    // Section header indices: groups first (they must precede their members), then each
    // section followed by its relocations.
    let has_relocs: Vec<bool> = outs
        .iter()
        .map(|o| {
            o.members
                .iter()
                .any(|&(f, s)| !link.section(f, s).relocs.is_empty())
        })
        .collect();
    let mut next = 1u32;
    for g in groups.iter_mut() {
        g.index = next;
        next += 1;
    }
    for (o, &r) in outs.iter_mut().zip(&has_relocs) {
        o.index = next;
        next += 1;
        if r {
            o.rela_index = next;
            next += 1;
        }
    }
    let symtab_index = next;

    // Symbols: null, one section symbol per output section, locals, then globals.
    let mut strtab = vec![0u8];
    let mut syms: Vec<u8> = Vec::new();
    use crate::linker::output::symtab::{self, push_sym};
    // One `.symtab_shndx` entry per symbol: the section index of those whose st_shndx is
    // SHN_XINDEX (indices from SHN_LORESERVE up), 0 for the rest.
    let mut xindex: Vec<u32> = Vec::new();
    #[allow(clippy::too_many_arguments)] // one argument per Elf64_Sym field
    fn push(
        syms: &mut Vec<u8>,
        strtab: &mut Vec<u8>,
        xindex: &mut Vec<u32>,
        name: &[u8],
        info: u8,
        other: u8,
        shndx: u32,
        value: u64,
        size: u64,
    ) -> u32 {
        let (st_shndx, ext) = sym_shndx(shndx);
        xindex.push(ext);
        push_sym(syms, strtab, name, info, other, st_shndx, value, size)
    }
    push(&mut syms, &mut strtab, &mut xindex, b"", 0, 0, 0, 0, 0);
    let mut section_sym = Vec::with_capacity(outs.len());
    for o in &outs {
        section_sym.push(push(
            &mut syms,
            &mut strtab,
            &mut xindex,
            b"",
            elf::STT_SECTION,
            0,
            o.index,
            0,
            0,
        ));
    }
    let mut local_map: crate::linker::symbols::FastMap<(u32, u32), u32> = Default::default();
    let needed = symtab::reloc_named_locals(link, true, |s| s.state == SecState::Normal);
    for f in link.file_order() {
        let file = &link.files[f as usize];
        for (i, s) in file
            .symbols
            .iter()
            .enumerate()
            .take(file.first_global)
            .skip(1)
        {
            if s.typ == elf::STT_SECTION {
                continue;
            }
            let named = needed.get(f as usize).is_some_and(|n| n[i]);
            if !named && symtab::discards_local(file, s, link.args.discard, true) {
                continue;
            }
            let (shndx, value) = if s.typ == elf::STT_FILE || s.is_abs() {
                (SHN_ABS, s.value)
            } else if s.is_undefined() || s.shndx >= crate::linker::object_file::SHN_RESERVED {
                continue;
            } else if let Some(&g) = group_sections.get(&(f, s.shndx)) {
                // A group's signature symbol defined in the group section itself.
                (groups[g].index, 0)
            } else {
                match place.out[f as usize][s.shndx as usize] {
                    Some(o) => {
                        let sec = link.section(f, s.shndx);
                        let v = match link.eh.get(&(f, s.shndx)) {
                            Some(eh) => sec.out_off + eh.map_offset(s.value).unwrap_or(0),
                            None => sec.out_off + s.value,
                        };
                        (outs[o].index, v)
                    }
                    None => continue,
                }
            };
            let idx = push(
                &mut syms,
                &mut strtab,
                &mut xindex,
                s.name,
                (elf::STB_LOCAL << 4) | s.typ,
                s.visibility,
                shndx,
                value,
                s.size,
            );
            local_map.insert((f, i as u32), idx);
        }
    }
    let first_global = (syms.len() / 24) as u32;
    let bss_index = outs
        .iter()
        .find(|o| o.name == b".bss")
        .map(|o| o.index)
        .unwrap_or(0);
    let common_base = outs
        .iter()
        .find(|o| o.name == b".bss")
        .and_then(|o| o.common_off)
        .unwrap_or(0);
    let mut global_map = vec![0u32; link.symtab.syms.len()];
    let common_off: crate::linker::symbols::FastMap<u32, u64> =
        link.commons.syms.iter().copied().collect();
    for (id, sym) in link.symtab.syms.iter().enumerate() {
        let (bind, typ, vis, shndx, value, size) = match sym.def {
            Def::Undefined | Def::Linker(_) => {
                let bind = if sym.strong_ref {
                    elf::STB_GLOBAL
                } else {
                    elf::STB_WEAK
                };
                (bind, sym.ref_type, 0, 0, 0, 0)
            }
            Def::Weak(f, s) | Def::Strong(f, s) => {
                let fs = &link.files[f as usize].symbols[s as usize];
                let bind = if matches!(sym.def, Def::Weak(..)) {
                    elf::STB_WEAK
                } else if fs.bind == elf::STB_GNU_UNIQUE {
                    elf::STB_GNU_UNIQUE
                } else {
                    elf::STB_GLOBAL
                };
                if fs.is_abs() {
                    (bind, fs.typ, fs.visibility, SHN_ABS, fs.value, fs.size)
                } else {
                    match place.out[f as usize]
                        .get(fs.shndx as usize)
                        .copied()
                        .flatten()
                    {
                        Some(o) => {
                            let sec = link.section(f, fs.shndx);
                            (
                                bind,
                                fs.typ,
                                fs.visibility,
                                outs[o].index,
                                sec.out_off + fs.value,
                                fs.size,
                            )
                        }
                        None => (bind, elf::STT_NOTYPE, 0, 0, 0, 0),
                    }
                }
            }
            Def::Common(f, s) => {
                let fs = &link.files[f as usize].symbols[s as usize];
                match common_off.get(&(id as u32)) {
                    Some(&off) => (
                        elf::STB_GLOBAL,
                        elf::STT_OBJECT,
                        fs.visibility,
                        bss_index,
                        common_base + off,
                        fs.size,
                    ),
                    None => (
                        elf::STB_GLOBAL,
                        elf::STT_OBJECT,
                        fs.visibility,
                        SHN_COMMON,
                        fs.value,
                        fs.size,
                    ),
                }
            }
        };
        global_map[id] = push(
            &mut syms,
            &mut strtab,
            &mut xindex,
            sym.name,
            (bind << 4) | typ,
            vis,
            shndx,
            value,
            size,
        );
    }

    // Relocations, rewritten against output sections and symbols.
    for o in outs.iter_mut() {
        let mut out = Vec::new();
        for &(f, s) in &o.members {
            let sec = link.section(f, s);
            let eh = link.eh.get(&(f, s));
            for r in sec.relocs {
                let in_off = r.r_offset.get(LE);
                let off = match eh {
                    Some(eh) => match eh.map_offset(in_off) {
                        Some(x) => x,
                        None => continue,
                    },
                    None => in_off,
                };
                let mut addend = r.r_addend.get(LE);
                let rsym = r.r_sym(LE, false);
                let sym_index = match link.symref(f, rsym) {
                    SymRef::Global(id) => global_map[id as usize],
                    SymRef::Local(lf, li) => {
                        let ls = &link.files[lf as usize].symbols[li as usize];
                        if ls.typ == elf::STT_SECTION {
                            match place.out[lf as usize]
                                .get(ls.shndx as usize)
                                .copied()
                                .flatten()
                            {
                                Some(to) => {
                                    let tsec = link.section(lf, ls.shndx);
                                    addend = match link.eh.get(&(lf, ls.shndx)) {
                                        Some(teh) => {
                                            let t = (ls.value as i64 + addend) as u64;
                                            (tsec.out_off + teh.map_offset(t).unwrap_or(0)) as i64
                                        }
                                        None => addend + tsec.out_off as i64 + ls.value as i64,
                                    };
                                    section_sym[to]
                                }
                                None => {
                                    addend = 0;
                                    0
                                }
                            }
                        } else {
                            local_map.get(&(lf, li)).copied().unwrap_or(0)
                        }
                    }
                };
                let r_info = ((sym_index as u64) << 32) | r.r_type(LE, false) as u64;
                out.extend_from_slice(&(sec.out_off + off).to_le_bytes());
                out.extend_from_slice(&r_info.to_le_bytes());
                out.extend_from_slice(&addend.to_le_bytes());
            }
        }
        o.relocs = out;
    }
    write_object(
        link,
        &outs,
        &groups,
        &global_map,
        &local_map,
        Symtab {
            syms,
            strtab,
            xindex,
            first_global,
            index: symtab_index,
        },
    )
}

/// An output section's bytes and the header fields they decide.
struct Contents {
    data: Vec<u8>,
    flags: u64,
    size: u64,
    align: u64,
}

/// The concatenated input sections of `o`; with `--compress-debug-sections`, a debug section
/// compressed (its relocations keep the offsets of the uncompressed contents, as the gABI
/// says).
fn section_contents(link: &Link, o: &OutSec) -> Result<Contents> {
    let mut data = Vec::new();
    if o.sh_type != elf::SHT_NOBITS {
        data = vec![0u8; o.size as usize];
        for &(f, s) in &o.members {
            let sec = link.section(f, s);
            if sec.sh_type == elf::SHT_NOBITS {
                continue;
            }
            match link.eh.get(&(f, s)) {
                Some(eh) => crate::linker::eh_frame::copy_kept(
                    eh,
                    sec.data,
                    &mut data[sec.out_off as usize..(sec.out_off + eh.out_size) as usize],
                ),
                None => data[sec.out_off as usize..(sec.out_off + sec.size) as usize]
                    .copy_from_slice(sec.data),
            }
        }
    }
    let kind = link.args.compress_debug;
    if kind != CompressDebug::None && compress::is_compressible(&o.name, o.flags, o.sh_type) {
        if let Some(packed) = compress::compress_if_smaller(kind, &o.name, &data, o.align)? {
            return Ok(Contents {
                size: packed.len() as u64,
                data: packed,
                flags: o.flags | elf::SHF_COMPRESSED as u64,
                align: 8,
            });
        }
    }
    Ok(Contents {
        data,
        flags: o.flags,
        size: o.size,
        align: o.align,
    })
}

/// The output's symbol table: entries, names, extended section indices, the index of the first
/// global, and its own section index.
struct Symtab {
    syms: Vec<u8>,
    strtab: Vec<u8>,
    xindex: Vec<u32>,
    first_global: u32,
    index: u32,
}

/// The st_shndx of an output symbol and its `.symtab_shndx` entry, from a section index or a
/// reserved index as `object_file` encodes them: section indices from SHN_LORESERVE up do not
/// fit the field and go through the extension table (ELF extended section numbering).
fn sym_shndx(v: u32) -> (u16, u32) {
    if v >= SHN_RESERVED {
        (v as u16, 0)
    } else if v >= elf::SHN_LORESERVE as u32 {
        (elf::SHN_XINDEX, v)
    } else {
        (v as u16, 0)
    }
}

fn new_out(name: &[u8], sh_type: u32, group: Option<usize>) -> OutSec {
    OutSec {
        name: name.to_vec(),
        sh_type,
        flags: 0,
        align: 1,
        entsize: 0,
        members: Vec::new(),
        size: 0,
        group,
        common_off: None,
        relocs: Vec::new(),
        index: 0,
        rela_index: 0,
    }
}

fn write_object(
    link: &Link,
    outs: &[OutSec],
    groups: &[Group],
    global_map: &[u32],
    local_map: &crate::linker::symbols::FastMap<(u32, u32), u32>,
    symtab: Symtab,
) -> Result<()> {
    let Symtab {
        syms,
        strtab,
        xindex,
        first_global,
        index: symtab_index,
    } = symtab;
    let mut shstrtab = vec![0u8];
    let mut name = |n: &[u8]| {
        let o = shstrtab.len() as u32;
        shstrtab.extend_from_slice(n);
        shstrtab.push(0);
        o
    };
    // (name, type, flags, offset placeholder, size, link, info, align, entsize, data)
    struct Sh {
        name: u32,
        sh_type: u32,
        flags: u64,
        size: u64,
        link: u32,
        info: u32,
        align: u64,
        entsize: u64,
        data: Vec<u8>,
    }
    let mut shs: Vec<Sh> = Vec::new();
    for g in groups {
        let sig = match g.signature {
            SymRef::Global(id) => global_map[id as usize],
            SymRef::Local(f, s) => local_map.get(&(f, s)).copied().unwrap_or(0),
        };
        let mut data = elf::GRP_COMDAT.to_le_bytes().to_vec();
        for &m in &g.members {
            data.extend_from_slice(&outs[m].index.to_le_bytes());
            if outs[m].rela_index != 0 {
                data.extend_from_slice(&outs[m].rela_index.to_le_bytes());
            }
        }
        shs.push(Sh {
            name: name(b".group"),
            sh_type: elf::SHT_GROUP,
            flags: 0,
            size: data.len() as u64,
            link: symtab_index,
            info: sig,
            align: 4,
            entsize: 4,
            data,
        });
    }
    let contents: Vec<Contents> = {
        use rayon::prelude::*;
        outs.par_iter()
            .map(|o| section_contents(link, o))
            .collect::<Result<_>>()?
    };
    for (o, c) in outs.iter().zip(contents) {
        shs.push(Sh {
            name: name(&o.name),
            sh_type: o.sh_type,
            flags: c.flags,
            size: c.size,
            link: 0,
            info: 0,
            align: c.align,
            entsize: o.entsize,
            data: c.data,
        });
        if o.rela_index != 0 {
            let mut rname = b".rela".to_vec();
            rname.extend_from_slice(&o.name);
            let group_flag = if o.group.is_some() {
                elf::SHF_GROUP as u64
            } else {
                0
            };
            shs.push(Sh {
                name: name(&rname),
                sh_type: elf::SHT_RELA,
                flags: elf::SHF_INFO_LINK as u64 | group_flag,
                size: o.relocs.len() as u64,
                link: symtab_index,
                info: o.index,
                align: 8,
                entsize: 24,
                data: o.relocs.clone(),
            });
        }
    }
    shs.push(Sh {
        name: name(b".symtab"),
        sh_type: elf::SHT_SYMTAB,
        flags: 0,
        size: syms.len() as u64,
        link: symtab_index + 1,
        info: first_global,
        align: 8,
        entsize: 24,
        data: syms,
    });
    shs.push(Sh {
        name: name(b".strtab"),
        sh_type: elf::SHT_STRTAB,
        flags: 0,
        size: strtab.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
        data: strtab,
    });
    if xindex.iter().any(|&x| x != 0) {
        shs.push(Sh {
            name: name(b".symtab_shndx"),
            sh_type: elf::SHT_SYMTAB_SHNDX,
            flags: 0,
            size: 4 * xindex.len() as u64,
            link: symtab_index,
            info: 0,
            align: 4,
            entsize: 4,
            data: xindex.iter().flat_map(|x| x.to_le_bytes()).collect(),
        });
    }
    let shstr_name = name(b".shstrtab");
    let shstrndx = shs.len() as u32 + 1;
    shs.push(Sh {
        name: shstr_name,
        sh_type: elf::SHT_STRTAB,
        flags: 0,
        size: shstrtab.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
        data: shstrtab,
    });

    let mut file = vec![0u8; 64];
    let mut offsets = Vec::with_capacity(shs.len());
    for sh in &shs {
        let align = sh.align.max(1) as usize;
        while !file.len().is_multiple_of(align) {
            file.push(0);
        }
        offsets.push(file.len() as u64);
        file.extend_from_slice(&sh.data);
    }
    while !file.len().is_multiple_of(8) {
        file.push(0);
    }
    let shoff = file.len() as u64;
    // Section 0 carries the section count and the `.shstrtab` index when they do not fit the
    // ELF header (extended section numbering); the header then says 0 and SHN_XINDEX.
    let shnum = shs.len() as u32 + 1;
    let (e_shnum, count) = match shnum >= elf::SHN_LORESERVE as u32 {
        true => (0, shnum as u64),
        false => (shnum as u16, 0),
    };
    let (e_shstrndx, strndx) = match shstrndx >= elf::SHN_LORESERVE as u32 {
        true => (elf::SHN_XINDEX, shstrndx),
        false => (shstrndx as u16, 0),
    };
    let mut sh0 = [0u8; 64];
    sh0[32..40].copy_from_slice(&count.to_le_bytes());
    sh0[40..44].copy_from_slice(&strndx.to_le_bytes());
    file.extend_from_slice(&sh0);
    for (sh, &off) in shs.iter().zip(&offsets) {
        let mut d = [0u8; 64];
        d[0..4].copy_from_slice(&sh.name.to_le_bytes());
        d[4..8].copy_from_slice(&sh.sh_type.to_le_bytes());
        d[8..16].copy_from_slice(&sh.flags.to_le_bytes());
        d[24..32].copy_from_slice(&off.to_le_bytes());
        d[32..40].copy_from_slice(&sh.size.to_le_bytes());
        d[40..44].copy_from_slice(&sh.link.to_le_bytes());
        d[44..48].copy_from_slice(&sh.info.to_le_bytes());
        d[48..56].copy_from_slice(&sh.align.to_le_bytes());
        d[56..64].copy_from_slice(&sh.entsize.to_le_bytes());
        file.extend_from_slice(&d);
    }
    let h = &mut file[0..64];
    h[0..4].copy_from_slice(b"\x7fELF");
    h[4] = elf::ELFCLASS64;
    h[5] = elf::ELFDATA2LSB;
    h[6] = elf::EV_CURRENT;
    h[16..18].copy_from_slice(&elf::ET_REL.to_le_bytes());
    h[18..20].copy_from_slice(&elf::EM_X86_64.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[40..48].copy_from_slice(&shoff.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes());
    h[58..60].copy_from_slice(&64u16.to_le_bytes());
    h[60..62].copy_from_slice(&e_shnum.to_le_bytes());
    h[62..64].copy_from_slice(&e_shstrndx.to_le_bytes());
    crate::atomic_file::write_file_atomically(&link.args.output, &file, false)
        .with_context(|| format!("cannot write {}", link.args.output.display()))
}
