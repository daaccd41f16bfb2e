//! Output sections that the stable layout adds or cuts after addresses are known: regioned
//! sections split at holes, and the room left inside the RELRO range.

use super::piece::{is_regioned, PAGE, TRAMPOLINE};
use crate::linker::context::Link;
use object::elf;

/// (file, section) of an input section.
type InputId = (u32, u32);

/// Replaces output section `i` by `new` (possibly several, possibly including it again):
/// later sections' indices, which input sections and script symbols hold, move up.
fn replace_section(link: &mut Link, i: usize, new: Vec<crate::linker::layout::OutputSection>) {
    let extra = new.len() as isize - 1;
    for file in link.files.iter_mut() {
        for sec in file.sections.iter_mut() {
            if sec.out_sec != u32::MAX && sec.out_sec as usize > i {
                sec.out_sec = (sec.out_sec as isize + extra) as u32;
            }
        }
    }
    for s in link.script.sec.iter_mut().flatten() {
        if *s > i {
            *s = (*s as isize + extra) as usize;
        }
    }
    link.layout.secs.splice(i..=i, new);
}

/// Covers the room a layout leaves between writable sections inside the RELRO range with a
/// zero-filled section (`.spacer.relro_room`): the C library write-protects the whole range at
/// start-up, so it must be mapped, and a section (unlike a load's memory size alone) keeps it
/// mapped through strip and objcopy. It costs no file bytes: it ends a load, like `.bss`.
pub fn cover_relro_room(link: &mut Link, relro: Option<(u64, u64)>) {
    let Some((a, b)) = relro else { return };
    let mut order: Vec<usize> = (0..link.layout.secs.len())
        .filter(|&i| {
            let s = &link.layout.secs[i];
            s.is_alloc() && !(s.is_tls() && s.is_nobits())
        })
        .collect();
    order.sort_by_key(|&i| link.layout.secs[i].addr);
    let mut pads = Vec::new();
    for w in order.windows(2) {
        let (p, q) = (&link.layout.secs[w[0]], &link.layout.secs[w[1]]);
        let start = p.addr + p.size;
        let end = q.addr / PAGE * PAGE;
        let writable = p.flags & elf::SHF_WRITE as u64 != 0 && q.flags & elf::SHF_WRITE as u64 != 0;
        if writable && start.next_multiple_of(PAGE) < end && start < b && end > a {
            pads.push((w[0], start, end));
        }
    }
    // From the last, so that earlier indices stay valid.
    for (i, start, end) in pads.into_iter().rev() {
        let before = link.layout.secs[i].clone();
        let pad = crate::linker::layout::OutputSection {
            name: b".spacer.relro_room".to_vec(),
            sh_type: elf::SHT_NOBITS,
            flags: (elf::SHF_ALLOC | elf::SHF_WRITE) as u64,
            align: 1,
            addr: start,
            lma: before.lma + (start - before.addr),
            size: end - start,
            ..Default::default()
        };
        replace_section(link, i, vec![before, pad]);
    }
}

/// A stretch of a split section: offsets in the section and its input sections.
struct Part {
    start: u64,
    end: u64,
    members: Vec<(u32, u32)>,
}

/// Splits regioned sections with file contents where a stretch of more than a page holds
/// nothing (the regions of libraries a program of a fleet does not link, reserved room): each
/// part becomes a section of the same name, and the segment builder gives parts separated by
/// such a gap their own loads, so the gap costs address space but no file bytes. Only for
/// layouts whose segments spacer decides (no PHDRS).
pub fn split_at_holes(link: &mut Link) {
    let mut i = 0;
    while i < link.layout.secs.len() {
        let os = &link.layout.secs[i];
        let name = String::from_utf8_lossy(&os.name).into_owned();
        if !os.is_alloc()
            || os.is_nobits()
            || !is_regioned(&name)
            // Walked from record to record: one section, its holes filled.
            || name == ".eh_frame"
            || !os.data.is_empty()
            || os.synth.is_some()
            || os.common_off.is_some()
        {
            i += 1;
            continue;
        }
        // (start, end, input section; None for a trampoline), offsets in the section.
        let mut members: Vec<(u64, u64, Option<InputId>)> = os
            .members
            .iter()
            .map(|&(f, s)| {
                let off = link.section(f, s).out_off;
                let size = link.member_size_align(f, s).0;
                (off, off + size, Some((f, s)))
            })
            .collect();
        // Trampolines hold bytes too, at the old places of moved code.
        let (lo, hi) = (os.addr, os.addr + os.size);
        members.extend(
            link.trampolines
                .values()
                .filter(|&&t| t >= lo && t < hi)
                .map(|&t| (t - lo, t - lo + TRAMPOLINE, None)),
        );
        members.sort_by_key(|m| m.0);
        let mut parts: Vec<Part> = Vec::new();
        for (start, end, m) in members {
            match parts.last_mut() {
                Some(p) if start <= p.end.next_multiple_of(PAGE) + PAGE || end == start => {
                    p.end = p.end.max(end);
                    p.members.extend(m);
                }
                _ => parts.push(Part {
                    start,
                    end,
                    members: m.into_iter().collect(),
                }),
            }
        }
        if parts.len() < 2 {
            i += 1;
            continue;
        }
        // What follows the last member (trailing alignment) stays with the last part.
        let size = os.size;
        if let Some(last) = parts.last_mut() {
            last.end = last.end.max(size);
        }
        let base = os.clone();
        let extra = parts.len() - 1;
        let mut new_secs = Vec::with_capacity(parts.len());
        let mut moves = Vec::new();
        for (
            k,
            Part {
                start,
                end,
                members: ms,
            },
        ) in parts.into_iter().enumerate()
        {
            moves.extend(ms.iter().map(|&m| (m, k, start)));
            let mut part = base.clone();
            part.addr = base.addr + start;
            part.lma = base.lma + start;
            part.size = end - start;
            part.members = ms;
            new_secs.push(part);
        }
        replace_section(link, i, new_secs);
        for ((f, s), k, start) in moves {
            let sec = &mut link.files[f as usize].sections[s as usize];
            sec.out_off -= start;
            sec.out_sec = (i + k) as u32;
        }
        i += extra + 1;
    }
}
