//! `spacer vm`: the test unikernel booted under KVM with its pages from the page store.
//!
//! - It boots with the same serial output and exit status as under QEMU (both the spacer- and
//!   the ld.bfd-linked kernel), and a second boot adds nothing to the store.
//! - The 32-bit container of the kernel (`kernel.elf32`, for QEMU) boots the same.
//! - A tampered image page, a corrupt store entry, a truncated image, an image without a
//!   Multiboot header and a missing file are refused with a message and exit status 1.
//! - Eight VMs of two versions of the kernel (one library's function grown, linked with
//!   `--layout` on one layout file), running together, hold each distinct image page once:
//!   their host PSS of store pages is within 10% of the distinct pages they map.
//!
//! The tests need a usable /dev/kvm; where there is none (outside CI) they are ignored with
//! that reason (see build.rs).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::unikernel::*;
use common::*;

/// The line of the boot output that reports the memory the boot loader gave: QEMU's loader
/// reports 128 KiB less than spacer vm, which gives all memory above 1 MiB.
const MEMORY_LINE: &str = "KiB upper memory";
/// 64 MiB of guest memory, less the first MiB.
const VM_MEMORY_LINE: &str = "boot: 64512 KiB upper memory";
const VM_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds the kernel into `dir` (linked by spacer, or by ld.bfd) with `env` for build.sh.
fn build(dir: &Path, spacer: bool, env: &[(&str, String)]) -> PathBuf {
    let mut cmd = build_command(spacer, dir);
    cmd.env_remove("EXTRA_LDFLAGS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    must_run(&mut cmd, LINK_TIMEOUT, "building the test unikernel");
    dir.join("kernel")
}

fn vm_command(store: &Path, image: &Path) -> Command {
    let mut cmd = Command::new(spacer_exe());
    cmd.arg("vm").arg("--store").arg(store).arg(image);
    cmd
}

fn vm(store: &Path, image: &Path) -> RunResult {
    run_with_timeout(&mut vm_command(store, image), VM_TIMEOUT)
}

/// The boot output without the memory line.
fn without_memory_line(out: &str) -> Vec<&str> {
    out.lines().filter(|l| !l.contains(MEMORY_LINE)).collect()
}

fn store_entries(store: &Path) -> BTreeSet<String> {
    fs::read_dir(store)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A fresh page store in /dev/shm (tmpfs, so its pages show as shared memory in smaps).
struct ShmStore(PathBuf);

impl ShmStore {
    fn new(name: &str) -> ShmStore {
        let p = PathBuf::from(format!(
            "/dev/shm/spacer-test-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&p);
        ShmStore(p)
    }
}

impl Drop for ShmStore {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
#[cfg_attr(spacer_no_kvm, ignore = "no usable /dev/kvm on this machine")]
fn boots_like_qemu() {
    if !qemu_available() {
        return;
    }
    let dir = scratch_dir("vm", "boot");
    let store = ShmStore::new("boot");
    for spacer in [true, false] {
        let what = if spacer { "spacer" } else { "ld.bfd" };
        let out = dir.join(what);
        let digests = vec![("EXTRA_LDFLAGS", "-Wl,--page-digests".to_string())];
        let kernel = build(&out, spacer, if spacer { &digests } else { &[] });
        let q = boot_in(&out, &format!("vm: QEMU boot of the {what} kernel"));
        assert_eq!(q.code(), Some(EXIT_SUCCESS), "QEMU: {}", q.describe());
        let r = vm(&store.0, &kernel);
        eprintln!(
            "vm: spacer vm boot of the {what} kernel: {} in {:.2?}",
            r.describe(),
            r.elapsed
        );
        assert_eq!(
            r.code(),
            Some(EXIT_SUCCESS),
            "spacer vm, {what} kernel: {}\n{}",
            r.describe(),
            r.stderr_str()
        );
        let (ours, qemus) = (r.stdout_str(), q.stdout_str());
        assert!(ours.contains("Hello world!"), "{ours}");
        assert_eq!(
            without_memory_line(&ours),
            without_memory_line(&qemus),
            "{what} kernel: spacer vm's serial output differs from QEMU's"
        );
        assert!(ours.lines().any(|l| l == VM_MEMORY_LINE), "{ours}");
        // The 32-bit container QEMU needs boots the same.
        let elf32 = vm(&store.0, &out.join("kernel.elf32"));
        assert_eq!(elf32.code(), Some(EXIT_SUCCESS), "{}", elf32.stderr_str());
        assert_eq!(
            elf32.stdout, r.stdout,
            "{what}: kernel.elf32 printed otherwise"
        );
        // A second boot finds every page in the store.
        let before = store_entries(&store.0);
        assert!(!before.is_empty(), "the first boot stored no page");
        let again = vm(&store.0, &kernel);
        assert_eq!(again.code(), Some(EXIT_SUCCESS), "{}", again.stderr_str());
        assert_eq!(
            again.stdout, r.stdout,
            "{what}: the second boot printed otherwise"
        );
        assert_eq!(
            store_entries(&store.0),
            before,
            "the second boot added pages"
        );
    }
}

/// Asserts that `r` is a refusal: exit status 1 and a message holding `why`.
fn assert_refused(r: &RunResult, why: &str, what: &str) {
    let err = r.stderr_str();
    assert_eq!(r.code(), Some(1), "{what}: {} ({err})", r.describe());
    assert!(err.contains(why), "{what}: expected \"{why}\" in: {err}");
    assert!(
        r.stdout.is_empty(),
        "{what}: the guest ran: {}",
        r.stdout_str()
    );
}

/// The file offset of the first byte of the first loaded segment (the kernel's code).
fn code_offset(image: &Path) -> u64 {
    let out = tool(&["readelf", "-lW", image.to_str().unwrap()]);
    let load = out
        .lines()
        .find(|l| l.trim_start().starts_with("LOAD"))
        .expect("no LOAD segment");
    let off = load.split_whitespace().nth(1).unwrap();
    u64::from_str_radix(off.trim_start_matches("0x"), 16).unwrap()
}

#[test]
#[cfg_attr(spacer_no_kvm, ignore = "no usable /dev/kvm on this machine")]
fn bad_images_and_stores_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("vm", "refused");
    let kernel = build(
        &dir.join("kernel"),
        true,
        &[("EXTRA_LDFLAGS", "-Wl,--page-digests".to_string())],
    );

    // One byte of code changed: its page no longer matches the image's digest.
    let tampered = dir.join("tampered");
    let mut bytes = fs::read(&kernel).unwrap();
    let at = code_offset(&kernel) as usize + 0x40;
    bytes[at] ^= 0xff;
    fs::write(&tampered, &bytes).unwrap();
    let store = ShmStore::new("refused");
    assert_refused(
        &vm(&store.0, &tampered),
        "does not match its recorded digest",
        "tampered image",
    );

    // A store entry changed after it was added.
    let good = vm(&store.0, &kernel);
    assert_eq!(good.code(), Some(EXIT_SUCCESS), "{}", good.stderr_str());
    let victim = store
        .0
        .join(store_entries(&store.0).into_iter().next().unwrap());
    let mut page = fs::read(&victim).unwrap();
    page[0] ^= 1;
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&victim, &page).unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o444)).unwrap();
    assert_refused(&vm(&store.0, &kernel), "corrupt", "corrupt store entry");

    // Images spacer vm cannot boot. A segment claiming 2^40 bytes is refused before any of
    // its pages is visited.
    let mut huge = fs::read(&kernel).unwrap();
    let phoff = u64::from_le_bytes(huge[32..40].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes(huge[54..56].try_into().unwrap()) as usize;
    let memsz = phoff + 2 * phentsize + 40;
    huge[memsz..memsz + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let huge_path = dir.join("memsz-huge");
    fs::write(&huge_path, &huge).unwrap();
    assert_refused(
        &vm(&store.0, &huge_path),
        "past the guest's 64 MiB of memory",
        "a segment of 2^40 bytes",
    );
    let truncated = dir.join("truncated");
    fs::write(&truncated, &bytes[..at]).unwrap();
    assert_refused(
        &vm(&store.0, &truncated),
        "extends past the end of the file",
        "truncated image",
    );
    let hello = dir.join("hello");
    let r = link(
        Driver::Gcc,
        Linker::Spacer,
        &[programs_dir().join("c_stdio.c")],
        &[],
        &hello,
    );
    assert!(r.ok(), "{}", r.report(Linker::Spacer));
    assert_refused(
        &vm(&store.0, &hello),
        "no Multiboot header",
        "a Linux program",
    );
    assert_refused(
        &vm(&store.0, &dir.join("missing")),
        "cannot read",
        "a missing image",
    );
}

/// A VM started with `--hold`, its serial output going to a file.
struct HeldVm {
    child: Child,
    version: usize,
}

impl Drop for HeldVm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the VM and waits until its guest stopped (the `--hold` message on stderr).
fn start_held(store: &Path, image: &Path, serial: &Path, version: usize) -> HeldVm {
    let mut cmd = vm_command(store, image);
    cmd.arg("--hold")
        .stdin(Stdio::null())
        .stdout(fs::File::create(serial).unwrap())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starting spacer vm");
    let stderr = child.stderr.take().unwrap();
    let mut vm = HeldVm { child, version };
    let start = Instant::now();
    let mut lines = BufReader::new(stderr).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("holding its memory") => {
                assert!(l.contains("status 85"), "{l}");
                break;
            }
            Some(Ok(l)) => eprintln!("vm: {l}"),
            _ => panic!(
                "spacer vm ended before its guest stopped: {:?}",
                vm.child.try_wait()
            ),
        }
        assert!(
            start.elapsed() < VM_TIMEOUT,
            "the guest did not stop in time"
        );
    }
    vm
}

/// Per store page mapped by a VM: whether it is still the store's page (resident, not copied
/// on write). Read from /proc/PID/smaps: every store page is a mapping of its own.
fn store_pages_of(pid: u32, store: &Path) -> BTreeMap<String, bool> {
    let smaps = fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let prefix = format!("{}/", store.display());
    let mut pages = BTreeMap::new();
    let mut current: Option<String> = None;
    let (mut rss, mut anon) = (0u64, 0u64);
    let mut flush = |name: &mut Option<String>, rss: u64, anon: u64| {
        if let Some(n) = name.take() {
            pages.insert(n, rss > 0 && anon == 0);
        }
    };
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields
            .first()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            flush(&mut current, rss, anon);
            (rss, anon) = (0, 0);
            current = fields
                .get(5)
                .and_then(|p| p.strip_prefix(&prefix))
                .map(str::to_owned);
        } else if fields.first() == Some(&"Rss:") {
            rss = fields[1].parse().unwrap();
        } else if fields.first() == Some(&"Anonymous:") {
            anon = fields[1].parse().unwrap();
        }
    }
    flush(&mut current, rss, anon);
    pages
}

