//! The linker-created sections a link needs (GOT, IFUNC PLT, `.rela.dyn`, `.eh_frame_hdr`, build
//! ID, ...) and their sizes, known once relocations are scanned.

use super::{Synth, DYNAMIC_ENTRIES, GOTPLT_RESERVED, PLT_ENTRY};
use crate::linker::context::Link;

/// The linker-created sections this link needs, with their sizes.
pub fn synth_sizes(link: &Link, has_eh_frame: bool) -> Vec<(Synth, u64)> {
    let mut v = Vec::new();
    let got_sym_used = link.tables.needs_got_base;
    if !link.tables.got.is_empty() {
        v.push((Synth::Got, 8 * link.tables.got.len() as u64));
    }
    if !link.tables.plt.is_empty() || got_sym_used {
        v.push((
            Synth::GotPlt,
            GOTPLT_RESERVED + 8 * link.tables.plt.len() as u64,
        ));
    }
    if !link.tables.plt.is_empty() {
        v.push((Synth::Iplt, PLT_ENTRY * link.tables.plt.len() as u64));
        if !link.pie {
            v.push((Synth::RelaIplt, 24 * link.tables.plt.len() as u64));
        }
    }
    if link.pie {
        v.push((Synth::DynSym, 24));
        v.push((Synth::DynStr, 1));
        let relocs = link.tables.dyn_section_relocs as u64
            + link.got_relative().count() as u64
            + link.tables.plt.len() as u64;
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

/// The alignment of a linker-created section.
pub(super) fn synth_align(k: Synth) -> u64 {
    match k {
        Synth::Iplt => 16,
        Synth::EhFrameHdr | Synth::BuildId => 4,
        Synth::DynStr => 1,
        _ => 8,
    }
}
