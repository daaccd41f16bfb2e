//! Page digests (`--page-digests`, `spacer digest`, `spacer verify`, `spacer share`; the format
//! is in docs/page-digests.md), checked on real programs that are run after linking.
//!
//! The expected digests are computed here, independently of spacer: the program headers and
//! section headers are read by hand from the image bytes (and the PT_LOAD list is cross-checked
//! against `readelf -lW`), each segment is laid out in memory as the loader would see it (file
//! bytes, then zeros to the end of its last page) and every 4 KiB page is hashed.  Every entry
//! spacer records must equal this computation field by field, so an implementation cannot pass
//! by agreeing with itself.
//!
//! - `link_time_*`: glibc, musl and static-pie programs linked with `-Wl,--page-digests` carry a
//!   correct section, pass `spacer verify`, have the same program headers and behave exactly
//!   like the same link without the option; `spacer digest` refreshes such a section in place.
//! - `unikernel_page_digests`: the unikernel of `testdata/unikernel` (built by its build.sh with
//!   spacer), linked again with `--page-digests`: same loaded bytes, a correct section, and under
//!   QEMU the same serial output; program-header tampering where the headers are not loaded.
//! - `verify_rejects_tampering`: code bytes, digests, program headers, truncation and a corrupt
//!   section header each make `spacer verify` fail, naming the first bad page or the problem,
//!   and leave the file untouched.
//! - `digest_command_on_gnu_ld_output`: `spacer digest` on an ld.bfd-linked program.
//! - `share_*`: `spacer share` (text and `--json`) against counts computed here.
//! - `page_digests_are_deterministic`: repeated links and `--threads=1` give identical files.
//!
//! Run with `cargo test --release --test digests`.  Needs gcc and binutils; musl-gcc and
//! qemu-system-x86_64 are optional outside CI (see `require_tool`).  Scratch files stay in
//! `target/spacer-tests/digests/<test>/`.

mod common;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::unikernel as uk;
use common::*;
use sha1::{Digest, Sha1};

const PAGE: u64 = 4096;
const SECTION: &str = ".spacer.digests";
const HEADER_SIZE: usize = 40;
const ENTRY_SIZE: usize = 48;
const ZERO_FLAG: u32 = 1 << 31;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PT_LOAD: u32 = 1;
const SHT_PROGBITS: u32 = 1;
const SHF_ALLOC: u64 = 2;
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Reading ELF64 images by hand
// ---------------------------------------------------------------------------------------------

fn get<const N: usize>(b: &[u8], o: usize) -> Option<[u8; N]> {
    b.get(o..o.checked_add(N)?)?.try_into().ok()
}
fn try_u16(b: &[u8], o: usize) -> Option<u16> {
    get(b, o).map(u16::from_le_bytes)
}
fn try_u32(b: &[u8], o: usize) -> Option<u32> {
    get(b, o).map(u32::from_le_bytes)
}
fn try_u64(b: &[u8], o: usize) -> Option<u64> {
    get(b, o).map(u64::from_le_bytes)
}
fn u16_at(b: &[u8], o: usize) -> u16 {
    try_u16(b, o).unwrap()
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    try_u32(b, o).unwrap()
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    try_u64(b, o).unwrap()
}
fn put_u32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// One PT_LOAD program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Load {
    /// Index among all program headers.
    index: usize,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

fn check_elf64(image: &[u8]) {
    assert!(
        image.len() >= 64 && &image[..4] == b"\x7fELF" && image[4] == 2 && image[5] == 1,
        "not a little-endian ELF64 image"
    );
}

/// File position of program header `index`.
fn phdr_pos(image: &[u8], index: usize) -> usize {
    u64_at(image, 32) as usize + index * u16_at(image, 54) as usize
}

fn loads(image: &[u8]) -> Vec<Load> {
    check_elf64(image);
    (0..u16_at(image, 56) as usize)
        .filter_map(|i| {
            let p = phdr_pos(image, i);
            (u32_at(image, p) == PT_LOAD).then(|| Load {
                index: i,
                flags: u32_at(image, p + 4),
                offset: u64_at(image, p + 8),
                vaddr: u64_at(image, p + 16),
                filesz: u64_at(image, p + 32),
                memsz: u64_at(image, p + 40),
            })
        })
        .collect()
}

#[derive(Clone, Debug)]
struct Section {
    index: usize,
    name: String,
    sh_type: u32,
    flags: u64,
    offset: u64,
    size: u64,
}

/// File position of section header `index`.
fn shdr_pos(image: &[u8], index: usize) -> usize {
    u64_at(image, 40) as usize + index * u16_at(image, 58) as usize
}

fn sections(image: &[u8]) -> Vec<Section> {
    try_sections(image).expect("malformed section headers")
}

/// The section headers, or None when they do not fit in the file.
fn try_sections(image: &[u8]) -> Option<Vec<Section>> {
    check_elf64(image);
    let count = try_u16(image, 60)? as usize;
    let strndx = try_u16(image, 62)? as usize;
    if count == 0 {
        return Some(Vec::new());
    }
    let shdr = |i: usize| -> Option<usize> {
        (try_u64(image, 40)? as usize).checked_add(i.checked_mul(try_u16(image, 58)? as usize)?)
    };
    let str_pos = shdr(strndx)?;
    let str_off = try_u64(image, str_pos + 24)? as usize;
    let strtab =
        image.get(str_off..str_off.checked_add(try_u64(image, str_pos + 32)? as usize)?)?;
    (0..count)
        .map(|i| {
            let p = shdr(i)?;
            let name_off = try_u32(image, p)? as usize;
            let name_len = strtab.get(name_off..)?.iter().position(|&b| b == 0)?;
            Some(Section {
                index: i,
                name: String::from_utf8_lossy(&strtab[name_off..name_off + name_len]).into_owned(),
                sh_type: try_u32(image, p + 4)?,
                flags: try_u64(image, p + 8)?,
                offset: try_u64(image, p + 24)?,
                size: try_u64(image, p + 32)?,
            })
        })
        .collect()
}

fn section(image: &[u8], name: &str) -> Option<Section> {
    sections(image).into_iter().find(|s| s.name == name)
}

/// The PT_LOAD headers as `readelf -lW` prints them: (offset, vaddr, filesz, memsz), a check on
/// the hand-written reader above.
fn readelf_loads(path: &Path) -> Vec<(u64, u64, u64, u64)> {
    let r = run_with_timeout(Command::new("readelf").arg("-lW").arg(path), TOOL_TIMEOUT);
    assert!(
        r.success(),
        "readelf -lW {} failed: {}",
        path.display(),
        r.stderr_str()
    );
    let num = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    r.stdout_str()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|t| t.first() == Some(&"LOAD"))
        .map(|t| (num(t[1]), num(t[2]), num(t[4]), num(t[5])))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Digests, recorded and computed here
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    vaddr: u64,
    offset: u64,
    flags: u32,
    file_bytes: u32,
    digest: [u8; 20],
}

