//! `.eh_frame` splitting: input sections are cut into CIE and FDE records so that FDEs of
//! discarded functions can be dropped, and FDEs can keep their function's LSDA and personality
//! alive during garbage collection. `.eh_frame_hdr` is built from the output with gimli.

use crate::linker::object_file::Rela;
use anyhow::{bail, Result};
use object::LittleEndian as LE;

#[derive(Debug, Clone)]
pub struct EhRecord {
    pub in_off: u32,
    /// Whole record length including the length field.
    pub len: u32,
    /// For FDEs: input offset of the CIE the record uses.
    pub cie: Option<u32>,
    /// Range of the section's relocations that fall inside this record.
    pub relocs: (u32, u32),
    pub keep: bool,
    pub out_off: u32,
}

impl EhRecord {
    pub fn is_fde(&self) -> bool {
        self.cie.is_some()
    }
}

#[derive(Debug, Default)]
pub struct EhSection {
    pub records: Vec<EhRecord>,
    pub out_size: u64,
}

impl EhSection {
    /// The record starting at input offset `at` (records are kept in input order).
    pub fn record_at(&self, at: u32) -> Option<&EhRecord> {
        let i = self.records.partition_point(|c| c.in_off < at);
        self.records.get(i).filter(|c| c.in_off == at)
    }

    /// Output offset of an input offset, if the record holding it is kept.
    pub fn map_offset(&self, off: u64) -> Option<u64> {
        let i = self
            .records
            .partition_point(|r| r.in_off as u64 + r.len as u64 <= off);
        let r = self.records.get(i)?;
        if r.keep && off >= r.in_off as u64 {
            Some(r.out_off as u64 + off - r.in_off as u64)
        } else {
            None
        }
    }

    /// Index of the pc_begin relocation of an FDE record.
    pub fn fde_target_reloc(&self, rec: &EhRecord, relocs: &[Rela]) -> Option<usize> {
        (rec.relocs.0..rec.relocs.1)
            .map(|i| i as usize)
            .find(|&i| relocs[i].r_offset.get(LE) == rec.in_off as u64 + 8)
    }
}

/// Splits an input `.eh_frame` into records. Relocations must be sorted by offset (as
/// assemblers emit them); that is checked.
pub fn split(data: &[u8], relocs: &[Rela]) -> Result<EhSection> {
    let mut records = Vec::new();
    let mut off = 0usize;
    let mut ri = 0usize;
    for w in relocs.windows(2) {
        if w[0].r_offset.get(LE) > w[1].r_offset.get(LE) {
            bail!(".eh_frame relocations are not sorted by offset");
        }
    }
    while off < data.len() {
        if data.len() - off < 4 {
            bail!(".eh_frame: truncated record at offset {off:#x}");
        }
        let len32 = u32::from_le_bytes(data[off..off + 4].try_into().unwrap());
        let (header, body_len) = if len32 == 0xffff_ffff {
            if data.len() - off < 12 {
                bail!(".eh_frame: truncated record at offset {off:#x}");
            }
            (
                12usize,
                u64::from_le_bytes(data[off + 4..off + 12].try_into().unwrap()) as usize,
            )
        } else {
            (4usize, len32 as usize)
        };
        let total = header + body_len;
        if off + total > data.len() {
            bail!(".eh_frame: record at offset {off:#x} extends past the end of the section");
        }
        let cie = if body_len == 0 {
            None
        } else {
            if body_len < 4 {
                bail!(".eh_frame: record at offset {off:#x} is too short");
            }
            let id_off = off + header;
            let id = u32::from_le_bytes(data[id_off..id_off + 4].try_into().unwrap());
            if id == 0 {
                None
            } else {
                let cie_off = (id_off as i64) - (id as i64);
                if cie_off < 0 {
                    bail!(".eh_frame: FDE at offset {off:#x} points before the section");
                }
                Some(cie_off as u32)
            }
        };
        let start = ri;
        while ri < relocs.len() && (relocs[ri].r_offset.get(LE) as usize) < off + total {
            ri += 1;
        }
        records.push(EhRecord {
            in_off: off as u32,
            len: total as u32,
            cie,
            relocs: (start as u32, ri as u32),
            keep: true,
            out_off: 0,
        });
        off += total;
    }
    Ok(EhSection {
        records,
        out_size: data.len() as u64,
    })
}

/// Copies the kept records of one input section to `out`, rewriting the CIE pointers of FDEs
/// (their distance to the CIE changes when records in between are dropped).
pub fn copy_kept(sec: &EhSection, data: &[u8], out: &mut [u8]) {
    for r in sec.records.iter().filter(|r| r.keep) {
        let src = &data[r.in_off as usize..(r.in_off + r.len) as usize];
        let dst = &mut out[r.out_off as usize..(r.out_off + r.len) as usize];
        dst.copy_from_slice(src);
        if let Some(cie_in) = r.cie {
            let header = if u32::from_le_bytes(src[0..4].try_into().unwrap()) == 0xffff_ffff {
                12
            } else {
                4
            };
            let cie_rec = sec.record_at(cie_in);
            if let Some(c) = cie_rec {
                let ptr = (r.out_off as i64 + header as i64) - c.out_off as i64;
                dst[header..header + 4].copy_from_slice(&(ptr as u32).to_le_bytes());
            }
        }
    }
}

