//! File offsets and program headers: the script's `PHDRS`, or loads by permission (plus
//! PT_TLS, PT_NOTE, PT_GNU_EH_FRAME, PT_GNU_STACK, PT_GNU_RELRO) under the built-in layout.

use super::expr::Env;
use super::script::{Plan, Stmt};
use crate::linker::context::Link;
use crate::linker::layout::{OutputSection, Phdr, Synth, PAGE};
use crate::linker::script::ast::{self, PhdrType};
use crate::linker::symbols::FastMap;
use anyhow::{anyhow, bail, Result};
use object::elf;

pub(super) fn phdr_count(plan: &Plan, link: &Link) -> usize {
    match &plan.phdrs {
        Some(p) => p.len(),
        None => {
            // Loads by flag class, plus the usual extras; an upper bound is fine here because
            // SIZEOF_HEADERS only needs to leave room.
            let has = |pred: &dyn Fn(&OutputSection) -> bool| link.layout.secs.iter().any(pred);
            // Each section placed by `--section-start`/`-Ttext` may start a load of its own.
            let loads = 4 + link.args.section_starts.len();
            let tls = has(&|s| s.is_tls()) as usize;
            // One PT_NOTE per alignment at most, and PT_GNU_PROPERTY.
            let note = link
                .layout
                .secs
                .iter()
                .filter(|s| s.is_alloc() && s.sh_type == elf::SHT_NOTE)
                .count()
                + has(&|s| is_property_note(s)) as usize;
            let hdr = has(&|s| s.synth == Some(Synth::EhFrameHdr)) as usize;
            let dynamic = has(&|s| s.synth == Some(Synth::Dynamic)) as usize;
            let relro = (plan.builtin && link.args.relro) as usize;
            let guess = loads + tls + note + hdr + dynamic + 1 + relro;
            // A layout file splits segments at the room it leaves and at holes, a number known
            // only after layout: leave room for 64 program headers (under a page). Static PIEs
            // need them inside their first load.
            if link.args.layout.is_some() {
                guess.max(64)
            } else {
                guess
            }
        }
    }
}

/// Which sections a segment holds.
struct Seg {
    p_type: u32,
    flags: Option<u32>,
    secs: Vec<usize>,
    headers: bool,
    name: String,
}

impl Seg {
    /// A segment of the built-in layout other than a load: no headers, no script name.
    fn extra(p_type: u32, flags: u32, secs: Vec<usize>) -> Seg {
        Seg {
            p_type,
            flags: Some(flags),
            secs,
            headers: false,
            name: String::new(),
        }
    }
}

