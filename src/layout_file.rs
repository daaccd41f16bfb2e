//! The layout file: its text format (version 2, documented in docs/stable-layout.md) and the
//! lock that links sharing one file take turns on.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

const HEADER: &str = "# spacer layout v2";
/// Files written before pieces carried content hashes; still read.
const HEADER_V1: &str = "# spacer layout v1";

#[derive(Debug, Default, Clone, PartialEq)]
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
    /// (output section, library) -> input section key -> function symbol -> its offset in
    /// the input section, for functions not at its start (code compiled without
    /// -ffunction-sections): where jumps go when such a section moves.
    pub syms: BTreeMap<(String, String), PieceFunctions>,
}

/// Input section key -> function symbol -> its offset in the input section.
pub type PieceFunctions = BTreeMap<String, BTreeMap<String, u64>>;

/// Where the layout file puts one input section inside its library's region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    /// Offset in the region.
    pub off: u64,
    /// Room it has there.
    pub size: u64,
    /// Content hash of the input section that was placed there (None: written by version 1).
    pub hash: Option<u64>,
    /// The input section's alignment when above 16 (written only then; 0: at most 16).
    pub align: u64,
}

impl Rec {
    /// A record as the file holds it: an alignment of 16 or less is not kept (0), so that a
    /// record made by a link compares equal to the one read back from the file it wrote.
    pub fn new(off: u64, size: u64, hash: Option<u64>, align: u64) -> Rec {
        Rec {
            off,
            size,
            hash,
            align: if align > 16 { align } else { 0 },
        }
    }

    pub fn end(&self) -> u64 {
        self.off + self.size
    }
}

impl LayoutFile {
    pub fn read(path: &Path) -> Result<LayoutFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read layout file {}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Reads a layout file's text; `path` names it in messages. A large file is read in parts
    /// in parallel (a relink reads it before anything else can start), each part a run of
    /// whole lines, and the parts joined in file order: a later line still overrides an
    /// earlier one, and the first bad line in the file is the one reported.
    pub fn parse(text: &str, path: &Path) -> Result<LayoutFile> {
        use rayon::prelude::*;
        let (first, body_at) = match text.find('\n') {
            Some(i) => (&text[..i], i + 1),
            None => (text, text.len()),
        };
        if first.trim() != HEADER && first.trim() != HEADER_V1 {
            bail!(
                "{}:1: not a spacer layout file (expected '{HEADER}')",
                path.display()
            );
        }
        // Parts of about PART bytes, each ending at a line's end.
        const PART: usize = 128 << 10;
        let mut parts: Vec<(usize, &str)> = Vec::new();
        let (mut at, mut line) = (body_at, 1usize);
        while at < text.len() {
            let end = match text[(at + PART).min(text.len())..].find('\n') {
                Some(i) => (at + PART).min(text.len()) + i + 1,
                None => text.len(),
            };
            parts.push((line, &text[at..end]));
            line += memchr::memchr_iter(b'\n', &text.as_bytes()[at..end]).count();
            at = end;
        }
        let read: Vec<Result<LayoutFile>> = parts
            .par_iter()
            .map(|&(line, part)| Self::parse_lines(part, line, path))
            .collect();
        let mut f = LayoutFile::default();
        for part in read {
            f.join(part?);
        }
        Ok(f)
    }

    /// Adds what a later part of the file says (`parse`).
    fn join(&mut self, later: LayoutFile) {
        self.sections.extend(later.sections);
        self.regions.extend(later.regions);
        self.slots.extend(later.slots);
        for (k, mut v) in later.pieces {
            self.pieces.entry(k).or_default().append(&mut v);
        }
        for (k, v) in later.syms {
            let m = self.syms.entry(k).or_default();
            for (key, funcs) in v {
                m.entry(key).or_default().extend(funcs);
            }
        }
    }

