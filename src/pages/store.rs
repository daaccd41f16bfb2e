//! The page store `spacer run` maps pages from: a directory of files named by the SHA-1 of
//! their 4 KiB content, each checked against its name before it is used and added atomically.
//!
//! A page mapped from the store becomes the program's code, so the store must be one only its
//! user can write: the directory is refused if it is a symbolic link, owned by another user or
//! writable by group or others, and created owner-only when missing. Entries are opened
//! relative to the directory already opened and checked (so the path cannot be swapped for
//! another directory meanwhile), never through a symbolic link, and must be plain files of one
//! page owned by the user. New entries are written to a fresh temporary file and renamed into
//! place, so concurrent starts never see a partial entry.

use super::digest::{hex, PageEntry, PAGE};
use anyhow::{bail, Context, Result};
use sha1::{Digest, Sha1};
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The page store: `SPACER_PAGE_STORE`, else `/dev/shm/spacer-UID` (one per user, so that no
/// user can plant a store another user's programs would map).
pub fn default_store() -> PathBuf {
    std::env::var_os("SPACER_PAGE_STORE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/dev/shm/spacer-{}", euid())))
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// An opened, checked page store directory.
pub struct Store {
    path: PathBuf,
    dir: OwnedFd,
}

/// Refuses a store directory or entry that someone other than the user could have written.
fn check_owner(what: &str, path: &Path, uid: u32, mode: u32) -> Result<()> {
    if uid != euid() {
        bail!(
            "{what} {} is owned by user {uid}, not by you (user {}); refusing to map pages from it",
            path.display(),
            euid()
        );
    }
    if mode & 0o022 != 0 {
        bail!(
            "{what} {} is writable by other users (mode {:o}); refusing to map pages from it",
            path.display(),
            mode & 0o7777
        );
    }
    Ok(())
}

fn cstr(s: &str) -> CString {
    // Store paths and entry names are built here from hex digits; they hold no NUL.
    CString::new(s).expect("no NUL in a store name")
}

impl Store {
    /// Opens the store at `path`, creating it owner-only if it does not exist.
    pub fn open(path: &Path) -> Result<Store> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create page store {}", path.display()))?;
                }
                match std::fs::DirBuilder::new().mode(0o700).create(path) {
                    Ok(()) => {}
                    // Another start created it meanwhile: it is checked below like any other.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("cannot create page store {}", path.display())
                        })
                    }
                }
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read page store {}", path.display()))
            }
            Ok(m) if m.file_type().is_symlink() => bail!(
                "page store {} is a symbolic link; refusing to map pages from it",
                path.display()
            ),
            Ok(_) => {}
        }
        use std::os::unix::ffi::OsStrExt;
        let c = CString::new(path.as_os_str().as_bytes())
            .with_context(|| format!("page store path {} holds a NUL byte", path.display()))?;
        // SAFETY: a plain open(2) of a NUL-terminated path.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ELOOP) {
                bail!(
                    "page store {} is a symbolic link; refusing to map pages from it",
                    path.display()
                );
            }
            return Err(e).with_context(|| {
                format!("cannot open page store {} as a directory", path.display())
            });
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let dir = unsafe { OwnedFd::from_raw_fd(fd) };
        // The checks apply to the directory opened, not to whatever the path names later.
        let meta = File::from(dir.try_clone()?).metadata()?;
        check_owner("page store", path, meta.uid(), meta.mode())?;
        Ok(Store {
            path: path.to_owned(),
            dir,
        })
    }

    /// Opens `name` inside the store with `flags` (never following a symbolic link).
    fn open_at(&self, name: &str, flags: i32, mode: libc::c_uint) -> std::io::Result<File> {
        let c = cstr(name);
        // SAFETY: openat(2) relative to our open directory, NUL-terminated name.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                c.as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                mode,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// The store's copy of a page: verified if present, added if not. Returns an open file.
    pub fn page(&self, e: &PageEntry, content: &[u8; PAGE as usize]) -> Result<File> {
        let name = hex(&e.digest);
        let shown = self.path.join(&name);
        match self.open_at(&name, libc::O_RDONLY, 0) {
            Ok(f) => return self.verified(f, e, &shown),
            Err(err) if err.raw_os_error() == Some(libc::ELOOP) => bail!(
                "page store entry {} is a symbolic link; refusing to map it",
                shown.display()
            ),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot open {}", shown.display()))
            }
        }
        // A page is added only if the image's bytes are what its digest says.
        if Sha1::digest(content).as_slice() != e.digest {
            bail!(
                "page {:#x} of the image does not match its recorded digest",
                e.vaddr
            );
        }
        let tmp = self.create_temporary(&name)?;
        let renamed = (|| -> Result<()> {
            let mut f = &tmp.1;
            f.write_all(content)
                .with_context(|| format!("cannot write {}", self.path.join(&tmp.0).display()))?;
            let (from, to) = (cstr(&tmp.0), cstr(&name));
            let fd = self.dir.as_raw_fd();
            // Another process may have added the entry meanwhile: either copy is the same page.
            // SAFETY: renameat(2) within our open directory, NUL-terminated names.
            if unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("cannot add {} to the page store", shown.display()));
            }
            Ok(())
        })();
        if renamed.is_err() {
            let c = cstr(&tmp.0);
            // SAFETY: unlinkat(2) of our own temporary file.
            unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) };
        }
        renamed?;
        let f = self
            .open_at(&name, libc::O_RDONLY, 0)
            .with_context(|| format!("cannot open {}", shown.display()))?;
        self.verified(f, e, &shown)
    }

    /// A new temporary file in the store, read-only once closed (entries are never rewritten,
    /// so a stray write fails). Named by digest, process and a counter; created exclusively.
    fn create_temporary(&self, name: &str) -> Result<(String, File)> {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
        for _ in 0..100 {
            let n = SERIAL.fetch_add(1, Ordering::Relaxed);
            let tmp = format!(".{name}.{}.{n}", std::process::id());
            match self.open_at(&tmp, flags, 0o444) {
                Ok(f) => return Ok((tmp, f)),
                // Left by an earlier process of the same id that did not finish.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot write {}", self.path.join(&tmp).display())
                    })
                }
            }
        }
        bail!(
            "cannot create a temporary file in page store {}",
            self.path.display()
        )
    }

    /// `f` if it is a plain one-page file of the user's whose content matches its digest.
    fn verified(&self, mut f: File, e: &PageEntry, shown: &Path) -> Result<File> {
        let meta = f
            .metadata()
            .with_context(|| format!("cannot read {}", shown.display()))?;
        if !meta.file_type().is_file() {
            bail!(
                "page store entry {} is not a plain file; refusing to map it",
                shown.display()
            );
        }
        check_owner("page store entry", shown, meta.uid(), meta.mode())?;
        let mut buf = vec![0u8; PAGE as usize + 1];
        let mut n = 0;
        // Read up to one byte past the page: a longer file is as corrupt as a shorter one.
        while n < buf.len() {
            match f.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot read {}", shown.display()))
                }
            }
        }
        if n != PAGE as usize || Sha1::digest(&buf[..n]).as_slice() != e.digest {
            bail!(
                "page store entry {} is corrupt (its content does not match its digest); refusing to map it",
                shown.display()
            );
        }
        Ok(f)
    }
}
