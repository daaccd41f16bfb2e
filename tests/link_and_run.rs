//! Links real C and C++ programs with spacer (through `gcc -B`, as collect2's `ld`) and with
//! GNU ld (ld.bfd), runs both executables and requires the same standard output and exit status.
//! The ld.bfd-linked program must also print what `testdata/expected/<name>.stdout` says, so a
//! broken test program or toolchain is told apart from a linker bug.
//!
//! Run with `cargo test --release` (or `scripts/test.sh`).  Needs gcc, g++, binutils and
//! musl-tools; the zstd and Lua sources come from crates.io on the first run (see
//! `common/corpus.rs`).  Environment:
//! - `CI=true`: a missing tool (musl-gcc) fails the tests instead of skipping them.
//! - `SPACER_BLESS=1`: write `testdata/expected/<name>.stdout` from the ld.bfd-linked program's
//!   output (for a new test program; review the file before committing it).
//!
//! Objects, executables and scratch files are kept under `target/spacer-tests/`; on a failure
//! the message names the directory holding both executables.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

// ---------------------------------------------------------------------------------------------
// C programs (glibc)
// ---------------------------------------------------------------------------------------------

#[test]
fn c_stdio() {
    Program::c("c_stdio", &["c_stdio.c"])
        .ldflags(&["-lm"])
        .check();
}

/// An image names the linker that made it in `.comment` (as lld and mold do), beside the
/// compiler's entry, also with --gc-sections; ld.bfd's image has no such entry, and a `-r`
/// object carries spacer's too.
#[test]
fn image_names_its_linker() {
    let Some(out) = Program::c("named_linker", &["c_stdio.c"])
        .ldflags(&["-lm", "-Wl,--gc-sections"])
        .expect_stdout_of("c_stdio")
        .check()
    else {
        return;
    };
    let comment = |path: &Path| tool(&["readelf", "-p", ".comment", path.to_str().unwrap()]);
    let ours = comment(&out.spacer_exe);
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        ours.contains(&format!("Linker: spacer {version}")),
        "{ours}"
    );
    assert!(
        ours.contains("GCC: "),
        "the compiler's entry is kept:\n{ours}"
    );
    assert_eq!(ours.matches("Linker: spacer").count(), 1, "{ours}");
    let theirs = comment(&out.reference_exe);
    assert!(!theirs.contains("spacer"), "{theirs}");
    let obj = out.dir.join("named.o");
    let src = programs_dir().join("c_stdio.c");
    tool(&[
        "gcc",
        "-c",
        "-o",
        obj.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    let partial = out.dir.join("partial.o");
    let mut cmd = Command::new(spacer_exe());
    cmd.args(["ld", "-r", "-o"]).arg(&partial).arg(&obj);
    must_run(&mut cmd, LINK_TIMEOUT, "spacer ld -r");
    assert!(comment(&partial).contains("Linker: spacer"));
}

/// Linking onto an existing output replaces it: the relinked program runs and nothing is left
/// beside it, whether spacer took over the old file's pages (a file of its own with one name,
/// no program running from it) or wrote a new one and removed the old one afterwards in its own
/// (detached) process. The same with `--no-fork`, which links in one process.
#[test]
fn relink_replaces_previous_output() {
    let Some(out) = Program::c("relink", &["c_stdio.c"])
        .ldflags(&["-lm"])
        .expect_stdout_of("c_stdio")
        .check()
    else {
        return;
    };
    let obj = compile(Driver::Gcc, &programs_dir().join("c_stdio.c"), &[]);
    for extra in [None, Some("-Wl,--no-fork")] {
        // Waits for standard output and error to close, so for the detached process too.
        let mut args = vec![obj.as_os_str(), "-lm".as_ref()];
        args.extend(extra.map(std::ffi::OsStr::new));
        relink_with_spacer(&args, &out.spacer_exe);
        let run = run_program(&out.spacer_exe, &[], &out.dir);
        assert_eq!(
            run.stdout, out.stdout,
            "{extra:?}: the relinked program differs"
        );
        assert_nothing_left(&out.dir, &format!("{extra:?}"));
    }
}

/// `gcc -static -B <spacer> ARGS... -o OUT`, run to its end. Unlike `common::link`, which
/// removes the output first, it leaves whatever is at `out`: these tests link over it.
fn relink_with_spacer(args: &[&std::ffi::OsStr], out: &Path) {
    let mut cmd = Command::new("gcc");
    cmd.arg("-static")
        .arg(format!("-B{}/", linker_dir().display()))
        .args(args)
        .arg("-o")
        .arg(out);
    must_run(&mut cmd, LINK_TIMEOUT, "link with spacer");
}

fn assert_nothing_left(dir: &Path, what: &str) {
    let left: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".spacer-old.") || n.contains(".spacer-tmp."))
        .collect();
    assert!(left.is_empty(), "{what}: left behind: {left:?}");
}

