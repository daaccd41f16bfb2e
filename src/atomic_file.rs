//! Files written whole or not at all: output goes to a temporary file next to its
//! destination, renamed into place only when everything succeeded, so a failed link or tool
//! run never leaves a half-written file where the user expects a result.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Previous outputs moved aside by `replace`, removed by `remove_deferred`.
static DEFERRED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Renames `tmp` to `dest`. A file already at `dest` is first moved aside and removed later
/// (`remove_deferred`), after the caller has been told the link is done: renaming over it
/// would free its blocks inside the rename, which takes milliseconds for an image of a few
/// megabytes.
///
/// A destination that is neither a file, a symbolic link nor a directory (`/dev/null`, a FIFO)
/// is written to, not replaced, as GNU ld writes to it: renaming over `/dev/null` would put a
/// plain file in its place.
pub fn replace(tmp: &Path, dest: &Path) -> std::io::Result<()> {
    let kind = std::fs::symlink_metadata(dest).map(|m| m.file_type());
    if kind
        .as_ref()
        .is_ok_and(|k| !k.is_file() && !k.is_symlink() && !k.is_dir())
    {
        let copied = std::fs::File::open(tmp).and_then(|mut from| {
            let mut to = std::fs::OpenOptions::new().write(true).open(dest)?;
            std::io::copy(&mut from, &mut to).map(|_| ())
        });
        let _ = std::fs::remove_file(tmp);
        return copied;
    }
    if kind.is_ok_and(|k| k.is_file()) {
        let aside = dest.with_file_name(format!(
            ".{}.spacer-old.{}",
            dest.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        if std::fs::rename(dest, &aside).is_ok() {
            DEFERRED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(aside);
        }
    }
    std::fs::rename(tmp, dest)
}

/// Removes the previous outputs `replace` moved aside.
pub fn remove_deferred() {
    let paths = std::mem::take(&mut *DEFERRED.lock().unwrap_or_else(|e| e.into_inner()));
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

/// A file being written next to its destination: removed if dropped, renamed into place by
/// `commit`.
pub struct TempFile {
    pub file: std::fs::File,
    pub path: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl TempFile {
    /// Creates the temporary file for `dest` (readable too, so that it can be mapped).
    pub fn create(dest: &Path, executable: bool) -> Result<TempFile> {
        let path = temp_path(dest);
        let mut o = std::fs::OpenOptions::new();
        o.read(true).write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(if executable { 0o777 } else { 0o666 });
        }
        let file = o
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempFile {
            file,
            path,
            dest: dest.to_path_buf(),
            committed: false,
        })
    }

    /// Like `create`, but takes over the file already at `dest` when that is safe, and says
    /// whether it did (its old bytes are then still there: the caller must overwrite or zero
    /// every byte). Writing over the pages of a file Linux already holds in its page cache is
    /// much faster than filling fresh ones (allocated and zeroed one by one), and the old image
    /// need not be freed afterwards; mold and wild reuse their output the same way.
    ///
    /// Safe means: a regular file of ours with no other name (a hard link would see the new
    /// bytes), on a kernel that refuses writes to a running executable (so a program still
    /// running from the old image makes the open fail, and the link falls back to a new file).
    /// The file is renamed to the temporary name first, so `dest` never holds a half-written
    /// image; a failed link removes it, as it removes any output.
    pub fn reuse_or_create(dest: &Path, executable: bool) -> Result<(TempFile, bool)> {
        if let Some(t) = Self::reuse(dest, executable) {
            return Ok((t, true));
        }
        Ok((Self::create(dest, executable)?, false))
    }

    #[cfg(unix)]
    fn reuse(dest: &Path, executable: bool) -> Option<TempFile> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::symlink_metadata(dest).ok()?;
        // SAFETY: geteuid has no preconditions.
        let ours = meta.uid() == unsafe { libc::geteuid() };
        if !meta.file_type().is_file() || meta.nlink() != 1 || !ours || !busy_executables_refused()
        {
            return None;
        }
        let path = temp_path(dest);
        std::fs::rename(dest, &path).ok()?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path);
        // Running, or not ours to write or to give its mode: put it back and write a new
        // file instead.
        let put_back = || {
            let _ = std::fs::rename(&path, dest);
        };
        let Ok(file) = file else {
            put_back();
            return None;
        };
        let mode = if executable { 0o777 } else { 0o666 } & !umask();
        if file
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .is_err()
        {
            drop(file);
            put_back();
            return None;
        }
        Some(TempFile {
            file,
            path,
            dest: dest.to_path_buf(),
            committed: false,
        })
    }

    #[cfg(not(unix))]
    fn reuse(_: &Path, _: bool) -> Option<TempFile> {
        None
    }

    /// Closes the file and renames it to its destination (`replace`).
    pub fn commit(mut self) -> Result<()> {
        replace(&self.path, &self.dest).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.path.display(),
                self.dest.display()
            )
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether this kernel refuses to open a running executable for writing (ETXTBSY), tried once
/// on spacer's own executable.
#[cfg(unix)]
fn busy_executables_refused() -> bool {
    static REFUSED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REFUSED.get_or_init(|| {
        match std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/exe")
        {
            Ok(_) => false,
            Err(e) => e.raw_os_error() == Some(libc::ETXTBSY),
        }
    })
}

/// The process's file mode creation mask.
#[cfg(unix)]
fn umask() -> u32 {
    // SAFETY: umask only swaps the mask; it is put back at once. No other thread creates
    // files while an output is being opened.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old as u32
    }
}

fn temp_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "a.out".into());
    out.with_file_name(format!(".{name}.spacer-tmp.{}", std::process::id()))
}

/// Writes a whole file through a temporary next to it, renamed into place on success.
pub fn write_file_atomically(path: &Path, bytes: &[u8], executable: bool) -> Result<()> {
    use std::io::Write;
    let mut tmp = TempFile::create(path, executable)?;
    tmp.file
        .write_all(bytes)
        .with_context(|| format!("cannot write {}", tmp.path.display()))?;
    tmp.commit()
}
