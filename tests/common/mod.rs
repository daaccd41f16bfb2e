//! Shared helpers for spacer's integration tests: compiling test programs (with an on-disk object
//! cache), linking them with spacer through `gcc -B` and with ld.bfd as the reference, running
//! both with a timeout and comparing what they do.
//!
//! Everything generated lives under the cargo target directory: `target/spacer-tests/` for
//! objects, executables and scratch directories, `target/spacer-corpus/` for the third-party
//! libraries (see `corpus.rs` and `versions.rs`).
//!
//! Helpers for fewer tests live in submodules: `elf_layout.rs` (an output's layout as readelf
//! and nm show it, compared with GNU ld's), `share.rs` (reading `spacer share --json`) and
//! `unikernel.rs` (building the test unikernel and booting it under QEMU).

#![allow(dead_code)]

pub mod corpus;
pub mod elf_layout;
pub mod share;
pub mod unikernel;
pub mod versions;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a linked test program may run.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one link may take.
pub const LINK_TIMEOUT: Duration = Duration::from_secs(300);
/// How long one compilation may take.
pub const COMPILE_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cargo target directory (`target/` unless CARGO_TARGET_DIR says otherwise).
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .to_path_buf()
}

/// Root of everything the tests generate, apart from the corpus.
pub fn tests_dir() -> PathBuf {
    target_dir().join("spacer-tests")
}

pub fn testdata_dir() -> PathBuf {
    manifest_dir().join("testdata")
}

pub fn programs_dir() -> PathBuf {
    testdata_dir().join("programs")
}

pub fn expected_dir() -> PathBuf {
    testdata_dir().join("expected")
}

/// The spacer binary under test: the one cargo built, or `SPACER_EXE` when set (CI runs the
/// suite a second time with a static spacer that spacer linked itself).
pub fn spacer_exe() -> PathBuf {
    match std::env::var_os("SPACER_EXE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_spacer")),
    }
}

/// A fresh, empty scratch directory `target/spacer-tests/<kind>/<name>`, locked (through
/// `<name>.lock` beside it) for as long as the value lives, so that two test processes running
/// the same test (two `cargo test` runs in one checkout, say) do not clobber each other's files.
pub struct Scratch {
    path: PathBuf,
    _lock: fs::File,
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

pub fn scratch_dir(kind: &str, name: &str) -> Scratch {
    let parent = tests_dir().join(kind);
    fs::create_dir_all(&parent).unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(parent.join(format!("{name}.lock")))
        .unwrap();
    lock.lock()
        .unwrap_or_else(|e| panic!("locking {}/{name}.lock: {e}", parent.display()));
    let dir = parent.join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("removing {}: {e}", dir.display()));
    }
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    Scratch {
        path: dir,
        _lock: lock,
    }
}

/// A directory holding `ld` and `ld.spacer`, both symbolic links to the spacer binary.  Passing
/// it to gcc as `-B <dir>/` makes collect2 run spacer as its linker.
///
/// gcc 12 only accepts `-fuse-ld=bfd|gold|lld|mold` (`-fuse-ld=spacer` is rejected as an
/// unrecognised option, and `--ld-path=` only arrived in gcc 13), so `-B` is how the tests make
/// the gcc driver use spacer.
pub fn linker_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // One directory per spacer binary, so that concurrent debug and release test runs do
        // not repoint each other's links.
        let exe = spacer_exe();
        let dir = tests_dir()
            .join("bin")
            .join(Fnv::default().str(&exe.to_string_lossy()).hex());
        fs::create_dir_all(&dir).unwrap();
        for name in ["ld", "ld.spacer"] {
            atomic_symlink(&exe, &dir.join(name));
        }
        dir
    })
}

fn atomic_symlink(target: &Path, link: &Path) {
    if fs::read_link(link).ok().as_deref() == Some(target) {
        return;
    }
    let tmp = unique_temp_path(link);
    std::os::unix::fs::symlink(target, &tmp)
        .unwrap_or_else(|e| panic!("symlink {} -> {}: {e}", tmp.display(), target.display()));
    fs::rename(&tmp, link).unwrap_or_else(|e| panic!("renaming to {}: {e}", link.display()));
}

