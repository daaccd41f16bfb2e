//! Contents of the sections the linker creates: GOT, IFUNC PLT and its relocations,
//! `.rela.dyn` and `.dynamic` of a static PIE, the build ID note's header and
//! `.eh_frame_hdr`.

use super::buf::OutBuf;
use crate::linker::context::{GotKind, Link};
use crate::linker::eh_frame;
use crate::linker::layout::{Synth, GOTPLT_RESERVED, PLT_ENTRY};
use crate::linker::reloc::x86_64;
use anyhow::Result;
use object::elf;

/// Writes every linker-created section but `.eh_frame_hdr` (see `write_eh_frame_hdr`).
pub fn write_synthetic(link: &Link, buf: &OutBuf) {
    let lay = &link.layout;
    let rela_dyn = lay.find_synth(Synth::RelaDyn);
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
}

/// The output section holding `.eh_frame` input (named so by every script we know).
fn eh_frame_section(link: &Link) -> Option<&crate::linker::layout::OutputSection> {
    link.layout
        .secs
        .iter()
        .find(|os| os.members.iter().any(|m| link.eh.contains_key(m)))
}

/// Under a layout file, the room between `.eh_frame`'s regions holds filler records.
pub fn fill_eh_frame_gaps(link: &Link, buf: &OutBuf) {
    let Some(ehs) = eh_frame_section(link).filter(|_| link.args.layout.is_some()) else {
        return;
    };
    if ehs.is_nobits() || ehs.flags & object::elf::SHF_COMPRESSED as u64 != 0 {
        return;
    }
    let mut members: Vec<(u64, u64, Option<&eh_frame::EhSection>)> = ehs
        .members
        .iter()
        .map(|&(f, s)| {
            (
                link.section(f, s).out_off,
                link.member_size_align(f, s).0,
                link.eh.get(&(f, s)),
            )
        })
        .collect();
    eh_frame::fill_gaps(buf.slice(ehs.offset, ehs.size), &mut members);
}

/// `.eh_frame_hdr`: the binary search table over the FDEs of the finished `.eh_frame`.
pub fn write_eh_frame_hdr(link: &Link, buf: &OutBuf) -> Result<()> {
    let lay = &link.layout;
    let ehs = eh_frame_section(link);
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
    Ok(())
}

fn resolver(link: &Link, r: crate::linker::context::SymRef) -> u64 {
    match link.definition(r) {
        Some((f, s, _)) => link.file_sym_addr(f, s),
        None => 0,
    }
}
