//! Merging of `SHF_MERGE` sections: identical strings and constants from all inputs bound for
//! one output section are stored once. As in GNU ld, each input section keeps its place and
//! holds the pieces that first appeared in it; later copies map to the earlier ones.

use crate::linker::object_file::{ObjectFile, Split};
use anyhow::{bail, Result};
use object::elf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the pieces of one input section ended up.
#[derive(Debug, Default)]
pub struct MergeMap {
    /// Each piece, ascending by input offset: one record, so that a lookup reads one place.
    pieces: Vec<PieceRef>,
    /// The input section's size.
    size: u64,
    /// For each block of `BLOCK` input bytes, the piece holding the block's first byte: a
    /// lookup (one per relocation into the section, such as every string reference of the
    /// debug information) starts there instead of binary-searching, which costs a cache miss
    /// per step on large string sections.
    blocks: Vec<u32>,
    /// The merged sections of the output section, which `PieceRef::owner` indexes.
    owners: std::sync::Arc<[(u32, u32)]>,
    /// This section's output: the pieces it introduced.
    pub blob: Vec<u8>,
}

/// A piece of a merged input section: its input offset and length, the section holding its
/// first copy (an index into `MergeMap::owners`) and its offset in that section's output.
#[derive(Debug, Clone, Copy)]
struct PieceRef {
    start: u32,
    len: u32,
    owner: u32,
    out: u32,
}

impl MergeMap {
    /// The piece holding input offset `off`: (owner section, offset inside its output).
    pub fn lookup(&self, off: u64) -> Option<((u32, u32), u64)> {
        // An offset past the end (a label after the last piece) belongs to the last piece.
        let last = self.blocks.len().checked_sub(1)?;
        let mut i = self.blocks[((off / BLOCK) as usize).min(last)] as usize;
        while self
            .pieces
            .get(i + 1)
            .is_some_and(|p| p.start as u64 <= off)
        {
            i += 1;
        }
        let p = *self.pieces.get(i)?;
        let start = p.start as u64;
        if start > off {
            return None;
        }
        // Inside the section but past the piece: a NUL of the padding after a string (not a
        // piece of its own), read as the empty string its terminator is.
        let len = p.len as u64;
        let delta = match off - start {
            d if d >= len && off < self.size && len > 0 => len - 1,
            d => d,
        };
        Some((self.owners[p.owner as usize], p.out as u64 + delta))
    }

    /// Fills `blocks` for a section of `size` bytes once its pieces are known.
    fn index_blocks(&mut self, size: u64) {
        let n = size.div_ceil(BLOCK) as usize;
        self.blocks = Vec::with_capacity(n);
        let mut i = 0usize;
        for b in 0..n as u64 {
            while self
                .pieces
                .get(i + 1)
                .is_some_and(|p| p.start as u64 <= b * BLOCK)
            {
                i += 1;
            }
            self.blocks.push(i as u32);
        }
    }
}

/// Bytes of input a `MergeMap::blocks` entry covers.
const BLOCK: u64 = 64;

/// A piece as the deduplicating table sees it: the 128-bit XXH3 hash of its bytes, with its
/// kind (entry size, strings or not, alignment) mixed into the first half. Pieces are equal
/// when their keys are: with 128 bits, two different strings of even millions of pieces
/// collide with a probability far below 2^-80, and comparing the bytes instead (a cache miss
/// into another input for every duplicate) was the larger part of merging debug strings.
#[derive(Clone, Copy, PartialEq, Eq)]
struct PieceKey(u64, u64);

impl std::hash::Hash for PieceKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.0);
    }
}

