//! `--gc-sections`: mark sections reachable from the roots through relocations; also splits
//! `.eh_frame` so that an FDE keeps its function's LSDA and personality alive.

use crate::linker::context::Link;
use crate::linker::eh_frame;
use crate::linker::object_file::SecState;
use crate::linker::symbols::{Def, LinkerSym};
use anyhow::{Context, Result};
use object::elf;
use object::LittleEndian as LE;

/// Splits every `.eh_frame` input section into records.
pub fn split_eh_frames(link: &mut Link) -> Result<()> {
    use rayon::prelude::*;
    let secs = link.sections_where(|sec| {
        sec.name == b".eh_frame" && sec.state == SecState::Normal && sec.sh_type != elf::SHT_NOBITS
    });
    // Split in parallel; the first bad section in link order is the one reported.
    let split: Vec<Result<eh_frame::EhSection>> = secs
        .par_iter()
        .with_max_len(4)
        .map(|&(f, s)| {
            let sec = link.section(f, s);
            eh_frame::split(sec.data, sec.relocs)
                .with_context(|| link.files[f as usize].name.to_string())
        })
        .collect();
    for (&(f, s), split) in secs.iter().zip(split) {
        let split = split?;
        link.files[f as usize].sections[s as usize].split =
            crate::linker::object_file::Split::EhFrame;
        link.eh.insert((f, s), split);
    }
    Ok(())
}

fn is_kept_by_name(name: &[u8], sh_type: u32, flags: u64) -> bool {
    const PREFIXES: &[&[u8]] = &[
        b".init_array",
        b".fini_array",
        b".preinit_array",
        b".ctors",
        b".dtors",
        b".jcr",
    ];
    matches!(
        sh_type,
        elf::SHT_NOTE | elf::SHT_INIT_ARRAY | elf::SHT_FINI_ARRAY | elf::SHT_PREINIT_ARRAY
    ) || name == b".init"
        || name == b".fini"
        || flags & elf::SHF_GNU_RETAIN as u64 != 0
        || PREFIXES
            .iter()
            .any(|p| name.starts_with(p) && (name.len() == p.len() || name[p.len()] == b'.'))
}

/// `extra_roots`: sections a linker script KEEPs.
pub fn collect_garbage(link: &mut Link, extra_roots: &[(u32, u32)]) -> Result<()> {
    if !link.args.gc_sections {
        return Ok(());
    }
    // Edges from a function's section to what its FDEs reference (LSDA, personality), found
    // per `.eh_frame` section in parallel.
    use rayon::prelude::*;
    let eh_secs: Vec<(&(u32, u32), &eh_frame::EhSection)> = link.eh.iter().collect();
    // (function's section, what its FDE refers to) for each FDE of each section.
    type Edges = Vec<((u32, u32), Vec<(u32, u32)>)>;
    let found: Vec<Edges> = eh_secs
        .par_iter()
        .with_max_len(4)
        .map(|&(&(f, s), eh)| {
            let relocs = link.files[f as usize].sections[s as usize].relocs;
            let mut out = Vec::new();
            for rec in eh.records.iter().filter(|r| r.is_fde()) {
                let Some(ti) = eh.fde_target_reloc(rec, relocs) else {
                    continue;
                };
                let target = link.symref(f, relocs[ti].r_sym(LE, false));
                let Some(func) = link.def_section(target) else {
                    continue;
                };
                let mut targets = Vec::new();
                let cie = rec.cie.and_then(|at| eh.record_at(at));
                for range in [Some(rec.relocs), cie.map(|c| c.relocs)]
                    .into_iter()
                    .flatten()
                {
                    for i in range.0..range.1 {
                        if i as usize == ti {
                            continue;
                        }
                        if let Some(t) =
                            link.def_section(link.symref(f, relocs[i as usize].r_sym(LE, false)))
                        {
                            targets.push(t);
                        }
                    }
                }
                out.push((func, targets));
            }
            out
        })
        .collect();
    let mut eh_edges: crate::linker::symbols::FastMap<(u32, u32), Vec<(u32, u32)>> =
        Default::default();
    for (func, targets) in found.into_iter().flatten() {
        eh_edges.entry(func).or_default().extend(targets);
    }

    let mut start_stop: crate::linker::symbols::FastMap<&[u8], ()> = Default::default();
    for sym in &link.symtab.syms {
        if let Def::Linker(LinkerSym::SectionStart(n) | LinkerSym::SectionStop(n)) = sym.def {
            start_stop.insert(n, ());
        }
    }

    let mut work: Vec<(u32, u32)> = Vec::new();
    for (fi, file) in link.files.iter_mut().enumerate() {
        for (si, sec) in file.sections.iter_mut().enumerate() {
            if sec.state != SecState::Normal {
                continue;
            }
            // Non-allocated sections (debug info) are kept but do not keep anything alive.
            // Debug information and relocation-free non-allocated sections are kept (GNU ld's
            // rule); other non-allocated sections go unless something refers to them.
            if sec.name == b".eh_frame"
                || (!sec.is_alloc()
                    && (sec.relocs.is_empty() || crate::linker::layout::is_debug(sec.name)))
            {
                sec.live = true;
                continue;
            }
            sec.live = false;
            if is_kept_by_name(sec.name, sec.sh_type, sec.flags)
                || start_stop.contains_key(sec.name)
            {
                work.push((fi as u32, si as u32));
            }
        }
    }
    let mut roots: Vec<String> = link.args.undefined.clone();
    roots.push(link.args.entry.clone().unwrap_or_else(|| "_start".into()));
    for (_, expr) in &link.args.defsyms {
        roots.extend(
            expr.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                .map(str::to_string),
        );
    }
    for name in roots {
        if let Some(id) = link.symtab.get(name.as_bytes()) {
            if let Some(s) = link.def_section(crate::linker::context::SymRef::Global(id)) {
                work.push(s);
            }
        }
    }
    // `.eh_frame` is kept but marks nothing by itself: its FDEs follow their functions.
    work.extend(
        extra_roots
            .iter()
            .copied()
            .filter(|&(f, s)| !link.eh.contains_key(&(f, s))),
    );
    let live = mark_reachable(link, work, &eh_edges);
    for (file, flags) in link.files.iter_mut().zip(live) {
        for (sec, flag) in file.sections.iter_mut().zip(flags) {
            sec.live = flag;
        }
    }
    // As GNU ld: a file none of whose code or data is kept loses its debug and other
    // non-allocated sections too (but for the linker's own, which has no code or data).
    for file in link.files.iter_mut().filter(|f| !f.is_linker_note()) {
        let some_kept = file.sections.iter().any(|s| {
            s.state == SecState::Normal && s.live && s.is_alloc() && s.sh_type != elf::SHT_NOTE
        });
        if !some_kept {
            for sec in file
                .sections
                .iter_mut()
                .filter(|s| !s.is_alloc() && s.name != b".eh_frame")
            {
                sec.live = false;
            }
        }
    }
    if link.args.print_gc_sections {
        for file in &link.files {
            for sec in &file.sections {
                if sec.state == SecState::Normal && !sec.live && sec.size > 0 {
                    eprintln!(
                        "spacer: removing unused section '{}' in file '{}'",
                        String::from_utf8_lossy(sec.name),
                        file.name
                    );
                }
            }
        }
    }
    Ok(())
}

