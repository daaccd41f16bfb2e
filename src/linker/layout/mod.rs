//! The layout stage: which output section each input section goes to, in which order, at
//! which address and file offset, and which segments cover them, all decided by a linker
//! script (the command line's, or the built-in one modelled on GNU ld's default for x86-64).
//!
//! This file holds the stage's output types; the work is done by its submodules, in this
//! order: `script` (reading the script into a plan), `assign` (input sections to statements,
//! orphans, sorting), `sections` (output sections), `addresses` (evaluating the statements,
//! with `expr` for expressions), `segments` (file offsets and program headers) and `symbols`
//! (symbol values and the entry point).

mod addresses;
pub mod assign;
mod expr;
pub mod script;
mod sections;
mod segments;
pub mod stage;
pub mod symbols;
pub mod synth;

use object::elf;

/// A piece of an output section's contents: an input section, a linker-created section, or
/// the block of common symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chunk {
    Input(u32, u32),
    Synth(Synth),
    Common,
}

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
    /// Input sections (file, section) in output order.
    pub members: Vec<(u32, u32)>,
    pub synth: Option<Synth>,
    /// Offset of the COMMON block inside this section (`.bss` only).
    pub common_off: Option<u64>,
    pub size: u64,
    pub addr: u64,
    pub offset: u64,
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
    pub synth_sizes: crate::linker::symbols::FastMap<Synth, u64>,
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
    /// Contents of the sections `--compress-debug-sections` compressed (compression header
    /// and compressed data), by output section index.
    pub compressed: std::collections::BTreeMap<usize, Vec<u8>>,
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

/// Addresses of the linker-created tables, from the sections that hold them.
pub fn set_synthetic_addresses(lay: &mut Layout) {
    let addr_of = |lay: &Layout, k: Synth| lay.find_synth(k).map(|s| s.addr + s.synth_off);
    lay.got_addr = addr_of(lay, Synth::Got).unwrap_or(0);
    lay.gotplt_addr = addr_of(lay, Synth::GotPlt).unwrap_or(0);
    lay.got_base = addr_of(lay, Synth::GotPlt).unwrap_or(lay.got_addr);
    lay.plt_addr = addr_of(lay, Synth::Iplt).unwrap_or(0);
    lay.rela_iplt_addr = addr_of(lay, Synth::RelaIplt).unwrap_or(0);
}

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

pub fn is_debug(name: &[u8]) -> bool {
    name.starts_with(b".debug")
        || name.starts_with(b".zdebug")
        || name.starts_with(b".stab")
        || name.starts_with(b".gnu.debuglto")
}
