//! Writing the output image: ELF and program headers, section contents with relocations
//! applied (in parallel), linker-created sections, symbol tables and the build ID. The image
//! is written to a temporary file that is renamed into place only when everything succeeded.

mod buf;
pub mod compress;
mod emit_relocs;
mod headers;
pub mod symtab;
mod synthetic;

use crate::linker::args::{BuildId, Strip};
use crate::linker::context::Link;
use crate::linker::eh_frame;
use crate::linker::layout::{OutputSection, Synth, PHDR_SIZE};
use crate::linker::object_file::Split;
use crate::linker::reloc::x86_64;
use anyhow::{Context, Result};
use buf::OutBuf;
use object::elf;
use rayon::prelude::*;

/// Writes the image: to a temporary file next to the output, mapped, filled in parallel where
/// the parts are independent, then renamed into place.
pub fn write(link: &Link) -> Result<()> {
    let lay = &link.layout;
    // Relocations name symbols, so `--emit-relocs` keeps the table even with `-s` (as GNU ld).
    let symtab = if link.args.strip == Strip::All && !link.args.emit_relocs {
        None
    } else {
        Some(symtab::build_symtab(link))
    };
    let relocs = symtab
        .as_ref()
        .and_then(|st| st.index.as_ref())
        .map(|index| emit_relocs::build(link, index));
    let table = headers::SectionTable::new(link, symtab.as_ref(), relocs.as_ref());
    let file_size = table.file_size;
    // Create the output as a temporary file next to the destination.
    let (tmp, reused) = crate::atomic_file::TempFile::reuse_or_create(&link.args.output, true)?;
    tmp.file
        .set_len(file_size)
        .with_context(|| format!("cannot size {}", tmp.path.display()))?;
    // SAFETY: the file was just created by us and is not shared.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&tmp.file) }
        .with_context(|| format!("cannot map {}", tmp.path.display()))?;
    let buf = OutBuf {
        ptr: map.as_mut_ptr(),
        len: map.len(),
    };
    buf.prefault();
    if reused {
        zero_unwritten(link, &buf);
    }

    headers::write_headers(
        link,
        buf.slice(0, 64 + PHDR_SIZE * lay.phdrs.len() as u64),
        table.shoff,
        table.len() as u16,
        table.shstrndx as u16,
    );
    fill_code_gaps(link, &buf);
    write_inputs(link, &buf)?;
    write_trampolines(link, &buf);
    // Data statements of a linker script.
    for os in lay.secs.iter().filter(|os| !os.is_nobits()) {
        if os.flags & elf::SHF_COMPRESSED as u64 != 0 {
            continue; // in the compressed contents already
        }
        for &(o, n, v) in &os.data {
            buf.slice(os.offset + o, n)
                .copy_from_slice(&v.to_le_bytes()[..n as usize]);
        }
    }

    synthetic::write_synthetic(link, &buf);
    synthetic::fill_eh_frame_gaps(link, &buf);
    synthetic::write_eh_frame_hdr(link, &buf)?;
    table.write(&buf, symtab.as_ref(), relocs.as_ref());
    write_build_id(link, &mut map);
    // Page digests last: they cover the finished loaded bytes, build ID included.
    if let Some(d) = lay.find_synth(Synth::PageDigests) {
        let segs = crate::pages::digest::load_segments(&map[..])?;
        let entries = crate::pages::digest::compute(&map[..], &segs);
        let (o, n) = (d.offset as usize, d.size as usize);
        crate::pages::digest::encode(&entries, &mut map[o..o + n]);
    }
    // No msync: the pages are in the page cache, where every reader sees them once the rename
    // is done; forcing them to disk would make each link wait for the device (GNU ld, lld and
    // mold do not either).
    if link.args.binary {
        let flat = flat_image(lay, &map[..]);
        drop(map);
        drop(tmp);
        return crate::atomic_file::write_file_atomically(&link.args.output, &flat, true);
    }
    // Unmapped before the build hears the link is done: while a writable mapping of the file
    // exists, running the new program fails with ETXTBSY.
    drop(map);
    tmp.commit()
}

