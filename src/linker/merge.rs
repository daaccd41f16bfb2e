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
    if entsize == 1 {
        // The common case (C strings): find the terminators a vector at a time.
        for i in memchr::memchr_iter(0, data) {
            pieces.push((start, i + 1 - start));
            start = i + 1;
        }
    } else {
        let mut i = 0;
        while i + entsize <= data.len() {
            if data[i..i + entsize].iter().all(|&b| b == 0) {
                pieces.push((start, i + entsize - start));
                start = i + entsize;
            }
            i += entsize;
        }
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
    let cut: Vec<Result<Vec<(usize, usize, u64)>>> = (0..mergeable.len())
        .into_par_iter()
        .map(|m| {
            let sec = sec_of(m);
            let (entsize, strings, align) = kind_of(m);
            let pieces = split(sec.data, entsize as usize, strings).map_err(|e| {
                anyhow::anyhow!(
                    "{}: section {}: {e}",
                    ro[mergeable[m].0 as usize].name,
                    String::from_utf8_lossy(sec.name)
                )
            })?;
            Ok(pieces
                .into_iter()
                .map(|(start, len)| {
                    let h = xxhash_rust::xxh3::xxh3_64(&sec.data[start..start + len]);
                    (start, len, h ^ (entsize << 1 | strings as u64) ^ align << 8)
                })
                .collect())
        })
        .collect();
    // The first bad section in member order is the one reported, whatever the threads did.
    let cut: Vec<Vec<(usize, usize, u64)>> = cut.into_iter().collect::<Result<_>>()?;
    if cut.iter().any(|ps| ps.len() > u32::MAX as usize) {
        bail!("a mergeable section has more than 2^32 pieces");
    }
    let key = |m: usize, p: usize| {
        let (start, len, hash) = cut[m][p];
        PieceKey {
            hash,
            kind: kind_of(m),
            bytes: &sec_of(m).data[start..start + len],
        }
    };

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
                for (p, &(_, _, h)) in ps.iter().enumerate() {
                    v[shard_of(h)].push(p as u32);
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

    // Each section's output: the pieces it owns, in its order, each aligned like the section
    // (compilers align every string of an aligned string section, `.str1.8`; GNU ld keeps it).
    let built: Vec<(Vec<u8>, Vec<u64>)> = (0..cut.len())
        .into_par_iter()
        .map(|m| {
            let sec = sec_of(m);
            let (_, strings, _) = kind_of(m);
            let align = if strings {
                sec.align.max(1) as usize
            } else {
                1
            };
            let mut blob = Vec::new();
            let mut offs = vec![0u64; cut[m].len()];
            for (p, &(start, len, _)) in cut[m].iter().enumerate() {
                if owner[m][p] == pack(m, p) {
                    while !blob.len().is_multiple_of(align) {
                        blob.push(0);
                    }
                    offs[p] = blob.len() as u64;
                    blob.extend_from_slice(&sec.data[start..start + len]);
                }
            }
            (blob, offs)
        })
        .collect();
    let maps: Vec<MergeMap> = (0..cut.len())
        .into_par_iter()
        .map(|m| {
            let mut map = MergeMap {
                starts: cut[m].iter().map(|&(start, _, _)| start as u64).collect(),
                blocks: Vec::new(),
                targets: owner[m]
                    .iter()
                    .map(|&o| {
                        let (om, op) = unpack(o);
                        (mergeable[om], built[om].1[op])
                    })
                    .collect(),
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