/// An image written over an existing file is bit for bit the image written to a new file: the
/// old file's bytes (here a larger file of 0xAA bytes) leave no trace in gaps, padding, the
/// holes of a `--layout` image or linker-made sections; with debug information and page
/// digests. A shorter old file grows to the image's size.
#[test]
fn relink_over_old_bytes_is_identical() {
    let scratch = scratch_dir("link_and_run", "relink_over_old_bytes");
    let obj = compile(
        Driver::Gcc,
        &programs_dir().join("c_stdio.c"),
        &["-g".into()],
    );
    let layout = scratch.join("app.layout");
    let _ = fs::remove_file(&layout);
    let layout_flag = format!("-Wl,--layout,{},--page-digests", layout.display());
    let link_to = |out: &Path| {
        let args = [obj.as_os_str(), "-lm".as_ref(), layout_flag.as_ref()];
        relink_with_spacer(&args, out);
        fs::read(out).unwrap()
    };
    let fresh_path = scratch.join("fresh");
    let _ = fs::remove_file(&fresh_path);
    let fresh = link_to(&fresh_path);
    for (name, old_len) in [("over-larger", fresh.len() * 2), ("over-shorter", 4096)] {
        let out = scratch.join(name);
        fs::write(&out, vec![0xaa; old_len]).unwrap();
        let image = link_to(&out);
        assert!(
            image == fresh,
            "{name}: differs from the image linked to a new file: {}",
            first_difference(name, &image, "fresh", &fresh)
        );
        let run = run_program(&out, &[], &scratch);
        let want = run_program(&fresh_path, &[], &scratch);
        assert!(
            run.success() && run.stdout == want.stdout,
            "{name}: {}",
            run.stdout_str()
        );
    }
    assert_nothing_left(&scratch, "relink over old bytes");
}

/// What must not be written over: another name of the output (a hard link keeps the old
/// image, as with GNU ld, which creates a new file) and a program still running from the old
/// image (it goes on undisturbed while the new image takes the name).
#[test]
fn relink_spares_hard_links_and_running_programs() {
    let scratch = scratch_dir("link_and_run", "relink_spares");
    let src = scratch.join("waiter.c");
    fs::write(
        &src,
        "#include <stdio.h>\n#include <unistd.h>\n#ifndef WORD\n#define WORD \"old\"\n#endif\n\
         int main(void) { char c; read(0, &c, 1); puts(WORD); return 0; }\n",
    )
    .unwrap();
    let link_word = |out: &Path, word: &str| {
        let define = format!("-DWORD=\"{word}\"");
        relink_with_spacer(&[define.as_ref(), src.as_os_str()], out);
    };
    let run_word = |exe: &Path| {
        let r = run_with_timeout(
            Command::new(exe).stdin(std::process::Stdio::null()),
            RUN_TIMEOUT,
        );
        r.stdout_str().trim().to_string()
    };

    // A second name keeps the old image.
    let out = scratch.join("linked");
    let other = scratch.join("other-name");
    let _ = fs::remove_file(&out);
    let _ = fs::remove_file(&other);
    link_word(&out, "old");
    fs::hard_link(&out, &other).unwrap();
    link_word(&out, "new");
    assert_eq!(run_word(&out), "new");
    assert_eq!(run_word(&other), "old", "the hard link was written over");

    // A running program keeps running from the old image.
    let running = scratch.join("running");
    let _ = fs::remove_file(&running);
    link_word(&running, "old");
    let mut child = Command::new(&running)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    link_word(&running, "new");
    assert_eq!(run_word(&running), "new");
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"x").unwrap();
    }
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "the running program failed: {done:?}"
    );
    assert_eq!(String::from_utf8_lossy(&done.stdout).trim(), "old");
    assert_nothing_left(&scratch, "relink spares");
}

