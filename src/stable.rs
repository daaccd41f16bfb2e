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
            "# section NAME ADDRESS / region SECTION LIBRARY OFFSET RESERVED (hex)"
        );
        for (name, addr) in &self.sections {
            let _ = writeln!(s, "section {name} {addr:#x}");
            for ((sec, lib), (off, size)) in self.regions.range((name.clone(), String::new())..) {
                if sec != name {
                    break;
                }
                let _ = writeln!(s, "region {sec} {lib} {off:#x} {size:#x}");
            }
        }
        s
    }
}

/// One library's chunks in a regioned section: (library, chunks at offsets relative to the
/// region, size).
pub type Group = (String, Vec<(Chunk, u64)>, u64);

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

/// Places the chunks of a regioned output section: each library's chunks together (in their
/// order), starting on a page, at the offset the old layout gave the library if it still
/// fits, else after every known region. Returns chunk offsets and the section size.
pub fn place_regions(
    st: &mut Stable,
    section: &str,
    groups: Vec<Group>,
) -> (Vec<(Chunk, u64)>, u64) {
    let old_end = st
        .old
        .regions
        .iter()
        .filter(|((s, _), _)| s == section)
        .map(|(_, &(o, r))| o + r)
        .max()
        .unwrap_or(0);
    let mut cursor = old_end.next_multiple_of(PAGE);
    let mut placed = Vec::new();
    let mut end = old_end;
    for (lib, chunks, size) in groups {
        let key = (section.to_string(), lib.clone());
        let off_reserved = match st.old.regions.get(&key) {
            Some(&(off, reserved)) if size <= reserved => (off, reserved),
            old => {
                if old.is_some() {
                    st.moved
                        .push(format!("{lib} outgrew its region in {section} and moved"));
                }
                // Room to grow: a sixteenth more, in whole pages.
                let reserved = (size + size / 16).next_multiple_of(PAGE).max(PAGE);
                let off = cursor;
                cursor += reserved;
                (off, reserved)
            }
        };
        st.new.regions.insert(key, off_reserved);
        end = end.max(off_reserved.0 + off_reserved.1);
        for (c, rel) in chunks {
            placed.push((c, off_reserved.0 + rel));
        }
    }
    // Regions of libraries this link does not have stay reserved for the links that do.
    for (k, v) in &st.old.regions {
        if k.0 == section {
            st.new.regions.entry(k.clone()).or_insert(*v);
        }
    }
    (placed, end)
}