/// `<path>.tmp.<pid>.<n>`: a name no other thread or process of the test suite will use.
pub fn unique_temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap().to_os_string();
    name.push(format!(".tmp.{}.{n}", std::process::id()));
    path.with_file_name(name)
}

/// Writes a file atomically (temp file + rename), so that concurrent test processes never see a
/// half-written file.
pub fn write_atomic(path: &Path, contents: &[u8]) {
    let tmp = unique_temp_path(path);
    fs::write(&tmp, contents).unwrap_or_else(|e| panic!("writing {}: {e}", tmp.display()));
    fs::rename(&tmp, path).unwrap_or_else(|e| panic!("renaming to {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------------------------
// Hashing (cache keys)
// ---------------------------------------------------------------------------------------------

/// FNV-1a, 64 bits: stable across Rust releases, good enough for cache keys.
#[derive(Clone)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn bytes(&mut self, data: &[u8]) -> &mut Self {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub fn file(&mut self, path: &Path) -> &mut Self {
        let data = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        self.bytes(&data)
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------------------------

/// The outcome of running a command.
pub struct RunResult {
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl RunResult {
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// "exit 0", "killed by signal 11", "timed out after 60s", ...
    pub fn describe(&self) -> String {
        describe_status(self.status, self.timed_out, self.elapsed)
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

pub fn describe_status(status: Option<ExitStatus>, timed_out: bool, elapsed: Duration) -> String {
    if timed_out {
        return format!("timed out after {:.0?} and was killed", elapsed);
    }
    match status {
        None => "did not run".to_string(),
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(sig)) => format!(
                "killed by signal {sig}{}",
                if s.core_dumped() {
                    " (core dumped)"
                } else {
                    ""
                }
            ),
            _ => format!("{s}"),
        },
    }
}

/// Runs `cmd` with no standard input, capturing its output, and kills it after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> RunResult {
    run_with_timeout_impl(cmd, timeout, false)
}

/// Like [`run_with_timeout`], but runs `cmd` in a process group of its own and kills the whole
/// group after `timeout`: a script's children (build.sh's gcc, say) die with it, rather than
/// keep its output open.
pub fn run_group_with_timeout(cmd: &mut Command, timeout: Duration) -> RunResult {
    cmd.process_group(0);
    run_with_timeout_impl(cmd, timeout, true)
}

fn run_with_timeout_impl(cmd: &mut Command, timeout: Duration, group: bool) -> RunResult {
    let start = Instant::now();
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return RunResult {
                status: None,
                stdout: Vec::new(),
                stderr: format!("failed to start {}: {e}", display_command(cmd)).into_bytes(),
                timed_out: false,
                elapsed: start.elapsed(),
            }
        }
    };
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => break None,
        }
        if start.elapsed() > timeout {
            timed_out = true;
            if group {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
            }
            let _ = child.kill();
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    RunResult {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
        timed_out,
        elapsed,
    }
}

/// Runs a command that must succeed (within `timeout`); panics with `what`, the command line
/// and its standard error otherwise.
pub fn must_run(cmd: &mut Command, timeout: Duration, what: &str) -> RunResult {
    let r = run_with_timeout(cmd, timeout);
    assert!(
        r.success(),
        "{what} failed ({}):\n$ {}\n{}",
        r.describe(),
        display_command(cmd),
        excerpt(&r.stderr, 6000)
    );
    r
}

/// The standard output of a tool that must succeed (readelf, nm): `args` is the command line.
pub fn tool(args: &[&str]) -> String {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]);
    must_run(&mut cmd, LINK_TIMEOUT, args[0]).stdout_str()
}

/// A command line as one string, quoted so that it can be pasted into a shell.
pub fn display_command(cmd: &Command) -> String {
    let mut s = String::new();
    if let Some(dir) = cmd.get_current_dir() {
        let _ = write!(s, "cd {} && ", shell_quote(dir.as_os_str()));
    }
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            let _ = write!(s, "{}={} ", k.to_string_lossy(), shell_quote(v));
        }
    }
    s.push_str(&shell_quote(cmd.get_program()));
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&shell_quote(a));
    }
    s
}

