//! Warnings. Every warning of a link goes through [`warn`], so that `--fatal-warnings` can turn
//! them into an error before any output is written, as GNU ld does.

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

static WARNINGS: AtomicUsize = AtomicUsize::new(0);
static FATAL: AtomicBool = AtomicBool::new(false);
static NOINHIBIT: AtomicBool = AtomicBool::new(false);

/// `--fatal-warnings` / `--no-fatal-warnings`.
pub fn set_fatal_warnings(on: bool) {
    FATAL.store(on, Ordering::Relaxed);
}

/// `--noinhibit-exec`: as in GNU ld, the output is written even when `--fatal-warnings` would
/// have failed the link.
pub fn set_noinhibit_exec(on: bool) {
    NOINHIBIT.store(on, Ordering::Relaxed);
}

/// Prints `spacer: error: MSG` for an error that does not stop the link (`--noinhibit-exec`).
pub fn error(msg: impl Display) {
    eprintln!("spacer: error: {msg}");
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
    if FATAL.load(Ordering::Relaxed) && n > 0 && !NOINHIBIT.load(Ordering::Relaxed) {
        anyhow::bail!(
            "{n} warning{} treated as error{} (--fatal-warnings)",
            if n == 1 { "" } else { "s" },
            if n == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// How messages show symbol names: `--demangle[=STYLE]` (GNU ld's default, unless the
/// environment has COLLECT_NO_DEMANGLE) and `--no-demangle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demangle {
    None,
    /// C++ (Itanium ABI) and Rust (legacy and v0) names, told apart by their form.
    Auto,
    /// `gnu-v3`: C++ only; a legacy Rust name reads as C++ then, hash included, as in GNU ld.
    Cxx,
    Rust,
}

impl Demangle {
    /// The styles of `--demangle=STYLE` that spacer knows; GNU ld's others (java, gnat,
    /// dlang) are refused with a message naming them.
    pub fn parse(style: &str) -> anyhow::Result<Demangle> {
        Ok(match style {
            "auto" => Demangle::Auto,
            "gnu-v3" => Demangle::Cxx,
            "rust" => Demangle::Rust,
            "none" => Demangle::None,
            "java" | "gnat" | "dlang" => anyhow::bail!(
                "--demangle={style}: demangling style '{style}' is not supported \
                 (spacer knows auto, gnu-v3, rust and none)"
            ),
            _ => anyhow::bail!("--demangle={style}: unknown demangling style '{style}'"),
        })
    }
}

static DEMANGLE: AtomicU8 = AtomicU8::new(Demangle::Auto as u8);

pub fn set_demangle(style: Demangle) {
    DEMANGLE.store(style as u8, Ordering::Relaxed);
}

fn demangle_style() -> Demangle {
    match DEMANGLE.load(Ordering::Relaxed) {
        x if x == Demangle::None as u8 => Demangle::None,
        x if x == Demangle::Cxx as u8 => Demangle::Cxx,
        x if x == Demangle::Rust as u8 => Demangle::Rust,
        _ => Demangle::Auto,
    }
}

/// A symbol name as messages show it: demangled in the style `--demangle` chose, or as it is
/// when it is not a mangled name of that style.
pub fn symbol(name: &[u8]) -> String {
    let raw = String::from_utf8_lossy(name);
    let style = demangle_style();
    let rust = || {
        rustc_demangle::try_demangle(&raw)
            .ok()
            .map(|d| format!("{d:#}"))
    };
    let shown = match style {
        Demangle::None => None,
        Demangle::Rust => rust(),
        Demangle::Cxx => demangle_cxx(&raw),
        Demangle::Auto if raw.starts_with("_R") || is_legacy_rust(&raw) => rust(),
        Demangle::Auto => demangle_cxx(&raw),
    };
    shown.unwrap_or_else(|| raw.into_owned())
}

/// A symbol as errors about it name it, quoted as GNU ld quotes: `demangled', followed by the
/// mangled name when demangling changed it, so that it can still be looked for with `nm`.
pub fn quoted_symbol(name: &[u8]) -> String {
    let shown = symbol(name);
    if shown.as_bytes() == name {
        format!("`{shown}'")
    } else {
        format!("`{shown}' ({})", String::from_utf8_lossy(name))
    }
}

fn demangle_cxx(name: &str) -> Option<String> {
    // Only `_Z` names: cpp_demangle also reads `_GLOBAL__sub_I_…` forms that GNU ld leaves.
    if !name.starts_with("_Z") {
        return None;
    }
    let sym = cpp_demangle::Symbol::new(name).ok()?;
    sym.demangle().ok()
}

/// A legacy Rust name is an Itanium-style `_ZN…E` path whose last element is `h` and 16 hex
/// digits (the crate hash); without the hash it is a plain C++ name.
fn is_legacy_rust(name: &str) -> bool {
    let Some(body) = name.strip_prefix("_ZN").and_then(|b| b.strip_suffix('E')) else {
        return false;
    };
    let b = body.as_bytes();
    b.len() > 19
        && b[b.len() - 19..].starts_with(b"17h")
        && b[b.len() - 16..].iter().all(u8::is_ascii_hexdigit)
}