/// The key of a piece of bytes `bytes` in a section of kind `(entsize, strings, align)`.
fn piece_key(bytes: &[u8], entsize: u64, strings: bool, align: u64) -> PieceKey {
    let h = xxhash_rust::xxh3::xxh3_128(bytes);
    let kind = (entsize << 1 | strings as u64) ^ align.rotate_left(32);
    // Mixed so that one piece's kinds give keys far apart in the table's index bits too.
    let lo = (h as u64) ^ kind.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    PieceKey(lo, (h >> 64) as u64)
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

/// The alignment of a piece starting at `start` of a section aligned to `align`: the largest
/// power of two dividing its offset, at most the section's (as GNU ld aligns merged strings).
fn piece_align(start: usize, align: u64) -> u64 {
    if start == 0 {
        align
    } else {
        (1u64 << start.trailing_zeros()).min(align)
    }
}

/// Cuts a mergeable section into pieces (start, length, alignment): NUL-terminated strings
/// (in units of `entsize`) or fixed-size records. As GNU ld does, the NULs that follow a
/// string are padding, not empty strings, except the first one of the section that sits at an
/// aligned offset, which stands for the empty string; a string keeps the alignment its offset
/// had (compilers align every string of `.str1.8` sections).
#[cfg(test)]
fn split(
    data: &[u8],
    entsize: usize,
    strings: bool,
    align: u64,
) -> Result<Vec<(usize, usize, u64)>> {
    let mut pieces = Vec::new();
    split_each(data, entsize, strings, align, |s, n, a| {
        pieces.push((s, n, a))
    })?;
    Ok(pieces)
}

/// `split`, handing each piece to `piece` as it is found (the caller hashes it right away).
fn split_each(
    data: &[u8],
    entsize: usize,
    strings: bool,
    align: u64,
    mut piece: impl FnMut(usize, usize, u64),
) -> Result<()> {
    if !strings {
        if !data.len().is_multiple_of(entsize) {
            bail!(
                "mergeable section size {} is not a multiple of its entry size {entsize}",
                data.len()
            );
        }
        (0..data.len() / entsize).for_each(|i| piece(i * entsize, entsize, 1));
        return Ok(());
    }
    let align = align.max(1);
    let is_nul = |at: usize| data[at..at + entsize].iter().all(|&b| b == 0);
    // The end of the string starting at `at`: just past its terminator, or the section's end
    // for an unterminated tail (kept as a piece of its own).
    let string_end = |at: usize| -> usize {
        if entsize == 1 {
            return memchr::memchr(0, &data[at..]).map_or(data.len(), |i| at + i + 1);
        }
        let mut i = at;
        while i + entsize <= data.len() {
            if is_nul(i) {
                return i + entsize;
            }
            i += entsize;
        }
        data.len()
    };
    let mut empty_seen = false;
    let mut p = 0;
    while p < data.len() {
        let end = string_end(p);
        piece(p, end - p, piece_align(p, align));
        p = end;
        while p + entsize <= data.len() && is_nul(p) {
            if !empty_seen && (p as u64).is_multiple_of(align) {
                empty_seen = true;
                piece(p, entsize, align);
            }
            p += entsize;
        }
        if p < data.len() && p + entsize > data.len() {
            // A partial unit at the end: its own piece.
            piece(p, data.len() - p, piece_align(p, align));
            break;
        }
    }
    Ok(())
}

/// Merges the mergeable sections among `members` (the inputs of one output section, in
/// output order), per kind (entry size, strings or not, alignment). With `within_sections`,
/// only duplicates inside one input section are merged: what a section holds then depends on
/// that section alone, not on which other inputs a program links (the version-stable layout
/// needs that to keep a library's pages identical across programs).
///
/// The result is that of merging the sections one after another, the first copy of a piece
/// owning it, but the work is parallel: sections are cut and their pieces hashed per section,
/// duplicates are found per shard of the hash space (each shard walks its pieces in member
/// order, so the first copy wins whatever the thread count), and each section's output is
/// built on its own.
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
    if mergeable.is_empty() {
        return Ok(());
    }
    let ro: &[ObjectFile] = files;
    let sec_of = |m: usize| {
        let (f, s) = mergeable[m];
        &ro[f as usize].sections[s as usize]
    };
    let kind_of = |m: usize| {
        let sec = sec_of(m);
        (
            sec.entsize,
            sec.flags & elf::SHF_STRINGS as u64 != 0,
            sec.align,
        )
    };
    let cut: Vec<Result<Vec<Cut>>> = (0..mergeable.len())
        .into_par_iter()
        .with_max_len(1)
        .map(|m| {
            let sec = sec_of(m);
            let (entsize, strings, align) = kind_of(m);
            let mut pieces = Vec::new();
            split_each(
                sec.data,
                entsize as usize,
                strings,
                align,
                |start, len, a| {
                    let key = piece_key(&sec.data[start..start + len], entsize, strings, align);
                    pieces.push((start, len, key, a));
                },
            )
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}: section {}: {e}",
                    ro[mergeable[m].0 as usize].name,
                    String::from_utf8_lossy(sec.name)
                )
            })?;
            Ok(pieces)
        })
        .collect();
    // The first bad section in member order is the one reported, whatever the threads did.
    let cut: Vec<Vec<Cut>> = cut.into_iter().collect::<Result<_>>()?;
    // Offsets are kept in 32 bits (`PieceRef`): an input section and its output are smaller.
    if let Some(m) = (0..cut.len()).find(|&m| sec_of(m).data.len() > u32::MAX as usize) {
        bail!(
            "{}: mergeable section {} is larger than 4 GiB",
            ro[mergeable[m].0 as usize].name,
            String::from_utf8_lossy(sec_of(m).name)
        );
    }
    let key = |m: usize, p: usize| cut[m][p].2;

    // Owner of every piece: (member, piece) of its first copy, packed in a u64.
    let owner: Vec<Vec<AtomicU64>> = cut
        .iter()
        .enumerate()
        .map(|(m, ps)| (0..ps.len()).map(|p| AtomicU64::new(pack(m, p))).collect())
        .collect();
    if within_sections {
        (0..cut.len()).into_par_iter().for_each(|m| {
            let mut seen = Table::default();
            for (p, slot) in owner[m].iter().enumerate() {
                let first = *seen.entry(key(m, p)).or_insert(pack(m, p));
                slot.store(first, Ordering::Relaxed);
            }
        });
    } else {
        // Piece indices of each member by shard, then each shard on its own.
        let shard_of = |hash: u64| (hash >> (64 - SHARDS.trailing_zeros())) as usize;
        let by_shard: Vec<Vec<Vec<u32>>> = cut
            .par_iter()
            .map(|ps| {
                let mut v = vec![Vec::new(); SHARDS];
                for (p, &(_, _, key, _)) in ps.iter().enumerate() {
                    v[shard_of(key.0)].push(p as u32);
                }
                v
            })
            .collect();
        (0..SHARDS).into_par_iter().for_each(|k| {
            let n: usize = by_shard.iter().map(|s| s[k].len()).sum();
            let mut seen = Table::with_capacity_and_hasher(n, Default::default());
            for (m, shards) in by_shard.iter().enumerate() {
                for &p in &shards[k] {
                    let p = p as usize;
                    let first = *seen.entry(key(m, p)).or_insert(pack(m, p));
                    owner[m][p].store(first, Ordering::Relaxed);
                }
            }
        });
    }
    let owner: Vec<Vec<u64>> = owner
        .into_iter()
        .map(|v| v.into_iter().map(AtomicU64::into_inner).collect())
        .collect();

    // A string is aligned as the most aligned of its copies requires (GNU ld's rule).
    let align: Vec<Vec<AtomicU64>> = cut
        .iter()
        .map(|ps| ps.iter().map(|&(.., a)| AtomicU64::new(a)).collect())
        .collect();
    (0..cut.len()).into_par_iter().for_each(|m| {
        for (p, &(.., a)) in cut[m].iter().enumerate() {
            let (om, op) = unpack(owner[m][p]);
            if (om, op) != (m, p) {
                align[om][op].fetch_max(a, Ordering::Relaxed);
            }
        }
    });

    // Each section's output: the pieces it owns, in its order, strings aligned as above.
    let built: Vec<(Vec<u8>, Vec<u64>)> = (0..cut.len())
        .into_par_iter()
        .map(|m| {
            let sec = sec_of(m);
            let mut blob = Vec::new();
            let mut offs = vec![0u64; cut[m].len()];
            for (p, &(start, len, ..)) in cut[m].iter().enumerate() {
                if owner[m][p] == pack(m, p) {
                    let a = align[m][p].load(Ordering::Relaxed).max(1) as usize;
                    blob.resize(blob.len().next_multiple_of(a), 0);
                    offs[p] = blob.len() as u64;
                    blob.extend_from_slice(&sec.data[start..start + len]);
                }
            }
            (blob, offs)
        })
        .collect();
    if built.iter().any(|(blob, _)| blob.len() > u32::MAX as usize) {
        bail!("a merged section's output is larger than 4 GiB");
    }
    let owners: std::sync::Arc<[(u32, u32)]> = mergeable.clone().into();
    let maps: Vec<MergeMap> = (0..cut.len())
        .into_par_iter()
        .map(|m| {
            let mut map = MergeMap {
                pieces: cut[m]
                    .iter()
                    .zip(&owner[m])
                    .map(|(&(start, len, ..), &o)| {
                        let (om, op) = unpack(o);
                        PieceRef {
                            start: start as u32,
                            len: len as u32,
                            owner: om as u32,
                            out: built[om].1[op] as u32,
                        }
                    })
                    .collect(),
                size: sec_of(m).data.len() as u64,
                blocks: Vec::new(),
                owners: owners.clone(),
                blob: Vec::new(),
            };
            map.index_blocks(sec_of(m).data.len() as u64);
            map
        })
        .collect();
    for ((map, (blob, _)), &(f, s)) in maps.into_iter().zip(built).zip(&mergeable) {
        let sec = &mut files[f as usize].sections[s as usize];
        sec.split = Split::Merged;
        sec.merge_idx = merged.len() as u32;
        merged.push(MergeMap { blob, ..map });
    }
    Ok(())
}

