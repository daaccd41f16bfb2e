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
use object::{elf, LittleEndian as LE};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

pub const PAGE: u64 = 4096;
const HEADER: &str = "# spacer layout v2";
/// Files written before pieces carried content hashes; still read.
const HEADER_V1: &str = "# spacer layout v1";

/// Output sections whose inputs are grouped into per-library regions. Sections whose order
/// carries meaning (.init/.fini fragments, constructor tables, .eh_frame with its terminator,
/// the TLS template) keep the script's order.
pub fn is_regioned(name: &str) -> bool {
    matches!(
        name,
        ".text" | ".rodata" | ".data" | ".data.rel.ro" | ".bss"
    )
}

/// The TLS template. Code reaches thread-local variables at offsets from the end of the TLS
/// block, so the block keeps its size and each variable its offset: libraries get regions here
/// too, on 16-byte boundaries instead of pages (the template is copied for every thread).
pub fn is_tls_regioned(name: &str) -> bool {
    matches!(name, ".tdata" | ".tbss")
}

/// How regions of an output section are aligned and how much room a new one reserves.
#[derive(Clone, Copy)]
pub struct Granule {
    pub align: u64,
    /// The section keeps every recorded region's room, not only up to its last byte.
    pub keep_size: bool,
}

impl Granule {
    pub fn of(section: &str) -> Granule {
        if is_tls_regioned(section) {
            Granule {
                align: 16,
                keep_size: true,
            }
        } else {
            Granule {
                align: PAGE,
                keep_size: false,
            }
        }
    }

    /// Room a new region reserves for `size` bytes: an eighth more (at least 64 bytes for
    /// TLS, where a new variable is small), or a sixteenth more in pages.
    fn reserve(&self, size: u64) -> u64 {
        if size == 0 {
            0
        } else if self.keep_size {
            (size + (size / 8).max(64)).next_multiple_of(self.align)
        } else {
            (size + size / 16).next_multiple_of(self.align)
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct LayoutFile {
    /// Output section name -> address.
    pub sections: BTreeMap<String, u64>,
    /// (output section, library) -> (offset in the section, reserved size).
    pub regions: BTreeMap<(String, String), (u64, u64)>,
    /// (output section, library) -> input section key -> where it is.
    pub pieces: BTreeMap<(String, String), BTreeMap<String, Rec>>,
    /// (table, symbol) -> index of its slot in a linker-created table (`got`, `got-tpoff`,
    /// `plt`).
    pub slots: BTreeMap<(String, String), u32>,
}

/// Where the layout file puts one input section inside its library's region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    /// Offset in the region.
    pub off: u64,
    /// Room it has there.
    pub size: u64,
    /// Content hash of the input section that was placed there (None: written by version 1).
    pub hash: Option<u64>,
}

impl Rec {
    fn end(&self) -> u64 {
        self.off + self.size
    }
}

impl LayoutFile {
    pub fn read(path: &Path) -> Result<LayoutFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read layout file {}", path.display()))?;
        let mut f = LayoutFile::default();
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, l)) if l.trim() == HEADER || l.trim() == HEADER_V1 => {}
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
                ["piece", sec, lib, key, off, size, rest @ ..] if rest.len() <= 1 => {
                    let rec = Rec {
                        off: num(off, i)?,
                        size: num(size, i)?,
                        hash: rest.first().map(|h| num(h, i)).transpose()?,
                    };
                    f.pieces
                        .entry((sec.to_string(), lib.to_string()))
                        .or_default()
                        .insert(key.to_string(), rec);
                }
                ["slot", table, name, index] => {
                    let index = u32::try_from(num(index, i)?).with_context(|| {
                        format!("{}:{}: slot index out of range", path.display(), i + 1)
                    })?;
                    f.slots.insert((table.to_string(), name.to_string()), index);
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
            "# piece SECTION LIBRARY MEMBER:INPUT-SECTION OFFSET SIZE CONTENT-HASH /"
        );
        let _ = writeln!(s, "# slot TABLE SYMBOL INDEX (hex)");
        for ((table, name), index) in &self.slots {
            let _ = writeln!(s, "slot {table} {name} {index:#x}");
        }
        for (name, addr) in &self.sections {
            let _ = writeln!(s, "section {name} {addr:#x}");
            for ((sec, lib), (off, size)) in self.regions.range((name.clone(), String::new())..) {
                if sec != name {
                    break;
                }
                let _ = writeln!(s, "region {sec} {lib} {off:#x} {size:#x}");
                if let Some(pieces) = self.pieces.get(&(sec.clone(), lib.clone())) {
                    for (key, r) in pieces {
                        let _ = write!(s, "piece {sec} {lib} {key} {:#x} {:#x}", r.off, r.size);
                        let _ = match r.hash {
                            Some(h) => writeln!(s, " {h:016x}"),
                            None => writeln!(s),
                        };
                    }
                }
            }
        }
        s
    }
}