fn shell_quote(s: &std::ffi::OsStr) -> String {
    let s = s.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=+,:@%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Output for a diagnostic message: lossy UTF-8, cut to `limit` bytes.
pub fn excerpt(data: &[u8], limit: usize) -> String {
    let s = String::from_utf8_lossy(data);
    if s.len() <= limit {
        if s.is_empty() {
            "(empty)".to_string()
        } else {
            s.into_owned()
        }
    } else {
        let mut cut = limit;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}\n... ({} more bytes)", &s[..cut], s.len() - cut)
    }
}

/// Describes the first line at which two outputs differ.
pub fn first_difference(a_name: &str, a: &[u8], b_name: &str, b: &[u8]) -> String {
    let a = String::from_utf8_lossy(a);
    let b = String::from_utf8_lossy(b);
    let mut al = a.lines();
    let mut bl = b.lines();
    let mut line = 1;
    loop {
        match (al.next(), bl.next()) {
            (Some(x), Some(y)) if x == y => {}
            (None, None) => {
                return "outputs differ only in line endings or a final newline".to_string()
            }
            (x, y) => {
                return format!(
                    "first difference at stdout line {line}:\n  {a_name:>8}: {}\n  {b_name:>8}: {}",
                    x.map(|s| format!("{s:?}"))
                        .unwrap_or_else(|| "(end of output)".into()),
                    y.map(|s| format!("{s:?}"))
                        .unwrap_or_else(|| "(end of output)".into())
                )
            }
        }
        line += 1;
    }
}

/// Whether the suite runs in CI (env CI set to anything but "", "0" or "false").
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
        .unwrap_or(false)
}

/// Finds an executable on PATH.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Checks that an external tool is installed.  Outside CI a missing tool skips the test (the
/// caller returns early); in CI it fails the test, so that a broken setup cannot pass silently.
pub fn require_tool(tool: &str, package: &str) -> bool {
    if find_in_path(tool).is_some() {
        return true;
    }
    if in_ci() {
        panic!("`{tool}` is not installed (Debian package {package}); CI must have it");
    }
    eprintln!("SKIPPED: `{tool}` is not installed (Debian package {package}); set CI=true to make this an error");
    false
}

// ---------------------------------------------------------------------------------------------
// Compiling
// ---------------------------------------------------------------------------------------------

/// The compiler driver used to compile and link a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Driver {
    Gcc,
    Gxx,
    /// `musl-gcc` (Debian package musl-tools): gcc with musl's headers, start files and libc.
    Musl,
    /// clang, which selects spacer with `-fuse-ld=<path>` rather than `-B`.
    Clang,
}

impl Driver {
    pub fn program(self) -> &'static str {
        match self {
            Driver::Gcc => "gcc",
            Driver::Gxx => "g++",
            Driver::Musl => "musl-gcc",
            Driver::Clang => "clang",
        }
    }

    pub fn package(self) -> &'static str {
        match self {
            Driver::Gcc => "gcc",
            Driver::Gxx => "g++",
            Driver::Musl => "musl-tools",
            Driver::Clang => "clang",
        }
    }

    /// Name, version and target of the compiler, part of every object cache key.
    fn identity(self) -> String {
        format!("{} {}", self.program(), self.version())
    }

    /// Version and target of the compiler (`-dumpfullversion -dumpmachine`, one line each).
    fn version(self) -> String {
        static CACHE: OnceLock<Mutex<HashMap<Driver, String>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(v) = cache.lock().unwrap().get(&self) {
            return v.clone();
        }
        let r = run_with_timeout(
            Command::new(self.program()).args(["-dumpfullversion", "-dumpmachine"]),
            COMPILE_TIMEOUT,
        );
        assert!(
            r.success(),
            "`{} -dumpfullversion` failed ({}): {}",
            self.program(),
            r.describe(),
            r.stderr_str()
        );
        let v = r.stdout_str().trim().to_string();
        cache.lock().unwrap().insert(self, v.clone());
        v
    }
}

