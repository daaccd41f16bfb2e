//! Version-stable layout (`-Wl,--layout,FILE`, docs/stable-layout.md) on the test unikernel of
//! `testdata/unikernel/`, built Unikraft-style by its build.sh: every library is one partially
//! linked `lib*.o`, and each `lib*.o` is a library of the layout file.
//!
//! `unikernel_update_keeps_layout`:
//! 1. kernel A: the unikernel linked by spacer with `-Wl,--layout,L` (L fresh); it must boot
//!    under QEMU with the same serial output as the ld.bfd-linked kernel.
//! 2. kernel B: the same with one function of one library changed (`kvprintf` in libukdebug,
//!    compiled with `-DUKDEBUG_PRINT_RUNS`: longer code, the same output), linked with the same
//!    L; it must boot with the same serial output too.
//! 3. A and B again with plain spacer (no `--layout`) and with ld.bfd.
//! 4. `spacer share --json` on the `kernel.dbg` files: how many of B's executable (and all) pages
//!    exist in A, for spacer --layout, plain spacer and ld.bfd.  spacer --layout must share
//!    strictly more executable pages than ld.bfd, and B must keep A's layout: every function of
//!    the unchanged libraries, and every function of libukdebug other than `kvprintf` (which
//!    lie behind `kvprintf` in A, so a fresh layout would move them), at A's address.
//!
//! Needs gcc, binutils and `qemu-system-x86_64` (without qemu the test is skipped with a
//! message, unless `CI` is set, where it fails).  Products stay in
//! `target/spacer-tests/unikernel_layout/run/` (`{layout,plain,bfd}-{a,b}/` with build.log,
//! kernel.dbg, kernel.elf32 and serial.txt; `kernel.layout`).
//!
//! Run with `cargo test --release --test unikernel_layout -- --nocapture` to see the numbers.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use common::share::{share, ImageShare};
use common::unikernel::{boot_in, build_command, log_tail, qemu_available, EXIT_SUCCESS};
use common::*;

/// The libraries, as build.sh links them.
const LIBS: &[&str] = &[
    "libplat",
    "libnolibc",
    "libukdebug",
    "libctors",
    "libukboot",
    "app",
];
/// The library that changes between A and B, how, and the function that changes.
const CHANGED_LIB: &str = "libukdebug";
const CHANGE_CFLAGS: &str = "-DUKDEBUG_PRINT_RUNS";
const CHANGED_FUNCTION: &str = "kvprintf";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// spacer with `-Wl,--layout,<file>`.
    Layout,
    /// spacer without `--layout`.
    Plain,
    /// GNU ld (ld.bfd).
    Bfd,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Layout => "layout",
            Kind::Plain => "plain",
            Kind::Bfd => "bfd",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Layout => "spacer --layout",
            Kind::Plain => "spacer",
            Kind::Bfd => "ld.bfd",
        }
    }
}

struct Kernel {
    what: String,
    dir: PathBuf,
}

impl Kernel {
    fn dbg(&self) -> PathBuf {
        self.dir.join("kernel.dbg")
    }
}

/// Builds the unikernel with build.sh into `<root>/<kind>-<a|b>/`; `changed` selects the
/// second version of libukdebug.  Panics with the end of the build log on failure.
fn build(root: &Path, kind: Kind, changed: bool, layout: &Path) -> Kernel {
    build_with(root, kind, changed, layout, "")
}

/// `build`, with `cflags` added to the changed library's compiler flags in both versions.
fn build_with(root: &Path, kind: Kind, changed: bool, layout: &Path, cflags: &str) -> Kernel {
    let what = format!(
        "kernel {} ({})",
        if changed { "B" } else { "A" },
        kind.describe()
    );
    let dir = root.join(format!(
        "{}-{}",
        kind.name(),
        if changed { "b" } else { "a" }
    ));
    let mut cmd = build_command(kind != Kind::Bfd, &dir);
    let extra = if changed {
        format!("{cflags} {CHANGE_CFLAGS}")
    } else {
        cflags.to_string()
    };
    cmd.env(format!("EXTRA_CFLAGS_{CHANGED_LIB}"), extra.trim());
    match kind {
        Kind::Layout => cmd.env(
            "EXTRA_LDFLAGS",
            format!("-Wl,--layout,{}", layout.display()),
        ),
        _ => cmd.env_remove("EXTRA_LDFLAGS"),
    };
    let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
    let log = format!("{}{}", r.stdout_str(), r.stderr_str());
    if dir.is_dir() {
        let _ = fs::write(dir.join("build.log"), &log);
    }
    eprintln!(
        "unikernel_layout: build of {what}: {} in {:.2?}",
        if r.success() { "ok" } else { "FAILED" },
        r.elapsed
    );
    if !r.success() {
        panic!(
            "building {what} failed ({}); the end of the build log (all of it is in {}):\n{}",
            r.describe(),
            dir.join("build.log").display(),
            log_tail(&log, 12)
        );
    }
    Kernel { what, dir }
}

