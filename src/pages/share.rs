//! `spacer share`: how many loaded pages of each image already exist, byte for byte, in the
//! other images — the pages a host could share between them.

use crate::pages::digest::{self, PageEntry};
use anyhow::{Context, Result};
use object::elf;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Default, Clone, Copy)]
pub struct Count {
    pub pages: u64,
    pub shared: u64,
}

impl Count {
    pub fn add(&mut self, o: Count) {
        self.pages += o.pages;
        self.shared += o.shared;
    }
    fn pct(&self) -> f64 {
        if self.pages == 0 {
            0.0
        } else {
            100.0 * self.shared as f64 / self.pages as f64
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct ImageShare {
    pub path: String,
    pub exec: Count,
    pub ro: Count,
    pub rw: Count,
    /// All-zero pages, counted apart: any host shares them trivially.
    pub zero: u64,
    pub from_section: bool,
}

impl ImageShare {
    pub fn total(&self) -> Count {
        let mut t = self.exec;
        t.add(self.ro);
        t.add(self.rw);
        t
    }
}

fn category(e: &PageEntry) -> usize {
    if e.flags & elf::PF_X != 0 {
        0
    } else if e.flags & elf::PF_W != 0 {
        2
    } else {
        1
    }
}

pub fn analyse(paths: &[PathBuf]) -> Result<Vec<ImageShare>> {
    let mut images = Vec::new();
    for p in paths {
        let data = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        let (entries, from_section) =
            digest::read_or_compute(&data).with_context(|| format!("{}", p.display()))?;
        images.push((p.display().to_string(), entries, from_section));
    }
    let sets: Vec<HashSet<[u8; 20]>> = images
        .iter()
        .map(|(_, e, _)| e.iter().map(|x| x.digest).collect())
        .collect();
    let mut out = Vec::new();
    for (i, (path, entries, from_section)) in images.iter().enumerate() {
        let mut r = ImageShare {
            path: path.clone(),
            from_section: *from_section,
            ..Default::default()
        };
        for e in entries {
            if e.is_zero() {
                r.zero += 1;
                continue;
            }
            let shared = sets
                .iter()
                .enumerate()
                .any(|(j, s)| j != i && s.contains(&e.digest));
            let c = match category(e) {
                0 => &mut r.exec,
                1 => &mut r.ro,
                _ => &mut r.rw,
            };
            c.pages += 1;
            c.shared += shared as u64;
        }
        out.push(r);
    }
    Ok(out)
}

pub fn render_text(images: &[ImageShare]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "pages of each image that also exist in another image (4 KiB pages; all-zero pages apart)"
    );
    let _ = writeln!(
        s,
        "{:<40} {:>18} {:>18} {:>18} {:>6} {:>18}",
        "image", "exec", "read-only", "writable", "zero", "total"
    );
    let cell = |c: Count| format!("{}/{} {:5.1}%", c.shared, c.pages, c.pct());
    for r in images.iter().chain([&total(images)]) {
        let _ = writeln!(
            s,
            "{:<40} {:>18} {:>18} {:>18} {:>6} {:>18}",
            r.path,
            cell(r.exec),
            cell(r.ro),
            cell(r.rw),
            r.zero,
            cell(r.total())
        );
    }
    s
}

/// The counts of all images together.
fn total(images: &[ImageShare]) -> ImageShare {
    let mut tot = ImageShare {
        path: "total".into(),
        ..Default::default()
    };
    for r in images {
        tot.exec.add(r.exec);
        tot.ro.add(r.ro);
        tot.rw.add(r.rw);
        tot.zero += r.zero;
    }
    tot
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

pub fn render_json(images: &[ImageShare]) -> String {
    let count = |c: Count| format!("{{\"pages\": {}, \"shared\": {}}}", c.pages, c.shared);
    let mut parts = Vec::new();
    for r in images {
        parts.push(format!(
            "    {{\"path\": {}, \"digests_from_section\": {}, \"exec\": {}, \"read_only\": {}, \"writable\": {}, \"zero_pages\": {}, \"total\": {}}}",
            json_str(&r.path),
            r.from_section,
            count(r.exec),
            count(r.ro),
            count(r.rw),
            r.zero,
            count(r.total())
        ));
    }
    let tot = total(images);
    format!(
        "{{\n  \"page_size\": 4096,\n  \"images\": [\n{}\n  ],\n  \"total\": {{\"exec\": {}, \"read_only\": {}, \"writable\": {}, \"zero_pages\": {}, \"total\": {}}}\n}}\n",
        parts.join(",\n"),
        count(tot.exec),
        count(tot.ro),
        count(tot.rw),
        tot.zero,
        count(tot.total())
    )
}

/// Where a page lies: output section and, with a layout file, library region.
pub struct PageOwner {
    sections: Vec<(String, u64, u64)>,
    layout: Option<crate::layout_file::LayoutFile>,
}

impl PageOwner {
    pub fn new(image: &[u8], layout: Option<crate::layout_file::LayoutFile>) -> Result<PageOwner> {
        use object::read::elf::{FileHeader, SectionHeader};
        let hdr = object::elf::FileHeader64::<object::LittleEndian>::parse(image)
            .map_err(|e| anyhow::anyhow!("not an ELF64 image: {e}"))?;
        let shdrs = hdr
            .sections(object::LittleEndian, image)
            .map_err(|e| anyhow::anyhow!("malformed section headers: {e}"))?;
        let mut sections = Vec::new();
        for sh in shdrs.iter() {
            let e = object::LittleEndian;
            if sh.sh_flags(e) & object::elf::SHF_ALLOC as u64 == 0 || sh.sh_size(e) == 0 {
                continue;
            }
            let name =
                String::from_utf8_lossy(shdrs.section_name(e, sh).unwrap_or(b"?")).into_owned();
            sections.push((name, sh.sh_addr(e), sh.sh_size(e)));
        }
        Ok(PageOwner { sections, layout })
    }

    /// "section" or "section:library" for every section overlapping the page.
    pub fn describe(&self, page: u64) -> String {
        let mut parts = Vec::new();
        for (name, addr, size) in &self.sections {
            if *addr >= page + digest::PAGE || addr + size <= page {
                continue;
            }
            let mut libs = Vec::new();
            if let Some(l) = &self.layout {
                for ((sec, lib), (off, reserved)) in &l.regions {
                    let start = l
                        .sections
                        .get(sec)
                        .copied()
                        .unwrap_or(u64::MAX)
                        .wrapping_add(*off);
                    if sec == name && start < page + digest::PAGE && start + reserved > page {
                        libs.push(lib.clone());
                    }
                }
            }
            if libs.is_empty() {
                parts.push(name.clone());
            } else {
                parts.push(format!("{name}:{}", libs.join("+")));
            }
        }
        if parts.is_empty() {
            "(no section)".into()
        } else {
            parts.join(",")
        }
    }
}

/// Each image's page digests and what lies in its pages.
fn load_with_owners(
    paths: &[PathBuf],
    layout: Option<&crate::layout_file::LayoutFile>,
) -> Result<Vec<(String, Vec<PageEntry>, PageOwner)>> {
    let mut images = Vec::new();
    for p in paths {
        let data = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        let (entries, _) =
            digest::read_or_compute(&data).with_context(|| format!("{}", p.display()))?;
        let owner = PageOwner::new(&data, layout.cloned())?;
        images.push((p.display().to_string(), entries, owner));
    }
    Ok(images)
}

/// The pages of each image that no other image has, with what lies in them.
pub fn unshared(
    paths: &[PathBuf],
    layout: Option<&crate::layout_file::LayoutFile>,
) -> Result<String> {
    let images = load_with_owners(paths, layout)?;
    let sets: Vec<HashSet<[u8; 20]>> = images
        .iter()
        .map(|(_, e, _)| e.iter().map(|x| x.digest).collect())
        .collect();
    let mut s = String::new();
    for (i, (path, entries, owner)) in images.iter().enumerate() {
        let _ = writeln!(s, "unshared pages of {path}:");
        let mut by_owner: std::collections::BTreeMap<String, u64> = Default::default();
        for e in entries.iter().filter(|e| !e.is_zero()) {
            if !sets
                .iter()
                .enumerate()
                .any(|(j, set)| j != i && set.contains(&e.digest))
            {
                *by_owner.entry(owner.describe(e.vaddr)).or_default() += 1;
            }
        }
        for (what, n) in by_owner {
            let _ = writeln!(s, "  {n:6} {what}");
        }
    }
    Ok(s)
}

/// An HTML page map: one cell per loaded page, coloured by how many of the images have it,
/// with the page's address, kind and sections on hover.
pub fn render_html(
    paths: &[PathBuf],
    layout: Option<&crate::layout_file::LayoutFile>,
) -> Result<String> {
    let images = load_with_owners(paths, layout)?;
    let mut count: std::collections::HashMap<[u8; 20], usize> = Default::default();
    for (_, entries, _) in &images {
        let unique: HashSet<[u8; 20]> = entries.iter().map(|e| e.digest).collect();
        for d in unique {
            *count.entry(d).or_default() += 1;
        }
    }
    let n = images.len().max(1);
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;")
    };
    let mut h = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>spacer page map</title><style>\
         body{font-family:sans-serif} .map{display:flex;flex-wrap:wrap;max-width:1200px}\
         .p{width:10px;height:10px;margin:1px} .z{background:#eee}</style></head><body>\n\
         <h1>Page map</h1><p>One cell per loaded 4 KiB page. Colour: how many of the images hold \
         the same page (red: only this one, green: all). Grey: all-zero page. Hover for details.</p>\n",
    );
    for (path, entries, owner) in &images {
        let shared = entries
            .iter()
            .filter(|e| !e.is_zero() && count[&e.digest] > 1)
            .count();
        let total = entries.iter().filter(|e| !e.is_zero()).count();
        let _ = writeln!(
            h,
            "<h2>{} &mdash; {shared}/{total} pages shared</h2><div class=\"map\">",
            esc(path)
        );
        for e in entries {
            let kind = match category(e) {
                0 => "exec",
                1 => "read-only",
                _ => "writable",
            };
            let c = count[&e.digest];
            let style = if e.is_zero() {
                "class=\"p z\"".to_string()
            } else {
                let g = if n > 1 { (c - 1) * 200 / (n - 1) } else { 200 };
                format!(
                    "class=\"p\" style=\"background:rgb({},{},60)\"",
                    220 - g,
                    40 + g
                )
            };
            let _ = write!(
                h,
                "<div {style} title=\"{:#x} {kind} in {c} of {n} images: {}\"></div>",
                e.vaddr,
                esc(&owner.describe(e.vaddr))
            );
        }
        h.push_str("</div>\n");
    }
    h.push_str("</body></html>\n");
    Ok(h)
}