/// The same program compiled as position-dependent code (the default here is -fPIE).
#[test]
fn c_stdio_no_pie() {
    Program::c("c_stdio_no_pie", &["c_stdio.c"])
        .cflags(&["-fno-pie"])
        .ldflags(&["-no-pie", "-lm"])
        .expect_stdout_of("c_stdio")
        .check();
}

/// Unoptimised code with no debug information: different relocation mix from -O2 -g.
#[test]
fn c_stdio_o0() {
    Program::c("c_stdio_o0", &["c_stdio.c"])
        .only_cflags(&["-O0"])
        .ldflags(&["-lm"])
        .expect_stdout_of("c_stdio")
        .check();
}

/// clang selects spacer by path: `clang -fuse-ld=/path/to/ld.spacer`.
#[test]
fn clang_c_stdio() {
    Program::clang("clang_c_stdio", &["c_stdio.c"])
        .ldflags(&["-lm"])
        .expect_stdout_of("c_stdio")
        .check();
}

#[test]
fn clang_c_tls() {
    Program::clang("clang_c_tls", &["tls_main.c", "tls_other.c"])
        .cflags(&["-pthread"])
        .ldflags(&["-pthread"])
        .expect_stdout_of("c_tls")
        .check();
}

#[test]
fn c_setjmp() {
    Program::c("c_setjmp", &["c_setjmp.c"])
        .expect_status(42)
        .check();
}

#[test]
fn c_ifunc() {
    Program::c("c_ifunc", &["c_ifunc.c"]).check();
}

#[test]
fn c_tls() {
    tls_program("c_tls", &[]).check();
}

fn tls_program(name: &str, cflags: &[&str]) -> Program {
    Program::c(name, &["tls_main.c", "tls_other.c"])
        .cflags(&["-pthread"])
        .cflags(cflags)
        .ldflags(&["-pthread"])
        .expect_stdout_of("c_tls")
}

// TLS code compiled as position-independent code uses the dynamic TLS models, which the linker
// must relax to local-exec (or initial-exec) for a static executable.

#[test]
fn c_tls_pic() {
    tls_program("c_tls_pic", &["-fPIC"]).check();
}

#[test]
fn c_tls_global_dynamic() {
    tls_program(
        "c_tls_global_dynamic",
        &["-fPIC", "-ftls-model=global-dynamic"],
    )
    .check();
}

/// The general-dynamic sequence as emitted at -O0, without any scheduling around it.
#[test]
fn c_tls_global_dynamic_o0() {
    tls_program("c_tls_global_dynamic_o0", &[])
        .only_cflags(&["-O0", "-pthread", "-fPIC", "-ftls-model=global-dynamic"])
        .check();
}

#[test]
fn c_tls_local_dynamic() {
    tls_program(
        "c_tls_local_dynamic",
        &["-fPIC", "-ftls-model=local-dynamic"],
    )
    .check();
}

/// TLS descriptors (R_X86_64_GOTPC32_TLSDESC / R_X86_64_TLSDESC_CALL).
#[test]
fn c_tls_gnu2_descriptors() {
    tls_program("c_tls_gnu2_descriptors", &["-fPIC", "-mtls-dialect=gnu2"]).check();
}

/// -fno-plt calls __tls_get_addr through the GOT (`call *__tls_get_addr@GOTPCREL(%rip)`), a
/// different general/local-dynamic sequence to relax.
#[test]
fn c_tls_no_plt() {
    tls_program("c_tls_no_plt", &["-fPIC", "-fno-plt"]).check();
}

#[test]
fn c_tls_initial_exec() {
    tls_program("c_tls_initial_exec", &["-fPIC", "-ftls-model=initial-exec"]).check();
}

#[test]
fn c_ctors() {
    Program::c("c_ctors", &["ctors.c"]).expect_status(3).check();
}

