//! Links a small unikernel (`testdata/unikernel/`) the way Unikraft links its KVM images, once
//! with GNU ld (ld.bfd) and once with spacer, and boots both under `qemu-system-x86_64` (TCG).
//!
//! The kernel is built by `testdata/unikernel/build.sh`: every library is compiled freestanding,
//! partially linked (`-Wl,-r -Wl,-d`) and cut down to its exported symbols with objcopy; the final
//! link uses the platform script (`-Wl,-dT,link64.lds`, with PHDRS, a TLS image, sorted constructor
//! and init tables, PROVIDEd boundary symbols, /DISCARD/) plus two `INSERT AFTER` fragments.  With
//! spacer, `-B <dir>/` makes gcc run it for the partial links and the final link alike.
//!
//! - `unikernel_boots_identically`: both kernels must boot, print the same serial output, and exit
//!   through QEMU's isa-debug-exit device with the success status; the ld.bfd kernel's output must
//!   also contain the lines that show constructors, init tables, TLS, .data and .bss at work.
//! - `unikernel_layout_matches_gnu_ld`: section and segment addresses, program headers, the
//!   section to segment mapping and symbol addresses of `kernel.dbg` must equal ld.bfd's: the
//!   script decides all of them.  Every difference is reported at once.
//!
//! Needs gcc and binutils; the boot test also needs `qemu-system-x86_64` (Debian package
//! qemu-system-x86, installed by `scripts/setup.sh`).  Without qemu the boot test is skipped with
//! a message, unless `CI` is set, where it fails.  `SPACER_EXE` selects the spacer binary under
//! test (default: the one cargo built).  Build products stay in
//! `target/spacer-tests/unikernel/{bfd,spacer}/` (build.log, kernel.dbg, kernel, kernel.elf32,
//! serial.txt); to boot one by hand:
//!
//! ```text
//! qemu-system-x86_64 -nodefaults -display none -no-reboot -m 64 -serial stdio \
//!     -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
//!     -kernel target/spacer-tests/unikernel/bfd/kernel.elf32
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const QEMU: &str = "qemu-system-x86_64";
/// How long one boot may take (TCG on two cores; the kernel needs well under a second).
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one build of the kernel may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);
/// QEMU's exit status when the kernel writes its success code (0x2a) to isa-debug-exit:
/// `(0x2a << 1) | 1`.
const EXIT_SUCCESS: i32 = 85;

/// Lines the ld.bfd-linked kernel must print, in this order (other lines may come between).
/// They show that the boot code, the constructor and init tables (sorted by the script), the
/// TLS block laid out from the script's symbols, and .rodata/.data/.bss all work.
const EXPECTED_LINES: &[&str] = &[
    "boot: multiboot magic ok",
    "boot: layout ok",
    "ctortab 0: app",
    "ctortab 1: libctors",
    "ctortab 2: libukdebug",
    "tls: self pointer ok",
    "init_array: 6 entries",
    "ctor prio 101 (app)",
    "ctor prio 102 (libukboot), boot stage 3",
    "ctor prio 150 (libctors)",
    "ctor prio 200 (app), tls counter 10",
    "ctor plain (libctors)",
    "ctor plain (app)",
    "inittab: 4 entries",
    "inittab 1: libukboot",
    "inittab 1: app",
    "inittab 2: app, data_value 1234",
    "inittab 3: libctors",
    "libinfo: 6 libraries",
    "libinfo: libplat v5",
    "libinfo: libnolibc v4",
    "libinfo: libukdebug v3",
    "libinfo: libctors v2",
    "libinfo: libukboot v7",
    "libinfo: app v1",
    "boot: app hello, optional hook absent",
    "Hello world!",
    "rodata: checksum 0x4353fc26 over 64 words",
    "rodata: op add(7, 3) = 10",
    "rodata: op mod(7, 3) = 1",
    "rodata: weekdays Mon Thu Sun",
    "data: value 1235, array sum -3917, greeting \"hi there\"",
    "bss: 300 of 300 bytes zero, counter 0, common 0",
    "bss: now counter 7, common 42, buf[100] 'x'",
    "tls: answer 42, name \"tls-array\", magic 0x5eedf00dcafe1234",
    "tls: counter 10, zero 0, local 1321",
    "tls: after writes answer 43, counter 11, zero -5",
    "boot: exit status 0",
];

