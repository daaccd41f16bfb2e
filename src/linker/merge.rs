//! Merging of `SHF_MERGE` sections: identical strings and constants from all inputs bound for
//! one output section are stored once. As in GNU ld, each input section keeps its place and
//! holds the pieces that first appeared in it; later copies map to the earlier ones.

use crate::linker::object_file::{ObjectFile, Split};
use crate::linker::symbols::FastMap;
use anyhow::{bail, Result};
use object::elf;

/// Where the pieces of one input section ended up.
#[derive(Debug, Default)]
pub struct MergeMap {
    /// (input offset, section holding the piece, offset inside that section's output),
    /// sorted by input offset.
    pieces: Vec<(u64, (u32, u32), u64)>,
    /// This section's output: the pieces it introduced.
    pub blob: Vec<u8>,
}

impl MergeMap {
    /// The piece holding input offset `off`: (owner section, offset inside its output).
    pub fn lookup(&self, off: u64) -> Option<((u32, u32), u64)> {
        let i = self.pieces.partition_point(|&(start, _, _)| start <= off);
        let (start, owner, out) = self.pieces.get(i.checked_sub(1)?)?;
        Some((*owner, out + (off - start)))
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
pub fn merge_members(
    files: &mut [ObjectFile],
    merged: &mut Vec<MergeMap>,
    members: &[(u32, u32)],
    within_sections: bool,
) -> Result<()> {
    // (entry size, strings, alignment, bytes) -> (section holding the piece, its offset).
    type Key = (u64, bool, u64, &'static [u8]);
    let mut seen: FastMap<Key, ((u32, u32), u64)> = FastMap::default();
    for &(f, s) in members {
        if within_sections {
            seen.clear();
        }
        let file = &files[f as usize];
        let sec = &file.sections[s as usize];
        if !is_mergeable(sec) {
            continue;
        }
        let strings = sec.flags & elf::SHF_STRINGS as u64 != 0;
        let pieces = split(sec.data, sec.entsize as usize, strings).map_err(|e| {
            anyhow::anyhow!(
                "{}: section {}: {e}",
                file.name,
                String::from_utf8_lossy(sec.name)
            )
        })?;
        // Compilers align each string of an aligned string section (`.str1.8`); every piece
        // keeps the section's alignment, as GNU ld keeps it.
        let align = if strings {
            sec.align.max(1) as usize
        } else {
            1
        };
        let kind = (sec.entsize, strings, sec.align);
        let mut map = MergeMap {
            pieces: Vec::with_capacity(pieces.len()),
            blob: Vec::new(),
        };
        for (start, len) in pieces {
            let bytes: &'static [u8] = &sec.data[start..start + len];
            let (owner, off) = *seen
                .entry((kind.0, kind.1, kind.2, bytes))
                .or_insert_with(|| {
                    while !map.blob.len().is_multiple_of(align) {
                        map.blob.push(0);
                    }
                    let o = map.blob.len() as u64;
                    map.blob.extend_from_slice(bytes);
                    ((f, s), o)
                });
            map.pieces.push((start as u64, owner, off));
        }
        let sec = &mut files[f as usize].sections[s as usize];
        sec.split = Split::Merged;
        sec.merge_idx = merged.len() as u32;
        merged.push(map);
    }
    Ok(())
}
