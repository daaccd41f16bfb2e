//! The layout stage's steps in order, from a plan whose statements hold their input sections
//! to an image layout with addresses, file offsets, segments and symbol values.

use super::addresses::assign_addresses;
use super::assign::{assign_synthetic, sort_chunks};
use super::script::{Plan, Stmt};
use super::sections::create_output_sections;
use super::segments::assign_segments;
use crate::linker::context::Link;
use crate::linker::layout::Chunk;
use crate::linker::script::ast::Expr;
use crate::linker::stable::Stable;
use anyhow::Result;

/// The layout stage after input sections are assigned to statements: linker-created sections
/// join the plan, output sections are made and given addresses (with `stable`, the layout
/// file's), segments and file offsets follow, and symbols get their values.
pub fn lay_out(plan: &mut Plan, link: &mut Link, mut stable: Option<&mut Stable>) -> Result<()> {
    let has_eh = !link.eh.is_empty();
    let mut synth: Vec<Chunk> = Vec::new();
    for (k, size) in crate::linker::layout::synth::synth_sizes(link, has_eh) {
        link.layout.synth_sizes.insert(k, size);
        synth.push(Chunk::Synth(k));
    }
    if link.commons.size > 0 {
        synth.push(Chunk::Common);
    }
    assign_synthetic(plan, link, &synth);
    sort_chunks(plan, link);
    apply_section_starts(plan, &link.args.section_starts);
    create_output_sections(plan, link)?;
    assign_addresses(plan, link, stable.as_deref_mut())?;
    if stable.is_some() && plan.phdrs.is_none() {
        crate::linker::stable::split_at_holes(link);
        crate::linker::stable::cover_relro_room(link, plan.relro);
    }
    assign_segments(plan, link)?;
    crate::linker::layout::symbols::finish(link)
}

/// `--section-start` and `-Ttext`/`-Tdata`/`-Tbss` override the script's address of the sections
/// they name. An orphan given an address moves after the script's sections, as GNU ld places it,
/// so that its address does not drag the sections that follow it.
fn apply_section_starts(plan: &mut Plan, starts: &[(String, u64)]) {
    if starts.is_empty() {
        return;
    }
    let mut moved = Vec::new();
    let mut k = 0;
    while k < plan.stmts.len() {
        if let Stmt::Out(o) = &mut plan.stmts[k] {
            if let Some((_, addr)) = starts.iter().rev().find(|(n, _)| *n == o.desc.name) {
                o.desc.address = Some(Expr::Number(*addr));
                if o.orphan {
                    moved.push(plan.stmts.remove(k));
                    continue;
                }
            }
        }
        k += 1;
    }
    plan.stmts.extend(moved);
}
