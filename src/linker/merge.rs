//! Merging of `SHF_MERGE` sections: identical strings and constants from all inputs bound for
//! one output section are stored once. As in GNU ld, each input section keeps its place and
//! holds the pieces that first appeared in it; later copies map to the earlier ones.

use crate::linker::object_file::{ObjectFile, Split};
use anyhow::{bail, Result};
use object::elf;

/// Where the pieces of one input section ended up.
#[derive(Debug, Default)]
pub struct MergeMap {
    /// Input offset of each piece, ascending.
    starts: Vec<u64>,
    /// For each block of `BLOCK` input bytes, the piece holding the block's first byte: a
    /// lookup (one per relocation into the section, such as every string reference of the
    /// debug information) starts there instead of binary-searching, which costs a cache miss
    /// per step on large string sections.
    blocks: Vec<u32>,
    /// Section holding each piece, and the piece's offset inside that section's output.
    targets: Vec<((u32, u32), u64)>,
    /// This section's output: the pieces it introduced.
    pub blob: Vec<u8>,
}

impl MergeMap {
    /// The piece holding input offset `off`: (owner section, offset inside its output).
    pub fn lookup(&self, off: u64) -> Option<((u32, u32), u64)> {
        // An offset past the end (a label after the last piece) belongs to the last piece.
        let last = self.blocks.len().checked_sub(1)?;
        let mut i = self.blocks[((off / BLOCK) as usize).min(last)] as usize;
        while self.starts.get(i + 1).is_some_and(|&s| s <= off) {
            i += 1;
        }
        let start = *self.starts.get(i)?;
        if start > off {
            return None;
        }
        let (owner, out) = self.targets[i];
        Some((owner, out + (off - start)))
    }

    /// Fills `blocks` for a section of `size` bytes once its pieces are known.
    fn index_blocks(&mut self, size: u64) {
        let n = size.div_ceil(BLOCK) as usize;
        self.blocks = Vec::with_capacity(n);
        let mut i = 0usize;
        for b in 0..n as u64 {
            while self.starts.get(i + 1).is_some_and(|&s| s <= b * BLOCK) {
                i += 1;
            }
            self.blocks.push(i as u32);
        }
    }
}

/// Bytes of input a `MergeMap::blocks` entry covers.
const BLOCK: u64 = 64;

/// A piece as the deduplicating table sees it: its kind and bytes, with their hash computed
/// beforehand (in parallel), so that the table, which must be filled in order, only compares.
struct PieceKey {
    hash: u64,
    kind: (u64, bool, u64),
    bytes: &'static [u8],
}

impl PartialEq for PieceKey {
    fn eq(&self, o: &PieceKey) -> bool {
        self.hash == o.hash && self.kind == o.kind && self.bytes == o.bytes
    }
}
impl Eq for PieceKey {}
impl std::hash::Hash for PieceKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

/// Hashes a `PieceKey` by the hash it carries.
#[derive(Default)]
struct Prehashed(u64);
impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("PieceKey hashes with write_u64")
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Whether an input section is merged: mergeable, with an entry size, and without
/// relocations (constants holding addresses are not identical just because their bytes are).
pub fn is_mergeable(sec: &crate::linker::object_file::InputSection) -> bool {
    sec.flags & elf::SHF_MERGE as u64 != 0
        && sec.entsize > 0
        && sec.sh_type != elf::SHT_NOBITS
        && sec.relocs.is_empty()
}

/// Cuts a mergeable section into pieces: NUL-terminated strings (in units of `entsize`) or
/// fixed-size records.
fn split(data: &[u8], entsize: usize, strings: bool) -> Result<Vec<(usize, usize)>> {
    let mut pieces = Vec::new();
    if !strings {
        if !data.len().is_multiple_of(entsize) {
            bail!(
                "mergeable section size {} is not a multiple of its entry size {entsize}",
                data.len()
            );
        }
        return Ok((0..data.len() / entsize)
            .map(|i| (i * entsize, entsize))
            .collect());
    }
    let mut start = 0;
    let mut i = 0;
    while i + entsize <= data.len() {
        if data[i..i + entsize].iter().all(|&b| b == 0) {
            pieces.push((start, i + entsize - start));
            start = i + entsize;
        }
        i += entsize;
    }
    if start < data.len() {
        // An unterminated tail is kept as its own piece.
        pieces.push((start, data.len() - start));
    }
    Ok(pieces)
}