/// Symbols the platform script and the fragments define; their addresses are fixed by the
/// script's semantics.  (`__preinit_array_*` are PROVIDE_HIDDEN and unreferenced, so neither
/// linker defines them; they are listed to check exactly that.)
const SCRIPT_SYMBOLS: &[&str] = &[
    "_base_addr",
    "_text",
    "_etext",
    "_rodata",
    "_erodata",
    "uk_ctortab_start",
    "uk_ctortab_end",
    "__eh_frame_start",
    "__eh_frame_end",
    "__eh_frame_hdr_start",
    "__eh_frame_hdr_end",
    "uk_inittab_start",
    "uk_inittab_end",
    "uk_libinfo_start",
    "uk_libinfo_end",
    "_ctors",
    "__preinit_array_start",
    "__preinit_array_end",
    "__init_array_start",
    "__init_array_end",
    "_ectors",
    "_tls_start",
    "_etdata",
    "_tls_end",
    "_data",
    "_edata",
    "__bss_start",
    "_end",
];

/// Output sections whose address and size the script determines.
const SECTIONS: &[&str] = &[
    ".multiboot_header",
    ".text",
    ".rodata",
    ".uk_ctortab",
    ".uk_inittab",
    ".uk_libinfo",
    ".init_array",
    ".tdata",
    ".tbss",
    ".data",
    ".bss",
];

