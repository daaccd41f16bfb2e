//! `spacer run IMAGE [ARGS...]`: start a static executable with its read-only pages mapped from
//! a content-addressed page store (`/dev/shm/spacer-UID` by default), so that processes started this
//! way share the physical pages of identical code and read-only data without a kernel change.
//!
//! A page whose digest is in the store is mapped from there after its content is checked
//! against the digest; a missing page is checked against the image's digest and added
//! atomically (written to a temporary file, then renamed). Writable pages are private copies.
//! The program then starts on a fresh stack with the usual argc/argv/envp/auxv.
//! Static executables at fixed addresses (ET_EXEC) load where they are linked; static PIEs at an
//! address the kernel picks.  Caveats: `/proc/self/exe` names spacer, not the image; every
//! loaded segment must start on its own page.

use crate::pages::digest::{self, PageEntry, PAGE};
use anyhow::{anyhow, bail, Context, Result};
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian as LE;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn prot_of(flags: u32) -> i32 {
    let mut p = 0;
    if flags & elf::PF_R != 0 {
        p |= libc::PROT_READ;
    }
    if flags & elf::PF_W != 0 {
        p |= libc::PROT_WRITE;
    }
    if flags & elf::PF_X != 0 {
        p |= libc::PROT_EXEC;
    }
    p
}

