//! Addresses: the `SECTIONS` statements evaluated with their location counter, in passes until
//! forward references settle; with a layout file, regioned sections placed by `stable`.

use super::assign::chunk_flags;
use super::expr::{apply_op, classify, Env, SecInfo, ValSec};
use super::script::{OutStmt, Plan, Stmt};
use super::sections::chunk_size_align;
use super::segments::phdr_count;
use crate::linker::context::Link;
use crate::linker::layout::{Chunk, EHDR_SIZE, PAGE, PHDR_SIZE};
use crate::linker::script::ast::{self, AssignOp, Expr, OutputSectionCommand};
use crate::linker::stable::Stable;
use crate::linker::symbols::FastMap;
use anyhow::{bail, Context, Result};
use object::elf;

/// Evaluates the statements: addresses, sizes and symbol values. Runs several passes so that
/// forward references (`SIZEOF` of a later section, symbols defined further down) settle.
pub(super) fn assign_addresses(
    plan: &mut Plan,
    link: &mut Link,
    mut stable: Option<&mut Stable>,
) -> Result<()> {
    let base = link
        .args
        .image_base
        .unwrap_or(if link.pie { 0 } else { 0x400000 });
    let nphdr_guess = phdr_count(plan, link);
    let headers_size = EHDR_SIZE + PHDR_SIZE * nphdr_guess as u64;

    let mut secinfo: FastMap<String, SecInfo> = FastMap::default();
    if let Some(st) = stable.as_deref_mut() {
        // The pieces of every section that may get regions, identified in parallel up front.
        let chunks: Vec<Chunk> = plan
            .stmts
            .iter()
            .filter_map(|s| match s {
                Stmt::Out(o) if o.out.is_some() => Some(o),
                _ => None,
            })
            .filter(|o| has_regions(plan, &o.desc.name))
            .flat_map(|o| o.chunks.iter().flatten().chain(&o.extra))
            .filter(|c| match c {
                Chunk::Input(f, s) => link.section(*f, *s).is_included(),
                _ => true,
            })
            .copied()
            .collect();
        st.prepare(link, &chunks);
    }
    // Enough passes for chains of forward references (LOADADDR of a section whose AT() uses
    // another LOADADDR, ...) to settle. A pass is a function of what the one before found, so
    // once two passes in a row end in the same state every further pass would too: the link
    // goes straight to the final pass (which also reports errors and records trampolines).
    let passes = 8;
    let mut pass = 0;
    let mut last_state = None;
    loop {
        let final_pass = pass == passes - 1;
        if let Some(st) = stable.as_deref_mut() {
            // Each pass lays out afresh (a section placed as in the pass before keeps what it
            // recorded); table slots were given out before layout.
            st.begin_pass();
        }
        let mut p = Pass::new(plan, &secinfo, base, headers_size, final_pass);
        p.globals(link)?;
        for si in 0..plan.stmts.len() {
            match &plan.stmts[si] {
                Stmt::Assign(a) => p.assign(link, stable.as_deref(), si, a)?,
                Stmt::Assert(a, file) => p.assert(link, a, file)?,
                Stmt::Out(o) => match o.out {
                    // Removed (empty) or discarded: its assignments still run, at `.`.
                    None if !o.desc.is_discard() => p.removed_section(link, si, o)?,
                    None => {}
                    Some(idx) => p.output_section(link, stable.as_deref_mut(), o, idx)?,
                },
            }
        }
        let Pass {
            values,
            new_info,
            relro,
            sym_sec,
            tramps,
            ..
        } = p;
        plan.values = values;
        if final_pass {
            link.script.sec = sym_sec;
            link.trampolines = tramps.into_iter().collect();
        }
        plan.relro = match relro {
            (Some(a), Some(b)) if b > a => Some((a, b)),
            _ => None,
        };
        secinfo = new_info;
        // Symbol values for the next pass's expressions.
        crate::linker::layout::set_synthetic_addresses(&mut link.layout);
        link.script.values.resize(plan.values.len(), 0);
        for &i in plan.sym_index.values() {
            link.script.values[i] = plan.values[i];
        }
        crate::linker::layout::symbols::compute_symbol_values(link)?;
        if final_pass {
            if let Some(st) = stable.as_deref_mut() {
                st.end_layout();
            }
            break;
        }
        let state = pass_state(plan, link, &secinfo);
        pass = if last_state == Some(state) {
            passes - 1
        } else {
            pass + 1
        };
        last_state = Some(state);
    }
    Ok(())
}