/// Compiles one source file to an object file, or reuses the cached object from an earlier
/// compilation of the same source with the same compiler and flags.  The cache key covers the
/// source and every header in the source's directory.
pub fn compile(driver: Driver, src: &Path, flags: &[String]) -> PathBuf {
    let mut key = Fnv::default();
    key.str(&driver.identity())
        .str(&src.to_string_lossy())
        .file(src);
    for f in flags {
        key.str(f);
    }
    if let Some(dir) = src.parent() {
        let mut headers: Vec<PathBuf> = fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        matches!(
                            p.extension().and_then(|e| e.to_str()),
                            Some("h" | "hpp" | "inc")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        headers.sort();
        for h in headers {
            key.str(&h.to_string_lossy()).file(&h);
        }
    }
    let stem = src.file_name().unwrap().to_string_lossy().replace('.', "_");
    let dir = tests_dir().join("obj");
    fs::create_dir_all(&dir).unwrap();
    let obj = dir.join(format!("{stem}-{}.o", key.hex()));
    if obj.exists() {
        return obj;
    }
    compile_to(driver, src, flags, &obj);
    obj
}

/// Compiles `src` into `obj` (through a temporary file, so that `obj` appears complete or not
/// at all).  Panics with the compiler's messages on failure.
pub fn compile_to(driver: Driver, src: &Path, flags: &[String], obj: &Path) {
    let tmp = unique_temp_path(obj);
    let mut cmd = Command::new(driver.program());
    cmd.args(flags).arg("-c").arg(src).arg("-o").arg(&tmp);
    let r = run_with_timeout(&mut cmd, COMPILE_TIMEOUT);
    if !r.success() {
        let _ = fs::remove_file(&tmp);
        panic!(
            "compiling {} failed ({}):\n$ {}\n{}",
            src.display(),
            r.describe(),
            display_command(&cmd),
            excerpt(&r.stderr, 8000)
        );
    }
    fs::rename(&tmp, obj).unwrap_or_else(|e| panic!("renaming to {}: {e}", obj.display()));
}

/// Makes a static archive (`ar rcs`) from objects, cached by the objects' contents.
pub fn archive(name: &str, objects: &[PathBuf]) -> PathBuf {
    let mut key = Fnv::default();
    for o in objects {
        key.str(&o.file_name().unwrap().to_string_lossy()).file(o);
    }
    let dir = tests_dir().join("lib");
    fs::create_dir_all(&dir).unwrap();
    let lib = dir.join(format!("{name}-{}.a", key.hex()));
    if lib.exists() {
        return lib;
    }
    make_archive(&lib, objects);
    lib
}

/// `ar rcs lib objects...`, through a temporary file.
pub fn make_archive(lib: &Path, objects: &[PathBuf]) {
    let tmp = unique_temp_path(lib);
    let mut tmp_a = tmp.into_os_string();
    tmp_a.push(".a");
    let tmp = PathBuf::from(tmp_a);
    let mut cmd = Command::new("ar");
    cmd.arg("rcs").arg(&tmp).args(objects);
    must_run(&mut cmd, COMPILE_TIMEOUT, "ar");
    fs::rename(&tmp, lib).unwrap_or_else(|e| panic!("renaming to {}: {e}", lib.display()));
}

// ---------------------------------------------------------------------------------------------
// Linking
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linker {
    /// spacer, run by collect2 as `ld` from the `-B` directory.
    Spacer,
    /// GNU ld (`-fuse-ld=bfd`), the reference.
    Bfd,
}

impl Linker {
    pub fn name(self) -> &'static str {
        match self {
            Linker::Spacer => "spacer",
            Linker::Bfd => "ld.bfd",
        }
    }
}

/// A finished link: the command that ran and what it printed.
pub struct LinkResult {
    pub command: String,
    pub result: RunResult,
    pub output: PathBuf,
}

impl LinkResult {
    pub fn ok(&self) -> bool {
        self.result.success() && self.output.exists()
    }

    pub fn report(&self, linker: Linker) -> String {
        format!(
            "{} link ({}, {:.2?}):\n$ {}\nstderr:\n{}",
            linker.name(),
            self.result.describe(),
            self.result.elapsed,
            self.command,
            excerpt(&self.result.stderr, 6000)
        )
    }
}

