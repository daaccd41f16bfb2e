//! Writing the output image: ELF and program headers, section contents with relocations
//! applied (in parallel), linker-created sections, symbol tables and the build ID. The image
//! is written to a temporary file that is renamed into place only when everything succeeded.

use crate::atomic_file::{temp_path, TempGuard};
use crate::linker::args::{BuildId, Strip};
use crate::linker::context::{GotKind, Link};
use crate::linker::eh_frame;
use crate::linker::layout::{OutputSection, Synth, GOTPLT_RESERVED, PHDR_SIZE, PLT_ENTRY};
use crate::linker::object_file::Split;
use crate::linker::reloc::x86_64;
use crate::linker::symbols::{Def, LinkerSym};
use anyhow::{Context, Result};
use object::elf;
use rayon::prelude::*;

/// A writable view of the output that parallel workers carve into disjoint slices.
struct OutBuf {
    ptr: *mut u8,
    len: usize,
}
// SAFETY: workers only ever touch disjoint ranges (each input section has its own range).
unsafe impl Sync for OutBuf {}
unsafe impl Send for OutBuf {}

impl OutBuf {
    #[allow(clippy::mut_from_ref)]
    fn slice(&self, off: u64, len: u64) -> &mut [u8] {
        let (off, len) = (off as usize, len as usize);
        assert!(off + len <= self.len, "output range out of bounds");
        // SAFETY: in bounds (checked above); callers hand out non-overlapping ranges.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(off), len) }
    }
}

