//! `--emit-relocs` (`-q`): the input relocations of every section the image keeps, written as
//! `.rela.<section>` beside it, as GNU ld writes them, so that tools that rewrite executables
//! (BOLT, kernel relocation tools, binary diffing) can follow every reference:
//!
//! - the place is the address in the image (the offset in the section for sections that are
//!   not loaded), mapped through `.eh_frame` editing;
//! - a reference to an input section's symbol becomes one to the output section's symbol,
//!   with the addend adjusted so that symbol + addend is still the place referred to (in
//!   merged sections, the piece's place);
//! - other symbols are their `.symtab` entries;
//! - a GOT access the linker relaxed is described as rewritten (`lea`: R_X86_64_PC32, `mov $`:
//!   R_X86_64_32S …); TLS accesses keep their type, as in GNU ld's output;
//! - a relocation against a discarded section, or inside an `.eh_frame` record that was
//!   dropped, becomes R_X86_64_NONE (GNU ld keeps the count).

use super::symtab::SymIndex;
use crate::linker::context::{Link, SymRef};
use crate::linker::object_file::{Rela, Split};
use crate::linker::reloc::x86_64;
use object::elf;
use object::LittleEndian as LE;
use rayon::prelude::*;

/// The relocation sections of an image: (output section index, Elf64_Rela entries).
pub struct Emitted {
    pub sections: Vec<(u32, Vec<u8>)>,
}

/// Every output section's relocations, sections in parallel.
pub fn build(link: &Link, index: &SymIndex) -> Emitted {
    let lay = &link.layout;
    let sections = (0..lay.secs.len() as u32)
        .into_par_iter()
        .filter_map(|k| {
            let os = &lay.secs[k as usize];
            let with_relocs = os
                .members
                .iter()
                .any(|&(f, s)| !link.section(f, s).relocs.is_empty());
            (with_relocs && !os.is_nobits()).then(|| (k, section_relocs(link, index, k)))
        })
        .collect();
    Emitted { sections }
}

/// One output section's relocations, its members' in order.
fn section_relocs(link: &Link, index: &SymIndex, k: u32) -> Vec<u8> {
    let os = &link.layout.secs[k as usize];
    let mut out = Vec::new();
    let mut last_place = 0;
    for &(f, s) in &os.members {
        let sec = link.section(f, s);
        for r in sec.relocs {
            let (place, info, addend) = match rewrite(link, index, f, s, r) {
                Some(e) => e,
                // Dropped with its `.eh_frame` record: a no-op at the last place, which keeps
                // the places in order.
                None => (last_place, 0, 0),
            };
            last_place = place;
            out.extend_from_slice(&place.to_le_bytes());
            out.extend_from_slice(&info.to_le_bytes());
            out.extend_from_slice(&addend.to_le_bytes());
        }
    }
    out
}

/// One relocation of input section (f, s) as the image has it: (place, r_info, addend), or
/// `None` if its place is gone.
fn rewrite(link: &Link, index: &SymIndex, f: u32, s: u32, r: &Rela) -> Option<(u64, u64, i64)> {
    let sec = link.section(f, s);
    let os = &link.layout.secs[sec.out_sec as usize];
    let in_off = r.r_offset.get(LE);
    let off = match link.eh.get(&(f, s)) {
        Some(eh) => eh.map_offset(in_off)?,
        None => in_off,
    };
    let mut place = match sec.split {
        Split::Merged => link.merged_addr((f, s), in_off),
        _ => os.addr + sec.out_off + off,
    };
    let mut ty = r.r_type(LE, false);
    let a = r.r_addend.get(LE);
    let rsym = r.r_sym(LE, false);
    if rsym == 0 {
        return Some((place, ty as u64, a));
    }
    let target = link.symref(f, rsym);
    if link
        .def_section(target)
        .is_some_and(|(tf, ts)| !link.section(tf, ts).is_included())
    {
        // Against a discarded section: nothing is left to refer to (GNU ld writes the same).
        return Some((place, 0, 0));
    }
    let (sym, mut addend) = symbol_and_addend(link, index, target, a);
    if sec.split == Split::None {
        let s_a = link.sym_addr(target).wrapping_add(a as u64);
        if let Some(form) = x86_64::got_relaxation(link, ty, sec.data, off as usize, target, s_a) {
            let (new_ty, place_delta, addend_delta) = form.relocation();
            ty = new_ty;
            place = place.wrapping_add(place_delta as u64);
            addend += addend_delta;
        }
    }
    Some((place, ((sym as u64) << 32) | ty as u64, addend))
}

/// The `.symtab` index a relocation against `target` names in the image, and its addend
/// there: input section symbols (and locals the table does not have) are replaced by their
/// output section's symbol, with the offset folded into the addend.
fn symbol_and_addend(link: &Link, index: &SymIndex, target: SymRef, addend: i64) -> (u32, i64) {
    match target {
        SymRef::Global(id) => match index.globals.get(id as usize) {
            Some(&i) if i != u32::MAX => (i, addend),
            _ => (0, addend),
        },
        SymRef::Local(f, i) => {
            let sym = &link.files[f as usize].symbols[i as usize];
            if sym.typ != elf::STT_SECTION {
                if let Some(&idx) = index.locals.get(&(f, i)) {
                    return (idx, addend);
                }
            }
            if sym.is_abs()
                || sym.shndx == 0
                || sym.shndx >= crate::linker::object_file::SHN_RESERVED
            {
                return (0, (sym.value as i64).wrapping_add(addend));
            }
            let out = link.section(f, sym.shndx).out_sec;
            let Some(os) = link.layout.secs.get(out as usize) else {
                return (0, addend);
            };
            let at = match link.merged_section_target(target, addend) {
                Some(a) => a,
                None => link.file_sym_addr(f, i).wrapping_add(addend as u64),
            };
            (SymIndex::section(out), at.wrapping_sub(os.addr) as i64)
        }
    }
}