/// An exclusive lock on a layout file (on `FILE.lock` beside it, since the file itself is
/// replaced by rename), held from reading the file to writing it back: programs of a fleet
/// linked in parallel (`make -j`) then take turns, and none loses the regions another wrote.
pub struct LayoutLock {
    /// Open for as long as the lock is held: closing it releases the lock.
    _file: std::fs::File,
}

impl LayoutLock {
    pub fn acquire(layout: &Path) -> Result<LayoutLock> {
        use std::os::fd::AsRawFd;
        let mut name = layout.as_os_str().to_owned();
        name.push(".lock");
        let path = std::path::PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the layout lock {}", path.display()))?;
        // SAFETY: flock on a file descriptor this function owns; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!(
                "cannot lock {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        Ok(LayoutLock { _file: file })
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
    /// Content hash (see `content_hash`).
    pub hash: u64,
    /// Referenced from another library: its address matters to pages outside its own.
    pub external: bool,
}

/// Who a piece is: its library, its key, its content hash, and whether code or data of another
/// library refers to it.
#[derive(Debug, Clone)]
pub struct PieceId {
    pub library: std::sync::Arc<str>,
    pub key: std::sync::Arc<str>,
    pub hash: u64,
    pub external: bool,
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

/// The content hash of an input section: xxh3 of its bytes and of its relocations, with each
/// relocation's target named by symbol (or, for section symbols, by section name) rather than
/// by index, so that the same function compiled into two versions of a library hashes the
/// same where its code and what it refers to are the same.
pub fn content_hash(link: &Link, f: u32, s: u32) -> u64 {
    let file = &link.files[f as usize];
    let sec = &file.sections[s as usize];
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&sec.size.to_le_bytes());
    h.update(sec.data);
    for r in sec.relocs {
        h.update(&r.r_offset.get(LE).to_le_bytes());
        h.update(&r.r_type(LE, false).to_le_bytes());
        h.update(&r.r_addend.get(LE).to_le_bytes());
        let sym = r.r_sym(LE, false) as usize;
        match file.symbols.get(sym) {
            Some(t) if t.typ == elf::STT_SECTION => {
                let name = file
                    .sections
                    .get(t.shndx as usize)
                    .map_or(&b""[..], |x| x.name);
                h.update(b"\0section:");
                h.update(name);
            }
            Some(t) => {
                h.update(b"\0symbol:");
                h.update(t.name);
            }
            None => h.update(b"\0?"),
        }
    }
    h.digest()
}

/// Input sections that code or data of another library refers to (through any relocation of
/// an allocated section other than `.eh_frame`, whose references are rewritten anyway).
pub fn external_refs(link: &Link) -> rustc_hash::FxHashSet<(u32, u32)> {
    let libs: Vec<String> = (0..link.files.len() as u32)
        .map(|f| library_of(link, &Chunk::Input(f, 0)))
        .collect();
    let mut out = rustc_hash::FxHashSet::default();
    for (f, file) in link.files.iter().enumerate() {
        for sec in &file.sections {
            if !sec.is_included() || !sec.is_alloc() || sec.name == b".eh_frame" {
                continue;
            }
            for r in sec.relocs {
                let target = link.symref(f as u32, r.r_sym(LE, false));
                if let Some((tf, ts)) = link.def_section(target) {
                    if tf as usize != f && libs[tf as usize] != libs[f] {
                        out.insert((tf, ts));
                    }
                }
            }
        }
    }
    out
}

/// Slots of a linker-created table (GOT, IFUNC PLT) for `entries` (each with the name the
/// layout file knows it by): an entry the layout file knows keeps its index, new entries follow
/// every recorded index in name order, so that one program's or library's new entry does not
/// move the entries other code refers to. Returns the table, with `None` where a recorded entry
/// is absent from this link.
pub fn assign_slots<T: Copy>(
    layout: &mut Stable,
    table: &str,
    mut entries: Vec<(T, String)>,
) -> Vec<Option<T>> {
    entries.sort_by(|a, b| a.1.cmp(&b.1));
    let recorded = |name: &str| layout.old.slots.get(&(table.to_string(), name.to_string()));
    let mut next = layout
        .old
        .slots
        .iter()
        .filter(|((t, _), _)| t == table)
        .map(|(_, &i)| i + 1)
        .max()
        .unwrap_or(0);
    let mut out: Vec<Option<T>> = Vec::new();
    let mut fresh = Vec::new();
    for (e, name) in entries {
        match recorded(&name) {
            Some(&i) if out.get(i as usize).is_none_or(|x| x.is_none()) => {
                if out.len() <= i as usize {
                    out.resize(i as usize + 1, None);
                }
                out[i as usize] = Some(e);
                layout.new.slots.insert((table.to_string(), name), i);
            }
            _ => fresh.push((e, name)),
        }
    }
    for (e, name) in fresh {
        if out.len() <= next as usize {
            out.resize(next as usize + 1, None);
        }
        out[next as usize] = Some(e);
        layout.new.slots.insert((table.to_string(), name), next);
        next += 1;
    }
    // Entries of other programs stay recorded for them.
    for (k, &i) in &layout.old.slots {
        if k.0 == table {
            layout.new.slots.entry(k.clone()).or_insert(i);
        }
    }
    out
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
    /// Input sections referenced from other libraries (computed once, on first use).
    pub external: Option<rustc_hash::FxHashSet<(u32, u32)>>,
    /// What `identify` found for each chunk.
    ids: rustc_hash::FxHashMap<Chunk, PieceId>,
    /// Each regioned section's last placement, for the next layout pass (see `place`).
    memo: rustc_hash::FxHashMap<String, Memo>,
}

/// A placement and what it recorded, with a digest of the pieces it was made for.
#[derive(Debug, Clone)]
struct Memo {
    input: u64,
    placement: Placement,
    regions: Vec<((String, String), (u64, u64))>,
    pieces: Vec<((String, String), BTreeMap<String, Rec>)>,
    moved: Vec<String>,
}

impl Stable {
    /// The state of a link that reads `old` (empty for a first link).
    pub fn new(old: LayoutFile) -> Stable {
        Stable {
            old,
            ..Default::default()
        }
    }

