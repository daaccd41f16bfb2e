//! Linker script semantics compared with GNU ld.
//!
//! Each script in `testdata/scripts/` is linked twice over the same freestanding objects
//! (`testdata/scripts/src/`: functions and data in their own sections, TLS, COMMON symbols,
//! prioritised constructors, sections of various alignments, a hand-written assembly file):
//! `ld.bfd -T script objs... -o out.bfd` and `spacer ld -T script objs... -o out.spacer`.  The
//! outputs must agree in everything the script decides:
//!
//! - the entry point;
//! - allocated sections: names, order, addresses, sizes, types and the W/A/X/T flags;
//! - non-allocated sections: the same names, all at address 0;
//! - program headers: type, vaddr, paddr, filesz, memsz, flags and alignment (file offsets are
//!   the linker's business), and the sections each one holds;
//! - every defined symbol (those of the objects and those the script defines or PROVIDEs): its
//!   value and its `nm` class (absolute or section-relative, local or global).
//!
//! Every difference is reported at once.  The linkers run in `testdata/scripts/` so that the
//! scripts' names (and INCLUDE) are relative, as in a real build; outputs go to
//! `target/spacer-tests/scripts/<case>/`.
//!
//! The error cases (`testdata/scripts/bad/`) must make spacer exit 1 with a message naming the
//! script and the line, and leave no output file; ld.bfd must reject them too.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

/// Compiler flags for the freestanding objects.
const CFLAGS: &[&str] = &[
    "-ffreestanding",
    "-fno-pie",
    "-nostdlib",
    "-O2",
    "-fcommon",
    "-ffunction-sections",
    "-fdata-sections",
    "-fno-asynchronous-unwind-tables",
    "-fno-stack-protector",
];

fn scripts_dir() -> PathBuf {
    testdata_dir().join("scripts")
}

fn tools_available() -> bool {
    require_tool("gcc", "gcc")
        && require_tool("ld.bfd", "binutils")
        && require_tool("readelf", "binutils")
        && require_tool("nm", "binutils")
}

/// The objects every script is linked from, in link order (compiled once, cached).
fn objects() -> &'static [PathBuf] {
    static OBJS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    OBJS.get_or_init(|| {
        let src = scripts_dir().join("src");
        let flags: Vec<String> = CFLAGS.iter().map(|s| s.to_string()).collect();
        // extra.c carries debug information: non-allocated .debug_* sections to place at 0.
        let mut gflags = flags.clone();
        gflags.push("-g".into());
        vec![
            compile(Driver::Gcc, &src.join("main.c"), &flags),
            compile(Driver::Gcc, &src.join("lib.c"), &flags),
            compile(Driver::Gcc, &src.join("extra.c"), &gflags),
            compile(Driver::Gcc, &src.join("asm.s"), &[]),
        ]
    })
}

/// Runs a linker in `testdata/scripts/` with `args`, then the objects, then `-o out`.
fn run_linker(spacer: bool, args: &[&str], out: &Path) -> (String, RunResult) {
    let _ = fs::remove_file(out);
    let mut cmd = if spacer {
        let mut c = Command::new(spacer_exe());
        c.arg("ld");
        c
    } else {
        Command::new("ld.bfd")
    };
    cmd.current_dir(scripts_dir())
        .args(args)
        .args(objects())
        .arg("-o")
        .arg(out);
    let command = display_command(&cmd);
    (command, run_with_timeout(&mut cmd, LINK_TIMEOUT))
}

// ---------------------------------------------------------------------------------------------
// Reading the outputs
// ---------------------------------------------------------------------------------------------

fn tool(args: &[&str]) -> String {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]);
    let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
    assert!(
        r.success(),
        "`{}` failed ({}):\n{}",
        display_command(&cmd),
        r.describe(),
        excerpt(&r.stderr, 4000)
    );
    r.stdout_str()
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("bad hex number {s:?}: {e}"))
}

#[derive(Clone, PartialEq, Eq, Debug)]
struct Section {
    kind: String,
    addr: u64,
    size: u64,
    /// readelf's flag letters, reduced to W, A, X and T.
    flags: String,
}

