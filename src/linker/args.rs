//! Command-line parsing with GNU ld's conventions.
//!
//! ld's command line is order-sensitive (`--whole-archive`, `-Bstatic` and groups apply to the
//! inputs that follow them), accepts long options with one or two dashes, and glues values to
//! short options (`-lc`, `-L/usr/lib`). A declarative parser would fight all of that, so this
//! module walks the arguments by hand and produces a plain [`Args`] value; which option a word
//! is (GNU ld's table and its getopt rules) is `options`' job.

use crate::linker::diag::Demangle;
use crate::linker::options::{self, Word};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub enum InputKind {
    /// A path given on the command line.
    File(PathBuf),
    /// `-lNAME` (or `-l:FILENAME`).
    Lib(String),
    /// A `-T` script: its `INPUT` and `GROUP` files join the link at this place.
    Script(PathBuf),
}

#[derive(Debug, Clone)]
pub struct InputArg {
    pub kind: InputKind,
    pub whole_archive: bool,
    /// `-Bstatic` in effect: only `.a` files are searched for `-l`.
    pub static_only: bool,
    /// Index of the `--start-group` this input belongs to, if any.
    pub group: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strip {
    None,
    Debug,
    All,
}

/// Which local symbols of the inputs the output's `.symtab` leaves out (GNU ld's `discard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// The default: temporary labels (`.L…`) in merged sections of a final link.
    MergeLabels,
    /// `-X` / `--discard-locals`: every temporary label.
    Labels,
    /// `-x` / `--discard-all`: every local symbol.
    All,
    /// `--discard-none`.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildId {
    None,
    Sha1,
    Uuid,
    Hex(Vec<u8>),
}

/// `-z cet-report=`: what to say about inputs without the IBT or SHSTK property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CetReport {
    None,
    Warning,
    Error,
}

/// `--compress-debug-sections=`: how non-allocated `.debug_*` sections are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressDebug {
    None,
    /// ELFCOMPRESS_ZLIB (`zlib`, `zlib-gabi`).
    Zlib,
    /// ELFCOMPRESS_ZSTD.
    Zstd,
}

/// How `--layout` places the input sections inside each library's region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayoutMode {
    /// Choose, per library, the placement that changes the fewest pages: keep unchanged code in
    /// place (with jumps where code moved), or repack the region.
    #[default]
    Stable,
    /// Per-library page-aligned regions at recorded addresses and nothing else: each region
    /// holds its library's input sections in their usual order.
    Regions,
}

