//! The layout of a linked ELF file as readelf and nm show it (entry point, section headers,
//! program headers, the section to segment mapping, defined symbols), for the tests that
//! compare spacer's output with GNU ld's (`tests/scripts.rs`, `tests/unikernel.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use super::tool;

/// A hexadecimal number as readelf and nm print it, with or without `0x`.
pub fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("bad hex number {s:?}: {e}"))
}

/// One section header.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Section {
    pub kind: String,
    pub addr: u64,
    pub size: u64,
    /// readelf's flag letters, as it prints them (empty for none).
    pub flags: String,
    pub align: u64,
}

impl Section {
    /// The flags a linker script decides: readelf's letters reduced to W, A, X and T.
    pub fn waxt(&self) -> String {
        self.flags.chars().filter(|c| "WAXT".contains(*c)).collect()
    }

    pub fn is_alloc(&self) -> bool {
        self.flags.contains('A')
    }
}

/// One program header (file offsets left out: they are the linker's business).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Segment {
    pub kind: String,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub flags: String,
    pub align: u64,
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} vaddr {:#x} paddr {:#x} filesz {:#x} memsz {:#x} flags {} align {:#x}",
            self.kind, self.vaddr, self.paddr, self.filesz, self.memsz, self.flags, self.align
        )
    }
}

pub struct Layout {
    pub entry: u64,
    /// Every section (but the null one) in section-header order; names may repeat.
    pub sections: Vec<(String, Section)>,
    pub segments: Vec<Segment>,
    /// Section names per program header, as readelf's "Section to Segment mapping" shows them.
    pub mapping: Vec<String>,
    /// Defined symbols: name -> sorted (value, nm class letter); local names may repeat.
    pub symbols: BTreeMap<String, Vec<(u64, char)>>,
}

impl Layout {
    /// The section of that name (the last one, if the name repeats).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    /// The allocated sections in section-header order.
    pub fn alloc(&self) -> impl Iterator<Item = &(String, Section)> {
        self.sections.iter().filter(|(_, s)| s.is_alloc())
    }

    /// The sorted values of a defined symbol (several for a repeated local name).
    pub fn symbol_values(&self, name: &str) -> Option<Vec<u64>> {
        self.symbols
            .get(name)
            .map(|v| v.iter().map(|(value, _)| *value).collect())
    }
}

/// Reads the layout of `path` with `readelf -hW`, `-SW`, `-lW` and `nm --defined-only`.
pub fn layout(path: &Path) -> Layout {
    let p = path.to_str().unwrap();
    let entry = tool(&["readelf", "-hW", p])
        .lines()
        .find_map(|l| l.trim().strip_prefix("Entry point address:"))
        .map(|v| hex(v.trim()))
        .expect("readelf -h shows the entry point");

    let mut sections = Vec::new();
    for line in tool(&["readelf", "-SW", p]).lines() {
        // "  [ 2] .text  PROGBITS  0000000000401000 001000 0011cd 00  AX  0   0 16"
        let Some(rest) = line.trim_start().strip_prefix('[') else {
            continue;
        };
        let Some((_, rest)) = rest.split_once(']') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 9
            || f[0] == "Name"
            || !f[1]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        // With no flags the flags column is missing.
        let (flags, align) = if f.len() >= 10 {
            (f[6], f[9])
        } else {
            ("", f[8])
        };
        sections.push((
            f[0].to_string(),
            Section {
                kind: f[1].to_string(),
                addr: hex(f[2]),
                size: hex(f[4]),
                flags: flags.to_string(),
                align: align.parse().unwrap_or(0),
            },
        ));
    }

    let mut segments = Vec::new();
    let mut mapping = Vec::new();
    let mut in_mapping = false;
    for line in tool(&["readelf", "-lW", p]).lines() {
        let t = line.trim();
        if t.starts_with("Section to Segment mapping") {
            in_mapping = true;
            continue;
        }
        if in_mapping {
            // "   01     .rodata .uk_ctortab ..." (an empty segment has only its number)
            let mut words = t.split_whitespace();
            if words.next().is_some_and(|n| n.parse::<u32>().is_ok()) {
                mapping.push(words.collect::<Vec<_>>().join(" "));
            }
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        if f.len() >= 7 && f[1].starts_with("0x") && f[2].starts_with("0x") {
            // Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg(1-3 words) Align
            segments.push(Segment {
                kind: f[0].to_string(),
                vaddr: hex(f[2]),
                paddr: hex(f[3]),
                filesz: hex(f[4]),
                memsz: hex(f[5]),
                flags: f[6..f.len() - 1].join(""),
                align: hex(f[f.len() - 1]),
            });
        }
    }

    let mut symbols: BTreeMap<String, Vec<(u64, char)>> = BTreeMap::new();
    for line in tool(&["nm", "--defined-only", p]).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 {
            let class = f[1].chars().next().unwrap();
            symbols
                .entry(f[2].to_string())
                .or_default()
                .push((hex(f[0]), class));
        }
    }
    for v in symbols.values_mut() {
        v.sort_unstable();
    }

    Layout {
        entry,
        sections,
        segments,
        mapping,
        symbols,
    }
}

/// A different entry point.
pub fn entry_difference(bfd: &Layout, spacer: &Layout) -> Option<String> {
    (bfd.entry != spacer.entry).then(|| {
        format!(
            "entry point: bfd {:#x}, spacer {:#x}",
            bfd.entry, spacer.entry
        )
    })
}

/// The differences in the program headers (every field of [`Segment`]; the alignment of
/// PT_GNU_STACK, which holds no sections, means nothing and is not compared) and in the
/// sections each program header holds.
pub fn segment_differences(bfd: &Layout, spacer: &Layout) -> Vec<String> {
    let mut diffs = Vec::new();
    if bfd.segments.len() != spacer.segments.len() {
        diffs.push(format!(
            "program headers: bfd has {}, spacer {}",
            bfd.segments.len(),
            spacer.segments.len()
        ));
    }
    for i in 0..bfd.segments.len().max(spacer.segments.len()) {
        match (bfd.segments.get(i), spacer.segments.get(i)) {
            (Some(b), Some(s)) => {
                let same = if b.kind == "GNU_STACK" {
                    b.kind == s.kind && b.flags == s.flags
                } else {
                    b == s
                };
                if !same {
                    diffs.push(format!(
                        "program header {i}:\n    bfd    {b}\n    spacer {s}"
                    ));
                }
            }
            (Some(b), None) => diffs.push(format!("program header {i}: bfd {b}; spacer none")),
            (None, Some(s)) => diffs.push(format!("program header {i}: bfd none; spacer {s}")),
            (None, None) => {}
        }
    }
    for i in 0..bfd.mapping.len().max(spacer.mapping.len()) {
        let (b, s) = (bfd.mapping.get(i), spacer.mapping.get(i));
        if b != s {
            diffs.push(format!(
                "sections in program header {i}: bfd {:?}, spacer {:?}",
                b.map_or("<none>", |x| x.as_str()),
                s.map_or("<none>", |x| x.as_str())
            ));
        }
    }
    diffs
}