/// Links `inputs` (objects, archives, then `ldflags`) into a static executable `out` through the
/// compiler driver: `gcc -static [-B <spacer dir>/ | -fuse-ld=bfd] inputs... ldflags... -o out`.
pub fn link(
    driver: Driver,
    linker: Linker,
    inputs: &[PathBuf],
    ldflags: &[String],
    out: &Path,
) -> LinkResult {
    let _ = fs::remove_file(out);
    let mut cmd = Command::new(driver.program());
    // `-static-pie` among the flags asks for a static position-independent executable instead.
    if !ldflags.iter().any(|f| f == "-static-pie") {
        cmd.arg("-static");
    }
    match linker {
        Linker::Spacer if driver == Driver::Clang => {
            // clang runs the linker at the path given to -fuse-ld; spacer acts as ld because
            // it is invoked as `ld.spacer`.
            let mut f = OsString::from("-fuse-ld=");
            f.push(linker_dir().join("ld.spacer").as_os_str());
            cmd.arg(f);
        }
        Linker::Spacer => {
            let mut b = OsString::from(linker_dir().as_os_str());
            b.push("/");
            cmd.arg("-B").arg(b);
        }
        Linker::Bfd => {
            cmd.arg("-fuse-ld=bfd");
        }
    }
    cmd.args(inputs).args(ldflags).arg("-o").arg(out);
    let command = display_command(&cmd);
    let result = run_with_timeout(&mut cmd, LINK_TIMEOUT);
    LinkResult {
        command,
        result,
        output: out.to_path_buf(),
    }
}

/// Runs a linked test program in a fixed environment.
pub fn run_program(exe: &Path, args: &[String], cwd: &Path) -> RunResult {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .current_dir(cwd)
        .env("LC_ALL", "C")
        .env_remove("LANG")
        .env_remove("LANGUAGE");
    run_with_timeout(&mut cmd, RUN_TIMEOUT)
}

// ---------------------------------------------------------------------------------------------
// Test programs
// ---------------------------------------------------------------------------------------------

/// A test program: sources compiled with one driver, optionally some static archives built from
/// more sources, linked with spacer and with ld.bfd, run with arguments, and compared.
pub struct Program {
    pub name: String,
    pub driver: Driver,
    pub sources: Vec<PathBuf>,
    pub cflags: Vec<String>,
    pub ldflags: Vec<String>,
    pub archives: Vec<(String, Vec<PathBuf>)>,
    pub extra_inputs: Vec<PathBuf>,
    pub args: Vec<String>,
    pub expected_file: Option<String>,
    pub expected_status: i32,
    /// Link flags for spacer only (after `ldflags`), e.g. `-Wl,--layout,FILE`.
    pub spacer_ldflags: Vec<String>,
}

/// Both executables of a successful comparison, for further checks.
pub struct Outcome {
    pub dir: Scratch,
    pub reference_exe: PathBuf,
    pub spacer_exe: PathBuf,
    pub stdout: Vec<u8>,
    pub spacer_link: LinkResult,
    pub reference_link: LinkResult,
}

impl Program {
    /// A program built from `sources` in `testdata/programs`.  Default flags: `-O2 -g`.
    pub fn new(name: &str, driver: Driver, sources: &[&str]) -> Program {
        Program {
            name: name.to_string(),
            driver,
            sources: sources.iter().map(|s| programs_dir().join(s)).collect(),
            cflags: vec!["-O2".into(), "-g".into()],
            ldflags: Vec::new(),
            archives: Vec::new(),
            extra_inputs: Vec::new(),
            args: Vec::new(),
            expected_file: Some(name.to_string()),
            expected_status: 0,
            spacer_ldflags: Vec::new(),
        }
    }

    pub fn c(name: &str, sources: &[&str]) -> Program {
        Program::new(name, Driver::Gcc, sources)
    }

    pub fn cxx(name: &str, sources: &[&str]) -> Program {
        Program::new(name, Driver::Gxx, sources)
    }

    pub fn musl(name: &str, sources: &[&str]) -> Program {
        Program::new(name, Driver::Musl, sources)
    }

    pub fn clang(name: &str, sources: &[&str]) -> Program {
        Program::new(name, Driver::Clang, sources)
    }

    /// Extra compiler flags (added after the defaults).
    pub fn cflags(mut self, flags: &[&str]) -> Self {
        self.cflags.extend(flags.iter().map(|s| s.to_string()));
        self
    }