#[derive(Debug, Clone)]
pub struct Args {
    pub inputs: Vec<InputArg>,
    pub output: PathBuf,
    pub lib_paths: Vec<PathBuf>,
    /// `--sysroot=DIR`: where `=` paths and a sysroot's scripts' absolute paths point.
    pub sysroot: Option<PathBuf>,
    pub entry: Option<String>,
    pub undefined: Vec<String>,
    /// `--require-defined=SYMBOL`: also undefined roots, and the link fails if one stays
    /// undefined.
    pub require_defined: Vec<String>,
    /// `--retain-symbols-file FILE`: the only symbols `.symtab` keeps.
    pub retain_symbols: Option<std::collections::HashSet<Vec<u8>>>,
    /// `--oformat binary`: a flat image of the loaded sections instead of ELF.
    pub binary: bool,
    /// GCC's `lto-wrapper`, as gcc names it to its plugin (`-plugin-opt=PATH`).
    pub lto_wrapper: Option<PathBuf>,
    /// `--unique[=PATTERN]`: sections that each get an output section of their own (an empty
    /// pattern: every orphan).
    pub unique: Vec<String>,
    /// `--wrap=SYMBOL`, each symbol once.
    pub wrap: Vec<String>,
    pub defsyms: Vec<(String, String)>,
    pub gc_sections: bool,
    /// `-q` / `--emit-relocs`: keep the input relocations in the image (`.rela.<section>`).
    pub emit_relocs: bool,
    /// `--stats` / `--time`: print each stage's time to standard error.
    pub stats: bool,
    /// Link in a child process and return once the output is in place (`--no-fork`: not).
    pub fork: bool,
    pub print_gc_sections: bool,
    pub strip: Strip,
    pub discard: Discard,
    pub map_file: Option<PathBuf>,
    pub build_id: BuildId,
    pub eh_frame_hdr: bool,
    pub pie: bool,
    pub shared: bool,
    pub relocatable: bool,
    /// `-T` scripts, in command-line order.
    pub scripts: Vec<PathBuf>,
    /// `-dT`: replaces the built-in default script.
    pub default_script: Option<PathBuf>,
    /// `-z execstack` / `-z noexecstack`; without either the inputs decide.
    pub exec_stack: Option<bool>,
    pub relro: bool,
    /// `-z separate-code` (the default) / `-z noseparate-code`: code in its own pages and
    /// load, or headers, code and read-only data in one executable load.
    pub separate_code: bool,
    /// `-z separate-loadable-segments`: every load also starts on its own page in the file.
    pub separate_loadable_segments: bool,
    /// `-z max-page-size=N`: load alignment (CONSTANT(MAXPAGESIZE)).
    pub max_page_size: u64,
    /// `-z common-page-size=N`: CONSTANT(COMMONPAGESIZE), where RELRO ends.
    pub common_page_size: u64,
    pub image_base: Option<u64>,
    /// `--section-start=SECTION=ADDR`, `-Ttext`, `-Tdata`, `-Tbss`: output sections placed at
    /// fixed addresses, in command-line order (a later one for the same section wins).
    pub section_starts: Vec<(String, u64)>,
    pub threads: Option<usize>,
    /// `-t` / `--trace`, counted: once prints every input file as it is loaded (archives each
    /// time they are searched), twice also the archive members taken.
    pub trace: u32,
    /// `-y SYM` / `--trace-symbol=SYM`: each file defining or referring to SYM is reported.
    pub trace_symbols: Vec<String>,
    pub verbose: bool,
    pub allow_multiple_definition: bool,
    /// `--fatal-warnings`: any warning fails the link.
    pub fatal_warnings: bool,
    /// `--warn-common`: warn when a common symbol meets another common or a definition.
    pub warn_common: bool,
    /// `--demangle[=STYLE]` / `--no-demangle`: how messages show symbol names.
    pub demangle: Demangle,
    /// `-d`: allocate common symbols even in a partial link.
    pub define_common: bool,
    /// `--noinhibit-exec`: errors that leave a usable image (undefined and multiply defined
    /// symbols, `--fatal-warnings`) are reported and the output is written all the same.
    pub noinhibit_exec: bool,
    /// `--unresolved-symbols=ignore-all` (or `ignore-in-object-files`: in a static link every
    /// reference comes from an object): undefined symbols are not reported and resolve to 0.
    pub ignore_unresolved: bool,
    /// `--warn-unresolved-symbols`: undefined symbols are warnings, not errors (the last of it
    /// and `--error-unresolved-symbols` counts).
    pub warn_unresolved: bool,
    pub version: bool,
    pub help: bool,
    /// `-dynamic-linker` was given (and not cancelled by `--no-dynamic-linker`).
    pub dynamic_linker: bool,
    /// `--page-digests`: write a `.spacer.digests` section with a SHA-1 per loaded page.
    pub page_digests: bool,
    /// `--layout FILE`: read the previous link's layout from FILE and write this one's.
    pub layout: Option<PathBuf>,
    /// `--layout-mode=stable|regions`.
    pub layout_mode: LayoutMode,
    /// `--layout-report`: one line per library and regioned section on standard error.
    pub layout_report: bool,
    /// `-z ibt`, `-z shstk`: mark the output IBT / SHSTK compatible whatever the inputs say.
    pub force_ibt: bool,
    pub force_shstk: bool,
    pub cet_report: CetReport,
    /// `-z x86-64-baseline|v2|v3|v4`: bits ORed into the x86 ISA-needed property.
    pub isa_needed: u32,
    /// `--package-metadata=JSON`: the `.note.package` descriptor.
    pub package_metadata: Option<String>,
    pub compress_debug: CompressDebug,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            inputs: Vec::new(),
            output: PathBuf::from("a.out"),
            lib_paths: Vec::new(),
            sysroot: None,
            entry: None,
            undefined: Vec::new(),
            require_defined: Vec::new(),
            retain_symbols: None,
            binary: false,
            unique: Vec::new(),
            lto_wrapper: None,
            wrap: Vec::new(),
            defsyms: Vec::new(),
            gc_sections: false,
            emit_relocs: false,
            stats: false,
            fork: true,
            print_gc_sections: false,
            strip: Strip::None,
            discard: Discard::MergeLabels,
            map_file: None,
            build_id: BuildId::None,
            eh_frame_hdr: false,
            pie: false,
            shared: false,
            relocatable: false,
            scripts: Vec::new(),
            default_script: None,
            exec_stack: None,
            relro: true,
            separate_code: true,
            separate_loadable_segments: false,
            max_page_size: 0x1000,
            common_page_size: 0x1000,
            image_base: None,
            section_starts: Vec::new(),
            threads: None,
            trace: 0,
            trace_symbols: Vec::new(),
            verbose: false,
            allow_multiple_definition: false,
            fatal_warnings: false,
            warn_common: false,
            demangle: Demangle::Auto,
            define_common: false,
            noinhibit_exec: false,
            ignore_unresolved: false,
            warn_unresolved: false,
            version: false,
            help: false,
            dynamic_linker: false,
            page_digests: false,
            layout: None,
            layout_mode: LayoutMode::default(),
            layout_report: false,
            force_ibt: false,
            force_shstk: false,
            cet_report: CetReport::None,
            isa_needed: 0,
            package_metadata: None,
            compress_debug: CompressDebug::None,
        }
    }
}

