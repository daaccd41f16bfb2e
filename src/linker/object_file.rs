//! Parsing of ELF64 x86-64 relocatable objects into the linker's per-file types.

use crate::linker::reloc_kinds;
use anyhow::{bail, Context, Result};
use object::elf;
use object::read::elf::{FileHeader, SectionHeader, Sym as _};
use object::LittleEndian as LE;

pub type Rela = elf::Rela64<LE>;

/// `ObjSym::shndx` values at and above this are ELF's reserved indices (SHN_ABS, SHN_COMMON …),
/// moved above any section index: with extended numbering (more than 65,279 sections) a real
/// index can be 0xfff1, which the ELF field would read as SHN_ABS.
pub const SHN_RESERVED: u32 = 0xffff_0000;
pub const SHN_ABS: u32 = SHN_RESERVED | elf::SHN_ABS as u32;
pub const SHN_COMMON: u32 = SHN_RESERVED | elf::SHN_COMMON as u32;

/// Why an input section is not copied to the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecState {
    /// Goes to the output if live.
    Normal,
    /// Member of a COMDAT group whose signature an earlier file claimed.
    ComdatDiscarded,
    /// Metadata consumed by the linker (symbol tables, relocations, groups) or dropped by policy.
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    None,
    EhFrame,
    Merged,
}

pub struct InputSection {
    pub name: &'static [u8],
    pub sh_type: u32,
    pub flags: u64,
    pub size: u64,
    pub align: u64,
    pub entsize: u64,
    /// File bytes (empty for NOBITS).
    pub data: &'static [u8],
    pub relocs: &'static [Rela],
    pub state: SecState,
    pub live: bool,
    /// Content is rearranged (split `.eh_frame` or merged strings), so offsets must be mapped.
    pub split: Split,
    /// Index of this section's merge map in `Link::merge` (when `split` is `Merged`).
    pub merge_idx: u32,
    /// Output section index and offset inside it, set by layout.
    pub out_sec: u32,
    pub out_off: u64,
}