/// A piece of a section as cut: input start, length, key, alignment.
type Cut = (usize, usize, PieceKey, u64);

/// Shards of the hash space that find duplicates in parallel (a power of two: a piece's
/// shard is the top bits of its hash).
const SHARDS: usize = 64;

type Table = std::collections::HashMap<PieceKey, u64, std::hash::BuildHasherDefault<Prehashed>>;

fn pack(m: usize, p: usize) -> u64 {
    (m as u64) << 32 | p as u64
}

fn unpack(v: u64) -> (usize, usize) {
    ((v >> 32) as usize, v as u32 as usize)
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
        let pieces = starts
            .iter()
            .zip(starts.iter().skip(1).chain(std::iter::once(&size)))
            .enumerate()
            .map(|(i, (a, b))| PieceRef {
                start: *a as u32,
                len: (b - a) as u32,
                owner: 0,
                out: i as u32 * 1000,
            })
            .collect();
        let mut m = MergeMap {
            pieces,
            size,
            owners: vec![(1, 2)].into(),
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

    /// GNU ld's cut of an aligned string section: padding NULs are no pieces, the first
    /// aligned NUL run gives the empty string, each string keeps its offset's alignment.
    #[test]
    fn aligned_strings_are_cut_as_gnu_ld_cuts_them() {
        // "abcdefghi\0" (10 bytes), padding to 16, "x\0" at 16, "y\0" at 18, 4 NULs up
        // to 24 (one at an aligned offset: the empty string), "zz\0" at 24.
        let mut data = b"abcdefghi\0".to_vec();
        data.resize(16, 0);
        data.extend_from_slice(b"x\0y\0");
        data.resize(24, 0);
        data.extend_from_slice(b"zz\0");
        let pieces = split(&data, 1, true, 8).unwrap();
        assert_eq!(
            pieces,
            vec![(0, 10, 8), (16, 2, 8), (18, 2, 2), (24, 3, 8)],
            "padding after y is not aligned, so no empty string"
        );
        let mut data = b"ab\0".to_vec();
        data.resize(8, 0);
        data.extend_from_slice(b"\0\0c\0");
        let pieces = split(&data, 1, true, 8).unwrap();
        assert_eq!(pieces, vec![(0, 3, 8), (8, 1, 8), (10, 2, 2)]);
        // Unaligned sections: every NUL run after a string holds the empty string once.
        let pieces = split(b"a\0\0b\0\0", 1, true, 1).unwrap();
        assert_eq!(pieces, vec![(0, 2, 1), (2, 1, 1), (3, 2, 1)]);
    }
}