/// Options accepted and ignored because they have no effect on a static link.
const IGNORED_FLAGS: &[&str] = &[
    "as-needed",
    "no-as-needed",
    "no-add-needed",
    "add-needed",
    "copy-dt-needed-entries",
    "no-copy-dt-needed-entries",
    "sort-common",
    "no-undefined",
    "color-diagnostics",
    "enable-new-dtags",
    "disable-new-dtags",
    "export-dynamic",
    "E",
    "no-export-dynamic",
    "Bsymbolic",
    "Bsymbolic-functions",
    "no-warn-mismatch",
    "warn-shared-textrel",
    "warn-once",
    "no-relax",
    "relax",
    "nostdlib",
    "no-keep-memory",
    "reduce-memory-overheads",
    "warn-constructors",
    "warn-multiple-gp",
    "no-warn-rwx-segments",
    "warn-rwx-segments",
    "no-warn-execstack",
    "warn-execstack",
    "gdb-index",
    "no-gdb-index",
    "no-ctors-in-init-array",
    "g",
    "Qy",
    "qmagic",
    "no-check-sections",
    "check-sections",
    "fix-cortex-a53-843419",
    "no-undefined-version",
    "no-rosegment",
    "rosegment",
    "allow-shlib-undefined",
    "no-allow-shlib-undefined",
    "EL",
    "detect-odr-violations",
    "no-print-gc-sections",
    "no-map-whole-files",
    "no-define-common",
    "accept-unknown-input-arch",
    "no-accept-unknown-input-arch",
    "no-omagic",
    "cref",
    "no-eh-frame-hdr",
    "P",
];

/// Reads `@file` response files the way GNU tools do: whitespace-separated words, with single
/// and double quotes and backslash escapes, expanded recursively.
fn expand_response_files(args: impl Iterator<Item = String>, depth: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for arg in args {
        if let Some(path) = arg.strip_prefix('@') {
            if depth > 32 {
                bail!("response file nesting too deep at @{path}");
            }
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    let words = split_response_words(&text);
                    out.extend(expand_response_files(words.into_iter(), depth + 1)?);
                }
                // GNU ld treats an unreadable @file as a plain argument.
                Err(_) => out.push(arg),
            }
        } else {
            out.push(arg);
        }
    }
    Ok(out)
}

fn split_response_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

