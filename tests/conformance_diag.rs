//! GNU ld conformance of spacer's diagnostics and related options, each compared with what
//! ld.bfd does on the same input: demangled names in errors (`--demangle`, `--no-demangle`),
//! `--unresolved-symbols` / `--warn-unresolved-symbols` / `--noinhibit-exec`, `--trace` and
//! `--trace-symbol`, and the large code model's dynamic TLS sequences relaxed to local-exec.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn conformance(name: &str) -> PathBuf {
    testdata_dir().join("conformance").join(name)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Links `inputs` with ld.bfd and with spacer (through the compiler driver) into
/// `<dir>/<name>.bfd` and `<dir>/<name>.spacer`.
fn link_both(
    driver: Driver,
    inputs: &[PathBuf],
    ldflags: &[String],
    dir: &Path,
    name: &str,
) -> (LinkResult, LinkResult) {
    let bfd = link(
        driver,
        Linker::Bfd,
        inputs,
        ldflags,
        &dir.join(format!("{name}.bfd")),
    );
    let spacer = link(
        driver,
        Linker::Spacer,
        inputs,
        ldflags,
        &dir.join(format!("{name}.spacer")),
    );
    (bfd, spacer)
}

/// `-Wl,` in front of each linker option.
fn wl(opts: &[&str]) -> Vec<String> {
    opts.iter().map(|o| format!("-Wl,{o}")).collect()
}

/// The names GNU ld quotes after `what` on each line of `stderr`: "... what `NAME' ...".
fn quoted_after(stderr: &str, what: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find(what)? + what.len()..];
            let rest = rest.strip_prefix(" `")?;
            let end = rest.find("';").or_else(|| rest.rfind('\''))?;
            Some(rest[..end].to_string())
        })
        .collect()
}

/// Both links must have failed, and spacer must not have left an output file.
fn assert_both_failed(what: &str, bfd: &LinkResult, spacer: &LinkResult) {
    assert!(
        !bfd.ok(),
        "{what}: ld.bfd accepted the link, so the fixture is broken\n{}",
        bfd.report(Linker::Bfd)
    );
    assert!(
        !spacer.result.success() && !spacer.output.exists(),
        "{what}: spacer must fail and write no output\n{}",
        spacer.report(Linker::Spacer)
    );
}

/// The styles the demangling tests try, as linker options (none: the default).
const DEMANGLE_STYLES: &[&[&str]] = &[
    &[],
    &["--demangle"],
    &["--demangle=auto"],
    &["--demangle=gnu-v3"],
    &["--demangle=rust"],
    &["--no-demangle"],
    &["--no-demangle", "--demangle"],
];

/// For each style, ld.bfd's message names the symbol as `shown`; spacer's must name it the
/// same way, followed by the mangled name when the two differ. The mangled names come from
/// ld.bfd's `--no-demangle` link, in the same order.
fn check_demangled_errors(case: &str, driver: Driver, inputs: &[PathBuf], what: &str) {
    let dir = scratch_dir("conformance", case);
    let (bfd, _) = link_both(driver, inputs, &wl(&["--no-demangle"]), &dir, "mangled");
    let mangled = quoted_after(&bfd.result.stderr_str(), what);
    assert!(
        mangled.iter().any(|m| m.starts_with("_Z")) && mangled.iter().any(|m| m.starts_with("_R")),
        "{case}: ld.bfd should name C++ and Rust v0 symbols after `{what}`\n{}",
        bfd.report(Linker::Bfd)
    );
    let mut demangled_somewhere = false;
    for style in DEMANGLE_STYLES {
        let (bfd, spacer) = link_both(driver, inputs, &wl(style), &dir, "styled");
        let context = format!("{case} with {style:?}");
        assert_both_failed(&context, &bfd, &spacer);
        let shown = quoted_after(&bfd.result.stderr_str(), what);
        assert_eq!(
            shown.len(),
            mangled.len(),
            "{context}: ld.bfd's messages changed"
        );
        let stderr = spacer.result.stderr_str();
        for (d, m) in shown.iter().zip(&mangled) {
            demangled_somewhere |= d != m;
            let want = if d == m {
                format!("`{m}'")
            } else {
                format!("`{d}' ({m})")
            };
            assert!(
                stderr
                    .lines()
                    .any(|l| l.contains("error") && l.contains(what) && l.contains(&want)),
                "{context}: spacer's errors do not name {want} after `{what}` as ld.bfd's \
                 `{d}'\n{}\n\n{}",
                spacer.report(Linker::Spacer),
                bfd.report(Linker::Bfd)
            );
        }
    }
    assert!(demangled_somewhere, "{case}: ld.bfd demangled nothing");
}