    /// Reads lines of a layout file's body; the first is line `first_line` (from 0) of the file.
    fn parse_lines(text: &str, first_line: usize, path: &Path) -> Result<LayoutFile> {
        let mut f = LayoutFile::default();
        let lines = text.lines().enumerate().map(|(i, l)| (i + first_line, l));
        let num = |s: &str, line: usize| -> Result<u64> {
            let t = s.trim_start_matches("0x");
            u64::from_str_radix(t, 16)
                .with_context(|| format!("{}:{}: invalid number '{s}'", path.display(), line + 1))
        };
        // Piece and sym lines come grouped by (section, library), as `render` writes them: they
        // are collected for the current pair and moved into the maps when the pair changes,
        // rather than looking the pair up (and allocating it) once per line.
        let mut cur: (String, String) = Default::default();
        let mut cur_pieces: BTreeMap<String, Rec> = BTreeMap::new();
        let mut cur_syms: PieceFunctions = BTreeMap::new();
        let flush = |f: &mut LayoutFile,
                     cur: &(String, String),
                     pieces: &mut BTreeMap<String, Rec>,
                     syms: &mut PieceFunctions| {
            if !pieces.is_empty() {
                f.pieces.entry(cur.clone()).or_default().append(pieces);
            }
            if !syms.is_empty() {
                let m = f.syms.entry(cur.clone()).or_default();
                for (k, v) in std::mem::take(syms) {
                    m.entry(k).or_default().extend(v);
                }
            }
        };
        for (i, line) in lines {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = [""; 8];
            let mut n = 0;
            for t in line.split_whitespace() {
                if n == words.len() {
                    bail!("{}:{}: unrecognised line '{line}'", path.display(), i + 1);
                }
                words[n] = t;
                n += 1;
            }
            let w = &words[..n];
            if let ["piece" | "sym", sec, lib, ..] = w {
                if cur.0 != *sec || cur.1 != *lib {
                    flush(&mut f, &cur, &mut cur_pieces, &mut cur_syms);
                    cur = (sec.to_string(), lib.to_string());
                }
            }
            match w {
                ["section", name, addr] => {
                    f.sections.insert(name.to_string(), num(addr, i)?);
                }
                ["region", sec, lib, off, size] => {
                    f.regions.insert(
                        (sec.to_string(), lib.to_string()),
                        (num(off, i)?, num(size, i)?),
                    );
                }
                ["piece", _, _, key, off, size, rest @ ..] if rest.len() <= 2 => {
                    let rec = Rec {
                        off: num(off, i)?,
                        size: num(size, i)?,
                        hash: rest.first().map(|h| num(h, i)).transpose()?,
                        align: rest.get(1).map(|a| num(a, i)).transpose()?.unwrap_or(0),
                    };
                    cur_pieces.insert(key.to_string(), rec);
                }
                ["sym", _, _, key, name, off] => {
                    let off = num(off, i)?;
                    match cur_syms.get_mut(*key) {
                        Some(m) => m.insert(name.to_string(), off),
                        None => cur_syms
                            .entry(key.to_string())
                            .or_default()
                            .insert(name.to_string(), off),
                    };
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
        flush(&mut f, &cur, &mut cur_pieces, &mut cur_syms);
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
            "# piece SECTION LIBRARY MEMBER:INPUT-SECTION OFFSET SIZE CONTENT-HASH [ALIGN] /"
        );
        let _ = writeln!(
            s,
            "# sym SECTION LIBRARY KEY FUNCTION OFFSET / slot TABLE SYMBOL INDEX (hex)"
        );
        for ((table, name), index) in &self.slots {
            let _ = writeln!(s, "slot {table} {name} {index:#x}");
        }
        // Sections with an address, and sections that have regions but no address yet (a
        // fleet plan before its first links).
        let names: std::collections::BTreeSet<&String> = self
            .sections
            .keys()
            .chain(self.regions.keys().map(|(s, _)| s))
            .collect();
        for name in names {
            if let Some(addr) = self.sections.get(name) {
                let _ = writeln!(s, "section {name} {addr:#x}");
            }
            for ((sec, lib), (off, size)) in self.regions.range((name.clone(), String::new())..) {
                if sec != name {
                    break;
                }
                let _ = writeln!(s, "region {sec} {lib} {off:#x} {size:#x}");
                if let Some(pieces) = self.pieces.get(&(sec.clone(), lib.clone())) {
                    for (key, r) in pieces {
                        let _ = write!(s, "piece {sec} {lib} {key} {:#x} {:#x}", r.off, r.size);
                        let _ = match (r.hash, r.align > 16) {
                            (Some(h), true) => writeln!(s, " {h:016x} {:#x}", r.align),
                            (Some(h), false) => writeln!(s, " {h:016x}"),
                            (None, _) => writeln!(s),
                        };
                        let syms = self.syms.get(&(sec.clone(), lib.clone()));
                        for (name, off) in syms.and_then(|m| m.get(key)).into_iter().flatten() {
                            let _ = writeln!(s, "sym {sec} {lib} {key} {name} {off:#x}");
                        }
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
        let mut name = layout.as_os_str().to_owned();
        name.push(".lock");
        let path = std::path::PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the layout lock {}", path.display()))?;
        file.lock()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(LayoutLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file large enough to be read in several parts: it reads back as one read in one
    /// part would (records of one library split across parts included), and a bad line deep
    /// inside is reported with its own line number.
    #[test]
    fn large_file_reads_in_parts_as_a_whole() {
        let mut f = LayoutFile::default();
        f.sections.insert(".text".into(), 0x401000);
        for lib in 0..4 {
            let lib = format!("lib{lib}.a");
            f.regions.insert(
                (".text".into(), lib.clone()),
                (lib.len() as u64 * 0x1000, 0x10000),
            );
            let pieces = f.pieces.entry((".text".into(), lib.clone())).or_default();
            let syms = f.syms.entry((".text".into(), lib.clone())).or_default();
            for i in 0..3000u64 {
                let key = format!("member{i}.o:.text.function_with_a_long_name_{i}");
                pieces.insert(
                    key.clone(),
                    Rec::new(i * 64, 48, Some(i * 7919), 32 * (i % 2)),
                );
                syms.entry(key).or_default().insert(format!("inner{i}"), 16);
            }
        }
        f.slots.insert(("got".into(), "stdout".into()), 3);
        let text = f.render();
        assert!(
            text.len() > 4 * (128 << 10),
            "the test file is too small to be split"
        );
        let read = LayoutFile::parse(&text, Path::new("big.layout")).unwrap();
        assert!(
            read == f,
            "the file read in parts differs from what was written"
        );

        let mut lines: Vec<&str> = text.lines().collect();
        let bad = lines.len() * 3 / 4;
        lines[bad] = "piece .text lib1.a broken";
        let err = LayoutFile::parse(&lines.join("\n"), Path::new("big.layout"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("big.layout:{}:", bad + 1)),
            "wrong line in: {err}"
        );
    }
}