#[test]
fn c_gc_sections() {
    let outcome = Program::c("c_gc_sections", &["gc_sections.c"])
        .cflags(&["-ffunction-sections", "-fdata-sections"])
        .ldflags(&["-Wl,--gc-sections"])
        .check();
    let Some(outcome) = outcome else { return };
    // unused_table is 4 MiB: with it collected, the executable is far smaller than that.
    for exe in [&outcome.reference_exe, &outcome.spacer_exe] {
        let size = fs::metadata(exe).unwrap().len();
        assert!(
            size < 3 << 20,
            "{} is {size} bytes: the unused 4 MiB table was not garbage-collected",
            exe.display()
        );
    }
    let syms = symbol_names(&outcome.spacer_exe);
    if !syms.is_empty() {
        for gone in ["unused_function", "unused_table"] {
            assert!(
                !syms.iter().any(|s| s == gone),
                "`{gone}` is still in the symbol table of {} after --gc-sections",
                outcome.spacer_exe.display()
            );
        }
        assert!(
            syms.iter().any(|s| s == "main"),
            "`main` is missing from {}",
            outcome.spacer_exe.display()
        );
    }
}

/// The same program without --gc-sections keeps the table: a control for the test above.
#[test]
fn c_gc_sections_control() {
    let outcome = Program::c("c_gc_sections_control", &["gc_sections.c"])
        .cflags(&["-ffunction-sections", "-fdata-sections"])
        .expect_stdout_of("c_gc_sections")
        .check();
    if let Some(outcome) = outcome {
        let size = fs::metadata(&outcome.spacer_exe).unwrap().len();
        assert!(
            size > 4 << 20,
            "{} is only {size} bytes without --gc-sections",
            outcome.spacer_exe.display()
        );
    }
}

#[test]
fn c_weak_common() {
    Program::c(
        "c_weak_common",
        &["weak_common_main.c", "weak_common_other.c"],
    )
    .cflags(&["-fcommon"])
    .archive("weak_lib", &["weak_lib_a.c", "weak_lib_b.c"])
    .check();
}

#[test]
fn c_start_stop() {
    Program::c("c_start_stop", &["start_stop_main.c", "start_stop_other.c"]).check();
}

/// With --gc-sections, a reference to __start_plugins keeps every `plugins` input section.
#[test]
fn c_start_stop_gc_sections() {
    Program::c(
        "c_start_stop_gc_sections",
        &["start_stop_main.c", "start_stop_other.c"],
    )
    .cflags(&["-ffunction-sections", "-fdata-sections"])
    .ldflags(&["-Wl,--gc-sections"])
    .expect_stdout_of("c_start_stop")
    .check();
}

// ---------------------------------------------------------------------------------------------
// C++ programs (libstdc++, glibc)
// ---------------------------------------------------------------------------------------------

#[test]
fn cxx_exceptions() {
    Program::cxx(
        "cxx_exceptions",
        &["cxx_exceptions.cpp", "cxx_exceptions_other.cpp"],
    )
    .check();
}

#[test]
fn cxx_stl() {
    Program::cxx("cxx_stl", &["cxx_stl.cpp"]).check();
}

#[test]
fn cxx_init_priority() {
    Program::cxx(
        "cxx_init_priority",
        &["cxx_init_priority.cpp", "cxx_init_priority_other.cpp"],
    )
    .check();
}

#[test]
fn cxx_thread_local() {
    Program::cxx("cxx_thread_local", &["cxx_thread_local.cpp"])
        .cflags(&["-pthread"])
        .ldflags(&["-pthread"])
        .check();
}

#[test]
fn cxx_virtual_rtti() {
    Program::cxx("cxx_virtual_rtti", &["cxx_virtual_rtti.cpp"]).check();
}

/// C++ with --gc-sections: .eh_frame and .gcc_except_table entries of collected functions must
/// go too, and those of kept functions must still work.
#[test]
fn cxx_exceptions_gc_sections() {
    Program::cxx(
        "cxx_exceptions_gc_sections",
        &["cxx_exceptions.cpp", "cxx_exceptions_other.cpp"],
    )
    .cflags(&["-ffunction-sections", "-fdata-sections"])
    .ldflags(&["-Wl,--gc-sections"])
    .expect_stdout_of("cxx_exceptions")
    .check();
}

/// Unoptimised C++: many more COMDAT groups (inline functions and templates left out of line).
#[test]
fn cxx_exceptions_o0() {
    Program::cxx(
        "cxx_exceptions_o0",
        &["cxx_exceptions.cpp", "cxx_exceptions_other.cpp"],
    )
    .only_cflags(&["-O0", "-g"])
    .expect_stdout_of("cxx_exceptions")
    .check();
}