impl Entry {
    fn is_zero(&self) -> bool {
        self.flags & ZERO_FLAG != 0
    }
}

/// The entries of an image per docs/page-digests.md: each PT_LOAD in program-header order is
/// laid out in memory from its first to its last page (zeros, its file bytes at p_vaddr), and
/// every page of that memory is one entry.
fn independent_entries(image: &[u8]) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for seg in loads(image) {
        let first = seg.vaddr / PAGE * PAGE;
        let end = (seg.vaddr + seg.memsz).div_ceil(PAGE) * PAGE;
        let mut memory = vec![0u8; (end - first) as usize];
        let file = image
            .get(seg.offset as usize..(seg.offset + seg.filesz) as usize)
            .ok_or_else(|| format!("PT_LOAD {} extends past the end of the file", seg.index))?;
        if seg.filesz > seg.memsz {
            return Err(format!("PT_LOAD {} has p_filesz > p_memsz", seg.index));
        }
        let at = (seg.vaddr - first) as usize;
        memory[at..at + file.len()].copy_from_slice(file);
        for (k, page) in memory.chunks(PAGE as usize).enumerate() {
            let vaddr = first + k as u64 * PAGE;
            let from_file = (seg.vaddr + seg.filesz)
                .min(vaddr + PAGE)
                .saturating_sub(seg.vaddr.max(vaddr));
            let offset = seg.offset as i128 + vaddr as i128 - seg.vaddr as i128;
            if offset < 0 {
                return Err(format!(
                    "PT_LOAD {}: page {vaddr:#x} has no file offset",
                    seg.index
                ));
            }
            let zero = page.iter().all(|&b| b == 0);
            out.push(Entry {
                vaddr,
                offset: offset as u64,
                flags: seg.flags | if zero { ZERO_FLAG } else { 0 },
                file_bytes: from_file as u32,
                digest: Sha1::digest(page).into(),
            });
        }
    }
    Ok(out)
}

/// The digest section of an image, checked strictly against the documented format (which a
/// reader relies on): panics on any deviation.
fn recorded_entries(image: &[u8], what: &str) -> Vec<Entry> {
    try_recorded_entries(image).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn try_recorded_entries(image: &[u8]) -> Result<Vec<Entry>, String> {
    let sec = try_sections(image)
        .ok_or("malformed section headers")?
        .into_iter()
        .find(|s| s.name == SECTION)
        .ok_or(format!("no {SECTION} section"))?;
    if sec.sh_type != SHT_PROGBITS {
        return Err(format!("{SECTION} is not SHT_PROGBITS"));
    }
    if sec.flags & SHF_ALLOC != 0 {
        return Err(format!("{SECTION} is allocated (SHF_ALLOC)"));
    }
    let data = (sec.offset.checked_add(sec.size))
        .and_then(|end| image.get(sec.offset as usize..end as usize))
        .ok_or(format!("{SECTION} extends past the end of the file"))?;
    if data.len() < HEADER_SIZE {
        return Err(format!(
            "{SECTION} is {} bytes, shorter than its header",
            data.len()
        ));
    }
    if &data[..8] != b"SPCRDGST" {
        return Err(format!("{SECTION} has a bad magic {:?}", &data[..8]));
    }
    let fields = [
        ("version", u32_at(data, 8), 1),
        ("algorithm", u32_at(data, 12), 1),
        ("page size", u32_at(data, 16), 4096),
        ("digest length", u32_at(data, 20), 20),
        ("entry size", u32_at(data, 32), 48),
        ("reserved", u32_at(data, 36), 0),
    ];
    for (name, got, want) in fields {
        if got != want {
            return Err(format!(
                "{SECTION} header field `{name}` is {got}, not {want}"
            ));
        }
    }
    let count = u64_at(data, 24);
    if count
        .checked_mul(ENTRY_SIZE as u64)
        .and_then(|n| n.checked_add(HEADER_SIZE as u64))
        != Some(data.len() as u64)
    {
        return Err(format!(
            "{SECTION} is {} bytes, which does not fit its entry count {count}",
            data.len()
        ));
    }
    data[HEADER_SIZE..]
        .chunks(ENTRY_SIZE)
        .map(|e| {
            if e[44..48] != [0; 4] {
                return Err("entry padding is not zero".to_string());
            }
            Ok(Entry {
                vaddr: u64_at(e, 0),
                offset: u64_at(e, 8),
                flags: u32_at(e, 16),
                file_bytes: u32_at(e, 20),
                digest: e[24..44].try_into().unwrap(),
            })
        })
        .collect()
}

fn describe_entry(e: &Entry) -> String {
    format!(
        "page {:#x} offset {:#x} flags {:#x} file bytes {} sha1 {}",
        e.vaddr,
        e.offset,
        e.flags,
        e.file_bytes,
        hex(&e.digest)
    )
}

/// Differences between two entry lists, for a failure message ("" when equal).
fn entry_differences(a_name: &str, a: &[Entry], b_name: &str, b: &[Entry]) -> String {
    let mut s = String::new();
    if a.len() != b.len() {
        let _ = writeln!(s, "{a_name} has {} entries, {b_name} {}", a.len(), b.len());
    }
    let mut shown = 0;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            shown += 1;
            if shown <= 8 {
                let _ = writeln!(
                    s,
                    "entry {i}:\n  {a_name:>11}: {}\n  {b_name:>11}: {}",
                    describe_entry(x),
                    describe_entry(y)
                );
            }
        }
    }
    if shown > 8 {
        let _ = writeln!(s, "... {} more entries differ", shown - 8);
    }
    s
}

/// Checks the digest section of `path` against the independent computation and returns its
/// entries.
fn check_digests(path: &Path) -> Vec<Entry> {
    let what = path.display().to_string();
    let image = fs::read(path).unwrap();
    let by_hand: Vec<(u64, u64, u64, u64)> = loads(&image)
        .iter()
        .map(|l| (l.offset, l.vaddr, l.filesz, l.memsz))
        .collect();
    assert_eq!(
        by_hand,
        readelf_loads(path),
        "{what}: PT_LOAD headers read by hand vs readelf"
    );
    let recorded = recorded_entries(&image, &what);
    let expected = independent_entries(&image).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(!expected.is_empty(), "{what}: no loaded pages");
    let diff = entry_differences("recorded", &recorded, "recomputed", &expected);
    assert!(
        diff.is_empty(),
        "{what}: {SECTION} does not hold the digests of the image's pages:\n{diff}"
    );
    recorded
}

