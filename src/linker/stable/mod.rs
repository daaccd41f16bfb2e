//! Version-stable layout (`--layout FILE`): every input library gets its own page-aligned
//! region in the output sections that hold code and data, and a layout file carried from one
//! link to the next keeps output sections and regions at the same addresses. Pages of a
//! library that did not change then keep their bytes when another library changes, and
//! programs that share a layout file place the same library at the same address.
//!
//! The file format is documented in docs/stable-layout.md.

mod piece;
mod place;
mod sections;

pub use crate::layout_file::{LayoutFile, LayoutLock, PieceFunctions, Rec};
pub use piece::{is_regioned, is_tls_regioned, Granule, Group, Piece, PieceId, PAGE};
pub use place::Placement;
pub use sections::{cover_relro_room, split_at_holes};

use crate::linker::context::{GotKind, Link, SymRef, Tables};
use crate::linker::layout::Chunk;
use object::{elf, LittleEndian as LE};
use std::collections::BTreeMap;

/// `s` with whitespace replaced by `_` (the layout file separates fields by whitespace);
/// names without any, nearly all, are kept as they are.
fn no_whitespace(s: String) -> String {
    if s.contains(char::is_whitespace) {
        s.replace(char::is_whitespace, "_")
    } else {
        s
    }
}

/// The key of an input section inside its library: archive member (or object) and section
/// name, without directories, so that it matches across versions. An archive can hold two
/// members of one name (musl's `libc.a` has two `free.lo`): the second one the link loads
/// (by place in the archive) is `free.lo~1`, and so on (`dup`).
pub fn piece_key(link: &Link, c: &Chunk, dup: u32) -> String {
    match c {
        Chunk::Input(f, s) => {
            let name = &link.files[*f as usize].name;
            let member = match name.rfind('(') {
                Some(i) if name.ends_with(')') => &name[i + 1..name.len() - 1],
                _ => name.rsplit('/').next().unwrap_or(name),
            };
            let sec = String::from_utf8_lossy(link.section(*f, *s).name);
            let key = if dup > 0 {
                format!("{member}~{dup}:{sec}")
            } else {
                format!("{member}:{sec}")
            };
            no_whitespace(key)
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
    // The hashed bytes: size, contents, then each relocation's offset, type, addend and
    // target name. The relocation part is collected first and hashed in one call (many tiny
    // streaming updates cost more than the hashing), in a buffer each thread keeps (growing
    // a new one per section, long C++ names and all, cost more than the hashing too).
    thread_local! {
        static REL: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    REL.with_borrow_mut(|rel| {
        rel.clear();
        relocation_bytes(file, sec, rel);
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&sec.size.to_le_bytes());
        h.update(sec.data);
        h.update(rel);
        h.digest()
    })
}

/// What `content_hash` hashes of a section's relocations.
fn relocation_bytes(
    file: &crate::linker::object_file::ObjectFile,
    sec: &crate::linker::object_file::InputSection,
    rel: &mut Vec<u8>,
) {
    for r in sec.relocs {
        rel.extend_from_slice(&r.r_offset.get(LE).to_le_bytes());
        rel.extend_from_slice(&r.r_type(LE, false).to_le_bytes());
        rel.extend_from_slice(&r.r_addend.get(LE).to_le_bytes());
        let sym = r.r_sym(LE, false) as usize;
        match file.symbols.get(sym) {
            Some(t) if t.typ == elf::STT_SECTION => {
                let name = file
                    .sections
                    .get(t.shndx as usize)
                    .map_or(&b""[..], |x| x.name);
                rel.extend_from_slice(b"\0section:");
                rel.extend_from_slice(name);
            }
            Some(t) => {
                rel.extend_from_slice(b"\0symbol:");
                rel.extend_from_slice(t.name);
            }
            None => rel.extend_from_slice(b"\0?"),
        }
    }
}

/// The function symbols of a code section that are not at its start (one section holding many
/// functions, as without -ffunction-sections), by name, with their offsets; names that occur
/// twice are left out, since the layout file could not tell them apart.
fn functions_inside(link: &Link, f: u32, s: u32, by_section: &[Vec<u32>]) -> Vec<(String, u64)> {
    let file = &link.files[f as usize];
    if file.sections[s as usize].flags & elf::SHF_EXECINSTR as u64 == 0 {
        return Vec::new();
    }
    let mut funcs: Vec<(String, u64)> = by_section
        .get(s as usize)
        .into_iter()
        .flatten()
        .map(|&i| &file.symbols[i as usize])
        .filter(|y| y.value > 0 && !y.name.is_empty())
        .map(|y| {
            let name = String::from_utf8_lossy(y.name).replace(char::is_whitespace, "_");
            (name, y.value)
        })
        .collect();
    funcs.sort();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, _) in &funcs {
        *counts.entry(n.as_str()).or_default() += 1;
    }
    let unique: Vec<(String, u64)> = funcs
        .iter()
        .filter(|(n, _)| counts[n.as_str()] == 1)
        .cloned()
        .collect();
    unique
}

/// A file's function symbols (STT_FUNC) by the section they are in: one pass over its symbols,
/// rather than one per section.
fn functions_by_section(file: &crate::linker::object_file::ObjectFile) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); file.sections.len()];
    for (i, y) in file.symbols.iter().enumerate() {
        if y.typ == elf::STT_FUNC && (y.shndx as usize) < out.len() {
            out[y.shndx as usize].push(i as u32);
        }
    }
    out
}

