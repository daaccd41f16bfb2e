//! Partial links (`-r`): a C/C++ program (`testdata/partial/`: exceptions, templates and inline
//! functions in COMDAT groups, TLS, a COMMON symbol, static constructors with and without
//! priority, an archive) is cut into groups that spacer links with `-r`, then final-linked.
//!
//! - `partial_links_run_like_the_original`: the groups are made in two ways, `spacer ld -r`
//!   (COMMON symbols stay common) and `gcc -nostdlib -Wl,-r -Wl,-d` running spacer followed by
//!   objcopy `--localize-symbol` / `--keep-global-symbols` as Unikraft does; each result is
//!   final-linked (`g++ -static`) once by spacer and once by ld.bfd.  All four programs must
//!   print what the program ld.bfd links from the original objects prints (which must be
//!   `testdata/partial/expected.stdout`).  So must the program linked from one `spacer ld -r`
//!   of main's object and the two `ld -r` groups.
//! - `partial_output_accepted_by_binutils`: `readelf -a` and `objcopy` read every partial
//!   output without a warning.
//! - `partial_comdat_groups_deduplicated`: the inline function and the personality reference
//!   that two objects both define end up once in the output, in one group; the group
//!   signatures are those of `ld.bfd -r` on the same inputs.
//! - `partial_eh_frame_survives`: `.eh_frame` and its relocations are in the output.
//! - `partial_symbols_match_gnu_ld`: the global symbols of the output (name and nm class) are
//!   those of `ld.bfd -r` on the same inputs, with and without `-d`.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

fn partial_dir() -> PathBuf {
    testdata_dir().join("partial")
}

fn tools_available() -> bool {
    require_tool("gcc", "gcc")
        && require_tool("g++", "g++")
        && require_tool("ld.bfd", "binutils")
        && require_tool("readelf", "binutils")
        && require_tool("objcopy", "binutils")
        && require_tool("nm", "binutils")
}

/// The compiled inputs.
struct Inputs {
    app: PathBuf,
    shapes: PathBuf,
    thrower: PathBuf,
    cfuncs: PathBuf,
    /// libutil.a: util1.o (COMMON shared_common, util_a), util2.o (util_b), util3.o (unused).
    libutil: PathBuf,
}

fn inputs() -> &'static Inputs {
    static INPUTS: OnceLock<Inputs> = OnceLock::new();
    INPUTS.get_or_init(|| {
        let dir = partial_dir();
        let cxx: Vec<String> = vec!["-O2".into()];
        let c: Vec<String> = vec!["-O2".into(), "-fcommon".into()];
        let utils: Vec<PathBuf> = ["util1.c", "util2.c", "util3.c"]
            .iter()
            .map(|s| compile(Driver::Gcc, &dir.join(s), &c))
            .collect();
        Inputs {
            app: compile(Driver::Gxx, &dir.join("app.cpp"), &cxx),
            shapes: compile(Driver::Gxx, &dir.join("shapes.cpp"), &cxx),
            thrower: compile(Driver::Gxx, &dir.join("thrower.cpp"), &cxx),
            cfuncs: compile(Driver::Gcc, &dir.join("cfuncs.c"), &c),
            libutil: archive("partial-libutil", &utils),
        }
    })
}

fn spacer_r(args: &[&Path], extra: &[&str], out: &Path) -> RunResult {
    let mut cmd = Command::new(spacer_exe());
    cmd.arg("ld")
        .arg("-r")
        .args(extra)
        .args(args)
        .arg("-o")
        .arg(out);
    must_run(&mut cmd, LINK_TIMEOUT, "spacer ld -r")
}

fn bfd_r(args: &[&Path], extra: &[&str], out: &Path) -> RunResult {
    let mut cmd = Command::new("ld.bfd");
    cmd.arg("-r").args(extra).args(args).arg("-o").arg(out);
    must_run(&mut cmd, LINK_TIMEOUT, "ld.bfd -r")
}