/// Decides which `.eh_frame` records survive (FDEs whose function is in the output) and gives
/// them output offsets.
pub fn finalize_eh_frames(link: &mut Link) {
    let keys: Vec<(u32, u32)> = link.eh.keys().copied().collect();
    for key in keys {
        let relocs = link.files[key.0 as usize].sections[key.1 as usize].relocs;
        let mut eh = link.eh.remove(&key).unwrap();
        let mut out = 0u32;
        for i in 0..eh.records.len() {
            let rec = &eh.records[i];
            let keep = if rec.is_fde() {
                match eh.fde_target_reloc(rec, relocs) {
                    Some(ti) => {
                        let t = link.symref(key.0, relocs[ti].r_sym(LE, false));
                        match link.def_section(t) {
                            Some((tf, ts)) => link.section(tf, ts).is_included(),
                            None => false,
                        }
                    }
                    None => false,
                }
            } else {
                true
            };
            let rec = &mut eh.records[i];
            rec.keep = keep;
            if keep {
                rec.out_off = out;
                out += rec.len;
            }
        }
        eh.out_size = out as u64;
        link.eh.insert(key, eh);
    }
}

/// Marks everything reachable from `roots` through relocations (and `.eh_frame` edges) live:
/// a breadth-first walk whose every level runs in parallel, each section claimed once through
/// an atomic flag. The set marked is the same whatever the order.
fn mark_reachable(
    link: &Link,
    roots: Vec<(u32, u32)>,
    eh_edges: &crate::linker::symbols::FastMap<(u32, u32), Vec<(u32, u32)>>,
) -> Vec<Vec<bool>> {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    let live: Vec<Vec<AtomicBool>> = link
        .files
        .iter()
        .map(|f| f.sections.iter().map(|s| AtomicBool::new(s.live)).collect())
        .collect();
    let claim = |(f, s): (u32, u32)| {
        link.files[f as usize].sections[s as usize].state == SecState::Normal
            && !live[f as usize][s as usize].swap(true, Ordering::Relaxed)
    };
    for &(f, s) in &roots {
        live[f as usize][s as usize].store(true, Ordering::Relaxed);
    }
    let mut frontier = roots;
    while !frontier.is_empty() {
        frontier = frontier
            .par_iter()
            .with_max_len(64)
            .flat_map_iter(|&(f, s)| {
                let relocs = link.files[f as usize].sections[s as usize].relocs;
                relocs
                    .iter()
                    .filter_map(move |r| link.def_section(link.symref(f, r.r_sym(LE, false))))
                    .chain(eh_edges.get(&(f, s)).into_iter().flatten().copied())
                    .filter(|&t| claim(t))
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    live.into_iter()
        .map(|v| v.into_iter().map(AtomicBool::into_inner).collect())
        .collect()
}