#[test]
fn undefined_references_name_demangled_symbols() {
    if !require_tool("g++", "g++") {
        return;
    }
    let inputs = vec![
        compile(
            Driver::Gxx,
            &conformance("demangle_undefined.cc"),
            &strings(&["-O1"]),
        ),
        compile(
            Driver::Gcc,
            &conformance("demangle_rust.c"),
            &strings(&["-O1"]),
        ),
    ];
    check_demangled_errors(
        "demangle_undefined",
        Driver::Gxx,
        &inputs,
        "undefined reference to",
    );
}

#[test]
fn duplicate_definitions_name_demangled_symbols() {
    if !require_tool("g++", "g++") {
        return;
    }
    let src = conformance("demangle_duplicate.cc");
    let inputs = vec![
        compile(Driver::Gxx, &src, &strings(&["-O1", "-DWITH_MAIN"])),
        compile(Driver::Gxx, &src, &strings(&["-O1"])),
    ];
    check_demangled_errors(
        "demangle_duplicate",
        Driver::Gxx,
        &inputs,
        "multiple definition of",
    );
}

/// GNU ld's java, gnat and dlang styles are refused by name; an unknown style is refused by
/// both linkers. Either way: exit 1 and no output file.
#[test]
fn unsupported_demangling_styles_are_refused() {
    let dir = scratch_dir("conformance", "demangle_styles");
    let obj = compile(
        Driver::Gcc,
        &conformance("demangle_rust.c"),
        &strings(&["-O1"]),
    );
    for style in ["java", "gnat", "dlang", "no-such-style"] {
        let out = dir.join(format!("{style}.out"));
        let opt = format!("--demangle={style}");
        let mut cmd = Command::new(spacer_exe());
        cmd.arg("ld").arg(&opt).arg("-o").arg(&out).arg(&obj);
        let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
        let stderr = r.stderr_str();
        assert!(
            r.code() == Some(1)
                && !out.exists()
                && stderr
                    .lines()
                    .any(|l| l.contains("error") && l.contains(&format!("'{style}'"))),
            "spacer {opt}: expected exit 1, an error naming the style and no output\n$ {}\n{}\n{stderr}",
            display_command(&cmd),
            r.describe()
        );
        if style == "no-such-style" {
            let r = run_with_timeout(
                Command::new("ld.bfd")
                    .arg(&opt)
                    .arg("-o")
                    .arg(dir.join("bfd.out"))
                    .arg(&obj),
                LINK_TIMEOUT,
            );
            assert!(!r.success(), "ld.bfd accepted {opt}");
        }
    }
}

/// How a linker's messages treat one undefined symbol.
#[derive(Debug, PartialEq, Eq)]
enum Reported {
    Not,
    Warning,
    Error,
}

fn reported(stderr: &str, sym: &str) -> Reported {
    let quoted = format!("undefined reference to `{sym}'");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(&quoted)).collect();
    if lines.is_empty() {
        Reported::Not
    } else if lines.iter().all(|l| l.contains("warning")) {
        Reported::Warning
    } else {
        Reported::Error
    }
}