pub fn run(image: &Path, args: &[String], store: &Path) -> Result<std::convert::Infallible> {
    // Mapped, not read: the image's bytes must not stay behind as private memory of the
    // started program.
    let file =
        std::fs::File::open(image).with_context(|| format!("cannot read {}", image.display()))?;
    // SAFETY: read-only mapping of the image; spacer does not write to it.
    let data = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("cannot map {}", image.display()))?;
    let name = image.display().to_string();
    let hdr = elf::FileHeader64::<LE>::parse(&*data)
        .map_err(|e| anyhow!("{name}: not an ELF64 image: {e}"))?;
    let segs = digest::load_segments(&data).with_context(|| name.clone())?;
    let base = load_base(hdr, &data, &name, &segs)?;
    // The image's own digests when it has them (verified page by page below), else computed.
    let recorded = digest::Recorded::read(&data).with_context(|| name.clone())?;
    let store = super::store::Store::open(store)?;

    let mut mapped: std::collections::HashSet<u64> = Default::default();
    let mut k = 0usize;
    for s in &segs {
        let start = s.vaddr / PAGE * PAGE;
        let end = (s.vaddr + s.memsz).next_multiple_of(PAGE);
        for page in (start..end).step_by(PAGE as usize) {
            if !mapped.insert(page) {
                bail!("{name}: two segments share the page at {page:#x}; spacer run needs page-aligned segments");
            }
            let mut content = [0u8; PAGE as usize];
            let file_bytes = digest::page_bytes(&data, s, page, &mut content);
            let digest = recorded
                .digest(k, page, s.flags, &content)
                .with_context(|| name.clone())?;
            let entry = PageEntry {
                vaddr: page,
                offset: 0,
                flags: s.flags,
                file_bytes,
                digest,
            };
            k += 1;
            let addr = (base + page) as *mut libc::c_void;
            // SAFETY: mapping at an address range we checked is not yet mapped by us
            // (MAP_FIXED_NOREPLACE refuses to replace anything that is).
            unsafe {
                // A zero page of a writable segment (.bss) is anonymous and untouched, so it
                // costs no memory until the program writes to it, as under execve.  Every other
                // page comes from the store, privately: writable ones are copied on first
                // write, so data pages the program only reads stay shared too.
                let zero = s.flags & elf::PF_W != 0 && content.iter().all(|&b| b == 0);
                let p = if zero {
                    libc::mmap(
                        addr,
                        PAGE as usize,
                        prot_of(s.flags),
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                        -1,
                        0,
                    )
                } else {
                    use std::os::unix::io::AsRawFd;
                    let f = store.page(&entry, &content)?;
                    libc::mmap(
                        addr,
                        PAGE as usize,
                        prot_of(s.flags),
                        libc::MAP_PRIVATE | libc::MAP_FIXED_NOREPLACE,
                        f.as_raw_fd(),
                        0,
                    )
                };
                if p != addr {
                    bail!("{name}: cannot map page {:#x}: address in use", base + page);
                }
            }
        }
    }

    // Program headers must be readable in memory for the C library (AT_PHDR).
    let phoff = hdr.e_phoff(LE);
    let phdr_addr = segs
        .iter()
        .find(|s| s.offset <= phoff && phoff < s.offset + s.filesz)
        .map(|s| base + s.vaddr + (phoff - s.offset))
        .ok_or_else(|| anyhow!("{name}: the program headers are not in a loaded segment"))?;

    // The new stack: strings, random bytes, then auxv, envp, argv and argc below them.
    const STACK: usize = 8 << 20;
    // SAFETY: a fresh anonymous mapping of our own.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        bail!("cannot allocate a stack");
    }
    let top = stack as u64 + STACK as u64;
    let mut sp = top;
    let mut push_bytes = |b: &[u8]| -> u64 {
        sp -= b.len() as u64;
        // SAFETY: inside the stack mapping (strings are far smaller than it).
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), sp as *mut u8, b.len()) };
        sp
    };
    let mut argv_ptrs = Vec::new();
    let argv0 = CString::new(image.as_os_str().as_bytes())
        .map_err(|_| anyhow!("image path contains NUL"))?;
    let execfn = push_bytes(argv0.as_bytes_with_nul());
    argv_ptrs.push(execfn);
    for a in args {
        let c = CString::new(a.as_bytes()).map_err(|_| anyhow!("argument contains NUL"))?;
        argv_ptrs.push(push_bytes(c.as_bytes_with_nul()));
    }
    let mut env_ptrs = Vec::new();
    for (k, v) in std::env::vars_os() {
        let mut e = k.as_bytes().to_vec();
        e.push(b'=');
        e.extend_from_slice(v.as_bytes());
        e.push(0);
        env_ptrs.push(push_bytes(&e));
    }
    let mut random = [0u8; 16];
    // SAFETY: getrandom into a local buffer.
    unsafe { libc::getrandom(random.as_mut_ptr() as *mut libc::c_void, 16, 0) };
    let random_ptr = push_bytes(&random);
    // SAFETY: getauxval only reads our own auxiliary vector.
    let aux = |t: u64| unsafe { libc::getauxval(t) };
    let auxv: Vec<(u64, u64)> = vec![
        (libc::AT_PHDR, phdr_addr),
        (libc::AT_PHENT, 56),
        (libc::AT_PHNUM, hdr.e_phnum(LE) as u64),
        (libc::AT_PAGESZ, PAGE),
        (libc::AT_BASE, 0),
        (libc::AT_FLAGS, 0),
        (libc::AT_ENTRY, base + hdr.e_entry(LE)),
        (libc::AT_UID, aux(libc::AT_UID)),
        (libc::AT_EUID, aux(libc::AT_EUID)),
        (libc::AT_GID, aux(libc::AT_GID)),
        (libc::AT_EGID, aux(libc::AT_EGID)),
        (libc::AT_SECURE, 0),
        (libc::AT_RANDOM, random_ptr),
        (libc::AT_HWCAP, aux(libc::AT_HWCAP)),
        (libc::AT_HWCAP2, aux(libc::AT_HWCAP2)),
        (libc::AT_CLKTCK, aux(libc::AT_CLKTCK)),
        (libc::AT_SYSINFO_EHDR, aux(libc::AT_SYSINFO_EHDR)),
        (libc::AT_EXECFN, execfn),
        (libc::AT_NULL, 0),
    ];
    let words = 1 + argv_ptrs.len() + 1 + env_ptrs.len() + 1 + 2 * auxv.len();
    sp = (sp - 8 * words as u64) & !15;
    let mut w = sp as *mut u64;
    // SAFETY: writes inside the stack mapping, below the strings.
    unsafe {
        let mut put = |v: u64| {
            *w = v;
            w = w.add(1);
        };
        put(argv_ptrs.len() as u64);
        for &p in &argv_ptrs {
            put(p);
        }
        put(0);
        for &p in &env_ptrs {
            put(p);
        }
        put(0);
        for &(t, v) in &auxv {
            put(t);
            put(v);
        }
        let entry = base + hdr.e_entry(LE);
        // Release what spacer itself holds before the program takes over this process.
        drop(recorded);
        drop(data);
        drop(file);
        let keep: Vec<(u64, u64)> = mapped
            .iter()
            .map(|&p| (base + p, base + p + PAGE))
            .chain(std::iter::once((stack as u64, top)))
            .collect();
        reset_signals();
        let mut keep = keep;
        if let Some(area) = unregister_rseq() {
            // Still registered: the kernel writes to it on every return to user space.
            keep.push(area);
        }
        let stub = handover_stub(&keep, sp, entry);
        // Leave through the stub: it unmaps spacer's own memory (code, heap, old stack), then
        // starts the program as the kernel does: rsp at argc, rdx = 0 (no exit function).
        std::arch::asm!("jmp {stub}", stub = in(reg) stub, options(noreturn));
    }
}

