//! The Multiboot (version 1) boot protocol, as a boot loader speaks it: the kernel's header is
//! checked, an information structure (memory size and map, command line, loader name) is
//! written to low guest memory, and the CPU starts at the entry point in 32-bit protected mode
//! with paging off, EAX = 0x2BADB002 and EBX = the structure's address.

use super::memory::GuestMemory;
use anyhow::{bail, Result};
use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs};

const HEADER_MAGIC: u32 = 0x1BAD_B002;
const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
/// The header must lie 4-byte aligned within the image file's first 8 KiB.
const HEADER_SEARCH: usize = 8192;
/// Header flags a loader must honour or refuse: bit 2 asks for a video mode.
const FLAG_VIDEO_MODE: u32 = 1 << 2;

const INFO_MEMORY: u32 = 1 << 0;
const INFO_CMDLINE: u32 = 1 << 2;
const INFO_MEM_MAP: u32 = 1 << 6;
const INFO_LOADER_NAME: u32 = 1 << 9;

/// Where the information structure and its strings go: conventional memory below 640 KiB,
/// which kernels loaded at 1 MiB leave alone.
const INFO_ADDR: u64 = 0x9000;
const CMDLINE_ADDR: u64 = 0x9400;
const CMDLINE_MAX: usize = 0xb00;
const LOADER_NAME_ADDR: u64 = 0x9f00;
const MMAP_ADDR: u64 = 0xa000;
/// Stack pointer at entry (the protocol leaves it undefined; kernels set their own).
const BOOT_STACK: u64 = 0x8ff0;
const LOW_MEMORY_END: u64 = 0x9_fc00;
const HIGH_MEMORY: u64 = 0x10_0000;

/// Refuses an image without a valid Multiboot header, or one asking for what spacer vm lacks.
pub fn check_header(file: &[u8], name: &str) -> Result<()> {
    let word = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
    let end = file.len().min(HEADER_SEARCH);
    let at = (0..end.saturating_sub(11)).step_by(4).find(|&at| {
        word(at) == HEADER_MAGIC
            && word(at)
                .wrapping_add(word(at + 4))
                .wrapping_add(word(at + 8))
                == 0
    });
    let Some(at) = at else {
        bail!("{name}: no Multiboot header in the first 8 KiB of the image; spacer vm boots Multiboot (version 1) kernels");
    };
    if word(at + 4) & FLAG_VIDEO_MODE != 0 {
        bail!("{name}: the kernel asks for a video mode (Multiboot flag 2); spacer vm has a serial console only");
    }
    Ok(())
}

/// Writes the information structure for a guest with `mem.size()` bytes of memory.
pub fn write_info(mem: &mut GuestMemory, cmdline: &str) -> Result<u64> {
    if cmdline.len() >= CMDLINE_MAX || cmdline.contains('\0') {
        bail!("the kernel command line is longer than {CMDLINE_MAX} bytes or holds a NUL");
    }
    let size = mem.size();
    if size < 2 * HIGH_MEMORY {
        bail!("guest memory of {size:#x} bytes is too small (at least 2 MiB)");
    }
    let mut cmd = cmdline.as_bytes().to_vec();
    cmd.push(0);
    mem.write(CMDLINE_ADDR, &cmd)?;
    mem.write(LOADER_NAME_ADDR, b"spacer vm\0")?;
    // The memory map: conventional memory, then everything from 1 MiB up (entries are
    // size-prefixed: size 20, base, length, type 1 = available).
    let mut map = Vec::new();
    for (base, len) in [(0, LOW_MEMORY_END), (HIGH_MEMORY, size - HIGH_MEMORY)] {
        map.extend_from_slice(&20u32.to_le_bytes());
        map.extend_from_slice(&base.to_le_bytes());
        map.extend_from_slice(&len.to_le_bytes());
        map.extend_from_slice(&1u32.to_le_bytes());
    }
    mem.write(MMAP_ADDR, &map)?;
    let mut info = [0u32; 22];
    info[0] = INFO_MEMORY | INFO_CMDLINE | INFO_MEM_MAP | INFO_LOADER_NAME;
    info[1] = (LOW_MEMORY_END / 1024) as u32;
    info[2] = ((size - HIGH_MEMORY) / 1024).min(u32::MAX as u64) as u32;
    info[4] = CMDLINE_ADDR as u32;
    info[11] = map.len() as u32;
    info[12] = MMAP_ADDR as u32;
    info[16] = LOADER_NAME_ADDR as u32;
    let bytes: Vec<u8> = info.iter().flat_map(|w| w.to_le_bytes()).collect();
    mem.write(INFO_ADDR, &bytes)?;
    Ok(INFO_ADDR)
}

/// A flat 4 GiB segment of `kind` (0xb: code, execute/read; 0x3: data, read/write).
fn flat(selector: u16, kind: u8) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: kind,
        present: 1,
        dpl: 0,
        db: 1,
        s: 1,
        l: 0,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// The registers at the entry point, changed from the vCPU's reset state `sregs`.
pub fn entry_state(entry: u64, info: u64, mut sregs: kvm_sregs) -> Result<(kvm_regs, kvm_sregs)> {
    if entry > u32::MAX as u64 {
        bail!("the entry point {entry:#x} is above 4 GiB, out of reach of 32-bit protected mode");
    }
    let code = flat(0x10, 0xb);
    let data = flat(0x18, 0x3);
    sregs.cs = code;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    // Protected mode (PE) with paging off; ET as on every processor since the 486.
    sregs.cr0 = 0x11;
    sregs.cr4 = 0;
    sregs.efer = 0;
    let regs = kvm_regs {
        rax: BOOTLOADER_MAGIC as u64,
        rbx: info,
        rip: entry,
        rsp: BOOT_STACK,
        // Bit 1 is always set; IF and VM clear, as the protocol requires.
        rflags: 0x2,
        ..Default::default()
    };
    Ok((regs, sregs))
}