/// Who refers to what across input sections: each file's library (by number) and, for every
/// input section another library's code or data refers to (through any relocation of an
/// allocated section other than `.eh_frame`, whose references are rewritten anyway), the
/// sections that refer to it. The planner counts the pages a move would change with it.
#[derive(Debug)]
pub struct Refs {
    /// Per file, its library's name (`library_of`).
    lib_name: Vec<std::sync::Arc<str>>,
    lib_of_file: Vec<u32>,
    /// Per file, how many files of the same name (archive and member) the link loaded from
    /// earlier in the archive (see `piece_key`).
    dup_of_file: Vec<u32>,
    callers: rustc_hash::FxHashMap<(u32, u32), Vec<(u32, u32)>>,
}

impl Refs {
    pub fn new(link: &Link) -> Refs {
        use rayon::prelude::*;
        let lib_name: Vec<std::sync::Arc<str>> = (0..link.files.len() as u32)
            .map(|f| library_of(link, &Chunk::Input(f, 0)).into())
            .collect();
        // Libraries by number, so that the test per relocation compares integers.
        let mut lib_ids: rustc_hash::FxHashMap<&str, u32> = Default::default();
        let libs: Vec<u32> = lib_name
            .iter()
            .map(|name| {
                let n = lib_ids.len() as u32;
                *lib_ids.entry(name).or_insert(n)
            })
            .collect();
        // (referred-to section, referring section), each as (file, section).
        type Edge = ((u32, u32), (u32, u32));
        let per_file: Vec<Vec<Edge>> = (0..link.files.len())
            .into_par_iter()
            .map(|f| {
                let mut out = Vec::new();
                for (s, sec) in link.files[f].sections.iter().enumerate() {
                    if !sec.is_included() || !sec.is_alloc() || sec.name == b".eh_frame" {
                        continue;
                    }
                    for r in sec.relocs {
                        let target = link.symref(f as u32, r.r_sym(LE, false));
                        if let Some((tf, ts)) = link.def_section(target) {
                            if tf as usize != f && libs[tf as usize] != libs[f] {
                                out.push(((tf, ts), (f as u32, s as u32)));
                            }
                        }
                    }
                }
                out.sort_unstable();
                out.dedup();
                out
            })
            .collect();
        let mut callers: rustc_hash::FxHashMap<(u32, u32), Vec<(u32, u32)>> = Default::default();
        for (t, c) in per_file.into_iter().flatten() {
            callers.entry(t).or_default().push(c);
        }
        let mut by_name: Vec<u32> = (0..link.files.len() as u32).collect();
        by_name.sort_by(|&a, &b| {
            let (x, y) = (&link.files[a as usize], &link.files[b as usize]);
            (&x.name, x.order).cmp(&(&y.name, y.order))
        });
        let mut dup_of_file = vec![0u32; link.files.len()];
        for w in by_name.windows(2) {
            if link.files[w[0] as usize].name == link.files[w[1] as usize].name {
                dup_of_file[w[1] as usize] = dup_of_file[w[0] as usize] + 1;
            }
        }
        Refs {
            lib_name,
            lib_of_file: libs,
            dup_of_file,
            callers,
        }
    }