/// `gcc -nostdlib -no-pie -B <spacer>/ -Wl,-r -Wl,-d inputs -o out`, as Unikraft links each
/// library.
fn gcc_r(args: &[&Path], out: &Path) -> RunResult {
    let mut b = linker_dir().as_os_str().to_os_string();
    b.push("/");
    let mut cmd = Command::new("gcc");
    cmd.args([
        "-nostdlib",
        "-no-pie",
        "-Wl,-r",
        "-Wl,-d",
        "-Wl,--build-id=none",
    ])
    .arg("-B")
    .arg(b)
    .args(args)
    .arg("-o")
    .arg(out);
    must_run(&mut cmd, LINK_TIMEOUT, "gcc -Wl,-r -Wl,-d (running spacer)")
}

/// The partial outputs, made once.
struct Partials {
    dir: Scratch,
    /// (variant name, C++ group, C group)
    variants: Vec<(&'static str, PathBuf, PathBuf)>,
    /// The whole program, main and archive included, in one `spacer ld -r` output.
    whole: PathBuf,
}

fn partials() -> &'static Partials {
    static P: OnceLock<Partials> = OnceLock::new();
    P.get_or_init(|| {
        let i = inputs();
        let dir = scratch_dir("partial", "groups");
        // 1. spacer ld -r: COMMON symbols stay common.
        let a = dir.join("cxx-r.o");
        let b = dir.join("c-r.o");
        spacer_r(&[&i.shapes, &i.thrower], &[], &a);
        spacer_r(&[&i.cfuncs, &i.libutil], &[], &b);
        // 2. gcc -Wl,-r -Wl,-d (spacer), then objcopy like Unikraft.
        let ga = dir.join("cxx-gcc-r-d.o");
        let gb = dir.join("c-gcc-r-d.o");
        gcc_r(&[&i.shapes, &i.thrower], &ga);
        gcc_r(&[&i.cfuncs, &i.libutil], &gb);
        let ga2 = dir.join("cxx-gcc-r-d-localized.o");
        let gb2 = dir.join("c-gcc-r-d-exports.o");
        must_run(
            Command::new("objcopy")
                .arg("--localize-symbol=_Z13shapes_helperi")
                .arg(&ga)
                .arg(&ga2),
            LINK_TIMEOUT,
            "objcopy --localize-symbol",
        );
        let mut keep = std::ffi::OsString::from("--keep-global-symbols=");
        keep.push(partial_dir().join("cfuncs.exports"));
        must_run(
            Command::new("objcopy").arg(keep).arg(&gb).arg(&gb2),
            LINK_TIMEOUT,
            "objcopy --keep-global-symbols",
        );
        // 3. Everything in one partial link, itself made of the two partial links of 1.
        let whole = dir.join("whole-r.o");
        spacer_r(&[&i.app, &a, &b], &[], &whole);
        Partials {
            variants: vec![("ld -r", a, b), ("gcc -Wl,-r -Wl,-d + objcopy", ga2, gb2)],
            whole,
            dir,
        }
    })
}

/// The stdout of the program ld.bfd links from the original objects.
fn reference_stdout() -> &'static Vec<u8> {
    static R: OnceLock<Vec<u8>> = OnceLock::new();
    R.get_or_init(|| {
        let i = inputs();
        let dir = scratch_dir("partial", "reference");
        let exe = dir.join("reference");
        let objs = vec![
            i.app.clone(),
            i.shapes.clone(),
            i.thrower.clone(),
            i.cfuncs.clone(),
            i.libutil.clone(),
        ];
        let l = link(Driver::Gxx, Linker::Bfd, &objs, &[], &exe);
        assert!(
            l.ok(),
            "the reference link failed, so the test is broken\n{}",
            l.report(Linker::Bfd)
        );
        let r = run_program(&exe, &[], &dir);
        let expected = std::fs::read(partial_dir().join("expected.stdout")).unwrap();
        assert!(
            r.success() && r.stdout == expected,
            "the reference program ({}) does not print testdata/partial/expected.stdout, so the \
             test or the toolchain is broken\n{}\n--- stdout:\n{}\n--- stderr:\n{}",
            r.describe(),
            first_difference("reference", &r.stdout, "expected", &expected),
            excerpt(&r.stdout, 4000),
            excerpt(&r.stderr, 4000)
        );
        r.stdout
    })
}

