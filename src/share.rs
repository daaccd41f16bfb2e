//! `spacer share`: how many loaded pages of each image already exist, byte for byte, in the
//! other images — the pages a host could share between them.

use crate::digest::{self, PageEntry};
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
    fn add(&mut self, o: Count) {
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
    let mut tot = ImageShare {
        path: "total".into(),
        ..Default::default()
    };
    for r in images {
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
        tot.exec.add(r.exec);
        tot.ro.add(r.ro);
        tot.rw.add(r.rw);
        tot.zero += r.zero;
    }
    let _ = writeln!(
        s,
        "{:<40} {:>18} {:>18} {:>18} {:>6} {:>18}",
        tot.path,
        cell(tot.exec),
        cell(tot.ro),
        cell(tot.rw),
        tot.zero,
        cell(tot.total())
    );
    s
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
    let mut tot = ImageShare::default();
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
        tot.exec.add(r.exec);
        tot.ro.add(r.ro);
        tot.rw.add(r.rw);
        tot.zero += r.zero;
    }
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