/// File offsets and program headers. With PHDRS, segments are what the script says; without,
/// a new PT_LOAD starts where permissions change, plus PT_TLS, PT_NOTE, PT_GNU_EH_FRAME,
/// PT_GNU_STACK and (for the built-in script) PT_GNU_RELRO.
pub fn assign_segments(plan: &Plan, link: &mut Link) -> Result<()> {
    let base = link
        .args
        .image_base
        .unwrap_or(if link.pie { 0 } else { 0x400000 });
    let secs = &link.layout.secs;
    // Alloc sections by address (stable: script order for ties).
    let mut order: Vec<usize> = (0..secs.len()).filter(|&i| secs[i].is_alloc()).collect();
    order.sort_by_key(|&i| secs[i].addr);
    let segs = match &plan.phdrs {
        Some(decls) => script_segments(plan, link, decls)?,
        None => {
            let mut segs = load_segments(plan, link, &order);
            extra_segments(plan, link, &order, &mut segs);
            segs
        }
    };
    let nphdr = segs.len();
    let headers_size =
        crate::linker::layout::EHDR_SIZE + crate::linker::layout::PHDR_SIZE * nphdr as u64;
    file_offsets(link, &order, &segs, headers_size);
    let secs = &link.layout.secs;
    let load_align = link.args.max_page_size.max(PAGE);
    let mut phdrs: Vec<Phdr> = segs
        .iter()
        .map(|seg| program_header(seg, secs, base, headers_size, plan.relro, load_align))
        .collect();
    // PT_PHDR describes the program header table itself, inside the load that carries the
    // headers.
    let header_load = phdrs
        .iter()
        .zip(&segs)
        .find(|(p, s)| p.p_type == elf::PT_LOAD && s.headers && p.offset == 0)
        .map(|(p, _)| (p.vaddr, p.paddr));
    for p in phdrs.iter_mut().filter(|p| p.p_type == elf::PT_PHDR) {
        let (v, pa) = header_load.unwrap_or((base, base));
        let size = crate::linker::layout::PHDR_SIZE * nphdr as u64;
        *p = Phdr {
            p_type: elf::PT_PHDR,
            flags: elf::PF_R,
            offset: crate::linker::layout::EHDR_SIZE,
            vaddr: v + crate::linker::layout::EHDR_SIZE,
            paddr: pa + crate::linker::layout::EHDR_SIZE,
            filesz: size,
            memsz: size,
            align: 8,
        };
    }
    // Static executables find their program headers (for PT_TLS, and a static PIE for its
    // relocations) through AT_PHDR, which the kernel derives from the load that maps them. A
    // layout file adds loads; should there be more program headers than the room kept for
    // them, refuse rather than write an image that does not start.
    if plan.builtin {
        let end =
            crate::linker::layout::EHDR_SIZE + crate::linker::layout::PHDR_SIZE * nphdr as u64;
        let mapped = phdrs.iter().any(|p| {
            p.p_type == elf::PT_LOAD
                && p.offset <= crate::linker::layout::EHDR_SIZE
                && end <= p.offset + p.filesz
        });
        if !mapped {
            bail!(
                "the {nphdr} program headers do not fit in front of the first section, so no \
                 load maps them{}",
                if link.args.layout.is_some() {
                    " (--layout: too many separate loads)"
                } else {
                    ""
                }
            );
        }
    }
    link.layout.phdrs = phdrs;
    let tls: Vec<&OutputSection> = link
        .layout
        .secs
        .iter()
        .filter(|s| s.is_tls() && s.is_alloc())
        .collect();
    if let Some(first) = tls.iter().min_by_key(|s| s.addr) {
        let start = first.addr;
        let end = tls.iter().map(|s| s.addr + s.size).max().unwrap();
        let align = tls.iter().map(|s| s.align).max().unwrap_or(1);
        link.layout.tls_start = start;
        link.layout.tls_align = align;
        link.layout.tp = end.next_multiple_of(align);
        for p in link
            .layout
            .phdrs
            .iter_mut()
            .filter(|p| p.p_type == elf::PT_TLS)
        {
            p.align = align;
        }
    }
    Ok(())
}
/// The segments a script's PHDRS declares, with the sections that name them (a section
/// without `:PHDR` goes where the previous one went).
fn script_segments(plan: &Plan, link: &Link, decls: &[ast::PhdrDecl]) -> Result<Vec<Seg>> {
    let mut segs = Vec::new();
    let env_values = &plan.values;
    for d in decls {
        let env = Env {
            link,
            plan_values: env_values,
            sym_index: &plan.sym_index,
            secs: &FastMap::default(),
            headers_size: 0,
            base: 0,
            final_pass: true,
        };
        let p_type = match &d.type_ {
            PhdrType::Known(k) => k.value(),
            PhdrType::Expr(e) => env.eval(e, 0)?.0 as u32,
        };
        let flags = match &d.flags {
            Some(e) => Some(env.eval(e, 0)?.0 as u32),
            None => None,
        };
        segs.push(Seg {
            p_type,
            flags,
            secs: Vec::new(),
            headers: d.filehdr || d.phdrs,
            name: d.name.clone(),
        });
    }
    // Sections name their segments; others inherit the previous section's.
    let mut current: Vec<String> = Vec::new();
    for s in &plan.stmts {
        let Stmt::Out(o) = s else { continue };
        let Some(idx) = o.out else {
            if !o.desc.phdrs.is_empty() {
                current = o.desc.phdrs.clone();
            }
            continue;
        };
        if !link.layout.secs[idx].is_alloc() {
            continue;
        }
        if !o.desc.phdrs.is_empty() {
            current = o.desc.phdrs.clone();
        }
        for p in &current {
            let seg = segs.iter_mut().find(|s| &s.name == p).ok_or_else(|| {
                anyhow!(
                    "section {} refers to undefined program header '{p}'",
                    o.desc.name
                )
            })?;
            seg.secs.push(idx);
        }
    }
    Ok(segs)
}