impl InputSection {
    pub fn is_alloc(&self) -> bool {
        self.flags & elf::SHF_ALLOC as u64 != 0
    }
    pub fn is_included(&self) -> bool {
        self.state == SecState::Normal && self.live
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ObjSym {
    pub name: &'static [u8],
    pub value: u64,
    pub size: u64,
    /// Section index, SHN_UNDEF, or a reserved index at [`SHN_RESERVED`] and above
    /// ([`SHN_ABS`], [`SHN_COMMON`]).
    pub shndx: u32,
    pub bind: u8,
    pub typ: u8,
    pub visibility: u8,
}

impl ObjSym {
    pub fn is_undefined(&self) -> bool {
        self.shndx == elf::SHN_UNDEF as u32
    }
    pub fn is_common(&self) -> bool {
        self.shndx == SHN_COMMON
    }
    pub fn is_abs(&self) -> bool {
        self.shndx == SHN_ABS
    }
}

pub struct ObjectFile {
    /// Display name: `path` or `archive(member)`.
    pub name: String,
    /// Position on the command line and extraction order, which fix output order.
    pub order: (u32, u64),
    pub sections: Vec<InputSection>,
    pub symbols: Vec<ObjSym>,
    pub first_global: usize,
    /// Global symbol id for each symbol index >= first_global (index - first_global).
    pub globals: Vec<u32>,
    /// COMDAT groups: (signature, member section indices, index of the SHT_GROUP section).
    pub groups: Vec<(&'static [u8], Vec<u32>, u32)>,
    /// True if the object asks for an executable stack (`.note.GNU-stack` with SHF_EXECINSTR).
    pub exec_stack: bool,
    /// Whether the object has a `.note.GNU-stack` section at all (GNU ld treats a missing
    /// note as a request for an executable stack).
    pub has_stack_note: bool,
    /// Holds GCC's intermediate code (`.gnu.lto_*` sections): a fat LTO object, whose machine
    /// code links as it is, or which GCC's lto-wrapper may compile anew.
    pub lto_ir: bool,
}

/// A file's relocations as `ObjectFile::reloc_check` took them: its name, symbol count, and per
/// relocated section its name, relocations, whether the link uses it, and size.
pub struct RelocCheck {
    name: String,
    nsyms: usize,
    secs: Vec<(&'static [u8], &'static [Rela], bool, u64)>,
}

impl RelocCheck {
    /// Checks that every relocation names a symbol of its file, has a type spacer knows, and
    /// (in a section the link uses) touches only bytes of its section, the instruction bytes
    /// before it that relaxation reads included.
    pub fn run(&self) -> Result<()> {
        for &(sname, relocs, checked, size) in &self.secs {
            // One pass over the relocations (debug information holds millions of them).
            for r in relocs {
                let (sym, off, ty) = (r.r_sym(LE, false), r.r_offset.get(LE), r.r_type(LE, false));
                if sym as usize >= self.nsyms {
                    bail!(
                        "{}: section {}: relocation refers to invalid symbol index {sym}",
                        self.name,
                        String::from_utf8_lossy(sname),
                    );
                }
                if !checked {
                    continue;
                }
                // Refused even where the field would only be copied (`-r`), as GNU ld does:
                // an output holding it could not be linked further.
                let Some((before, width)) = reloc_kinds::known_extent(ty) else {
                    bail!(
                        "{}:({}+{off:#x}): unsupported relocation type {ty:#x}",
                        self.name,
                        String::from_utf8_lossy(sname)
                    );
                };
                if off < before || off.checked_add(width).is_none_or(|end| end > size) {
                    bail!(
                        "{}: section {}: relocation {} at offset {off:#x} lies outside the section ({size:#x} bytes)",
                        self.name,
                        String::from_utf8_lossy(sname),
                        reloc_kinds::type_name(ty)
                    );
                }
            }
        }
        Ok(())
    }
}

/// The contents of an SHF_COMPRESSED section (`Elf64_Chdr`, then a zlib or zstd stream) and
/// their alignment, kept for the rest of the link.
fn decompress(data: &[u8]) -> Result<(&'static [u8], u64)> {
    use std::io::Read;
    let field = |o: usize| -> Result<u64> {
        let b = data.get(o..o + 8).context("truncated compression header")?;
        Ok(u64::from_le_bytes(b.try_into().unwrap()))
    };
    // ch_type is the low word of the first eight bytes (the high word is reserved).
    let ch_type = field(0)? as u32;
    let (size, align) = (field(8)?, field(16)?);
    let stream = &data[24..];
    let out = match ch_type {
        elf::ELFCOMPRESS_ZLIB => {
            // Not sized from the header up front: a corrupt size must not allocate.
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(stream).read_to_end(&mut out)?;
            out
        }
        elf::ELFCOMPRESS_ZSTD => zstd::stream::decode_all(stream)?,
        t => bail!("unknown compression type {t}"),
    };
    if out.len() as u64 != size {
        bail!(
            "decompressed to {} bytes, the header says {size}",
            out.len()
        );
    }
    Ok((Box::leak(out.into_boxed_slice()), align.max(1)))
}

fn sym_name(
    strtab: object::read::StringTable<'static, &'static [u8]>,
    off: u32,
) -> Result<&'static [u8]> {
    strtab
        .get(off)
        .map_err(|_| anyhow::anyhow!("symbol name offset {off:#x} out of bounds"))
}

/// Alignments and entry sizes are used to lay sections out and to split them into pieces:
/// values no compiler writes would make the link run for hours or allocate without bound, so
/// they are refused here, with the section named.
fn check_section_header(
    name: &[u8],
    flags: u64,
    align: u64,
    entsize: u64,
    size: u64,
) -> Result<()> {
    let name = String::from_utf8_lossy(name);
    if align > 1 && !align.is_power_of_two() {
        bail!("section {name}: alignment {align:#x} is not a power of two");
    }
    // 4 GiB: more than any page or cache line a section could need to start on.
    if align > 1 << 32 {
        bail!("section {name}: alignment {align:#x} is too large");
    }
    // 128 TiB, the x86-64 user address space: only a `.bss` can claim more than its file
    // holds, and no image could place one this big.
    if size > 1 << 47 {
        bail!("section {name}: size {size:#x} is larger than the address space");
    }
    if flags & elf::SHF_MERGE as u64 != 0 && entsize != 0 && !size.is_multiple_of(entsize) {
        bail!("section {name}: SHF_MERGE section size ({size:#x}) is not a multiple of its entry size ({entsize:#x})");
    }
    Ok(())
}

/// The `.comment` entry that names the linker, as lld and mold write one: tools and users can
/// tell from an image which linker produced it.
pub const LINKER_COMMENT: &str = concat!("Linker: spacer ", env!("CARGO_PKG_VERSION"), "\0");

impl ObjectFile {
    /// The linker's own input, placed after every other: a `.comment` section naming spacer
    /// (merged with the compilers' entries like any other `.comment`).
    pub fn linker_note() -> ObjectFile {
        let section =
            |name: &'static [u8], sh_type, flags: u32, data: &'static [u8]| InputSection {
                name,
                sh_type,
                flags: flags as u64,
                size: data.len() as u64,
                align: 1,
                entsize: (flags & elf::SHF_MERGE != 0) as u64,
                data,
                relocs: &[],
                state: SecState::Normal,
                live: true,
                split: Split::None,
                merge_idx: 0,
                out_sec: u32::MAX,
                out_off: 0,
            };
        let null_sym = ObjSym {
            name: b"",
            value: 0,
            size: 0,
            shndx: 0,
            bind: 0,
            typ: 0,
            visibility: 0,
        };
        ObjectFile {
            name: "<spacer>".into(),
            order: (u32::MAX, 0),
            sections: vec![
                InputSection {
                    state: SecState::Ignored,
                    ..section(b"", elf::SHT_NULL, 0, &[])
                },
                section(
                    b".comment",
                    elf::SHT_PROGBITS,
                    elf::SHF_MERGE | elf::SHF_STRINGS,
                    LINKER_COMMENT.as_bytes(),
                ),
            ],
            symbols: vec![null_sym],
            first_global: 1,
            globals: Vec::new(),
            groups: Vec::new(),
            exec_stack: false,
            // No stack request of its own: the other inputs decide.
            has_stack_note: true,
            lto_ir: false,
        }
    }

    /// What checking this file's relocations needs, taken when the file is loaded so that the
    /// check can run on another thread while loading goes on.
    pub fn reloc_check(&self) -> RelocCheck {
        RelocCheck {
            name: self.name.clone(),
            nsyms: self.symbols.len(),
            secs: self
                .sections
                .iter()
                .filter(|s| !s.relocs.is_empty())
                .map(|s| {
                    (
                        s.name,
                        s.relocs,
                        s.state != SecState::Ignored,
                        s.data.len() as u64,
                    )
                })
                .collect(),
        }
    }

    /// Whether this is the linker's own input (`linker_note`).
    pub fn is_linker_note(&self) -> bool {
        self.order.0 == u32::MAX && self.name == "<spacer>"
    }

    pub fn parse(name: String, data: &'static [u8], order: (u32, u64)) -> Result<ObjectFile> {
        Self::parse_inner(&name, data, order).with_context(|| name.to_string())
    }

    fn parse_inner(name: &str, data: &'static [u8], order: (u32, u64)) -> Result<ObjectFile> {
        let e = LE;
        let malformed = |e: object::read::Error| anyhow::anyhow!("malformed object file: {e}");
        let hdr = elf::FileHeader64::<LE>::parse(data).map_err(malformed)?;
        if hdr.e_machine(e) != elf::EM_X86_64 {
            bail!(
                "unsupported machine type {} (only x86-64 is supported)",
                hdr.e_machine(e)
            );
        }
        match hdr.e_type(e) {
            elf::ET_REL => {}
            elf::ET_DYN => {
                bail!("shared library: spacer links static executables only (link with -static)")
            }
            t => bail!("not a relocatable object (ELF type {t})"),
        }
        let shdrs = hdr.sections(e, data).map_err(malformed)?;
        let symtab = shdrs.symbols(e, data, elf::SHT_SYMTAB).map_err(malformed)?;
        let strtab = symtab.strings();

        let mut sections = Vec::with_capacity(shdrs.len());
        let mut exec_stack = false;
        let mut has_stack_note = false;
        let mut lto_ir = false;
        for (_, sh) in shdrs.enumerate() {
            let sname = shdrs.section_name(e, sh).unwrap_or(b"");
            lto_ir |= sname.starts_with(LTO_SECTION_PREFIX);
            let sh_type = sh.sh_type(e);
            let flags = sh.sh_flags(e);
            let sec_data: &'static [u8] = if sh_type == elf::SHT_NOBITS {
                &[]
            } else {
                sh.data(e, data).map_err(|_| {
                    anyhow::anyhow!(
                        "section '{}' extends past the end of the file",
                        String::from_utf8_lossy(sname)
                    )
                })?
            };
            // Compressed debug sections (`gcc -gz`, `--compress-debug-sections` in a partial
            // link) are linked in their uncompressed form.
            let (sec_data, flags, size, align) =
                if flags & elf::SHF_COMPRESSED as u64 != 0 && sh_type != elf::SHT_NOBITS {
                    let (d, align) = decompress(sec_data).with_context(|| {
                        format!(
                            "cannot decompress section '{}'",
                            String::from_utf8_lossy(sname)
                        )
                    })?;
                    let flags = flags & !(elf::SHF_COMPRESSED as u64);
                    (d, flags, d.len() as u64, align)
                } else {
                    (sec_data, flags, sh.sh_size(e), sh.sh_addralign(e).max(1))
                };
            let mut state = SecState::Normal;
            match sh_type {
                elf::SHT_NULL
                | elf::SHT_SYMTAB
                | elf::SHT_STRTAB
                | elf::SHT_RELA
                | elf::SHT_REL
                | elf::SHT_GROUP
                | elf::SHT_SYMTAB_SHNDX => state = SecState::Ignored,
                _ => {}
            }
            if sname == b".note.GNU-stack" {
                exec_stack |= flags & elf::SHF_EXECINSTR as u64 != 0;
                has_stack_note = true;
                state = SecState::Ignored;
            }
            // Property notes are merged into one (`notes`), which takes the first one's place.
            if sname == b".note.gnu.property"
                || sname.starts_with(b".gnu.warning")
                || sname == b".llvm_addrsig"
                || sh_type == 0x6fff4c03
                || flags & elf::SHF_EXCLUDE as u64 != 0
            {
                state = SecState::Ignored;
            }
            if state != SecState::Ignored {
                check_section_header(
                    sname,
                    flags,
                    sh.sh_addralign(e),
                    sh.sh_entsize(e),
                    sh.sh_size(e),
                )?;
            }
            sections.push(InputSection {
                name: sname,
                sh_type,
                flags,
                size,
                align,
                entsize: sh.sh_entsize(e),
                data: sec_data,
                relocs: &[],
                state,
                live: true,
                split: Split::None,
                merge_idx: u32::MAX,
                out_sec: u32::MAX,
                out_off: 0,
            });
        }

        // Attach relocation sections to their targets.
        let mut groups = Vec::new();
        for (idx, sh) in shdrs.enumerate() {
            match sh.sh_type(e) {
                elf::SHT_RELA => {
                    let target = sh.sh_info(e) as usize;
                    if target >= sections.len() {
                        bail!(
                            "relocation section {} targets invalid section {target}",
                            idx.0
                        );
                    }
                    let entsize = sh.sh_entsize(e);
                    if entsize != 0 && entsize != std::mem::size_of::<Rela>() as u64 {
                        bail!(
                            "relocation section {} has entry size {entsize}, not {}",
                            idx.0,
                            std::mem::size_of::<Rela>()
                        );
                    }
                    let relocs: &'static [Rela] = sh.data_as_array(e, data).map_err(|_| {
                        anyhow::anyhow!("relocation section {} is truncated", idx.0)
                    })?;
                    sections[target].relocs = relocs;
                }
                elf::SHT_REL => bail!("SHT_REL relocation sections are not supported on x86-64"),
                elf::SHT_GROUP => {
                    let words: &[object::U32<LE>] = sh
                        .data_as_array(e, data)
                        .map_err(|_| anyhow::anyhow!("group section {} is truncated", idx.0))?;
                    if words.is_empty() || words[0].get(e) & elf::GRP_COMDAT == 0 {
                        continue;
                    }
                    let sig_index = sh.sh_info(e) as usize;
                    let sig_sym = symtab.symbol(object::SymbolIndex(sig_index)).map_err(|_| {
                        anyhow::anyhow!("group signature symbol {sig_index} out of range")
                    })?;
                    let sig = sym_name(strtab, sig_sym.st_name(e))?;
                    let members: Vec<u32> = words[1..].iter().map(|w| w.get(e)).collect();
                    for &m in &members {
                        if m as usize >= sections.len() {
                            bail!("group member section {m} out of range");
                        }
                    }
                    groups.push((sig, members, idx.0 as u32));
                }
                _ => {}
            }
        }

