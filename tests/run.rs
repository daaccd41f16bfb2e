//! `spacer run`: programs started through the page store behave exactly as when run directly
//! (output, exit status, arguments, environment, threads, exceptions), the store is filled once
//! and reused, and a corrupted store entry is refused, never mapped.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

fn build(name: &str, driver: Driver, srcs: &[&str], linker: Linker, dir: &Path) -> PathBuf {
    build_with(name, driver, srcs, linker, dir, &[])
}

/// `build` with extra link flags (e.g. `-static-pie`).
fn build_with(
    name: &str,
    driver: Driver,
    srcs: &[&str],
    linker: Linker,
    dir: &Path,
    extra: &[&str],
) -> PathBuf {
    let flags = ["-O2".to_string(), "-pthread".to_string()];
    let objs: Vec<PathBuf> = srcs
        .iter()
        .map(|s| compile(driver, &programs_dir().join(s), &flags))
        .collect();
    let out = dir.join(format!("{name}.{}", linker.name()));
    let r = link(
        driver,
        linker,
        &objs,
        &["-pthread", "-lm"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        &out,
    );
    assert!(r.ok(), "{}", r.report(linker));
    out
}

fn run_direct(exe: &Path, args: &[&str]) -> RunResult {
    run_with_timeout(Command::new(exe).args(args), TIMEOUT)
}

fn run_shared(exe: &Path, store: &Path, args: &[&str]) -> RunResult {
    let mut cmd = Command::new(spacer_exe());
    cmd.arg("run").arg("--store").arg(store).arg(exe).args(args);
    run_with_timeout(&mut cmd, TIMEOUT)
}

fn same(direct: &RunResult, shared: &RunResult, what: &str) {
    assert!(
        direct.status == shared.status && direct.stdout == shared.stdout,
        "{what}: `spacer run` behaves differently ({} vs {})\n--- direct:\n{}\n--- spacer run:\n{}\nstderr:\n{}",
        direct.describe(),
        shared.describe(),
        direct.stdout_str(),
        shared.stdout_str(),
        shared.stderr_str()
    );
}

#[test]
fn programs_run_through_the_page_store() {
    let dir = scratch_dir("run", "programs");
    let store = dir.join("store");
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (
            build("stdio", Driver::Gcc, &["c_stdio.c"], Linker::Spacer, &dir),
            vec![],
        ),
        (
            build("stdio", Driver::Gcc, &["c_stdio.c"], Linker::Bfd, &dir),
            vec![],
        ),
        (
            build(
                "cxx",
                Driver::Gxx,
                &["cxx_exceptions.cpp", "cxx_exceptions_other.cpp"],
                Linker::Spacer,
                &dir,
            ),
            vec![],
        ),
        (
            build(
                "tls",
                Driver::Gcc,
                &["tls_main.c", "tls_other.c"],
                Linker::Spacer,
                &dir,
            ),
            vec![],
        ),
        // Static PIEs, loaded at an address the kernel picks, relocate themselves.
        (
            build_with(
                "pie_stdio",
                Driver::Gcc,
                &["c_stdio.c"],
                Linker::Spacer,
                &dir,
                &["-static-pie"],
            ),
            vec![],
        ),
        (
            build_with(
                "pie_cxx",
                Driver::Gxx,
                &["cxx_exceptions.cpp", "cxx_exceptions_other.cpp"],
                Linker::Spacer,
                &dir,
                &["-static-pie"],
            ),
            vec![],
        ),
        (
            build_with(
                "pie_tls",
                Driver::Gcc,
                &["tls_main.c", "tls_other.c"],
                Linker::Bfd,
                &dir,
                &["-static-pie"],
            ),
            vec![],
        ),
        // Signal state, alternate stack, leftover mappings of spacer's own libraries.
        (
            build(
                "state",
                Driver::Gcc,
                &["process_state.c"],
                Linker::Spacer,
                &dir,
            ),
            vec![],
        ),
    ];
    for (exe, args) in &cases {
        let direct = run_direct(exe, args);
        let shared = run_shared(exe, &store, args);
        same(&direct, &shared, &exe.display().to_string());
    }
    // A second start finds every read-only page in the store and adds none.
    let before = fs::read_dir(&store).unwrap().count();
    assert!(
        before > 0,
        "the page store is empty after starting programs through it"
    );
    let (exe, args) = &cases[0];
    same(
        &run_direct(exe, args),
        &run_shared(exe, &store, args),
        "second start",
    );
    assert_eq!(
        fs::read_dir(&store).unwrap().count(),
        before,
        "a second start added pages to the store"
    );
}

#[test]
fn corrupted_store_entries_are_refused() {
    let dir = scratch_dir("run", "corrupt");
    let store = dir.join("store");
    let _ = fs::remove_dir_all(&store);
    let exe = build("stdio", Driver::Gcc, &["c_stdio.c"], Linker::Spacer, &dir);
    same(
        &run_direct(&exe, &[]),
        &run_shared(&exe, &store, &[]),
        "first start",
    );
    // Damage every stored page: the next start must refuse them.
    for e in fs::read_dir(&store).unwrap() {
        let p = e.unwrap().path();
        let mut bytes = fs::read(&p).unwrap();
        bytes[100] ^= 0xff;
        // Entries are read-only; the damage is deliberate.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&p, bytes).unwrap();
    }
    let r = run_shared(&exe, &store, &[]);
    assert_eq!(
        r.code(),
        Some(1),
        "spacer run accepted a corrupted page store ({})",
        r.describe()
    );
    assert!(
        r.stderr_str().contains("corrupt"),
        "the message does not say the store is corrupt:\n{}",
        r.stderr_str()
    );
    assert!(
        r.stdout.is_empty(),
        "the program ran from a corrupted store"
    );
}

/// A dynamically linked program is refused with a message, before anything is mapped.
#[test]
fn dynamic_programs_are_refused() {
    let dir = scratch_dir("run", "dynamic");
    let obj = compile(
        Driver::Gcc,
        &programs_dir().join("c_stdio.c"),
        &["-O2".to_string()],
    );
    let exe = dir.join("dynamic");
    let mut cc = Command::new("gcc");
    cc.arg(&obj).arg("-lm").arg("-o").arg(&exe);
    let r = run_with_timeout(&mut cc, TIMEOUT);
    assert!(r.success(), "gcc failed: {}", r.describe());
    let r = run_shared(&exe, &dir.join("store"), &[]);
    assert_eq!(r.code(), Some(1), "{}", r.describe());
    assert!(
        r.stderr_str().contains("dynamically linked"),
        "unexpected message: {}",
        r.stderr_str()
    );
}