/// Boots `kernel.elf32` under QEMU; returns the serial output and how QEMU ended.
fn boot(k: &Kernel) -> RunResult {
    boot_in(&k.dir, &format!("unikernel_layout: boot of {}", k.what))
}

/// Boots `k`, which must exit successfully and print exactly `reference`'s serial output.
fn check_boot(k: &Kernel, reference: &[u8]) -> Result<(), String> {
    let r = boot(k);
    if r.code() == Some(EXIT_SUCCESS) && r.stdout == reference {
        return Ok(());
    }
    Err(format!(
        "{} ({}) did not boot like the ld.bfd-linked kernel: qemu {} (want exit status \
         {EXIT_SUCCESS})\n{}\n--- serial output:\n{}--- qemu stderr:\n{}",
        k.what,
        k.dir.display(),
        r.describe(),
        first_difference("this kernel", &r.stdout, "ld.bfd's", reference),
        excerpt(&r.stdout, 4000),
        r.stderr_str()
    ))
}

/// Defined symbols of an ELF file: name -> (nm type letter, sorted addresses).
fn symbols(path: &Path) -> BTreeMap<String, (char, Vec<u64>)> {
    let mut out: BTreeMap<String, (char, Vec<u64>)> = BTreeMap::new();
    for line in tool(&["nm", "--defined-only", path.to_str().unwrap()]).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [addr, kind, name] = f.as_slice() {
            let addr = u64::from_str_radix(addr, 16).unwrap();
            let e = out
                .entry(name.to_string())
                .or_insert((kind.chars().next().unwrap(), Vec::new()));
            e.1.push(addr);
        }
    }
    for (_, addrs) in out.values_mut() {
        addrs.sort_unstable();
    }
    out
}

/// The functions a library defines (nm types T and t of its `lib*.o`).
fn functions_of(dir: &Path, lib: &str) -> Vec<String> {
    symbols(&dir.join(format!("{lib}.o")))
        .into_iter()
        .filter(|(_, (kind, _))| matches!(kind, 'T' | 't'))
        .map(|(name, _)| name)
        .collect()
}

/// The address of a function that the kernel defines once.
fn address(syms: &BTreeMap<String, (char, Vec<u64>)>, name: &str) -> Option<u64> {
    match syms.get(name) {
        Some((_, a)) if a.len() == 1 => Some(a[0]),
        _ => None,
    }
}

