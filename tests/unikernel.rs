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

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use common::elf_layout::{entry_difference, layout, segment_differences, Layout};
use common::unikernel::{boot_in, build_command, log_tail, qemu_available, EXIT_SUCCESS};
use common::*;

/// How long one build of the kernel may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

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
// Building and booting
// ---------------------------------------------------------------------------------------------

/// The name of a build's directory (`target/spacer-tests/unikernel/<name>/`), as the messages
/// call it too.
fn label(linker: Linker) -> &'static str {
    match linker {
        Linker::Bfd => "bfd",
        Linker::Spacer => "spacer",
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
            panic!(
                "building the unikernel with {} failed; the end of the build log (all of it is \
                 in {}):\n{}",
                label(self.linker),
                self.dir.join("build.log").display(),
                log_tail(&self.log, 12)
            );
        }
    }
}

/// Runs build.sh in a process group of its own, so that a timeout kills its gcc children too.
fn build(linker: Linker) -> Build {
    let dir = tests_dir().join("unikernel").join(label(linker));
    let out = run_group_with_timeout(
        &mut build_command(linker == Linker::Spacer, &dir),
        BUILD_TIMEOUT,
    );
    let ok = out.success();
    let mut log = format!("{}{}", out.stdout_str(), out.stderr_str());
    let _ = writeln!(
        log,
        "build.sh {}: {} after {:.2?}",
        label(linker),
        out.describe(),
        out.elapsed
    );
    // build.sh starts by emptying the directory; keep the log beside the products.
    if dir.is_dir() {
        let _ = fs::write(dir.join("build.log"), &log);
    }
    eprintln!(
        "unikernel: build with {}: {} in {:.2?}",
        label(linker),
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
    out: RunResult,
    serial: String,
}

impl Boot {
    fn serial(&self) -> &str {
        &self.serial
    }

    fn report(&self, name: &str) -> String {
        format!(
            "--- {name}: qemu {} after {:.2?}; serial output:\n{}--- {name}: qemu stderr:\n{}",
            self.out.describe(),
            self.out.elapsed,
            self.serial,
            self.out.stderr_str()
        )
    }
}

fn boot(build: &Build) -> Boot {
    let out = boot_in(
        &build.dir,
        &format!("unikernel: boot of the {} kernel", label(build.linker)),
    );
    Boot {
        serial: out.stdout_str(),
        out,
    }
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
    if !qemu_available() {
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

fn fmt_addrs(addrs: Option<&[u64]>) -> String {
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
    let mut diffs: Vec<String> = entry_difference(bfd, spacer).into_iter().collect();

    // Output sections: the script names them, places them and fixes their order.
    for name in SECTIONS {
        match (bfd.section(name), spacer.section(name)) {
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
                if b.waxt() != s.waxt() {
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
    for (name, _) in bfd.alloc().chain(spacer.alloc()) {
        if known.contains(name.as_str()) {
            continue;
        }
        let (b, s) = (bfd.section(name), spacer.section(name));
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
            .alloc()
            .map(|(n, _)| (n, l.section(n).unwrap()))
            .filter(|(_, s)| s.size > 0)
            .map(|(n, s)| (s.addr, n.clone()))
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
    let loads = |l: &Layout| l.segments.iter().filter(|s| s.kind == "LOAD").count();
    if loads(bfd) != loads(spacer) {
        diffs.push(format!(
            "PT_LOAD count: bfd {}, spacer {}",
            loads(bfd),
            loads(spacer)
        ));
    }
    diffs.extend(segment_differences(bfd, spacer));

    // The script's symbols, then every other symbol ld.bfd's output defines: with the input
    // order the script fixes, every function and variable lands at the same address.
    for name in SCRIPT_SYMBOLS {
        let (b, s) = (bfd.symbol_values(name), spacer.symbol_values(name));
        if b != s {
            diffs.push(format!(
                "script symbol {name}: bfd {}, spacer {}",
                fmt_addrs(b.as_deref()),
                fmt_addrs(s.as_deref())
            ));
        }
    }
    let script: BTreeSet<&str> = SCRIPT_SYMBOLS.iter().copied().collect();
    let mut other = Vec::new();
    for name in bfd.symbols.keys() {
        if script.contains(name.as_str()) {
            continue;
        }
        let (b, s) = (bfd.symbol_values(name), spacer.symbol_values(name));
        if s != b {
            other.push(format!(
                "symbol {name}: bfd {}, spacer {}",
                fmt_addrs(b.as_deref()),
                fmt_addrs(s.as_deref())
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
        let note = match (b.section(".rodata"), s.section(".rodata")) {
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