// ---------------------------------------------------------------------------------------------
// Static position-independent executables (-static-pie)
// ---------------------------------------------------------------------------------------------

#[test]
fn static_pie_c_stdio() {
    Program::c("static_pie_c_stdio", &["c_stdio.c"])
        .cflags(&["-fPIE"])
        .ldflags(&["-static-pie", "-lm"])
        .expect_stdout_of("c_stdio")
        .check();
}

#[test]
fn static_pie_c_ifunc() {
    Program::c("static_pie_c_ifunc", &["c_ifunc.c"])
        .cflags(&["-fPIE", "-DSKIP_POINTER_EQUALITY"])
        .ldflags(&["-static-pie"])
        .check();
}

#[test]
fn static_pie_c_tls() {
    tls_program("static_pie_c_tls", &["-fPIE"])
        .ldflags(&["-static-pie"])
        .check();
}

#[test]
fn static_pie_c_tls_descriptors() {
    tls_program(
        "static_pie_c_tls_descriptors",
        &["-fPIC", "-mtls-dialect=gnu2"],
    )
    .ldflags(&["-static-pie"])
    .check();
}

#[test]
fn static_pie_cxx_exceptions() {
    Program::cxx(
        "static_pie_cxx_exceptions",
        &["cxx_exceptions.cpp", "cxx_exceptions_other.cpp"],
    )
    .cflags(&["-fPIE"])
    .ldflags(&["-static-pie"])
    .expect_stdout_of("cxx_exceptions")
    .check();
}

// ---------------------------------------------------------------------------------------------
// musl
// ---------------------------------------------------------------------------------------------

#[test]
fn musl_c_stdio() {
    Program::musl("musl_c_stdio", &["c_stdio.c"])
        .ldflags(&["-lm"])
        .expect_stdout_of("c_stdio")
        .check();
}

#[test]
fn musl_c_tls() {
    Program::musl("musl_c_tls", &["tls_main.c", "tls_other.c"])
        .expect_stdout_of("c_tls")
        .check();
}

#[test]
fn musl_c_setjmp() {
    Program::musl("musl_c_setjmp", &["c_setjmp.c"])
        .expect_stdout_of("c_setjmp")
        .expect_status(42)
        .check();
}

#[test]
fn musl_c_ctors() {
    Program::musl("musl_c_ctors", &["ctors.c"])
        .expect_stdout_of("c_ctors")
        .expect_status(3)
        .check();
}

// ---------------------------------------------------------------------------------------------
// Real libraries: zstd and Lua
// ---------------------------------------------------------------------------------------------

#[test]
fn corpus_zstd_roundtrip() {
    zstd_program("corpus_zstd_roundtrip").check();
}

fn zstd_program(name: &str) -> Program {
    let zstd = corpus::zstd();
    Program::c(name, &[])
        .source_path(testdata_dir().join("corpus/zstd_roundtrip.c"))
        .only_cflags(&["-O2", &format!("-I{}", zstd.include.display())])
        .input(zstd.archive.clone())
        .ldflags(&["-pthread", "-lm"])
        .expect_stdout_of("corpus_zstd_roundtrip")
}

#[test]
fn corpus_lua() {
    lua_program("corpus_lua").check();
}

fn lua_program(name: &str) -> Program {
    let lua = corpus::lua();
    let script = testdata_dir().join("corpus/lua_test.lua");
    Program::c(name, &[])
        .source_path(testdata_dir().join("corpus/lua_host.c"))
        .only_cflags(&["-O2", &format!("-I{}", lua.include.display())])
        .input(lua.archive.clone())
        .ldflags(&["-lm"])
        .args(&[script.to_str().unwrap(), "first", "second"])
        .expect_stdout_of("corpus_lua")
}

/// The Lua interpreter linked with --gc-sections (the library was compiled without
/// -ffunction-sections: whole object sections are kept or dropped).
#[test]
fn corpus_lua_gc_sections() {
    lua_program("corpus_lua_gc_sections")
        .ldflags(&["-Wl,--gc-sections"])
        .expect_stdout_of("corpus_lua")
        .check();
}