struct SymtabOut {
    symtab: Vec<u8>,
    strtab: Vec<u8>,
    n_local: u32,
}

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
) {
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

fn build_symtab(link: &Link) -> SymtabOut {
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

struct Shdr {
    name: u32,
    sh_type: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

pub fn write(link: &Link) -> Result<()> {
    let lay = &link.layout;
    let symtab = if link.args.strip == Strip::All {
        None
    } else {
        Some(build_symtab(link))
    };

    // Section header string table and trailing tables.
    let mut shstrtab = vec![0u8];
    let mut add_name = |n: &[u8]| {
        let o = shstrtab.len() as u32;
        shstrtab.extend_from_slice(n);
        shstrtab.push(0);
        o
    };
    let mut shdrs = vec![Shdr {
        name: 0,
        sh_type: 0,
        flags: 0,
        addr: 0,
        offset: 0,
        size: 0,
        link: 0,
        info: 0,
        align: 0,
        entsize: 0,
    }];
    let gotplt_idx = lay
        .secs
        .iter()
        .position(|s| s.synth == Some(Synth::GotPlt))
        .map(|i| i as u32 + 1)
        .unwrap_or(0);
    for os in &lay.secs {
        let info = if os.synth == Some(Synth::RelaIplt) {
            gotplt_idx
        } else {
            0
        };
        let idx_of = |k: Synth| {
            lay.secs
                .iter()
                .position(|s| s.synth == Some(k))
                .map(|i| i as u32 + 1)
                .unwrap_or(0)
        };
        let sh_link = match os.synth {
            Some(Synth::DynSym) | Some(Synth::Dynamic) => idx_of(Synth::DynStr),
            Some(Synth::RelaDyn) => idx_of(Synth::DynSym),
            _ => 0,
        };
        shdrs.push(Shdr {
            name: add_name(&os.name),
            sh_type: os.sh_type,
            flags: os.flags,
            addr: os.addr,
            offset: os.offset,
            size: os.size,
            link: sh_link,
            info,
            align: os.align,
            entsize: os.entsize,
        });
    }
    let mut off = lay.content_end;
    let mut trailing: Vec<(u64, &[u8])> = Vec::new();
    if let Some(st) = &symtab {
        off = off.next_multiple_of(8);
        let strtab_idx = shdrs.len() as u32 + 1;
        shdrs.push(Shdr {
            name: add_name(b".symtab"),
            sh_type: elf::SHT_SYMTAB,
            flags: 0,
            addr: 0,
            offset: off,
            size: st.symtab.len() as u64,
            link: strtab_idx,
            info: st.n_local,
            align: 8,
            entsize: 24,
        });
        trailing.push((off, &st.symtab));
        off += st.symtab.len() as u64;
        shdrs.push(Shdr {
            name: add_name(b".strtab"),
            sh_type: elf::SHT_STRTAB,
            flags: 0,
            addr: 0,
            offset: off,
            size: st.strtab.len() as u64,
            link: 0,
            info: 0,
            align: 1,
            entsize: 0,
        });
        trailing.push((off, &st.strtab));
        off += st.strtab.len() as u64;
    }
    let shstr_name = add_name(b".shstrtab");
    let shstrndx = shdrs.len() as u32;
    shdrs.push(Shdr {
        name: shstr_name,
        sh_type: elf::SHT_STRTAB,
        flags: 0,
        addr: 0,
        offset: off,
        size: shstrtab.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    let shstrtab_off = off;
    off += shstrtab.len() as u64;
    let shoff = off.next_multiple_of(8);
    let file_size = shoff + 64 * shdrs.len() as u64;

    // Create the output as a temporary file next to the destination.
    let out_path = &link.args.output;
    let tmp = temp_path(out_path);
    let mut guard = TempGuard {
        path: tmp.clone(),
        armed: true,
    };
    let file = {
        let mut o = std::fs::OpenOptions::new();
        o.read(true).write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o777);
        }
        o.open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?
    };
    file.set_len(file_size)
        .with_context(|| format!("cannot size {}", tmp.display()))?;
    // SAFETY: the file was just created by us and is not shared.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&file) }
        .with_context(|| format!("cannot map {}", tmp.display()))?;
    let buf = OutBuf {
        ptr: map.as_mut_ptr(),
        len: map.len(),
    };

    write_headers(
        link,
        buf.slice(0, 64 + PHDR_SIZE * lay.phdrs.len() as u64),
        shoff,
        shdrs.len() as u16,
        shstrndx as u16,
    );

    let rela_dyn = lay.find_synth(Synth::RelaDyn);
    // Input sections, in parallel.
    let jobs: Vec<(&OutputSection, u32, u32)> = lay
        .secs
        .iter()
        .filter(|os| !os.is_nobits())
        .flat_map(|os| os.members.iter().map(move |&(f, s)| (os, f, s)))
        .collect();
    jobs.par_iter().try_for_each(|&(os, f, s)| -> Result<()> {
        let sec = link.section(f, s);
        if sec.sh_type == elf::SHT_NOBITS {
            return Ok(()); // zero-filled already
        }
        let eh = link.eh.get(&(f, s));
        let size = link.member_size_align(f, s).0;
        let dst = buf.slice(os.offset + sec.out_off, size);
        let dyn_out: &mut [u8] = match (link.tables.dyn_start.get(&(f, s)), rela_dyn) {
            (Some(&(start, n)), Some(rd)) => {
                buf.slice(rd.offset + 24 * start as u64, 24 * n as u64)
            }
            _ => &mut [],
        };
        match sec.split {
            Split::EhFrame => eh_frame::copy_kept(eh.unwrap(), sec.data, dst),
            Split::Merged => dst.copy_from_slice(&link.merge[sec.merge_idx as usize].blob),
            Split::None => dst.copy_from_slice(sec.data),
        }
        x86_64::apply_section(link, f, s, dst, os.addr + sec.out_off, eh, dyn_out)
    })?;

    // Trampolines: at the old place of code the layout file moved, a jump to the new place.
    for (&(f, s, value), &old) in &link.trampolines {
        let sec = link.section(f, s);
        let os = &lay.secs[sec.out_sec as usize];
        let new = os.addr + sec.out_off + value;
        // The old place may lie in another part of a section the layout split at a hole.
        let at = lay
            .secs
            .iter()
            .find(|o| o.is_alloc() && !o.is_nobits() && o.addr <= old && old + 5 <= o.addr + o.size)
            .expect("trampoline inside a section");
        let off = at.offset + (old - at.addr);
        let rel = (new as i64 - (old as i64 + 5)) as i32;
        let dst = buf.slice(off, 5);
        dst[0] = 0xe9;
        dst[1..5].copy_from_slice(&rel.to_le_bytes());
    }

    // Data statements of a linker script.
    for os in lay.secs.iter().filter(|os| !os.is_nobits()) {
        for &(o, n, v) in &os.data {
            buf.slice(os.offset + o, n)
                .copy_from_slice(&v.to_le_bytes()[..n as usize]);
        }
    }

    // Linker-created sections.
    for os in &lay.secs {
        let Some(kind) = os.synth else { continue };
        let (off, _, size) = lay.synth_range(kind).expect("linker-created section");
        let dst = buf.slice(off, size);
        match kind {
            Synth::Got => {
                for (i, &(r, k)) in link.tables.got.iter().enumerate() {
                    let v = match k {
                        GotKind::Addr if link.is_undefined(r) => 0,
                        GotKind::Addr => link.trampoline(r).unwrap_or_else(|| link.sym_addr(r)),
                        GotKind::TpOff => link.sym_addr(r).wrapping_sub(lay.tp),
                    };
                    dst[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
                }
            }
            Synth::GotPlt => {
                for (i, &r) in link.tables.plt.iter().enumerate() {
                    let o = GOTPLT_RESERVED as usize + i * 8;
                    dst[o..o + 8].copy_from_slice(&resolver(link, r).to_le_bytes());
                }
            }
            Synth::Iplt => {
                for i in 0..link.tables.plt.len() {
                    let entry = lay.plt_entry_addr(i as u32);
                    let slot = lay.gotplt_slot_addr(i as u32);
                    let rel = (slot as i64 - (entry as i64 + 6)) as i32;
                    let o = i * PLT_ENTRY as usize;
                    dst[o..o + 2].copy_from_slice(&[0xff, 0x25]); // jmp *slot(%rip)
                    dst[o + 2..o + 6].copy_from_slice(&rel.to_le_bytes());
                    dst[o + 6..o + 16].fill(0xcc);
                }
            }
            Synth::RelaIplt => {
                for (i, &r) in link.tables.plt.iter().enumerate() {
                    let o = i * 24;
                    dst[o..o + 8].copy_from_slice(&lay.gotplt_slot_addr(i as u32).to_le_bytes());
                    dst[o + 8..o + 16]
                        .copy_from_slice(&(elf::R_X86_64_IRELATIVE as u64).to_le_bytes());
                    dst[o + 16..o + 24].copy_from_slice(&resolver(link, r).to_le_bytes());
                }
            }
            Synth::BuildId => {
                let desc_len = (os.size - 16) as u32;
                dst[0..4].copy_from_slice(&4u32.to_le_bytes());
                dst[4..8].copy_from_slice(&desc_len.to_le_bytes());
                dst[8..12].copy_from_slice(&elf::NT_GNU_BUILD_ID.to_le_bytes());
                dst[12..16].copy_from_slice(b"GNU\0");
            }
            Synth::EhFrameHdr | Synth::DynSym | Synth::DynStr | Synth::PageDigests => {}
            Synth::RelaDyn => {
                // Section relocations were written by the workers; GOT addresses and IFUNC
                // slots follow, IRELATIVE last so that resolvers run on relocated data.
                let mut i = link.tables.dyn_section_relocs as usize;
                for g in link.got_relative() {
                    let (r, _) = link.tables.got[g as usize];
                    let slot = lay.got_addr + 8 * g as u64;
                    x86_64::write_rela(
                        &mut dst[i * 24..i * 24 + 24],
                        slot,
                        elf::R_X86_64_RELATIVE,
                        link.sym_addr(r),
                    );
                    i += 1;
                }
                for (k, &r) in link.tables.plt.iter().enumerate() {
                    let slot = lay.gotplt_slot_addr(k as u32);
                    x86_64::write_rela(
                        &mut dst[i * 24..i * 24 + 24],
                        slot,
                        elf::R_X86_64_IRELATIVE,
                        resolver(link, r),
                    );
                    i += 1;
                }
            }
            Synth::Dynamic => {
                let rd = rela_dyn.expect("position-independent output has .rela.dyn");
                let sym = lay.find_synth(Synth::DynSym).expect(".dynsym");
                let str_ = lay.find_synth(Synth::DynStr).expect(".dynstr");
                let entries: [(i64, u64); crate::linker::layout::DYNAMIC_ENTRIES as usize] = [
                    (elf::DT_RELA as i64, rd.addr),
                    (elf::DT_RELASZ as i64, rd.size),
                    (elf::DT_RELAENT as i64, 24),
                    (elf::DT_SYMTAB as i64, sym.addr),
                    (elf::DT_SYMENT as i64, 24),
                    (elf::DT_STRTAB as i64, str_.addr),
                    (elf::DT_STRSZ as i64, str_.size),
                    (elf::DT_FLAGS_1 as i64, elf::DF_1_PIE as u64),
                    (elf::DT_NULL as i64, 0),
                ];
                for (i, (tag, val)) in entries.iter().enumerate() {
                    dst[i * 16..i * 16 + 8].copy_from_slice(&tag.to_le_bytes());
                    dst[i * 16 + 8..i * 16 + 16].copy_from_slice(&val.to_le_bytes());
                }
            }
        }
    }
    // The output section holding `.eh_frame` input (named so by every script we know).
    let ehs = lay
        .secs
        .iter()
        .find(|os| os.members.iter().any(|m| link.eh.contains_key(m)));
    if let (Some((hdr_off, hdr_addr, hdr_size)), Some(ehs)) =
        (lay.synth_range(Synth::EhFrameHdr), ehs)
    {
        let mut fdes = Vec::new();
        for &(f, s) in &ehs.members {
            let base = link.section(f, s).out_off;
            if let Some(eh) = link.eh.get(&(f, s)) {
                fdes.extend(
                    eh.records
                        .iter()
                        .filter(|r| r.keep && r.is_fde())
                        .map(|r| base + r.out_off as u64),
                );
            }
        }
        let eh_bytes = buf.slice(ehs.offset, ehs.size).to_vec();
        let hdr = buf.slice(hdr_off, hdr_size);
        eh_frame::build_hdr(&eh_bytes, ehs.addr, &fdes, hdr_addr, hdr)?;
    }
    for (o, bytes) in trailing {
        buf.slice(o, bytes.len() as u64).copy_from_slice(bytes);
    }
    buf.slice(shstrtab_off, shstrtab.len() as u64)
        .copy_from_slice(&shstrtab);
    let sh = buf.slice(shoff, 64 * shdrs.len() as u64);
    for (i, h) in shdrs.iter().enumerate() {
        let o = i * 64;
        let d = &mut sh[o..o + 64];
        d[0..4].copy_from_slice(&h.name.to_le_bytes());
        d[4..8].copy_from_slice(&h.sh_type.to_le_bytes());
        d[8..16].copy_from_slice(&h.flags.to_le_bytes());
        d[16..24].copy_from_slice(&h.addr.to_le_bytes());
        d[24..32].copy_from_slice(&h.offset.to_le_bytes());
        d[32..40].copy_from_slice(&h.size.to_le_bytes());
        d[40..44].copy_from_slice(&h.link.to_le_bytes());
        d[44..48].copy_from_slice(&h.info.to_le_bytes());
        d[48..56].copy_from_slice(&h.align.to_le_bytes());
        d[56..64].copy_from_slice(&h.entsize.to_le_bytes());
    }

    if let Some((note_off, _, note_size)) = lay.synth_range(Synth::BuildId) {
        use sha1::{Digest, Sha1};
        let desc_off = (note_off + 16) as usize;
        let desc_len = (note_size - 16) as usize;
        let desc: Vec<u8> = match &link.args.build_id {
            BuildId::Hex(h) => h.clone(),
            // The hash covers the whole image with the ID still zero, so identical inputs give
            // identical IDs; `uuid` is derived the same way to keep output deterministic. It is
            // a tree hash (SHA-1 of the SHA-1s of 1 MiB chunks) so that it runs in parallel.
            _ => {
                let chunks: Vec<[u8; 20]> = map
                    .par_chunks(1 << 20)
                    .map(|c| Sha1::digest(c).into())
                    .collect();
                Sha1::digest(chunks.concat()).to_vec()
            }
        };
        let n = desc.len().min(desc_len);
        map[desc_off..desc_off + n].copy_from_slice(&desc[..n]);
    }

    // Page digests last: they cover the finished loaded bytes, build ID included.
    if let Some(d) = lay.find_synth(Synth::PageDigests) {
        let segs = crate::pages::digest::load_segments(&map[..])?;
        let entries = crate::pages::digest::compute(&map[..], &segs);
        let (o, n) = (d.offset as usize, d.size as usize);
        crate::pages::digest::encode(&entries, &mut map[o..o + n]);
    }
    map.flush()
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(map);
    drop(file);
    std::fs::rename(&tmp, out_path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), out_path.display()))?;
    guard.armed = false;
    Ok(())
}

fn resolver(link: &Link, r: crate::linker::context::SymRef) -> u64 {
    match link.definition(r) {
        Some((f, s, _)) => link.file_sym_addr(f, s),
        None => 0,
    }
}

fn write_headers(link: &Link, d: &mut [u8], shoff: u64, shnum: u16, shstrndx: u16) {
    let lay = &link.layout;
    d[0..4].copy_from_slice(b"\x7fELF");
    d[4] = elf::ELFCLASS64;
    d[5] = elf::ELFDATA2LSB;
    d[6] = elf::EV_CURRENT;
    d[7] = elf::ELFOSABI_NONE; // GNU ld uses SYSV unless IFUNCs are present; both load the same
    if !link.tables.plt.is_empty() {
        d[7] = elf::ELFOSABI_GNU;
    }
    let e_type = if link.pie { elf::ET_DYN } else { elf::ET_EXEC };
    d[16..18].copy_from_slice(&e_type.to_le_bytes());
    d[18..20].copy_from_slice(&elf::EM_X86_64.to_le_bytes());
    d[20..24].copy_from_slice(&(elf::EV_CURRENT as u32).to_le_bytes());
    d[24..32].copy_from_slice(&lay.entry.to_le_bytes());
    d[32..40].copy_from_slice(&64u64.to_le_bytes());
    d[40..48].copy_from_slice(&shoff.to_le_bytes());
    d[48..52].copy_from_slice(&0u32.to_le_bytes());
    d[52..54].copy_from_slice(&64u16.to_le_bytes());
    d[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
    d[56..58].copy_from_slice(&(lay.phdrs.len() as u16).to_le_bytes());
    d[58..60].copy_from_slice(&64u16.to_le_bytes());
    d[60..62].copy_from_slice(&shnum.to_le_bytes());
    d[62..64].copy_from_slice(&shstrndx.to_le_bytes());
    for (i, p) in lay.phdrs.iter().enumerate() {
        let o = 64 + i * PHDR_SIZE as usize;
        let h = &mut d[o..o + PHDR_SIZE as usize];
        h[0..4].copy_from_slice(&p.p_type.to_le_bytes());
        h[4..8].copy_from_slice(&p.flags.to_le_bytes());
        h[8..16].copy_from_slice(&p.offset.to_le_bytes());
        h[16..24].copy_from_slice(&p.vaddr.to_le_bytes());
        h[24..32].copy_from_slice(&p.paddr.to_le_bytes());
        h[32..40].copy_from_slice(&p.filesz.to_le_bytes());
        h[40..48].copy_from_slice(&p.memsz.to_le_bytes());
        h[48..56].copy_from_slice(&p.align.to_le_bytes());
    }
}
