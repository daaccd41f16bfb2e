//! GNU ld's sysroot rules for the paths of `-L`, `SEARCH_DIR` and the files scripts name.
//!
//! A leading `=` or `$SYSROOT` puts a path under the sysroot (`--sysroot`; without it the
//! sysroot is `/`, so the prefix just goes away). An absolute file name in a script that itself
//! lies inside the sysroot is looked for under the sysroot too, so that a toolchain's
//! `libc.so`-style scripts (`GROUP ( /usr/lib/libc.a ... )`) work when the tree is moved.

use std::path::{Path, PathBuf};

pub struct Sysroot {
    root: Option<PathBuf>,
    /// `root` canonicalized once, to decide whether a script lies inside it.
    canonical: Option<PathBuf>,
}

impl Sysroot {
    pub fn new(root: Option<&Path>) -> Sysroot {
        let root = root
            .filter(|r| !r.as_os_str().is_empty())
            .map(Path::to_path_buf);
        let canonical = root.as_ref().and_then(|r| r.canonicalize().ok());
        Sysroot { root, canonical }
    }

    /// `=PATH` or `$SYSROOT PATH` placed under the sysroot; `None` for other paths.
    fn prefixed(&self, path: &str) -> Option<PathBuf> {
        let rest = path
            .strip_prefix('=')
            .or_else(|| path.strip_prefix("$SYSROOT"))?;
        Some(self.join(rest))
    }

    fn join(&self, rest: &str) -> PathBuf {
        match &self.root {
            Some(root) => root.join(rest.trim_start_matches('/')),
            None => PathBuf::from(rest),
        }
    }

    /// A library directory from `-L` or `SEARCH_DIR`.
    pub fn search_dir(&self, dir: &str) -> PathBuf {
        self.prefixed(dir).unwrap_or_else(|| PathBuf::from(dir))
    }

    /// Where a file named in `script` must be, when the sysroot decides it; `None` when the
    /// usual search (beside the script, current directory, library path) applies.
    pub fn script_file(&self, name: &str, script: &Path) -> Option<PathBuf> {
        if let Some(p) = self.prefixed(name) {
            return Some(p);
        }
        let root = self.canonical.as_ref()?;
        let inside = script.canonicalize().is_ok_and(|s| s.starts_with(root));
        (name.starts_with('/') && inside).then(|| self.join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_the_sysroot() {
        let none = Sysroot::new(None);
        assert_eq!(none.search_dir("=/usr/lib"), PathBuf::from("/usr/lib"));
        assert_eq!(none.search_dir("$SYSROOT/lib"), PathBuf::from("/lib"));
        assert_eq!(none.search_dir("/opt/lib"), PathBuf::from("/opt/lib"));
        let some = Sysroot::new(Some(Path::new("/tmp/root")));
        assert_eq!(
            some.search_dir("=/usr/lib"),
            PathBuf::from("/tmp/root/usr/lib")
        );
        assert_eq!(
            some.search_dir("$SYSROOT/lib"),
            PathBuf::from("/tmp/root/lib")
        );
        assert_eq!(some.search_dir("lib"), PathBuf::from("lib"));
        // An absolute name in a script outside the sysroot is not moved.
        assert_eq!(
            some.script_file("/usr/lib/libc.a", Path::new("/nonexistent/x")),
            None
        );
    }
}