/// `spacer share --json a b`: how many of b's pages exist in a.
fn share_of_b_in_a(a: &Path, b: &Path) -> ImageShare {
    share(&[a, b])[1]
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[test]
fn unikernel_update_keeps_layout() {
    for (t, p) in [
        ("gcc", "gcc"),
        ("nm", "binutils"),
        ("objcopy", "binutils"),
        ("strip", "binutils"),
    ] {
        if !require_tool(t, p) {
            return;
        }
    }
    if !qemu_available() {
        return;
    }
    let root = scratch_dir("unikernel_layout", "run");
    let layout = root.join("kernel.layout");

    // Build everything at once; only B with --layout waits, for the file A's link writes.
    let (lay_a, lay_b, plain_a, plain_b, bfd_a, bfd_b) = std::thread::scope(|s| {
        let lay = s.spawn(|| {
            let a = build(&root, Kind::Layout, false, &layout);
            let after_a = fs::read_to_string(&layout).unwrap_or_else(|e| {
                panic!(
                    "the link of kernel A did not write the layout file {}: {e}",
                    layout.display()
                )
            });
            let _ = fs::write(root.join("kernel.layout.after-a"), &after_a);
            let b = build(&root, Kind::Layout, true, &layout);
            (a, b)
        });
        let plain_a = s.spawn(|| build(&root, Kind::Plain, false, &layout));
        let plain_b = s.spawn(|| build(&root, Kind::Plain, true, &layout));
        let bfd_b = s.spawn(|| build(&root, Kind::Bfd, true, &layout));
        let bfd_a = build(&root, Kind::Bfd, false, &layout);
        let join = |h: std::thread::ScopedJoinHandle<'_, Kernel>| match h.join() {
            Ok(k) => k,
            Err(e) => std::panic::resume_unwind(e),
        };
        let (lay_a, lay_b) = match lay.join() {
            Ok(k) => k,
            Err(e) => std::panic::resume_unwind(e),
        };
        (
            lay_a,
            lay_b,
            join(plain_a),
            join(plain_b),
            bfd_a,
            join(bfd_b),
        )
    });

    // The reference: ld.bfd's kernel A boots, and B (the changed library) prints the same.
    let reference = boot(&bfd_a);
    assert!(
        reference.code() == Some(EXIT_SUCCESS)
            && reference.stdout_str().contains("Hello world!")
            && reference.stdout_str().contains("boot: exit status 0"),
        "the ld.bfd-linked kernel A (the reference) did not boot ({}); kernels in {}\n--- \
         serial output:\n{}--- qemu stderr:\n{}",
        reference.describe(),
        bfd_a.dir.display(),
        reference.stdout_str(),
        reference.stderr_str()
    );
    if let Err(e) = check_boot(&bfd_b, &reference.stdout) {
        panic!("test premise: the changed {CHANGED_LIB} must not change the output\n{e}");
    }

    // Both kernels linked with the layout file boot like ld.bfd's.
    let boots: Vec<String> = std::thread::scope(|s| {
        let b = s.spawn(|| check_boot(&lay_b, &reference.stdout));
        let a = check_boot(&lay_a, &reference.stdout);
        [a, b.join().unwrap()]
            .into_iter()
            .filter_map(Result::err)
            .collect()
    });

    // Sharing: B's pages found in A.
    let kinds = [
        (Kind::Layout, &lay_a, &lay_b),
        (Kind::Plain, &plain_a, &plain_b),
        (Kind::Bfd, &bfd_a, &bfd_b),
    ];
    let shares: Vec<ImageShare> = kinds
        .iter()
        .map(|(_, a, b)| share_of_b_in_a(&a.dbg(), &b.dbg()))
        .collect();

    // Addresses: which functions kept their place from A to B.
    let lib_functions: Vec<(&str, Vec<String>)> = LIBS
        .iter()
        .map(|lib| (*lib, functions_of(&lay_a.dir, lib)))
        .collect();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "unikernel, {CHANGED_FUNCTION} of {CHANGED_LIB} changed ({CHANGE_CFLAGS}); pages of \
         kernel B found in kernel A (kernel.dbg):"
    );
    let mut moved_with_layout = Vec::new();
    let mut layout_sizes = (0u64, 0u64);
    for ((kind, a, b), sh) in kinds.iter().zip(&shares) {
        let (sa, sb) = (symbols(&a.dbg()), symbols(&b.dbg()));
        let mut kept = 0;
        let mut total = 0;
        let mut moved = Vec::new();
        for (lib, funcs) in &lib_functions {
            for f in funcs {
                if *lib == CHANGED_LIB && f == CHANGED_FUNCTION {
                    continue;
                }
                let (Some(x), Some(y)) = (address(&sa, f), address(&sb, f)) else {
                    continue;
                };
                total += 1;
                if x == y {
                    kept += 1;
                } else {
                    moved.push(format!("{lib}: {f} {x:#x} -> {y:#x}"));
                }
            }
        }
        let changed = match (
            address(&sa, CHANGED_FUNCTION),
            address(&sb, CHANGED_FUNCTION),
        ) {
            (Some(x), Some(y)) if x == y => format!("{x:#x}, kept"),
            (Some(x), Some(y)) => format!("{x:#x} -> {y:#x}"),
            _ => "not found".to_string(),
        };
        let _ = writeln!(
            report,
            "  {:<16} exec {:<16} total {:<16} other functions at A's address {kept}/{total}, \
             {CHANGED_FUNCTION} {changed}",
            kind.describe(),
            sh.exec.to_string(),
            sh.total.to_string(),
        );
        if *kind == Kind::Layout {
            moved_with_layout = moved;
            layout_sizes = (
                fs::metadata(a.dbg()).unwrap().len(),
                fs::metadata(b.dbg()).unwrap().len(),
            );
        }
    }
    let _ = writeln!(
        report,
        "  kernel.dbg sizes with --layout: A {} B {} bytes; layout file {}",
        layout_sizes.0,
        layout_sizes.1,
        layout.display()
    );
    println!("{report}");

    let mut problems = boots;
    let (lay, bfd) = (&shares[0], &shares[2]);
    if lay.exec.ratio() <= bfd.exec.ratio() {
        problems.push(format!(
            "spacer --layout shares {} of kernel B's executable pages with kernel A, no more \
             than ld.bfd's {}",
            lay.exec, bfd.exec
        ));
    }
    if !moved_with_layout.is_empty() {
        problems.push(format!(
            "with the layout file, functions other than {CHANGED_FUNCTION} moved between A and \
             B (the layout file was not read, or not followed):\n    {}",
            moved_with_layout.join("\n    ")
        ));
    }
    // Test premise of the check above: a function of the changed library that follows the
    // changed one in A would move in a link that ignored the layout file.
    let sa = symbols(&lay_a.dbg());
    let behind = lib_functions
        .iter()
        .find(|(l, _)| *l == CHANGED_LIB)
        .map(|(_, fs)| {
            fs.iter()
                .filter(|f| {
                    matches!(
                        (address(&sa, f), address(&sa, CHANGED_FUNCTION)),
                        (Some(x), Some(c)) if x > c
                    )
                })
                .count()
        })
        .unwrap_or(0);
    assert!(
        behind > 0,
        "test premise: no function of {CHANGED_LIB} lies behind {CHANGED_FUNCTION} in kernel A"
    );
    if !problems.is_empty() {
        panic!(
            "{}\n{report}\nkernels and the layout file in {}",
            problems.join("\n"),
            root.display()
        );
    }
}