#[derive(Clone, PartialEq, Eq)]
struct Segment {
    kind: String,
    vaddr: u64,
    paddr: u64,
    filesz: u64,
    memsz: u64,
    flags: String,
    align: u64,
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} vaddr {:#x} paddr {:#x} filesz {:#x} memsz {:#x} flags {} align {:#x}",
            self.kind, self.vaddr, self.paddr, self.filesz, self.memsz, self.flags, self.align
        )
    }
}

struct Layout {
    entry: u64,
    /// Allocated sections in section-header order.
    alloc: Vec<(String, Section)>,
    /// Non-allocated sections (other than the symbol and string tables) and their addresses.
    nonalloc: BTreeMap<String, u64>,
    segments: Vec<Segment>,
    /// Section names per program header ("Section to Segment mapping").
    mapping: Vec<String>,
    /// Defined symbols: name -> sorted (value, nm class letter); local names may repeat.
    symbols: BTreeMap<String, Vec<(u64, char)>>,
}

fn layout(path: &Path) -> Layout {
    let p = path.to_str().unwrap();
    let entry = tool(&["readelf", "-hW", p])
        .lines()
        .find_map(|l| l.trim().strip_prefix("Entry point address:"))
        .map(|v| hex(v.trim()))
        .expect("readelf -h shows the entry point");

    let mut alloc = Vec::new();
    let mut nonalloc = BTreeMap::new();
    for line in tool(&["readelf", "-SW", p]).lines() {
        // "  [ 2] .text  PROGBITS  0000000000401000 001000 0011cd 00  AX  0   0 16"
        let Some(rest) = line.trim_start().strip_prefix('[') else {
            continue;
        };
        let Some((_, rest)) = rest.split_once(']') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 9
            || f[0] == "Name"
            || !f[1]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        // With no flags the flags column is missing.
        let flags = if f.len() >= 10 { f[6] } else { "" };
        let sec = Section {
            kind: f[1].to_string(),
            addr: hex(f[2]),
            size: hex(f[4]),
            flags: flags.chars().filter(|c| "WAXT".contains(*c)).collect(),
        };
        if sec.flags.contains('A') {
            alloc.push((f[0].to_string(), sec));
        } else if !matches!(f[1], "SYMTAB" | "STRTAB") {
            nonalloc.insert(f[0].to_string(), sec.addr);
        }
    }

    let mut segments = Vec::new();
    let mut mapping = Vec::new();
    let mut in_mapping = false;
    for line in tool(&["readelf", "-lW", p]).lines() {
        let t = line.trim();
        if t.starts_with("Section to Segment mapping") {
            in_mapping = true;
            continue;
        }
        if in_mapping {
            let mut words = t.split_whitespace();
            if words.next().is_some_and(|n| n.parse::<u32>().is_ok()) {
                mapping.push(words.collect::<Vec<_>>().join(" "));
            }
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        if f.len() >= 7 && f[1].starts_with("0x") && f[2].starts_with("0x") {
            segments.push(Segment {
                kind: f[0].to_string(),
                vaddr: hex(f[2]),
                paddr: hex(f[3]),
                filesz: hex(f[4]),
                memsz: hex(f[5]),
                flags: f[6..f.len() - 1].join(""),
                align: hex(f[f.len() - 1]),
            });
        }
    }

    let mut symbols: BTreeMap<String, Vec<(u64, char)>> = BTreeMap::new();
    for line in tool(&["nm", "--defined-only", p]).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 {
            let class = f[1].chars().next().unwrap();
            symbols
                .entry(f[2].to_string())
                .or_default()
                .push((hex(f[0]), class));
        }
    }
    for v in symbols.values_mut() {
        v.sort_unstable();
    }

    Layout {
        entry,
        alloc,
        nonalloc,
        segments,
        mapping,
        symbols,
    }
}