/// The process's PSS of shared memory (tmpfs pages: the store's), in KiB, exact over all its
/// mappings (smaps_rollup sums before rounding).
fn pss_shmem_kib(pid: u32) -> u64 {
    let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss_Shmem:"))
        .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap())
        .expect("no Pss_Shmem in smaps_rollup")
}

#[test]
#[cfg_attr(spacer_no_kvm, ignore = "no usable /dev/kvm on this machine")]
fn vms_of_two_versions_share_their_unchanged_pages() {
    let dir = scratch_dir("vm", "fleet");
    let layout = dir.join("kernel.layout");
    let ld = (
        "EXTRA_LDFLAGS",
        format!("-Wl,--layout,{}", layout.display()),
    );
    let a = build(&dir.join("a"), true, std::slice::from_ref(&ld));
    let grown = (
        "EXTRA_CFLAGS_libukdebug",
        "-DUKDEBUG_PRINT_RUNS".to_string(),
    );
    let b = build(&dir.join("b"), true, &[ld, grown]);
    let images = [a, b];
    let store = ShmStore::new("fleet");
    let mut expected = Vec::new();
    for img in &images {
        let r = vm(&store.0, img);
        assert_eq!(r.code(), Some(EXIT_SUCCESS), "{}", r.stderr_str());
        expected.push(r.stdout);
    }
    // The grown kvprintf prints the same text another way.
    assert_eq!(
        expected[0], expected[1],
        "the two versions print differently"
    );
    assert_ne!(
        fs::read(&images[0]).unwrap(),
        fs::read(&images[1]).unwrap(),
        "the two versions are the same image"
    );

    let vms: Vec<HeldVm> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|k| {
                let (store, images, dir) = (&store.0, &images, &dir);
                s.spawn(move || {
                    let serial = dir.join(format!("serial{k}.txt"));
                    start_held(store, &images[k % 2], &serial, k % 2)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (k, v) in vms.iter().enumerate() {
        let serial = fs::read(dir.join(format!("serial{k}.txt"))).unwrap();
        assert_eq!(serial, expected[v.version], "VM {k} printed otherwise");
    }

    let mut distinct: BTreeSet<String> = BTreeSet::new();
    let mut by_version: [BTreeSet<String>; 2] = Default::default();
    let (mut mapped, mut copied, mut pss) = (0usize, 0usize, 0u64);
    for v in &vms {
        let pages = store_pages_of(v.child.id(), &store.0);
        for (name, shared) in pages {
            if shared {
                mapped += 1;
                distinct.insert(name.clone());
                by_version[v.version].insert(name);
            } else {
                copied += 1;
            }
        }
        pss += pss_shmem_kib(v.child.id());
    }
    let common = by_version[0].intersection(&by_version[1]).count();
    let ideal = distinct.len() as u64 * 4;
    eprintln!(
        "vm: 8 VMs (4 x A, 4 x B) map {mapped} resident store pages ({copied} more copied on write); \
         {} distinct ({common} used by both versions): PSS of store pages {pss} KiB for {ideal} KiB \
         of distinct pages, against {} KiB with a copy per VM",
        distinct.len(),
        mapped * 4
    );
    assert!(!distinct.is_empty(), "no VM maps a store page");
    assert!(common > 0, "versions A and B share no page");
    assert!(
        mapped >= 4 * distinct.len(),
        "{mapped} mappings of {} distinct pages: pages are not shared by the VMs",
        distinct.len()
    );
    // smaps_rollup rounds each process's PSS down to a KiB: up to 1 KiB less per VM.
    let low = pss + vms.len() as u64;
    assert!(
        pss * 10 <= ideal * 11 && low * 10 >= ideal * 9,
        "PSS of store pages {pss} KiB is not within 10% of the {ideal} KiB of distinct pages"
    );
}

/// The build.sh variables that make the lz4 application (app3 with liblz4, compiled from the
/// lz4 release `lz4` of crates.io).
fn lz4_app(lz4: &common::versions::LibVersion) -> Vec<(&'static str, String)> {
    let src = lz4.build().include.display().to_string();
    vec![
        ("APP", "app3".to_string()),
        ("APP_LIBS", "liblz4".to_string()),
        (
            "EXTRA_CFLAGS_liblz4",
            format!("-I{src} -DLZ4_USER_MEMORY_FUNCTIONS"),
        ),
        ("EXTRA_CFLAGS_app3", format!("-I{src}")),
    ]
}

/// An application on a real library, lz4 1.9.3 and 1.9.4 compiled into the unikernel, boots
/// under spacer vm as under QEMU and round-trips its text through lz4.
#[test]
#[cfg_attr(spacer_no_kvm, ignore = "no usable /dev/kvm on this machine")]
fn lz4_application_boots_like_qemu() {
    if !qemu_available() {
        return;
    }
    let dir = scratch_dir("vm", "lz4");
    let store = ShmStore::new("lz4");
    for lz4 in [&common::versions::LZ4_OLD, &common::versions::LZ4_NEW] {
        let out = dir.join(lz4.version);
        let kernel = build(&out, true, &lz4_app(lz4));
        let q = boot_in(
            &out,
            &format!("vm: QEMU boot of the lz4 {} kernel", lz4.version),
        );
        let r = vm(&store.0, &kernel);
        assert_eq!(r.code(), Some(EXIT_SUCCESS), "{}", r.stderr_str());
        assert_eq!(q.code(), Some(EXIT_SUCCESS), "QEMU: {}", q.describe());
        let want = format!("lz4 {}: 24576 bytes packed into ", lz4.version);
        let ours = r.stdout_str();
        assert!(
            ours.lines()
                .any(|l| l.starts_with(&want) && l.contains(", same,")),
            "{ours}"
        );
        assert_eq!(
            without_memory_line(&ours),
            without_memory_line(&q.stdout_str())
        );
    }
}
