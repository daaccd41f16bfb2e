//! The test unikernel of `testdata/unikernel/`: building it with its build.sh and booting it
//! under QEMU (`tests/unikernel.rs`, `tests/unikernel_layout.rs`, `tests/digests.rs`).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{linker_dir, manifest_dir, require_tool, run_with_timeout, RunResult};

pub const QEMU: &str = "qemu-system-x86_64";
/// How long one boot may take (TCG; the kernel needs well under a second).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// QEMU's exit status when the kernel writes its success code (0x2a) to isa-debug-exit:
/// `(0x2a << 1) | 1`.
pub const EXIT_SUCCESS: i32 = 85;

/// Whether QEMU is installed; see [`require_tool`] (outside CI a missing QEMU skips the test).
pub fn qemu_available() -> bool {
    require_tool(QEMU, "qemu-system-x86")
}

/// `bash testdata/unikernel/build.sh LINKER_DIR OUT_DIR`: the kernel linked by spacer (gcc
/// runs it through `-B`, for the partial links and the final link alike) or, with `spacer`
/// false, by the system linker (ld.bfd).  The build empties `out` first.
pub fn build_command(spacer: bool, out: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(manifest_dir().join("testdata/unikernel/build.sh"));
    if spacer {
        cmd.arg(linker_dir());
    } else {
        cmd.arg("");
    }
    cmd.arg(out);
    cmd
}

/// Boots a kernel (`kernel.elf32`, which QEMU's multiboot loader takes) under QEMU with TCG;
/// the serial output is the standard output.
pub fn boot(kernel_elf32: &Path) -> RunResult {
    let mut cmd = Command::new(QEMU);
    cmd.args([
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
    .arg(kernel_elf32);
    run_with_timeout(&mut cmd, BOOT_TIMEOUT)
}

/// Boots `<dir>/kernel.elf32`, keeps the serial output in `<dir>/serial.txt` and reports the
/// outcome on stderr, after `what` (e.g. "unikernel: boot of the bfd kernel").
pub fn boot_in(dir: &Path, what: &str) -> RunResult {
    let r = boot(&dir.join("kernel.elf32"));
    let _ = fs::write(dir.join("serial.txt"), &r.stdout);
    eprintln!("{what}: {} in {:.2?}", r.describe(), r.elapsed);
    r
}

/// The last `lines` lines of a build log.
pub fn log_tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
