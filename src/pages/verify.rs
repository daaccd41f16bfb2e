//! `spacer verify` and `spacer digest`: checking every loaded page of an image against its
//! digest section, and adding (or refreshing) that section in any static image.

use super::digest::{
    compute, decode, encode, find_section, hex, load_segments, section_size, SECTION_NAME,
};
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;

/// Checks every page of an image against its digest section.
pub fn verify(path: &Path) -> Result<usize> {
    let image = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    verify_image(&image, &path.display().to_string())
}

/// Checks every page of `image` against its digest section; `name` names it in messages.
pub fn verify_image(image: &[u8], name: &str) -> Result<usize> {
    let (off, size) = find_section(image)
        .with_context(|| name.to_string())?
        .ok_or_else(|| {
            anyhow!(
                "{name}: no {} section",
                String::from_utf8_lossy(SECTION_NAME)
            )
        })?;
    let recorded =
        decode(&image[off as usize..(off + size) as usize]).with_context(|| name.to_string())?;
    let segs = load_segments(image).with_context(|| name.to_string())?;
    let actual = compute(image, &segs);
    if actual.len() != recorded.len() {
        bail!(
            "{name}: program headers describe {} pages but the digest section has {} entries",
            actual.len(),
            recorded.len()
        );
    }
    for (a, r) in actual.iter().zip(&recorded) {
        if a.vaddr != r.vaddr
            || a.offset != r.offset
            || a.flags != r.flags
            || a.file_bytes != r.file_bytes
        {
            bail!(
                "{name}: page {:#x}: program headers do not match the digest section (recorded page {:#x} at offset {:#x}, flags {:#x})",
                a.vaddr,
                r.vaddr,
                r.offset,
                r.flags
            );
        }
        if a.digest != r.digest {
            bail!(
                "{name}: page {:#x}: digest mismatch: expected {}, found {}",
                a.vaddr,
                hex(&r.digest),
                hex(&a.digest)
            );
        }
    }
    Ok(actual.len())
}

/// `spacer digest`: adds or refreshes the digest section of an existing image, atomically.
pub fn add_to_image(path: &Path) -> Result<usize> {
    let image = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display();
    let segs = load_segments(&image).with_context(|| name.to_string())?;
    // The ELF header may lie in a loaded page and changes with the section table, so the
    // digests are computed on the rewritten image.
    let size = section_size(&segs) as usize;
    let (mut out, at) =
        crate::pages::elf_edit::replace_section(&image, SECTION_NAME, &vec![0u8; size])
            .with_context(|| name.to_string())?;
    let segs = load_segments(&out).with_context(|| name.to_string())?;
    let entries = compute(&out, &segs);
    encode(&entries, &mut out[at as usize..at as usize + size]);
    let exec = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o111 != 0)
            .unwrap_or(true)
    };
    crate::atomic_file::write_file_atomically(path, &out, exec)?;
    Ok(entries.len())
}
