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

use common::elf_layout::{entry_difference, layout, segment_differences, Layout, Section};
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

/// What the script decides about an allocated section: type, address, size and the W/A/X/T
/// flags.
fn placement(s: &Section) -> (&str, u64, u64, String) {
    (&s.kind, s.addr, s.size, s.waxt())
}

fn fmt_sec(s: Option<&Section>) -> String {
    match s {
        None => "absent".to_string(),
        Some(s) => format!(
            "{} at {:#x} size {:#x} flags {}",
            s.kind,
            s.addr,
            s.size,
            s.waxt()
        ),
    }
}

/// Non-allocated sections (other than the symbol and string tables) and their addresses.
fn nonalloc(l: &Layout) -> BTreeMap<&str, u64> {
    l.sections
        .iter()
        .filter(|(_, s)| !s.is_alloc() && !matches!(s.kind.as_str(), "SYMTAB" | "STRTAB"))
        .map(|(n, s)| (n.as_str(), s.addr))
        .collect()
}

/// Every way spacer's output differs from ld.bfd's in what the script decides.
fn differences(bfd: &Layout, spacer: &Layout) -> Vec<String> {
    let mut diffs: Vec<String> = entry_difference(bfd, spacer).into_iter().collect();

    // Allocated sections.
    let b_alloc: BTreeMap<&str, &Section> = bfd.alloc().map(|(n, s)| (n.as_str(), s)).collect();
    let s_alloc: BTreeMap<&str, &Section> = spacer.alloc().map(|(n, s)| (n.as_str(), s)).collect();
    let mut names: Vec<&str> = b_alloc.keys().chain(s_alloc.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    for name in &names {
        let (b, s) = (b_alloc.get(name).copied(), s_alloc.get(name).copied());
        if b.map(placement) != s.map(placement) {
            diffs.push(format!(
                "allocated section {name}: bfd {}; spacer {}",
                fmt_sec(b),
                fmt_sec(s)
            ));
        }
    }
    let order = |l: &Layout| l.alloc().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    if order(bfd) != order(spacer) {
        diffs.push(format!(
            "allocated sections in header order:\n    bfd    {:?}\n    spacer {:?}",
            order(bfd),
            order(spacer)
        ));
    }

    // Non-allocated sections: the same ones, all at address 0.
    let (b_nonalloc, s_nonalloc) = (nonalloc(bfd), nonalloc(spacer));
    let b_na: Vec<&str> = b_nonalloc.keys().copied().collect();
    let s_na: Vec<&str> = s_nonalloc.keys().copied().collect();
    if b_na != s_na {
        diffs.push(format!(
            "non-allocated sections: bfd {b_na:?}, spacer {s_na:?}"
        ));
    }
    for (name, addr) in &s_nonalloc {
        if *addr != 0 {
            diffs.push(format!(
                "non-allocated section {name}: spacer gives it address {addr:#x}, not 0"
            ));
        }
    }

    // Program headers.
    diffs.extend(segment_differences(bfd, spacer));

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
