//! Small edits of finished ELF64 images: replacing or adding one non-allocated section
//! (used by `spacer digest` to add page digests to images linked by any linker).

use anyhow::{anyhow, bail, Result};
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::LittleEndian as LE;

/// Returns a copy of `image` in which the non-allocated section `name` holds `content`
/// (added if missing). Everything the program headers load is left byte-for-byte intact; the
/// section name table and section header table are rewritten at the end of the file.
/// Returns the new image and the file offset of the section's content.
pub fn replace_section(image: &[u8], name: &[u8], content: &[u8]) -> Result<(Vec<u8>, u64)> {
    let hdr =
        elf::FileHeader64::<LE>::parse(image).map_err(|e| anyhow!("not an ELF64 image: {e}"))?;
    let shdrs = hdr
        .sections(LE, image)
        .map_err(|e| anyhow!("malformed section headers: {e}"))?;
    let phdrs = hdr
        .program_headers(LE, image)
        .map_err(|e| anyhow!("malformed program headers: {e}"))?;
    let shstrndx = hdr.e_shstrndx(LE) as usize;
    if shdrs.is_empty() || shstrndx == 0 || shstrndx >= shdrs.len() {
        bail!("image has no section name table");
    }
    let existing = shdrs
        .iter()
        .position(|sh| shdrs.section_name(LE, sh).ok() == Some(name));
    if let Some(i) = existing {
        if shdrs.iter().nth(i).unwrap().sh_flags(LE) & elf::SHF_ALLOC as u64 != 0 {
            bail!(
                "section {} is allocated and cannot be replaced",
                String::from_utf8_lossy(name)
            );
        }
    }

    // Keep everything up to the end of the last byte anything still refers to.
    let mut keep_end = hdr.e_phoff(LE) + hdr.e_phnum(LE) as u64 * hdr.e_phentsize(LE) as u64;
    keep_end = keep_end.max(64);
    for p in phdrs {
        keep_end = keep_end.max(p.p_offset(LE) + p.p_filesz(LE));
    }
    for (i, sh) in shdrs.iter().enumerate() {
        if Some(i) == existing || i == shstrndx || sh.sh_type(LE) == elf::SHT_NOBITS {
            continue;
        }
        keep_end = keep_end.max(sh.sh_offset(LE) + sh.sh_size(LE));
    }
    if keep_end > image.len() as u64 {
        bail!("image is truncated: its headers refer to bytes past the end of the file");
    }
    let mut out = image[..keep_end as usize].to_vec();

    let shstr_sh = shdrs.iter().nth(shstrndx).unwrap();
    let old_shstr = shstr_sh
        .data(LE, image)
        .map_err(|_| anyhow!("section name table extends past the end of the file"))?;
    let mut shstrtab = old_shstr.to_vec();
    let name_off = match existing {
        Some(i) => shdrs.iter().nth(i).unwrap().sh_name(LE),
        None => {
            let o = shstrtab.len() as u32;
            shstrtab.extend_from_slice(name);
            shstrtab.push(0);
            o
        }
    };
    let shstr_off = out.len() as u64;
    out.extend_from_slice(&shstrtab);
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let content_off = out.len() as u64;
    out.extend_from_slice(content);
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let shoff = out.len() as u64;

    let mut headers: Vec<[u8; 64]> = Vec::new();
    for (i, sh) in shdrs.iter().enumerate() {
        let mut d = [0u8; 64];
        d.copy_from_slice(object::pod::bytes_of(sh));
        if i == shstrndx {
            d[24..32].copy_from_slice(&shstr_off.to_le_bytes());
            d[32..40].copy_from_slice(&(shstrtab.len() as u64).to_le_bytes());
        }
        if Some(i) == existing {
            d[24..32].copy_from_slice(&content_off.to_le_bytes());
            d[32..40].copy_from_slice(&(content.len() as u64).to_le_bytes());
        }
        headers.push(d);
    }
    if existing.is_none() {
        let mut d = [0u8; 64];
        d[0..4].copy_from_slice(&name_off.to_le_bytes());
        d[4..8].copy_from_slice(&elf::SHT_PROGBITS.to_le_bytes());
        d[24..32].copy_from_slice(&content_off.to_le_bytes());
        d[32..40].copy_from_slice(&(content.len() as u64).to_le_bytes());
        d[48..56].copy_from_slice(&8u64.to_le_bytes());
        headers.push(d);
    }
    for h in &headers {
        out.extend_from_slice(h);
    }
    out[40..48].copy_from_slice(&shoff.to_le_bytes());
    out[58..60].copy_from_slice(&64u16.to_le_bytes());
    out[60..62].copy_from_slice(&(headers.len() as u16).to_le_bytes());
    Ok((out, content_off))
}
