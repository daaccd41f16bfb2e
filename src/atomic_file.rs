//! Files written whole or not at all: output goes to a temporary file next to its
//! destination, renamed into place only when everything succeeded, so a failed link or tool
//! run never leaves a half-written file where the user expects a result.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Removes the temporary file unless the link succeeded.
pub struct TempGuard {
    pub path: PathBuf,
    pub armed: bool,
}
impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub fn temp_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "a.out".into());
    out.with_file_name(format!(".{name}.spacer-tmp.{}", std::process::id()))
}

/// Writes a whole file through a temporary next to it, renamed into place on success.
pub fn write_file_atomically(path: &Path, bytes: &[u8], executable: bool) -> Result<()> {
    use std::io::Write;
    let tmp = temp_path(path);
    let mut guard = TempGuard {
        path: tmp.clone(),
        armed: true,
    };
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(if executable { 0o777 } else { 0o666 });
    }
    let mut f = o
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    guard.armed = false;
    Ok(())
}