        let mut symbols = Vec::with_capacity(symtab.len());
        for (i, s) in symtab.symbols().iter().enumerate() {
            let raw_shndx = s.st_shndx(e);
            let shndx = if raw_shndx == elf::SHN_XINDEX {
                symtab
                    .shndx(e, object::SymbolIndex(i))
                    .with_context(|| format!("symbol {i} has SHN_XINDEX but no extended index"))?
            } else if raw_shndx >= elf::SHN_LORESERVE {
                SHN_RESERVED | raw_shndx as u32
            } else {
                raw_shndx as u32
            };
            if shndx != 0 && shndx < SHN_RESERVED && shndx as usize >= sections.len() {
                bail!("symbol {i} refers to invalid section {shndx}");
            }
            symbols.push(ObjSym {
                name: sym_name(strtab, s.st_name(e))?,
                value: s.st_value(e),
                size: s.st_size(e),
                shndx,
                bind: s.st_bind(),
                typ: s.st_type(),
                visibility: s.st_visibility(),
            });
        }
        // GCC's slim LTO objects carry only intermediate code: the LTO stage compiles them.
        if symbols.iter().any(|s| s.name == LTO_SLIM_MARK) {
            return Err(SlimLto.into());
        }
        let first_global = symtab
            .symbols()
            .iter()
            .position(|s| s.st_bind() != elf::STB_LOCAL)
            .unwrap_or(symbols.len());
        let globals = vec![u32::MAX; symbols.len() - first_global];
        Ok(ObjectFile {
            name: name.to_string(),
            order,
            sections,
            symbols,
            first_global,
            globals,
            groups,
            exec_stack,
            has_stack_note,
            lto_ir,
        })
    }
}

