//! `--compress-debug-sections`: non-allocated `.debug_*` sections written as SHF_COMPRESSED
//! sections (an `Elf64_Chdr`, then a zlib or zstd stream). Relocations are applied before
//! compressing, so this runs once layout has given every symbol its value; the compressed
//! sizes then move the non-allocated sections' file offsets.

use super::buf::OutBuf;
use crate::linker::args::CompressDebug;
use crate::linker::context::Link;
use anyhow::{Context, Result};
use object::elf;
use rayon::prelude::*;
use std::io::Write;

/// Size of `Elf64_Chdr`.
const CHDR_SIZE: usize = 24;
/// Fixed levels keep the output identical from link to link (zlib's and zstd's defaults).
const ZLIB_LEVEL: u32 = 6;
const ZSTD_LEVEL: i32 = 3;

/// Compresses every non-empty `.debug_*` section that shrinks by it (as GNU ld, a section
/// that would not shrink stays as it is), one section per worker.
pub fn compress_debug_sections(link: &mut Link) -> Result<()> {
    let kind = link.args.compress_debug;
    if kind == CompressDebug::None {
        return Ok(());
    }
    let targets: Vec<usize> = (link.layout.secs.iter().enumerate())
        .filter(|(_, os)| os.size > 0 && is_compressible(&os.name, os.flags, os.sh_type))
        .map(|(i, _)| i)
        .collect();
    let done: Vec<(usize, Option<Vec<u8>>)> = targets
        .par_iter()
        .map(|&i| -> Result<_> {
            let os = &link.layout.secs[i];
            let raw = contents(link, i)?;
            Ok((i, compress_if_smaller(kind, &os.name, &raw, os.align)?))
        })
        .collect::<Result<_>>()?;
    for (i, packed) in done {
        let Some(packed) = packed else { continue };
        let os = &mut link.layout.secs[i];
        os.flags |= elf::SHF_COMPRESSED as u64;
        os.size = packed.len() as u64;
        // The header is read in place: the section is aligned for it.
        os.align = 8;
        link.layout.compressed.insert(i, packed);
    }
    place_nonalloc(link);
    Ok(())
}

/// The finished (relocated) contents of output section `i`, its input sections filled in
/// parallel.
fn contents(link: &Link, i: usize) -> Result<Vec<u8>> {
    let os = &link.layout.secs[i];
    let mut data = vec![0u8; os.size as usize];
    let buf = OutBuf {
        ptr: data.as_mut_ptr(),
        len: data.len(),
    };
    os.members
        .par_iter()
        .try_for_each(|&(f, s)| -> Result<()> {
            let sec = link.section(f, s);
            if sec.sh_type == elf::SHT_NOBITS {
                return Ok(());
            }
            let size = link.member_size_align(f, s).0;
            super::fill_member(link, os, f, s, buf.slice(sec.out_off, size), &mut [])
        })?;
    for &(o, n, v) in &os.data {
        buf.slice(o, n)
            .copy_from_slice(&v.to_le_bytes()[..n as usize]);
    }
    Ok(data)
}

/// Whether `--compress-debug-sections` applies to a section of this name and type.
pub fn is_compressible(name: &[u8], flags: u64, sh_type: u32) -> bool {
    flags & (elf::SHF_ALLOC | elf::SHF_COMPRESSED) as u64 == 0
        && sh_type != elf::SHT_NOBITS
        && name.starts_with(b".debug")
}

/// The compressed form of section `name` (header and stream), if it is smaller than `raw`.
pub fn compress_if_smaller(
    kind: CompressDebug,
    name: &[u8],
    raw: &[u8],
    align: u64,
) -> Result<Option<Vec<u8>>> {
    let packed = compress(kind, raw, align)
        .with_context(|| format!("cannot compress {}", String::from_utf8_lossy(name)))?;
    Ok((packed.len() < raw.len()).then_some(packed))
}

/// `Elf64_Chdr` (type, reserved, uncompressed size, uncompressed alignment) and the stream.
fn compress(kind: CompressDebug, raw: &[u8], align: u64) -> Result<Vec<u8>> {
    let ch_type = match kind {
        CompressDebug::Zlib => elf::ELFCOMPRESS_ZLIB,
        CompressDebug::Zstd => elf::ELFCOMPRESS_ZSTD,
        CompressDebug::None => unreachable!("not compressing"),
    };
    let mut out = Vec::with_capacity(CHDR_SIZE + raw.len() / 4);
    out.extend_from_slice(&ch_type.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(raw.len() as u64).to_le_bytes());
    out.extend_from_slice(&align.max(1).to_le_bytes());
    match kind {
        CompressDebug::Zlib => {
            let level = flate2::Compression::new(ZLIB_LEVEL);
            let mut z = flate2::write::ZlibEncoder::new(out, level);
            z.write_all(raw)?;
            out = z.finish()?;
        }
        CompressDebug::Zstd => {
            out.extend_from_slice(&zstd::bulk::compress(raw, ZSTD_LEVEL)?);
        }
        CompressDebug::None => {}
    }
    Ok(out)
}

/// File offsets of the non-allocated sections again, in section order from where the first
/// one is (what precedes it did not change size), now that some are smaller.
fn place_nonalloc(link: &mut Link) {
    let lay = &mut link.layout;
    let Some(mut end) = lay.secs.iter().find(|s| !s.is_alloc()).map(|s| s.offset) else {
        return;
    };
    for s in lay.secs.iter_mut().filter(|s| !s.is_alloc()) {
        end = end.next_multiple_of(s.align.max(1));
        s.offset = end;
        end += s.size;
    }
    lay.content_end = end;
}