/// The loads of the built-in layout: a new one where permissions change on a new page, where
/// a gap of more than a page opens, or where the load address stops following the address.
fn load_segments(plan: &Plan, link: &Link, order: &[usize]) -> Vec<Seg> {
    let nphdr_max = phdr_count(plan, link);
    let secs = &link.layout.secs;
    let mut segs: Vec<Seg> = Vec::new();
    let mut cur: Option<Seg> = None;
    let mut last_end = 0u64;
    // VMA-LMA difference of the current segment: a segment loads contiguously, so a
    // section loaded elsewhere (AT()) starts a new one.
    let mut cur_delta = 0i64;
    let mut pending_tbss: Vec<usize> = Vec::new();
    let stable = link.args.layout.is_some();
    let mut last_nobits = false;
    // `-z noseparate-code`: read-only data and code share a load; only writability splits.
    let separate_code = link.args.separate_code;
    let differ = |a: u32, b: u32| {
        if separate_code {
            a != b
        } else {
            (a ^ b) & elf::PF_W != 0
        }
    };
    for &i in order {
        let s = &secs[i];
        let f = seg_flags(s.flags);
        let delta = s.lma as i64 - s.addr as i64;
        // `.tbss` is not loaded: it never starts a segment of its own.
        let loaded = !(s.is_tls() && s.is_nobits());
        // `.tbss` is not loaded: like GNU ld, put it in the segment of what follows.
        if !loaded {
            pending_tbss.push(i);
            continue;
        }
        let start_new = match &cur {
            None => true,
            Some(c) => {
                let cf = c.flags.unwrap();
                // Tbss overlaps what follows; a gap of more than a page or different
                // permissions in a new page start a new segment. With a layout file,
                // so does file content on a later page than the zero-filled memory
                // before it (the room a layout leaves), which would otherwise take
                // file bytes.
                (differ(cf, f) && s.addr / PAGE != last_end.saturating_sub(1) / PAGE)
                    || s.addr > last_end.next_multiple_of(PAGE) + PAGE
                    || (loaded && delta != cur_delta)
                    || (stable
                        && last_nobits
                        && !s.is_nobits()
                        && s.addr / PAGE != last_end.saturating_sub(1) / PAGE)
            }
        };
        if loaded {
            cur_delta = delta;
        }
        if start_new {
            if let Some(c) = cur.take() {
                segs.push(c);
            }
            cur = Some(Seg {
                p_type: elf::PT_LOAD,
                flags: Some(f),
                secs: Vec::new(),
                headers: segs.is_empty(),
                name: String::new(),
            });
        } else if let Some(c) = cur.as_mut() {
            c.flags = Some(c.flags.unwrap() | f);
        }
        let c = cur.as_mut().unwrap();
        c.secs.append(&mut pending_tbss);
        c.secs.push(i);
        last_end = last_end.max(s.addr + s.size);
        last_nobits = s.is_nobits();
    }
    if let Some(mut c) = cur.take() {
        c.secs.append(&mut pending_tbss);
        segs.push(c);
    }
    // The first load carries the headers only if they fit below its first section.
    if let Some(first) = segs.first_mut() {
        let a = first.secs.first().map(|&i| secs[i].addr).unwrap_or(0);
        let hs =
            crate::linker::layout::EHDR_SIZE + crate::linker::layout::PHDR_SIZE * nphdr_max as u64;
        first.headers = a % PAGE >= hs;
    }
    // Static executables need their program headers mapped (the C library finds
    // PT_TLS through them): with the built-in script they always get a read-only
    // segment at the image base.
    if plan.builtin && !segs.first().is_some_and(|s| s.headers) {
        segs.insert(
            0,
            Seg {
                p_type: elf::PT_LOAD,
                flags: Some(elf::PF_R),
                secs: Vec::new(),
                headers: true,
                name: "headers".into(),
            },
        );
    }
    segs
}

/// The segments of the built-in layout besides its loads.
fn extra_segments(plan: &Plan, link: &Link, order: &[usize], segs: &mut Vec<Seg>) {
    let secs = &link.layout.secs;
    let exec_stack = link
        .args
        .exec_stack
        .unwrap_or_else(|| link.files.iter().any(|f| f.exec_stack || !f.has_stack_note));
    let tls: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| secs[i].is_tls())
        .collect();
    if !tls.is_empty() {
        segs.push(Seg::extra(elf::PT_TLS, elf::PF_R, tls));
    }
    let loads = segs.iter().filter(|s| s.p_type == elf::PT_LOAD).count();
    for (k, run) in note_runs(secs, order).into_iter().enumerate() {
        segs.insert(loads + k, Seg::extra(elf::PT_NOTE, elf::PF_R, run));
    }
    if let Some(i) = order
        .iter()
        .copied()
        .find(|&i| secs[i].synth == Some(Synth::Dynamic))
    {
        segs.insert(
            segs.iter().filter(|s| s.p_type == elf::PT_LOAD).count(),
            Seg::extra(elf::PT_DYNAMIC, elf::PF_R | elf::PF_W, vec![i]),
        );
    }
    // The loader and the kernel find the CET marking through PT_GNU_PROPERTY.
    if let Some(i) = order.iter().copied().find(|&i| is_property_note(&secs[i])) {
        segs.push(Seg::extra(elf::PT_GNU_PROPERTY, elf::PF_R, vec![i]));
    }
    if let Some(i) = order
        .iter()
        .copied()
        .find(|&i| secs[i].synth == Some(Synth::EhFrameHdr))
    {
        segs.push(Seg::extra(elf::PT_GNU_EH_FRAME, elf::PF_R, vec![i]));
    }
    let stack = if exec_stack {
        elf::PF_R | elf::PF_W | elf::PF_X
    } else {
        elf::PF_R | elf::PF_W
    };
    segs.push(Seg::extra(elf::PT_GNU_STACK, stack, Vec::new()));
    if plan.builtin && link.args.relro {
        if let Some((a, b)) = plan.relro {
            let rel: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| secs[i].addr >= a && secs[i].addr < b && secs[i].size > 0)
                .collect();
            if !rel.is_empty() {
                segs.push(Seg {
                    p_type: elf::PT_GNU_RELRO,
                    flags: Some(elf::PF_R),
                    secs: rel,
                    headers: false,
                    name: "relro-end".into(),
                });
            }
        }
    }
}