/// Where the image's addresses start in memory: 0 for a fixed-address executable (ET_EXEC); for
/// a static PIE (ET_DYN without an interpreter), a free range large enough for all its segments,
/// chosen by the kernel as for any mapping.  The program relocates itself.
fn load_base(
    hdr: &elf::FileHeader64<LE>,
    data: &[u8],
    name: &str,
    segs: &[digest::LoadSeg],
) -> Result<u64> {
    match hdr.e_type(LE) {
        elf::ET_EXEC => return Ok(0),
        elf::ET_DYN => {}
        _ => bail!("{name}: not an executable"),
    }
    let phdrs = hdr
        .program_headers(LE, data)
        .map_err(|e| anyhow!("{name}: bad program headers: {e}"))?;
    if phdrs.iter().any(|p| p.p_type(LE) == elf::PT_INTERP) {
        bail!("{name}: a dynamically linked program (it names an interpreter) cannot be started with spacer run");
    }
    let align = phdrs
        .iter()
        .filter(|p| p.p_type(LE) == elf::PT_LOAD)
        .map(|p| p.p_align(LE))
        .max()
        .unwrap_or(PAGE)
        .max(PAGE);
    let span = segs
        .iter()
        .map(|s| (s.vaddr + s.memsz).next_multiple_of(PAGE))
        .max()
        .unwrap_or(PAGE);
    // SAFETY: an inaccessible anonymous reservation, released at once: only its address is
    // used, and the pages are then mapped there one by one (MAP_FIXED_NOREPLACE).
    unsafe {
        let len = (span + align) as usize;
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            bail!("{name}: no room for {span:#x} bytes of address space");
        }
        libc::munmap(p, len);
        Ok((p as u64).next_multiple_of(align))
    }
}