    /// The input sections of the same library that section `s` of file `f` refers to.
    fn within_library(&self, link: &Link, f: u32, s: u32) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = link.files[f as usize].sections[s as usize]
            .relocs
            .iter()
            .filter_map(|r| link.def_section(link.symref(f, r.r_sym(LE, false))))
            .filter(|&(tf, ts)| {
                (tf, ts) != (f, s) && self.lib_of_file[tf as usize] == self.lib_of_file[f as usize]
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Gives the GOT and IFUNC PLT entries the relocation scan found the slots the layout file
/// keeps, so that one library's or program's new entry does not move the entries every other
/// library's code refers to.
pub fn keep_table_slots(st: &mut Stable, link: &Link, mut tables: Tables) -> Tables {
    let named = |link: &Link, r: SymRef| link.name(r).replace(char::is_whitespace, "_");
    let got: Vec<((SymRef, GotKind), String)> = std::mem::take(&mut tables.got)
        .into_iter()
        .map(|(r, k)| {
            let prefix = if k == GotKind::TpOff { "tpoff:" } else { "" };
            ((r, k), format!("{prefix}{}", named(link, r)))
        })
        .collect();
    (tables.got, tables.got_map) = assign_slots(st, "got", got);
    let plt: Vec<(SymRef, String)> = std::mem::take(&mut tables.plt)
        .into_iter()
        .map(|r| (r, named(link, r)))
        .collect();
    (tables.plt, tables.plt_map) = assign_slots(st, "plt", plt);
    tables
}

/// Slots of a linker-created table (GOT, IFUNC PLT) for `entries` (each with the name the
/// layout file knows it by): an entry the layout file knows keeps its index, new entries follow
/// every recorded index in name order, so that one program's or library's new entry does not
/// move the entries other code refers to. Returns the table and each entry's index. A recorded
/// slot whose entry this link lacks repeats another entry of the table (a harmless copy: for
/// the PLT, one more call of that IFUNC's resolver at start-up).
fn assign_slots<T: Copy + Eq + std::hash::Hash>(
    layout: &mut Stable,
    table: &str,
    mut entries: Vec<(T, String)>,
) -> (Vec<T>, crate::linker::symbols::FastMap<T, u32>) {
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
    let index = out
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Some(((*e)?, i as u32)))
        .collect();
    let filler = out.iter().flatten().next().copied();
    (
        out.into_iter().filter_map(|e| e.or(filler)).collect(),
        index,
    )
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
    /// Who refers to what (computed once, on first use).
    refs: Option<Refs>,
    /// How pieces are placed inside regions.
    mode: crate::linker::args::LayoutMode,
    /// What the planner chose, per (output section, library), from the last layout pass.
    pub report: BTreeMap<(String, String), String>,
    /// What `identify` found for each chunk.
    ids: rustc_hash::FxHashMap<Chunk, PieceId>,
    /// Each regioned section's last placement, for the next layout pass (see `place_chunks`).
    memo: rustc_hash::FxHashMap<String, Memo>,
    /// The regioned sections placed in this layout pass.
    placed: rustc_hash::FxHashSet<String>,
}

/// Removes the records of one output section from a map keyed by (output section, library).
fn drop_section<V>(map: &mut BTreeMap<(String, String), V>, section: &str) {
    let keys: Vec<(String, String)> = map
        .range((section.to_string(), String::new())..)
        .take_while(|(k, _)| k.0 == section)
        .map(|(k, _)| k.clone())
        .collect();
    for k in keys {
        map.remove(&k);
    }
}

/// A placement, with a digest of the pieces it was made for; what it recorded stays in
/// `Stable::new` from one pass to the next.
#[derive(Debug, Clone)]
struct Memo {
    input: u64,
    placement: Placement,
    moved: Vec<String>,
}

impl Stable {
    /// The state of a link that reads `old` (empty for a first link).
    pub fn new(old: LayoutFile, mode: crate::linker::args::LayoutMode) -> Stable {
        Stable {
            old,
            mode,
            ..Default::default()
        }
    }

    /// Starts a layout pass: sections record their addresses again and notes are collected
    /// afresh; the records of regioned sections stay until their section is placed again.
    pub fn begin_pass(&mut self) {
        self.new.sections.clear();
        self.moved.clear();
        self.placed.clear();
    }

    /// Ends layout: records of regioned sections the last pass did not place go.
    pub fn end_layout(&mut self) {
        let placed = &self.placed;
        self.new.regions.retain(|k, _| placed.contains(&k.0));
        self.new.pieces.retain(|k, _| placed.contains(&k.0));
        self.new.syms.retain(|k, _| placed.contains(&k.0));
    }

    /// Where the chunks of a regioned output section go: `chunks` are (chunk, size,
    /// alignment, code or not) in the script's order; they are grouped by library and placed
    /// in the libraries' regions (`place::place_regions`). Layout runs several passes over the
    /// same inputs, and the placement depends only on them and the old layout, so a section
    /// whose chunks did not change since the last pass gets the same placement again.
    pub fn place_chunks(
        &mut self,
        link: &Link,
        section: &str,
        chunks: &[(Chunk, u64, u64, bool)],
    ) -> Placement {
        use std::hash::{Hash, Hasher};
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for (c, size, align, exec) in chunks {
            c.hash(&mut h);
            h.write_u64(*size);
            h.write_u64(*align);
            h.write_u8(*exec as u8);
        }
        let input = h.finish();
        self.placed.insert(section.to_string());
        if let Some(m) = self.memo.get(section).filter(|m| m.input == input) {
            // The records it made are still in `new`.
            self.moved.extend(m.moved.iter().cloned());
            return m.placement.clone();
        }
        drop_section(&mut self.new.regions, section);
        drop_section(&mut self.new.pieces, section);
        drop_section(&mut self.new.syms, section);
        // `.eh_frame`'s terminator (crtend.o's four zero bytes) ends the section: a walk of the
        // frames stops there, so the regions of libraries a later link adds must not follow it.
        let is_terminator = |c: &Chunk| {
            section == ".eh_frame"
                && matches!(*c, Chunk::Input(f, s) if link.section(f, s).data == [0u8; 4])
        };
        let terminators: Vec<(Chunk, u64)> = chunks
            .iter()
            .filter(|c| is_terminator(&c.0))
            .map(|c| (c.0, c.2.max(1)))
            .collect();
        // Group the chunks by library, each group laid out on its own.
        let mut groups: Vec<Group> = Vec::new();
        let mut group_of: rustc_hash::FxHashMap<std::sync::Arc<str>, usize> = Default::default();
        for &(chunk, size, align, exec) in chunks.iter().filter(|c| !is_terminator(&c.0)) {
            let id = self.identify(link, &chunk);
            let gi = *group_of.entry(id.library.clone()).or_insert_with(|| {
                groups.push((id.library.to_string(), Vec::new()));
                groups.len() - 1
            });
            groups[gi].1.push(Piece {
                chunk,
                key: id.key.to_string(),
                size,
                align,
                exec,
                hash: id.hash,
                funcs: id.funcs,
                refs: id.refs,
                callers: id.callers,
            });
        }
        let moved_before = self.moved.len();
        let mut report = Vec::new();
        let mut placement = place::place_regions(
            &self.old,
            &mut self.new,
            &mut self.moved,
            &mut report,
            section,
            groups,
            self.mode,
        );
        for (lib, line) in report {
            self.report.insert((section.to_string(), lib), line);
        }
        for (chunk, align) in terminators {
            let at = placement.size.next_multiple_of(align);
            placement.chunks.push((chunk, at));
            placement.size = at + 4;
        }
        let memo = Memo {
            input,
            placement: placement.clone(),
            moved: self.moved[moved_before..].to_vec(),
        };
        self.memo.insert(section.to_string(), memo);
        placement
    }

    /// Computes, in parallel, the identities of chunks `identify` will be asked for.
    pub fn prepare(&mut self, link: &Link, chunks: &[Chunk]) {
        use rayon::prelude::*;
        let refs = self.refs.get_or_insert_with(|| Refs::new(link));
        let mut files: Vec<u32> = chunks
            .iter()
            .filter_map(|c| match c {
                Chunk::Input(f, _) => Some(*f),
                _ => None,
            })
            .collect();
        files.sort_unstable();
        files.dedup();
        let funcs: rustc_hash::FxHashMap<u32, Vec<Vec<u32>>> = files
            .par_iter()
            .map(|&f| (f, functions_by_section(&link.files[f as usize])))
            .collect();
        // Pieces differ in cost (a large section with many relocations and functions costs
        // most): small batches keep both threads busy to the end.
        let ids: Vec<(Chunk, PieceId)> = chunks
            .par_iter()
            .with_max_len(8)
            .filter(|c| !self.ids.contains_key(c))
            .map(|c| {
                let by_section = match c {
                    Chunk::Input(f, _) => &funcs[f][..],
                    _ => &[][..],
                };
                (*c, piece_id(link, refs, c, by_section))
            })
            .collect();
        self.ids.extend(ids);
    }

    /// A chunk's library, key, content hash and whether another library refers to it
    /// (computed once: layout runs several passes).
    fn identify(&mut self, link: &Link, c: &Chunk) -> PieceId {
        if let Some(id) = self.ids.get(c) {
            return id.clone();
        }
        let refs = self.refs.get_or_insert_with(|| Refs::new(link));
        let by_section = match *c {
            Chunk::Input(f, _) => functions_by_section(&link.files[f as usize]),
            _ => Vec::new(),
        };
        let id = piece_id(link, refs, c, &by_section);
        self.ids.insert(*c, id.clone());
        id
    }
}

fn piece_id(link: &Link, refs: &Refs, c: &Chunk, by_section: &[Vec<u32>]) -> PieceId {
    let (hash, callers, within) = match *c {
        Chunk::Input(f, s) => (
            content_hash(link, f, s),
            refs.callers.get(&(f, s)).cloned().unwrap_or_default(),
            refs.within_library(link, f, s),
        ),
        _ => (0, Vec::new(), Vec::new()),
    };
    PieceId {
        library: match *c {
            Chunk::Input(f, _) => refs.lib_name[f as usize].clone(),
            _ => library_of(link, c).into(),
        },
        key: piece_key(
            link,
            c,
            match *c {
                Chunk::Input(f, _) => refs.dup_of_file[f as usize],
                _ => 0,
            },
        )
        .into(),
        hash,
        callers: callers.into(),
        refs: within.into(),
        funcs: match *c {
            Chunk::Input(f, s) => functions_inside(link, f, s, by_section).into(),
            _ => Vec::new().into(),
        },
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
            no_whitespace(base.to_string())
        }
        _ => "<linker>".to_string(),
    }
}
