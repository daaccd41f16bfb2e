//! Version-stable layout (`--layout FILE`): every input library gets its own page-aligned
//! region in the output sections that hold code and data, and a layout file carried from one
//! link to the next keeps output sections and regions at the same addresses. Pages of a
//! library that did not change then keep their bytes when another library changes, and
//! programs that share a layout file place the same library at the same address.
//!
//! The file format is documented in docs/stable-layout.md.

use crate::link::Link;
use crate::script_layout::Chunk;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

pub const PAGE: u64 = 4096;
const HEADER: &str = "# spacer layout v1";

/// Output sections whose inputs are grouped into per-library regions. Sections whose order
/// carries meaning (.init/.fini fragments, constructor tables, .eh_frame with its terminator,
/// the TLS template) keep the script's order.
pub fn is_regioned(name: &str) -> bool {
    matches!(
        name,
        ".text" | ".rodata" | ".data" | ".data.rel.ro" | ".bss"
    )
}

#[derive(Debug, Default, Clone)]
pub struct LayoutFile {
    /// Output section name -> address.
    pub sections: BTreeMap<String, u64>,
    /// (output section, library) -> (offset in the section, reserved size).
    pub regions: BTreeMap<(String, String), (u64, u64)>,
    /// (output section, library) -> input section key -> (offset in the region, size).
    pub pieces: BTreeMap<(String, String), BTreeMap<String, (u64, u64)>>,
}

impl LayoutFile {
    pub fn read(path: &Path) -> Result<LayoutFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read layout file {}", path.display()))?;
        let mut f = LayoutFile::default();
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, l)) if l.trim() == HEADER => {}
            _ => bail!(
                "{}:1: not a spacer layout file (expected '{HEADER}')",
                path.display()
            ),
        }
        let num = |s: &str, line: usize| -> Result<u64> {
            let t = s.trim_start_matches("0x");
            u64::from_str_radix(t, 16)
                .with_context(|| format!("{}:{}: invalid number '{s}'", path.display(), line + 1))
        };
        for (i, line) in lines {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["section", name, addr] => {
                    f.sections.insert(name.to_string(), num(addr, i)?);
                }
                ["region", sec, lib, off, size] => {
                    f.regions.insert(
                        (sec.to_string(), lib.to_string()),
                        (num(off, i)?, num(size, i)?),
                    );
                }
                ["piece", sec, lib, key, off, size] => {
                    f.pieces
                        .entry((sec.to_string(), lib.to_string()))
                        .or_default()
                        .insert(key.to_string(), (num(off, i)?, num(size, i)?));
                }
                _ => bail!("{}:{}: unrecognised line '{line}'", path.display(), i + 1),
            }
        }
        Ok(f)
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{HEADER}");
        let _ = writeln!(
            s,
            "# section NAME ADDRESS / region SECTION LIBRARY OFFSET RESERVED /"
        );
        let _ = writeln!(
            s,
            "# piece SECTION LIBRARY MEMBER:INPUT-SECTION OFFSET SIZE (hex)"
        );
        for (name, addr) in &self.sections {
            let _ = writeln!(s, "section {name} {addr:#x}");
            for ((sec, lib), (off, size)) in self.regions.range((name.clone(), String::new())..) {
                if sec != name {
                    break;
                }
                let _ = writeln!(s, "region {sec} {lib} {off:#x} {size:#x}");
                if let Some(pieces) = self.pieces.get(&(sec.clone(), lib.clone())) {
                    for (key, (o, z)) in pieces {
                        let _ = writeln!(s, "piece {sec} {lib} {key} {o:#x} {z:#x}");
                    }
                }
            }
        }
        s
    }
}

/// One piece of a library in a regioned section: the chunk, its key (`member:section`), size
/// and alignment.
pub struct Piece {
    pub chunk: Chunk,
    pub key: String,
    pub size: u64,
    pub align: u64,
    /// Code: a moved piece leaves a trampoline.
    pub exec: bool,
}

/// One library's pieces in a regioned section, in their usual order.
pub type Group = (String, Vec<Piece>);

/// The key of an input section inside its library: archive member (or object) and section
/// name, without directories, so that it matches across versions.
pub fn piece_key(link: &Link, c: &Chunk) -> String {
    match c {
        Chunk::Input(f, s) => {
            let name = &link.files[*f as usize].name;
            let member = match name.rfind('(') {
                Some(i) if name.ends_with(')') => &name[i + 1..name.len() - 1],
                _ => name.rsplit('/').next().unwrap_or(name),
            };
            let sec = String::from_utf8_lossy(link.section(*f, *s).name);
            format!("{member}:{sec}").replace(char::is_whitespace, "_")
        }
        Chunk::Synth(k) => format!("<linker>:{k:?}"),
        Chunk::Common => "<linker>:COMMON".into(),
    }
}