/// Whether a layout file gives libraries regions in this output section. The TLS template only
/// under the built-in script: a script of its own may size or walk it (a kernel's TLS setup),
/// and padding would show.
fn has_regions(plan: &Plan, name: &str) -> bool {
    crate::linker::stable::is_regioned(name)
        || (plan.builtin && crate::linker::stable::is_tls_regioned(name))
}

/// A digest of everything a pass reads that an earlier pass wrote: section addresses, sizes
/// and contents' places, script symbol values, what `SIZEOF`/`ADDR` see, symbol values.
fn pass_state(plan: &Plan, link: &Link, secinfo: &FastMap<String, SecInfo>) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut put = |v: u64| h.update(&v.to_le_bytes());
    for os in &link.layout.secs {
        for v in [os.addr, os.size, os.lma, os.align, os.synth_off] {
            put(v);
        }
        put(os.common_off.map_or(u64::MAX, |o| o));
        for &(o, n, v) in &os.data {
            put(o);
            put(n);
            put(v);
        }
        for &(f, s) in &os.members {
            put(link.section(f, s).out_off);
        }
    }
    plan.values.iter().for_each(|&v| put(v));
    let (a, b) = plan.relro.unwrap_or((u64::MAX, u64::MAX));
    put(a);
    put(b);
    let mut names: Vec<&String> = secinfo.keys().collect();
    names.sort();
    for n in names {
        let i = &secinfo[n];
        for v in [i.addr, i.lma, i.size, i.align] {
            put(v);
        }
    }
    link.symtab.syms.iter().for_each(|s| put(s.value));
    h.digest()
}

/// One evaluation of the statements, top to bottom.
struct Pass<'a> {
    plan: &'a Plan,
    /// What the previous pass found for each output section (for SIZEOF, ADDR, ...).
    secinfo: &'a FastMap<String, SecInfo>,
    base: u64,
    headers_size: u64,
    final_pass: bool,
    /// Script symbol values, by `plan.sym_index`.
    values: Vec<u64>,
    /// What this pass finds for each output section.
    new_info: FastMap<String, SecInfo>,
    dot: u64,
    /// GNU ld's state for the section of symbols assigned from `.` outside sections.
    current: Option<usize>,
    prefer_next: bool,
    /// Where the current segment started (for the layout file's headroom).
    segment_start: Option<u64>,
    /// First link with a layout file: room left after a regioned section (see `regions`).
    section_headroom: u64,
    lma_delta: Option<i64>,
    /// DATA_SEGMENT_ALIGN and DATA_SEGMENT_RELRO_END values: the RELRO range.
    relro: (Option<u64>, Option<u64>),
    /// Output section of each script symbol (None: absolute), decided in the final pass.
    sym_sec: Vec<Option<usize>>,
    /// Trampolines of code the layout file moved: (section, address of the old place).
    tramps: Vec<((u32, u32, u64), u64)>,
}

/// Where an output section starts, as `Pass::section_start` decides it.
struct Start {
    addr: u64,
    lma: u64,
    align: u64,
    subalign: Option<u64>,
}