/// Each combination of the options is given to both linkers: the same links must succeed,
/// the same symbols be reported in the same way, and the programs (where there are some)
/// must run alike, the undefined symbols resolving to 0, also when the call to one is taken.
#[test]
fn unresolved_symbols_options_behave_like_gnu_ld() {
    let obj = compile(
        Driver::Gcc,
        &conformance("unresolved.c"),
        &strings(&["-O2"]),
    );
    let dir = scratch_dir("conformance", "unresolved_symbols");
    let cases: &[&[&str]] = &[
        &[],
        &["--unresolved-symbols=ignore-all"],
        &["--unresolved-symbols=ignore-in-object-files"],
        &["--unresolved-symbols=report-all"],
        &["--unresolved-symbols=ignore-in-shared-libs"],
        &["--warn-unresolved-symbols"],
        &["--warn-unresolved-symbols", "--error-unresolved-symbols"],
        &[
            "--unresolved-symbols=ignore-all",
            "--error-unresolved-symbols",
        ],
        &[
            "--warn-unresolved-symbols",
            "--unresolved-symbols=report-all",
        ],
        &["--warn-unresolved-symbols", "--fatal-warnings"],
        &["--noinhibit-exec"],
        &[
            "--noinhibit-exec",
            "--warn-unresolved-symbols",
            "--fatal-warnings",
        ],
    ];
    let mut ran = 0;
    for (i, opts) in cases.iter().enumerate() {
        let (bfd, spacer) = link_both(
            Driver::Gcc,
            std::slice::from_ref(&obj),
            &wl(opts),
            &dir,
            &format!("case{i}"),
        );
        let context = format!(
            "options {opts:?}\n\n{}\n\n{}",
            spacer.report(Linker::Spacer),
            bfd.report(Linker::Bfd)
        );
        assert_eq!(spacer.ok(), bfd.ok(), "link outcome differs, {context}");
        assert_eq!(
            spacer.output.exists(),
            bfd.output.exists(),
            "output file left or missing, {context}"
        );
        for sym in ["missing_function", "missing_variable", "missing_array"] {
            assert_eq!(
                reported(&spacer.result.stderr_str(), sym),
                reported(&bfd.result.stderr_str(), sym),
                "`{sym}' is reported differently (spacer left, ld.bfd right), {context}"
            );
        }
        if !bfd.output.exists() {
            continue;
        }
        for args in [vec![], strings(&["1", "2", "3", "4", "5"])] {
            let want = run_program(&bfd.output, &args, &dir);
            let got = run_program(&spacer.output, &args, &dir);
            assert!(
                got.status == want.status && got.stdout == want.stdout,
                "with args {args:?} the programs differ: spacer {} / ld.bfd {}\n{}\n{context}",
                got.describe(),
                want.describe(),
                first_difference("spacer", &got.stdout, "ld.bfd", &want.stdout)
            );
            ran += 1;
        }
    }
    assert!(
        ran >= 8,
        "too few of the cases produced programs ({ran} runs)"
    );
}

/// In a static PIE an undefined symbol let through cannot be 0 for PC-relative references:
/// ld.bfd refuses the link, and spacer must too, naming the symbol, not write wrong addresses.
/// With `--noinhibit-exec` both report the errors and write the output all the same.
#[test]
fn unresolved_symbols_in_static_pie_are_refused() {
    let obj = compile(
        Driver::Gcc,
        &conformance("unresolved.c"),
        &strings(&["-O2", "-fPIE"]),
    );
    let dir = scratch_dir("conformance", "unresolved_pie");
    let cases = [
        "--unresolved-symbols=ignore-all",
        "--warn-unresolved-symbols",
        "--noinhibit-exec",
    ];
    for (i, opt) in cases.iter().enumerate() {
        let noinhibit = *opt == "--noinhibit-exec";
        let mut flags = wl(&[opt]);
        flags.push("-static-pie".into());
        let (bfd, spacer) = link_both(
            Driver::Gcc,
            std::slice::from_ref(&obj),
            &flags,
            &dir,
            &format!("case{i}"),
        );
        if noinhibit {
            assert!(
                bfd.ok() && spacer.ok(),
                "-static-pie with {opt}: both must write the output\n{}\n\n{}",
                spacer.report(Linker::Spacer),
                bfd.report(Linker::Bfd)
            );
        } else {
            assert_both_failed(&format!("-static-pie with {opt}"), &bfd, &spacer);
        }
        assert!(
            spacer
                .result
                .stderr_str()
                .lines()
                .any(|l| l.contains("error") && l.contains("`missing_variable'")),
            "-static-pie with {opt}: no error names missing_variable\n{}",
            spacer.report(Linker::Spacer)
        );
    }
}

