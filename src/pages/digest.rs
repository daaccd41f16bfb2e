//! Per-page digests: the `.spacer.digests` section's format, and computing it for an image
//! (the linker writes it with `--page-digests`; `verify` adds it to and checks it in images).
//!
//! Format (version 1, little-endian; documented in docs/page-digests.md):
//! header (40 bytes): magic `SPCRDGST`, u32 version = 1, u32 algorithm = 1 (SHA-1),
//! u32 page size = 4096, u32 digest length = 20, u64 entry count, u32 entry size = 48,
//! u32 reserved = 0; then one 48-byte entry per page of every PT_LOAD segment, in program
//! header order: u64 virtual address, u64 file offset of the page, u32 flags (the segment's
//! p_flags, plus bit 31 when the page is all zero), u32 number of bytes of the page that come
//! from the file, 20-byte SHA-1, 4 bytes of zero padding.
//!
//! A page's content is defined as the 4096 bytes starting at its (page-aligned) virtual
//! address, where bytes inside [p_vaddr, p_vaddr + p_filesz) are the segment's file bytes and
//! every other byte is zero: the page as loaded, with file bytes zero-filled to the page.

use anyhow::{anyhow, bail, Result};
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::LittleEndian as LE;
use rayon::prelude::*;
use sha1::{Digest, Sha1};