#[test]
fn partial_links_run_like_the_original() {
    if !tools_available() {
        return;
    }
    let expected = reference_stdout();
    let p = partials();
    let app = &inputs().app;
    let mut failures = Vec::new();
    let mut programs: Vec<(&str, Vec<PathBuf>)> = p
        .variants
        .iter()
        .map(|(v, cxx, c)| (*v, vec![app.clone(), cxx.clone(), c.clone()]))
        .collect();
    programs.push((
        "one ld -r of app.o and the ld -r groups",
        vec![p.whole.clone()],
    ));
    for (vi, (variant, objs)) in programs.iter().enumerate() {
        for linker in [Linker::Spacer, Linker::Bfd] {
            let exe = p.dir.join(format!("prog-{vi}.{}", linker.name()));
            let l = link(Driver::Gxx, linker, objs, &[], &exe);
            if !l.ok() {
                failures.push(format!(
                    "[{variant}, final link by {}] the final link failed\n{}",
                    linker.name(),
                    l.report(linker)
                ));
                continue;
            }
            let r = run_program(&exe, &[], &p.dir);
            if !r.success() || &r.stdout != expected {
                failures.push(format!(
                    "[{variant}, final link by {}] the program ({}) differs from the original\n{}\n$ {}\n--- stdout:\n{}\n--- stderr:\n{}",
                    linker.name(),
                    r.describe(),
                    first_difference("program", &r.stdout, "original", expected),
                    l.command,
                    excerpt(&r.stdout, 3000),
                    excerpt(&r.stderr, 2000)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} programs built from partial links fail:\n\n{}",
        failures.len(),
        programs.len() * 2,
        failures.join("\n\n")
    );
}

#[test]
fn partial_output_accepted_by_binutils() {
    if !tools_available() {
        return;
    }
    let p = partials();
    let mut problems = Vec::new();
    let mut objs: Vec<(&str, &PathBuf)> = Vec::new();
    for (variant, cxx, c) in &p.variants {
        objs.push((variant, cxx));
        objs.push((variant, c));
    }
    objs.push(("whole program", &p.whole));
    for (variant, obj) in objs {
        {
            let name = obj.file_name().unwrap().to_string_lossy().into_owned();
            let r = run_with_timeout(Command::new("readelf").arg("-aW").arg(obj), LINK_TIMEOUT);
            if !r.success() || !r.stderr.is_empty() {
                problems.push(format!(
                    "[{variant}] readelf -aW {name} ({}): {}",
                    r.describe(),
                    excerpt(&r.stderr, 2000)
                ));
            }
            let copy = p.dir.join(format!("{name}.objcopy"));
            let r = run_with_timeout(Command::new("objcopy").arg(obj).arg(&copy), LINK_TIMEOUT);
            if !r.success() || !r.stderr.is_empty() {
                problems.push(format!(
                    "[{variant}] objcopy {name} ({}): {}",
                    r.describe(),
                    excerpt(&r.stderr, 2000)
                ));
            }
            let r = run_with_timeout(
                Command::new("objcopy")
                    .arg("--strip-debug")
                    .arg(obj)
                    .arg(&copy),
                LINK_TIMEOUT,
            );
            if !r.success() || !r.stderr.is_empty() {
                problems.push(format!(
                    "[{variant}] objcopy --strip-debug {name} ({}): {}",
                    r.describe(),
                    excerpt(&r.stderr, 2000)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "binutils complain about spacer's partial links (in {}):\n{}",
        p.dir.display(),
        problems.join("\n")
    );
}

/// COMDAT group signatures (`readelf --section-groups`) of an object, in order, with the
/// sections of each group.
fn groups(obj: &Path) -> Vec<(String, Vec<String>)> {
    let r = must_run(
        Command::new("readelf")
            .arg("--section-groups")
            .arg("-W")
            .arg(obj),
        LINK_TIMEOUT,
        "readelf --section-groups",
    );
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in r.stdout_str().lines() {
        let t = line.trim();
        if t.starts_with("COMDAT group section") {
            // "COMDAT group section [    1] `.group' [_ZN8RegistryD5Ev] contains 2 sections:"
            let sig = t
                .rsplit_once(" contains")
                .and_then(|(head, _)| head.rsplit_once('['))
                .map(|(_, s)| s.trim_end_matches(']').to_string())
                .unwrap_or_else(|| t.to_string());
            out.push((sig, Vec::new()));
        } else if let (Some(last), Some(rest)) = (out.last_mut(), t.strip_prefix('[')) {
            if let Some((idx, name)) = rest.split_once(']') {
                if idx.trim().parse::<u32>().is_ok() {
                    last.1.push(name.trim().to_string());
                }
            }
        }
    }
    out
}

/// Names of the sections of an object, as `readelf -SW` lists them.
fn section_names(obj: &Path) -> Vec<String> {
    let r = must_run(
        Command::new("readelf").arg("-SW").arg(obj),
        LINK_TIMEOUT,
        "readelf -SW",
    );
    r.stdout_str()
        .lines()
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix('[')?;
            let (idx, rest) = rest.split_once(']')?;
            idx.trim().parse::<u32>().ok()?;
            Some(rest.split_whitespace().next()?.to_string())
        })
        .collect()
}

#[test]
fn partial_comdat_groups_deduplicated() {
    if !tools_available() {
        return;
    }
    let i = inputs();
    let p = partials();
    let bfd_out = p.dir.join("cxx-bfd-r.o");
    bfd_r(&[&i.shapes, &i.thrower], &[], &bfd_out);
    let expected: BTreeSet<String> = groups(&bfd_out).into_iter().map(|g| g.0).collect();
    // The inputs really share these groups, or the test proves nothing.
    for sig in ["_Z13shared_inlinei", "DW.ref.__gxx_personality_v0"] {
        for obj in [&i.shapes, &i.thrower] {
            assert!(
                groups(obj).iter().any(|g| g.0 == sig),
                "{} has no group {sig}: the test program is not what the test expects",
                obj.display()
            );
        }
    }
    let mut problems = Vec::new();
    for (variant, cxx, _) in &p.variants {
        let gs = groups(cxx);
        let mut seen = BTreeSet::new();
        for (sig, members) in &gs {
            if !seen.insert(sig.clone()) {
                problems.push(format!("[{variant}] group {sig} appears more than once"));
            }
            if members.is_empty() {
                problems.push(format!("[{variant}] group {sig} has no sections"));
            }
        }
        if seen != expected {
            problems.push(format!(
                "[{variant}] group signatures differ from ld.bfd -r's:\n    only in spacer's: {:?}\n    only in ld.bfd's: {:?}",
                seen.difference(&expected).collect::<Vec<_>>(),
                expected.difference(&seen).collect::<Vec<_>>()
            ));
        }
        let names = section_names(cxx);
        for sec in [
            ".text._Z13shared_inlinei",
            ".data.rel.local.DW.ref.__gxx_personality_v0",
        ] {
            let n = names.iter().filter(|s| *s == sec).count();
            if n != 1 {
                problems.push(format!("[{variant}] {n} sections named {sec}, not 1"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "COMDAT groups in spacer's partial links (compare `readelf --section-groups -W` of {} and the outputs in {}):\n{}",
        bfd_out.display(),
        p.dir.display(),
        problems.join("\n")
    );
}

#[test]
fn partial_eh_frame_survives() {
    if !tools_available() {
        return;
    }
    let p = partials();
    let mut problems = Vec::new();
    for (variant, cxx, _) in &p.variants {
        let r = must_run(
            Command::new("readelf").arg("-SW").arg(cxx),
            LINK_TIMEOUT,
            "readelf -SW",
        );
        let out = r.stdout_str();
        let eh = out
            .lines()
            .find(|l| l.contains(" .eh_frame ") && l.contains("PROGBITS"));
        match eh {
            None => problems.push(format!("[{variant}] no .eh_frame section")),
            Some(l) => {
                // [Nr] Name Type Address Off Size ...: the size is the sixth field after ']'.
                let size = l
                    .split_once(']')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(4))
                    .and_then(|s| u64::from_str_radix(s, 16).ok())
                    .unwrap_or(0);
                if size < 0x40 {
                    problems.push(format!("[{variant}] .eh_frame is only {size:#x} bytes"));
                }
            }
        }
        if !out.contains(".rela.eh_frame") {
            problems.push(format!("[{variant}] no .rela.eh_frame section"));
        }
        // Every function of the input has an FDE in the output.
        let fdes = must_run(
            Command::new("readelf").arg("--debug-dump=frames").arg(cxx),
            LINK_TIMEOUT,
            "readelf --debug-dump=frames",
        )
        .stdout_str()
        .matches(" FDE ")
        .count();
        let i = inputs();
        let mut input_fdes = 0;
        for obj in [&i.shapes, &i.thrower] {
            input_fdes += must_run(
                Command::new("readelf").arg("--debug-dump=frames").arg(obj),
                LINK_TIMEOUT,
                "readelf --debug-dump=frames",
            )
            .stdout_str()
            .matches(" FDE ")
            .count();
        }
        // COMDAT duplicates go, so the output may have fewer FDEs than the inputs together,
        // but not fewer than half.
        if fdes * 2 < input_fdes || fdes == 0 {
            problems.push(format!(
                "[{variant}] {fdes} FDEs in .eh_frame, the inputs have {input_fdes}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "unwind information in spacer's partial links ({}):\n{}",
        p.dir.display(),
        problems.join("\n")
    );
}

/// Global and weak symbols, and undefined ones, as `class name` (values are the linker's
/// business).
fn global_symbols(obj: &Path) -> BTreeSet<String> {
    let r = must_run(Command::new("nm").arg("-g").arg(obj), LINK_TIMEOUT, "nm -g");
    r.stdout_str()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.len() {
                3 => Some(format!("{} {}", f[1], f[2])),
                2 => Some(format!("{} {}", f[0], f[1])),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn partial_symbols_match_gnu_ld() {
    if !tools_available() {
        return;
    }
    let i = inputs();
    let dir = scratch_dir("partial", "symbols");
    let mut problems = Vec::new();
    let cases: Vec<(&str, Vec<&Path>, Vec<&str>)> = vec![
        ("C++ group", vec![&i.shapes, &i.thrower], vec![]),
        ("C group with archive", vec![&i.cfuncs, &i.libutil], vec![]),
        (
            "C group with archive, -d",
            vec![&i.cfuncs, &i.libutil],
            vec!["-d"],
        ),
    ];
    for (n, (what, objs, flags)) in cases.iter().enumerate() {
        let s = dir.join(format!("{n}.spacer.o"));
        let b = dir.join(format!("{n}.bfd.o"));
        spacer_r(objs, flags, &s);
        bfd_r(objs, flags, &b);
        let (ss, bs) = (global_symbols(&s), global_symbols(&b));
        if ss != bs {
            let mut msg = format!("[{what}] global symbols differ from ld.bfd -r's:");
            for x in ss.difference(&bs) {
                let _ = write!(msg, "\n    only spacer: {x}");
            }
            for x in bs.difference(&ss) {
                let _ = write!(msg, "\n    only ld.bfd: {x}");
            }
            problems.push(msg);
        }
    }
    assert!(
        problems.is_empty(),
        "symbols of spacer's partial links (outputs in {}):\n{}",
        dir.display(),
        problems.join("\n")
    );
}
