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

/// The ELF identification byte giving the file class (32- or 64-bit).
const EI_CLASS: usize = 4;

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

/// The loaded segments and the physical entry point of an ELF kernel: 64-bit, or a 32-bit
/// container of 64-bit code (what `objcopy -O elf32-i386` makes for QEMU's Multiboot loader).
fn read_image(data: &[u8], name: &str) -> Result<(Vec<Segment>, u64)> {
    match data.get(EI_CLASS) {
        Some(&elf::ELFCLASS64) => read_elf::<elf::FileHeader64<LE>>(data, name, elf::EM_X86_64),
        Some(&elf::ELFCLASS32) => read_elf::<elf::FileHeader32<LE>>(data, name, elf::EM_386),
        _ => bail!("{name}: not an ELF image"),
    }
}

fn read_elf<H: FileHeader<Endian = LE>>(
    data: &[u8],
    name: &str,
    machine: u16,
) -> Result<(Vec<Segment>, u64)> {
    let hdr = H::parse(data).map_err(|e| anyhow!("{name}: not an ELF image: {e}"))?;
    if hdr.e_machine(LE) != machine || !data.starts_with(&elf::ELFMAG) {
        bail!(
            "{name}: not an x86 image (ELF machine {})",
            hdr.e_machine(LE)
        );
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
    let mut out = Vec::new();
    for p in phdrs.iter().filter(|p| p.p_type(LE) == elf::PT_LOAD) {
        let s = Segment {
            seg: LoadSeg {
                offset: p.p_offset(LE).into(),
                vaddr: p.p_vaddr(LE).into(),
                filesz: p.p_filesz(LE).into(),
                memsz: p.p_memsz(LE).into(),
                flags: p.p_flags(LE),
            },
            paddr: p.p_paddr(LE).into(),
        };
        s.seg
            .check(data.len() as u64)
            .with_context(|| name.to_owned())?;
        if s.paddr.checked_add(s.seg.memsz).is_none() {
            bail!(
                "{name}: segment at {:#x} is loaded past the address space",
                s.seg.vaddr
            );
        }
        if s.seg.vaddr % PAGE != s.paddr % PAGE {
            bail!(
                "{name}: segment at {:#x} is loaded at {:#x}, which is not the same offset in a page",
                s.seg.vaddr,
                s.paddr
            );
        }
        out.push(s);
    }
    if out.is_empty() {
        bail!("{name}: no loadable segment");
    }
    // The entry point as a physical address: `e_entry` inside a segment, translated.
    let e: u64 = hdr.e_entry(LE).into();
    let entry = out
        .iter()
        .find(|s| s.seg.vaddr <= e && e < s.seg.vaddr + s.seg.memsz)
        .map(|s| e - s.seg.vaddr + s.paddr)
        .ok_or_else(|| anyhow!("{name}: the entry point {e:#x} is in no loaded segment"))?;
    Ok((out, entry))
}

/// The physical entry point of the image, once its segments passed the checks `load` makes.
pub fn entry_point(data: &[u8], name: &str) -> Result<u64> {
    read_image(data, name).map(|(_, entry)| entry)
}

/// Loads `data` (the image called `name`) into `mem`, mapping its pages from `store`.
pub fn load(mem: &mut GuestMemory, data: &[u8], name: &str, store: &Store) -> Result<Loaded> {
    let (segs, entry) = read_image(data, name)?;
    // Only 64-bit images carry page digests (docs/page-digests.md).
    let recorded = if data.get(EI_CLASS) == Some(&elf::ELFCLASS64) {
        digest::Recorded::read(data).with_context(|| name.to_owned())?
    } else {
        digest::Recorded::computed()
    };
    // Checked before any page is visited: a header may claim more than memory holds.
    let end = segs
        .iter()
        .map(|s| (s.paddr + s.seg.memsz).checked_next_multiple_of(PAGE))
        .try_fold(0u64, |end, e| e.map(|e| end.max(e)))
        .unwrap_or(u64::MAX);
    if end > mem.size() {
        bail!(
            "{name}: the image ends at {end:#x}, past the guest's {} MiB of memory (--memory)",
            mem.size() >> 20
        );
    }
    // Guest pages more than one segment puts bytes in: composed in the guest's own memory.
    let mut users: HashMap<u64, u32> = HashMap::new();
    for s in &segs {
        for page in digest::pages_of(&s.seg) {
            *users.entry(s.gpa(page)).or_default() += 1;
        }
    }
    let mut loaded = Loaded {
        entry,
        ..Loaded::default()
    };
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