    /// `place_regions`, once per section and set of pieces: layout runs several passes over
    /// the same inputs, and the placement depends only on the pieces and the old layout.
    pub fn place(&mut self, section: &str, groups: Vec<Group>) -> Placement {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for (lib, pieces) in &groups {
            h.update(lib.as_bytes());
            for p in pieces {
                h.update(p.key.as_bytes());
                for v in [p.size, p.align, p.hash, p.exec as u64, p.external as u64] {
                    h.update(&v.to_le_bytes());
                }
            }
        }
        let input = h.digest();
        if let Some(m) = self.memo.get(section).filter(|m| m.input == input) {
            let m = m.clone();
            self.new.regions.extend(m.regions);
            self.new.pieces.extend(m.pieces);
            self.moved.extend(m.moved);
            return m.placement;
        }
        let moved_before = self.moved.len();
        let placement = place_regions(self, section, groups);
        let ours = |k: &(String, String)| k.0 == section;
        let memo = Memo {
            input,
            placement: placement.clone(),
            regions: self
                .new
                .regions
                .iter()
                .filter(|(k, _)| ours(k))
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            pieces: self
                .new
                .pieces
                .iter()
                .filter(|(k, _)| ours(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            moved: self.moved[moved_before..].to_vec(),
        };
        self.memo.insert(section.to_string(), memo);
        placement
    }

    /// A chunk's library, key, content hash and whether another library refers to it
    /// (computed once: layout runs several passes).
    pub fn identify(&mut self, link: &Link, c: &Chunk) -> PieceId {
        if let Some(id) = self.ids.get(c) {
            return id.clone();
        }
        let (hash, external) = match *c {
            Chunk::Input(f, s) => (
                content_hash(link, f, s),
                self.external
                    .get_or_insert_with(|| external_refs(link))
                    .contains(&(f, s)),
            ),
            _ => (0, false),
        };
        let id = PieceId {
            library: library_of(link, c).into(),
            key: piece_key(link, c).into(),
            hash,
            external,
        };
        self.ids.insert(*c, id.clone());
        id
    }
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
struct OldRegion {
    pieces: BTreeMap<String, Rec>,
    /// Content hash -> recorded places with that content.
    by_hash: rustc_hash::FxHashMap<u64, Vec<Rec>>,
    reserved: u64,
}

impl OldRegion {
    fn new(pieces: BTreeMap<String, Rec>, reserved: u64) -> OldRegion {
        let mut by_hash: rustc_hash::FxHashMap<u64, Vec<Rec>> = Default::default();
        for r in pieces.values() {
            if let Some(h) = r.hash {
                by_hash.entry(h).or_default().push(*r);
            }
        }
        OldRegion {
            pieces,
            by_hash,
            reserved,
        }
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
                2 => at(&p.key),
                3 => at(&moved_key(&p.key)),
                _ => old.grows_in_place(p),
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
pub fn place_regions(st: &mut Stable, section: &str, groups: Vec<Group>) -> Placement {
    let granule = Granule::of(section);
    let mut old_end = 0u64;
    for ((s, lib), &(o, r)) in &st.old.regions {
        if s != section {
            continue;
        }
        old_end = old_end.max(o + r);
        if let Some(p) = st.old.pieces.get(&(s.clone(), lib.clone())) {
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
        let (region_off, reserved) = match st.old.regions.get(&key) {
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
            st.old.pieces.get(&key).cloned().unwrap_or_default(),
            reserved,
        );
        let repack = st.old.regions.contains_key(&key) && old.changed_nearly_everywhere(&pieces);
        let mut used = Used::default();
        let mut offs = keep_places(&old, &pieces, repack, &mut used);
        // Trampoline places: the old places of moved code (in a repacked library, only of what
        // other libraries call).
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
                Moved::Code(at) => out.trampolines.push((pieces[i].chunk, region_off + at)),
                Moved::Data => st
                    .moved
                    .push(format!("{} of {lib} moved within {section}", pieces[i].key)),
            }
        }
        if reserved > 0 {
            st.new.regions.insert(key.clone(), (region_off, reserved));
            st.new.pieces.insert(key, new_pieces);
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

/// A piece that left the place the layout file had for it.
enum Moved {
    /// Code, with a trampoline at this offset of its old place.
    Code(u64),
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
                        moves.push((i, Moved::Code(r.off)));
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
    /// Code that moved: (chunk, offset of its old place, where a jump to it goes).
    pub trampolines: Vec<(Chunk, u64)>,
    pub size: u64,
}

/// (file, section) of an input section.
type InputId = (u32, u32);

/// Replaces output section `i` by `new` (possibly several, possibly including it again):
/// later sections' indices, which input sections and script symbols hold, move up.
fn replace_section(link: &mut Link, i: usize, new: Vec<crate::layout::OutputSection>) {
    let extra = new.len() as isize - 1;
    for file in link.files.iter_mut() {
        for sec in file.sections.iter_mut() {
            if sec.out_sec != u32::MAX && sec.out_sec as usize > i {
                sec.out_sec = (sec.out_sec as isize + extra) as u32;
            }
        }
    }
    for s in link.script_sec.iter_mut().flatten() {
        if *s > i {
            *s = (*s as isize + extra) as usize;
        }
    }
    link.layout.secs.splice(i..=i, new);
}

/// Covers the room a layout leaves between writable sections inside the RELRO range with a
/// zero-filled section (`.spacer.relro_room`): the C library write-protects the whole range at
/// start-up, so it must be mapped, and a section (unlike a load's memory size alone) keeps it
/// mapped through strip and objcopy. It costs no file bytes: it ends a load, like `.bss`.
pub fn cover_relro_room(link: &mut Link, relro: Option<(u64, u64)>) {
    let Some((a, b)) = relro else { return };
    let mut order: Vec<usize> = (0..link.layout.secs.len())
        .filter(|&i| {
            let s = &link.layout.secs[i];
            s.is_alloc() && !(s.is_tls() && s.is_nobits())
        })
        .collect();
    order.sort_by_key(|&i| link.layout.secs[i].addr);
    let mut pads = Vec::new();
    for w in order.windows(2) {
        let (p, q) = (&link.layout.secs[w[0]], &link.layout.secs[w[1]]);
        let start = p.addr + p.size;
        let end = q.addr / PAGE * PAGE;
        let writable = p.flags & elf::SHF_WRITE as u64 != 0 && q.flags & elf::SHF_WRITE as u64 != 0;
        if writable && start.next_multiple_of(PAGE) < end && start < b && end > a {
            pads.push((w[0], start, end));
        }
    }
    // From the last, so that earlier indices stay valid.
    for (i, start, end) in pads.into_iter().rev() {
        let before = link.layout.secs[i].clone();
        let pad = crate::layout::OutputSection {
            name: b".spacer.relro_room".to_vec(),
            sh_type: elf::SHT_NOBITS,
            flags: (elf::SHF_ALLOC | elf::SHF_WRITE) as u64,
            align: 1,
            addr: start,
            lma: before.lma + (start - before.addr),
            size: end - start,
            ..Default::default()
        };
        replace_section(link, i, vec![before, pad]);
    }
}

/// A stretch of a split section: offsets in the section and its input sections.
struct Part {
    start: u64,
    end: u64,
    members: Vec<(u32, u32)>,
}

/// Splits regioned sections with file contents where a stretch of more than a page holds
/// nothing (the regions of libraries a program of a fleet does not link, reserved room): each
/// part becomes a section of the same name, and the segment builder gives parts separated by
/// such a gap their own loads, so the gap costs address space but no file bytes. Only for
/// layouts whose segments spacer decides (no PHDRS).
pub fn split_at_holes(link: &mut Link) {
    let mut i = 0;
    while i < link.layout.secs.len() {
        let os = &link.layout.secs[i];
        let name = String::from_utf8_lossy(&os.name).into_owned();
        if !os.is_alloc()
            || os.is_nobits()
            || !is_regioned(&name)
            || !os.data.is_empty()
            || os.synth.is_some()
            || os.common_off.is_some()
        {
            i += 1;
            continue;
        }
        // (start, end, input section; None for a trampoline), offsets in the section.
        let mut members: Vec<(u64, u64, Option<InputId>)> = os
            .members
            .iter()
            .map(|&(f, s)| {
                let off = link.section(f, s).out_off;
                let size = crate::layout::member_size_align(link, f, s).0;
                (off, off + size, Some((f, s)))
            })
            .collect();
        // Trampolines hold bytes too, at the old places of moved code.
        let (lo, hi) = (os.addr, os.addr + os.size);
        members.extend(
            link.trampolines
                .values()
                .filter(|&&t| t >= lo && t < hi)
                .map(|&t| (t - lo, t - lo + TRAMPOLINE, None)),
        );
        members.sort_by_key(|m| m.0);
        let mut parts: Vec<Part> = Vec::new();
        for (start, end, m) in members {
            match parts.last_mut() {
                Some(p) if start <= p.end.next_multiple_of(PAGE) + PAGE || end == start => {
                    p.end = p.end.max(end);
                    p.members.extend(m);
                }
                _ => parts.push(Part {
                    start,
                    end,
                    members: m.into_iter().collect(),
                }),
            }
        }
        if parts.len() < 2 {
            i += 1;
            continue;
        }
        // What follows the last member (trailing alignment) stays with the last part.
        let size = os.size;
        if let Some(last) = parts.last_mut() {
            last.end = last.end.max(size);
        }
        let base = os.clone();
        let extra = parts.len() - 1;
        let mut new_secs = Vec::with_capacity(parts.len());
        let mut moves = Vec::new();
        for (
            k,
            Part {
                start,
                end,
                members: ms,
            },
        ) in parts.into_iter().enumerate()
        {
            moves.extend(ms.iter().map(|&m| (m, k, start)));
            let mut part = base.clone();
            part.addr = base.addr + start;
            part.lma = base.lma + start;
            part.size = end - start;
            part.members = ms;
            new_secs.push(part);
        }
        replace_section(link, i, new_secs);
        for ((f, s), k, start) in moves {
            let sec = &mut link.files[f as usize].sections[s as usize];
            sec.out_off -= start;
            sec.out_sec = (i + k) as u32;
        }
        i += extra + 1;
    }
}