impl<'a> Pass<'a> {
    fn new(
        plan: &'a Plan,
        secinfo: &'a FastMap<String, SecInfo>,
        base: u64,
        headers_size: u64,
        final_pass: bool,
    ) -> Pass<'a> {
        Pass {
            plan,
            secinfo,
            base,
            headers_size,
            final_pass,
            values: plan.values.clone(),
            new_info: FastMap::default(),
            dot: 0,
            current: None,
            prefer_next: false,
            segment_start: None,
            section_headroom: 0,
            lma_delta: None,
            relro: (None, None),
            sym_sec: vec![None; plan.values.len()],
            tramps: Vec::new(),
        }
    }

    /// The expression environment at this point of the pass.
    fn env<'e>(&'e self, link: &'e Link) -> Env<'e> {
        Env {
            link,
            plan_values: &self.values,
            sym_index: &self.plan.sym_index,
            secs: self.secinfo,
            headers_size: self.headers_size,
            base: self.base,
            final_pass: self.final_pass,
        }
    }

    /// Assignments outside `SECTIONS`, all evaluated before the statements.
    fn globals(&mut self, link: &Link) -> Result<()> {
        let env = self.env(link);
        let mut assigned = Vec::new();
        for a in &self.plan.globals {
            if let Some(&i) = self.plan.sym_index.get(&a.target) {
                let v = env.eval(&a.expr, self.dot)?.0;
                assigned.push((i, apply_op(a.op, 0, v)));
            }
        }
        for (i, v) in assigned {
            self.values[i] = v;
        }
        Ok(())
    }

    /// An assignment between output sections: to `.` or to a symbol.
    fn assign(
        &mut self,
        link: &Link,
        stable: Option<&Stable>,
        si: usize,
        a: &ast::Assignment,
    ) -> Result<()> {
        let env = self.env(link);
        let (v, _) = env
            .eval(&a.expr, self.dot)
            .with_context(|| format!("line {}", a.loc))?;
        let relro_end = match &a.expr {
            Expr::DataSegmentRelroEnd { value, .. } => Some(env.eval(value, self.dot)?.0),
            _ => None,
        };
        if matches!(a.expr, Expr::DataSegmentAlign { .. }) {
            self.relro.0 = Some(v);
        }
        if relro_end.is_some() {
            self.relro.1 = relro_end;
        }
        if a.target == "." {
            let new_dot = apply_op(a.op, self.dot, v);
            self.move_dot(stable, si, new_dot);
            self.prefer_next = true;
        } else if let Some(&i) = self.plan.sym_index.get(&a.target) {
            self.values[i] = apply_op(a.op, self.values[i], v);
            if self.final_pass {
                let (vs, from_dot) = classify(&a.expr, false, link, self.plan);
                self.sym_sec[i] = match vs {
                    ValSec::Sec(name) => link
                        .layout
                        .secs
                        .iter()
                        .position(|s| s.name == name.as_bytes()),
                    ValSec::Abs if from_dot => {
                        section_for_dot(self.plan, link, si, self.current, self.prefer_next)
                    }
                    _ => None,
                };
            }
        }
        Ok(())
    }

    /// `. = new_dot` between output sections. With a layout file, a jump to a new segment
    /// leaves headroom (an eighth of what the segment before holds, in pages) so that growth
    /// of sections that are not regioned (.eh_frame, say) does not move every later segment.
    /// It is address space only: segments start on their own pages in the file anyway. A
    /// relink finds that headroom in the recorded section addresses: it jumps straight to where
    /// the next section was recorded, so that symbols assigned before it see the same address
    /// as last time.
    fn move_dot(&mut self, stable: Option<&Stable>, si: usize, new_dot: u64) {
        let dot = self.dot;
        let jump = new_dot > dot && new_dot.is_multiple_of(PAGE);
        if jump {
            self.section_headroom = 0;
        }
        match stable {
            Some(st) if jump && st.old.sections.is_empty() => {
                // Under the built-in script at least a page: the first segment (headers,
                // notes, IRELATIVE relocations) grows with a fleet's IFUNCs.
                let headroom = match self.segment_start {
                    Some(start) => (dot.saturating_sub(start) / 8).next_multiple_of(PAGE),
                    None => 0,
                }
                .max(if self.plan.builtin { PAGE } else { 0 });
                self.dot = new_dot + headroom;
                self.segment_start = Some(self.dot);
            }
            Some(st) if jump => {
                let next = self.plan.stmts[si + 1..].iter().find_map(|s| match s {
                    Stmt::Out(o) if o.out.is_some() && o.desc.address.is_none() => {
                        st.old.sections.get(&o.desc.name).copied()
                    }
                    Stmt::Out(_) | Stmt::Assign(_) | Stmt::Assert(..) => None,
                });
                self.dot = next.filter(|&r| r >= new_dot).unwrap_or(new_dot);
            }
            _ => {
                if jump {
                    self.segment_start = Some(new_dot);
                }
                self.dot = new_dot;
            }
        }
    }

    fn assert(&self, link: &Link, a: &ast::Assert, file: &str) -> Result<()> {
        if self.final_pass && self.env(link).eval(&a.expr, self.dot)?.0 == 0 {
            bail!(
                "{file}:{}: linker script assertion failed: {}",
                a.loc,
                a.message
            );
        }
        Ok(())
    }

    /// A statement whose output section was removed (it had no inputs): its symbol
    /// assignments run at the address the section would have had (its address clause or
    /// ALIGN), as GNU ld gives symbols of a removed section.
    fn removed_section(&mut self, link: &Link, si: usize, o: &OutStmt) -> Result<()> {
        let env = self.env(link);
        let dot = self.dot;
        let mut at = match &o.desc.address {
            Some(e) => env.eval(e, dot)?.0,
            None => dot,
        };
        if let Some(a) = &o.desc.align {
            at = at.next_multiple_of(env.eval(a, dot)?.0.max(1));
        }
        let mut sym_updates = Vec::new();
        for c in &o.desc.commands {
            if let OutputSectionCommand::Assignment(a) = c {
                if a.target != "." {
                    if let Some(&i) = self.plan.sym_index.get(&a.target) {
                        let v = env.eval(&a.expr, at)?.0;
                        sym_updates.push((i, apply_op(a.op, self.values[i], v)));
                    }
                }
            }
        }
        for (i, v) in sym_updates {
            self.values[i] = v;
            if self.final_pass {
                self.sym_sec[i] = nearby_section(self.plan, link, si, at);
            }
        }
        Ok(())
    }

    /// An output section: its address, its contents placed (by the layout file's regions where
    /// it has them), its symbols, and `.` after it.
    fn output_section(
        &mut self,
        link: &mut Link,
        mut stable: Option<&mut Stable>,
        o: &OutStmt,
        idx: usize,
    ) -> Result<()> {
        let alloc = link.layout.secs[idx].is_alloc();
        let start = self.section_start(link, stable.as_deref_mut(), o, idx)?;
        let addr = start.addr;
        let (mut cur, data, mut placed) = self.place_commands(link, o, idx, &start)?;
        let regioned = alloc && has_regions(self.plan, &o.desc.name);
        if let Some(st) = stable.filter(|_| regioned) {
            (placed, cur) = self.regions(link, st, o, &start, &placed)?;
        }
        let size = cur - addr;
        let os = &mut link.layout.secs[idx];
        os.addr = addr;
        os.size = size;
        os.align = start.align;
        os.data = data;
        os.lma = start.lma;
        // Record where chunks landed.
        let mut members = Vec::new();
        os.synth_off = 0;
        os.common_off = None;
        for (c, off) in &placed {
            match c {
                Chunk::Input(f, s) => members.push((*f, *s, *off)),
                Chunk::Synth(_) => os.synth_off = *off,
                Chunk::Common => os.common_off = Some(*off),
            }
        }
        os.members = members.iter().map(|&(f, s, _)| (f, s)).collect();
        let is_tbss = os.is_tls() && os.is_nobits();
        for (f, s, off) in members {
            link.files[f as usize].sections[s as usize].out_off = off;
        }
        self.new_info.insert(
            o.desc.name.clone(),
            SecInfo {
                addr,
                lma: start.lma,
                size,
                align: start.align,
            },
        );
        // `.tbss` occupies no address space, but `.` still moves to its (aligned) start, as in
        // GNU ld.
        if alloc {
            self.dot = if is_tbss { addr } else { cur };
            self.current = Some(idx);
            self.prefer_next = false;
        }
        Ok(())
    }

    /// An output section's address, alignment and load address. A layout file keeps the
    /// section where the previous link put it, as long as what comes before still fits below.
    fn section_start(
        &mut self,
        link: &Link,
        stable: Option<&mut Stable>,
        o: &OutStmt,
        idx: usize,
    ) -> Result<Start> {
        let alloc = link.layout.secs[idx].is_alloc();
        let env = self.env(link);
        let dot = self.dot;
        let mut align = link.layout.secs[idx].align;
        if let Some(a) = &o.desc.align {
            align = align.max(env.eval(a, dot)?.0);
        }
        // Regions are page-aligned in memory only if their section is.
        if stable.is_some() && alloc && crate::linker::stable::is_regioned(&o.desc.name) {
            align = align.max(crate::linker::stable::PAGE);
        }
        let mut addr = match &o.desc.address {
            Some(e) => {
                env.eval(e, dot)
                    .with_context(|| format!("line {}", o.desc.loc))?
                    .0
            }
            None if alloc => dot.next_multiple_of(align.max(1)),
            None => 0,
        };
        if o.desc.address.is_some() && o.desc.align.is_some() {
            addr = addr.next_multiple_of(align.max(1));
        }
        if alloc && o.desc.address.is_none() && self.section_headroom > 0 {
            addr = (addr + self.section_headroom).next_multiple_of(align.max(1));
            self.section_headroom = 0;
        }
        if let Some(st) = stable {
            if alloc && o.desc.address.is_none() {
                if let Some(&old) = st.old.sections.get(&o.desc.name) {
                    if old >= addr {
                        addr = old;
                    } else if self.final_pass {
                        st.moved.push(format!(
                            "output section {} moved from {old:#x} to {addr:#x}",
                            o.desc.name
                        ));
                    }
                }
                st.new.sections.insert(o.desc.name.clone(), addr);
            }
        }
        let env = self.env(link);
        let subalign = match &o.desc.subalign {
            Some(e) => Some(env.eval(e, dot)?.0.max(1)),
            None => None,
        };
        let lma = match &o.desc.at {
            Some(e) => {
                let l = env.eval(e, dot)?.0;
                self.lma_delta = Some(l as i64 - addr as i64);
                l
            }
            // An explicit address without AT() loads where it runs.
            None if o.desc.address.is_some() => {
                self.lma_delta = None;
                addr
            }
            // Otherwise keep the previous section's VMA-LMA difference, aligned like the
            // section, as GNU ld does. `.tbss` is not loaded, so the next section keeps the
            // difference of the last loaded one.
            None => match self.lma_delta {
                Some(d) if alloc => {
                    let l = ((addr as i64 + d) as u64).next_multiple_of(align.max(1));
                    let os = &link.layout.secs[idx];
                    if !(os.is_tls() && os.is_nobits()) {
                        self.lma_delta = Some(l as i64 - addr as i64);
                    }
                    l
                }
                _ => addr,
            },
        };
        Ok(Start {
            addr,
            lma,
            align,
            subalign,
        })
    }

    /// Walks an output section's commands, placing its chunks in order: returns where the
    /// section's contents end, its `BYTE`/`LONG`/... data and each chunk's offset.
    #[allow(clippy::type_complexity)]
    fn place_commands(
        &mut self,
        link: &Link,
        o: &OutStmt,
        idx: usize,
        start: &Start,
    ) -> Result<(u64, Vec<(u64, u64, u64)>, Vec<(Chunk, u64)>)> {
        let addr = start.addr;
        let alloc = link.layout.secs[idx].is_alloc();
        let mut cur = addr;
        let mut data: Vec<(u64, u64, u64)> = Vec::new();
        let mut placed: Vec<(Chunk, u64)> = Vec::new();
        let place = |c: &Chunk, cur: &mut u64, placed: &mut Vec<(Chunk, u64)>| {
            if let Chunk::Input(f, s) = c {
                if !link.section(*f, *s).is_included() {
                    return;
                }
            }
            if matches!(c, Chunk::Common) && link.commons.size == 0 {
                return;
            }
            let (size, a) = chunk_size_align(link, c);
            *cur = cur.next_multiple_of(start.subalign.unwrap_or(a).max(1));
            placed.push((*c, *cur - addr));
            *cur += size;
        };
        for (ci, c) in o.desc.commands.iter().enumerate() {
            match c {
                OutputSectionCommand::Input(_) => {
                    for ch in &o.chunks[ci] {
                        place(ch, &mut cur, &mut placed);
                    }
                }
                OutputSectionCommand::Assignment(a) => {
                    let (v, is_const) = self
                        .env(link)
                        .eval(&a.expr, cur)
                        .with_context(|| format!("line {}", a.loc))?;
                    if a.target == "." {
                        let v = if is_const && a.op == AssignOp::Assign {
                            addr + v
                        } else {
                            v
                        };
                        let nv = apply_op(a.op, cur, v);
                        if nv < cur && self.final_pass {
                            bail!("line {}: cannot move the location counter backwards (from {cur:#x} to {nv:#x})", a.loc);
                        }
                        cur = nv.max(cur);
                    } else if let Some(&i) = self.plan.sym_index.get(&a.target) {
                        // A plain number assigned inside an output section is relative to the
                        // section (GNU ld).
                        let v = if is_const && a.op == AssignOp::Assign && alloc {
                            addr + v
                        } else {
                            v
                        };
                        self.values[i] = apply_op(a.op, self.values[i], v);
                        if self.final_pass {
                            let (vs, _) = classify(&a.expr, true, link, self.plan);
                            self.sym_sec[i] = if vs == ValSec::Abs { None } else { Some(idx) };
                        }
                    }
                }
                OutputSectionCommand::Data { size, expr } => {
                    let v = self.env(link).eval(expr, cur)?.0;
                    data.push((cur - addr, size.bytes(), v));
                    cur += size.bytes();
                }
                OutputSectionCommand::Asciz(s) => {
                    cur += s.len() as u64 + 1;
                }
                OutputSectionCommand::Assert(a) if self.final_pass => {
                    let holds = self.env(link).eval(&a.expr, cur)?.0 != 0;
                    if !holds {
                        bail!(
                            "line {}: linker script assertion failed: {}",
                            a.loc,
                            a.message
                        );
                    }
                }
                _ => {}
            }
        }
        for ch in &o.extra {
            place(ch, &mut cur, &mut placed);
        }
        Ok((cur, data, placed))
    }

    /// A regioned section under a layout file: its chunks grouped by library and placed by
    /// `stable`, then the assignments after its last input description (`. = ALIGN(...)`,
    /// `_end = .`), which apply after the regions. Returns the chunks' new offsets and where the
    /// section ends.
    fn regions(
        &mut self,
        link: &Link,
        st: &mut Stable,
        o: &OutStmt,
        start: &Start,
        placed: &[(Chunk, u64)],
    ) -> Result<(Vec<(Chunk, u64)>, u64)> {
        let addr = start.addr;
        let chunks: Vec<(Chunk, u64, u64, bool)> = placed
            .iter()
            .map(|&(c, _)| {
                let (size, a) = chunk_size_align(link, &c);
                let exec = chunk_flags(link, &c).0 & elf::SHF_EXECINSTR as u64 != 0;
                (c, size, start.subalign.unwrap_or(a).max(1), exec)
            })
            .collect();
        let placement = st.place_chunks(link, &o.desc.name, &chunks);
        let mut cur = addr + placement.size;
        let last_input = o
            .desc
            .commands
            .iter()
            .rposition(|c| matches!(c, OutputSectionCommand::Input(_)));
        for c in &o.desc.commands[last_input.map_or(0, |i| i + 1)..] {
            let OutputSectionCommand::Assignment(a) = c else {
                continue;
            };
            let (v, is_const) = self.env(link).eval(&a.expr, cur)?;
            let v = if is_const && a.op == AssignOp::Assign {
                addr + v
            } else {
                v
            };
            if a.target == "." {
                cur = apply_op(a.op, cur, v).max(cur);
            } else if let Some(&i) = self.plan.sym_index.get(&a.target) {
                self.values[i] = apply_op(a.op, self.values[i], v);
            }
        }
        let size = cur - addr;
        // On the first link, the section that follows a regioned one in the same segment starts
        // as far on again as the section is long (at least 16 pages, at most 64 MiB), so that
        // regions appended later (other programs of a fleet bringing libraries of their own,
        // new libraries) do not move it and everything that refers to it. The gap splits the
        // segment, so it costs address space only. Scripts with PHDRS decide segments
        // themselves: a gap there would be file bytes, so they get none.
        if st.old.sections.is_empty()
            && self.plan.phdrs.is_none()
            && crate::linker::stable::is_regioned(&o.desc.name)
        {
            self.section_headroom = size.next_multiple_of(PAGE).clamp(16 * PAGE, 64 << 20);
        }
        if self.final_pass {
            for &(c, value, off) in &placement.trampolines {
                if let Chunk::Input(f, s) = c {
                    self.tramps.push(((f, s, value), addr + off));
                }
            }
        }
        Ok((placement.chunks, cur))
    }
}

