//! Output sections from the plan: members, flags, type and alignment, merged strings; no
//! addresses yet.

use super::assign::chunk_flags;
use super::script::{OutStmt, Plan, Stmt};
use super::synth::synth_align;
use crate::linker::context::Link;
use crate::linker::layout::{Chunk, OutputSection, Synth};
use crate::linker::script::ast::{self, OutputSectionCommand};
use anyhow::{bail, Result};
use object::elf;

/// Size and alignment a chunk occupies.
pub(super) fn chunk_size_align(link: &Link, c: &Chunk) -> (u64, u64) {
    match c {
        Chunk::Input(f, s) => link.member_size_align(*f, *s),
        Chunk::Common => (link.commons.size, link.commons.align),
        Chunk::Synth(k) => (
            link.layout.synth_sizes.get(k).copied().unwrap_or(0),
            synth_align(*k),
        ),
    }
}

/// Creates the output sections from the plan (in statement order), with members, merged
/// blobs and synthetic contents, but no addresses yet.
pub fn create_output_sections(plan: &mut Plan, link: &mut Link) -> Result<()> {
    let mut secs: Vec<OutputSection> = Vec::new();
    for s in plan.stmts.iter_mut() {
        let Stmt::Out(o) = s else { continue };
        if o.desc.is_discard() {
            continue;
        }
        let chunks: Vec<Chunk> = o
            .chunks
            .iter()
            .flatten()
            .chain(&o.extra)
            .copied()
            .filter(|c| match c {
                Chunk::Input(f, s) => link.section(*f, *s).is_included(),
                Chunk::Common => link.commons.size > 0,
                Chunk::Synth(_) => true,
            })
            .collect();
        let has_data = o.desc.commands.iter().any(|c| {
            matches!(
                c,
                OutputSectionCommand::Data { .. } | OutputSectionCommand::Asciz(_)
            )
        });
        // ONLY_IF_RO / ONLY_IF_RW drop the whole statement when the inputs disagree.
        if let Some(con) = o.desc.constraint {
            let writable = chunks
                .iter()
                .any(|c| chunk_flags(link, c).0 & elf::SHF_WRITE as u64 != 0);
            let keep = match con {
                ast::Constraint::OnlyIfRo => !writable,
                ast::Constraint::OnlyIfRw => writable,
                ast::Constraint::Special => true,
            };
            if !keep {
                // The chunks become orphans of the same name: join the next statement of that
                // name, if any, else stay here without the constraint.
                o.desc.constraint = None;
            }
        }
        // A statement without inputs is dropped unless it moves `.` (GNU ld then keeps it as
        // an empty allocated section that occupies the space).
        let moves_dot = o
            .desc
            .commands
            .iter()
            .any(|c| matches!(c, OutputSectionCommand::Assignment(a) if a.target == "."));
        if chunks.is_empty() && !has_data && !moves_dot {
            continue;
        }
        let mut os = new_section(o, link, &chunks, has_data)?;
        let idx = secs.len();
        for c in &chunks {
            if let Chunk::Input(f, s) = c {
                link.files[*f as usize].sections[*s as usize].out_sec = idx as u32;
                os.members.push((*f, *s));
            }
        }
        let within_sections = link.args.layout.is_some();
        crate::linker::merge::merge_members(
            &mut link.files,
            &mut link.merge,
            &os.members,
            within_sections,
        )?;
        o.out = Some(idx);
        secs.push(os);
    }
    // The TLS template starts aligned for its most aligned member.
    let tls_align = secs
        .iter()
        .filter(|s| s.is_tls())
        .map(|s| s.align)
        .max()
        .unwrap_or(1);
    if let Some(first) = secs.iter_mut().find(|s| s.is_tls()) {
        first.align = first.align.max(tls_align);
    }
    link.layout.secs = secs;
    Ok(())
}

/// An output section for a statement with these chunks: flags and type from its inputs (and
/// the statement's type), the largest alignment, the linker-created contents it holds.
fn new_section(
    o: &OutStmt,
    link: &Link,
    chunks: &[Chunk],
    has_data: bool,
) -> Result<OutputSection> {
    let mut flags = 0u64;
    let mut sh_type = elf::SHT_NOBITS;
    let mut align = 1u64;
    let mut synth = None;
    for c in chunks {
        let (f, t) = chunk_flags(link, c);
        flags |=
            f & !(elf::SHF_GROUP | elf::SHF_GNU_RETAIN | elf::SHF_MERGE | elf::SHF_STRINGS) as u64;
        if t != elf::SHT_NOBITS {
            sh_type = if sh_type == elf::SHT_NOBITS || sh_type == t {
                t
            } else {
                elf::SHT_PROGBITS
            };
        }
        align = align.max(chunk_size_align(link, c).1);
        if let Chunk::Synth(k) = c {
            if synth.replace(*k).is_some() {
                bail!(
                    "output section {} would hold two linker-created sections",
                    o.desc.name
                );
            }
        }
    }
    if has_data {
        if sh_type == elf::SHT_NOBITS {
            sh_type = elf::SHT_PROGBITS;
        }
        flags |= elf::SHF_ALLOC as u64;
    }
    if chunks.is_empty() && !has_data {
        flags |= (elf::SHF_ALLOC | elf::SHF_WRITE) as u64;
    }
    if matches!(o.desc.type_, Some(ast::SectionType::NoLoad)) {
        sh_type = elf::SHT_NOBITS;
    }
    if matches!(
        o.desc.type_,
        Some(ast::SectionType::Info | ast::SectionType::DSect | ast::SectionType::Copy)
    ) {
        flags &= !(elf::SHF_ALLOC as u64);
    }
    if o.desc.name == ".init_array" || o.desc.name.starts_with(".init_array.") {
        sh_type = elf::SHT_INIT_ARRAY;
    } else if o.desc.name == ".fini_array" {
        sh_type = elf::SHT_FINI_ARRAY;
    } else if o.desc.name == ".preinit_array" {
        sh_type = elf::SHT_PREINIT_ARRAY;
    }
    let entsize = match synth {
        Some(Synth::Got | Synth::GotPlt) => 8,
        Some(Synth::Iplt) => 16,
        Some(Synth::RelaIplt | Synth::RelaDyn | Synth::DynSym) => 24,
        Some(Synth::Dynamic) => 16,
        _ => 0,
    };
    Ok(OutputSection {
        name: o.desc.name.clone().into_bytes(),
        sh_type,
        flags,
        align,
        entsize,
        members: Vec::new(),
        synth,
        common_off: None,
        size: 0,
        addr: 0,
        offset: 0,
        synth_off: 0,
        lma: 0,
        data: Vec::new(),
    })
}
