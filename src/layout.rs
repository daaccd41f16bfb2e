//! Output layout for static executables: which output section each input section goes to, in
//! which order, at which address and file offset, and which segments cover them. The order
//! follows GNU ld's default script for x86-64 executables with separate code segments.

use crate::link::Link;
use crate::symbols::{ArrayKind, Def, LinkerSym};
use anyhow::{bail, Context, Result};
use object::elf;
use object::LittleEndian as LE;

pub const PAGE: u64 = 0x1000;
pub const EHDR_SIZE: u64 = 64;
pub const PHDR_SIZE: u64 = 56;
pub const PLT_ENTRY: u64 = 16;
pub const GOTPLT_RESERVED: u64 = 24;

/// Sections the linker creates rather than copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Synth {
    Got,
    GotPlt,
    Iplt,
    RelaIplt,
    EhFrameHdr,
    BuildId,
    DynSym,
    DynStr,
    RelaDyn,
    Dynamic,
    PageDigests,
}

/// Entries of `.dynamic` in a position-independent static executable: just what the C
/// library's self-relocation reads.
pub const DYNAMIC_ENTRIES: u64 = 9;

#[derive(Debug, Clone, Default)]
pub struct OutputSection {
    pub name: Vec<u8>,
    pub sh_type: u32,
    pub flags: u64,
    pub align: u64,
    pub entsize: u64,
    pub rank: u32,
    /// Input sections (file, section) in output order.
    pub members: Vec<(u32, u32)>,
    pub synth: Option<Synth>,
    /// Offset of the COMMON block inside this section (`.bss` only).
    pub common_off: Option<u64>,
    pub size: u64,
    pub addr: u64,
    pub offset: u64,
    /// Index in the output section header table.
    pub shndx: u32,
    /// Offset of the linker-created contents (`synth`) inside the section.
    pub synth_off: u64,
    /// Load address (differs from `addr` with `AT(...)` in a script).
    pub lma: u64,
    /// `BYTE`/`SHORT`/`LONG`/`QUAD` data from a script: (offset, size, value).
    pub data: Vec<(u64, u64, u64)>,
}

