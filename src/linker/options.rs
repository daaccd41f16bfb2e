//! GNU ld's options and how its command line matches them.
//!
//! ld.bfd reads its command line with `getopt_long_only`, so a word with one dash is first
//! matched against the long options (exactly, or as an unambiguous abbreviation) and only
//! otherwise read as short options: `-emit-relocs` is `--emit-relocs`, `-estart` is
//! `-e start`, `-Tb` abbreviates `-Tbss`, and `-en` is ambiguous and an error. A few long
//! options (`--output`, `--omagic`, `--oformat` …) need two dashes, so that `-omagic` names the
//! output file `magic`. `-l` with a glued value is always a library (ld rewrites `-lX` to
//! `--library=X` first), and glued short flags (`-sx`) are accepted with a warning. This module
//! holds the tables and the matching; `args` gives each matched option its meaning.

use crate::linker::diag;
use anyhow::{bail, Result};

/// Whether an option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    No,
    /// Glued (`--x=V`, `-xV`) or the next word.
    Required,
    /// Only glued: `--x=V`.
    Optional,
}

#[derive(Debug)]
pub struct LongOpt {
    name: &'static str,
    arg: Arg,
    /// Only `--name`: with one dash the word is read as short options instead.
    two_dashes_only: bool,
}

const fn opt(name: &'static str, arg: Arg) -> LongOpt {
    LongOpt {
        name,
        arg,
        two_dashes_only: false,
    }
}

const fn two_dashes(name: &'static str, arg: Arg) -> LongOpt {
    LongOpt {
        name,
        arg,
        two_dashes_only: true,
    }
}

