//! Reading `spacer share --json` (`tests/stable_layout.rs`, `tests/unikernel_layout.rs`).

use std::path::Path;
use std::process::Command;

use super::{must_run, spacer_exe, LINK_TIMEOUT};

/// The `{pages, shared}` counts of one image in `spacer share --json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count {
    pub pages: u64,
    pub shared: u64,
}

impl Count {
    pub fn ratio(&self) -> f64 {
        if self.pages == 0 {
            0.0
        } else {
            self.shared as f64 / self.pages as f64
        }
    }
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} ({:.1}%)",
            self.shared,
            self.pages,
            100.0 * self.ratio()
        )
    }
}

/// The counts of one image: executable, read-only and writable pages, and all of them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageShare {
    pub exec: Count,
    pub read_only: Count,
    pub writable: Count,
    pub total: Count,
}

/// `"key": {"pages": N, "shared": M}` in one line of `spacer share --json`.
pub fn json_count(line: &str, key: &str) -> Option<Count> {
    let pat = format!("\"{key}\": {{");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let body = &rest[..rest.find('}')?];
    let num = |name: &str| -> Option<u64> {
        let p = format!("\"{name}\":");
        let s = body[body.find(&p)? + p.len()..].trim_start();
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        s[..end].parse().ok()
    };
    Some(Count {
        pages: num("pages")?,
        shared: num("shared")?,
    })
}

/// `spacer share --json images...`: per image, how many of its pages exist in another image.
/// The exec and total counts must be there; a missing read-only or writable count reads as 0.
pub fn share(images: &[&Path]) -> Vec<ImageShare> {
    let mut cmd = Command::new(spacer_exe());
    cmd.arg("share").arg("--json").args(images);
    let r = must_run(&mut cmd, LINK_TIMEOUT, "spacer share");
    let out = r.stdout_str();
    let parsed: Vec<ImageShare> = out
        .lines()
        .filter(|l| l.contains("\"path\":"))
        .map(|l| ImageShare {
            exec: json_count(l, "exec").unwrap_or_else(|| panic!("no exec count in {l}")),
            read_only: json_count(l, "read_only").unwrap_or_default(),
            writable: json_count(l, "writable").unwrap_or_default(),
            total: json_count(l, "total").unwrap_or_else(|| panic!("no total count in {l}")),
        })
        .collect();
    assert_eq!(
        parsed.len(),
        images.len(),
        "cannot read spacer share --json output:\n{out}"
    );
    parsed
}