fn parse_number(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// The value of `-z max-page-size=N` / `-z common-page-size=N`: a power of two.
fn page_size(kw: &str) -> Result<u64> {
    let (name, v) = kw.split_once('=').unwrap_or((kw, ""));
    match parse_number(v) {
        Some(n) if n.is_power_of_two() => Ok(n),
        _ => bail!("-z {name}: '{v}' is not a power of two"),
    }
}

/// Addresses of `--section-start` and `-Ttext`/`-Tdata`/`-Tbss` are hexadecimal, with or
/// without `0x`, as GNU ld reads them.
fn parse_hex_address(s: &str) -> Option<u64> {
    let s = s.trim();
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u64::from_str_radix(h, 16).ok()
}

pub fn parse(raw: impl Iterator<Item = String>) -> Result<Args> {
    let argv = expand_response_files(raw, 0)?;
    let mut a = Args::default();
    // GNU ld's default; gcc's collect2 sets the variable when it demangles ld's output itself.
    if std::env::var_os("COLLECT_NO_DEMANGLE").is_some() {
        a.demangle = Demangle::None;
    }
    let mut whole_archive = false;
    let mut static_only = false;
    let mut group: Option<usize> = None;
    // `--push-state` / `--pop-state` save and restore the positional flags.
    let mut states: Vec<(bool, bool)> = Vec::new();
    let mut groups = 0usize;
    let mut i = 0;

    // Glued short flags (`-sx`) are one word but several options.
    let mut pending = std::collections::VecDeque::new();
    while i < argv.len() || !pending.is_empty() {
        let Some(options::Matched {
            word,
            name,
            mut value,
            ..
        }) = pending.pop_front()
        else {
            match options::next_word(&argv, &mut i)? {
                Word::Input(path) => a.inputs.push(InputArg {
                    kind: InputKind::File(PathBuf::from(path)),
                    whole_archive,
                    static_only,
                    group,
                }),
                Word::Options(opts) => pending.extend(opts),
                Word::End => break,
            }
            continue;
        };
        let arg = &word;
        // The matcher has fetched every required value; an option whose value is optional
        // has one only when it was glued on.
        let take = |value: &mut Option<String>| -> Result<String> {
            value
                .take()
                .with_context(|| format!("option '{arg}' requires an argument"))
        };
        match name.as_str() {
            "o" | "output" => a.output = PathBuf::from(take(&mut value)?),
            "L" | "library-path" => a.lib_paths.push(PathBuf::from(take(&mut value)?)),
            "l" | "library" => {
                let lib = take(&mut value)?;
                a.inputs.push(InputArg { kind: InputKind::Lib(lib), whole_archive, static_only, group });
            }
            "e" | "entry" => a.entry = Some(take(&mut value)?),
            "u" | "undefined" => a.undefined.push(take(&mut value)?),
            "require-defined" => {
                let sym = take(&mut value)?;
                a.undefined.push(sym.clone());
                a.require_defined.push(sym);
            }
            "retain-symbols-file" => {
                let path = take(&mut value)?;
                let text = std::fs::read(&path)
                    .with_context(|| format!("--retain-symbols-file: cannot read {path}"))?;
                a.retain_symbols = Some(
                    text.split(|&b| b == b'\n')
                        .map(|l| l.trim_ascii().to_vec())
                        .filter(|l| !l.is_empty())
                        .collect(),
                );
            }
            "oformat" => {
                let f = take(&mut value)?;
                a.binary = match f.as_str() {
                    "binary" => true,
                    "elf64-x86-64" | "elf64-little" | "default" => false,
                    _ => bail!("--oformat: unsupported output format '{f}' (elf64-x86-64 or binary)"),
                };
            }
            "unique" => a.unique.push(value.take().unwrap_or_default()),
            // Run by the dynamic loader only (DT_INIT/DT_FINI): nothing in a static image.
            "init" | "fini" => {
                take(&mut value)?;
            }
            "wrap" => {
                let sym = take(&mut value)?;
                if !a.wrap.contains(&sym) {
                    a.wrap.push(sym);
                }
            }
            "defsym" => {
                let v = take(&mut value)?;
                let (sym, expr) = v
                    .split_once('=')
                    .with_context(|| format!("--defsym: expected SYMBOL=EXPRESSION, got '{v}'"))?;
                a.defsyms.push((sym.trim().to_string(), expr.trim().to_string()));
            }
            "m" => {
                let emu = take(&mut value)?;
                if emu != "elf_x86_64" {
                    bail!("unsupported emulation '{emu}' (only elf_x86_64 is supported)");
                }
            }
            "z" => {
                let kw = take(&mut value)?;
                match kw.as_str() {
                    "execstack" => a.exec_stack = Some(true),
                    "noexecstack" => a.exec_stack = Some(false),
                    "relro" => a.relro = true,
                    "norelro" => a.relro = false,
                    "ibt" => a.force_ibt = true,
                    "shstk" => a.force_shstk = true,
                    "cet-report=none" => a.cet_report = CetReport::None,
                    "cet-report=warning" => a.cet_report = CetReport::Warning,
                    "cet-report=error" => a.cet_report = CetReport::Error,
                    "x86-64-baseline" => a.isa_needed |= 1,
                    "x86-64-v2" => a.isa_needed |= 2,
                    "x86-64-v3" => a.isa_needed |= 4,
                    "x86-64-v4" => a.isa_needed |= 8,
                    "separate-code" => a.separate_code = true,
                    "noseparate-code" => a.separate_code = false,
                    "separate-loadable-segments" => a.separate_loadable_segments = true,
                    _ if kw.starts_with("max-page-size=") => {
                        a.max_page_size = page_size(&kw)?;
                    }
                    _ if kw.starts_with("common-page-size=") => {
                        a.common_page_size = page_size(&kw)?;
                    }
                    "now" | "lazy" | "text" | "notext" | "textoff" | "defs" | "undefs" | "origin" | "nodelete" | "nodlopen"
                    | "combreloc" | "nocombreloc" | "noexecheap" | "global" | "initfirst"
                    | "interpose" | "muldefs" | "nocopyreloc" | "mark-plt" | "nomark-plt" | "start-stop-gc" | "nostart-stop-gc"
                    | "unique-symbol" | "nounique-symbol" | "pack-relative-relocs"
                    | "nopack-relative-relocs" | "noextern-protected-data" => {
                        if kw == "muldefs" {
                            a.allow_multiple_definition = true;
                        }
                    }
                    _ if kw.starts_with("stack-size=") || kw.starts_with("x86-64-") => {}
                    // Dynamic linking only.
                    "nodefaultlib" => {}
                    _ if kw.starts_with("start-stop-visibility=") => {
                        let v = &kw["start-stop-visibility=".len()..];
                        if !matches!(v, "default" | "internal" | "hidden" | "protected") {
                            bail!("-z start-stop-visibility: unknown visibility '{v}'");
                        }
                    }
                    // GNU ld 2.40 does not implement it either, and says so.
                    "keep-text-section-prefix" | "nokeep-text-section-prefix" => {
                        crate::linker::diag::warn(format!("-z {kw} ignored"));
                    }
                    _ => bail!("unknown -z option '{kw}'"),
                }
            }
            "T" | "script" => {
                let script = PathBuf::from(take(&mut value)?);
                a.inputs.push(InputArg {
                    kind: InputKind::Script(script.clone()),
                    whole_archive,
                    static_only,
                    group,
                });
                a.scripts.push(script);
            }
            "sysroot" => a.sysroot = Some(PathBuf::from(take(&mut value)?)),
            "dT" | "default-script" => a.default_script = Some(PathBuf::from(take(&mut value)?)),
            "Map" => a.map_file = Some(PathBuf::from(take(&mut value)?)),
            "M" | "print-map" => {}
            "gc-sections" => a.gc_sections = true,
            "q" | "emit-relocs" => a.emit_relocs = true,
            // As in ld, the last of these wins.
            "X" | "discard-locals" => a.discard = Discard::Labels,
            "x" | "discard-all" => a.discard = Discard::All,
            "discard-none" => a.discard = Discard::None,
            "stats" | "time" => a.stats = true,
            "fork" => a.fork = true,
            "no-fork" => a.fork = false,
            "no-gc-sections" => a.gc_sections = false,
            "print-gc-sections" => a.print_gc_sections = true,
            "s" | "strip-all" => a.strip = Strip::All,
            // As in ld, the last of -s and -S wins.
            "S" | "strip-debug" => a.strip = Strip::Debug,
            "strip-dwo" => {
                if a.strip == Strip::None {
                    a.strip = Strip::Debug
                }
            }
            "build-id" => {
                a.build_id = match value.as_deref() {
                    None | Some("sha1") | Some("tree") | Some("md5") | Some("fast") | Some("xxhash") => BuildId::Sha1,
                    Some("none") => BuildId::None,
                    Some("uuid") => BuildId::Uuid,
                    Some(h) if h.starts_with("0x") || h.starts_with("0X") => {
                        let hex = &h[2..];
                        if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                            bail!("--build-id: invalid hexadecimal value '{h}'");
                        }
                        BuildId::Hex((0..hex.len()).step_by(2).map(|k| u8::from_str_radix(&hex[k..k + 2], 16).unwrap()).collect())
                    }
                    Some(other) => bail!("--build-id: unknown style '{other}'"),
                }
            }
            "eh-frame-hdr" => a.eh_frame_hdr = true,
            "static" | "Bstatic" | "dn" | "non_shared" => static_only = true,
            "Bdynamic" | "dy" | "call_shared" => static_only = false,
            "pie" | "pic-executable" => a.pie = true,
            "no-pie" | "no-pic-executable" => a.pie = false,
            "shared" | "Bshareable" => a.shared = true,
            "r" | "relocatable" | "i" | "Ur" => a.relocatable = true,
            "page-digests" => a.page_digests = true,
            "layout" => a.layout = Some(PathBuf::from(take(&mut value)?)),
            "layout-mode" => {
                a.layout_mode = match take(&mut value)?.as_str() {
                    "stable" => LayoutMode::Stable,
                    "regions" => LayoutMode::Regions,
                    m => bail!("--layout-mode: unknown mode `{m}` (stable, regions)"),
                }
            }
            "layout-report" => a.layout_report = true,
            "no-page-digests" => a.page_digests = false,
            "push-state" => states.push((whole_archive, static_only)),
            "pop-state" => {
                (whole_archive, static_only) =
                    states.pop().context("--pop-state without matching --push-state")?;
            }
            "dynamic-linker" | "I" => {
                take(&mut value)?;
                a.dynamic_linker = true;
            }
            "no-dynamic-linker" => a.dynamic_linker = false,
            "compress-debug-sections" => a.compress_debug = parse_compress_debug(&take(&mut value)?)?,
            // An empty or missing value asks for no note, as with GNU ld.
            "package-metadata" => a.package_metadata = value.take().filter(|v| !v.is_empty()),
            "whole-archive" => whole_archive = true,
            "no-whole-archive" => whole_archive = false,
            "start-group" | "(" => {
                if group.is_some() {
                    bail!("nested --start-group");
                }
                group = Some(groups);
                groups += 1;
            }
            "end-group" | ")" => {
                if group.take().is_none() {
                    bail!("--end-group without --start-group");
                }
            }
            "image-base" => {
                let v = take(&mut value)?;
                a.image_base = Some(parse_number(&v).with_context(|| format!("--image-base: invalid address '{v}'"))?);
            }
            "section-start" => {
                let v = take(&mut value)?;
                let (sec, addr) = v.split_once('=').with_context(|| {
                    format!("--section-start: expected SECTION=ADDRESS, got '{v}'")
                })?;
                let addr = parse_hex_address(addr)
                    .with_context(|| format!("--section-start: invalid address '{addr}'"))?;
                a.section_starts.push((sec.to_string(), addr));
            }
            "Ttext" | "Tdata" | "Tbss" => {
                let v = take(&mut value)?;
                let addr = parse_hex_address(&v)
                    .with_context(|| format!("-{name}: invalid address '{v}'"))?;
                a.section_starts.push((format!(".{}", &name[1..]), addr));
            }
            "Ttext-segment" => {
                let v = take(&mut value)?;
                a.image_base = Some(parse_number(&v).with_context(|| format!("-Ttext-segment: invalid address '{v}'"))?);
            }
            "threads" | "thread-count" => {
                if let Some(v) = value.take() {
                    a.threads = Some(v.parse().with_context(|| format!("--threads: invalid count '{v}'"))?);
                }
            }
            "no-threads" => a.threads = Some(1),
            "t" | "trace" => a.trace += 1,
            "y" | "trace-symbol" => a.trace_symbols.push(take(&mut value)?),
            "verbose" => a.verbose = true,
            "v" | "V" | "version" => a.version = true,
            "help" => a.help = true,
            "allow-multiple-definition" => a.allow_multiple_definition = true,
            "fatal-warnings" => a.fatal_warnings = true,
            "warn-common" => a.warn_common = true,
            "no-fatal-warnings" => a.fatal_warnings = false,
            // `-C` is gold's and lld's spelling (ld.bfd 2.40 does not know it).
            "demangle" | "C" => {
                a.demangle = match value.take() {
                    Some(style) => Demangle::parse(&style)?,
                    None => Demangle::Auto,
                }
            }
            "no-demangle" => a.demangle = Demangle::None,
            "d" | "dc" | "dp" | "define-common" => a.define_common = true,
            "noinhibit-exec" | "no-fatal-undefined" => a.noinhibit_exec = true,
            "unresolved-symbols" => {
                let v = take(&mut value)?;
                a.ignore_unresolved = match v.as_str() {
                    "ignore-all" | "ignore-in-object-files" => true,
                    // Shared libraries are never inputs of a static link.
                    "report-all" | "ignore-in-shared-libs" => false,
                    _ => bail!(
                        "--unresolved-symbols: unknown method '{v}' (expected ignore-all, \
                         report-all, ignore-in-object-files or ignore-in-shared-libs)"
                    ),
                }
            }
            "warn-unresolved-symbols" => a.warn_unresolved = true,
            "error-unresolved-symbols" => a.warn_unresolved = false,
            // gcc's plugin options: the first that is not an option is lto-wrapper's path.
            "plugin-opt" => {
                let v = take(&mut value)?;
                if !v.starts_with('-') && a.lto_wrapper.is_none() {
                    a.lto_wrapper = Some(PathBuf::from(v));
                }
            }
            "plugin" | "hash-style" | "rpath" | "rpath-link"
            | "version-script" | "O" | "exclude-libs"
            | "dependency-file" | "error-limit"
            | "plugin-save-temps" | "dynamic-list" | "fuse-ld" | "Y" => {
                take(&mut value)?;
            }
            // `-R FILE` means `--just-symbols=FILE`, which spacer does not do; anything else
            // (a directory, or nothing at that path) is an rpath, as GNU ld decides, and has
            // nothing to do in a static link.
            "R" => {
                let v = take(&mut value)?;
                if std::fs::metadata(&v).is_ok_and(|m| !m.is_dir()) {
                    bail!("unsupported option '-R {v}' (--just-symbols)");
                }
            }
            "soname" | "h" => bail!("option '{arg}' is only meaningful for shared libraries, which spacer does not build"),
            _ if IGNORED_FLAGS.contains(&name.as_str()) => {}
            // Every name that reaches here is one of GNU ld's options (the matcher rejects
            // the rest), but not one spacer implements.
            _ => bail!("unsupported option '{arg}': spacer does not implement it"),
        }
    }
    if group.is_some() {
        bail!("--start-group without matching --end-group");
    }
    Ok(a)
}