// ---------------------------------------------------------------------------------------------
// Running spacer and programs
// ---------------------------------------------------------------------------------------------

fn spacer<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> RunResult {
    let mut cmd = Command::new(spacer_exe());
    cmd.args(args);
    run_with_timeout(&mut cmd, LINK_TIMEOUT)
}

fn spacer_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let r = spacer(args);
    assert!(
        r.success(),
        "spacer {:?} failed ({}):\n{}{}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        r.describe(),
        r.stdout_str(),
        r.stderr_str()
    );
    r.stdout_str()
}

/// `spacer verify` must pass and report every page.
fn verify_ok(path: &Path, pages: usize) {
    let out = spacer_ok(&[Path::new("verify"), path]);
    assert!(
        out.contains(&format!("{pages} pages verified")),
        "spacer verify {}: expected `{pages} pages verified`, got: {out}",
        path.display()
    );
}

fn link_ok(program: &Program, linker: Linker, inputs: &[PathBuf], extra: &[&str], out: &Path) {
    let mut flags = program.ldflags.clone();
    flags.extend(extra.iter().map(|s| s.to_string()));
    let r = link(program.driver, linker, inputs, &flags, out);
    assert!(r.ok(), "{}", r.report(linker));
}

fn copy(from: &Path, to: &Path) {
    fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}