/// Where GNU ld puts a top-level symbol assigned from `.`: the next kept section after a
/// top-level assignment to `.` (or before any section), else the current one; never a TLS or
/// non-allocated section.
pub(super) fn section_for_dot(
    plan: &Plan,
    link: &Link,
    stmt: usize,
    current: Option<usize>,
    prefer_next: bool,
) -> Option<usize> {
    let secs = &link.layout.secs;
    let usable = |i: usize| secs[i].is_alloc() && !secs[i].is_tls();
    if current.is_none() || prefer_next {
        let next = plan.stmts[stmt + 1..].iter().find_map(|s| match s {
            Stmt::Out(o) => o.out,
            _ => None,
        });
        let mut i = next.or(if secs.is_empty() {
            None
        } else {
            Some(secs.len() - 1)
        })?;
        loop {
            if usable(i) {
                return Some(i);
            }
            i = i.checked_sub(1)?;
        }
    }
    let mut i = current?;
    loop {
        if usable(i) {
            return Some(i);
        }
        match i.checked_sub(1) {
            Some(j) => i = j,
            None => return (0..secs.len()).find(|&j| usable(j)),
        }
    }
}

/// GNU ld's choice of a kept section for symbols of a removed output section
/// (`_bfd_nearby_section`).
pub(super) fn nearby_section(plan: &Plan, link: &Link, stmt: usize, addr: u64) -> Option<usize> {
    let secs = &link.layout.secs;
    let prev = plan.stmts[..stmt].iter().rev().find_map(|s| match s {
        Stmt::Out(o) => o.out.filter(|&i| secs[i].is_alloc()),
        _ => None,
    });
    let next = plan.stmts[stmt + 1..].iter().find_map(|s| match s {
        Stmt::Out(o) => o.out.filter(|&i| secs[i].is_alloc()),
        _ => None,
    });
    let (Some(p), Some(n)) = (prev, next) else {
        return next.or(prev);
    };
    let flags = |i: usize| {
        let s = &secs[i];
        let mut f = 0u32;
        if s.is_alloc() {
            f |= 1;
        }
        if s.is_tls() {
            f |= 2;
        }
        if !s.is_nobits() {
            f |= 4;
        }
        if s.flags & elf::SHF_WRITE as u64 == 0 {
            f |= 8;
        }
        if s.flags & elf::SHF_EXECINSTR as u64 != 0 {
            f |= 16;
        }
        f
    };
    let (fp, fnx) = (flags(p), flags(n));
    // The removed section had no inputs: no flags of its own.
    let fs = 0u32;
    let best = if (fp ^ fnx) & 7 != 0 {
        if (fnx ^ fs) & 3 != 0 || (fp & 4 != 0 && fnx & 4 == 0) {
            p
        } else {
            n
        }
    } else if (fp ^ fnx) & 8 != 0 {
        if (fnx ^ fs) & 8 != 0 {
            p
        } else {
            n
        }
    } else if (fp ^ fnx) & 16 != 0 {
        if (fnx ^ fs) & 16 != 0 {
            p
        } else {
            n
        }
    } else if addr < secs[n].addr {
        p
    } else {
        n
    };
    Some(best)
}