/// Gives the program the signal state a fresh `execve` gives: spacer's own handlers (the Rust
/// runtime's, whose code is about to be unmapped) and its ignored SIGPIPE go back to the
/// default, and the alternate signal stack is switched off.
fn reset_signals() {
    // SAFETY: plain signal-state system calls on this single-threaded process.
    unsafe {
        for sig in 1..libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            if old.sa_sigaction != libc::SIG_DFL
                && (old.sa_sigaction != libc::SIG_IGN || sig == libc::SIGPIPE)
            {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let ss = libc::stack_t {
            ss_sp: std::ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        libc::sigaltstack(&ss, std::ptr::null_mut());
    }
}

/// Takes back the C library's restartable-sequences registration: the area lives in
/// spacer's thread block, which the stub unmaps, and the program registers its own.  Returns the
/// pages of the area if it is still registered.
fn unregister_rseq() -> Option<(u64, u64)> {
    extern "C" {
        static __rseq_offset: isize;
        static __rseq_size: u32;
    }
    const RSEQ_SIG: u32 = 0x5305_3053;
    const RSEQ_FLAG_UNREGISTER: i32 = 1;
    // SAFETY: reads the C library's exported rseq description and the thread pointer; the
    // system call only fails (EINVAL) if the description does not match the registration.
    unsafe {
        if __rseq_size == 0 {
            return None;
        }
        let tp: u64;
        std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly));
        let area = tp.wrapping_add(__rseq_offset as u64);
        // The registered length is the size of the kernel's `struct rseq` (32 bytes) in the C
        // libraries that report a smaller feature size.
        for len in [__rseq_size, 32] {
            let r = libc::syscall(libc::SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
            if r == 0 {
                return None;
            }
        }
        Some((area / PAGE * PAGE, (area + 32).next_multiple_of(PAGE)))
    }
}

/// Writes the machine code that hands the process over to the program: `munmap` of every
/// mapping spacer made for itself (all but `keep`, the kernel's vDSO pages and the stub's own
/// page), then the jump to `entry` with `rsp` = `sp`. Returns the stub's address.
fn handover_stub(keep: &[(u64, u64)], sp: u64, entry: u64) -> u64 {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for line in maps.lines() {
        let mut parts = line.split_whitespace();
        let Some((a, b)) = parts.next().and_then(|r| r.split_once('-')) else {
            continue;
        };
        let name = parts.nth(4).unwrap_or("");
        if matches!(name, "[vdso]" | "[vvar]" | "[vsyscall]" | "[vvar_vclock]") {
            continue;
        }
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        // Everything goes, the heap and unnamed mappings too: the stub clears %fs first, so
        // nothing points at spacer's thread state any more (the kernel starts a program with
        // %fs = 0 as well).
        ranges.push((a, b));
    }
    // The stub's own page is mapped after /proc/self/maps was read, so it is not in `ranges`.
    let mut keep: Vec<(u64, u64)> = keep.to_vec();
    keep.sort();
    let mut code: Vec<u8> = Vec::new();
    let imm = |code: &mut Vec<u8>, op: &[u8], v: u64| {
        code.extend_from_slice(op);
        code.extend_from_slice(&v.to_le_bytes());
    };
    // mov rax, nr; mov rdi, a; mov rsi, b; syscall
    let syscall2 = |code: &mut Vec<u8>, nr: u64, a: u64, b: u64| {
        imm(code, &[0x48, 0xb8], nr);
        imm(code, &[0x48, 0xbf], a);
        imm(code, &[0x48, 0xbe], b);
        code.extend_from_slice(&[0x0f, 0x05]);
    };
    const SYS_ARCH_PRCTL: u64 = 158;
    const ARCH_SET_FS: u64 = 0x1002;
    const SYS_MUNMAP: u64 = 11;
    syscall2(&mut code, SYS_ARCH_PRCTL, ARCH_SET_FS, 0);
    for (a, b) in ranges {
        // The parts of [a, b) outside every kept range.
        let mut start = a;
        for &(ka, kb) in &keep {
            if kb <= start || ka >= b {
                continue;
            }
            if ka > start {
                syscall2(&mut code, SYS_MUNMAP, start, ka - start);
            }
            start = start.max(kb);
        }
        if start < b {
            syscall2(&mut code, SYS_MUNMAP, start, b - start);
        }
    }
    imm(&mut code, &[0x48, 0xbc], sp); // mov rsp, sp
    code.extend_from_slice(&[0x31, 0xed, 0x31, 0xd2]); // xor ebp, ebp; xor edx, edx
    imm(&mut code, &[0x48, 0xb8], entry); // mov rax, entry
    code.extend_from_slice(&[0xff, 0xe0]); // jmp rax
    let size = (code.len() as u64).next_multiple_of(PAGE) as usize;
    // SAFETY: a fresh anonymous mapping, exactly large enough for the stub.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        std::ptr::copy_nonoverlapping(code.as_ptr(), page as *mut u8, code.len());
        libc::mprotect(page, size, libc::PROT_READ | libc::PROT_EXEC);
        page as u64
    }
}