pub const SECTION_NAME: &[u8] = b".spacer.digests";
pub const MAGIC: &[u8; 8] = b"SPCRDGST";
pub const VERSION: u32 = 1;
pub const ALG_SHA1: u32 = 1;
pub const PAGE: u64 = 4096;
pub const HEADER_SIZE: usize = 40;
pub const ENTRY_SIZE: usize = 48;
pub const FLAG_ZERO: u32 = 1 << 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSeg {
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub flags: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageEntry {
    pub vaddr: u64,
    pub offset: u64,
    pub flags: u32,
    pub file_bytes: u32,
    pub digest: [u8; 20],
}

impl PageEntry {
    pub fn is_zero(&self) -> bool {
        self.flags & FLAG_ZERO != 0
    }
}

impl LoadSeg {
    /// Refuses a segment whose file bytes lie past the end of a file of `file_len` bytes, or
    /// whose sizes disagree or reach past the address space (pages included).
    pub fn check(&self, file_len: u64) -> Result<()> {
        if self
            .offset
            .checked_add(self.filesz)
            .is_none_or(|e| e > file_len)
        {
            bail!(
                "PT_LOAD at {:#x} extends past the end of the file",
                self.vaddr
            );
        }
        if self.filesz > self.memsz
            || self
                .vaddr
                .checked_add(self.memsz)
                .and_then(|e| e.checked_next_multiple_of(PAGE))
                .is_none()
        {
            bail!("PT_LOAD at {:#x} has inconsistent sizes", self.vaddr);
        }
        Ok(())
    }
}

pub fn section_size(segs: &[LoadSeg]) -> u64 {
    HEADER_SIZE as u64 + ENTRY_SIZE as u64 * page_count(segs)
}

/// The page-aligned address range a segment covers (`load_segments` checks that it does not
/// overflow).
fn page_span(s: &LoadSeg) -> std::ops::Range<u64> {
    s.vaddr / PAGE * PAGE..(s.vaddr + s.memsz).next_multiple_of(PAGE)
}

/// The virtual addresses of the pages a segment covers.
pub fn pages_of(s: &LoadSeg) -> impl Iterator<Item = u64> {
    page_span(s).step_by(PAGE as usize)
}

pub fn page_count(segs: &[LoadSeg]) -> u64 {
    segs.iter().map(pages_in).sum()
}

/// The number of pages a segment covers.
fn pages_in(s: &LoadSeg) -> u64 {
    let span = page_span(s);
    (span.end - span.start) / PAGE
}

/// The most pages the loaded segments of an image may cover (16 GiB): digests are computed
/// and stored per page, so a segment whose memory size a broken or hostile header inflates
/// must not make a tool hash (and list) pages without end.
pub const MAX_PAGES: u64 = 1 << 22;

/// The PT_LOAD segments of an ELF64 x86-64 image.
pub fn load_segments(image: &[u8]) -> Result<Vec<LoadSeg>> {
    let hdr =
        elf::FileHeader64::<LE>::parse(image).map_err(|e| anyhow!("not an ELF64 image: {e}"))?;
    let phdrs = hdr
        .program_headers(LE, image)
        .map_err(|e| anyhow!("malformed program headers: {e}"))?;
    let mut segs = Vec::new();
    for p in phdrs {
        if p.p_type(LE) != elf::PT_LOAD {
            continue;
        }
        let s = LoadSeg {
            offset: p.p_offset(LE),
            vaddr: p.p_vaddr(LE),
            filesz: p.p_filesz(LE),
            memsz: p.p_memsz(LE),
            flags: p.p_flags(LE),
        };
        s.check(image.len() as u64)?;
        segs.push(s);
    }
    let pages = segs.iter().fold(0u64, |n, s| n.saturating_add(pages_in(s)));
    if pages > MAX_PAGES {
        bail!(
            "the loaded segments cover {pages} pages, more than the {MAX_PAGES} (16 GiB) spacer digests"
        );
    }
    Ok(segs)
}

/// The content of one page as defined above.
pub fn page_bytes(image: &[u8], s: &LoadSeg, page: u64, buf: &mut [u8; PAGE as usize]) -> u32 {
    buf.fill(0);
    let start = page.max(s.vaddr);
    let end = (page + PAGE).min(s.vaddr + s.filesz);
    if start >= end {
        return 0;
    }
    let src = (s.offset + (start - s.vaddr)) as usize;
    let n = (end - start) as usize;
    buf[(start - page) as usize..(start - page) as usize + n].copy_from_slice(&image[src..src + n]);
    n as u32
}

/// Computes the entries for all pages, in parallel.
pub fn compute(image: &[u8], segs: &[LoadSeg]) -> Vec<PageEntry> {
    let pages: Vec<(usize, u64)> = segs
        .iter()
        .enumerate()
        .flat_map(|(i, s)| pages_of(s).map(move |p| (i, p)))
        .collect();
    pages
        .par_iter()
        .map(|&(i, page)| {
            let s = &segs[i];
            // Zero pages (all of .bss past the file bytes) are alike: hashed once, and pages
            // with no file bytes at all are not even built.
            static ZERO_PAGE: std::sync::OnceLock<[u8; 20]> = std::sync::OnceLock::new();
            let zero_digest =
                || *ZERO_PAGE.get_or_init(|| Sha1::digest([0u8; PAGE as usize]).into());
            let (file_bytes, zero, digest) = if page.max(s.vaddr) >= s.vaddr + s.filesz {
                (0, true, zero_digest())
            } else {
                let mut buf = [0u8; PAGE as usize];
                let file_bytes = page_bytes(image, s, page, &mut buf);
                let zero = buf.iter().all(|&b| b == 0);
                let digest = if zero {
                    zero_digest()
                } else {
                    Sha1::digest(buf).into()
                };
                (file_bytes, zero, digest)
            };
            PageEntry {
                vaddr: page,
                offset: (s.offset as i64 - (s.vaddr as i64 - page as i64)).max(0) as u64,
                flags: s.flags | if zero { FLAG_ZERO } else { 0 },
                file_bytes,
                digest,
            }
        })
        .collect()
}

pub fn encode(entries: &[PageEntry], out: &mut [u8]) {
    out[0..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&ALG_SHA1.to_le_bytes());
    out[16..20].copy_from_slice(&(PAGE as u32).to_le_bytes());
    out[20..24].copy_from_slice(&20u32.to_le_bytes());
    out[24..32].copy_from_slice(&(entries.len() as u64).to_le_bytes());
    out[32..36].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
    out[36..40].fill(0);
    for (i, e) in entries.iter().enumerate() {
        let o = HEADER_SIZE + i * ENTRY_SIZE;
        let d = &mut out[o..o + ENTRY_SIZE];
        d[0..8].copy_from_slice(&e.vaddr.to_le_bytes());
        d[8..16].copy_from_slice(&e.offset.to_le_bytes());
        d[16..20].copy_from_slice(&e.flags.to_le_bytes());
        d[20..24].copy_from_slice(&e.file_bytes.to_le_bytes());
        d[24..44].copy_from_slice(&e.digest);
        d[44..48].fill(0);
    }
}

pub fn decode(data: &[u8]) -> Result<Vec<PageEntry>> {
    if data.len() < HEADER_SIZE {
        bail!(
            "digest section is truncated ({} bytes, header needs {HEADER_SIZE})",
            data.len()
        );
    }
    if &data[0..8] != MAGIC {
        bail!("digest section has a bad magic number");
    }
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
    let version = u32_at(8);
    if version != VERSION {
        bail!("unsupported digest section version {version}");
    }
    if u32_at(12) != ALG_SHA1 || u32_at(20) != 20 {
        bail!(
            "unsupported digest algorithm {} (length {})",
            u32_at(12),
            u32_at(20)
        );
    }
    if u32_at(16) as u64 != PAGE {
        bail!("unsupported page size {}", u32_at(16));
    }
    if u32_at(32) as usize != ENTRY_SIZE {
        bail!("unsupported digest entry size {}", u32_at(32));
    }
    let count = u64::from_le_bytes(data[24..32].try_into().unwrap());
    let need = (count as u128) * ENTRY_SIZE as u128 + HEADER_SIZE as u128;
    if need != data.len() as u128 {
        bail!(
            "digest section is malformed: {count} entries need {need} bytes, section has {}",
            data.len()
        );
    }
    Ok((0..count as usize)
        .map(|i| {
            let d = &data[HEADER_SIZE + i * ENTRY_SIZE..HEADER_SIZE + (i + 1) * ENTRY_SIZE];
            PageEntry {
                vaddr: u64::from_le_bytes(d[0..8].try_into().unwrap()),
                offset: u64::from_le_bytes(d[8..16].try_into().unwrap()),
                flags: u32::from_le_bytes(d[16..20].try_into().unwrap()),
                file_bytes: u32::from_le_bytes(d[20..24].try_into().unwrap()),
                digest: d[24..44].try_into().unwrap(),
            }
        })
        .collect())
}

/// Finds the digest section: (file offset, size).
pub fn find_section(image: &[u8]) -> Result<Option<(u64, u64)>> {
    let hdr =
        elf::FileHeader64::<LE>::parse(image).map_err(|e| anyhow!("not an ELF64 image: {e}"))?;
    let shdrs = hdr
        .sections(LE, image)
        .map_err(|e| anyhow!("malformed section headers: {e}"))?;
    for sh in shdrs.iter() {
        if shdrs.section_name(LE, sh).ok() == Some(SECTION_NAME) {
            let (off, size) = (sh.sh_offset(LE), sh.sh_size(LE));
            if off.checked_add(size).is_none_or(|e| e > image.len() as u64) {
                bail!("digest section extends past the end of the file");
            }
            return Ok(Some((off, size)));
        }
    }
    Ok(None)
}

/// Digests recorded in an image, or computed from it when it has none.
pub fn read_or_compute(image: &[u8]) -> Result<(Vec<PageEntry>, bool)> {
    match find_section(image)? {
        Some((off, size)) => Ok((decode(&image[off as usize..(off + size) as usize])?, true)),
        None => Ok((compute(image, &load_segments(image)?), false)),
    }
}

/// A digest in hexadecimal, as messages show it.
pub fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digests an image records, as the tools that map its pages from the page store name them
/// (`spacer run`, `spacer vm`): page `k` in program-header order is named by its recorded
/// digest; without a digest section, by the SHA-1 of its content.
pub struct Recorded(Option<Vec<PageEntry>>);

impl Recorded {
    /// No recorded digests: every page is named by its content's.
    pub fn computed() -> Recorded {
        Recorded(None)
    }

    pub fn read(image: &[u8]) -> Result<Recorded> {
        Ok(Recorded(match find_section(image)? {
            Some((o, s)) => Some(decode(&image[o as usize..(o + s) as usize])?),
            None => None,
        }))
    }

    /// The digest to map page `k` at `vaddr` (of a segment with `flags`) under. A read-only
    /// page's recorded digest is taken as it is: the store maps only a copy it has verified
    /// against that digest, and checks the image's bytes before adding them. A writable
    /// page's bytes are checked here, since the program may see them before any store does.
    pub fn digest(
        &self,
        k: usize,
        vaddr: u64,
        flags: u32,
        content: &[u8; PAGE as usize],
    ) -> Result<[u8; 20]> {
        let Some(rec) = &self.0 else {
            return Ok(Sha1::digest(content).into());
        };
        let r = rec
            .get(k)
            .ok_or_else(|| anyhow!("digest section has fewer pages than the program headers"))?;
        if r.vaddr != vaddr {
            bail!("page {vaddr:#x} does not match the digest section");
        }
        if flags & elf::PF_W != 0 && Sha1::digest(content).as_slice() != r.digest {
            bail!("page {vaddr:#x} does not match its recorded digest");
        }
        Ok(r.digest)
    }
}