/// GNU ld 2.40's long options (its generic table, then the ELF emulation's), spelled as ld.bfd
/// spells them. All of them are known to the parser even where spacer does not implement them,
/// because whether a single-dash word is a long option, an abbreviation of one, ambiguous, or a
/// short option with a glued value depends on the whole table (`-Tb` is `-Tbss`, `-en` is
/// ambiguous, `-estart` is `-e start`). A few names carry their argument's description
/// (`sysroot=<DIRECTORY>`); getopt can only match those as prefixes, as here.
const GNU_LONG: &[LongOpt] = &[
    opt("architecture", Arg::Required),
    opt("format", Arg::Required),
    opt("mri-script", Arg::Required),
    opt("dc", Arg::No),
    opt("dp", Arg::No),
    opt("dependency-file", Arg::Required),
    opt("force-group-allocation", Arg::No),
    opt("entry", Arg::Required),
    opt("export-dynamic", Arg::No),
    opt("no-export-dynamic", Arg::No),
    opt("enable-non-contiguous-regions", Arg::No),
    opt("enable-non-contiguous-regions-warnings", Arg::No),
    opt("EB", Arg::No),
    opt("EL", Arg::No),
    opt("auxiliary", Arg::Required),
    opt("filter", Arg::Required),
    opt("gpsize", Arg::Required),
    opt("soname", Arg::Required),
    opt("dynamic-linker", Arg::Required),
    opt("no-dynamic-linker", Arg::No),
    opt("library", Arg::Required),
    opt("library-path", Arg::Required),
    opt("sysroot=<DIRECTORY>", Arg::Required),
    opt("print-map", Arg::No),
    opt("nmagic", Arg::No),
    two_dashes("omagic", Arg::No),
    two_dashes("no-omagic", Arg::No),
    two_dashes("output", Arg::Required),
    opt("out-implib", Arg::Required),
    opt("plugin", Arg::Required),
    opt("plugin-opt", Arg::Required),
    opt("flto", Arg::Optional),
    opt("flto-partition=", Arg::Required),
    opt("fuse-ld=", Arg::Required),
    opt("map-whole-files", Arg::Optional),
    opt("no-map-whole-files", Arg::Optional),
    opt("Qy", Arg::No),
    opt("emit-relocs", Arg::No),
    opt("relocatable", Arg::No),
    opt("just-symbols", Arg::Required),
    opt("strip-all", Arg::No),
    opt("strip-debug", Arg::No),
    opt("strip-discarded", Arg::No),
    opt("no-strip-discarded", Arg::No),
    opt("trace", Arg::No),
    opt("script", Arg::Required),
    opt("default-script", Arg::Required),
    opt("dT", Arg::Required),
    opt("undefined", Arg::Required),
    opt("require-defined", Arg::Required),
    opt("unique", Arg::Optional),
    opt("Ur", Arg::No),
    opt("version", Arg::No),
    opt("discard-all", Arg::No),
    opt("discard-locals", Arg::No),
    opt("discard-none", Arg::No),
    opt("trace-symbol", Arg::Required),
    opt("start-group", Arg::No),
    opt("end-group", Arg::No),
    opt("accept-unknown-input-arch", Arg::No),
    opt("no-accept-unknown-input-arch", Arg::No),
    opt("add-needed", Arg::No),
    opt("no-add-needed", Arg::No),
    opt("as-needed", Arg::No),
    opt("no-as-needed", Arg::No),
    opt("assert", Arg::Required),
    opt("Bdynamic", Arg::No),
    opt("dy", Arg::No),
    opt("call_shared", Arg::No),
    opt("Bstatic", Arg::No),
    opt("dn", Arg::No),
    opt("non_shared", Arg::No),
    opt("static", Arg::No),
    opt("Bno-symbolic", Arg::No),
    opt("Bsymbolic", Arg::No),
    opt("Bsymbolic-functions", Arg::No),
    opt("check-sections", Arg::No),
    opt("no-check-sections", Arg::No),
    opt("copy-dt-needed-entries", Arg::No),
    opt("no-copy-dt-needed-entries", Arg::No),
    opt("cref", Arg::No),
    opt("defsym", Arg::Required),
    opt("demangle", Arg::Optional),
    opt("disable-multiple-abs-defs", Arg::No),
    opt("embedded-relocs", Arg::No),
    opt("fatal-warnings", Arg::No),
    opt("no-fatal-warnings", Arg::No),
    opt("fini", Arg::Required),
    opt("force-exe-suffix", Arg::No),
    opt("gc-sections", Arg::No),
    opt("no-gc-sections", Arg::No),
    opt("print-gc-sections", Arg::No),
    opt("no-print-gc-sections", Arg::No),
    opt("gc-keep-exported", Arg::No),
    opt("hash-size=<NUMBER>", Arg::Required),
    opt("help", Arg::No),
    opt("init", Arg::Required),
    opt("Map", Arg::Required),
    opt("no-define-common", Arg::No),
    opt("no-demangle", Arg::No),
    opt("no-keep-memory", Arg::No),
    opt("no-undefined", Arg::No),
    opt("no-warnings", Arg::No),
    opt("allow-shlib-undefined", Arg::No),
    opt("no-allow-shlib-undefined", Arg::No),
    opt("allow-multiple-definition", Arg::No),
    opt("error-handling-script", Arg::Required),
    two_dashes("undefined-version", Arg::No),
    opt("no-undefined-version", Arg::No),
    opt("default-symver", Arg::No),
    opt("default-imported-symver", Arg::No),
    opt("no-warn-mismatch", Arg::No),
    opt("no-warn-search-mismatch", Arg::No),
    opt("no-whole-archive", Arg::No),
    opt("noinhibit-exec", Arg::No),
    opt("noinhibit_exec", Arg::No),
    opt("nostdlib", Arg::No),
    two_dashes("oformat", Arg::Required),
    opt("print-output-format", Arg::No),
    opt("print-sysroot", Arg::No),
    opt("qmagic", Arg::No),
    opt("reduce-memory-overheads", Arg::No),
    opt("max-cache-size=SIZE", Arg::Required),
    opt("relax", Arg::No),
    opt("no-relax", Arg::No),
    opt("retain-symbols-file", Arg::Required),
    opt("rpath", Arg::Required),
    opt("rpath-link", Arg::Required),
    opt("shared", Arg::No),
    opt("Bshareable", Arg::No),
    opt("pie", Arg::No),
    opt("pic-executable", Arg::No),
    opt("no-pie", Arg::No),
    opt("sort-common", Arg::Optional),
    opt("sort_common", Arg::No),
    opt("sort-section", Arg::Required),
    opt("spare-dynamic-tags", Arg::Required),
    opt("split-by-file", Arg::Optional),
    opt("split-by-reloc", Arg::Optional),
    opt("stats", Arg::No),
    opt("target-help", Arg::No),
    opt("task-link", Arg::Required),
    opt("traditional-format", Arg::No),
    opt("section-start", Arg::Required),
    opt("Tbss", Arg::Required),
    opt("Tdata", Arg::Required),
    opt("Ttext", Arg::Required),
    opt("Ttext-segment", Arg::Required),
    opt("Trodata-segment", Arg::Required),
    opt("Tldata-segment", Arg::Required),
    opt("unresolved-symbols=<method>", Arg::Required),
    opt("verbose", Arg::Optional),
    opt("dll-verbose", Arg::No),
    opt("version-script", Arg::Required),
    opt("version-exports-section", Arg::Required),
    opt("dynamic-list-data", Arg::No),
    opt("dynamic-list-cpp-new", Arg::No),
    opt("dynamic-list-cpp-typeinfo", Arg::No),
    opt("dynamic-list", Arg::Required),
    two_dashes("export-dynamic-symbol", Arg::Required),
    two_dashes("export-dynamic-symbol-list", Arg::Required),
    opt("warn-common", Arg::No),
    opt("warn-constructors", Arg::No),
    opt("warn-execstack", Arg::No),
    opt("no-warn-execstack", Arg::No),
    opt("warn-rwx-segments", Arg::No),
    opt("no-warn-rwx-segments", Arg::No),
    opt("warn-multiple-gp", Arg::No),
    opt("warn-once", Arg::No),
    opt("warn-section-align", Arg::No),
    opt("warn-textrel", Arg::No),
    opt("warn-shared-textrel", Arg::No),
    opt("warn-alternate-em", Arg::No),
    opt("warn-unresolved-symbols", Arg::No),
    opt("error-unresolved-symbols", Arg::No),
    opt("whole-archive", Arg::No),
    opt("wrap", Arg::Required),
    opt("ignore-unresolved-symbol", Arg::Required),
    opt("push-state", Arg::No),
    opt("pop-state", Arg::No),
    opt("print-memory-usage", Arg::No),
    opt("orphan-handling", Arg::Required),
    opt("print-map-discarded", Arg::No),
    opt("no-print-map-discarded", Arg::No),
    opt("ctf-variables", Arg::No),
    opt("no-ctf-variables", Arg::No),
    opt("ctf-share-types=<method>", Arg::Required),
    // The ELF emulation's.
    opt("audit", Arg::Required),
    opt("Bgroup", Arg::No),
    opt("build-id", Arg::Optional),
    opt("package-metadata", Arg::Optional),
    opt("compress-debug-sections", Arg::Required),
    opt("depaudit", Arg::Required),
    opt("disable-new-dtags", Arg::No),
    opt("enable-new-dtags", Arg::No),
    opt("eh-frame-hdr", Arg::No),
    opt("no-eh-frame-hdr", Arg::No),
    opt("exclude-libs", Arg::Required),
    opt("hash-style", Arg::Required),
    opt("ld-generated-unwind-info", Arg::No),
    opt("no-ld-generated-unwind-info", Arg::No),
];