/// `-t` lists what GNU ld loads in the order it loads it: every object, each archive each
/// time it is searched (a group's archives as many times as the group is), an input script
/// and then its contents; `-t -t` adds each archive member taken, as `(archive)member`.
#[test]
fn trace_lists_inputs_like_gnu_ld() {
    let programs = [
        (Driver::Gcc, "trace_main.c", strings(&["-O2", "-fcommon"])),
        (Driver::Gxx, "trace_main.cc", strings(&["-O2"])),
    ];
    let dir = scratch_dir("conformance", "trace");
    for (driver, src, cflags) in programs {
        if !require_tool(driver.program(), driver.package()) {
            continue;
        }
        let obj = compile(driver, &conformance(src), &cflags);
        for opts in [&["-t"][..], &["--trace"], &["-t", "-t"], &["--trace", "-t"]] {
            let (bfd, spacer) = link_both(
                driver,
                std::slice::from_ref(&obj),
                &wl(opts),
                &dir,
                "traced",
            );
            let context = format!(
                "{src} with {opts:?}\n\n{}\n\n{}",
                spacer.report(Linker::Spacer),
                bfd.report(Linker::Bfd)
            );
            assert!(bfd.ok() && spacer.ok(), "a link failed: {context}");
            let want = &bfd.result.stdout;
            assert!(
                String::from_utf8_lossy(want).contains("libc.a"),
                "ld.bfd's trace does not name libc.a: {context}"
            );
            assert!(
                spacer.result.stdout == *want,
                "the traces differ\n{}\n{context}",
                first_difference("spacer", &spacer.result.stdout, "ld.bfd", want)
            );
        }
    }
}

/// The `file: reference to SYM` / `file: definition of SYM` lines of a link's standard error,
/// without the linker's name in front.
fn symbol_trace(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains(": reference to ") || l.contains(": definition of "))
        .filter_map(|l| l.split_once(": ").map(|(_, rest)| rest.to_string()))
        .collect()
}

/// `-y SYM` names, in load order, each file that refers to or defines SYM: weak references,
/// commons, archive members, COMDAT copies, symbols the linker itself defines.
#[test]
fn trace_symbol_reports_like_gnu_ld() {
    let programs: [(Driver, &str, Vec<String>, &[&str]); 2] = [
        (
            Driver::Gcc,
            "trace_main.c",
            strings(&["-O2", "-fcommon"]),
            &[
                "main",
                "printf",
                "malloc",
                "errno",
                "abort",
                "__libc_start_main",
                "_end",
                "__ehdr_start",
                "trace_weak_thing",
                "trace_common_thing",
            ],
        ),
        (
            Driver::Gxx,
            "trace_main.cc",
            strings(&["-O2"]),
            &[
                "_ZSt4cout",
                "sqrt",
                "__cxa_atexit",
                "_ZNKSt5ctypeIcE13_M_widen_initEv",
            ],
        ),
    ];
    let dir = scratch_dir("conformance", "trace_symbol");
    for (driver, src, cflags, syms) in programs {
        if !require_tool(driver.program(), driver.package()) {
            continue;
        }
        let obj = compile(driver, &conformance(src), &cflags);
        // Both spellings of the option.
        let opts: Vec<String> = syms
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i % 2 == 0 {
                    format!("-Wl,-y,{s}")
                } else {
                    format!("-Wl,--trace-symbol={s}")
                }
            })
            .collect();
        let (bfd, spacer) = link_both(driver, &[obj], &opts, &dir, "traced");
        let context = format!(
            "{src}\n\n{}\n\n{}",
            spacer.report(Linker::Spacer),
            bfd.report(Linker::Bfd)
        );
        assert!(bfd.ok() && spacer.ok(), "a link failed: {context}");
        let want = symbol_trace(&bfd.result.stderr_str());
        assert!(
            want.len() > syms.len(),
            "ld.bfd traced too little: {context}"
        );
        let got = symbol_trace(&spacer.result.stderr_str());
        assert!(
            got == want,
            "the symbol traces differ\n{}\n{context}",
            first_difference(
                "spacer",
                got.join("\n").as_bytes(),
                "ld.bfd",
                want.join("\n").as_bytes()
            )
        );
    }
}