impl OutputSection {
    pub fn is_alloc(&self) -> bool {
        self.flags & elf::SHF_ALLOC as u64 != 0
    }
    pub fn is_nobits(&self) -> bool {
        self.sh_type == elf::SHT_NOBITS
    }
    pub fn is_tls(&self) -> bool {
        self.flags & elf::SHF_TLS as u64 != 0
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    /// Physical (load) address; equal to `vaddr` unless a script says otherwise.
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

#[derive(Default)]
pub struct Layout {
    pub secs: Vec<OutputSection>,
    /// Sizes of the linker-created sections this link has.
    pub synth_sizes: crate::symbols::FastMap<Synth, u64>,
    pub phdrs: Vec<Phdr>,
    pub base: u64,
    pub got_addr: u64,
    /// `_GLOBAL_OFFSET_TABLE_`.
    pub got_base: u64,
    pub plt_addr: u64,
    pub gotplt_addr: u64,
    pub rela_iplt_addr: u64,
    pub tls_start: u64,
    pub tls_align: u64,
    /// The thread pointer's value relative to the TLS template (variant II: end of block).
    pub tp: u64,
    pub entry: u64,
    /// End of the section contents in the file (symbol tables follow).
    pub content_end: u64,
}

impl Layout {
    pub fn plt_entry_addr(&self, i: u32) -> u64 {
        self.plt_addr + PLT_ENTRY * i as u64
    }
    pub fn gotplt_slot_addr(&self, i: u32) -> u64 {
        self.gotplt_addr + GOTPLT_RESERVED + 8 * i as u64
    }
    pub fn find(&self, name: &[u8]) -> Option<&OutputSection> {
        self.secs.iter().find(|s| s.name == name)
    }
    pub fn find_synth(&self, k: Synth) -> Option<&OutputSection> {
        self.secs.iter().find(|s| s.synth == Some(k))
    }
    /// (file offset, address, size) of a linker-created section's contents.
    pub fn synth_range(&self, k: Synth) -> Option<(u64, u64, u64)> {
        let os = self.find_synth(k)?;
        let size = self.synth_sizes.get(&k).copied().unwrap_or(os.size);
        Some((os.offset + os.synth_off, os.addr + os.synth_off, size))
    }
}

/// The linker-created sections this link needs, with their sizes.
pub fn synth_sizes(link: &Link, has_eh_frame: bool) -> Vec<(Synth, u64)> {
    let mut v = Vec::new();
    let got_sym_used = link.needs_got_base;
    if !link.got.is_empty() {
        v.push((Synth::Got, 8 * link.got.len() as u64));
    }
    if !link.plt.is_empty() || got_sym_used {
        v.push((Synth::GotPlt, GOTPLT_RESERVED + 8 * link.plt.len() as u64));
    }
    if !link.plt.is_empty() {
        v.push((Synth::Iplt, PLT_ENTRY * link.plt.len() as u64));
        if !link.pie {
            v.push((Synth::RelaIplt, 24 * link.plt.len() as u64));
        }
    }
    if link.pie {
        v.push((Synth::DynSym, 24));
        v.push((Synth::DynStr, 1));
        let relocs = link.dyn_section_relocs as u64
            + link.got_relative().count() as u64
            + link.plt.len() as u64;
        v.push((Synth::RelaDyn, 24 * relocs));
        v.push((Synth::Dynamic, 16 * DYNAMIC_ENTRIES));
    }
    if link.args.eh_frame_hdr && has_eh_frame {
        let fdes: usize = link
            .eh
            .values()
            .map(|e| e.records.iter().filter(|r| r.keep && r.is_fde()).count())
            .sum();
        v.push((Synth::EhFrameHdr, 12 + 8 * fdes as u64));
    }
    let build_id_len = match &link.args.build_id {
        crate::args::BuildId::None => 0,
        crate::args::BuildId::Sha1 => 20,
        crate::args::BuildId::Uuid => 16,
        crate::args::BuildId::Hex(h) => h.len(),
    };
    if build_id_len > 0 {
        v.push((Synth::BuildId, 16 + build_id_len.next_multiple_of(4) as u64));
    }
    v
}

/// Output name, type, flags, alignment and entry size of a linker-created section.
pub fn synth_props(k: Synth) -> (&'static [u8], u32, u64, u64, u64) {
    let a = elf::SHF_ALLOC as u64;
    let w = elf::SHF_WRITE as u64;
    match k {
        Synth::Got => (b".got", elf::SHT_PROGBITS, a | w, 8, 8),
        Synth::GotPlt => (b".got.plt", elf::SHT_PROGBITS, a | w, 8, 8),
        Synth::Iplt => (
            b".plt",
            elf::SHT_PROGBITS,
            a | elf::SHF_EXECINSTR as u64,
            16,
            16,
        ),
        Synth::RelaIplt => (
            b".rela.plt",
            elf::SHT_RELA,
            a | elf::SHF_INFO_LINK as u64,
            8,
            24,
        ),
        Synth::DynSym => (b".dynsym", elf::SHT_DYNSYM, a, 8, 24),
        Synth::DynStr => (b".dynstr", elf::SHT_STRTAB, a, 1, 0),
        Synth::RelaDyn => (b".rela.dyn", elf::SHT_RELA, a, 8, 24),
        Synth::Dynamic => (b".dynamic", elf::SHT_DYNAMIC, a | w, 8, 16),
        Synth::EhFrameHdr => (b".eh_frame_hdr", elf::SHT_PROGBITS, a, 4, 0),
        Synth::BuildId => (b".note.gnu.build-id", elf::SHT_NOTE, a, 4, 0),
        Synth::PageDigests => (crate::digest::SECTION_NAME, elf::SHT_PROGBITS, 0, 8, 0),
    }
}

/// Addresses of the linker-created tables, from the sections that hold them.
pub fn set_synthetic_addresses(lay: &mut Layout) {
    let addr_of = |lay: &Layout, k: Synth| lay.find_synth(k).map(|s| s.addr + s.synth_off);
    lay.got_addr = addr_of(lay, Synth::Got).unwrap_or(0);
    lay.gotplt_addr = addr_of(lay, Synth::GotPlt).unwrap_or(0);
    lay.got_base = addr_of(lay, Synth::GotPlt).unwrap_or(lay.got_addr);
    lay.plt_addr = addr_of(lay, Synth::Iplt).unwrap_or(0);
    lay.rela_iplt_addr = addr_of(lay, Synth::RelaIplt).unwrap_or(0);
}

/// Adds the page digest section (after everything else) and computes symbol values and the
/// entry point: the last step of every layout.
pub fn finish(link: &mut Link) -> Result<()> {
    set_synthetic_addresses(&mut link.layout);
    let lay = &mut link.layout;
    if link.args.page_digests {
        let segs: Vec<crate::digest::LoadSeg> = lay
            .phdrs
            .iter()
            .filter(|p| p.p_type == elf::PT_LOAD)
            .map(|p| crate::digest::LoadSeg {
                offset: p.offset,
                vaddr: p.vaddr,
                filesz: p.filesz,
                memsz: p.memsz,
                flags: p.flags,
            })
            .collect();
        let offset = lay.content_end.next_multiple_of(8);
        let size = crate::digest::section_size(&segs);
        lay.secs.push(OutputSection {
            name: crate::digest::SECTION_NAME.to_vec(),
            sh_type: elf::SHT_PROGBITS,
            align: 8,
            rank: 60,
            synth: Some(Synth::PageDigests),
            size,
            offset,
            ..OutputSection::default()
        });
        lay.content_end = offset + size;
    }
    compute_symbol_values(link)?;
    let entry_name = link.args.entry.clone().unwrap_or_else(|| "_start".into());
    link.layout.entry = match link.symtab.get(entry_name.as_bytes()) {
        Some(id) if !link.symtab.syms[id as usize].is_undefined() => {
            link.symtab.syms[id as usize].value
        }
        _ => {
            if let Ok(v) = parse_int(&entry_name) {
                v
            } else {
                let text = link.layout.find(b".text").map(|s| s.addr).unwrap_or(0);
                eprintln!("spacer: warning: cannot find entry symbol {entry_name}; defaulting to {text:#x}");
                text
            }
        }
    };
    Ok(())
}

/// GNU ld's default mapping from input to output section names.
fn output_name(name: &[u8]) -> &[u8] {
    const GROUPS: &[(&[u8], &[&[u8]])] = &[
        (b".text", &[b".text", b".gnu.linkonce.t"]),
        (b".rodata", &[b".rodata", b".gnu.linkonce.r"]),
        (
            b".data.rel.ro",
            &[b".data.rel.ro", b".gnu.linkonce.d.rel.ro"],
        ),
        (b".data", &[b".data", b".gnu.linkonce.d"]),
        (b".bss", &[b".bss", b".gnu.linkonce.b"]),
        (b".tdata", &[b".tdata", b".gnu.linkonce.td"]),
        (b".tbss", &[b".tbss", b".gnu.linkonce.tb"]),
        (b".init_array", &[b".init_array", b".ctors"]),
        (b".fini_array", &[b".fini_array", b".dtors"]),
        (b".preinit_array", &[b".preinit_array"]),
        (b".gcc_except_table", &[b".gcc_except_table"]),
        (b".sdata", &[b".sdata"]),
    ];
    for (out, prefixes) in GROUPS {
        for p in *prefixes {
            if name.starts_with(p) && (name.len() == p.len() || name[p.len()] == b'.') {
                // `.data.rel.ro` must not be swallowed by `.data`: it is listed first.
                return out;
            }
        }
    }
    name
}

fn rank(name: &[u8], sh_type: u32, flags: u64) -> u32 {
    if flags & elf::SHF_ALLOC as u64 == 0 {
        return 50;
    }
    match name {
        b".dynsym" => 2,
        b".dynstr" => 3,
        b".rela.dyn" => 4,
        b".rela.plt" => 5,
        b".init" => 10,
        b".plt" => 11,
        b".text" => 12,
        b".fini" => 14,
        b".rodata" => 20,
        b".eh_frame_hdr" => 22,
        b".eh_frame" => 23,
        b".gcc_except_table" => 24,
        b".tdata" => 30,
        b".tbss" => 31,
        b".preinit_array" => 32,
        b".init_array" => 33,
        b".fini_array" => 34,
        b".data.rel.ro" => 35,
        b".dynamic" => 36,
        b".got" => 37,
        b".got.plt" => 38,
        b".data" => 39,
        b".bss" => 42,
        _ => {
            let nobits = sh_type == elf::SHT_NOBITS;
            if sh_type == elf::SHT_NOTE {
                1
            } else if flags & elf::SHF_TLS as u64 != 0 {
                if nobits {
                    31
                } else {
                    30
                }
            } else if flags & elf::SHF_WRITE as u64 != 0 {
                if nobits {
                    43
                } else {
                    40
                }
            } else if flags & elf::SHF_EXECINSTR as u64 != 0 {
                13
            } else {
                21
            }
        }
    }
}

/// Segment of a rank: 0 = read-only with headers, 1 = code, 2 = read-only data, 3 = writable.
fn segment_of(rank: u32) -> Option<usize> {
    match rank {
        0..=9 => Some(0),
        10..=19 => Some(1),
        20..=29 => Some(2),
        30..=49 => Some(3),
        _ => None,
    }
}

const RELRO_LAST_RANK: u32 = 37;

/// `.init_array.N` / `.ctors.N` priority for sorting; unprioritised entries go last.
pub fn init_priority(name: &[u8]) -> u32 {
    for (p, invert) in [
        (&b".init_array."[..], false),
        (b".fini_array.", false),
        (b".ctors.", true),
        (b".dtors.", true),
    ] {
        if let Some(rest) = name.strip_prefix(p) {
            if let Some(n) = std::str::from_utf8(rest)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
            {
                return if invert {
                    65535u32.saturating_sub(n)
                } else {
                    n
                };
            }
        }
    }
    u32::MAX
}

fn is_debug(name: &[u8]) -> bool {
    name.starts_with(b".debug")
        || name.starts_with(b".zdebug")
        || name.starts_with(b".stab")
        || name.starts_with(b".gnu.debuglto")
}

/// Size and alignment an input section takes in the output: split `.eh_frame` and merged
/// sections shrink. `.eh_frame` records are packed: a padding gap of four zero bytes would
/// read as a terminator to unwinders that walk the section from `__EH_FRAME_BEGIN__`.
pub fn member_size_align(link: &Link, f: u32, s: u32) -> (u64, u64) {
    let sec = link.section(f, s);
    match sec.split {
        crate::object_file::Split::EhFrame => (link.eh[&(f, s)].out_size, sec.align.min(4)),
        crate::object_file::Split::Merged => (link.merge[&(f, s)].blob.len() as u64, sec.align),
        crate::object_file::Split::None => (sec.size, sec.align),
    }
}

/// Builds the output section list and places input sections in them.
pub fn assign_sections(link: &mut Link) -> Result<()> {
    let mut secs: Vec<OutputSection> = Vec::new();
    let mut by_name: crate::symbols::FastMap<Vec<u8>, usize> = Default::default();
    let strip_debug = link.args.strip != crate::args::Strip::None;
    let order = link.file_order();
    for &f in &order {
        let file = &link.files[f as usize];
        for (si, sec) in file.sections.iter().enumerate() {
            if !sec.is_included() || (strip_debug && !sec.is_alloc() && is_debug(sec.name)) {
                continue;
            }
            let name = if sec.is_alloc() {
                output_name(sec.name)
            } else {
                sec.name
            };
            let idx = *by_name.entry(name.to_vec()).or_insert_with(|| {
                secs.push(OutputSection {
                    name: name.to_vec(),
                    sh_type: sec.sh_type,
                    flags: 0,
                    align: 1,
                    entsize: 0,
                    rank: rank(name, sec.sh_type, sec.flags),
                    members: Vec::new(),
                    synth: None,
                    common_off: None,
                    size: 0,
                    addr: 0,
                    offset: 0,
                    shndx: 0,
                    synth_off: 0,
                    lma: 0,
                    data: Vec::new(),
                });
                secs.len() - 1
            });
            let os = &mut secs[idx];
            os.flags |= sec.flags
                & !(elf::SHF_GROUP as u64
                    | elf::SHF_GNU_RETAIN as u64
                    | elf::SHF_MERGE as u64
                    | elf::SHF_STRINGS as u64);
            os.align = os.align.max(sec.align);
            if os.sh_type == elf::SHT_NOBITS && sec.sh_type != elf::SHT_NOBITS {
                os.sh_type = sec.sh_type;
            }
            if matches!(
                sec.sh_type,
                elf::SHT_INIT_ARRAY | elf::SHT_FINI_ARRAY | elf::SHT_PREINIT_ARRAY
            ) {
                os.sh_type = sec.sh_type;
            }
            os.members.push((f, si as u32));
        }
    }
    // Constructors and destructors run in priority order.
    for os in secs.iter_mut() {
        if os.name == b".init_array" || os.name == b".fini_array" {
            let files = &link.files;
            os.members
                .sort_by_key(|&(f, s)| init_priority(files[f as usize].sections[s as usize].name));
            os.sh_type = if os.name == b".init_array" {
                elf::SHT_INIT_ARRAY
            } else {
                elf::SHT_FINI_ARRAY
            };
        }
    }

    for (kind, size) in synth_sizes(link, by_name.contains_key(&b".eh_frame"[..])) {
        link.layout.synth_sizes.insert(kind, size);
        let (name, sh_type, flags, align, entsize) = synth_props(kind);
        let mut rk = rank(name, sh_type, flags);
        if kind == Synth::BuildId {
            rk = 0;
        }
        secs.push(OutputSection {
            name: name.to_vec(),
            sh_type,
            flags,
            align,
            entsize,
            rank: rk,
            synth: Some(kind),
            size,
            ..OutputSection::default()
        });
    }

    // Member offsets and sizes.
    for os in secs.iter_mut() {
        crate::merge::merge_members(link, &os.members)?;
        let mut off = 0u64;
        for &(f, s) in &os.members {
            let (size, align) = member_size_align(link, f, s);
            off = off.next_multiple_of(align);
            link.files[f as usize].sections[s as usize].out_off = off;
            off += size;
        }
        if os.name == b".bss" && link.common_size > 0 {
            off = off.next_multiple_of(link.common_align);
            os.common_off = Some(off);
            os.align = os.align.max(link.common_align);
            off += link.common_size;
        }
        if os.synth.is_none() {
            os.size = off;
        }
    }
    if link.common_size > 0 && !secs.iter().any(|s| s.name == b".bss") {
        secs.push(OutputSection {
            name: b".bss".to_vec(),
            sh_type: elf::SHT_NOBITS,
            flags: (elf::SHF_ALLOC | elf::SHF_WRITE) as u64,
            align: link.common_align,
            entsize: 0,
            rank: 42,
            members: Vec::new(),
            synth: None,
            common_off: Some(0),
            size: link.common_size,
            addr: 0,
            offset: 0,
            shndx: 0,
            synth_off: 0,
            lma: 0,
            data: Vec::new(),
        });
    }
    // The TLS template must start aligned to the largest TLS alignment.
    let tls_align = secs
        .iter()
        .filter(|s| s.is_tls())
        .map(|s| s.align)
        .max()
        .unwrap_or(1);
    if let Some(first_tls) = secs
        .iter_mut()
        .filter(|s| s.is_tls())
        .min_by_key(|s| s.rank)
    {
        first_tls.align = tls_align;
    }

    // Stable sort by rank keeps first-seen order inside a rank.
    secs.sort_by_key(|s| s.rank);
    for (i, os) in secs.iter().enumerate() {
        for &(f, s) in &os.members {
            link.files[f as usize].sections[s as usize].out_sec = i as u32;
        }
    }
    link.layout.secs = secs;
    Ok(())
}

/// Assigns addresses and file offsets, builds program headers and computes symbol values.
pub fn assign_addresses(link: &mut Link) -> Result<()> {
    let relro = link.args.relro;
    let base = link
        .args
        .image_base
        .unwrap_or(if link.pie { 0 } else { 0x400000 });
    let lay = &mut link.layout;
    lay.base = base;

    let present: Vec<usize> = {
        let mut v: Vec<usize> = lay.secs.iter().filter_map(|s| segment_of(s.rank)).collect();
        v.push(0);
        v.sort();
        v.dedup();
        v
    };
    let has_note = lay
        .secs
        .iter()
        .any(|s| s.is_alloc() && s.sh_type == elf::SHT_NOTE);
    let has_tls = lay.secs.iter().any(|s| s.is_tls());
    let has_relro = relro
        && lay
            .secs
            .iter()
            .any(|s| (30..=RELRO_LAST_RANK).contains(&s.rank));
    let has_hdr = lay.find_synth(Synth::EhFrameHdr).is_some();
    let has_dynamic = lay.find_synth(Synth::Dynamic).is_some();
    let nphdr = present.len()
        + has_dynamic as usize
        + has_note as usize
        + has_tls as usize
        + has_hdr as usize
        + 1
        + has_relro as usize;

    let mut off = EHDR_SIZE + PHDR_SIZE * nphdr as u64;
    let mut vcur = base + off;
    let mut cur_seg = 0usize;
    let mut seg_ranges: Vec<(usize, u64, u64, u64, u64)> = vec![(0, 0, base, off, base + off)];
    let mut relro_end = 0u64;
    let mut prev_rank = 0;
    for os in lay.secs.iter_mut() {
        let Some(seg) = segment_of(os.rank) else {
            continue;
        };
        if seg != cur_seg {
            off = off.next_multiple_of(PAGE);
            vcur = base + off;
            cur_seg = seg;
            seg_ranges.push((seg, off, vcur, off, vcur));
        }
        if has_relro && prev_rank <= RELRO_LAST_RANK && os.rank > RELRO_LAST_RANK && seg == 3 {
            // End the read-only-after-relocation part on a page boundary so all of it is
            // protected.
            relro_end = vcur;
            off = off.next_multiple_of(PAGE);
            vcur = base + off;
        }
        prev_rank = os.rank;
        if os.is_nobits() {
            let addr = vcur.next_multiple_of(os.align);
            os.addr = addr;
            os.offset = off;
            if !os.is_tls() {
                vcur = addr + os.size;
            }
        } else {
            off = off.next_multiple_of(os.align);
            os.addr = base + off;
            os.offset = off;
            off += os.size;
            vcur = base + off;
        }
        let last = seg_ranges.last_mut().unwrap();
        last.3 = off;
        last.4 = last.4.max(vcur);
    }
    if has_relro && relro_end == 0 {
        relro_end = vcur;
    }
    // Non-allocated sections follow, at address 0.
    for os in lay.secs.iter_mut().filter(|s| !s.is_alloc()) {
        off = off.next_multiple_of(os.align);
        os.offset = off;
        os.addr = 0;
        off += os.size;
    }
    lay.content_end = off;

    // Program headers.
    let mut phdrs = Vec::new();
    for &(seg, o, v, end_off, end_v) in &seg_ranges {
        let flags = match seg {
            0 | 2 => elf::PF_R,
            1 => elf::PF_R | elf::PF_X,
            _ => elf::PF_R | elf::PF_W,
        };
        phdrs.push(Phdr {
            paddr: 0,
            p_type: elf::PT_LOAD,
            flags,
            offset: o,
            vaddr: v,
            filesz: end_off - o,
            memsz: end_v - v,
            align: PAGE,
        });
    }
    if let Some(d) = lay.find_synth(Synth::Dynamic) {
        phdrs.push(Phdr {
            paddr: 0,
            p_type: elf::PT_DYNAMIC,
            flags: elf::PF_R | elf::PF_W,
            offset: d.offset,
            vaddr: d.addr,
            filesz: d.size,
            memsz: d.size,
            align: 8,
        });
    }
    if has_note {
        let notes: Vec<&OutputSection> = lay
            .secs
            .iter()
            .filter(|s| s.is_alloc() && s.sh_type == elf::SHT_NOTE)
            .collect();
        let start = notes.first().unwrap();
        let end = notes.last().unwrap();
        phdrs.push(Phdr {
            paddr: 0,
            p_type: elf::PT_NOTE,
            flags: elf::PF_R,
            offset: start.offset,
            vaddr: start.addr,
            filesz: end.offset + end.size - start.offset,
            memsz: end.addr + end.size - start.addr,
            align: start.align,
        });
    }
    if has_tls {
        let tls: Vec<&OutputSection> = lay.secs.iter().filter(|s| s.is_tls()).collect();
        let start = tls[0].addr;
        let end = tls.iter().map(|s| s.addr + s.size).max().unwrap();
        let filesz = tls
            .iter()
            .filter(|s| !s.is_nobits())
            .map(|s| s.addr + s.size - start)
            .max()
            .unwrap_or(0);
        let align = tls.iter().map(|s| s.align).max().unwrap();
        lay.tls_start = start;
        lay.tls_align = align;
        lay.tp = (start + (end - start)).next_multiple_of(align);
        phdrs.push(Phdr {
            paddr: 0,
            p_type: elf::PT_TLS,
            flags: elf::PF_R,
            offset: tls[0].offset,
            vaddr: start,
            filesz,
            memsz: end - start,
            align,
        });
    }
    if has_hdr {
        let h = lay.find_synth(Synth::EhFrameHdr).unwrap();
        phdrs.push(Phdr {
            paddr: 0,
            p_type: elf::PT_GNU_EH_FRAME,
            flags: elf::PF_R,
            offset: h.offset,
            vaddr: h.addr,
            filesz: h.size,
            memsz: h.size,
            align: 4,
        });
    }
    // As GNU ld: an input that asks for an executable stack, or has no stack note at all,
    // makes the stack executable unless -z noexecstack says otherwise.
    let exec_stack = link
        .args
        .exec_stack
        .unwrap_or_else(|| link.files.iter().any(|f| f.exec_stack || !f.has_stack_note));
    phdrs.push(Phdr {
        paddr: 0,
        p_type: elf::PT_GNU_STACK,
        flags: if exec_stack {
            elf::PF_R | elf::PF_W | elf::PF_X
        } else {
            elf::PF_R | elf::PF_W
        },
        offset: 0,
        vaddr: 0,
        filesz: 0,
        memsz: 0,
        align: 16,
    });
    if has_relro {
        let first = lay
            .secs
            .iter()
            .find(|s| (30..=RELRO_LAST_RANK).contains(&s.rank))
            .unwrap();
        phdrs.push(Phdr {
            paddr: 0,
            p_type: elf::PT_GNU_RELRO,
            flags: elf::PF_R,
            offset: first.offset,
            vaddr: first.addr,
            filesz: relro_end - first.addr,
            memsz: relro_end - first.addr,
            align: 1,
        });
    }
    debug_assert_eq!(phdrs.len(), nphdr);
    for p in phdrs.iter_mut() {
        p.paddr = p.vaddr;
    }
    lay.phdrs = phdrs;

    finish(link)
}

fn parse_int(s: &str) -> Result<u64> {
    let s = s.trim();
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        s.parse()
    };
    v.with_context(|| format!("invalid number '{s}'"))
}

/// Evaluates a `--defsym` expression: terms (numbers or symbols) joined by `+` and `-`.
fn eval_defsym(link: &Link, expr: &str) -> Result<u64> {
    let mut total: u64 = 0;
    let mut sign = 1i64;
    let mut term = String::new();
    let flush = |term: &mut String, sign: i64, total: &mut u64| -> Result<()> {
        let t = term.trim();
        if t.is_empty() {
            bail!("--defsym: malformed expression '{expr}'");
        }
        let v = match parse_int(t) {
            Ok(v) => v,
            Err(_) => {
                let id = link
                    .symtab
                    .get(t.as_bytes())
                    .with_context(|| format!("--defsym: undefined symbol '{t}'"))?;
                link.symtab.syms[id as usize].value
            }
        };
        *total = if sign > 0 {
            total.wrapping_add(v)
        } else {
            total.wrapping_sub(v)
        };
        term.clear();
        Ok(())
    };
    for c in expr.chars() {
        if (c == '+' || c == '-') && !term.trim().is_empty() {
            flush(&mut term, sign, &mut total)?;
            sign = if c == '+' { 1 } else { -1 };
        } else {
            term.push(c);
        }
    }
    flush(&mut term, sign, &mut total)?;
    Ok(total)
}

pub fn compute_symbol_values(link: &mut Link) -> Result<()> {
    let lay = &link.layout;
    let alloc: Vec<&OutputSection> = lay.secs.iter().filter(|s| s.is_alloc()).collect();
    let end_of = |s: &OutputSection| s.addr + s.size;
    let etext = alloc
        .iter()
        .filter(|s| segment_of(s.rank) == Some(1))
        .map(|s| end_of(s))
        .max()
        .unwrap_or(lay.base);
    let edata = alloc
        .iter()
        .filter(|s| !s.is_nobits())
        .map(|s| end_of(s))
        .max()
        .unwrap_or(lay.base);
    let end = alloc
        .iter()
        .filter(|s| !(s.is_tls() && s.is_nobits()))
        .map(|s| end_of(s))
        .max()
        .unwrap_or(lay.base);
    let bss = lay.find(b".bss");
    let bss_start = bss.map(|s| s.addr).unwrap_or(edata);
    let rw_start = alloc
        .iter()
        .find(|s| segment_of(s.rank) == Some(3))
        .map(|s| s.addr)
        .unwrap_or(edata);
    let array = |name: &[u8]| {
        lay.find(name)
            .map(|s| (s.addr, s.addr + s.size))
            .unwrap_or((rw_start, rw_start))
    };
    let rela = lay
        .find_synth(crate::layout::Synth::RelaIplt)
        .map(|s| (s.addr, s.addr + s.size))
        .unwrap_or((0, 0));
    let common_base = bss
        .and_then(|s| s.common_off.map(|o| s.addr + o))
        .unwrap_or(0);

    let mut values = vec![0u64; link.symtab.syms.len()];
    let mut defsyms = Vec::new();
    for (i, sym) in link.symtab.syms.iter().enumerate() {
        values[i] = match sym.def {
            Def::Undefined => 0,
            Def::Weak(f, s) | Def::Strong(f, s) => link.file_sym_addr(f, s),
            Def::Common(..) => 0,
            Def::Linker(k) => match k {
                LinkerSym::EhdrStart | LinkerSym::ExecutableStart => lay.base,
                LinkerSym::Etext => etext,
                LinkerSym::Edata => edata,
                LinkerSym::End => end,
                LinkerSym::BssStart => bss_start,
                LinkerSym::GlobalOffsetTable => lay.got_base,
                LinkerSym::RelaIpltStart => rela.0,
                LinkerSym::RelaIpltEnd => rela.1,
                LinkerSym::ArrayStart(a) | LinkerSym::ArrayEnd(a) => {
                    let (s, e) = array(match a {
                        ArrayKind::Preinit => b".preinit_array",
                        ArrayKind::Init => b".init_array",
                        ArrayKind::Fini => b".fini_array",
                    });
                    if matches!(k, LinkerSym::ArrayStart(_)) {
                        s
                    } else {
                        e
                    }
                }
                LinkerSym::SectionStart(n) => lay.find(n).map(|s| s.addr).unwrap_or(0),
                LinkerSym::SectionStop(n) => lay.find(n).map(|s| s.addr + s.size).unwrap_or(0),
                LinkerSym::TlsModuleBase => lay.tp,
                LinkerSym::Script(i) => link.script_values.get(i as usize).copied().unwrap_or(0),
                LinkerSym::Dynamic => lay.find_synth(Synth::Dynamic).map(|s| s.addr).unwrap_or(0),
                LinkerSym::Defsym(d) => {
                    defsyms.push((i, d));
                    0
                }
            },
        };
    }
    for &(id, off) in &link.commons {
        values[id as usize] = common_base + off;
    }
    for (i, v) in values.into_iter().enumerate() {
        link.symtab.syms[i].value = v;
    }
    for (i, d) in defsyms {
        let expr = link.args.defsyms[d].1.clone();
        let v = eval_defsym(link, &expr)?;
        link.symtab.syms[i].value = v;
    }
    let _ = LE;
    Ok(())
}
