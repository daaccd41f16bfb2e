//! The page store `spacer run` maps pages from: a directory of files named by the SHA-1 of
//! their 4 KiB content, each checked against its name before it is used and added atomically.

use super::digest::{hex, PageEntry, PAGE};
use anyhow::{bail, Context, Result};
use sha1::{Digest, Sha1};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The page store: `SPACER_PAGE_STORE`, else `/dev/shm/spacer`.
pub fn default_store() -> PathBuf {
    std::env::var_os("SPACER_PAGE_STORE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/shm/spacer"))
}

/// The store's copy of a page: verified if present, added if not. Returns an open file.
pub fn store_page(
    store: &Path,
    e: &PageEntry,
    content: &[u8; PAGE as usize],
) -> Result<std::fs::File> {
    let name = store.join(hex(&e.digest));
    if let Ok(mut f) = std::fs::File::open(&name) {
        let mut buf = vec![0u8; PAGE as usize];
        use std::io::Read;
        let n = f.read(&mut buf).unwrap_or(0);
        let ok = n == PAGE as usize && Sha1::digest(&buf).as_slice() == e.digest;
        if !ok {
            bail!("page store entry {} is corrupt (its content does not match its digest); refusing to map it", name.display());
        }
        return Ok(f);
    }
    // A page is added only if the image's bytes are what its digest says.
    if Sha1::digest(content).as_slice() != e.digest {
        bail!(
            "page {:#x} of the image does not match its recorded digest",
            e.vaddr
        );
    }
    let tmp = store.join(format!(".{}.{}", hex(&e.digest), std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(content)?;
        // Store entries are never rewritten: read-only, so that a stray write fails.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o444))?;
    }
    // Another process may have added it meanwhile: either copy is the same page.
    std::fs::rename(&tmp, &name)
        .with_context(|| format!("cannot add {} to the page store", name.display()))?;
    std::fs::File::open(&name).with_context(|| format!("cannot open {}", name.display()))
}
