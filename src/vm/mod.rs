//! `spacer vm IMAGE`: boot a Multiboot x86-64 unikernel in a KVM virtual machine whose memory
//! holds the image's pages mapped from the page store, so that VMs booted from images with
//! identical pages share those pages' host memory from the first instruction, without waiting
//! for KSM to find them.
//!
//! The machine is deliberately small: one vCPU, memory from physical address 0, a COM1 serial
//! console on standard output and QEMU's `isa-debug-exit` port (see `devices`). It boots what
//! QEMU's `-kernel` Multiboot loader boots, given the 64-bit kernel ELF (QEMU wants it
//! converted to `elf32-i386`; spacer vm reads the original, whose page digests it checks).

mod clock;
mod devices;
mod image;
mod memory;
mod multiboot;

use crate::pages::store::Store;
use anyhow::{anyhow, bail, Context, Result};
use kvm_bindings::{kvm_userspace_memory_region, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use std::path::PathBuf;
use std::time::Instant;

/// Where the KVM module may put the three-page task state segment it needs on Intel
/// processors: just below 4 GiB, outside any guest memory spacer vm gives.
const TSS_ADDRESS: usize = 0xfffb_d000;

pub struct Options {
    pub image: PathBuf,
    pub store: PathBuf,
    /// Guest memory in MiB.
    pub memory: u64,
    pub cmdline: String,
    /// Keep the VM (and its memory) once the guest stopped, until the process is killed.
    pub hold: bool,
    /// Print what was loaded and how long booting took, on standard error.
    pub stats: bool,
}

/// How the guest stopped.
enum Stop {
    /// It asked to (a debug-exit write, power-off or a reported panic).
    Device(devices::Stop),
    /// It halted (no interrupt can wake it: the machine has no interrupt sources).
    Halted,
}

/// Checks that `data` (the image called `name`) is a kernel spacer vm can load, without
/// booting it; returns its physical entry point. (The fuzz targets call this.)
pub fn check_image(data: &[u8], name: &str) -> Result<u64> {
    multiboot::check_header(data, name)?;
    image::entry_point(data, name)
}

/// Boots the image and runs it until it stops; returns the exit status for spacer vm.
pub fn boot(opts: &Options) -> Result<i32> {
    let start = Instant::now();
    let name = opts.image.display().to_string();
    let file = std::fs::File::open(&opts.image).with_context(|| format!("cannot read {name}"))?;
    // SAFETY: read-only mapping of the image; spacer does not write to it.
    let data =
        unsafe { memmap2::Mmap::map(&file) }.with_context(|| format!("cannot map {name}"))?;
    multiboot::check_header(&data, &name)?;
    let kvm = Kvm::new().map_err(|e| {
        anyhow!("cannot open /dev/kvm ({e}); spacer vm needs KVM and access to /dev/kvm")
    })?;
    let vm = kvm
        .create_vm()
        .map_err(|e| anyhow!("cannot create a VM: {e}"))?;
    let size = opts
        .memory
        .checked_mul(1 << 20)
        .ok_or_else(|| anyhow!("--memory {} MiB is too large", opts.memory))?;
    let mut mem = memory::GuestMemory::new(size)?;
    let store = Store::open(&opts.store)?;
    let loaded = image::load(&mut mem, &data, &name, &store)?;
    // The image's own pages are not the guest's: let them go.
    drop(data);
    // The command line as QEMU's Multiboot loader gives it: the kernel's path, then the rest.
    let cmdline = if opts.cmdline.is_empty() {
        name.clone()
    } else {
        format!("{name} {}", opts.cmdline)
    };
    let info = multiboot::write_info(&mut mem, &cmdline)?;
    let (_vm, mut vcpu) = machine(&kvm, vm, &mem, loaded.entry, info)?;
    if opts.stats {
        eprintln!(
            "spacer vm: {name}: {} pages from the page store, {} copied, {} zero; ready after {:.2} ms",
            loaded.stored,
            loaded.copied,
            loaded.zero,
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    let mut devices = devices::Devices::new(std::io::stdout().lock());
    let stop = run(&mut vcpu, &mut devices);
    devices
        .flush()
        .context("cannot write the guest's console output")?;
    let status = match stop? {
        Stop::Device(devices::Stop::Exit(status)) => status,
        Stop::Device(devices::Stop::PowerOff) | Stop::Halted => 0,
        Stop::Device(devices::Stop::Panic) => bail!("{name}: the guest reported a panic (pvpanic)"),
    };
    if opts.stats {
        eprintln!(
            "spacer vm: {name}: guest stopped with status {status} after {:.2} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    if opts.hold {
        eprintln!("spacer vm: {name}: guest stopped with status {status}; holding its memory until killed");
        loop {
            // SAFETY: pause(2) only waits for a signal.
            unsafe { libc::pause() };
        }
    }
    Ok(status)
}

/// The VM with `mem` as its memory and its one vCPU, in the state the loader leaves it in.
fn machine(
    kvm: &Kvm,
    vm: VmFd,
    mem: &memory::GuestMemory,
    entry: u64,
    info: u64,
) -> Result<(VmFd, VcpuFd)> {
    let region = kvm_userspace_memory_region {
        slot: 0,
        flags: 0,
        guest_phys_addr: 0,
        memory_size: mem.size(),
        userspace_addr: mem.host_base(),
    };
    // SAFETY: the region is our own mapping, which lives (in `mem`) as long as the VM runs.
    unsafe { vm.set_user_memory_region(region) }
        .map_err(|e| anyhow!("cannot give the VM its memory: {e}"))?;
    vm.set_tss_address(TSS_ADDRESS)
        .map_err(|e| anyhow!("cannot place the VM's task state segment: {e}"))?;
    let vcpu = vm
        .create_vcpu(0)
        .map_err(|e| anyhow!("cannot create a vCPU: {e}"))?;
    let mut cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(|e| anyhow!("cannot read the CPU features KVM offers: {e}"))?;
    single_cpu(&mut cpuid);
    if std::path::Path::new("/sys/module/kvm_pvm").exists() {
        pin_to_apic_id_zero();
    }
    vcpu.set_cpuid2(&cpuid)
        .map_err(|e| anyhow!("cannot set the vCPU's features: {e}"))?;
    let sregs = vcpu
        .get_sregs()
        .map_err(|e| anyhow!("cannot read the vCPU's registers: {e}"))?;
    let (regs, sregs) = multiboot::entry_state(entry, info, sregs)?;
    vcpu.set_sregs(&sregs)
        .and_then(|()| vcpu.set_regs(&regs))
        .map_err(|e| anyhow!("cannot set the vCPU's registers: {e}"))?;
    Ok((vm, vcpu))
}

fn run<W: std::io::Write>(vcpu: &mut VcpuFd, devices: &mut devices::Devices<W>) -> Result<Stop> {
    let mut power_off_armed = false;
    loop {
        match vcpu.run() {
            Ok(VcpuExit::IoOut(port, data)) => {
                devices
                    .out(port, data)
                    .context("cannot write the guest's console output")?;
                if let Some(stop) = devices.stop {
                    return Ok(Stop::Device(stop));
                }
                if devices.power_off && !power_off_armed {
                    power_off_armed = true;
                    arm_power_off_timer()?;
                }
            }
            Ok(VcpuExit::IoIn(port, data)) => devices.input(port, data),
            // Addresses without memory or a device: reads float high, writes are lost.
            Ok(VcpuExit::MmioRead(_, data)) => data.fill(0xff),
            Ok(VcpuExit::MmioWrite(..)) => {}
            Ok(VcpuExit::Hlt) if devices.power_off => {
                return Ok(Stop::Device(devices::Stop::PowerOff))
            }
            Ok(VcpuExit::Hlt) => return Ok(Stop::Halted),
            Ok(VcpuExit::Shutdown) => {
                let rip = vcpu.get_regs().map(|r| r.rip).unwrap_or(0);
                bail!("the guest shut down (a triple fault), last at rip {rip:#x}")
            }
            Ok(VcpuExit::FailEntry(reason, _)) => {
                bail!("KVM could not enter the guest (hardware reason {reason:#x})")
            }
            Ok(VcpuExit::InternalError) => {
                // SAFETY: KVM filled the `internal` member for this exit reason.
                let sub = unsafe { vcpu.get_kvm_run().__bindgen_anon_1.internal.suberror };
                let rip = vcpu.get_regs().map(|r| r.rip).unwrap_or(0);
                bail!("KVM could not run the guest's instruction at rip {rip:#x} (internal error {sub}; a host that emulates guest kernel code, such as PVM, cannot run SSE instructions there)")
            }
            Ok(other) => bail!("unexpected exit from the guest: {other:?}"),
            // The power-off timer interrupted the guest: the power goes.
            Err(e) if e.errno() == libc::EINTR && devices.power_off => {
                return Ok(Stop::Device(devices::Stop::PowerOff))
            }
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {}
            Err(e) => bail!("running the guest failed: {e}"),
        }
    }
}

/// The CPU identification of the one vCPU: its (x2)APIC ID 0, whatever host CPU answered
/// KVM's query (kernels index per-CPU arrays by it).
fn single_cpu(cpuid: &mut kvm_bindings::CpuId) {
    for e in cpuid.as_mut_slice() {
        match e.function {
            1 => e.ebx &= 0x00ff_ffff,
            0xb | 0x1f => e.edx = 0,
            _ => {}
        }
    }
}

/// On a PVM host (KVM without hardware virtualization) the guest reads the host's CPUID, not
/// the one set above, so its APIC ID is that of the host CPU the vCPU runs on. Running on the
/// CPU whose APIC ID is 0 gives the guest the ID a one-CPU machine has. Left as it was if no
/// allowed CPU has it.
fn pin_to_apic_id_zero() {
    // SAFETY: cpu_set_t is plain data; sched_{get,set}affinity only read and write it.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed) != 0 {
            return;
        }
        for cpu in 0..libc::CPU_SETSIZE as usize {
            if !libc::CPU_ISSET(cpu, &allowed) {
                continue;
            }
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) == 0
                && std::arch::x86_64::__cpuid(1).ebx >> 24 == 0
            {
                return;
            }
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &allowed);
    }
}

/// How long a power-off request takes to cut the power (QEMU handles it in its main loop, a
/// moment after the guest's write).
const POWER_OFF_DELAY_US: i64 = 20_000;

extern "C" fn interrupt_guest(_: libc::c_int) {}

/// Interrupts the vCPU (KVM_RUN returns EINTR) once the power-off delay has passed.
fn arm_power_off_timer() -> Result<()> {
    // SAFETY: installs a handler that does nothing, without SA_RESTART, so that the signal
    // only makes the blocking KVM_RUN return; then a one-shot real-time timer.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = interrupt_guest as *const () as usize;
        libc::sigemptyset(&mut act.sa_mask);
        if libc::sigaction(libc::SIGALRM, &act, std::ptr::null_mut()) != 0 {
            bail!(
                "cannot install the power-off timer: {}",
                std::io::Error::last_os_error()
            );
        }
        let t = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: 0,
                tv_usec: POWER_OFF_DELAY_US,
            },
        };
        if libc::setitimer(libc::ITIMER_REAL, &t, std::ptr::null_mut()) != 0 {
            bail!(
                "cannot start the power-off timer: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}