/// Runs two executables and requires the same exit status and output, and `expected` (a file
/// in testdata/expected) as the output.
fn same_behaviour(a: &Path, b: &Path, dir: &Path, expected: &str, status: i32) {
    let ra = run_program(a, &[], dir);
    let rb = run_program(b, &[], dir);
    let want = fs::read(expected_dir().join(format!("{expected}.stdout"))).unwrap();
    for (exe, r) in [(a, &ra), (b, &rb)] {
        assert!(
            !r.timed_out && r.code() == Some(status) && r.stdout == want,
            "{} ({}; want exit {status}) does not print testdata/expected/{expected}.stdout:\n{}\nstderr:\n{}",
            exe.display(),
            r.describe(),
            first_difference("actual", &r.stdout, "expected", &want),
            excerpt(&r.stderr, 2000)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Digests written at link time
// ---------------------------------------------------------------------------------------------

/// Links `program` with spacer with and without `--page-digests` and checks the section, that
/// `verify` passes, that the program headers and the program's behaviour are unchanged, and
/// that `spacer digest` refreshes the section consistently.
fn link_time(program: Program, expected: &str, status: i32) {
    if !program.tools_available() {
        return;
    }
    let inputs = program.build_inputs();
    let dir = scratch_dir("digests", &program.name);
    let plain = dir.join("plain");
    let with = dir.join("digests");
    link_ok(&program, Linker::Spacer, &inputs, &[], &plain);
    link_ok(
        &program,
        Linker::Spacer,
        &inputs,
        &["-Wl,--page-digests"],
        &with,
    );

    let entries = check_digests(&with);
    verify_ok(&with, entries.len());
    let plain_image = fs::read(&plain).unwrap();
    let with_image = fs::read(&with).unwrap();
    assert!(
        section(&plain_image, SECTION).is_none(),
        "{}: {SECTION} present without --page-digests",
        plain.display()
    );
    assert_eq!(
        loads(&plain_image),
        loads(&with_image),
        "--page-digests changed the PT_LOAD headers ({} vs {})",
        plain.display(),
        with.display()
    );
    same_behaviour(&plain, &with, &dir, expected, status);

    // Verifying without a section fails and says so.
    let r = spacer(&[Path::new("verify"), &plain]);
    assert!(
        !r.success() && r.stderr_str().contains(SECTION),
        "spacer verify on an image without {SECTION}: {}\n{}",
        r.describe(),
        r.stderr_str()
    );

    // `spacer digest` on the linked image refreshes the section: still correct, and the same
    // entries apart from pages holding the ELF header (whose section table fields change).
    let refreshed = dir.join("refreshed");
    copy(&with, &refreshed);
    spacer_ok(&[Path::new("digest"), &refreshed]);
    let again = check_digests(&refreshed);
    verify_ok(&refreshed, again.len());
    let keep = |v: &[Entry]| -> Vec<Entry> {
        v.iter()
            .filter(|e| e.offset >= 64 || e.file_bytes == 0)
            .copied()
            .collect()
    };
    let diff = entry_differences("link time", &keep(&entries), "refreshed", &keep(&again));
    assert!(
        diff.is_empty(),
        "spacer digest changed digests of pages it must not touch:\n{diff}"
    );
    same_behaviour(&refreshed, &plain, &dir, expected, status);
}

#[test]
fn link_time_glibc() {
    link_time(
        Program::c("link_time_glibc", &["c_stdio.c"]).ldflags(&["-lm"]),
        "c_stdio",
        0,
    );
}

#[test]
fn link_time_musl() {
    link_time(
        Program::musl("link_time_musl", &["c_stdio.c"]).ldflags(&["-lm"]),
        "c_stdio",
        0,
    );
}

#[test]
fn link_time_static_pie() {
    link_time(
        Program::c("link_time_static_pie", &["c_stdio.c"])
            .cflags(&["-fPIE"])
            .ldflags(&["-static-pie", "-lm"]),
        "c_stdio",
        0,
    );
}

/// A glibc C++ program (exceptions, libstdc++): many more pages, some in every category.
#[test]
fn link_time_cxx() {
    link_time(
        Program::cxx(
            "link_time_cxx",
            &["cxx_exceptions.cpp", "cxx_exceptions_other.cpp"],
        ),
        "cxx_exceptions",
        0,
    );
}

// ---------------------------------------------------------------------------------------------
// 1b. The unikernel
// ---------------------------------------------------------------------------------------------

fn tool_ok(cmd: &mut Command) {
    must_run(cmd, TOOL_TIMEOUT, "a tool");
}

/// The unikernel built by its build.sh with spacer, then its final link run again with
/// `-Wl,--page-digests`: the loaded bytes are the same, the section is right, `spacer digest`
/// on the kernel built without the option records the same entries, and both kernels boot with
/// the same serial output.  Its program headers are not in a loaded page, so tampering with
/// them is only visible through the entries.
#[test]
fn unikernel_page_digests() {
    for (t, p) in [
        ("gcc", "gcc"),
        ("objcopy", "binutils"),
        ("strip", "binutils"),
    ] {
        if !require_tool(t, p) {
            return;
        }
    }
    let dir = scratch_dir("digests", "unikernel");
    let build = dir.join("build");
    let r = run_with_timeout(&mut uk::build_command(true, &build), LINK_TIMEOUT);
    let log = format!("{}{}", r.stdout_str(), r.stderr_str());
    assert!(
        r.success(),
        "building the unikernel with spacer failed ({}):\n{log}",
        r.describe()
    );

    // The final link as build.sh ran it (printed as `+ gcc ... -o .../kernel.dbg`).
    let kernel = build.join("kernel.dbg");
    let final_link = log
        .lines()
        .filter_map(|l| l.strip_prefix("+ "))
        .find(|l| l.ends_with(&format!("-o {}", kernel.display())))
        .unwrap_or_else(|| panic!("no final link command in the build log:\n{log}"));
    let mut args: Vec<String> = final_link.split_whitespace().map(String::from).collect();
    let kernel_d = dir.join("kernel.dbg");
    let n = args.len();
    args[n - 1] = kernel_d.to_string_lossy().into_owned();
    args.insert(n - 2, "-Wl,--page-digests".into());
    tool_ok(Command::new(&args[0]).args(&args[1..]));

    let entries = check_digests(&kernel_d);
    verify_ok(&kernel_d, entries.len());
    let plain = fs::read(&kernel).unwrap();
    let with = fs::read(&kernel_d).unwrap();
    assert_eq!(
        loads(&plain),
        loads(&with),
        "--page-digests changed the PT_LOAD headers"
    );
    for l in loads(&plain) {
        let range = l.offset as usize..(l.offset + l.filesz) as usize;
        assert!(
            plain[range.clone()] == with[range],
            "--page-digests changed the loaded bytes of PT_LOAD {} ({} vs {})",
            l.index,
            kernel.display(),
            kernel_d.display()
        );
    }
    assert!(
        loads(&with).iter().all(|l| l.offset >= 64),
        "test premise: the unikernel's ELF header is not loaded"
    );

    // `spacer digest` on the kernel linked without the option: the same entries.
    let added = dir.join("kernel.added.dbg");
    copy(&kernel, &added);
    spacer_ok(&[Path::new("digest"), &added]);
    let added_entries = check_digests(&added);
    verify_ok(&added, added_entries.len());
    let diff = entry_differences("--page-digests", &entries, "spacer digest", &added_entries);
    assert!(
        diff.is_empty(),
        "link-time and added digests of the unikernel differ:\n{diff}"
    );

    // Program headers outside the loaded pages: tampering shows only in the entries.
    let image = with.clone();
    let last = *loads(&image).iter().max_by_key(|l| l.filesz).unwrap();
    let p = phdr_pos(&image, last.index);
    tamper_case(&dir, &image, "uk-p_filesz", |b| {
        put_u64(b, p + 32, last.filesz - 0x20)
    });
    tamper_case(&dir, &image, "uk-p_vaddr", |b| {
        put_u64(b, p + 16, last.vaddr + PAGE);
        put_u64(b, p + 24, last.vaddr + PAGE);
    });
    tamper_case(&dir, &image, "uk-p_flags", |b| {
        put_u32(b, p + 4, last.flags | PF_X)
    });
    tamper_case(&dir, &image, "uk-p_offset", |b| {
        put_u64(b, p + 8, last.offset + PAGE)
    });

    // Boot both kernels.
    if !uk::qemu_available() {
        return;
    }
    let stripped = dir.join("kernel");
    let elf32 = dir.join("kernel.elf32");
    tool_ok(
        Command::new("strip")
            .arg("-s")
            .arg(&kernel_d)
            .arg("-o")
            .arg(&stripped),
    );
    tool_ok(
        Command::new("objcopy")
            .args(["-O", "elf32-i386"])
            .arg(&stripped)
            .arg(&elf32),
    );
    let reference = uk::boot(&build.join("kernel.elf32"));
    let digests = uk::boot(&elf32);
    assert!(
        reference.code() == Some(uk::EXIT_SUCCESS)
            && reference.stdout_str().contains("boot: exit status 0"),
        "the unikernel linked without --page-digests did not boot ({}):\n{}{}",
        reference.describe(),
        reference.stdout_str(),
        reference.stderr_str()
    );
    assert!(
        digests.code() == Some(uk::EXIT_SUCCESS) && digests.stdout == reference.stdout,
        "the unikernel linked with --page-digests ({}) boots differently ({}):\n{}\n--- serial:\n{}",
        elf32.display(),
        digests.describe(),
        first_difference("digests", &digests.stdout, "plain", &reference.stdout),
        digests.stdout_str()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Tampering
// ---------------------------------------------------------------------------------------------

/// Writes `image` changed by `mutate` to `<dir>/<name>`, runs `spacer verify` on it and
/// requires a failure that leaves the file as it was.  When both the section and the program
/// headers still parse, the message must name the first page whose recorded entry differs from
/// the one computed here (with both digests when only the digest differs); otherwise the
/// message is returned for the caller to check.
fn tamper_case(dir: &Path, image: &[u8], name: &str, mutate: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut bytes = image.to_vec();
    mutate(&mut bytes);
    assert_ne!(bytes, image, "{name}: the tampering changed nothing");
    let path = dir.join(name);
    fs::write(&path, &bytes).unwrap();
    let r = spacer(&[Path::new("verify"), &path]);
    let err = r.stderr_str();
    let after = fs::read(&path).unwrap();
    assert!(
        after == bytes,
        "{name}: spacer verify modified {}",
        path.display()
    );
    assert!(
        !r.timed_out && r.code() == Some(1) && !r.stdout_str().contains("verified"),
        "{name}: spacer verify accepted a tampered image {} ({}):\nstdout: {}stderr: {err}",
        path.display(),
        r.describe(),
        r.stdout_str()
    );
    assert!(
        err.contains(&path.display().to_string()),
        "{name}: the message does not name the image {}: {err}",
        path.display()
    );
    // The expected first bad page, when both sides can be read.
    let recorded = try_recorded_entries(&bytes).ok();
    let actual = independent_entries(&bytes).ok();
    if let (Some(rec), Some(act)) = (recorded, actual) {
        if rec.len() == act.len() {
            // (None: what changed is outside the entries, e.g. the end of the section table.)
            if let Some(i) = rec.iter().zip(&act).position(|(a, b)| a != b) {
                let (a, b) = (rec[i], act[i]);
                assert!(
                err.contains(&format!("{:#x}", b.vaddr))
                    || err.contains(&format!("{:#x}", a.vaddr)),
                "{name}: the message does not name the first bad page {:#x} (entry {i}; recorded: \
                 {}; actual: {}):\n{err}",
                b.vaddr,
                describe_entry(&a),
                describe_entry(&b)
            );
                if (Entry {
                    digest: b.digest,
                    ..a
                }) == b
                {
                    assert!(
                    err.contains("expected")
                        && err.contains("found")
                        && err.contains(&hex(&a.digest))
                        && err.contains(&hex(&b.digest)),
                    "{name}: the message does not give the expected ({}) and found ({}) digest \
                     of page {:#x}:\n{err}",
                    hex(&a.digest),
                    hex(&b.digest),
                    b.vaddr
                );
                }
            }
        }
    }
    err
}

/// The message must mention one of `words` (case-insensitively).
fn mentions(name: &str, err: &str, words: &[&str]) {
    let lower = err.to_lowercase();
    assert!(
        words.iter().any(|w| lower.contains(w)),
        "{name}: the message does not name the problem (one of {words:?}):\n{err}"
    );
}

#[test]
fn verify_rejects_tampering() {
    let program = Program::c("verify_tampering", &["c_stdio.c"]).ldflags(&["-lm"]);
    let inputs = program.build_inputs();
    let dir = scratch_dir("digests", "tampering");
    let good = dir.join("good");
    link_ok(
        &program,
        Linker::Spacer,
        &inputs,
        &["-Wl,--page-digests"],
        &good,
    );
    let entries = check_digests(&good);
    verify_ok(&good, entries.len());
    let image = fs::read(&good).unwrap();
    let sec = section(&image, SECTION).unwrap();
    let so = sec.offset as usize;

    // One code byte in the middle of .text: the message names its page and both digests.
    let text = section(&image, ".text").expect(".text");
    let at = text.offset as usize + text.size as usize / 2;
    let err = tamper_case(&dir, &image, "text-byte", |b| b[at] ^= 0x01);
    let page = entries
        .iter()
        .find(|e| e.offset <= at as u64 && (at as u64) < e.offset + PAGE && e.flags & PF_X != 0)
        .unwrap();
    assert!(
        err.contains(&format!("{:#x}", page.vaddr)),
        "text-byte: {err}"
    );

    // One digest byte of a non-zero page's entry.
    let k = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.is_zero())
        .map(|(k, _)| k)
        .nth(entries.len() / 2)
        .unwrap_or(0);
    let err = tamper_case(&dir, &image, "digest-byte", |b| {
        b[so + HEADER_SIZE + k * ENTRY_SIZE + 24 + 7] ^= 0x80
    });
    assert!(
        err.contains(&format!("{:#x}", entries[k].vaddr)),
        "digest-byte: {err}"
    );

    // The other recorded fields of an entry.
    let e = so + HEADER_SIZE + k * ENTRY_SIZE;
    tamper_case(&dir, &image, "entry-vaddr", |b| {
        put_u64(b, e, entries[k].vaddr + PAGE)
    });
    tamper_case(&dir, &image, "entry-offset", |b| {
        put_u64(b, e + 8, entries[k].offset + 1)
    });
    tamper_case(&dir, &image, "entry-flags", |b| {
        put_u32(b, e + 16, entries[k].flags ^ PF_W)
    });
    tamper_case(&dir, &image, "entry-file-bytes", |b| {
        put_u32(b, e + 20, entries[k].file_bytes ^ 1)
    });

    // Program headers: p_filesz and p_vaddr of the writable PT_LOAD, p_flags of the code.
    let ls = loads(&image);
    let rw = *ls
        .iter()
        .find(|l| l.flags & PF_W != 0)
        .expect("a writable PT_LOAD");
    let x = *ls
        .iter()
        .find(|l| l.flags & PF_X != 0)
        .expect("an executable PT_LOAD");
    let prw = phdr_pos(&image, rw.index);
    tamper_case(&dir, &image, "p_filesz", |b| {
        put_u64(b, prw + 32, rw.filesz - 0x10)
    });
    tamper_case(&dir, &image, "p_vaddr", |b| {
        put_u64(b, prw + 16, rw.vaddr + PAGE);
        put_u64(b, prw + 24, rw.vaddr + PAGE);
    });
    tamper_case(&dir, &image, "p_flags", |b| {
        put_u32(b, phdr_pos(&image, x.index) + 4, x.flags | PF_W)
    });
    let err = tamper_case(&dir, &image, "p_filesz-past-eof", |b| {
        put_u64(b, prw + 32, image.len() as u64);
        put_u64(b, prw + 40, image.len() as u64 + rw.memsz);
    });
    mentions(
        "p_filesz-past-eof",
        &err,
        &["end of the file", "past", "truncat", "page 0x"],
    );

    // Truncated files: one byte short, cut inside the digest section, cut in half.
    for (name, len) in [
        ("truncated-1", image.len() - 1),
        ("truncated-in-section", so + HEADER_SIZE + ENTRY_SIZE + 10),
        ("truncated-half", image.len() / 2),
    ] {
        let err = tamper_case(&dir, &image, name, |b| b.truncate(len));
        mentions(
            name,
            &err,
            &["truncat", "past the end", "malformed", "end of the file"],
        );
    }

    // The section header says the section is shorter: by one entry, or shorter than a header.
    let sh = shdr_pos(&image, sec.index);
    let err = tamper_case(&dir, &image, "section-one-entry-short", |b| {
        put_u64(b, sh + 32, sec.size - ENTRY_SIZE as u64)
    });
    mentions(
        "section-one-entry-short",
        &err,
        &["truncat", "malformed", "entries"],
    );
    let err = tamper_case(&dir, &image, "section-shorter-than-header", |b| {
        put_u64(b, sh + 32, 20)
    });
    mentions(
        "section-shorter-than-header",
        &err,
        &["truncat", "malformed"],
    );

    // The digest header: the magic, then each field (offset in the header, width, new value).
    let err = tamper_case(&dir, &image, "header-magic", |b| b[so] ^= 0x20);
    mentions("header-magic", &err, &["magic"]);
    let count = entries.len() as u64;
    const COUNT_WORDS: &[&str] = &["malformed", "entries", "count"];
    let fields: [(&str, usize, usize, u64, &[&str]); 8] = [
        ("count+1", 24, 8, count + 1, COUNT_WORDS),
        ("count-1", 24, 8, count - 1, COUNT_WORDS),
        ("count-huge", 24, 8, u64::MAX / 2, COUNT_WORDS),
        ("version", 8, 4, 2, &["version"]),
        ("algorithm", 12, 4, 2, &["algorithm"]),
        ("page-size", 16, 4, 8192, &["page size"]),
        ("digest-length", 20, 4, 32, &["length", "algorithm"]),
        ("entry-size", 32, 4, 40, &["entry size"]),
    ];
    for (name, at, width, value, words) in fields {
        let name = format!("header-{name}");
        let err = tamper_case(&dir, &image, &name, |b| {
            if width == 8 {
                put_u64(b, so + at, value)
            } else {
                put_u32(b, so + at, value as u32)
            }
        });
        mentions(&name, &err, words);
    }

    // A segment whose memory size claims 2^44 bytes (what the fuzzer once made of an image):
    // verify and digest refuse it at once instead of hashing pages without end (share reads
    // the recorded digests and must only end in time).
    let mut huge = image.clone();
    let pos = phdr_pos(&huge, 0);
    put_u64(&mut huge, pos + 40, 1 << 44);
    let path = dir.join("memsz-huge");
    fs::write(&path, &huge).unwrap();
    let share = spacer(&[Path::new("share"), &path]);
    assert!(!share.timed_out, "spacer share did not end");
    for tool in ["verify", "digest"] {
        let r = spacer(&[Path::new(tool), &path]);
        assert!(
            !r.timed_out && r.code() == Some(1) && r.stderr_str().contains("pages, more than"),
            "spacer {tool} on a segment of 2^32 pages: {} {}",
            r.describe(),
            r.stderr_str()
        );
        assert_eq!(
            fs::read(&path).unwrap(),
            huge,
            "spacer {tool} changed the image"
        );
    }

    // After all that, the original still verifies.
    verify_ok(&good, entries.len());
}

// ---------------------------------------------------------------------------------------------
// 3. `spacer digest` on GNU ld's output
// ---------------------------------------------------------------------------------------------

#[test]
fn digest_command_on_gnu_ld_output() {
    let program = Program::c("digest_gnu_ld", &["c_stdio.c"]).ldflags(&["-lm"]);
    let inputs = program.build_inputs();
    let dir = scratch_dir("digests", "gnu_ld");
    let bfd = dir.join("bfd");
    link_ok(&program, Linker::Bfd, &inputs, &[], &bfd);
    let original = fs::read(&bfd).unwrap();
    assert!(section(&original, SECTION).is_none());

    let once = dir.join("once");
    copy(&bfd, &once);
    let out = spacer_ok(&[Path::new("digest"), &once]);
    let entries = check_digests(&once);
    assert!(
        out.contains(&format!("{} page digests", entries.len())),
        "spacer digest output: {out}"
    );
    verify_ok(&once, entries.len());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&once).unwrap().permissions().mode();
        assert!(
            mode & 0o111 != 0,
            "spacer digest made {} non-executable ({mode:o})",
            once.display()
        );
    }
    same_behaviour(&once, &bfd, &dir, "c_stdio", 0);

    // Nothing loaded changes apart from the ELF header's section table fields.
    let image = fs::read(&once).unwrap();
    assert_eq!(
        loads(&original),
        loads(&image),
        "spacer digest changed the PT_LOAD headers"
    );
    for l in loads(&original) {
        let range = l.offset.max(64) as usize..(l.offset + l.filesz) as usize;
        if range.is_empty() {
            continue;
        }
        let at = original[range.clone()]
            .iter()
            .zip(&image[range.clone()])
            .position(|(a, b)| a != b);
        assert!(
            at.is_none(),
            "spacer digest changed loaded byte at file offset {:#x} (PT_LOAD {})",
            range.start + at.unwrap_or(0),
            l.index
        );
    }
    for field in [
        (16, 2),
        (18, 2),
        (20, 4),
        (24, 8),
        (32, 8),
        (48, 4),
        (52, 2),
        (54, 2),
        (56, 2),
    ] {
        let r = field.0..field.0 + field.1;
        assert_eq!(
            original[r.clone()],
            image[r],
            "spacer digest changed ELF header bytes {field:?}"
        );
    }
    let before = independent_entries(&original).unwrap();
    let keep = |v: &[Entry]| -> Vec<Entry> {
        v.iter()
            .filter(|e| e.offset >= 64 || e.file_bytes == 0)
            .copied()
            .collect()
    };
    let diff = entry_differences("before", &keep(&before), "after", &keep(&entries));
    assert!(
        diff.is_empty(),
        "pages without the ELF header changed:\n{diff}"
    );

    // Idempotent: digesting the digested image again gives the same bytes; two images at once.
    let twice = dir.join("twice");
    let other = dir.join("other");
    copy(&once, &twice);
    copy(&bfd, &other);
    spacer_ok(&[Path::new("digest"), &twice, &other]);
    let twice_image = fs::read(&twice).unwrap();
    if twice_image != image {
        let at = twice_image
            .iter()
            .zip(&image)
            .position(|(a, b)| a != b)
            .unwrap_or(image.len().min(twice_image.len()));
        panic!(
            "spacer digest is not idempotent: {} ({} bytes) and {} ({} bytes) differ from file \
             offset {at:#x}",
            once.display(),
            image.len(),
            twice.display(),
            twice_image.len()
        );
    }
    assert!(
        fs::read(&other).unwrap() == image,
        "digesting the same image twice differs"
    );
    same_behaviour(&twice, &bfd, &dir, "c_stdio", 0);

    // A stripped image (strip rewrites the section table fields of the ELF header, which is
    // loaded) gets its digests refreshed.
    let stripped = dir.join("stripped");
    let strip = Command::new("strip")
        .arg("-s")
        .arg(&once)
        .arg("-o")
        .arg(&stripped)
        .status();
    if strip.is_ok_and(|s| s.success()) {
        spacer_ok(&[Path::new("digest"), &stripped]);
        let e = check_digests(&stripped);
        verify_ok(&stripped, e.len());
        same_behaviour(&stripped, &bfd, &dir, "c_stdio", 0);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. `spacer share`
// ---------------------------------------------------------------------------------------------

/// (pages, shared) per category, and all-zero pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Share {
    exec: (u64, u64),
    ro: (u64, u64),
    rw: (u64, u64),
    zero: u64,
}

impl Share {
    fn total(&self) -> (u64, u64) {
        (
            self.exec.0 + self.ro.0 + self.rw.0,
            self.exec.1 + self.ro.1 + self.rw.1,
        )
    }
    fn add(&mut self, o: &Share) {
        self.exec = (self.exec.0 + o.exec.0, self.exec.1 + o.exec.1);
        self.ro = (self.ro.0 + o.ro.0, self.ro.1 + o.ro.1);
        self.rw = (self.rw.0 + o.rw.0, self.rw.1 + o.rw.1);
        self.zero += o.zero;
    }
}

/// What `spacer share` must report, from the images' bytes: a non-zero page is shared when a
/// page with the same content is loaded by another image.
fn expected_share(images: &[&Path]) -> Vec<Share> {
    let entries: Vec<Vec<Entry>> = images
        .iter()
        .map(|p| independent_entries(&fs::read(p).unwrap()).unwrap())
        .collect();
    let sets: Vec<HashSet<[u8; 20]>> = entries
        .iter()
        .map(|v| {
            v.iter()
                .filter(|e| !e.is_zero())
                .map(|e| e.digest)
                .collect()
        })
        .collect();
    entries
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut s = Share::default();
            for e in v {
                if e.is_zero() {
                    s.zero += 1;
                    continue;
                }
                let shared = sets
                    .iter()
                    .enumerate()
                    .any(|(j, set)| j != i && set.contains(&e.digest));
                let c = if e.flags & PF_X != 0 {
                    &mut s.exec
                } else if e.flags & PF_W != 0 {
                    &mut s.rw
                } else {
                    &mut s.ro
                };
                c.0 += 1;
                c.1 += shared as u64;
            }
            s
        })
        .collect()
}

/// A JSON value, from a small parser sufficient for `spacer share --json`.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let b = text.as_bytes();
        let mut i = 0;
        let v = Self::value(b, &mut i)?;
        Self::ws(b, &mut i);
        if i != b.len() {
            return Err(format!("trailing characters at byte {i}"));
        }
        Ok(v)
    }

    fn ws(b: &[u8], i: &mut usize) {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }

    fn expect(b: &[u8], i: &mut usize, c: u8) -> Result<(), String> {
        Self::ws(b, i);
        if b.get(*i) == Some(&c) {
            *i += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {i}", c as char))
        }
    }

    fn string(b: &[u8], i: &mut usize) -> Result<String, String> {
        Self::expect(b, i, b'"')?;
        let mut s = Vec::new();
        loop {
            match b.get(*i).copied() {
                None => return Err("unterminated string".into()),
                Some(b'"') => {
                    *i += 1;
                    return String::from_utf8(s).map_err(|e| e.to_string());
                }
                Some(b'\\') => {
                    let c = *b.get(*i + 1).ok_or("bad escape")?;
                    *i += 2;
                    match c {
                        b'"' | b'\\' | b'/' => s.push(c),
                        b'n' => s.push(b'\n'),
                        b't' => s.push(b'\t'),
                        b'r' => s.push(b'\r'),
                        b'b' => s.push(8),
                        b'f' => s.push(12),
                        b'u' => {
                            let h = std::str::from_utf8(b.get(*i..*i + 4).ok_or("bad \\u")?)
                                .map_err(|e| e.to_string())?;
                            let c = char::from_u32(
                                u32::from_str_radix(h, 16).map_err(|e| e.to_string())?,
                            )
                            .ok_or("bad \\u")?;
                            s.extend_from_slice(c.to_string().as_bytes());
                            *i += 4;
                        }
                        _ => return Err(format!("bad escape at byte {i}")),
                    }
                }
                Some(c) if c < 0x20 => {
                    return Err(format!("control character in string at byte {i}"))
                }
                Some(c) => {
                    s.push(c);
                    *i += 1;
                }
            }
        }
    }

    fn value(b: &[u8], i: &mut usize) -> Result<Json, String> {
        Self::ws(b, i);
        match b.get(*i).copied() {
            Some(b'{') => {
                *i += 1;
                let mut members = Vec::new();
                Self::ws(b, i);
                if b.get(*i) == Some(&b'}') {
                    *i += 1;
                    return Ok(Json::Obj(members));
                }
                loop {
                    Self::ws(b, i);
                    let k = Self::string(b, i)?;
                    Self::expect(b, i, b':')?;
                    members.push((k, Self::value(b, i)?));
                    Self::ws(b, i);
                    match b.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b'}') => {
                            *i += 1;
                            return Ok(Json::Obj(members));
                        }
                        _ => return Err(format!("expected `,` or `}}` at byte {i}")),
                    }
                }
            }
            Some(b'[') => {
                *i += 1;
                let mut items = Vec::new();
                Self::ws(b, i);
                if b.get(*i) == Some(&b']') {
                    *i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(Self::value(b, i)?);
                    Self::ws(b, i);
                    match b.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b']') => {
                            *i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected `,` or `]` at byte {i}")),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(Self::string(b, i)?)),
            Some(b't') if b[*i..].starts_with(b"true") => {
                *i += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if b[*i..].starts_with(b"false") => {
                *i += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if b[*i..].starts_with(b"null") => {
                *i += 4;
                Ok(Json::Null)
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = *i;
                while *i < b.len()
                    && matches!(b[*i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    *i += 1;
                }
                Ok(Json::Num(
                    String::from_utf8_lossy(&b[start..*i]).into_owned(),
                ))
            }
            _ => Err(format!("unexpected input at byte {i}")),
        }
    }

    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => {
                let mut found = m.iter().filter(|(k, _)| k == key);
                let v = found
                    .next()
                    .map(|(_, v)| v)
                    .unwrap_or_else(|| panic!("no key `{key}` in {self:?}"));
                assert!(found.next().is_none(), "duplicate key `{key}`");
                v
            }
            _ => panic!("`{key}` looked up in a non-object {self:?}"),
        }
    }

    fn u64(&self) -> u64 {
        match self {
            Json::Num(n) => n.parse().unwrap_or_else(|_| panic!("not a count: {n}")),
            _ => panic!("not a number: {self:?}"),
        }
    }

    fn count(&self) -> (u64, u64) {
        (self.get("pages").u64(), self.get("shared").u64())
    }

    fn share(&self) -> Share {
        Share {
            exec: self.get("exec").count(),
            ro: self.get("read_only").count(),
            rw: self.get("writable").count(),
            zero: self.get("zero_pages").u64(),
        }
    }
}