/// The jump target of a `jmp rel32` at `addr` in `elf`, if there is one.
fn jump_at(elf: &Path, addr: u64) -> Option<u64> {
    let out = tool(&[
        "objdump",
        "-d",
        &format!("--start-address={addr:#x}"),
        &format!("--stop-address={:#x}", addr + 5),
        elf.to_str().unwrap(),
    ]);
    let line = out.lines().find(|l| l.contains("\tjmp "))?;
    let target = line.split("jmp").nth(1)?.split_whitespace().next()?;
    u64::from_str_radix(target, 16).ok()
}

/// The same update with libukdebug compiled as Unikraft compiles by default, without
/// -ffunction-sections: all of the library's code is one input section, so kvprintf's longer
/// code moves the functions behind it. With the layout file the section moves and leaves a
/// jump at every function's old address: both kernels boot like ld.bfd's, every function of
/// libukdebug that moved has a jump to its new address at its old one, and B shares more of
/// its code pages with A than ld.bfd's B does.
#[test]
fn unikernel_update_without_function_sections() {
    for (t, p) in [("gcc", "gcc"), ("nm", "binutils"), ("objdump", "binutils")] {
        if !require_tool(t, p) {
            return;
        }
    }
    if !qemu_available() {
        return;
    }
    let root = scratch_dir("unikernel_layout", "no-function-sections");
    let layout = root.join("kernel.layout");
    let flags = "-fno-function-sections -fno-data-sections";
    let bfd_a = build_with(&root, Kind::Bfd, false, &layout, flags);
    let bfd_b = build_with(&root, Kind::Bfd, true, &layout, flags);
    let lay_a = build_with(&root, Kind::Layout, false, &layout, flags);
    let lay_b = build_with(&root, Kind::Layout, true, &layout, flags);
    let reference = boot(&bfd_a);
    assert!(
        reference.code() == Some(EXIT_SUCCESS) && reference.stdout_str().contains("Hello world!"),
        "the ld.bfd-linked kernel A (the reference) did not boot ({})\n{}",
        reference.describe(),
        reference.stdout_str()
    );
    for k in [&bfd_b, &lay_a, &lay_b] {
        if let Err(e) = check_boot(k, &reference.stdout) {
            panic!("{e}");
        }
    }

    let (sa, sb) = (symbols(&lay_a.dbg()), symbols(&lay_b.dbg()));
    let mut moved = 0;
    let mut wrong = Vec::new();
    for f in functions_of(&lay_a.dir, CHANGED_LIB) {
        let (Some(a), Some(b)) = (address(&sa, &f), address(&sb, &f)) else {
            continue;
        };
        if a == b {
            continue;
        }
        moved += 1;
        match jump_at(&lay_b.dbg(), a) {
            Some(t) if t == b => {}
            other => wrong.push(format!(
                "  {f}: at its old address {a:#x} {} (it is now at {b:#x})",
                match other {
                    Some(t) => format!("a jump to {t:#x}"),
                    None => "no jump".to_string(),
                }
            )),
        }
    }
    let s = share_of_b_in_a(&lay_a.dbg(), &lay_b.dbg()).exec;
    let f = share_of_b_in_a(&bfd_a.dbg(), &bfd_b.dbg()).exec;
    println!(
        "unikernel without -ffunction-sections in {CHANGED_LIB}, {CHANGED_FUNCTION} changed: \
         executable pages of B found in A: spacer --layout {s}, ld.bfd {f}; {moved} functions \
         of {CHANGED_LIB} moved, each with a jump at its old address"
    );
    assert!(
        moved > 0,
        "test premise: no function of {CHANGED_LIB} moved, so nothing was tested"
    );
    assert!(
        wrong.is_empty(),
        "functions of {CHANGED_LIB} moved without a jump at their old address:\n{}\nkernels in {}",
        wrong.join("\n"),
        root.display()
    );
    assert!(
        s.ratio() > f.ratio(),
        "spacer --layout shares {s} of B's code pages with A, no more than ld.bfd's {f}"
    );
}