fn parse_compress_debug(v: &str) -> Result<CompressDebug> {
    Ok(match v {
        "none" => CompressDebug::None,
        "zlib" | "zlib-gabi" => CompressDebug::Zlib,
        "zstd" => CompressDebug::Zstd,
        // The pre-gABI format renames sections to .zdebug_*; current tools no longer write it.
        "zlib-gnu" => bail!(
            "--compress-debug-sections=zlib-gnu (the legacy .zdebug format) is not supported; \
             use zlib or zstd"
        ),
        _ => bail!("--compress-debug-sections: unknown type '{v}' (none, zlib, zlib-gabi, zstd)"),
    })
}

pub const VERSION_TEXT: &str = concat!(
    "GNU ld compatible spacer ",
    env!("CARGO_PKG_VERSION"),
    " (compatible with GNU linkers)\n"
);

pub const HELP_TEXT: &str = "Usage: ld [options] file...
spacer: a static ELF linker for x86-64 (invoked as ld, ld.spacer, or spacer ld)

Options (GNU ld compatible):
  -o FILE                 Set output file name (default a.out)
  -L DIR, -l NAME         Add library search directory / search for library NAME
  -e SYMBOL               Set entry point
  -u SYMBOL               Start with an undefined reference to SYMBOL
  --require-defined=SYMBOL   Like -u, and fail unless SYMBOL gets defined
  --retain-symbols-file=FILE   Keep only the symbols FILE lists in .symtab
  --oformat=binary        Write a flat image of the loaded sections instead of ELF
  --unique[=SECTION]      An output section for each matching input section (each orphan)
  --defsym SYM=EXPR       Define a symbol
  --start-group ... --end-group   Search archives repeatedly
  --whole-archive         Include every member of the following archives
  -static, -Bstatic       Only link static archives
  --gc-sections           Remove unused sections
  -q, --emit-relocs       Keep the input relocations in the output (.rela.<section>)
  -X, --discard-locals    Drop temporary local symbols (.L...)
  -x, --discard-all       Drop all local symbols
  --eh-frame-hdr          Create .eh_frame_hdr and PT_GNU_EH_FRAME
  --build-id[=STYLE]      Write a build-id note (sha1, uuid, 0xHEX, none)
  -s, -S                  Strip all symbols / debug sections
  -Map FILE               Write a link map
  -z KEYWORD              execstack, noexecstack, relro, norelro, separate-code,
                          noseparate-code, separate-loadable-segments,
                          max-page-size=N, common-page-size=N, ...
  -z ibt, -z shstk        Mark the output IBT / SHSTK compatible whatever the inputs say
  -z cet-report=none|warning|error
                          Report inputs without the IBT or SHSTK property
  -z x86-64-{baseline,v2,v3,v4}
                          Add an ISA level to the x86 ISA-needed property
  --section-start=SECTION=ADDRESS, -Ttext=ADDRESS, -Tdata=ADDRESS, -Tbss=ADDRESS
                          Place an output section at ADDRESS (hexadecimal)
  --sysroot=DIR           Sysroot of `=` and `$SYSROOT` paths (-L, scripts)
  --wrap=SYMBOL           Bind undefined SYMBOL to __wrap_SYMBOL, __real_SYMBOL to SYMBOL
  --warn-common           Warn when a common symbol meets another common or a definition
  --fatal-warnings        Fail the link (writing nothing) if any warning was printed
  --compress-debug-sections=none|zlib|zlib-gabi|zstd
                          Compress the .debug_* sections
  --package-metadata=JSON Write a .note.package note holding JSON
  -z KEYWORD              execstack, noexecstack, relro, norelro, ...
  --demangle[=STYLE]      Demangle symbol names in messages (default; STYLE auto,
                          gnu-v3, rust or none), --no-demangle: show them as they are
  --unresolved-symbols=ignore-all|report-all   Whether undefined symbols are reported
                          (ignored ones resolve to 0)
  --warn-unresolved-symbols   Undefined symbols are warnings (--error-unresolved-symbols:
                          errors, the default)
  --noinhibit-exec        Write the output despite undefined or multiply defined symbols
  -t, --trace             Print each input file as it is loaded (twice: archive members)
  -y SYM, --trace-symbol=SYM   Print each file that defines or refers to SYM
  --threads=N             Number of threads
  --no-fork               Link in one process (by default the process that was started
                          returns as soon as the output is in place, as with mold)
  --stats, --time         Print each stage's time to standard error
  --page-digests          Record a SHA-1 of every loaded 4 KiB page (.spacer.digests)
  --layout FILE           Version-stable layout: per-library page-aligned regions whose
                          addresses FILE carries from one link to the next
  --layout-mode=MODE      stable (default): per library, the placement inside its region
                          that changes the fewest pages; regions: each region holds its
                          library's sections in their usual order, nothing more
  --layout-report         Per library and section, say on standard error what --layout
                          chose and how many pages it keeps, changes and adds
  --version, --help