fn is_property_note(s: &OutputSection) -> bool {
    s.is_alloc() && s.sh_type == elf::SHT_NOTE && s.name == b".note.gnu.property"
}

/// The notes each PT_NOTE covers: runs of adjacent note sections of one alignment, since
/// readers walk a PT_NOTE with its p_align (an 8-byte aligned property note and 4-byte
/// aligned notes cannot share one), as GNU ld groups them.
fn note_runs(secs: &[OutputSection], order: &[usize]) -> Vec<Vec<usize>> {
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut prev: Option<usize> = None;
    for &i in order {
        let s = &secs[i];
        if s.sh_type != elf::SHT_NOTE {
            prev = None;
            continue;
        }
        let joins = prev.is_some_and(|p| {
            let p = &secs[p];
            p.align == s.align && (p.addr + p.size).next_multiple_of(s.align.max(1)) == s.addr
        });
        match runs.last_mut() {
            Some(run) if joins => run.push(i),
            _ => runs.push(vec![i]),
        }
        prev = Some(i);
    }
    runs
}

/// File offsets: walk alloc sections by address; a section's offset is congruent to its
/// address modulo the page size and never overlaps what is already placed. Non-allocated
/// sections follow.
fn file_offsets(link: &mut Link, order: &[usize], segs: &[Seg], headers_size: u64) {
    let secs = &link.layout.secs;
    // Offsets are congruent to addresses modulo the load alignment (never less than a page).
    let align = link.args.max_page_size.max(PAGE);
    let separate = link.args.separate_loadable_segments;
    // Where a load's first section goes: the next offset congruent to its address, on a page
    // of its own in the file with `-z separate-loadable-segments`.
    let load_start = |off: u64, want: u64, first: bool| {
        let off = if separate && !first {
            off.next_multiple_of(PAGE)
        } else {
            off
        };
        off + ((want + align - off % align) % align)
    };
    let mut off = headers_size;
    let mut offsets = vec![0u64; secs.len()];
    let mut prev: Option<usize> = None;
    let load_of: Vec<Option<usize>> = (0..secs.len())
        .map(|i| {
            segs.iter()
                .position(|s| s.p_type == elf::PT_LOAD && s.secs.contains(&i))
        })
        .collect();
    for &i in order {
        let s = &secs[i];
        let same_load = prev.is_some_and(|p| load_of[p] == load_of[i] && load_of[i].is_some());
        let want = s.addr % align;
        if s.is_nobits() {
            // A load of NOBITS alone takes no file space, but its offset must still be
            // congruent to its address for the loader.
            offsets[i] = if same_load {
                off
            } else {
                load_start(off, want, prev.is_none())
            };
            continue;
        }
        off = if same_load {
            // Inside one segment: keep the address distance.
            let p = prev.unwrap();
            let po = offsets[p]
                + (s.addr - secs[p].addr).min(if secs[p].is_nobits() { 0 } else { u64::MAX });
            if secs[p].is_nobits() {
                off + ((want + align - off % align) % align)
            } else {
                po
            }
        } else {
            load_start(off, want, prev.is_none())
        };
        offsets[i] = off;
        off += s.size;
        prev = Some(i);
    }
    let mut end = off;
    for (i, s) in secs.iter().enumerate() {
        if !s.is_alloc() {
            end = end.next_multiple_of(s.align.max(1));
            offsets[i] = end;
            end += s.size;
        }
    }
    for (i, s) in link.layout.secs.iter_mut().enumerate() {
        s.offset = offsets[i];
    }
    link.layout.content_end = end;
}