/// One row of the text table: image name, the share, and the total column.
fn text_rows(text: &str) -> Vec<(String, Share, (u64, u64))> {
    let cell = |c: &str, pct: &str| -> (u64, u64) {
        let (s, p) = c
            .split_once('/')
            .unwrap_or_else(|| panic!("bad cell `{c}` in:\n{text}"));
        let (s, p): (u64, u64) = (s.parse().unwrap(), p.parse().unwrap());
        let pct: f64 = pct.trim_end_matches('%').parse().unwrap();
        let want = if p == 0 {
            0.0
        } else {
            100.0 * s as f64 / p as f64
        };
        assert!(
            (pct - want).abs() < 0.051,
            "percentage {pct} for {s}/{p} in:\n{text}"
        );
        (p, s)
    };
    text.lines()
        .filter_map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            (t.len() == 10 && t[1].contains('/')).then(|| {
                let share = Share {
                    exec: cell(t[1], t[2]),
                    ro: cell(t[3], t[4]),
                    rw: cell(t[5], t[6]),
                    zero: t[7].parse().unwrap(),
                };
                (t[0].to_string(), share, cell(t[8], t[9]))
            })
        })
        .collect()
}

/// Runs `spacer share` in text and JSON form on `images`, checks both against the counts
/// computed here and against each other, and returns the counts.
fn check_share(images: &[&Path], from_section: &[bool]) -> Vec<Share> {
    let expected = expected_share(images);
    let mut args: Vec<&std::ffi::OsStr> = vec!["share".as_ref(), "--json".as_ref()];
    args.extend(images.iter().map(|p| p.as_os_str()));
    let json_text = spacer_ok(&args);
    let json =
        Json::parse(&json_text).unwrap_or_else(|e| panic!("share --json: {e}:\n{json_text}"));
    assert_eq!(json.get("page_size").u64(), 4096);
    let Json::Arr(list) = json.get("images") else {
        panic!("`images` is not an array:\n{json_text}")
    };
    assert_eq!(
        list.len(),
        images.len(),
        "share --json lists {} images:\n{json_text}",
        list.len()
    );
    let mut sum = Share::default();
    for (k, (item, want)) in list.iter().zip(&expected).enumerate() {
        assert_eq!(
            item.get("path"),
            &Json::Str(images[k].display().to_string())
        );
        assert_eq!(
            item.get("digests_from_section"),
            &Json::Bool(from_section[k]),
            "image {k}: digests_from_section"
        );
        assert_eq!(
            item.share(),
            *want,
            "share --json, image {}:\n{json_text}",
            images[k].display()
        );
        assert_eq!(item.get("total").count(), want.total(), "image {k}: total");
        sum.add(want);
    }
    let total = json.get("total");
    assert_eq!(
        total.share(),
        sum,
        "share --json: totals are not the sums of the images:\n{json_text}"
    );
    assert_eq!(
        total.get("total").count(),
        sum.total(),
        "share --json: overall total"
    );

    let text = spacer_ok(&args.iter().filter(|a| **a != "--json").collect::<Vec<_>>());
    let rows = text_rows(&text);
    assert_eq!(
        rows.len(),
        images.len() + 1,
        "share: expected one row per image and a total:\n{text}"
    );
    for (k, want) in expected.iter().chain(std::iter::once(&sum)).enumerate() {
        let (name, got, total) = &rows[k];
        let want_name = images
            .get(k)
            .map_or("total".to_string(), |p| p.display().to_string());
        assert_eq!(name, &want_name, "share: row {k}:\n{text}");
        assert_eq!(got, want, "share: row {k} ({name}):\n{text}");
        assert_eq!(
            *total,
            want.total(),
            "share: total column of row {k}:\n{text}"
        );
    }
    expected
}