/// Merges the mergeable sections among `members` (the inputs of one output section, in
/// output order), per kind (entry size, strings or not, alignment). With `within_sections`,
/// only duplicates inside one input section are merged: what a section holds then depends on
/// that section alone, not on which other inputs a program links (the version-stable layout
/// needs that to keep a library's pages identical across programs).
///
/// Sections are cut into pieces and the pieces hashed in parallel; the table that keeps the
/// first copy of each piece is filled in member order, so the output does not depend on the
/// thread count.
pub fn merge_members(
    files: &mut [ObjectFile],
    merged: &mut Vec<MergeMap>,
    members: &[(u32, u32)],
    within_sections: bool,
) -> Result<()> {
    use rayon::prelude::*;
    let mergeable: Vec<(u32, u32)> = members
        .iter()
        .copied()
        .filter(|&(f, s)| is_mergeable(&files[f as usize].sections[s as usize]))
        .collect();
    let files_ro: &[ObjectFile] = files;
    let cut: Vec<Result<Vec<(usize, usize, u64)>>> = mergeable
        .par_iter()
        .map(|&(f, s)| {
            let file = &files_ro[f as usize];
            let sec = &file.sections[s as usize];
            let strings = sec.flags & elf::SHF_STRINGS as u64 != 0;
            let pieces = split(sec.data, sec.entsize as usize, strings).map_err(|e| {
                anyhow::anyhow!(
                    "{}: section {}: {e}",
                    file.name,
                    String::from_utf8_lossy(sec.name)
                )
            })?;
            Ok(pieces
                .into_iter()
                .map(|(start, len)| {
                    let h = xxhash_rust::xxh3::xxh3_64(&sec.data[start..start + len]);
                    (
                        start,
                        len,
                        h ^ (sec.entsize << 1 | strings as u64) ^ sec.align << 8,
                    )
                })
                .collect())
        })
        .collect();
    // The first bad section in member order is the one reported, whatever the threads did.
    let cut: Vec<Vec<(usize, usize, u64)>> = cut.into_iter().collect::<Result<_>>()?;
    type Table = std::collections::HashMap<
        PieceKey,
        ((u32, u32), u64),
        std::hash::BuildHasherDefault<Prehashed>,
    >;
    let mut seen = Table::default();
    for (&(f, s), pieces) in mergeable.iter().zip(cut) {
        if within_sections {
            seen.clear();
        }
        let sec = &files[f as usize].sections[s as usize];
        let strings = sec.flags & elf::SHF_STRINGS as u64 != 0;
        // Compilers align each string of an aligned string section (`.str1.8`); every piece
        // keeps the section's alignment, as GNU ld keeps it.
        let align = if strings {
            sec.align.max(1) as usize
        } else {
            1
        };
        let kind = (sec.entsize, strings, sec.align);
        let mut map = MergeMap {
            starts: Vec::with_capacity(pieces.len()),
            blocks: Vec::new(),
            targets: Vec::with_capacity(pieces.len()),
            blob: Vec::new(),
        };
        for (start, len, hash) in pieces {
            let bytes: &'static [u8] = &sec.data[start..start + len];
            let key = PieceKey { hash, kind, bytes };
            let (owner, off) = *seen.entry(key).or_insert_with(|| {
                while !map.blob.len().is_multiple_of(align) {
                    map.blob.push(0);
                }
                let o = map.blob.len() as u64;
                map.blob.extend_from_slice(bytes);
                ((f, s), o)
            });
            map.starts.push(start as u64);
            map.targets.push((owner, off));
        }
        map.index_blocks(sec.data.len() as u64);
        let sec = &mut files[f as usize].sections[s as usize];
        sec.split = Split::Merged;
        sec.merge_idx = merged.len() as u32;
        merged.push(map);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block index finds the piece a binary search finds, for every offset and past the end.
    #[test]
    fn block_index_agrees_with_binary_search() {
        let mut starts = vec![0u64];
        let mut x = 0u64;
        for i in 0..500u64 {
            x += 1 + (i * 7919) % 97; // pieces of 1 to 97 bytes
            starts.push(x);
        }
        let size = x + 5;
        let mut m = MergeMap {
            targets: (0..starts.len() as u64)
                .map(|i| ((1, 2), i * 1000))
                .collect(),
            starts: starts.clone(),
            ..Default::default()
        };
        m.index_blocks(size);
        for off in 0..size + 70 {
            let i = starts.partition_point(|&s| s <= off) - 1;
            let want = ((1, 2), i as u64 * 1000 + (off - starts[i]));
            assert_eq!(m.lookup(off), Some(want), "offset {off}");
        }
        assert_eq!(MergeMap::default().lookup(0), None);
    }
}