/// The program header of one segment.
fn program_header(
    seg: &Seg,
    secs: &[OutputSection],
    base: u64,
    headers_size: u64,
    relro: Option<(u64, u64)>,
    load_align: u64,
) -> Phdr {
    let all: Vec<&OutputSection> = seg.secs.iter().map(|&i| &secs[i]).collect();
    // `.tbss` takes no room in a loadable segment.
    let members: Vec<&OutputSection> = all
        .iter()
        .copied()
        .filter(|m| seg.p_type != elf::PT_LOAD || !(m.is_tls() && m.is_nobits()))
        .collect();
    let mut flags = seg.flags.unwrap_or(0);
    if seg.flags.is_none() {
        flags = elf::PF_R;
        for m in &all {
            flags |= seg_flags(m.flags);
        }
    }
    let (offset, vaddr, filesz, memsz, align) = if seg.name == "headers" {
        (0, base, headers_size, headers_size, load_align)
    } else if members.is_empty() {
        let v = if seg.p_type == elf::PT_LOAD {
            // An empty load sits where its sections would have been, as GNU ld does.
            all.first()
                .map(|s| s.addr)
                .or_else(|| secs.iter().filter(|s| s.is_alloc()).map(|s| s.addr).next())
                .unwrap_or(0)
        } else {
            0
        };
        (
            0,
            if seg.p_type == elf::PT_LOAD { v } else { 0 },
            0,
            0,
            if seg.p_type == elf::PT_LOAD {
                load_align
            } else if seg.p_type == elf::PT_GNU_STACK {
                16
            } else {
                1
            },
        )
    } else {
        let first = members.iter().min_by_key(|m| m.addr).unwrap();
        // A `.tbss` at the start of a load moves its start down (GNU ld).
        let lowest = all
            .iter()
            .map(|m| m.addr)
            .min()
            .unwrap_or(first.addr)
            .min(first.addr);
        let mut vaddr = lowest;
        let mut offset = first.offset.saturating_sub(first.addr - lowest);
        if seg.headers && seg.p_type == elf::PT_LOAD && first.addr >= first.offset {
            vaddr = first.addr - first.offset;
            offset = 0;
        }
        let mem_end = members
            .iter()
            .filter(|m| !(m.is_tls() && m.is_nobits()) || seg.p_type == elf::PT_TLS)
            .map(|m| m.addr + m.size)
            .max()
            .unwrap();
        let file_end = members
            .iter()
            .filter(|m| !m.is_nobits())
            .map(|m| m.offset + m.size)
            .max()
            .unwrap_or(offset);
        let align = match seg.p_type {
            elf::PT_LOAD => load_align,
            _ => members.iter().map(|m| m.align).max().unwrap_or(1),
        };
        let filesz = file_end.saturating_sub(offset);
        let memsz = mem_end.saturating_sub(vaddr).max(filesz);
        (offset, vaddr, filesz, memsz, align)
    };
    let (mut vaddr, mut memsz, mut filesz) = (vaddr, memsz, filesz);
    if seg.name == "relro-end" {
        if let Some((a, b)) = relro {
            vaddr = a.max(vaddr);
            memsz = b - vaddr;
            filesz = memsz;
        }
    }
    // The physical address follows the first section's load address (AT()).
    let paddr = members
        .iter()
        .min_by_key(|m| m.addr)
        .map(|m| m.lma.wrapping_sub(m.addr.wrapping_sub(vaddr)))
        .unwrap_or(vaddr);

    // GNU ld sizes PT_TLS in load-address space: a `.tbss` whose LMA was rounded up to its
    // alignment (it keeps the previous section's LMA-VMA distance, then aligns) widens the
    // segment even where the virtual addresses are contiguous.
    if seg.p_type == elf::PT_TLS && !members.is_empty() {
        let mut sorted: Vec<_> = members.iter().collect();
        sorted.sort_by_key(|m| m.addr);
        let mut end = paddr;
        for m in sorted {
            end = end.max(m.lma) + m.size;
        }
        memsz = memsz.max(end.wrapping_sub(paddr));
    }
    Phdr {
        paddr,
        p_type: seg.p_type,
        flags,
        offset,
        vaddr,
        filesz,
        memsz,
        align,
    }
}

pub(super) fn seg_flags(flags: u64) -> u32 {
    let mut f = elf::PF_R;
    if flags & elf::SHF_WRITE as u64 != 0 {
        f |= elf::PF_W;
    }
    if flags & elf::SHF_EXECINSTR as u64 != 0 {
        f |= elf::PF_X;
    }
    f
}