/// State of one link with `--layout`.
#[derive(Debug, Default)]
pub struct Stable {
    /// The layout the previous link wrote (empty for the first link).
    pub old: LayoutFile,
    /// This link's layout, written when the link succeeds.
    pub new: LayoutFile,
    /// What moved although the layout file had a place for it.
    pub moved: Vec<String>,
}

/// The library an input belongs to: the archive's file name, or the object's file name.
/// Directories are left out so that two versions built in different places match.
pub fn library_of(link: &Link, c: &Chunk) -> String {
    match c {
        Chunk::Input(f, _) => {
            let name = &link.files[*f as usize].name;
            let path = match name.rfind('(') {
                Some(i) if name.ends_with(')') => &name[..i],
                _ => name.as_str(),
            };
            let base = path.rsplit('/').next().unwrap_or(path);
            base.replace(char::is_whitespace, "_")
        }
        _ => "<linker>".to_string(),
    }
}

/// Key under which the layout file records where a moved piece went.
fn moved_key(key: &str) -> String {
    format!("{key}@moved")
}

/// Smallest room worth a trampoline: `jmp rel32` is 5 bytes.
const TRAMPOLINE: u64 = 5;

/// Places the chunks of a regioned output section: each library's pieces together in a region
/// that starts on a page. A library the old layout knows keeps its region; inside it, a piece
/// the old layout knows keeps its offset if it is not larger than before. A piece that grew
/// goes where it went last time if it fits there, else to the free room at the end of the
/// region, else to a delta area after every region of the section; code that moved leaves a
/// trampoline (a jump to its new place) at its old offset, so that callers keep their bytes.
/// A new library gets a new region after everything else. Returns chunk offsets, trampolines
/// (chunk, offset of the old place) and the section size.
pub fn place_regions(st: &mut Stable, section: &str, groups: Vec<Group>) -> Placement {
    let mut old_end = 0u64;
    for ((s, lib), &(o, r)) in &st.old.regions {
        if s != section {
            continue;
        }
        old_end = old_end.max(o + r);
        if let Some(p) = st.old.pieces.get(&(s.clone(), lib.clone())) {
            old_end = old_end.max(p.values().map(|&(po, pz)| o + po + pz).max().unwrap_or(0));
        }
    }
    // The delta area and new regions start after everything the old layout used.
    let mut cursor = old_end.next_multiple_of(PAGE);
    let mut out = Placement::default();
    // The section ends where its last byte is: reserved room after it, and the regions of
    // libraries this link lacks, cost address space only when nothing follows them.
    let mut end = 0u64;
    for (lib, pieces) in groups {
        let key = (section.to_string(), lib.clone());
        let old_pieces = st.old.pieces.get(&key).cloned().unwrap_or_default();
        let mut new_pieces = old_pieces.clone();
        let (region_off, reserved) = match st.old.regions.get(&key) {
            Some(&r) => r,
            None => {
                let size = pieces
                    .iter()
                    .fold(0u64, |o, p| o.next_multiple_of(p.align) + p.size);
                // A library with nothing in this section (crti.o's .data, say) takes no
                // page; it gets a region when it has something to put there.
                let reserved = (size + size / 16).next_multiple_of(PAGE);
                let off = cursor;
                cursor += reserved;
                (off, reserved)
            }
        };
        let mut offs: Vec<Option<u64>> = vec![None; pieces.len()];
        // Ranges this link has given out: a recorded place may overlap another record (a piece
        // that moved into the room another one left), so every choice is checked against them.
        let mut used: Vec<(u64, u64)> = Vec::new();
        let free = |used: &[(u64, u64)], o: u64, size: u64| {
            used.iter().all(|&(a, b)| b <= o || a >= o + size)
        };
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<bool> = pieces.iter().map(|p| seen.insert(p.key.clone())).collect();
        // In order of preference: the piece's own old place, the place it moved to last time,
        // growing in place into room nothing else uses (the region's slack after it: common
        // when a library is one big section).
        for pass in 0..3 {
            for (i, p) in pieces.iter().enumerate() {
                if !unique[i] || offs[i].is_some() {
                    continue;
                }
                let fits = |k: &str| {
                    old_pieces
                        .get(k)
                        .filter(|&&(o, z)| p.size <= z && o % p.align == 0)
                        .map(|&(o, _)| o)
                };
                let grows_in_place = || {
                    let &(o, _) = old_pieces.get(&p.key)?;
                    let free = o % p.align == 0
                        && o + p.size <= reserved
                        && old_pieces.iter().all(|(k, &(ko, kz))| {
                            k == &p.key
                                || k == &moved_key(&p.key)
                                || ko + kz <= o
                                || ko >= o + p.size
                        });
                    free.then_some(o)
                };
                let o = match pass {
                    0 => fits(&p.key),
                    1 => fits(&moved_key(&p.key)),
                    _ => grows_in_place(),
                };
                if let Some(o) = o.filter(|&o| free(&used, o, p.size)) {
                    offs[i] = Some(o);
                    used.push((o, o + p.size));
                }
            }
        }
        // Room that pieces moving out of this link leave behind (all but their trampoline):
        // other moved pieces go there first, on pages that changed anyway.
        let mut holes: Vec<(u64, u64)> = pieces
            .iter()
            .zip(&offs)
            .zip(&unique)
            .filter(|((_, o), &u)| u && o.is_none())
            .filter_map(|((p, _), _)| {
                let &(o, z) = old_pieces.get(&p.key)?;
                let start = if p.exec { o + TRAMPOLINE } else { o };
                (start < o + z && o + z <= reserved).then_some((start, o + z))
            })
            .collect();
        holes.sort();
        let mut tail = old_pieces
            .values()
            .map(|&(o, z)| o + z)
            .filter(|&e| e <= reserved)
            .chain(
                pieces
                    .iter()
                    .zip(&offs)
                    .filter_map(|(p, o)| o.map(|o| o + p.size)),
            )
            .max()
            .unwrap_or(0);
        for (i, p) in pieces.iter().enumerate() {
            if offs[i].is_some() {
                continue;
            }
            let in_hole = holes.iter().find_map(|&(a, b)| {
                let o = a.next_multiple_of(p.align);
                (o + p.size <= b && free(&used, o, p.size)).then_some(o)
            });
            let t = tail.next_multiple_of(p.align);
            if let Some(o) = in_hole {
                offs[i] = Some(o);
                used.push((o, o + p.size));
            } else if t + p.size <= reserved {
                offs[i] = Some(t);
                tail = t + p.size;
            } else {
                // Delta area: outside the region, after everything else.
                cursor = cursor.next_multiple_of(p.align);
                offs[i] = Some(cursor - region_off);
                cursor += p.size;
            }
        }
        for (p, o) in pieces.iter().zip(&offs) {
            let o = o.unwrap();
            end = end.max(region_off + o + p.size);
            match old_pieces.get(&p.key) {
                // In its old place: keep the room it had so that it can grow back.
                Some(&(oo, oz)) if oo == o => {
                    new_pieces.insert(p.key.clone(), (o, oz.max(p.size)));
                }
                // Moved: the old place stays reserved (for a trampoline, and for the old
                // version), the new one is recorded beside it.
                Some(&(oo, oz)) => {
                    new_pieces.insert(moved_key(&p.key), (o, p.size));
                    if p.exec && oz >= TRAMPOLINE {
                        out.trampolines.push((p.chunk, region_off + oo));
                    } else if !p.exec {
                        st.moved
                            .push(format!("{} of {lib} moved within {section}", p.key));
                    }
                }
                None => {
                    new_pieces.insert(p.key.clone(), (o, p.size));
                }
            }
        }
        if reserved > 0 {
            st.new.regions.insert(key.clone(), (region_off, reserved));
            st.new.pieces.insert(key, new_pieces);
        }
        for (p, o) in pieces.into_iter().zip(offs) {
            out.chunks.push((p.chunk, region_off + o.unwrap()));
        }
    }
    out.size = end;
    // Regions of libraries this link does not have stay reserved for the links that do.
    for (k, v) in &st.old.regions {
        if k.0 == section {
            st.new.regions.entry(k.clone()).or_insert(*v);
            if let Some(p) = st.old.pieces.get(k) {
                st.new.pieces.entry(k.clone()).or_insert_with(|| p.clone());
            }
        }
    }
    out
}

/// Where the pieces of a regioned section went.
#[derive(Default)]
pub struct Placement {
    /// Chunks and their offsets in the section.
    pub chunks: Vec<(Chunk, u64)>,
    /// Code that moved: (chunk, offset of its old place, where a jump to it goes).
    pub trampolines: Vec<(Chunk, u64)>,
    pub size: u64,
}