/// The sections of GCC's intermediate code.
const LTO_SECTION_PREFIX: &[u8] = b".gnu.lto_";

/// The symbol GCC puts in a slim LTO object (one holding only intermediate code).
const LTO_SLIM_MARK: &[u8] = b"__gnu_lto_slim";

/// Loading met a slim LTO object (see `linker::lto`).
#[derive(Debug)]
pub struct SlimLto;

/// Loading needed an archive member that is a slim LTO object: which one, and its bytes.
#[derive(Debug, Clone)]
pub struct SlimLtoMember {
    /// `archive(member)`, as messages name it.
    pub name: String,
    pub data: &'static [u8],
}

impl std::fmt::Display for SlimLtoMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {SlimLto}", self.name)
    }
}

impl std::error::Error for SlimLtoMember {}

impl std::fmt::Display for SlimLto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LTO object without machine code (compiled with -flto)")
    }
}

impl std::error::Error for SlimLto {}

/// Whether `data` is an object holding GCC's intermediate code (slim or fat).
pub fn has_lto_ir(data: &[u8]) -> bool {
    let Ok(hdr) = elf::FileHeader64::<LE>::parse(data) else {
        return false;
    };
    hdr.sections(LE, data).is_ok_and(|shdrs| {
        shdrs.iter().any(|sh| {
            shdrs
                .section_name(LE, sh)
                .is_ok_and(|n| n.starts_with(LTO_SECTION_PREFIX))
        })
    })
}