/// Builds `.eh_frame_hdr` (version 1, pcrel eh_frame pointer, binary-search table of datarel
/// sdata4 pairs) from the relocated output `.eh_frame` and the output offsets of its FDEs.
pub fn build_hdr(
    eh_frame: &[u8],
    eh_addr: u64,
    fde_offsets: &[u64],
    hdr_addr: u64,
    out: &mut [u8],
) -> Result<()> {
    use gimli::{BaseAddresses, EhFrame, EhFrameOffset, UnwindSection};
    let section = EhFrame::new(eh_frame, gimli::LittleEndian);
    let bases = BaseAddresses::default().set_eh_frame(eh_addr);
    let mut table = Vec::with_capacity(fde_offsets.len());
    for &off in fde_offsets {
        let fde = section
            .fde_from_offset(
                &bases,
                EhFrameOffset(off as usize),
                EhFrame::cie_from_offset,
            )
            .map_err(|e| {
                anyhow::anyhow!(".eh_frame: cannot parse FDE at output offset {off:#x}: {e}")
            })?;
        table.push((fde.initial_address(), eh_addr + off));
    }
    table.sort_unstable();
    let rel = |a: u64| -> Result<[u8; 4]> {
        let d = a.wrapping_sub(hdr_addr) as i64;
        if d < i32::MIN as i64 || d > i32::MAX as i64 {
            bail!(".eh_frame_hdr: address {a:#x} out of range of the header");
        }
        Ok((d as i32).to_le_bytes())
    };
    out[0] = 1; // version
    out[1] = 0x1b; // DW_EH_PE_pcrel | DW_EH_PE_sdata4
    out[2] = 0x03; // DW_EH_PE_udata4
    out[3] = 0x3b; // DW_EH_PE_datarel | DW_EH_PE_sdata4
    let p = (eh_addr as i64 - (hdr_addr as i64 + 4)) as i32;
    out[4..8].copy_from_slice(&p.to_le_bytes());
    out[8..12].copy_from_slice(&(table.len() as u32).to_le_bytes());
    for (i, (pc, fde)) in table.iter().enumerate() {
        let o = 12 + i * 8;
        out[o..o + 4].copy_from_slice(&rel(*pc)?);
        out[o + 4..o + 8].copy_from_slice(&rel(*fde)?);
    }
    Ok(())
}

/// Fills the room between the input sections of the output `.eh_frame` (the version-stable
/// layout's regions leave some) with records, so that a walk from record to record (libgcc's
/// registered frames, debuggers) reads the whole section: room of 16 bytes or more becomes a
/// CIE that no FDE uses (its instructions DW_CFA_nop); smaller room lengthens the record
/// before it by that many DW_CFA_nop bytes. Zero bytes would read as the terminator.
/// `members` are (offset, size, the input section's records and their base) in the section.
pub fn fill_gaps(out: &mut [u8], members: &mut [(u64, u64, Option<&EhSection>)]) {
    members.sort_by_key(|m| m.0);
    let mut at = 0u64;
    let mut last: Option<(u64, &EhRecord)> = None;
    for &(off, size, eh) in members.iter() {
        if size == 0 {
            continue;
        }
        if off > at {
            fill(out, at, off - at, last);
        }
        at = at.max(off + size);
        last = eh
            .and_then(|e| e.records.iter().rev().find(|r| r.keep))
            .map(|r| (off, r));
    }
}

/// Fills `[at, at + len)` of the output `.eh_frame`; `last` is the record before it.
fn fill(out: &mut [u8], at: u64, len: u64, last: Option<(u64, &EhRecord)>) {
    let (at, len) = (at as usize, len as usize);
    if len % 4 != 0 || at + len > out.len() {
        return;
    }
    if len >= 16 {
        // One CIE per 2 GiB at most (its length field is 32 bits).
        let mut pos = at;
        while pos < at + len {
            let n = (at + len - pos).min(1 << 31);
            let n = if at + len - (pos + n) < 16 && pos + n < at + len {
                n - 16
            } else {
                n
            };
            let cie = &mut out[pos..pos + n];
            cie.fill(0);
            cie[0..4].copy_from_slice(&((n - 4) as u32).to_le_bytes());
            // CIE id 0, version 1, no augmentation, code alignment 1, data alignment -8,
            // return address in register 16.
            cie[8] = 1;
            cie[10] = 1;
            cie[11] = 0x78;
            cie[12] = 16;
            pos += n;
        }
        return;
    }
    let Some((base, r)) = last else { return };
    let start = base as usize + r.out_off as usize;
    if start + r.len as usize != at || start + 12 > out.len() {
        return;
    }
    let len32 = u32::from_le_bytes(out[start..start + 4].try_into().unwrap());
    if len32 == 0 {
        return; // a terminator: the walk ends there anyway
    }
    if len32 == 0xffff_ffff {
        let l = u64::from_le_bytes(out[start + 4..start + 12].try_into().unwrap());
        out[start + 4..start + 12].copy_from_slice(&(l + len as u64).to_le_bytes());
    } else {
        out[start..start + 4].copy_from_slice(&(len32 + len as u32).to_le_bytes());
    }
    out[at..at + len].fill(0);
}