/// A Lua script that fails: the error travels through longjmp out of the interpreter.
#[test]
fn corpus_lua_error_status() {
    let dir = scratch_dir("scripts", "corpus_lua_error_status");
    let script = dir.join("fail.lua");
    fs::write(
        &script,
        "print('before')\nlocal t = setmetatable({}, {__index = function() error('boom', 0) end})\nprint(t.x)\n",
    )
    .unwrap();
    let lua = corpus::lua();
    Program::c("corpus_lua_error_status", &[])
        .source_path(testdata_dir().join("corpus/lua_host.c"))
        .only_cflags(&["-O2", &format!("-I{}", lua.include.display())])
        .input(lua.archive.clone())
        .ldflags(&["-lm"])
        .args(&[script.to_str().unwrap()])
        .expect_stdout_of("corpus_lua_error_status")
        .expect_status(1)
        .check();
}

// ---------------------------------------------------------------------------------------------
// Other ways of running the linker
// ---------------------------------------------------------------------------------------------

/// Linking twice gives bit-identical executables.
#[test]
fn deterministic_output() {
    let programs = [
        Program::cxx(
            "deterministic_cxx",
            &["cxx_exceptions.cpp", "cxx_exceptions_other.cpp"],
        ),
        lua_program("deterministic_lua"),
    ];
    for program in programs {
        let inputs = program.build_inputs();
        let dir = scratch_dir("deterministic", &program.name);
        let first = link(
            program.driver,
            Linker::Spacer,
            &inputs,
            &program.ldflags,
            &dir.join("first"),
        );
        assert!(first.ok(), "{}", first.report(Linker::Spacer));
        let second = link(
            program.driver,
            Linker::Spacer,
            &inputs,
            &program.ldflags,
            &dir.join("second"),
        );
        assert!(second.ok(), "{}", second.report(Linker::Spacer));
        let a = fs::read(&first.output).unwrap();
        let b = fs::read(&second.output).unwrap();
        if a != b {
            let at = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            panic!(
                "`{}`: two links of the same inputs differ ({} vs {} bytes, first difference at \
                 file offset {at:#x}); outputs kept in {}\n$ {}",
                program.name,
                a.len(),
                b.len(),
                dir.display(),
                first.command
            );
        }
    }
}

/// The exact command line gcc's collect2 would run, given to `spacer ld ...` and to spacer
/// invoked as `ld.spacer`.
#[test]
fn direct_invocation_with_collect2_command_line() {
    let program = Program::c("direct_invocation", &["c_stdio.c"]).ldflags(&["-lm"]);
    let inputs = program.build_inputs();
    let dir = scratch_dir("run", "direct_invocation");
    let out = dir.join("a.out");

    // `gcc -###` prints the commands it would run without running them.
    let mut cmd = Command::new("gcc");
    cmd.arg("-###")
        .arg("-static")
        .args(&inputs)
        .args(&program.ldflags)
        .arg("-o")
        .arg(&out);
    let r = run_with_timeout(&mut cmd, COMPILE_TIMEOUT);
    assert!(r.success(), "gcc -### failed: {}", r.stderr_str());
    let stderr = r.stderr_str();
    let line = stderr
        .lines()
        .find(|l| l.trim_start().trim_start_matches('"').contains("collect2"))
        .unwrap_or_else(|| panic!("no collect2 command in the output of gcc -###:\n{stderr}"));
    let args = split_gcc_command_line(line);
    let ld_args = &args[1..];
    assert!(
        ld_args.iter().any(|a| a == "-static") && ld_args.iter().any(|a| a.ends_with("crt1.o")),
        "unexpected collect2 command line: {args:?}"
    );

    // The same arguments through ld.bfd, as the reference.
    let reference = dir.join("reference");
    let mut bfd_args: Vec<String> = ld_args.to_vec();
    replace_output(&mut bfd_args, &reference);
    let mut bfd = Command::new("ld.bfd");
    bfd.args(&bfd_args);
    must_run(&mut bfd, LINK_TIMEOUT, "ld.bfd with collect2's arguments");
    let expected = run_program(&reference, &[], &dir);
    assert_eq!(expected.code(), Some(0), "{}", expected.stdout_str());

    let variants: [(&str, PathBuf, Vec<String>); 2] = [
        ("spacer ld", spacer_exe(), vec!["ld".to_string()]),
        ("ld.spacer", linker_dir().join("ld.spacer"), vec![]),
    ];
    for (label, exe, prefix) in variants {
        let output = dir.join(label.replace(' ', "_"));
        let mut args = ld_args.to_vec();
        replace_output(&mut args, &output);
        let mut cmd = Command::new(&exe);
        cmd.args(&prefix).args(&args);
        let command = display_command(&cmd);
        let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
        assert!(
            r.success() && output.exists(),
            "`{label}` with collect2's command line failed ({}):\n$ {command}\n{}",
            r.describe(),
            excerpt(&r.stderr, 6000)
        );
        let actual = run_program(&output, &[], &dir);
        assert!(
            actual.status == expected.status && actual.stdout == expected.stdout,
            "`{label}`: the executable behaves differently from the ld.bfd one ({} vs {})\n{}\n$ {command}\n--- spacer:\n{}\n--- ld.bfd:\n{}",
            actual.describe(),
            expected.describe(),
            first_difference("spacer", &actual.stdout, "ld.bfd", &expected.stdout),
            excerpt(&actual.stdout, 4000),
            excerpt(&expected.stdout, 4000)
        );
    }
}

