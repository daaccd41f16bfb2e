//! Placing one regioned output section: each library's input sections (pieces) in its region,
//! where the layout file says, with trampolines for code that had to move.

use super::piece::{Granule, Group, Piece, PAGE, TRAMPOLINE};
use crate::layout_file::{LayoutFile, PieceFunctions, Rec};
use crate::linker::layout::Chunk;
use std::collections::BTreeMap;

/// Key under which the layout file records where a moved piece went.
fn moved_key(key: &str) -> String {
    format!("{key}@moved")
}

/// Key under which the layout file keeps the place a piece had before its content changed
/// and the library was repacked, so that relinking that version finds it again.
fn history_key(key: &str, hash: u64) -> String {
    format!("{key}#{hash:016x}")
}

fn is_current(key: &str) -> bool {
    !key.contains('#')
}

/// Ranges of a region this link has given out (disjoint; empty ranges are not kept).
#[derive(Default)]
struct Used(BTreeMap<u64, u64>);

impl Used {
    fn is_free(&self, off: u64, size: u64) -> bool {
        size == 0
            || self
                .0
                .range(..off + size)
                .next_back()
                .is_none_or(|(_, &end)| end <= off)
    }

    /// Takes `[off, off + size)` if it is free.
    fn take(&mut self, off: u64, size: u64) -> bool {
        let ok = self.is_free(off, size);
        if ok && size > 0 {
            self.0.insert(off, off + size);
        }
        ok
    }

    /// The free stretches of `[0, end)`.
    fn gaps(&self, end: u64) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut at = 0;
        for (&a, &b) in &self.0 {
            if a > at {
                gaps.push((at, a.min(end)));
            }
            at = at.max(b);
        }
        if at < end {
            gaps.push((at, end));
        }
        gaps.retain(|(a, b)| a < b);
        gaps
    }
}

/// What the layout file says about one library in one output section.
struct OldRegion<'a> {
    pieces: &'a BTreeMap<String, Rec>,
    /// Input section key -> function symbol -> offset (see `LayoutFile::syms`).
    syms: &'a PieceFunctions,
    /// Content hash -> recorded places with that content.
    by_hash: rustc_hash::FxHashMap<u64, Vec<Rec>>,
    reserved: u64,
}

/// What a library the layout file does not know has on record: nothing.
static NO_PIECES: BTreeMap<String, Rec> = BTreeMap::new();
static NO_SYMS: PieceFunctions = BTreeMap::new();

impl<'a> OldRegion<'a> {
    fn new(pieces: &'a BTreeMap<String, Rec>, syms: &'a PieceFunctions, reserved: u64) -> Self {
        let mut by_hash: rustc_hash::FxHashMap<u64, Vec<Rec>> = Default::default();
        for r in pieces.values() {
            if let Some(h) = r.hash {
                by_hash.entry(h).or_default().push(*r);
            }
        }
        OldRegion {
            pieces,
            syms,
            by_hash,
            reserved,
        }
    }

    /// Whether code that other libraries call has functions inside it (not at its start) at
    /// other offsets than last time: staying would move them under their callers, while moving
    /// the section leaves a jump at each function's old address.
    fn functions_shifted(&self, p: &Piece) -> bool {
        let Some(old) = self.syms.get(&p.key) else {
            return false;
        };
        p.exec
            && p.external
            && p.funcs
                .iter()
                .any(|(name, off)| old.get(name).is_some_and(|o| o != off))
    }

    fn unchanged(&self, p: &Piece) -> bool {
        self.pieces
            .get(&p.key)
            .is_some_and(|r| r.hash == Some(p.hash))
    }

