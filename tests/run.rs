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

/// `spacer run` from `store`, which must be refused: exit 1, a message saying `why`, and the
/// program not started.
fn assert_store_refused(exe: &Path, store: &Path, why: &str) {
    let r = run_shared(exe, store, &[]);
    assert_eq!(
        r.code(),
        Some(1),
        "spacer run accepted page store {} ({})",
        store.display(),
        r.describe()
    );
    assert!(
        r.stderr_str().contains(why) && r.stderr_str().contains("page store"),
        "the message for {} does not say {why:?}:\n{}",
        store.display(),
        r.stderr_str()
    );
    assert!(
        r.stdout.is_empty(),
        "the program ran from {}",
        store.display()
    );
}

/// A store someone else could write is refused: a symbolic link, a directory writable by
/// others or owned by another user, and a symlinked entry. A store spacer creates is
/// owner-only.
#[test]
fn hostile_page_stores_are_refused() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = scratch_dir("run", "hostile");
    let exe = build("stdio", Driver::Gcc, &["c_stdio.c"], Linker::Spacer, &dir);
    let direct = run_direct(&exe, &[]);

    // Created by spacer, missing parents included: mode 0700, and it works.
    let fresh = dir.join("new/store");
    same(&direct, &run_shared(&exe, &fresh, &[]), "fresh store");
    let mode = fs::metadata(&fresh).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o700, "the new store has mode {mode:o}");

    let link = dir.join("link");
    std::os::unix::fs::symlink(&fresh, &link).unwrap();
    assert_store_refused(&exe, &link, "symbolic link");

    let open = dir.join("world-writable");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    assert_store_refused(&exe, &open, "writable by other users");
    let group = dir.join("group-writable");
    fs::create_dir(&group).unwrap();
    fs::set_permissions(&group, fs::Permissions::from_mode(0o770)).unwrap();
    assert_store_refused(&exe, &group, "writable by other users");

    // Owned by another user: made so when the tests run as root, else a directory of root's.
    let euid = fs::metadata("/proc/self").unwrap().uid();
    let foreign = if euid == 0 {
        let d = dir.join("foreign");
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&d, Some(65534), Some(65534)).unwrap();
        d
    } else {
        PathBuf::from("/usr")
    };
    assert_store_refused(&exe, &foreign, "owned by user");

    // One entry of a good store replaced by a symbolic link to a copy with the right bytes.
    let entries: Vec<PathBuf> = fs::read_dir(&fresh)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!entries.is_empty(), "the first start stored no page");
    let victim = &entries[0];
    let copy = dir.join("planted");
    fs::copy(victim, &copy).unwrap();
    fs::remove_file(victim).unwrap();
    std::os::unix::fs::symlink(&copy, victim).unwrap();
    assert_store_refused(&exe, &fresh, "symbolic link");
}

/// Eight starts at once on an empty store, twenty times over: every start runs as the program
/// does directly, and every entry left behind holds the page its name says, with no temporary
/// file left over.
#[test]
fn concurrent_starts_fill_a_fresh_store() {
    use sha1::{Digest, Sha1};
    let dir = scratch_dir("run", "concurrent");
    let programs = [
        build("stdio", Driver::Gcc, &["c_stdio.c"], Linker::Spacer, &dir),
        build(
            "tls",
            Driver::Gcc,
            &["tls_main.c", "tls_other.c"],
            Linker::Spacer,
            &dir,
        ),
        build(
            "cxx",
            Driver::Gxx,
            &["cxx_exceptions.cpp", "cxx_exceptions_other.cpp"],
            Linker::Spacer,
            &dir,
        ),
    ];
    let direct: Vec<RunResult> = programs.iter().map(|p| run_direct(p, &[])).collect();
    for round in 0..20 {
        let store = dir.join(format!("store{round}"));
        let results: Vec<(usize, RunResult)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|k| {
                    let p = k % programs.len();
                    let (exe, store) = (&programs[p], &store);
                    s.spawn(move || (p, run_shared(exe, store, &[])))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (p, r) in &results {
            same(
                &direct[*p],
                r,
                &format!("round {round}, {}", programs[*p].display()),
            );
        }
        let mut n = 0;
        for e in fs::read_dir(&store).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            assert!(
                !name.starts_with('.'),
                "round {round}: temporary file {name} left over"
            );
            let bytes = fs::read(e.path()).unwrap();
            assert_eq!(
                bytes.len(),
                4096,
                "round {round}: entry {name} is not one page"
            );
            let digest: String = Sha1::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(
                digest, name,
                "round {round}: entry {name} holds another page"
            );
            n += 1;
        }
        assert!(n > 0, "round {round}: nothing was stored");
        fs::remove_dir_all(&store).unwrap();
    }
}