/// Long options of spacer's own and of other linkers (lld, gold) that spacer accepts. They match
/// only when spelled out in full, so that they do not change how GNU ld's abbreviations resolve.
const EXTENSIONS: &[LongOpt] = &[
    opt("page-digests", Arg::No),
    opt("no-page-digests", Arg::No),
    opt("layout", Arg::Required),
    opt("layout-mode", Arg::Required),
    opt("layout-report", Arg::No),
    opt("fork", Arg::No),
    opt("no-fork", Arg::No),
    opt("threads", Arg::Optional),
    opt("thread-count", Arg::Required),
    opt("no-threads", Arg::No),
    opt("time", Arg::No),
    opt("image-base", Arg::Required),
    opt("define-common", Arg::No),
    opt("no-pic-executable", Arg::No),
    opt("strip-dwo", Arg::No),
    opt("no-fatal-undefined", Arg::No),
    opt("color-diagnostics", Arg::Optional),
    opt("error-limit", Arg::Required),
    opt("icf", Arg::Required),
    opt("detect-odr-violations", Arg::No),
    opt("fix-cortex-a53-843419", Arg::No),
    opt("gdb-index", Arg::No),
    opt("no-gdb-index", Arg::No),
    opt("no-ctors-in-init-array", Arg::No),
    opt("rosegment", Arg::No),
    opt("no-rosegment", Arg::No),
];