#[test]
fn share_identical_and_unrelated_images() {
    let dir = scratch_dir("digests", "share");
    let a = Program::c("share_stdio", &["c_stdio.c"]).ldflags(&["-lm"]);
    let b = Program::c("share_ctors", &["ctors.c"]);
    let a_exe = dir.join("stdio");
    let a_copy = dir.join("stdio-copy");
    let b_exe = dir.join("ctors-bfd");
    link_ok(
        &a,
        Linker::Spacer,
        &a.build_inputs(),
        &["-Wl,--page-digests"],
        &a_exe,
    );
    link_ok(&b, Linker::Bfd, &b.build_inputs(), &[], &b_exe);
    copy(&a_exe, &a_copy);
    check_digests(&a_exe);

    // Two copies of one image: every non-zero page is shared, in every category.
    let same = check_share(&[&a_exe, &a_copy], &[true, true]);
    for s in &same {
        assert!(
            s.exec.0 > 0 && s.ro.0 > 0 && s.rw.0 > 0,
            "test premise: pages in every category: {s:?}"
        );
        for c in [s.exec, s.ro, s.rw, s.total()] {
            assert_eq!(c.0, c.1, "identical images must share every page: {s:?}");
        }
    }

    // Different programs (one without a digest section): not everything is shared.
    let diff = check_share(&[&a_exe, &b_exe], &[true, false]);
    for s in &diff {
        assert!(
            s.total().1 < s.total().0,
            "unrelated images share every page: {s:?}"
        );
    }

    // Three images: the copy pair shares everything, totals add up.
    let three = check_share(&[&a_exe, &b_exe, &a_copy], &[true, false, true]);
    assert_eq!(three[0], same[0]);
    assert_eq!(three[1], diff[1]);
}

