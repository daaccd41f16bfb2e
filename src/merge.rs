//! Merging of `SHF_MERGE` sections: identical strings and constants from all inputs are
//! stored once, and offsets into the input sections are mapped to the merged copy.

use crate::object_file::ObjectFile;
use crate::symbols::FastMap;
use anyhow::{bail, Result};
use object::elf;

/// Where the pieces of one input section ended up, relative to the output section.
#[derive(Debug, Default)]
pub struct MergeMap {
    /// (input offset, output offset) per piece, sorted by input offset.
    pieces: Vec<(u64, u64)>,
}

impl MergeMap {
    pub fn map(&self, off: u64) -> u64 {
        let i = self.pieces.partition_point(|&(start, _)| start <= off);
        match i.checked_sub(1).map(|k| self.pieces[k]) {
            Some((start, out)) => out + (off - start),
            // An offset before the first piece (impossible for valid input): keep it relative.
            None => off,
        }
    }
}

/// Cuts a mergeable section into pieces: NUL-terminated strings (in units of `entsize`) or
/// fixed-size records.
fn split(data: &[u8], entsize: usize, strings: bool) -> Result<Vec<(usize, usize)>> {
    let mut pieces = Vec::new();
    if !strings {
        if data.len() % entsize != 0 {
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

/// Merges `inputs` (sections with the same entry size and kind, bound for one output section)
/// into one blob placed at `base` inside the output section.
pub fn merge_group(
    files: &[ObjectFile],
    inputs: &[(u32, u32)],
    base: u64,
) -> Result<(Vec<u8>, Vec<((u32, u32), MergeMap)>)> {
    let mut blob: Vec<u8> = Vec::new();
    let mut seen: FastMap<&'static [u8], u64> = FastMap::default();
    let mut maps = Vec::with_capacity(inputs.len());
    for &(f, s) in inputs {
        let file = &files[f as usize];
        let sec = &file.sections[s as usize];
        let strings = sec.flags & elf::SHF_STRINGS as u64 != 0;
        let pieces = split(sec.data, sec.entsize.max(1) as usize, strings).map_err(|e| {
            anyhow::anyhow!(
                "{}: section {}: {e}",
                file.name,
                String::from_utf8_lossy(sec.name)
            )
        })?;
        let mut map = MergeMap {
            pieces: Vec::with_capacity(pieces.len()),
        };
        for (start, len) in pieces {
            let bytes: &'static [u8] = &sec.data[start..start + len];
            let out = *seen.entry(bytes).or_insert_with(|| {
                let o = blob.len() as u64;
                blob.extend_from_slice(bytes);
                o
            });
            map.pieces.push((start as u64, base + out));
        }
        maps.push(((f, s), map));
    }
    Ok((blob, maps))
}