/// `--oformat binary`: the loaded sections' bytes, each at its load address less the lowest
/// one, zero-filled between them (no headers, no `.bss`), as GNU ld writes them.
fn flat_image(lay: &crate::linker::layout::Layout, elf_image: &[u8]) -> Vec<u8> {
    let loaded: Vec<&OutputSection> = lay
        .secs
        .iter()
        .filter(|os| os.is_alloc() && !os.is_nobits() && os.size > 0)
        .collect();
    let Some(base) = loaded.iter().map(|os| os.lma).min() else {
        return Vec::new();
    };
    let end = loaded
        .iter()
        .map(|os| os.lma + os.size)
        .max()
        .unwrap_or(base);
    let mut flat = vec![0u8; (end - base) as usize];
    for os in loaded {
        let at = (os.lma - base) as usize;
        let src = &elf_image[os.offset as usize..(os.offset + os.size) as usize];
        flat[at..at + src.len()].copy_from_slice(src);
    }
    flat
}

/// Zeroes every byte of a reused output file that the input sections will not cover: what the
/// rest of the writer puts there (headers, linker-created sections, symbol tables) assumes a
/// zero-filled file, and gaps must not keep the previous image's bytes.
fn zero_unwritten(link: &Link, buf: &OutBuf) {
    let lay = &link.layout;
    let covered = lay
        .secs
        .iter()
        .enumerate()
        .filter(|(i, os)| !os.is_nobits() && !lay.compressed.contains_key(i))
        .flat_map(|(_, os)| {
            os.members
                .iter()
                .filter(|&&(f, s)| link.section(f, s).sh_type != elf::SHT_NOBITS)
                .map(|&(f, s)| member_range(link, f, s))
                .map(|(o, n)| (os.offset + o, n))
        })
        .collect();
    // Large gaps in pieces, so that they are zeroed in parallel.
    let gaps: Vec<(u64, u64)> = uncovered(covered, buf.len as u64)
        .into_iter()
        .flat_map(|(at, n)| {
            (at..at + n)
                .step_by(1 << 20)
                .map(move |g| (g, (at + n - g).min(1 << 20)))
        })
        .collect();
    gaps.par_iter()
        .with_max_len(16)
        .for_each(|&(off, n)| buf.slice(off, n).fill(0));
}