// ---------------------------------------------------------------------------------------------
// 5. Determinism
// ---------------------------------------------------------------------------------------------

#[test]
fn page_digests_are_deterministic() {
    let program = Program::cxx(
        "digests_deterministic",
        &["cxx_exceptions.cpp", "cxx_exceptions_other.cpp"],
    );
    let inputs = program.build_inputs();
    let dir = scratch_dir("digests", "deterministic");
    let runs = [
        ("first", vec!["-Wl,--page-digests"]),
        ("second", vec!["-Wl,--page-digests"]),
        ("threads1", vec!["-Wl,--page-digests", "-Wl,--threads=1"]),
        ("threads4", vec!["-Wl,--threads=4", "-Wl,--page-digests"]),
    ];
    let mut images = Vec::new();
    for (name, flags) in &runs {
        let out = dir.join(name);
        link_ok(&program, Linker::Spacer, &inputs, flags, &out);
        images.push((name, fs::read(&out).unwrap()));
    }
    check_digests(&dir.join("first"));
    let (_, first) = &images[0];
    for (name, image) in &images[1..] {
        if image != first {
            let at = image
                .iter()
                .zip(first)
                .position(|(a, b)| a != b)
                .unwrap_or(first.len().min(image.len()));
            panic!(
                "links with --page-digests differ: `first` and `{name}` ({} vs {} bytes, first \
                 difference at file offset {at:#x}); kept in {}",
                first.len(),
                image.len(),
                dir.display()
            );
        }
    }
}