/// GNU ld's short options (the ELF emulation adds `-z` and `-P`), as getopt's option string
/// spells them: a letter followed by `:` takes a value.
const SHORT: &str = "a:A:b:c:de:Ef:F:gG:h:I:l:L:m:MnNo:O:qriR:sStT:u:vVxXy:Y:()wz:P:";

/// One option of the command line, matched: its canonical name (the long name without any
/// `=<...>` description, or the short letter) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The word of the command line it came from, for messages.
    pub word: String,
    pub name: String,
    pub value: Option<String>,
}

/// What one word of the command line (with any value it takes from the next) is.
#[derive(Debug, PartialEq, Eq)]
pub enum Word {
    Input(String),
    /// One option, or several glued short flags (`-sx`).
    Options(Vec<Matched>),
    /// `--`: GNU ld stops reading its command line there.
    End,
}

/// Reads the word at `argv[*i]` (and the value it takes from the next word, if any).
pub fn next_word(argv: &[String], i: &mut usize) -> Result<Word> {
    let word = &argv[*i];
    *i += 1;
    if word == "--" {
        return Ok(Word::End);
    }
    if !word.starts_with('-') || word == "-" {
        return Ok(Word::Input(word.clone()));
    }
    // ld turns `-lX` into `--library=X` before anything else, so that a library whose name
    // starts like a long option (`-linit`, `-library`) stays a library.
    if let Some(lib) = word.strip_prefix("-l").filter(|l| !l.is_empty()) {
        return Ok(Word::Options(vec![matched(
            word,
            "l",
            Some(lib.to_string()),
        )]));
    }
    if let Some(body) = word.strip_prefix("--") {
        // With two dashes every word is a long option: `long_option` fails on the rest.
        let m = long_option(argv, i, word, body, true)?;
        return Ok(Word::Options(m.into_iter().collect()));
    }
    let body = &word[1..];
    // A lone short letter is that option, even where it abbreviates long ones (`-e`, `-r`).
    let lone_short = body.chars().count() == 1 && short_arg(body.chars().next().unwrap()).is_some();
    if !lone_short {
        if let Some(m) = long_option(argv, i, word, body, false)? {
            return Ok(Word::Options(vec![m]));
        }
    }
    short_options(argv, i, word, body).map(Word::Options)
}

fn matched(word: &str, name: &str, value: Option<String>) -> Matched {
    Matched {
        word: word.to_string(),
        name: name.to_string(),
        value,
    }
}