/// Thread-local variables (static, global and extern; initialised and zero) accessed by
/// `-mcmodel=large -fPIC` code with a dynamic TLS model: the `__tls_get_addr` calls are
/// relaxed to local-exec, in static and static-pie executables that run like ld.bfd's.
#[test]
fn large_model_dynamic_tls_is_relaxed_like_gnu_ld() {
    for model in ["local-dynamic", "global-dynamic"] {
        for pie in [false, true] {
            let name = format!("tls_large_{model}{}", if pie { "_pie" } else { "" });
            let mut p = Program::new(&name, Driver::Gcc, &[])
                .source_path(conformance("tls_large_main.c"))
                .source_path(conformance("tls_large_lib.c"))
                .only_cflags(&[
                    "-O2",
                    "-g",
                    "-mcmodel=large",
                    "-fPIC",
                    "-pthread",
                    &format!("-ftls-model={model}"),
                ])
                .ldflags(&["-pthread"]);
            if pie {
                p = p.ldflags(&["-static-pie"]);
            }
            // The program checks its own values (exit 1 on a wrong one).
            p.expected_file = None;
            let relocs: String = p
                .build_inputs()
                .iter()
                .map(|o| tool(&["objdump", "-dr", &o.to_string_lossy()]))
                .collect();
            let wanted: &[&str] = if model == "local-dynamic" {
                &["R_X86_64_TLSLD"]
            } else {
                &["R_X86_64_TLSLD", "R_X86_64_TLSGD"]
            };
            for w in wanted.iter().chain(&["R_X86_64_PLTOFF64\t__tls_get_addr"]) {
                assert!(relocs.contains(w), "{name}: the objects have no {w}");
            }
            let Some(outcome) = p.check() else { return };
            assert!(
                outcome.stdout.ends_with(b"ok\n"),
                "{name}: {}",
                String::from_utf8_lossy(&outcome.stdout)
            );
        }
    }
}

/// A `__tls_get_addr` call sequence spacer does not know is an error naming the file, the
/// section and the offset, never a silently wrong rewrite.
#[test]
fn unknown_tls_sequences_are_errors() {
    let dir = scratch_dir("conformance", "tls_bad");
    for src in ["tls_bad_ld.s", "tls_bad_gd.s"] {
        let obj_name = src.replace(".s", ".o");
        let obj = dir.join(&obj_name);
        compile_to(Driver::Gcc, &conformance(src), &[], &obj);
        let bfd = run_with_timeout(
            Command::new("ld.bfd")
                .arg("-static")
                .arg("-o")
                .arg(dir.join("bfd.out"))
                .arg(&obj),
            LINK_TIMEOUT,
        );
        assert!(
            !bfd.success(),
            "ld.bfd accepted {src}: the fixture is broken"
        );
        let out = dir.join("spacer.out");
        let mut cmd = Command::new(spacer_exe());
        cmd.arg("ld").arg("-static").arg("-o").arg(&out).arg(&obj);
        let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
        let stderr = r.stderr_str();
        assert!(
            r.code() == Some(1)
                && !out.exists()
                && stderr.lines().any(|l| {
                    l.contains("error")
                        && l.contains(&obj_name)
                        && l.contains("(.text+0x3)")
                        && l.contains("TLS")
                }),
            "{src}: expected exit 1, an error naming {obj_name}, .text+0x3 and TLS, and no \
             output\n$ {}\n{}\n{stderr}",
            display_command(&cmd),
            r.describe()
        );
    }
}