    /// Whether most of the library is new to the layout file and hardly a page of its region
    /// would keep its bytes if unchanged pieces stayed: then its changed pieces are repacked.
    fn changed_nearly_everywhere(&self, pieces: &[Piece]) -> bool {
        if self.pieces.is_empty() || self.pieces.values().any(|r| r.hash.is_none()) {
            return false;
        }
        let total: u64 = pieces.iter().map(|p| p.size).sum();
        let new: u64 = pieces
            .iter()
            .filter(|p| !self.by_hash.contains_key(&p.hash))
            .map(|p| p.size)
            .sum();
        // Per page: (covered by an unchanged piece, covered by anything else).
        let by_key: rustc_hash::FxHashMap<&str, &Piece> =
            pieces.iter().map(|p| (p.key.as_str(), p)).collect();
        let mut pages = vec![(false, false); self.reserved.div_ceil(PAGE) as usize];
        for (k, r) in self
            .pieces
            .iter()
            .filter(|(k, r)| is_current(k) && r.size > 0)
        {
            let base = k.strip_suffix("@moved").unwrap_or(k);
            let kept = by_key.get(base).is_some_and(|p| r.hash == Some(p.hash));
            for pg in r.off / PAGE..r.end().div_ceil(PAGE).min(pages.len() as u64) {
                let st = &mut pages[pg as usize];
                if kept {
                    st.0 = true;
                } else {
                    st.1 = true;
                }
            }
        }
        let content = pages.iter().filter(|(a, b)| *a || *b).count();
        let clean = pages.iter().filter(|(a, b)| *a && !*b).count();
        new * 2 > total && clean * 10 < content
    }

    /// Whether `p` can grow at its old offset into room no other record uses.
    fn grows_in_place(&self, p: &Piece) -> Option<u64> {
        let o = self.pieces.get(&p.key)?.off;
        let moved = moved_key(&p.key);
        let free = o.is_multiple_of(p.align)
            && o + p.size <= self.reserved
            && self.pieces.iter().all(|(k, r)| {
                *k == p.key || *k == moved || !is_current(k) || r.end() <= o || r.off >= o + p.size
            });
        free.then_some(o)
    }
}

/// Offsets (in the region) for the pieces the layout file has a place for, in order of
/// preference: the place of the same content under the piece's own key; the place of the same
/// content under any key (a renamed section, or an older version coming back); the piece's own
/// old place; the place it moved to last time; growing in place. When `repack`, only unchanged
/// pieces and pieces other libraries refer to are placed here.
fn keep_places(
    old: &OldRegion,
    pieces: &[Piece],
    repack: bool,
    used: &mut Used,
) -> Vec<Option<u64>> {
    let mut offs: Vec<Option<u64>> = vec![None; pieces.len()];
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<bool> = pieces.iter().map(|p| seen.insert(p.key.as_str())).collect();
    for pass in 0..5 {
        for (i, p) in pieces.iter().enumerate() {
            if !unique[i] || offs[i].is_some() || (repack && pass > 0 && !p.external) {
                continue;
            }
            let fits = |r: &Rec| p.size <= r.size && r.off.is_multiple_of(p.align);
            let at = |k: &str| old.pieces.get(k).filter(|r| fits(r)).map(|r| r.off);
            let o = match pass {
                0 => at(&p.key).filter(|_| old.unchanged(p)),
                1 => old.by_hash.get(&p.hash).and_then(|rs| {
                    rs.iter()
                        .filter(|r| fits(r) && used.is_free(r.off, p.size))
                        .map(|r| r.off)
                        .min()
                }),
                2 => at(&p.key).filter(|_| !old.functions_shifted(p)),
                3 => at(&moved_key(&p.key)),
                _ => old.grows_in_place(p).filter(|_| !old.functions_shifted(p)),
            };
            if let Some(o) = o.filter(|&o| used.take(o, p.size)) {
                offs[i] = Some(o);
            }
        }
    }
    offs
}

