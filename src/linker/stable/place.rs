//! Placing one regioned output section: each library's input sections (pieces) in its region,
//! where the layout file says, with trampolines for code that had to move.

use super::piece::{Granule, Group, Piece, PAGE, TRAMPOLINE};
use crate::layout_file::{LayoutFile, PieceFunctions, Rec};
use crate::linker::args::LayoutMode;
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
    /// Whether any record is a `KEY#HASH` one (most regions have none: `own_history` then
    /// need not build the key to look it up).
    has_history: bool,
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
            has_history: pieces.keys().any(|k| k.contains('#')),
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
            && p.external()
            && p.funcs
                .iter()
                .any(|(name, off)| old.get(name).is_some_and(|o| o != off))
    }

    fn unchanged(&self, p: &Piece) -> bool {
        self.pieces
            .get(&p.key)
            .is_some_and(|r| r.hash == Some(p.hash))
    }

    /// The place on record for this content of the piece under `KEY#HASH`: an earlier version
    /// of a repacked piece, or a fleet plan's second version of a member.
    fn own_history(&self, p: &Piece) -> Option<&Rec> {
        if !self.has_history {
            return None;
        }
        self.pieces
            .get(&history_key(&p.key, p.hash))
            .filter(|r| r.hash == Some(p.hash))
    }

    /// Whether the piece's content has a place of its own on record.
    fn on_record(&self, p: &Piece) -> bool {
        self.unchanged(p) || self.own_history(p).is_some()
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
/// pieces and pieces other libraries refer to are placed here. With `follow_functions`, code
/// that other libraries call and whose functions would shift does not keep its place (it moves
/// and leaves a jump at each function's old address).
fn keep_places(
    old: &OldRegion,
    pieces: &[Piece],
    repack: bool,
    follow_functions: bool,
    used: &mut Used,
) -> Vec<Option<u64>> {
    let shifted = |p: &Piece| follow_functions && old.functions_shifted(p);
    let mut offs: Vec<Option<u64>> = vec![None; pieces.len()];
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<bool> = pieces.iter().map(|p| seen.insert(p.key.as_str())).collect();
    for pass in 0..5 {
        for (i, p) in pieces.iter().enumerate() {
            if !unique[i] || offs[i].is_some() || (repack && pass > 0 && !p.external()) {
                continue;
            }
            let fits = |r: &Rec| p.size <= r.size && r.off.is_multiple_of(p.align);
            let at = |k: &str| old.pieces.get(k).filter(|r| fits(r)).map(|r| r.off);
            let o = match pass {
                0 => at(&p.key).filter(|_| old.unchanged(p)),
                1 => old
                    .own_history(p)
                    .filter(|r| fits(r) && used.is_free(r.off, p.size))
                    .map(|r| r.off)
                    .or_else(|| {
                        old.by_hash.get(&p.hash).and_then(|rs| {
                            rs.iter()
                                .filter(|r| fits(r) && used.is_free(r.off, p.size))
                                .map(|r| r.off)
                                .min()
                        })
                    }),
                2 => at(&p.key).filter(|_| !shifted(p)),
                3 => at(&moved_key(&p.key)),
                _ => old.grows_in_place(p).filter(|_| !shifted(p)),
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
/// keeps its region. Inside it the planner tries each strategy (`Strategy`) and takes the one
/// whose placement changes the fewest pages (`count_pages`); with `--layout-mode=regions`, and
/// for a library new to the layout file, the pieces go in their usual order. A new library
/// gets a new region after everything else; what does not fit its region goes to a delta area
/// after every region of the section. Returns chunk offsets, trampolines (chunk, offset of the
/// old place) and the section size; `report` gets one line per library that had a choice.
pub fn place_regions(
    recorded: &LayoutFile,
    written: &mut LayoutFile,
    notes: &mut Vec<String>,
    report: &mut Vec<(String, String)>,
    section: &str,
    groups: Vec<Group>,
    mode: LayoutMode,
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
    // `.eh_frame` holds no holes: it is walked from record to record, so room there costs file
    // bytes. Its regions keep their recorded order and size, but the regions of libraries this
    // link lacks are left out (`packed`): a program's frames keep their places across updates,
    // while programs of a fleet with other libraries pack them otherwise.
    let packed = (section == ".eh_frame").then(|| {
        let (offsets, end) = packed_offsets(recorded, section, &groups, granule);
        cursor = end;
        offsets
    });
    // Where a new region is recorded: after every recorded region.
    let mut recorded_end = old_end.next_multiple_of(granule.align);
    let mut out = Placement::default();
    // The section ends where its last byte is: reserved room after it, and the regions of
    // libraries this link lacks, cost address space only when nothing follows them.
    let mut end = 0u64;
    for (lib, pieces) in groups {
        let key = (section.to_string(), lib.clone());
        let known = recorded.regions.get(&key).copied();
        // The region's offset in the layout file, and where it is in this link.
        let mut record_off = None;
        let (region_off, reserved) = match known {
            Some((o, r)) => {
                record_off = Some(o);
                (
                    packed
                        .as_ref()
                        .and_then(|p| p.get(lib.as_str()).copied())
                        .unwrap_or(o),
                    r,
                )
            }
            None => {
                let size = pieces
                    .iter()
                    .fold(0u64, |o, p| o.next_multiple_of(p.align) + p.size);
                // A library with nothing in this section (crti.o's .data, say) takes no
                // room; it gets a region when it has something to put there. Its empty input
                // sections sit at the start of the section.
                let align = pieces.iter().map(|p| p.align).max().unwrap_or(1);
                match granule.reserve(size) {
                    0 => (0, 0),
                    reserved => {
                        cursor = cursor.next_multiple_of(granule.region_align(reserved).max(align));
                        cursor += reserved;
                        if packed.is_some() {
                            record_off = Some(recorded_end);
                            recorded_end += reserved;
                        }
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
        let region = Region {
            off: region_off,
            reserved,
            cursor,
        };
        let strategies: &[Strategy] = if known.is_none() || mode == LayoutMode::Regions {
            &[Strategy::InOrder]
        } else if granule.keep_size
            || old.pieces.values().any(|r| r.hash.is_none())
            || pieces.iter().all(|p| old.on_record(p))
        {
            // The TLS template is not counted in pages; a version 1 file has no hashes to
            // compare pages with; a library whose every piece is on record with its content
            // keeps every page where it stays.
            &[Strategy::Keep]
        } else {
            &[
                Strategy::Keep,
                Strategy::KeepShifting,
                Strategy::KeepRepack,
                Strategy::InOrder,
            ]
        };
        let mut candidates: Vec<Candidate> = strategies
            .iter()
            .map(|&st| plan(&old, &pieces, &region, st))
            .collect();
        let chosen = if candidates.len() == 1 {
            0
        } else {
            choose(&old, &pieces, &candidates, region_off, |line| {
                report.push((lib.clone(), format!("{section} {lib}: {line}")))
            })
        };
        let mut c = candidates.swap_remove(chosen);
        log::debug!("{section} {lib}: {}", c.strategy.name());
        cursor = c.cursor;
        for (p, &o) in pieces.iter().zip(&c.offs) {
            if p.size > 0 {
                end = end.max(region_off + o + p.size);
            }
        }
        for (i, moved) in std::mem::take(&mut c.moves) {
            match moved {
                Moved::Code(value, at) => {
                    out.trampolines
                        .push((pieces[i].chunk, value, region_off + at))
                }
                // Nothing refers to a frame description but `.eh_frame_hdr`, which is rebuilt.
                Moved::Data if section == ".eh_frame" => {}
                Moved::Data => {
                    notes.push(format!("{} of {lib} moved within {section}", pieces[i].key))
                }
            }
        }
        for (p, &o) in pieces.iter().zip(&c.offs) {
            out.chunks.push((p.chunk, region_off + o));
        }
        if reserved > 0 {
            let at = record_off.unwrap_or(region_off);
            let (records, syms) = records(&old, &pieces, c);
            written.regions.insert(key.clone(), (at, reserved));
            if !syms.is_empty() {
                written.syms.insert(key.clone(), syms);
            }
            written.pieces.insert(key, records);
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

/// Where the regions of the libraries this link has go when the others are left out: in their
/// recorded order, each with its reserved room. Returns each library's offset and where the
/// delta area starts (after the regions and what their libraries placed past them).
fn packed_offsets(
    recorded: &LayoutFile,
    section: &str,
    groups: &[Group],
    granule: Granule,
) -> (rustc_hash::FxHashMap<String, u64>, u64) {
    let mut recs: Vec<(u64, u64, u64, &str)> = groups
        .iter()
        .filter_map(|(lib, _)| {
            let key = (section.to_string(), lib.clone());
            let &(o, r) = recorded.regions.get(&key)?;
            let used = recorded
                .pieces
                .get(&key)
                .and_then(|p| p.values().map(Rec::end).max())
                .unwrap_or(0);
            Some((o, r, used, lib.as_str()))
        })
        .collect();
    recs.sort();
    // Regions take their reserved room; what a library placed past it (in the delta area)
    // only moves the delta area on.
    let (mut at, mut end) = (0u64, 0u64);
    let mut offsets = rustc_hash::FxHashMap::default();
    for (_, reserved, used, lib) in recs {
        at = at.next_multiple_of(granule.region_align(reserved));
        offsets.insert(lib.to_string(), at);
        end = end.max(at + used);
        at += reserved;
    }
    (offsets, at.max(end).next_multiple_of(granule.align))
}

/// The candidate whose placement changes the fewest pages (then: with the fewest pages, then
/// the first); `report` gets a line saying what it keeps, changes and adds, and what the others
/// would have cost.
fn choose(
    old: &OldRegion,
    pieces: &[Piece],
    candidates: &[Candidate],
    region_off: u64,
    report: impl FnOnce(String),
) -> usize {
    let counts: Vec<PageCount> = candidates
        .iter()
        .map(|c| count_pages(old, pieces, c, region_off))
        .collect();
    for (c, n) in candidates.iter().zip(&counts) {
        log::debug!("{}: {n:?}", c.strategy.name());
    }
    let best = (0..candidates.len())
        .min_by_key(|&i| (counts[i].cost(), counts[i].pages(), i))
        .unwrap_or(0);
    let others: Vec<String> = (0..candidates.len())
        .filter(|&i| i != best)
        .map(|i| format!("{} {}", candidates[i].strategy.name(), counts[i].cost()))
        .collect();
    let c = &counts[best];
    report(format!(
        "{}: {} pages kept, {} changed, {} added, {} referring sections of other libraries \
         changed (cost {}; {})",
        candidates[best].strategy.name(),
        c.kept,
        c.changed,
        c.added,
        c.callers,
        c.cost(),
        others.join(", ")
    ));
    best
}

/// Where a library's region is, and where the delta area of its section continues.
struct Region {
    off: u64,
    reserved: u64,
    cursor: u64,
}

/// How a library's pieces are placed inside its region.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Strategy {
    /// Each piece where the layout file says (`keep_places`); what moved leaves jumps, what
    /// has no place goes into the room moved pieces left, then the region's free end, then
    /// the delta area.
    Keep,
    /// As `Keep`, but code whose functions shift inside it stays where it is too: its callers
    /// in other libraries change instead of a copy of it.
    KeepShifting,
    /// Unchanged pieces and pieces other libraries refer to keep their places; the library's
    /// other pieces are packed, largest first, into the rest of the region.
    KeepRepack,
    /// Every piece in its usual order from the region's start, as an ordinary link would
    /// place the library; no jumps.
    InOrder,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::Keep => "keep",
            Strategy::KeepShifting => "keep, functions shifting",
            Strategy::KeepRepack => "repack",
            Strategy::InOrder => "in order",
        }
    }
}

/// Changes to a library's records, in order: a key and its new record (None: removed).
type Edits = Vec<(String, Option<Rec>)>;

/// One strategy's placement of a library: piece offsets in the region, trampolines and data
/// moves, and how the layout file's records change (applied only for the placement chosen,
/// by `records`).
struct Candidate {
    strategy: Strategy,
    offs: Vec<u64>,
    /// The delta area's end after this library.
    cursor: u64,
    moves: Vec<(usize, Moved)>,
    edits: Edits,
}

impl Strategy {
    /// Whether pieces only this library refers to may leave their places without a jump.
    fn repacks(self) -> bool {
        matches!(self, Strategy::KeepRepack | Strategy::InOrder)
    }
}

/// Places one library's pieces as `strategy` says.
fn plan(old: &OldRegion, pieces: &[Piece], region: &Region, strategy: Strategy) -> Candidate {
    let (offs, cursor) = match strategy {
        Strategy::InOrder => in_order(pieces, region),
        Strategy::Keep | Strategy::KeepRepack | Strategy::KeepShifting => keep(
            old,
            pieces,
            region,
            strategy == Strategy::KeepRepack,
            strategy != Strategy::KeepShifting,
        ),
    };
    let (edits, moves) = match strategy {
        Strategy::InOrder => (record_in_order(old, pieces, &offs), Vec::new()),
        _ => record_pieces(old, pieces, &offs, strategy.repacks()),
    };
    Candidate {
        strategy,
        offs,
        cursor,
        moves,
        edits,
    }
}

/// The library's records and the functions inside its pieces after placement `c`.
fn records(
    old: &OldRegion,
    pieces: &[Piece],
    c: Candidate,
) -> (BTreeMap<String, Rec>, PieceFunctions) {
    let mut records = old.pieces.clone();
    for (key, rec) in c.edits {
        match rec {
            Some(r) => records.insert(key, r),
            None => records.remove(&key),
        };
    }
    // Functions inside code sections: where they are now, except for code that moved,
    // whose jumps stay at the old offsets.
    let repack = c.strategy.repacks();
    let mut syms = old.syms.clone();
    for (p, &o) in pieces.iter().zip(&c.offs) {
        let moved = c.strategy != Strategy::InOrder
            && old
                .pieces
                .get(&p.key)
                .is_some_and(|r| (p.external() || !repack) && r.off != o);
        if moved {
            continue;
        }
        if p.funcs.is_empty() {
            syms.remove(&p.key);
        } else if !syms.get(&p.key).is_some_and(|m| {
            // Unchanged functions (most pieces of a relink) keep their entry as it is.
            m.len() == p.funcs.len() && p.funcs.iter().all(|(n, o)| m.get(n) == Some(o))
        }) {
            syms.insert(p.key.clone(), p.funcs.iter().cloned().collect());
        }
    }
    (records, syms)
}

/// Every piece in its usual order from the region's start; once one does not fit, it and the
/// rest go to the delta area.
fn in_order(pieces: &[Piece], region: &Region) -> (Vec<u64>, u64) {
    let mut cursor = region.cursor;
    let mut at = 0u64;
    let mut spilled = false;
    let offs = pieces
        .iter()
        .map(|p| {
            let o = at.next_multiple_of(p.align);
            if !spilled && o + p.size <= region.reserved.max(o) {
                at = o + p.size;
                o
            } else {
                spilled = true;
                cursor = cursor.next_multiple_of(p.align) + p.size;
                cursor - p.size - region.off
            }
        })
        .collect();
    (offs, cursor)
}

/// How the records change when a library is placed in order: each piece is recorded where it
/// is; a piece whose content and place changed leaves its old place on record under its
/// content hash, for the version that had it.
fn record_in_order(old: &OldRegion, pieces: &[Piece], offs: &[u64]) -> Edits {
    let mut edits = Edits::new();
    for (p, &o) in pieces.iter().zip(offs) {
        if let Some(r) = old.pieces.get(&p.key) {
            if let Some(h) = r.hash.filter(|&h| h != p.hash && r.off != o) {
                edits.push((history_key(&p.key, h), Some(*r)));
            }
        }
        edits.push((moved_key(&p.key), None));
        edits.push((
            p.key.clone(),
            Some(Rec::new(o, p.size, Some(p.hash), p.align)),
        ));
    }
    edits
}

/// Offsets of a library's pieces when they keep the places the layout file has for them
/// (`keep_places`); with `repack`, only unchanged pieces and pieces other libraries refer to
/// do, and the rest is packed largest first into the region's free room. Returns the offsets
/// and the delta area's new end.
fn keep(
    old: &OldRegion,
    pieces: &[Piece],
    region: &Region,
    repack: bool,
    follow_functions: bool,
) -> (Vec<u64>, u64) {
    let reserved = region.reserved;
    let mut cursor = region.cursor;
    let mut used = Used::default();
    let mut offs = keep_places(old, pieces, repack, follow_functions, &mut used);
    // Trampoline places: the old places of moved code, and of the functions inside it (in a
    // repacked library, only of what other libraries call).
    for (i, p) in pieces.iter().enumerate() {
        match old.pieces.get(&p.key) {
            Some(r)
                if offs[i].is_none()
                    && p.exec
                    && (!repack || p.external())
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
            cursor - p.size - region.off
        });
    }
    (offs.into_iter().map(|o| o.unwrap_or(0)).collect(), cursor)
}

/// What a candidate placement does to a library's pages (in its region and the delta area),
/// estimated from the layout file's records: a page keeps its bytes when the same contents lie
/// at the same offsets on it as last time and none of them refers to a piece of its library
/// whose address changed.
#[derive(Debug, Clone, Copy, Default)]
struct PageCount {
    kept: u64,
    /// Pages that held something last time and hold other bytes now.
    changed: u64,
    /// Pages that held nothing last time.
    added: u64,
    /// Sections of other libraries whose references to this library change (about a page each).
    callers: u64,
}

impl PageCount {
    /// Pages of this link that are not pages of the last one.
    fn cost(&self) -> u64 {
        self.changed + self.added + self.callers
    }

    fn pages(&self) -> u64 {
        self.kept + self.changed + self.added
    }
}

/// Something on a page: offset, size and an identity of its bytes (a content hash, or the
/// jumps of moved code with where they go).
type Content = (u64, u64, u64);

fn jumps_id(key: &str, to: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(format!("jumps\0{key}\0{to:x}").as_bytes())
}

/// The contents of a page range, per page.
fn by_page(items: impl Iterator<Item = Content>) -> BTreeMap<u64, Vec<Content>> {
    let mut pages: BTreeMap<u64, Vec<Content>> = BTreeMap::new();
    for it in items.filter(|it| it.1 > 0) {
        for pg in it.0 / PAGE..(it.0 + it.1).div_ceil(PAGE) {
            pages.entry(pg).or_default().push(it);
        }
    }
    for v in pages.values_mut() {
        v.sort_unstable();
    }
    pages
}

/// Counts the pages `c` keeps, changes and adds (see `PageCount`).
fn count_pages(old: &OldRegion, pieces: &[Piece], c: &Candidate, base: u64) -> PageCount {
    // Last time: each current record's content, or the jumps left at a moved piece's place.
    let old_items = old
        .pieces
        .iter()
        .filter(|(k, _)| is_current(k))
        .map(|(k, r)| {
            let moved_to = (!k.ends_with("@moved"))
                .then(|| old.pieces.get(&moved_key(k)))
                .flatten();
            match moved_to {
                Some(m) if old.syms.contains_key(k) => (r.off, r.size, jumps_id(k, m.off)),
                Some(m) => (r.off, TRAMPOLINE, jumps_id(k, m.off)),
                None => (r.off, r.size, r.hash.unwrap_or(0)),
            }
        });
    // Pages are counted in the section (a small region does not start on one).
    let old_pages = by_page(old_items.map(|(o, n, id)| (base + o, n, id)));
    // Where references to each piece go now: its jumps, when it moved and left them.
    let mut jumps_at: Vec<Option<u64>> = vec![None; pieces.len()];
    let mut new_items: Vec<(Content, Option<usize>)> = Vec::new();
    for (i, m) in &c.moves {
        if let Moved::Code(0, at) = m {
            let p = &pieces[*i];
            jumps_at[*i] = Some(*at);
            let r = old.pieces.get(&p.key);
            let item = match r {
                Some(r) if old.syms.contains_key(&p.key) => {
                    (r.off, r.size, jumps_id(&p.key, c.offs[*i]))
                }
                _ => (*at, TRAMPOLINE, jumps_id(&p.key, c.offs[*i])),
            };
            new_items.push((item, None));
        }
    }
    for (i, p) in pieces.iter().enumerate() {
        new_items.push(((c.offs[i], p.size, p.hash), Some(i)));
    }
    // A piece's references keep their values when it is reached at the same address, and the
    // functions inside it did not shift (or jumps wait at their old addresses).
    let stable: Vec<bool> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let Some(r) = old.pieces.get(&p.key) else {
                return true;
            };
            let at = jumps_at[i].unwrap_or(c.offs[i]);
            at == r.off
                && (jumps_at[i].is_some()
                    || r.hash == Some(p.hash)
                    || !p.funcs.iter().any(|(n, o)| {
                        old.syms
                            .get(&p.key)
                            .and_then(|m| m.get(n))
                            .is_some_and(|x| x != o)
                    }))
        })
        .collect();
    let index: rustc_hash::FxHashMap<Chunk, usize> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| (p.chunk, i))
        .collect();
    let clean: Vec<bool> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let same = |k: &str| {
                old.pieces
                    .get(k)
                    .is_some_and(|r| r.off == c.offs[i] && r.hash == Some(p.hash))
            };
            (same(&p.key) || same(&moved_key(&p.key)))
                && p.refs
                    .iter()
                    .all(|&(f, s)| index.get(&Chunk::Input(f, s)).is_none_or(|&j| stable[j]))
        })
        .collect();
    for (it, _) in new_items.iter_mut() {
        it.0 += base;
    }
    let mut dirty_pages: rustc_hash::FxHashSet<u64> = Default::default();
    for (it, i) in &new_items {
        if i.is_some_and(|i| !clean[i]) && it.1 > 0 {
            dirty_pages.extend(it.0 / PAGE..(it.0 + it.1).div_ceil(PAGE));
        }
    }
    let new_pages = by_page(new_items.iter().map(|(it, _)| *it));
    let mut count = PageCount::default();
    for (pg, contents) in &new_pages {
        match old_pages.get(pg) {
            Some(was) if was == contents && !dirty_pages.contains(pg) => count.kept += 1,
            Some(_) => count.changed += 1,
            None => count.added += 1,
        }
    }
    let callers: rustc_hash::FxHashSet<(u32, u32)> = pieces
        .iter()
        .zip(&stable)
        .filter(|(_, &st)| !st)
        .flat_map(|(p, _)| p.callers.iter().copied())
        .collect();
    count.callers = callers.len() as u64;
    count
}

/// A piece that left the place the layout file had for it.
enum Moved {
    /// Code: a trampoline at an offset of its old place (second) jumps to an offset inside
    /// the moved section (first: its start, or a function in it).
    Code(u64, u64),
    /// Data, which cannot be redirected.
    Data,
}

/// How one library's records change after this link, and the pieces that moved (by index).
fn record_pieces(
    old: &OldRegion,
    pieces: &[Piece],
    offs: &[u64],
    repack: bool,
) -> (Edits, Vec<(usize, Moved)>) {
    let mut placed = Used::default();
    for (p, &o) in pieces.iter().zip(offs).filter(|(p, _)| p.size > 0) {
        placed.0.insert(o, o + p.size);
    }
    let mut moves = Vec::new();
    let mut edits = Edits::new();
    for (i, (p, &o)) in pieces.iter().zip(offs).enumerate() {
        let rec = Rec::new(o, p.size, Some(p.hash), p.align);
        // At the place on record for this content under `KEY#HASH`: nothing moved.
        if old.own_history(p).is_some_and(|r| r.off == o) {
            continue;
        }
        match old.pieces.get(&p.key) {
            // In its old place: keep the room it had so that it can grow back.
            Some(r) if r.off == o => {
                let size = r.size.max(p.size);
                let kept = Rec { size, ..rec };
                // (Most pieces of a relink: their record stays as it is.)
                if kept != *r {
                    edits.push((p.key.clone(), Some(kept)));
                }
            }
            // Repacked without a trampoline: this is its place now; the old one stays on
            // record under its content hash for the version that had it.
            Some(r) if repack && !p.external() => {
                if let Some(h) = r.hash.filter(|&h| h != p.hash) {
                    edits.push((history_key(&p.key, h), Some(*r)));
                }
                edits.push((p.key.clone(), Some(rec)));
            }
            // Moved: the old place stays reserved (for a trampoline, and for the old version),
            // the new one is recorded beside it.
            Some(r) => {
                edits.push((moved_key(&p.key), Some(rec)));
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
                edits.push((p.key.clone(), Some(rec)));
            }
        }
    }
    (edits, moves)
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