fn replace_output(args: &mut [String], out: &Path) {
    let i = args
        .iter()
        .position(|a| a == "-o")
        .expect("collect2 command line has -o");
    args[i + 1] = out.to_string_lossy().into_owned();
}

/// Symbol names in an executable's .symtab, by `nm` (empty if it has none).
fn symbol_names(exe: &Path) -> Vec<String> {
    let r = run_with_timeout(Command::new("nm").arg(exe), RUN_TIMEOUT);
    if !r.success() {
        return Vec::new();
    }
    r.stdout_str()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Version-stable layout (--layout): the same programs, static and static-pie, C and C++
// ---------------------------------------------------------------------------------------------

/// Links `p` with a fresh layout file, then again with the file the first link wrote; both
/// executables must behave like the ld.bfd-linked one, and their `.eh_frame` (in regions) must
/// read from record to record up to one terminator at its end (`eh_frame_walks_to_its_end`).
fn check_with_layout(p: Program) {
    let layout = tests_dir()
        .join("layout-files")
        .join(format!("{}.layout", p.name));
    fs::create_dir_all(layout.parent().unwrap()).unwrap();
    let _ = fs::remove_file(&layout);
    let flag = format!("-Wl,--layout,{}", layout.display());
    let p = p.spacer_ldflags(&[&flag]);
    if let Some(o) = p.check() {
        eh_frame_walks_to_its_end(&o.spacer_exe);
    }
    assert!(
        layout.is_file(),
        "no layout file written at {}",
        layout.display()
    );
    if let Some(o) = p.check() {
        eh_frame_walks_to_its_end(&o.spacer_exe);
    }
}

/// libgcc walks the `.eh_frame` of a static program from record to record (frames registered
/// by crtbeginT.o), and so do debuggers: the room between regions must hold records, and the
/// only zero-length record (the terminator) must come last. readelf reads every record.
fn eh_frame_walks_to_its_end(exe: &Path) {
    let out = Command::new("readelf")
        .args(["--wide", "--debug-dump=frames"])
        .arg(exe)
        .output()
        .expect("readelf runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !errors.to_lowercase().contains("warning"),
        "readelf cannot read the .eh_frame of {}:\n{errors}",
        exe.display()
    );
    // Only `.eh_frame`'s entries (readelf also dumps `.debug_frame`).
    let mut in_eh_frame = false;
    let entries: Vec<&str> = text
        .lines()
        .filter(|l| {
            if l.starts_with("Contents of the ") {
                in_eh_frame = l.starts_with("Contents of the .eh_frame section");
            }
            in_eh_frame
        })
        .filter(|l| {
            l.len() > 9 && l.as_bytes()[8] == b' ' && l[..8].bytes().all(|b| b.is_ascii_hexdigit())
        })
        .collect();
    let terminators: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("ZERO terminator"))
        .map(|(i, _)| i)
        .collect();
    assert!(
        entries.iter().any(|l| l.contains(" FDE ")),
        "readelf finds no FDE in {}",
        exe.display()
    );
    assert!(
        terminators.is_empty() || terminators == [entries.len() - 1],
        "the .eh_frame of {} has a zero-length record before its end (entries {:?} of {}): \
         a walk stops there",
        exe.display(),
        terminators,
        entries.len()
    );
}