// ---------------------------------------------------------------------------------------------
// Paths and tools
// ---------------------------------------------------------------------------------------------

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/spacer-tests` (or the same under CARGO_TARGET_DIR).
fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .join("spacer-tests")
}

fn spacer_exe() -> PathBuf {
    match std::env::var_os("SPACER_EXE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_spacer")),
    }
}

fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
        .unwrap_or(false)
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// FNV-1a of a string, for a directory name per spacer binary.
fn fnv(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `target/spacer-tests/uk-bin/<hash of the spacer path>/`, holding `ld` -> spacer, for gcc's
/// `-B`.  One directory per spacer binary, so that concurrent debug and release runs (or a run
/// with SPACER_EXE) do not repoint each other's link.
fn linker_dir() -> PathBuf {
    let exe = spacer_exe();
    let dir = tests_dir().join("uk-bin").join(fnv(&exe.to_string_lossy()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let link = dir.join("ld");
    if fs::read_link(&link).ok().as_deref() != Some(exe.as_path()) {
        let tmp = dir.join(format!("ld.tmp.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&exe, &tmp)
            .unwrap_or_else(|e| panic!("symlink {} -> {}: {e}", tmp.display(), exe.display()));
        fs::rename(&tmp, &link).unwrap_or_else(|e| panic!("renaming to {}: {e}", link.display()));
    }
    dir
}

// ---------------------------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------------------------

struct Output {
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Output {
    fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    fn describe(&self) -> String {
        use std::os::unix::process::ExitStatusExt;
        match self.status {
            None => format!("timed out after {:.0?} and was killed", self.elapsed),
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => format!("exit status {c}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                _ => format!("{s}"),
            },
        }
    }
}

/// Runs `cmd` in its own process group with no standard input, capturing both outputs; after
/// `timeout` the whole group is killed (build.sh's gcc children too).
fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let start = Instant::now();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        match child.try_wait().expect("waiting for a child process") {
            Some(status) => break Some(status),
            None if start.elapsed() > timeout => {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed: start.elapsed(),
    }
}

/// Output of a tool that must succeed (readelf, nm).
fn tool(args: &[&str]) -> String {
    let out = run(
        Command::new(args[0]).args(&args[1..]),
        Duration::from_secs(60),
    );
    if out.code() != Some(0) {
        panic!(
            "{} failed ({}):\n{}{}",
            args.join(" "),
            out.describe(),
            out.stdout,
            out.stderr
        );
    }
    out.stdout
}

// ---------------------------------------------------------------------------------------------
// Building and booting
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Linker {
    Bfd,
    Spacer,
}

impl Linker {
    fn name(self) -> &'static str {
        match self {
            Linker::Bfd => "bfd",
            Linker::Spacer => "spacer",
        }
    }
}

struct Build {
    linker: Linker,
    dir: PathBuf,
    ok: bool,
    /// What build.sh printed (every command, then any errors), and how it ended.
    log: String,
    elapsed: Duration,
}

impl Build {
    fn kernel_dbg(&self) -> PathBuf {
        self.dir.join("kernel.dbg")
    }

    /// Panics with the end of the build log unless the build succeeded.
    fn require(&self) {
        if !self.ok {
            const TAIL: usize = 12;
            let lines: Vec<&str> = self.log.lines().collect();
            let tail = lines[lines.len().saturating_sub(TAIL)..].join("\n");
            panic!(
                "building the unikernel with {} failed; the end of the build log (all of it is \
                 in {}):\n{tail}",
                self.linker.name(),
                self.dir.join("build.log").display(),
            );
        }
    }
}

fn build(linker: Linker) -> Build {
    let dir = tests_dir().join("unikernel").join(linker.name());
    let linker_arg = match linker {
        Linker::Bfd => String::new(),
        Linker::Spacer => linker_dir().to_string_lossy().into_owned(),
    };
    let script = manifest_dir().join("testdata/unikernel/build.sh");
    let out = run(
        Command::new("bash").arg(&script).arg(&linker_arg).arg(&dir),
        BUILD_TIMEOUT,
    );
    let ok = out.code() == Some(0);
    let mut log = format!("{}{}", out.stdout, out.stderr);
    let _ = writeln!(
        log,
        "build.sh {}: {} after {:.2?}",
        linker.name(),
        out.describe(),
        out.elapsed
    );
    // build.sh starts by emptying the directory; keep the log beside the products.
    if dir.is_dir() {
        let _ = fs::write(dir.join("build.log"), &log);
    }
    eprintln!(
        "unikernel: build with {}: {} in {:.2?}",
        linker.name(),
        if ok { "ok" } else { "FAILED" },
        out.elapsed
    );
    Build {
        linker,
        dir,
        ok,
        log,
        elapsed: out.elapsed,
    }
}

/// Both builds, made once per test process (in parallel), under a lock file so that two test
/// processes do not build into the same directories at once.
fn builds() -> &'static (Build, Build) {
    static BUILDS: OnceLock<(Build, Build)> = OnceLock::new();
    static LOCK: OnceLock<fs::File> = OnceLock::new();
    BUILDS.get_or_init(|| {
        let root = tests_dir().join("unikernel");
        fs::create_dir_all(&root).unwrap_or_else(|e| panic!("creating {}: {e}", root.display()));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(tests_dir().join("unikernel.lock"))
            .expect("opening the unikernel lock file");
        lock.lock().expect("locking the unikernel lock file");
        // Held until the process exits: the tests read the products after building.
        let _ = LOCK.set(lock);
        let spacer = std::thread::spawn(|| build(Linker::Spacer));
        let bfd = build(Linker::Bfd);
        (
            bfd,
            spacer.join().expect("the spacer build thread panicked"),
        )
    })
}

struct Boot {
    out: Output,
}

impl Boot {
    fn serial(&self) -> &str {
        &self.out.stdout
    }

    fn report(&self, name: &str) -> String {
        format!(
            "--- {name}: qemu {} after {:.2?}; serial output:\n{}--- {name}: qemu stderr:\n{}",
            self.out.describe(),
            self.out.elapsed,
            self.out.stdout,
            self.out.stderr
        )
    }
}

fn boot(build: &Build) -> Boot {
    let out = run(
        Command::new(QEMU)
            .args([
                "-nodefaults",
                "-display",
                "none",
                "-no-reboot",
                "-accel",
                "tcg",
                "-m",
                "64",
                "-serial",
                "stdio",
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-kernel",
            ])
            .arg(build.dir.join("kernel.elf32")),
        BOOT_TIMEOUT,
    );
    let _ = fs::write(build.dir.join("serial.txt"), &out.stdout);
    eprintln!(
        "unikernel: boot of the {} kernel: {} in {:.2?}",
        build.linker.name(),
        out.describe(),
        out.elapsed
    );
    Boot { out }
}

/// The expected lines that do not appear, in order, in `serial`.
fn missing_lines(serial: &str) -> Vec<&'static str> {
    let mut lines = serial.lines().map(str::trim_end);
    let mut missing = Vec::new();
    for want in EXPECTED_LINES {
        // Search from where the previous expected line was found; a missing line does not
        // consume the rest of the output.
        let mut probe = lines.clone();
        if probe.any(|l| l == *want) {
            lines = probe;
        } else {
            missing.push(*want);
        }
    }
    missing
}

#[test]
fn unikernel_boots_identically() {
    if find_in_path(QEMU).is_none() {
        if in_ci() {
            panic!("{QEMU} not found (install qemu-system-x86, see scripts/setup.sh)");
        }
        eprintln!("SKIPPED unikernel_boots_identically: {QEMU} not found (apt-get install qemu-system-x86)");
        return;
    }
    let (bfd, spacer) = builds();

    bfd.require();
    let bfd_boot = boot(bfd);
    let missing = missing_lines(bfd_boot.serial());
    if bfd_boot.out.code() != Some(EXIT_SUCCESS) || !missing.is_empty() {
        panic!(
            "the ld.bfd-linked unikernel (the reference) did not boot as expected: {} \
             (want exit status {EXIT_SUCCESS}); missing lines: {missing:#?}\n{}\nkernel and \
             build log in {}",
            bfd_boot.out.describe(),
            bfd_boot.report("bfd"),
            bfd.dir.display()
        );
    }

    spacer.require();
    let spacer_boot = boot(spacer);
    let mut problems = Vec::new();
    if spacer_boot.out.code() != Some(EXIT_SUCCESS) {
        problems.push(format!(
            "the spacer-linked kernel ended with {} (want status {EXIT_SUCCESS})",
            spacer_boot.out.describe()
        ));
    }
    if spacer_boot.serial() != bfd_boot.serial() {
        let first = bfd_boot
            .serial()
            .lines()
            .zip(spacer_boot.serial().lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| {
                bfd_boot
                    .serial()
                    .lines()
                    .count()
                    .min(spacer_boot.serial().lines().count())
            });
        problems.push(format!(
            "serial output differs from ld.bfd's, first at line {}: bfd {:?}, spacer {:?}",
            first + 1,
            bfd_boot
                .serial()
                .lines()
                .nth(first)
                .unwrap_or("<end of output>"),
            spacer_boot
                .serial()
                .lines()
                .nth(first)
                .unwrap_or("<end of output>"),
        ));
    }
    if !problems.is_empty() {
        panic!(
            "{}\n{}\n{}\nkernels in {} and {}",
            problems.join("\n"),
            bfd_boot.report("bfd"),
            spacer_boot.report("spacer"),
            bfd.dir.display(),
            spacer.dir.display()
        );
    }
    eprintln!(
        "unikernel: builds took {:.2?} (bfd) and {:.2?} (spacer); boots {:.2?} and {:.2?}",
        bfd.elapsed, spacer.elapsed, bfd_boot.out.elapsed, spacer_boot.out.elapsed
    );
}

// ---------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Clone)]
struct Section {
    kind: String,
    addr: u64,
    size: u64,
    flags: String,
    align: u64,
}

#[derive(Debug, PartialEq)]
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
    sections: BTreeMap<String, Section>,
    /// Allocated sections in section-header order.
    alloc_order: Vec<String>,
    segments: Vec<Segment>,
    /// Section names per program header, as readelf's "Section to Segment mapping" shows them.
    mapping: Vec<String>,
    /// Defined symbols: name -> sorted addresses (local names may repeat).
    symbols: BTreeMap<String, Vec<u64>>,
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("bad hex number {s:?}: {e}"))
}

fn layout(path: &Path) -> Layout {
    let p = path.to_str().unwrap();
    let headers = tool(&["readelf", "-hW", p]);
    let entry = headers
        .lines()
        .find_map(|l| l.trim().strip_prefix("Entry point address:"))
        .map(|v| hex(v.trim()))
        .expect("readelf -h shows the entry point");

    let mut sections = BTreeMap::new();
    let mut alloc_order = Vec::new();
    for line in tool(&["readelf", "-SW", p]).lines() {
        // "  [ 2] .text  PROGBITS  0000000000100010 001010 0011cd 00  AX  0   0 16"
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
        let (flags, align) = if f.len() >= 10 {
            (f[6].to_string(), f[9])
        } else {
            (String::new(), f[8])
        };
        let sec = Section {
            kind: f[1].to_string(),
            addr: hex(f[2]),
            size: hex(f[4]),
            flags,
            align: align.parse().unwrap_or(0),
        };
        if sec.flags.contains('A') {
            alloc_order.push(f[0].to_string());
        }
        sections.insert(f[0].to_string(), sec);
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
            // "   01     .rodata .uk_ctortab ..." (an empty segment has only its number)
            let mut words = t.split_whitespace();
            if words.next().is_some_and(|n| n.parse::<u32>().is_ok()) {
                mapping.push(words.collect::<Vec<_>>().join(" "));
            }
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        if f.len() >= 7 && f[1].starts_with("0x") && f[2].starts_with("0x") {
            // Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg(1-3 words) Align
            let align = f[f.len() - 1];
            segments.push(Segment {
                kind: f[0].to_string(),
                vaddr: hex(f[2]),
                paddr: hex(f[3]),
                filesz: hex(f[4]),
                memsz: hex(f[5]),
                flags: f[6..f.len() - 1].join(""),
                align: hex(align),
            });
        }
    }

    let mut symbols: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in tool(&["nm", "--defined-only", p]).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 3 {
            symbols.entry(f[2].to_string()).or_default().push(hex(f[0]));
        }
    }
    for addrs in symbols.values_mut() {
        addrs.sort_unstable();
    }

    Layout {
        entry,
        sections,
        alloc_order,
        segments,
        mapping,
        symbols,
    }
}

fn fmt_addrs(addrs: Option<&Vec<u64>>) -> String {
    match addrs {
        None => "undefined".to_string(),
        Some(a) => a
            .iter()
            .map(|v| format!("{v:#x}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Every way spacer's `kernel.dbg` differs from ld.bfd's in what the script decides.
fn layout_differences(bfd: &Layout, spacer: &Layout) -> Vec<String> {
    let mut diffs = Vec::new();

    if bfd.entry != spacer.entry {
        diffs.push(format!(
            "entry point: bfd {:#x}, spacer {:#x}",
            bfd.entry, spacer.entry
        ));
    }

    // Output sections: the script names them, places them and fixes their order.
    for name in SECTIONS {
        match (bfd.sections.get(*name), spacer.sections.get(*name)) {
            (None, None) => diffs.push(format!("section {name}: missing from both outputs")),
            (Some(_), None) => diffs.push(format!("section {name}: missing in spacer's output")),
            (None, Some(_)) => diffs.push(format!("section {name}: missing in bfd's output")),
            (Some(b), Some(s)) => {
                if b.addr != s.addr {
                    diffs.push(format!(
                        "section {name}: address bfd {:#x}, spacer {:#x}",
                        b.addr, s.addr
                    ));
                }
                if b.size != s.size {
                    diffs.push(format!(
                        "section {name}: size bfd {:#x}, spacer {:#x}",
                        b.size, s.size
                    ));
                }
                if b.kind != s.kind {
                    diffs.push(format!(
                        "section {name}: type bfd {}, spacer {}",
                        b.kind, s.kind
                    ));
                }
                // TLS and writability (W, A, X, T) matter; readelf's other letters do not.
                let key = |f: &str| {
                    f.chars()
                        .filter(|c| "WAXT".contains(*c))
                        .collect::<String>()
                };
                if key(&b.flags) != key(&s.flags) {
                    diffs.push(format!(
                        "section {name}: flags bfd {}, spacer {}",
                        b.flags, s.flags
                    ));
                }
            }
        }
    }
    // Any other allocated section ld.bfd made (or spacer made and ld.bfd did not).
    let known: BTreeSet<&str> = SECTIONS.iter().copied().collect();
    for name in bfd.alloc_order.iter().chain(&spacer.alloc_order) {
        if known.contains(name.as_str()) {
            continue;
        }
        let (b, s) = (bfd.sections.get(name), spacer.sections.get(name));
        if b.map(|x| (x.addr, x.size)) != s.map(|x| (x.addr, x.size)) {
            diffs.push(format!(
                "allocated section {name}: bfd {}, spacer {}",
                b.map_or("absent".into(), |x| format!(
                    "at {:#x} size {:#x}",
                    x.addr, x.size
                )),
                s.map_or("absent".into(), |x| format!(
                    "at {:#x} size {:#x}",
                    x.addr, x.size
                )),
            ));
        }
    }
    let order = |l: &Layout| -> Vec<String> {
        let mut v: Vec<(u64, String)> = l
            .alloc_order
            .iter()
            .filter(|n| l.sections[*n].size > 0)
            .map(|n| (l.sections[n].addr, n.clone()))
            .collect();
        v.sort();
        v.into_iter().map(|(_, n)| n).collect()
    };
    if order(bfd) != order(spacer) {
        diffs.push(format!(
            "allocated sections in address order: bfd {:?}, spacer {:?}",
            order(bfd),
            order(spacer)
        ));
    }

    // Program headers: PHDRS fixes their number, order, types and flags, and the sections
    // decide addresses and sizes.  File offsets are the linker's choice.
    if bfd.segments.len() != spacer.segments.len() {
        diffs.push(format!(
            "program headers: bfd has {}, spacer {}",
            bfd.segments.len(),
            spacer.segments.len()
        ));
    }
    let loads = |l: &Layout| l.segments.iter().filter(|s| s.kind == "LOAD").count();
    if loads(bfd) != loads(spacer) {
        diffs.push(format!(
            "PT_LOAD count: bfd {}, spacer {}",
            loads(bfd),
            loads(spacer)
        ));
    }
    for i in 0..bfd.segments.len().max(spacer.segments.len()) {
        match (bfd.segments.get(i), spacer.segments.get(i)) {
            (Some(b), Some(s)) => {
                // The alignment of a segment with no sections (PT_GNU_STACK) is not decided
                // by the script.
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
            (Some(b), None) => diffs.push(format!("program header {i}: bfd {b}, spacer none")),
            (None, Some(s)) => diffs.push(format!("program header {i}: bfd none, spacer {s}")),
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

    // The script's symbols, then every other symbol ld.bfd's output defines: with the input
    // order the script fixes, every function and variable lands at the same address.
    for name in SCRIPT_SYMBOLS {
        let (b, s) = (bfd.symbols.get(*name), spacer.symbols.get(*name));
        if b != s {
            diffs.push(format!(
                "script symbol {name}: bfd {}, spacer {}",
                fmt_addrs(b),
                fmt_addrs(s)
            ));
        }
    }
    let script: BTreeSet<&str> = SCRIPT_SYMBOLS.iter().copied().collect();
    let mut other = Vec::new();
    for (name, b) in &bfd.symbols {
        if script.contains(name.as_str()) {
            continue;
        }
        let s = spacer.symbols.get(name);
        if s != Some(b) {
            other.push(format!(
                "symbol {name}: bfd {}, spacer {}",
                fmt_addrs(Some(b)),
                fmt_addrs(s)
            ));
        }
    }
    const MAX_OTHER: usize = 40;
    let n = other.len();
    diffs.extend(other.into_iter().take(MAX_OTHER));
    if n > MAX_OTHER {
        diffs.push(format!("... and {} more symbols differ", n - MAX_OTHER));
    }
    diffs
}

#[test]
fn unikernel_layout_matches_gnu_ld() {
    let (bfd, spacer) = builds();
    bfd.require();
    spacer.require();
    let b = layout(&bfd.kernel_dbg());
    let s = layout(&spacer.kernel_dbg());
    let diffs = layout_differences(&b, &s);
    if !diffs.is_empty() {
        let note = match (b.sections.get(".rodata"), s.sections.get(".rodata")) {
            (Some(x), Some(y)) if x.size != y.size => {
                "\nnote: .rodata sizes differ, which moves every later section of its segment \
                 (.uk_ctortab, .uk_inittab, .uk_libinfo, .init_array); the corpus has no string \
                 that is the tail of another, so string merging alone should not cause it"
            }
            _ => "",
        };
        panic!(
            "spacer's kernel.dbg differs from ld.bfd's in {} ways:\n  {}{note}\ncompare:\n  \
             readelf -lSW {}\n  readelf -lSW {}",
            diffs.len(),
            diffs.join("\n  "),
            bfd.kernel_dbg().display(),
            spacer.kernel_dbg().display()
        );
    }
}
