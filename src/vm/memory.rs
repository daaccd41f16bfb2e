//! Guest memory: one host mapping that KVM sees as the guest's physical memory from address 0.
//! It starts as anonymous memory (untouched pages cost nothing); the image's pages are then
//! mapped over it one by one from page-store files, privately, so that a page the guest only
//! reads stays the store's page, shared with every VM and process that maps the same entry,
//! and a page the guest writes becomes its own copy.

use anyhow::{bail, Result};
use std::fs::File;
use std::os::fd::AsRawFd;

use crate::pages::digest::PAGE;

pub struct GuestMemory {
    host: *mut u8,
    size: u64,
}

impl GuestMemory {
    /// `size` bytes of zeroed guest memory (a multiple of the page size).
    pub fn new(size: u64) -> Result<GuestMemory> {
        if size == 0 || !size.is_multiple_of(PAGE) {
            bail!("guest memory size {size:#x} is not a positive multiple of 4 KiB");
        }
        // SAFETY: a fresh anonymous mapping of our own; nothing else refers to it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            bail!(
                "cannot reserve {} MiB of guest memory: {}",
                size >> 20,
                std::io::Error::last_os_error()
            );
        }
        Ok(GuestMemory {
            host: p as *mut u8,
            size,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The host address guest physical address 0 is at.
    pub fn host_base(&self) -> u64 {
        self.host as u64
    }

    fn check(&self, gpa: u64, len: u64) -> Result<()> {
        if gpa.checked_add(len).is_none_or(|end| end > self.size) {
            bail!(
                "guest address range {gpa:#x}..{:#x} is outside the guest's {} MiB of memory",
                gpa.saturating_add(len),
                self.size >> 20
            );
        }
        Ok(())
    }

    /// Maps one page of a page-store file at guest page `gpa`, privately (copy on write).
    pub fn map_page(&mut self, gpa: u64, file: &File) -> Result<()> {
        self.check(gpa, PAGE)?;
        if !gpa.is_multiple_of(PAGE) {
            bail!("guest page address {gpa:#x} is not page-aligned");
        }
        // SAFETY: the target lies inside our own mapping (checked above), which the new
        // mapping replaces page for page; no reference into it is held across this call.
        let p = unsafe {
            let at = self.host.add(gpa as usize) as *mut libc::c_void;
            libc::mmap(
                at,
                PAGE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            bail!(
                "cannot map a page-store page at guest address {gpa:#x}: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    /// Copies `bytes` to guest address `gpa`.
    pub fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<()> {
        self.check(gpa, bytes.len() as u64)?;
        // SAFETY: inside our mapping (checked above); `bytes` cannot alias guest memory, which
        // is only reachable through raw pointers.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.host.add(gpa as usize), bytes.len())
        };
        Ok(())
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the range mapped in `new` (the page mappings lie inside it).
        unsafe { libc::munmap(self.host as *mut libc::c_void, self.size as usize) };
    }
}
