//! Warnings. Every warning of a link goes through [`warn`], so that `--fatal-warnings` can turn
//! them into an error before any output is written, as GNU ld does.

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static WARNINGS: AtomicUsize = AtomicUsize::new(0);
static FATAL: AtomicBool = AtomicBool::new(false);

/// `--fatal-warnings` / `--no-fatal-warnings`.
pub fn set_fatal_warnings(on: bool) {
    FATAL.store(on, Ordering::Relaxed);
}

/// Prints `spacer: warning: MSG` on standard error and counts it.
pub fn warn(msg: impl Display) {
    WARNINGS.fetch_add(1, Ordering::Relaxed);
    eprintln!("spacer: warning: {msg}");
}

/// Fails the link if warnings were printed under `--fatal-warnings`. Called before the output
/// is written, so a failed link leaves nothing behind.
pub fn check_fatal() -> anyhow::Result<()> {
    let n = WARNINGS.load(Ordering::Relaxed);
    if FATAL.load(Ordering::Relaxed) && n > 0 {
        anyhow::bail!(
            "{n} warning{} treated as error{} (--fatal-warnings)",
            if n == 1 { "" } else { "s" },
            if n == 1 { "" } else { "s" }
        );
    }
    Ok(())
}
