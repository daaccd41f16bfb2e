//! Output layout for static executables: which output section each input section goes to, in
//! which order, at which address and file offset, and which segments cover them. The order
//! follows GNU ld's default script for x86-64 executables with separate code segments.

use crate::linker::context::Link;
use crate::linker::symbols::{ArrayKind, Def, LinkerSym};
use anyhow::{bail, Context, Result};

pub mod script;
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
        crate::linker::args::BuildId::None => 0,
        crate::linker::args::BuildId::Sha1 => 20,
        crate::linker::args::BuildId::Uuid => 16,
        crate::linker::args::BuildId::Hex(h) => h.len(),
    };
    if build_id_len > 0 {
        v.push((Synth::BuildId, 16 + build_id_len.next_multiple_of(4) as u64));
    }
    v
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
        let segs: Vec<crate::pages::digest::LoadSeg> = lay
            .phdrs
            .iter()
            .filter(|p| p.p_type == elf::PT_LOAD)
            .map(|p| crate::pages::digest::LoadSeg {
                offset: p.offset,
                vaddr: p.vaddr,
                filesz: p.filesz,
                memsz: p.memsz,
                flags: p.flags,
            })
            .collect();
        let offset = lay.content_end.next_multiple_of(8);
        let size = crate::pages::digest::section_size(&segs);
        lay.secs.push(OutputSection {
            name: crate::pages::digest::SECTION_NAME.to_vec(),
            sh_type: elf::SHT_PROGBITS,
            align: 8,
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

/// Size and alignment an input section takes in the output: split `.eh_frame` and merged
/// sections shrink. `.eh_frame` records are packed: a padding gap of four zero bytes would
/// read as a terminator to unwinders that walk the section from `__EH_FRAME_BEGIN__`.
pub fn member_size_align(link: &Link, f: u32, s: u32) -> (u64, u64) {
    let sec = link.section(f, s);
    match sec.split {
        crate::linker::object_file::Split::EhFrame => (link.eh[&(f, s)].out_size, sec.align.min(4)),
        crate::linker::object_file::Split::Merged => (
            link.merge[sec.merge_idx as usize].blob.len() as u64,
            sec.align,
        ),
        crate::linker::object_file::Split::None => (sec.size, sec.align),
    }
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
        .filter(|s| s.flags & elf::SHF_EXECINSTR as u64 != 0)
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
        .find(|s| s.flags & elf::SHF_WRITE as u64 != 0)
        .map(|s| s.addr)
        .unwrap_or(edata);
    let array = |name: &[u8]| {
        lay.find(name)
            .map(|s| (s.addr, s.addr + s.size))
            .unwrap_or((rw_start, rw_start))
    };
    let rela = lay
        .find_synth(crate::linker::layout::Synth::RelaIplt)
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
    // In command-line order: a --defsym may use an earlier one.
    defsyms.sort_by_key(|&(_, d)| d);
    for (i, d) in defsyms {
        let expr = link.args.defsyms[d].1.clone();
        let v = eval_defsym(link, &expr)?;
        link.symtab.syms[i].value = v;
    }
    let _ = LE;
    Ok(())
}
