//! The ELF header, program headers and section header table of an executable image.

use super::buf::OutBuf;
use super::emit_relocs::Emitted;
use super::symtab::SymtabOut;
use crate::linker::context::Link;
use crate::linker::layout::{Synth, PHDR_SIZE};
use object::elf;

struct Shdr {
    name: u32,
    sh_type: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

/// The section header table and the tables behind the section contents (`.symtab`, `.strtab`,
/// `.shstrtab`), with their file offsets.
pub struct SectionTable {
    shdrs: Vec<Shdr>,
    shstrtab: Vec<u8>,
    shstrtab_off: u64,
    /// File offsets of `.symtab` and `.strtab`.
    symtab_off: Option<(u64, u64)>,
    /// File offsets of the `--emit-relocs` sections, in `Emitted` order.
    rela_off: Vec<u64>,
    pub shstrndx: u32,
    /// File offset of the section header table.
    pub shoff: u64,
    pub file_size: u64,
}

impl SectionTable {
    pub fn new(link: &Link, symtab: Option<&SymtabOut>, relocs: Option<&Emitted>) -> SectionTable {
        let lay = &link.layout;
        // Section header string table and trailing tables.
        let mut shstrtab = vec![0u8];
        let mut add_name = |n: &[u8]| {
            let o = shstrtab.len() as u32;
            shstrtab.extend_from_slice(n);
            shstrtab.push(0);
            o
        };
        let mut shdrs = vec![Shdr {
            name: 0,
            sh_type: 0,
            flags: 0,
            addr: 0,
            offset: 0,
            size: 0,
            link: 0,
            info: 0,
            align: 0,
            entsize: 0,
        }];
        let gotplt_idx = lay
            .secs
            .iter()
            .position(|s| s.synth == Some(Synth::GotPlt))
            .map(|i| i as u32 + 1)
            .unwrap_or(0);
        for os in &lay.secs {
            let info = if os.synth == Some(Synth::RelaIplt) {
                gotplt_idx
            } else {
                0
            };
            let idx_of = |k: Synth| {
                lay.secs
                    .iter()
                    .position(|s| s.synth == Some(k))
                    .map(|i| i as u32 + 1)
                    .unwrap_or(0)
            };
            let sh_link = match os.synth {
                Some(Synth::DynSym) | Some(Synth::Dynamic) => idx_of(Synth::DynStr),
                Some(Synth::RelaDyn) => idx_of(Synth::DynSym),
                _ => 0,
            };
            shdrs.push(Shdr {
                name: add_name(&os.name),
                sh_type: os.sh_type,
                flags: os.flags,
                addr: os.addr,
                offset: os.offset,
                size: os.size,
                link: sh_link,
                info,
                align: os.align,
                entsize: os.entsize,
            });
        }
        let mut off = lay.content_end;
        // `.rela.<section>` after the sections (their indices stay those of a plain link),
        // naming the `.symtab` that follows them.
        let mut rela_off = Vec::new();
        let sections = relocs.map(|e| &e.sections[..]).unwrap_or(&[]);
        let symtab_idx = shdrs.len() as u32 + sections.len() as u32;
        for (k, data) in sections {
            off = off.next_multiple_of(8);
            let mut name = b".rela".to_vec();
            name.extend_from_slice(&lay.secs[*k as usize].name);
            shdrs.push(Shdr {
                name: add_name(&name),
                sh_type: elf::SHT_RELA,
                flags: elf::SHF_INFO_LINK as u64,
                addr: 0,
                offset: off,
                size: data.len() as u64,
                link: symtab_idx,
                info: k + 1,
                align: 8,
                entsize: 24,
            });
            rela_off.push(off);
            off += data.len() as u64;
        }
        let mut symtab_off = None;
        if let Some(st) = symtab {
            off = off.next_multiple_of(8);
            let strtab_idx = shdrs.len() as u32 + 1;
            shdrs.push(Shdr {
                name: add_name(b".symtab"),
                sh_type: elf::SHT_SYMTAB,
                flags: 0,
                addr: 0,
                offset: off,
                size: st.symtab.len() as u64,
                link: strtab_idx,
                info: st.n_local,
                align: 8,
                entsize: 24,
            });
            let sym_at = off;
            off += st.symtab.len() as u64;
            shdrs.push(Shdr {
                name: add_name(b".strtab"),
                sh_type: elf::SHT_STRTAB,
                flags: 0,
                addr: 0,
                offset: off,
                size: st.strtab.len() as u64,
                link: 0,
                info: 0,
                align: 1,
                entsize: 0,
            });
            symtab_off = Some((sym_at, off));
            off += st.strtab.len() as u64;
        }
        let shstr_name = add_name(b".shstrtab");
        let shstrndx = shdrs.len() as u32;
        shdrs.push(Shdr {
            name: shstr_name,
            sh_type: elf::SHT_STRTAB,
            flags: 0,
            addr: 0,
            offset: off,
            size: shstrtab.len() as u64,
            link: 0,
            info: 0,
            align: 1,
            entsize: 0,
        });
        let shstrtab_off = off;
        off += shstrtab.len() as u64;
        let shoff = off.next_multiple_of(8);
        let file_size = shoff + 64 * shdrs.len() as u64;
        SectionTable {
            shdrs,
            shstrtab,
            shstrtab_off,
            symtab_off,
            rela_off,
            shstrndx,
            shoff,
            file_size,
        }
    }