";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Result<Args> {
        parse(words.iter().map(|w| w.to_string()))
    }

    fn libs(a: &Args) -> Vec<String> {
        a.inputs
            .iter()
            .filter_map(|i| match &i.kind {
                InputKind::Lib(l) => Some(l.clone()),
                InputKind::File(_) | InputKind::Script(_) => None,
            })
            .collect()
    }

    /// The error message of a command line spacer must reject.
    fn error(words: &[&str]) -> String {
        format!(
            "{:#}",
            parse_words(words).expect_err("the command line was accepted")
        )
    }

    #[test]
    fn layout_mode_and_report() {
        let a =
            parse_words(&["--layout", "f", "--layout-mode=regions", "--layout-report"]).unwrap();
        assert_eq!(a.layout_mode, LayoutMode::Regions);
        assert!(a.layout_report);
        let a = parse_words(&["--layout", "f"]).unwrap();
        assert_eq!(a.layout_mode, LayoutMode::Stable);
        assert!(!a.layout_report);
        assert!(error(&["--layout-mode=fast"]).contains("unknown mode `fast`"));
    }

    #[test]
    fn long_options_take_one_dash() {
        let a = parse_words(&[
            "-gc-sections",
            "-static",
            "-no-pie",
            "-eh-frame-hdr",
            "-nostdlib",
        ])
        .unwrap();
        assert!(a.gc_sections && a.eh_frame_hdr && !a.pie);
        let a = parse_words(&["-whole-archive", "x.a", "-no-whole-archive", "y.a"]).unwrap();
        assert_eq!(
            a.inputs.iter().map(|i| i.whole_archive).collect::<Vec<_>>(),
            [true, false]
        );
        assert_eq!(
            parse_words(&["-Map", "m"]).unwrap().map_file,
            Some("m".into())
        );
        assert_eq!(parse_words(&["-Map=m"]).unwrap().map_file, Some("m".into()));
        assert!(parse_words(&["-pie"]).unwrap().pie);
        assert!(error(&["-soname=x"]).contains("shared libraries"));
    }

    #[test]
    fn one_dash_words_that_are_no_long_option_are_short_options() {
        // As ld.bfd reads them: `-estart` is `-e start`, `-entry=foo` the long option.
        assert_eq!(
            parse_words(&["-estart"]).unwrap().entry.as_deref(),
            Some("start")
        );
        assert_eq!(
            parse_words(&["-entry=foo"]).unwrap().entry.as_deref(),
            Some("foo")
        );
        assert_eq!(
            parse_words(&["-e", "main"]).unwrap().entry.as_deref(),
            Some("main")
        );
        assert_eq!(
            parse_words(&["-Tfoo.ld"]).unwrap().scripts,
            [PathBuf::from("foo.ld")]
        );
        assert!(!parse_words(&["-znorelro"]).unwrap().relro);
        assert_eq!(
            parse_words(&["-L/lib64"]).unwrap().lib_paths,
            [PathBuf::from("/lib64")]
        );
        // `--undefined-version` needs two dashes, so one dash is `-u ndefined-version`.
        assert_eq!(
            parse_words(&["-undefined-version"]).unwrap().undefined,
            ["ndefined-version"]
        );
    }

    #[test]
    fn output_options_need_two_dashes() {
        assert_eq!(
            parse_words(&["-omagic"]).unwrap().output,
            PathBuf::from("magic")
        );
        assert_eq!(
            parse_words(&["-output=x"]).unwrap().output,
            PathBuf::from("utput=x")
        );
        assert_eq!(
            parse_words(&["--output=x"]).unwrap().output,
            PathBuf::from("x")
        );
        assert_eq!(
            parse_words(&["--outp", "y"]).unwrap().output,
            PathBuf::from("y")
        );
        assert!(error(&["--omagic"]).contains("unsupported option '--omagic'"));
    }

    #[test]
    fn glued_l_is_always_a_library() {
        let a = parse_words(&["-lc", "-library=m", "-linit", "--library=z", "-l", "gcc"]).unwrap();
        assert_eq!(libs(&a), ["c", "ibrary=m", "init", "z", "gcc"]);
    }

    #[test]
    fn abbreviations_resolve_as_in_gnu_ld() {
        assert_eq!(
            parse_words(&["-entr=foo"]).unwrap().entry.as_deref(),
            Some("foo")
        );
        assert!(parse_words(&["-non", "-lc"]).unwrap().inputs[0].static_only);
        assert!(parse_words(&["--gc-s"]).unwrap().gc_sections);
        // `-eh` abbreviates `--eh-frame-hdr`; `-en` and `--gc` abbreviate several options.
        assert!(parse_words(&["-eh"]).unwrap().eh_frame_hdr);
        assert!(error(&["-en"]).contains("'-en'"));
        assert!(error(&["--gc"]).contains("'--gc'"));
        // `-Tb` is `-Tbss`; it is not `-T b`.
        let a = parse_words(&["-Tb", "0x3000"]).unwrap();
        assert_eq!(a.section_starts, [(".bss".to_string(), 0x3000)]);
        assert!(a.scripts.is_empty());
        // Spacer's own options are never abbreviated.
        assert!(error(&["--page-dig"]).contains("unrecognized"));
    }

    #[test]
    fn glued_short_flags() {
        assert_eq!(parse_words(&["-sS"]).unwrap().strip, Strip::Debug);
        let a = parse_words(&["-sx"]).unwrap();
        assert_eq!((a.strip, a.discard), (Strip::All, Discard::All));
        assert_eq!(parse_words(&["-xX"]).unwrap().discard, Discard::Labels);
        assert_eq!(
            parse_words(&["-X", "--discard-none"]).unwrap().discard,
            Discard::None
        );
        assert_eq!(parse_words(&["-Ss"]).unwrap().strip, Strip::All);
        let e = error(&["-dTfoo"]);
        assert!(e.contains("unable to disambiguate: -dTfoo"), "{e}");
        assert_eq!(
            parse_words(&["-dT", "x"]).unwrap().default_script,
            Some("x".into())
        );
        assert!(parse_words(&["-d"]).unwrap().define_common);
    }

    #[test]
    fn values() {
        assert_eq!(parse_words(&["--threads=3"]).unwrap().threads, Some(3));
        assert_eq!(parse_words(&["-threads=3"]).unwrap().threads, Some(3));
        assert_eq!(
            parse_words(&["--build-id"]).unwrap().build_id,
            BuildId::Sha1
        );
        assert_eq!(
            parse_words(&["-build-id=none"]).unwrap().build_id,
            BuildId::None
        );
        assert!(error(&["-o"]).contains("requires an argument"));
        assert!(error(&["--gc-sections=yes"]).contains("doesn't allow an argument"));
        assert!(error(&["--no-such-option"]).contains("unrecognized option '--no-such-option'"));
        assert!(
            parse_words(&["-v"]).unwrap().version && parse_words(&["-version"]).unwrap().version
        );
        // ld stops reading its command line at `--`.
        assert!(parse_words(&["--", "--no-such-option"]).is_ok());
    }
}