/// How a name matched a table: getopt takes an exact match, else the one option the name
/// abbreviates; two candidates make it ambiguous.
enum Lookup {
    Found(&'static LongOpt),
    Ambiguous,
    Missing,
}

fn lookup(table: impl Iterator<Item = &'static LongOpt> + Clone, name: &str) -> Lookup {
    if let Some(o) = table.clone().find(|o| o.name == name) {
        return Lookup::Found(o);
    }
    let mut candidates = table.filter(|o| o.name.starts_with(name));
    match (candidates.next(), candidates.next()) {
        (Some(o), None) => Lookup::Found(o),
        (Some(_), Some(_)) => Lookup::Ambiguous,
        _ => Lookup::Missing,
    }
}

/// Matches `body` (the word without its dashes) as a long option. With one dash, `Ok(None)`
/// means "not a long option, try short ones"; with two, anything unmatched is an error.
fn long_option(
    argv: &[String],
    i: &mut usize,
    word: &str,
    body: &str,
    two: bool,
) -> Result<Option<Matched>> {
    let (name, glued) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    if name.is_empty() {
        bail!("unrecognized option '{word}'");
    }
    let o = if let Some(o) = EXTENSIONS.iter().find(|o| o.name == name) {
        o
    } else {
        let any = GNU_LONG.iter().filter(|o| !o.two_dashes_only);
        match lookup(any, name) {
            Lookup::Found(o) => o,
            Lookup::Ambiguous if !two => bail!("unrecognized option '{word}' (ambiguous)"),
            Lookup::Missing if !two => return Ok(None),
            // Like ld, a word with two dashes gets a second chance among the options that
            // need them.
            _ => match lookup(GNU_LONG.iter().filter(|o| o.two_dashes_only), name) {
                Lookup::Found(o) => o,
                Lookup::Ambiguous => bail!("unrecognized option '{word}' (ambiguous)"),
                Lookup::Missing => bail!("unrecognized option '{word}'"),
            },
        }
    };
    let canonical = o.name.split('=').next().unwrap_or(o.name);
    let value = match (o.arg, glued) {
        (Arg::No, Some(_)) => bail!("option '{word}' doesn't allow an argument"),
        (Arg::No, None) | (Arg::Optional, None) => None,
        (_, Some(v)) => Some(v.to_string()),
        (Arg::Required, None) => Some(next_value(argv, i, word)?),
    };
    Ok(Some(matched(word, canonical, value)))
}

/// Whether `c` is one of GNU ld's short options, and what value it takes.
fn short_arg(c: char) -> Option<Arg> {
    let at = SHORT.find(c).filter(|_| c != ':')?;
    Some(match SHORT[at + 1..].starts_with(':') {
        true => Arg::Required,
        false => Arg::No,
    })
}

/// Reads `body` as short options: a letter that takes a value takes the rest of the word (or
/// the next word); letters that take none may be glued together, which ld accepts with a
/// warning, but not in front of one that takes a value (`-dTfoo` could mean `--dTfoo`).
fn short_options(argv: &[String], i: &mut usize, word: &str, body: &str) -> Result<Vec<Matched>> {
    let mut out = Vec::new();
    for (k, c) in body.char_indices() {
        let Some(arg) = short_arg(c) else {
            bail!("unrecognized option '{word}'");
        };
        if arg == Arg::No {
            out.push(matched(word, &c.to_string(), None));
            continue;
        }
        if k > 0 {
            bail!("unable to disambiguate: {word} (did you mean -{word} ?)");
        }
        let rest = &body[c.len_utf8()..];
        let value = match rest.is_empty() {
            true => next_value(argv, i, word)?,
            false => rest.to_string(),
        };
        return Ok(vec![matched(word, &c.to_string(), Some(value))]);
    }
    if out.len() > 1 {
        diag::warn(format_args!(
            "grouped short command line options are deprecated: {word}"
        ));
    }
    Ok(out)
}

fn next_value(argv: &[String], i: &mut usize, word: &str) -> Result<String> {
    let Some(v) = argv.get(*i) else {
        bail!("option '{word}' requires an argument");
    };
    *i += 1;
    Ok(v.clone())
}
