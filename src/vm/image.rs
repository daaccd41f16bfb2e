//! Loading a kernel image into guest memory: every loaded page at its physical address
//! (`p_paddr`), from the page store where a page belongs to one segment. Pages are named and
//! checked as `spacer run` names and checks them (`digest::Recorded`): a page enters the store
//! only if its bytes match the image's digest, and a stored page is mapped only after its bytes
//! were checked against its name.

use super::memory::GuestMemory;
use crate::pages::digest::{self, LoadSeg, PageEntry, PAGE};
use crate::pages::store::Store;
use anyhow::{anyhow, bail, Context, Result};
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian as LE;
use sha1::{Digest, Sha1};
use std::collections::HashMap;

/// What loading put where.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The entry point, as a physical address.
    pub entry: u64,
    /// Pages mapped from the page store.
    pub stored: usize,
    /// Pages copied into the guest's own memory (a page two segments share).
    pub copied: usize,
    /// Zero pages of writable segments, left as untouched guest memory.
    pub zero: usize,
    /// The first page-aligned physical address past the image.
    pub end: u64,
}

/// A loaded segment with the physical address it is loaded at.
struct Segment {
    seg: LoadSeg,
    paddr: u64,
}

impl Segment {
    /// The guest physical page of the segment's page at virtual address `page`.
    fn gpa(&self, page: u64) -> u64 {
        page - self.seg.vaddr / PAGE * PAGE + self.paddr / PAGE * PAGE
    }
}

fn segments(data: &[u8], name: &str) -> Result<Vec<Segment>> {
    let hdr = elf::FileHeader64::<LE>::parse(data).map_err(|_| {
        anyhow!("{name}: not a 64-bit ELF image (spacer vm boots the x86-64 kernel ELF, before any objcopy to elf32-i386)")
    })?;
    if hdr.e_machine(LE) != elf::EM_X86_64 {
        bail!("{name}: not an x86-64 image");
    }
    if hdr.e_type(LE) != elf::ET_EXEC {
        bail!(
            "{name}: not an executable kernel image (ELF type {})",
            hdr.e_type(LE)
        );
    }
    let phdrs = hdr
        .program_headers(LE, data)
        .map_err(|e| anyhow!("{name}: bad program headers: {e}"))?;
    let segs = digest::load_segments(data).with_context(|| name.to_owned())?;
    let paddrs = phdrs
        .iter()
        .filter(|p| p.p_type(LE) == elf::PT_LOAD)
        .map(|p| p.p_paddr(LE));
    let out: Vec<Segment> = segs
        .into_iter()
        .zip(paddrs)
        .map(|(seg, paddr)| Segment { seg, paddr })
        .collect();
    for s in &out {
        if s.seg.vaddr % PAGE != s.paddr % PAGE {
            bail!(
                "{name}: segment at {:#x} is loaded at {:#x}, which is not the same offset in a page",
                s.seg.vaddr,
                s.paddr
            );
        }
        if s.paddr.checked_add(s.seg.memsz).is_none() {
            bail!(
                "{name}: segment at {:#x} ends past the address space",
                s.seg.vaddr
            );
        }
    }
    if out.is_empty() {
        bail!("{name}: no loadable segment");
    }
    Ok(out)
}

/// The entry point as a physical address: `e_entry` inside a segment, translated.
fn entry(data: &[u8], segs: &[Segment], name: &str) -> Result<u64> {
    let e = elf::FileHeader64::<LE>::parse(data)
        .map_err(|e| anyhow!("{name}: {e}"))?
        .e_entry(LE);
    segs.iter()
        .find(|s| s.seg.vaddr <= e && e < s.seg.vaddr + s.seg.memsz)
        .map(|s| e - s.seg.vaddr + s.paddr)
        .ok_or_else(|| anyhow!("{name}: the entry point {e:#x} is in no loaded segment"))
}

/// Loads `data` (the image called `name`) into `mem`, mapping its pages from `store`.
pub fn load(mem: &mut GuestMemory, data: &[u8], name: &str, store: &Store) -> Result<Loaded> {
    let segs = segments(data, name)?;
    let recorded = digest::Recorded::read(data).with_context(|| name.to_owned())?;
    // Guest pages more than one segment puts bytes in: composed in the guest's own memory.
    let mut users: HashMap<u64, u32> = HashMap::new();
    for s in &segs {
        for page in digest::pages_of(&s.seg) {
            *users.entry(s.gpa(page)).or_default() += 1;
        }
    }
    let mut loaded = Loaded {
        entry: entry(data, &segs, name)?,
        end: users.keys().map(|&p| p + PAGE).max().unwrap_or(0),
        ..Loaded::default()
    };
    if loaded.end > mem.size() {
        bail!(
            "{name}: the image ends at {:#x}, past the guest's {} MiB of memory (--memory)",
            loaded.end,
            mem.size() >> 20
        );
    }
    let mut k = 0usize;
    let mut content = [0u8; PAGE as usize];
    for s in &segs {
        for page in digest::pages_of(&s.seg) {
            let gpa = s.gpa(page);
            let file_bytes = digest::page_bytes(data, &s.seg, page, &mut content);
            let d = recorded
                .digest(k, page, s.seg.flags, &content)
                .with_context(|| name.to_owned())?;
            k += 1;
            if users[&gpa] > 1 {
                if Sha1::digest(content).as_slice() != d {
                    bail!("{name}: page {page:#x} does not match its recorded digest");
                }
                // Only this segment's part: the other segments' bytes lie outside it.
                let from = page.max(s.seg.vaddr) - page;
                let to = (page + PAGE).min(s.seg.vaddr + s.seg.memsz) - page;
                mem.write(gpa + from, &content[from as usize..to as usize])?;
                loaded.copied += 1;
                continue;
            }
            if s.seg.flags & elf::PF_W != 0 && content.iter().all(|&b| b == 0) {
                // Guest memory is zero already; a .bss page costs nothing until written.
                loaded.zero += 1;
                continue;
            }
            let entry = PageEntry {
                vaddr: page,
                offset: 0,
                flags: s.seg.flags,
                file_bytes,
                digest: d,
            };
            let f = store
                .page(&entry, &content)
                .with_context(|| name.to_owned())?;
            mem.map_page(gpa, &f)
                .with_context(|| format!("{name}: page {page:#x}"))?;
            loaded.stored += 1;
        }
    }
    // A page two segments share counted once per segment above; count it once.
    loaded.copied = users.values().filter(|&&n| n > 1).count();
    Ok(loaded)
}