fn fmt_sym(v: Option<&Vec<(u64, char)>>) -> String {
    match v {
        None => "undefined".to_string(),
        Some(v) => v
            .iter()
            .map(|(a, c)| format!("{a:#x} {c}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn fmt_sec(s: Option<&Section>) -> String {
    match s {
        None => "absent".to_string(),
        Some(s) => format!(
            "{} at {:#x} size {:#x} flags {}",
            s.kind, s.addr, s.size, s.flags
        ),
    }
}

/// Every way spacer's output differs from ld.bfd's in what the script decides.
fn differences(bfd: &Layout, spacer: &Layout) -> Vec<String> {
    let mut diffs = Vec::new();
    if bfd.entry != spacer.entry {
        diffs.push(format!(
            "entry point: bfd {:#x}, spacer {:#x}",
            bfd.entry, spacer.entry
        ));
    }

    // Allocated sections.
    let b_alloc: BTreeMap<&str, &Section> =
        bfd.alloc.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let s_alloc: BTreeMap<&str, &Section> =
        spacer.alloc.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let mut names: Vec<&str> = b_alloc.keys().chain(s_alloc.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    for name in &names {
        let (b, s) = (b_alloc.get(name).copied(), s_alloc.get(name).copied());
        if b != s {
            diffs.push(format!(
                "allocated section {name}: bfd {}; spacer {}",
                fmt_sec(b),
                fmt_sec(s)
            ));
        }
    }
    let order = |l: &Layout| l.alloc.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    if order(bfd) != order(spacer) {
        diffs.push(format!(
            "allocated sections in header order:\n    bfd    {:?}\n    spacer {:?}",
            order(bfd),
            order(spacer)
        ));
    }

    // Non-allocated sections: the same ones, all at address 0.
    let b_na: Vec<&String> = bfd.nonalloc.keys().collect();
    let s_na: Vec<&String> = spacer.nonalloc.keys().collect();
    if b_na != s_na {
        diffs.push(format!(
            "non-allocated sections: bfd {b_na:?}, spacer {s_na:?}"
        ));
    }
    for (name, addr) in &spacer.nonalloc {
        if *addr != 0 {
            diffs.push(format!(
                "non-allocated section {name}: spacer gives it address {addr:#x}, not 0"
            ));
        }
    }

    // Program headers.
    if bfd.segments.len() != spacer.segments.len() {
        diffs.push(format!(
            "program headers: bfd has {}, spacer {}",
            bfd.segments.len(),
            spacer.segments.len()
        ));
    }
    for i in 0..bfd.segments.len().max(spacer.segments.len()) {
        match (bfd.segments.get(i), spacer.segments.get(i)) {
            (Some(b), Some(s)) => {
                // The alignment of PT_GNU_STACK means nothing.
                let same = if b.kind == "GNU_STACK" {
                    b.kind == s.kind && b.flags == s.flags
                } else {
                    b == s
                };
                if !same {
                    diffs.push(format!(
                        "program header {i}:\n    bfd    {b}\n    spacer {s}"
                    ));
                }
            }
            (Some(b), None) => diffs.push(format!("program header {i}: bfd {b}; spacer none")),
            (None, Some(s)) => diffs.push(format!("program header {i}: bfd none; spacer {s}")),
            (None, None) => {}
        }
    }
    for i in 0..bfd.mapping.len().max(spacer.mapping.len()) {
        let (b, s) = (bfd.mapping.get(i), spacer.mapping.get(i));
        if b != s {
            diffs.push(format!(
                "sections in program header {i}: bfd {:?}, spacer {:?}",
                b.map_or("<none>", |x| x.as_str()),
                s.map_or("<none>", |x| x.as_str())
            ));
        }
    }

    // Symbols: every one either output defines.
    let mut syms: Vec<&String> = bfd.symbols.keys().chain(spacer.symbols.keys()).collect();
    syms.sort_unstable();
    syms.dedup();
    // Values first, one line each; then the symbols whose values agree but whose nm class
    // (absolute or section-relative, local or global) differs, in one line.
    let values =
        |v: Option<&Vec<(u64, char)>>| v.map(|v| v.iter().map(|x| x.0).collect::<Vec<_>>());
    let mut class_diffs = Vec::new();
    for name in syms {
        let (b, s) = (bfd.symbols.get(name), spacer.symbols.get(name));
        if values(b) != values(s) {
            diffs.push(format!(
                "symbol {name}: bfd {}; spacer {}",
                fmt_sym(b),
                fmt_sym(s)
            ));
        } else if b != s {
            class_diffs.push(format!("{name} ({} / {})", fmt_sym(b), fmt_sym(s)));
        }
    }
    if !class_diffs.is_empty() {
        diffs.push(format!(
            "{} symbols have the right value but another nm class (bfd / spacer): {}",
            class_diffs.len(),
            class_diffs.join(", ")
        ));
    }
    diffs
}

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

/// Links the objects with ld.bfd and with spacer, both given `args` (scripts and options), and
/// requires the same layout.
fn compare(case: &str, args: &[&str]) {
    if !tools_available() {
        return;
    }
    let dir = scratch_dir("scripts", case);
    let bfd_out = dir.join("out.bfd");
    let spacer_out = dir.join("out.spacer");

    let (bfd_cmd, bfd) = run_linker(false, args, &bfd_out);
    assert!(
        bfd.success() && bfd_out.exists(),
        "case `{case}`: ld.bfd failed ({}), so the test itself is broken\n$ {bfd_cmd}\n{}",
        bfd.describe(),
        excerpt(&bfd.stderr, 4000)
    );
    let (spacer_cmd, spacer) = run_linker(true, args, &spacer_out);
    assert!(
        spacer.success() && spacer_out.exists(),
        "case `{case}`: spacer failed ({})\n$ {spacer_cmd}\n{}\nld.bfd succeeded:\n$ {bfd_cmd}",
        spacer.describe(),
        excerpt(&spacer.stderr, 4000)
    );

    let diffs = differences(&layout(&bfd_out), &layout(&spacer_out));
    if !diffs.is_empty() {
        let mut msg = format!(
            "case `{case}`: spacer's output differs from ld.bfd's in {} ways:\n",
            diffs.len()
        );
        for d in &diffs {
            let _ = writeln!(msg, "  {d}");
        }
        let _ = write!(
            msg,
            "links (in {}):\n$ {bfd_cmd}\n$ {spacer_cmd}\ncompare:\n  readelf -lSW {} {}\n  nm -n {} {}",
            scripts_dir().display(),
            bfd_out.display(),
            spacer_out.display(),
            bfd_out.display(),
            spacer_out.display()
        );
        panic!("{msg}");
    }
}

/// Explicit addresses, ALIGN, `.` assignments and `+=`, SIZEOF, ADDR, ABSOLUTE, MAX/MIN,
/// arithmetic, *(COMMON), .tdata/.tbss, ASSERT, non-allocated orphans at 0.
#[test]
fn script_basic() {
    compare("basic", &["-T", "basic.lds"]);
}

/// AT(), LOADADDR and the physical addresses of the program headers (PT_TLS is sized in
/// load-address space, where `.tbss` is aligned like any other section).
#[test]
fn script_load_addresses() {
    compare("lma", &["-T", "lma.lds"]);
}

/// PROVIDE / PROVIDE_HIDDEN (referenced and not), DEFINED, ABSOLUTE inside a section.
#[test]
fn script_provide_defined() {
    compare("provide", &["-T", "provide.lds"]);
}

/// KEEP with --gc-sections.
#[test]
fn script_keep_gc_sections() {
    compare("gc", &["-T", "gc.lds", "--gc-sections"]);
}

/// Character classes in globs, EXCLUDE_FILE, SORT_BY_NAME, SORT_BY_ALIGNMENT, SUBALIGN.
#[test]
fn script_globs_and_sorting() {
    compare("globs", &["-T", "globs.lds"]);
}

/// SORT_BY_INIT_PRIORITY for a constructor table, *(COMMON) between symbols, /DISCARD/.
#[test]
fn script_init_priority_common_discard() {
    compare("init", &["-T", "init.lds"]);
}

/// PHDRS with PT_PHDR, FILEHDR, PHDRS, FLAGS(expr), sections in two segments (data and TLS).
#[test]
fn script_phdrs() {
    compare("phdrs", &["-T", "phdrs.lds"]);
}

/// INSERT AFTER and INSERT BEFORE, from scripts given with further -T options after the base
/// script given with -dT.
#[test]
fn script_insert_after_before() {
    compare(
        "insert",
        &[
            "-dT",
            "insert_base.lds",
            "-T",
            "insert_after.lds",
            "-T",
            "insert_before.lds",
        ],
    );
}

/// INSERT scripts given with -T before the main script given with -T.  (With the main script
/// first, `-T insert_base.lds -T insert_after.lds`, GNU ld 2.40 reports ".rodata not found for
/// insert": an INSERT script makes it forget the earlier -T script.)
#[test]
fn script_insert_scripts_first() {
    compare(
        "insert_first",
        &[
            "-T",
            "insert_after.lds",
            "-T",
            "insert_before.lds",
            "-T",
            "insert_base.lds",
        ],
    );
}

/// INCLUDE inside SECTIONS, ASSERTs inside and outside SECTIONS.
#[test]
fn script_include_assert() {
    compare("include", &["-T", "include.lds"]);
}

/// INCLUDE at the top level of a script.
#[test]
fn script_include_top_level() {
    compare("include_top", &["-T", "include_top.lds"]);
}

/// Empty output sections disappear, their symbols keep their values; .tbss does not move `.`.
#[test]
fn script_empty_sections_and_tbss() {
    compare("empty", &["-T", "empty.lds"]);
}

/// Orphan sections: placed after the output section with the most similar flags, each under
/// its own name.  GNU ld documents the principle, not every detail, but spacer claims to
/// place orphans as GNU ld does, so the full layout is compared.
#[test]
fn script_orphans() {
    compare("orphan", &["-T", "orphan.lds"]);
}

/// A platform script with PHDRS and TLS given with -dT, a fragment with INSERT AFTER, PROVIDE
/// and SORT_BY_ALIGNMENT given with -T: how Unikraft links.
#[test]
fn script_unikraft_style() {
    compare(
        "unikraft",
        &["-dT", "unikraft_base.lds", "-T", "unikraft_frag.lds"],
    );
}

// ---------------------------------------------------------------------------------------------
// Scripts that must be rejected
// ---------------------------------------------------------------------------------------------

/// spacer must exit 1, name `script` and `line` in one line of its message (`script:line:` or
/// `script ... line N`), and leave no output; ld.bfd must reject the link too.
fn rejects(case: &str, args: &[&str], script: &str, line: u32) {
    if !tools_available() {
        return;
    }
    let dir = scratch_dir("scripts-bad", case);
    let bfd_out = dir.join("out.bfd");
    let (bfd_cmd, bfd) = run_linker(false, args, &bfd_out);
    assert!(
        !bfd.success(),
        "case `{case}`: ld.bfd accepts the script, so the test is broken\n$ {bfd_cmd}"
    );
    let out = dir.join("out.spacer");
    let (cmd, r) = run_linker(true, args, &out);
    let stderr = r.stderr_str();
    let mut problems = Vec::new();
    if r.code() != Some(1) {
        problems.push(format!("exit status is {}, not 1", r.describe()));
    }
    if out.exists() {
        problems.push(format!("it left an output file {}", out.display()));
    }
    let names_place = stderr.lines().any(|l| {
        l.contains(&format!("{script}:{line}:"))
            || l.contains(&format!("{script}:{line} "))
            || (l.contains(script) && l.contains(&format!("line {line}")))
    });
    if !names_place {
        problems.push(format!(
            "no line of the message names `{script}` and line {line}"
        ));
    }
    if !problems.is_empty() {
        panic!(
            "case `{case}`: spacer must reject the script properly, but {}\n$ {cmd}\nstderr:\n{}\nld.bfd says:\n{}",
            problems.join("; "),
            excerpt(&r.stderr, 4000),
            excerpt(&bfd.stderr, 2000)
        );
    }
}

#[test]
fn reject_missing_brace() {
    // The output section opened on line 4 is never closed: the error shows at line 5.
    rejects(
        "missing_brace",
        &["-T", "bad/missing_brace.lds"],
        "missing_brace.lds",
        5,
    );
}

#[test]
fn reject_bad_expression() {
    rejects("bad_expr", &["-T", "bad/bad_expr.lds"], "bad_expr.lds", 4);
}

#[test]
fn reject_unknown_command() {
    rejects(
        "unknown_command",
        &["-T", "bad/unknown_command.lds"],
        "unknown_command.lds",
        2,
    );
}

#[test]
fn reject_insert_missing_section() {
    rejects(
        "insert_missing",
        &["-dT", "insert_base.lds", "-T", "bad/insert_missing.lds"],
        "insert_missing.lds",
        5,
    );
}

#[test]
fn reject_failing_assert() {
    rejects(
        "assert_fails",
        &["-T", "bad/assert_fails.lds"],
        "assert_fails.lds",
        6,
    );
}