/// The x86 NOP instructions of 1 to 10 bytes, as assemblers and GNU ld pad code with them.
const NOPS: [&[u8]; 10] = [
    &[0x90],
    &[0x66, 0x90],
    &[0x0f, 0x1f, 0x00],
    &[0x0f, 0x1f, 0x40, 0x00],
    &[0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
    &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

/// Fills `dst` with NOPs: ten-byte ones, then one for the rest (GNU ld's padding).
fn fill_nops(dst: &mut [u8]) {
    let mut chunks = dst.chunks_mut(10);
    for c in &mut chunks {
        c.copy_from_slice(NOPS[c.len() - 1]);
    }
}

/// The gaps between the input sections of code output sections hold NOPs, as GNU ld fills
/// them, rather than zeros (which disassemble as instructions that fault). What is written
/// into a section afterwards (inputs, jumps, linker-created code) lands on top. Gaps of a
/// page or more stay zero (see below), where GNU ld would fill them too.
fn fill_code_gaps(link: &Link, buf: &OutBuf) {
    let lay = &link.layout;
    lay.secs
        .par_iter()
        .enumerate()
        .filter(|(i, os)| {
            os.flags & elf::SHF_EXECINSTR as u64 != 0
                && !os.is_nobits()
                && os.flags & elf::SHF_COMPRESSED as u64 == 0
                && !lay.compressed.contains_key(i)
                && os.size > 0
        })
        .for_each(|(_, os)| {
            let used = os
                .members
                .iter()
                .map(|&(f, s)| member_range(link, f, s))
                .chain(os.data.iter().map(|&(o, n, _)| (o, n)))
                .collect();
            for (at, n) in uncovered(used, os.size) {
                // A gap of a page or more is free room (the version-stable layout's slack and
                // holes), not padding: zero, so that such pages stay alike across images.
                if n < 4096 {
                    fill_nops(buf.slice(os.offset + at, n));
                }
            }
        });
}

/// Where input section `s` of file `f` lies in its output section: (offset, size).
fn member_range(link: &Link, f: u32, s: u32) -> (u64, u64) {
    (link.section(f, s).out_off, link.member_size_align(f, s).0)
}

/// The stretches of `[0, end)` that none of the ranges `used` (start, length) covers, in
/// order, as (start, length).
fn uncovered(mut used: Vec<(u64, u64)>, end: u64) -> Vec<(u64, u64)> {
    used.sort_unstable();
    let mut gaps = Vec::new();
    let mut at = 0;
    for (start, len) in used.into_iter().chain(std::iter::once((end, 0))) {
        let start = start.min(end);
        if start > at {
            gaps.push((at, start - at));
        }
        at = at.max(start + len);
    }
    gaps
}

/// Input sections, copied and relocated in parallel, each into its own range of the output
/// (and its own range of `.rela.dyn` for a static PIE).
fn write_inputs(link: &Link, buf: &OutBuf) -> Result<()> {
    let lay = &link.layout;
    let rela_dyn = lay.find_synth(Synth::RelaDyn);
    // Input sections, in parallel.
    let jobs: Vec<(&OutputSection, u32, u32)> = lay
        .secs
        .iter()
        .enumerate()
        .filter(|(i, os)| !os.is_nobits() && !lay.compressed.contains_key(i))
        .map(|(_, os)| os)
        .flat_map(|os| os.members.iter().map(move |&(f, s)| (os, f, s)))
        .collect();
    // Sections differ in cost by orders of magnitude (debug information comes last and costs
    // most): small batches let both threads share the expensive end.
    jobs.par_iter()
        .with_max_len(16)
        .try_for_each(|&(os, f, s)| -> Result<()> {
            let sec = link.section(f, s);
            if sec.sh_type == elf::SHT_NOBITS {
                return Ok(()); // zero-filled already
            }
            let size = link.member_size_align(f, s).0;
            let dst = buf.slice(os.offset + sec.out_off, size);
            let dyn_out: &mut [u8] = match (link.tables.dyn_start.get(&(f, s)), rela_dyn) {
                (Some(&(start, n)), Some(rd)) => {
                    buf.slice(rd.offset + 24 * start as u64, 24 * n as u64)
                }
                _ => &mut [],
            };
            fill_member(link, os, f, s, dst, dyn_out)
        })?;
    // Compressed sections were relocated and compressed before their offsets were fixed.
    for (&i, bytes) in &lay.compressed {
        buf.slice(lay.secs[i].offset, bytes.len() as u64)
            .copy_from_slice(bytes);
    }
    Ok(())
}

/// One input section of `os` copied into `dst` (its range of the output) and relocated.
fn fill_member(
    link: &Link,
    os: &OutputSection,
    f: u32,
    s: u32,
    dst: &mut [u8],
    dyn_out: &mut [u8],
) -> Result<()> {
    let sec = link.section(f, s);
    let eh = link.eh.get(&(f, s));
    match sec.split {
        Split::EhFrame => eh_frame::copy_kept(eh.unwrap(), sec.data, dst),
        Split::Merged => dst.copy_from_slice(&link.merge[sec.merge_idx as usize].blob),
        Split::None => dst.copy_from_slice(sec.data),
    }
    x86_64::apply_section(link, f, s, dst, os.addr + sec.out_off, eh, dyn_out)
}

/// At the old place of code the layout file moved, a jump to the new place.
fn write_trampolines(link: &Link, buf: &OutBuf) {
    let lay = &link.layout;
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
}

/// The build ID: the hash covers the whole image with the ID still zero, so identical inputs
/// give identical IDs; `uuid` is derived the same way to keep output deterministic. It is a
/// tree hash, SHA-1 of the XXH3-128 hashes of 1 MiB chunks: the chunks are hashed in parallel
/// at memory speed (SHA-1 over a whole large image cost more than relocating it), and the ID
/// identifies the image, it does not authenticate it.
fn write_build_id(link: &Link, map: &mut [u8]) {
    let lay = &link.layout;
    if let Some((note_off, _, note_size)) = lay.synth_range(Synth::BuildId) {
        use sha1::{Digest, Sha1};
        let desc_off = (note_off + 16) as usize;
        let desc_len = (note_size - 16) as usize;
        let desc: Vec<u8> = match &link.args.build_id {
            BuildId::Hex(h) => h.clone(),
            _ => {
                let chunks: Vec<[u8; 16]> = map
                    .par_chunks(1 << 20)
                    .map(|c| xxhash_rust::xxh3::xxh3_128(c).to_le_bytes())
                    .collect();
                Sha1::digest(chunks.concat()).to_vec()
            }
        };
        let n = desc.len().min(desc_len);
        map[desc_off..desc_off + n].copy_from_slice(&desc[..n]);
    }
}