    /// Writes the symbol and string tables and the section header table.
    pub fn write(&self, buf: &OutBuf, symtab: Option<&SymtabOut>, relocs: Option<&Emitted>) {
        for ((_, data), &at) in relocs
            .map(|e| &e.sections[..])
            .unwrap_or(&[])
            .iter()
            .zip(&self.rela_off)
        {
            buf.slice(at, data.len() as u64).copy_from_slice(data);
        }
        if let (Some(st), Some((sym_at, str_at))) = (symtab, self.symtab_off) {
            buf.slice(sym_at, st.symtab.len() as u64)
                .copy_from_slice(&st.symtab);
            buf.slice(str_at, st.strtab.len() as u64)
                .copy_from_slice(&st.strtab);
        }
        buf.slice(self.shstrtab_off, self.shstrtab.len() as u64)
            .copy_from_slice(&self.shstrtab);
        let sh = buf.slice(self.shoff, 64 * self.shdrs.len() as u64);
        for (i, h) in self.shdrs.iter().enumerate() {
            let o = i * 64;
            let d = &mut sh[o..o + 64];
            d[0..4].copy_from_slice(&h.name.to_le_bytes());
            d[4..8].copy_from_slice(&h.sh_type.to_le_bytes());
            d[8..16].copy_from_slice(&h.flags.to_le_bytes());
            d[16..24].copy_from_slice(&h.addr.to_le_bytes());
            d[24..32].copy_from_slice(&h.offset.to_le_bytes());
            d[32..40].copy_from_slice(&h.size.to_le_bytes());
            d[40..44].copy_from_slice(&h.link.to_le_bytes());
            d[44..48].copy_from_slice(&h.info.to_le_bytes());
            d[48..56].copy_from_slice(&h.align.to_le_bytes());
            d[56..64].copy_from_slice(&h.entsize.to_le_bytes());
        }
    }

    pub fn len(&self) -> usize {
        self.shdrs.len()
    }
}

/// The ELF header and the program headers.
pub fn write_headers(link: &Link, d: &mut [u8], shoff: u64, shnum: u16, shstrndx: u16) {
    let lay = &link.layout;
    d[0..4].copy_from_slice(b"\x7fELF");
    d[4] = elf::ELFCLASS64;
    d[5] = elf::ELFDATA2LSB;
    d[6] = elf::EV_CURRENT;
    d[7] = elf::ELFOSABI_NONE; // GNU ld uses SYSV unless IFUNCs are present; both load the same
    if !link.tables.plt.is_empty() {
        d[7] = elf::ELFOSABI_GNU;
    }
    let e_type = if link.pie { elf::ET_DYN } else { elf::ET_EXEC };
    d[16..18].copy_from_slice(&e_type.to_le_bytes());
    d[18..20].copy_from_slice(&elf::EM_X86_64.to_le_bytes());
    d[20..24].copy_from_slice(&(elf::EV_CURRENT as u32).to_le_bytes());
    d[24..32].copy_from_slice(&lay.entry.to_le_bytes());
    d[32..40].copy_from_slice(&64u64.to_le_bytes());
    d[40..48].copy_from_slice(&shoff.to_le_bytes());
    d[48..52].copy_from_slice(&0u32.to_le_bytes());
    d[52..54].copy_from_slice(&64u16.to_le_bytes());
    d[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
    d[56..58].copy_from_slice(&(lay.phdrs.len() as u16).to_le_bytes());
    d[58..60].copy_from_slice(&64u16.to_le_bytes());
    d[60..62].copy_from_slice(&shnum.to_le_bytes());
    d[62..64].copy_from_slice(&shstrndx.to_le_bytes());
    for (i, p) in lay.phdrs.iter().enumerate() {
        let o = 64 + i * PHDR_SIZE as usize;
        let h = &mut d[o..o + PHDR_SIZE as usize];
        h[0..4].copy_from_slice(&p.p_type.to_le_bytes());
        h[4..8].copy_from_slice(&p.flags.to_le_bytes());
        h[8..16].copy_from_slice(&p.offset.to_le_bytes());
        h[16..24].copy_from_slice(&p.vaddr.to_le_bytes());
        h[24..32].copy_from_slice(&p.paddr.to_le_bytes());
        h[32..40].copy_from_slice(&p.filesz.to_le_bytes());
        h[40..48].copy_from_slice(&p.memsz.to_le_bytes());
        h[48..56].copy_from_slice(&p.align.to_le_bytes());
    }
}