#[test]
fn layout_c_stdio() {
    check_with_layout(
        Program::c("layout_c_stdio", &["c_stdio.c"])
            .ldflags(&["-static", "-lm"])
            .expect_stdout_of("c_stdio"),
    );
}

#[test]
fn layout_static_pie_c_stdio() {
    check_with_layout(
        Program::c("layout_static_pie_c_stdio", &["c_stdio.c"])
            .cflags(&["-fPIE"])
            .ldflags(&["-static-pie", "-lm"])
            .expect_stdout_of("c_stdio"),
    );
}

#[test]
fn layout_c_tls_and_ifunc() {
    check_with_layout(tls_program("layout_c_tls", &[]).ldflags(&["-static"]));
    check_with_layout(
        Program::c("layout_static_pie_c_ifunc", &["c_ifunc.c"])
            .cflags(&["-fPIE", "-DSKIP_POINTER_EQUALITY"])
            .ldflags(&["-static-pie"])
            .expect_stdout_of("static_pie_c_ifunc"),
    );
}

#[test]
fn layout_cxx_exceptions() {
    for (name, pie) in [
        ("layout_cxx_exceptions", false),
        ("layout_static_pie_cxx_exceptions", true),
    ] {
        let p = Program::cxx(name, &["cxx_exceptions.cpp", "cxx_exceptions_other.cpp"])
            .expect_stdout_of("cxx_exceptions");
        let p = if pie {
            p.cflags(&["-fPIE"]).ldflags(&["-static-pie"])
        } else {
            p.ldflags(&["-static"])
        };
        check_with_layout(p);
    }
}

/// musl's `libc.a` holds two members named `free.lo` (and `realloc.lo`, `clone.lo`): each must
/// keep its own place in the layout file, so that relinking the same inputs writes the same
/// image, reports nothing as moved and leaves the layout file untouched.
#[test]
fn layout_musl_relink_is_identical() {
    let program = || {
        Program::musl("layout_musl_c_stdio", &["c_stdio.c"])
            .ldflags(&["-lm"])
            .expect_stdout_of("c_stdio")
    };
    check_with_layout(program());
    let p = program();
    let Some(o) = p.check() else {
        return; // musl-gcc missing: reported by Program::check
    };
    let dir = o.spacer_exe.parent().unwrap().to_path_buf();
    let layout = dir.join("relink.layout");
    let _ = fs::remove_file(&layout);
    let flags = vec![
        "-lm".to_string(),
        format!("-Wl,--layout,{}", layout.display()),
    ];
    let inputs = p.build_inputs();
    let mut images = Vec::new();
    let mut layout_files = Vec::new();
    for i in 0..2 {
        let out = dir.join(format!("relink{i}"));
        let r = link(Driver::Musl, Linker::Spacer, &inputs, &flags, &out);
        assert!(r.ok(), "{}", r.report(Linker::Spacer));
        assert!(
            !r.result.stderr_str().contains("moved"),
            "relinking the same inputs moved something:\n{}",
            r.result.stderr_str()
        );
        images.push(fs::read(&out).unwrap());
        use std::os::unix::fs::MetadataExt;
        layout_files.push((
            fs::metadata(&layout).unwrap().ino(),
            fs::read(&layout).unwrap(),
        ));
    }
    // The second link changed nothing, so it left the layout file as it was (a new file would
    // have a new inode: the file is written to a temporary and renamed).
    assert!(
        layout_files[0] == layout_files[1],
        "the relink rewrote the layout file {} (inode {} -> {}, same bytes: {})",
        layout.display(),
        layout_files[0].0,
        layout_files[1].0,
        layout_files[0].1 == layout_files[1].1
    );
    assert!(
        images[0] == images[1],
        "two links of the same musl program with one layout file differ ({})",
        dir.display()
    );
}

#[test]
fn layout_cxx_thread_local() {
    check_with_layout(
        Program::cxx("layout_cxx_thread_local", &["cxx_thread_local.cpp"])
            .cflags(&["-pthread"])
            .ldflags(&["-static", "-pthread"])
            .expect_stdout_of("cxx_thread_local"),
    );
}