/// Places the chunks of a regioned output section: each library's pieces together in a region
/// that starts on a page (a granule, for the TLS template). A library the old layout knows
/// keeps its region; inside it, pieces keep their places as `keep_places` says. A piece without
/// one goes into the room pieces that moved out left (after their trampolines), else to the
/// free room at the end of the region, else to a delta area after every region of the
/// section; code that moved leaves a trampoline (a jump to its new place) at its old offset, so
/// that callers keep their bytes.
///
/// When most of a library changed and hardly a page would keep its bytes anyway, keeping every
/// changed piece at its old offset fragments the region so that grown pieces spill into the
/// delta area. Then only unchanged pieces and the pieces other libraries refer to keep their
/// places; the rest is packed into the region's free room, largest first. A new library gets a
/// new region after everything else. Returns chunk offsets, trampolines (chunk, offset of the
/// old place) and the section size.
pub fn place_regions(
    recorded: &LayoutFile,
    written: &mut LayoutFile,
    notes: &mut Vec<String>,
    section: &str,
    groups: Vec<Group>,
) -> Placement {
    let granule = Granule::of(section);
    let mut old_end = 0u64;
    for ((s, lib), &(o, r)) in &recorded.regions {
        if s != section {
            continue;
        }
        old_end = old_end.max(o + r);
        if let Some(p) = recorded.pieces.get(&(s.clone(), lib.clone())) {
            old_end = old_end.max(p.values().map(|r| o + r.end()).max().unwrap_or(0));
        }
    }
    // The delta area and new regions start after everything the old layout used.
    let mut cursor = old_end.next_multiple_of(granule.align);
    let mut out = Placement::default();
    // The section ends where its last byte is: reserved room after it, and the regions of
    // libraries this link lacks, cost address space only when nothing follows them.
    let mut end = 0u64;
    for (lib, pieces) in groups {
        let key = (section.to_string(), lib.clone());
        let (region_off, reserved) = match recorded.regions.get(&key) {
            Some(&r) => r,
            None => {
                let size = pieces
                    .iter()
                    .fold(0u64, |o, p| o.next_multiple_of(p.align) + p.size);
                // A library with nothing in this section (crti.o's .data, say) takes no
                // room; it gets a region when it has something to put there. Its empty input
                // sections sit at the start of the section.
                match granule.reserve(size) {
                    0 => (0, 0),
                    reserved => {
                        cursor = cursor.next_multiple_of(granule.align);
                        cursor += reserved;
                        (cursor - reserved, reserved)
                    }
                }
            }
        };
        let old = OldRegion::new(
            recorded.pieces.get(&key).unwrap_or(&NO_PIECES),
            recorded.syms.get(&key).unwrap_or(&NO_SYMS),
            reserved,
        );
        let repack = recorded.regions.contains_key(&key) && old.changed_nearly_everywhere(&pieces);
        let mut used = Used::default();
        let mut offs = keep_places(&old, &pieces, repack, &mut used);
        // Trampoline places: the old places of moved code, and of the functions inside it (in a
        // repacked library, only of what other libraries call).
        for (i, p) in pieces.iter().enumerate() {
            match old.pieces.get(&p.key) {
                Some(r)
                    if offs[i].is_none()
                        && p.exec
                        && (!repack || p.external)
                        && r.size >= TRAMPOLINE
                        && r.end() <= reserved =>
                {
                    used.take(r.off, TRAMPOLINE);
                    let recorded = old.syms.get(&p.key);
                    for (name, _) in p.funcs.iter() {
                        if let Some(&o) = recorded.and_then(|m| m.get(name)) {
                            if r.off + o + TRAMPOLINE <= r.end() {
                                used.take(r.off + o, TRAMPOLINE);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        // Room that pieces moving out of this link leave behind (all but their trampoline):
        // other moved pieces go there first, on pages that changed anyway. A repacked library
        // may use all of its region that nothing above took.
        let mut holes: Vec<(u64, u64)> = if repack {
            used.gaps(reserved)
        } else {
            pieces
                .iter()
                .zip(&offs)
                .filter(|(_, o)| o.is_none())
                // Not the old place of code with functions inside: jumps go to each of them.
                .filter(|(p, _)| !(p.exec && old.syms.contains_key(&p.key)))
                .filter_map(|(p, _)| {
                    let r = old.pieces.get(&p.key)?;
                    let start = if p.exec { r.off + TRAMPOLINE } else { r.off };
                    (start < r.end() && r.end() <= reserved).then_some((start, r.end()))
                })
                .collect()
        };
        holes.sort();
        // The free room at the end of the region: after every record and every placed piece.
        let mut tail = if repack {
            reserved
        } else {
            old.pieces
                .values()
                .map(Rec::end)
                .filter(|&e| e <= reserved)
                .chain(used.0.values().copied().filter(|&e| e <= reserved))
                .max()
                .unwrap_or(0)
        };
        // Largest first when repacking (fewer pages), the usual order otherwise.
        let mut rest: Vec<usize> = (0..pieces.len()).filter(|&i| offs[i].is_none()).collect();
        if repack {
            rest.sort_by_key(|&i| std::cmp::Reverse(pieces[i].size));
        }
        log::debug!(
            "{section} {lib}: repack {repack}, {} of {} pieces kept, {} holes",
            offs.iter().filter(|o| o.is_some()).count(),
            pieces.len(),
            holes.len()
        );
        for i in rest {
            let p = &pieces[i];
            let in_hole = holes.iter().enumerate().find_map(|(j, &(a, b))| {
                let o = a.next_multiple_of(p.align);
                (o + p.size <= b && used.is_free(o, p.size)).then_some((j, o))
            });
            let t = tail.next_multiple_of(p.align);
            offs[i] = Some(if let Some((j, o)) = in_hole {
                // The rest of the hole stays available.
                holes[j].0 = o + p.size;
                used.take(o, p.size);
                o
            } else if t + p.size <= reserved {
                tail = t + p.size;
                used.take(t, p.size);
                t
            } else {
                // Delta area: outside the region, after everything else.
                cursor = cursor.next_multiple_of(p.align) + p.size;
                cursor - p.size - region_off
            });
        }
        let offs: Vec<u64> = offs.into_iter().map(|o| o.unwrap_or(0)).collect();
        for (p, &o) in pieces.iter().zip(&offs) {
            if p.size > 0 {
                end = end.max(region_off + o + p.size);
            }
        }
        let (new_pieces, moves) = record_pieces(&old, &pieces, &offs, repack);
        for (i, moved) in moves {
            match moved {
                Moved::Code(value, at) => {
                    out.trampolines
                        .push((pieces[i].chunk, value, region_off + at))
                }
                Moved::Data => {
                    notes.push(format!("{} of {lib} moved within {section}", pieces[i].key))
                }
            }
        }
        // Functions inside code sections: where they are now, except for code that moved,
        // whose jumps stay at the old offsets.
        let mut new_syms = old.syms.clone();
        for (p, &o) in pieces.iter().zip(&offs) {
            let moved = old
                .pieces
                .get(&p.key)
                .is_some_and(|r| (p.external || !repack) && r.off != o);
            if moved {
                continue;
            }
            if p.funcs.is_empty() {
                new_syms.remove(&p.key);
            } else {
                new_syms.insert(p.key.clone(), p.funcs.iter().cloned().collect());
            }
        }
        if reserved > 0 {
            written.regions.insert(key.clone(), (region_off, reserved));
            if !new_syms.is_empty() {
                written.syms.insert(key.clone(), new_syms);
            }
            written.pieces.insert(key, new_pieces);
        }
        for (p, o) in pieces.into_iter().zip(offs) {
            out.chunks.push((p.chunk, region_off + o));
        }
    }
    // Every recorded region keeps its room where the section must keep its size (the TLS
    // block); elsewhere the section ends at its last byte.
    out.size = if granule.keep_size {
        end.max(cursor).max(old_end)
    } else {
        end
    };
    // Regions of libraries this link does not have stay reserved for the links that do.
    for (k, v) in &recorded.regions {
        if k.0 == section {
            written.regions.entry(k.clone()).or_insert(*v);
            if let Some(p) = recorded.pieces.get(k) {
                written.pieces.entry(k.clone()).or_insert_with(|| p.clone());
            }
            if let Some(y) = recorded.syms.get(k) {
                written.syms.entry(k.clone()).or_insert_with(|| y.clone());
            }
        }
    }
    out
}

/// A piece that left the place the layout file had for it.
enum Moved {
    /// Code: a trampoline at an offset of its old place (second) jumps to an offset inside
    /// the moved section (first: its start, or a function in it).
    Code(u64, u64),
    /// Data, which cannot be redirected.
    Data,
}

/// The records of one library's pieces after this link, and the pieces that moved (by index).
fn record_pieces(
    old: &OldRegion,
    pieces: &[Piece],
    offs: &[u64],
    repack: bool,
) -> (BTreeMap<String, Rec>, Vec<(usize, Moved)>) {
    let mut placed = Used::default();
    for (p, &o) in pieces.iter().zip(offs).filter(|(p, _)| p.size > 0) {
        placed.0.insert(o, o + p.size);
    }
    let mut moves = Vec::new();
    let mut new_pieces = old.pieces.clone();
    for (i, (p, &o)) in pieces.iter().zip(offs).enumerate() {
        let rec = Rec {
            off: o,
            size: p.size,
            hash: Some(p.hash),
        };
        match old.pieces.get(&p.key) {
            // In its old place: keep the room it had so that it can grow back.
            Some(r) if r.off == o => {
                let size = r.size.max(p.size);
                new_pieces.insert(p.key.clone(), Rec { size, ..rec });
            }
            // Repacked without a trampoline: this is its place now; the old one stays on
            // record under its content hash for the version that had it.
            Some(r) if repack && !p.external => {
                if let Some(h) = r.hash.filter(|&h| h != p.hash) {
                    new_pieces.insert(history_key(&p.key, h), *r);
                }
                new_pieces.insert(p.key.clone(), rec);
            }
            // Moved: the old place stays reserved (for a trampoline, and for the old version),
            // the new one is recorded beside it.
            Some(r) => {
                new_pieces.insert(moved_key(&p.key), rec);
                // A trampoline only where nothing of this link was placed: without one,
                // references use the new place, which is correct, only less shared.
                if p.exec && r.size >= TRAMPOLINE {
                    if placed.is_free(r.off, TRAMPOLINE) {
                        moves.push((i, Moved::Code(0, r.off)));
                        // And one at each function's old address, where it can be had.
                        let mut spots = Used::default();
                        spots.take(r.off, TRAMPOLINE);
                        let old_funcs = old.syms.get(&p.key);
                        for (name, value) in p.funcs.iter() {
                            let Some(&o) = old_funcs.and_then(|m| m.get(name)) else {
                                continue;
                            };
                            let at = r.off + o;
                            if at + TRAMPOLINE <= r.end()
                                && placed.is_free(at, TRAMPOLINE)
                                && spots.take(at, TRAMPOLINE)
                            {
                                moves.push((i, Moved::Code(*value, at)));
                            }
                        }
                    }
                } else if !p.exec {
                    moves.push((i, Moved::Data));
                }
            }
            None => {
                new_pieces.insert(p.key.clone(), rec);
            }
        }
    }
    (new_pieces, moves)
}

/// Where the pieces of a regioned section went.
#[derive(Debug, Default, Clone)]
pub struct Placement {
    /// Chunks and their offsets in the section.
    pub chunks: Vec<(Chunk, u64)>,
    /// Code that moved: (chunk, offset inside it a jump goes to, offset in the section of the
    /// old place where the jump is).
    pub trampolines: Vec<(Chunk, u64, u64)>,
    pub size: u64,
}