    /// Replaces the default compiler flags.
    pub fn only_cflags(mut self, flags: &[&str]) -> Self {
        self.cflags = flags.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Flags for the link step, after the inputs (e.g. `-lm`, `-Wl,--gc-sections`).
    pub fn ldflags(mut self, flags: &[&str]) -> Self {
        self.ldflags.extend(flags.iter().map(|s| s.to_string()));
        self
    }

    /// Link flags given to spacer only (ld.bfd does not know them).
    pub fn spacer_ldflags(mut self, flags: &[&str]) -> Self {
        self.spacer_ldflags
            .extend(flags.iter().map(|s| s.to_string()));
        self
    }

    /// A static archive built from `sources` (in testdata/programs) and linked after the objects.
    pub fn archive(mut self, name: &str, sources: &[&str]) -> Self {
        self.archives.push((
            name.to_string(),
            sources.iter().map(|s| programs_dir().join(s)).collect(),
        ));
        self
    }

    /// A source file given by path rather than relative to testdata/programs.
    pub fn source_path(mut self, path: PathBuf) -> Self {
        self.sources.push(path);
        self
    }

    /// A prebuilt input (object or archive), linked after the objects and archives.
    pub fn input(mut self, path: PathBuf) -> Self {
        self.extra_inputs.push(path);
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }

    /// The stdout both executables must print is `testdata/expected/<name>.stdout`.
    pub fn expect_stdout_of(mut self, name: &str) -> Self {
        self.expected_file = Some(name.to_string());
        self
    }

    pub fn expect_status(mut self, status: i32) -> Self {
        self.expected_status = status;
        self
    }

    /// Compiles every source (cached) and builds the archives; returns the link inputs.
    pub fn build_inputs(&self) -> Vec<PathBuf> {
        let mut inputs: Vec<PathBuf> = self
            .sources
            .iter()
            .map(|s| compile(self.driver, s, &self.cflags))
            .collect();
        for (name, sources) in &self.archives {
            let objs: Vec<PathBuf> = sources
                .iter()
                .map(|s| compile(self.driver, s, &self.cflags))
                .collect();
            inputs.push(archive(name, &objs));
        }
        inputs.extend(self.extra_inputs.iter().cloned());
        inputs
    }

    /// Whether the tools this program needs are installed (see [`require_tool`]).
    pub fn tools_available(&self) -> bool {
        require_tool(self.driver.program(), self.driver.package())
    }

    /// Links the program with ld.bfd and with spacer, runs both and requires the same stdout and
    /// exit status; the ld.bfd-linked program must also match the expectations in testdata.
    /// Returns `None` when the program was skipped because a tool is missing.
    pub fn check(&self) -> Option<Outcome> {
        if !self.tools_available() {
            return None;
        }
        let inputs = self.build_inputs();
        let dir = scratch_dir("run", &self.name);
        let reference_exe = dir.join(format!("{}.bfd", self.name));
        let spacer_exe = dir.join(format!("{}.spacer", self.name));

        // The reference side first: if it fails, the test program or toolchain is at fault.
        let reference_link = link(
            self.driver,
            Linker::Bfd,
            &inputs,
            &self.ldflags,
            &reference_exe,
        );
        assert!(
            reference_link.ok(),
            "program `{}`: the reference link with ld.bfd failed, so the test itself is broken\n{}",
            self.name,
            reference_link.report(Linker::Bfd)
        );
        let reference = run_program(&reference_exe, &self.args, &dir);
        self.check_reference(&reference, &reference_link);

        let spacer_flags: Vec<String> = self
            .ldflags
            .iter()
            .chain(&self.spacer_ldflags)
            .cloned()
            .collect();
        let spacer_link = link(
            self.driver,
            Linker::Spacer,
            &inputs,
            &spacer_flags,
            &spacer_exe,
        );
        if !spacer_link.ok() {
            panic!(
                "program `{}`: linking with spacer failed{}\n\n{}\n\nfor comparison, {}",
                self.name,
                if spacer_link.result.success() {
                    " (it exited 0 but wrote no output file)"
                } else {
                    ""
                },
                spacer_link.report(Linker::Spacer),
                reference_link.report(Linker::Bfd)
            );
        }
        let actual = run_program(&spacer_exe, &self.args, &dir);
        let same_status = !actual.timed_out && actual.status == reference.status;
        let same_stdout = actual.stdout == reference.stdout;
        if !(same_status && same_stdout) {
            let mut msg = format!(
                "program `{}`: the spacer-linked executable behaves differently from the \
                 ld.bfd-linked one\n",
                self.name
            );
            let _ = writeln!(
                msg,
                "status: spacer: {}; ld.bfd: {}",
                actual.describe(),
                reference.describe()
            );
            if !same_stdout {
                let _ = writeln!(
                    msg,
                    "{}",
                    first_difference("spacer", &actual.stdout, "ld.bfd", &reference.stdout)
                );
            }
            let _ = writeln!(msg, "\n{}", spacer_link.report(Linker::Spacer));
            let _ = writeln!(msg, "\n{}", reference_link.report(Linker::Bfd));
            let _ = writeln!(
                msg,
                "\n--- stdout of the spacer-linked program:\n{}",
                excerpt(&actual.stdout, 6000)
            );
            let _ = writeln!(
                msg,
                "--- stdout of the ld.bfd-linked program:\n{}",
                excerpt(&reference.stdout, 6000)
            );
            let _ = writeln!(
                msg,
                "--- stderr of the spacer-linked program:\n{}",
                excerpt(&actual.stderr, 4000)
            );
            let _ = writeln!(
                msg,
                "--- stderr of the ld.bfd-linked program:\n{}",
                excerpt(&reference.stderr, 2000)
            );
            let _ = writeln!(
                msg,
                "executables kept in {} (run with args {:?})",
                dir.display(),
                self.args
            );
            panic!("{msg}");
        }
        Some(Outcome {
            dir,
            reference_exe,
            spacer_exe,
            stdout: actual.stdout,
            spacer_link,
            reference_link,
        })
    }

    /// The ld.bfd-linked program must exit with the expected status and print the expected
    /// output.  With SPACER_BLESS=1 the expected output file is (re)written instead.
    fn check_reference(&self, reference: &RunResult, link: &LinkResult) {
        let status_ok = !reference.timed_out && reference.code() == Some(self.expected_status);
        let Some(expected_name) = &self.expected_file else {
            assert!(
                status_ok,
                "program `{}` linked with ld.bfd: expected exit {}, got {}\n{}\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.expected_status,
                reference.describe(),
                link.report(Linker::Bfd),
                excerpt(&reference.stdout, 6000),
                excerpt(&reference.stderr, 4000)
            );
            return;
        };
        let path = expected_dir().join(format!("{expected_name}.stdout"));
        if std::env::var_os("SPACER_BLESS").is_some_and(|v| v == "1") && status_ok {
            fs::create_dir_all(expected_dir()).unwrap();
            write_atomic(&path, &reference.stdout);
        }
        let expected = fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "program `{}`: cannot read the expected output {}: {e}\n(run the test with \
                 SPACER_BLESS=1 to create it from the ld.bfd-linked program's output:\n{})",
                self.name,
                path.display(),
                excerpt(&reference.stdout, 6000)
            )
        });
        if !status_ok || expected != reference.stdout {
            panic!(
                "program `{}` linked with ld.bfd does not do what testdata expects, so the test \
                 or the toolchain is broken\nstatus: {} (expected exit {})\n{}\n{}\n--- stdout:\n{}\n--- expected ({}):\n{}\n--- stderr:\n{}",
                self.name,
                reference.describe(),
                self.expected_status,
                if expected != reference.stdout {
                    first_difference("ld.bfd", &reference.stdout, "expected", &expected)
                } else {
                    "stdout as expected".to_string()
                },
                link.report(Linker::Bfd),
                excerpt(&reference.stdout, 6000),
                path.display(),
                excerpt(&expected, 6000),
                excerpt(&reference.stderr, 4000)
            );
        }
    }
}

/// Splits a line of `gcc -###` output into arguments (gcc quotes arguments with double quotes and
/// escapes `"` and `\` inside them with a backslash).
pub fn split_gcc_command_line(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = line.trim().chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() && !quoted {
                break;
            }
            chars.next();
            match c {
                '"' => quoted = !quoted,
                '\\' if quoted => {
                    if let Some(n) = chars.next() {
                        arg.push(n);
                    }
                }
                _ => arg.push(c),
            }
        }
        args.push(arg);
    }
    args
}
