//! Input sections to script statements: the first input-section description that matches
//! wins, orphans go where GNU ld would put them, `SORT_*` orders what asks for it.

use super::script::{OutStmt, Plan, Stmt};
use crate::linker::context::Link;
use crate::linker::glob::Glob;
use crate::linker::layout::{Chunk, Synth};
use crate::linker::object_file::SecState;
use crate::linker::script::ast::{self, Expr, OutputSectionCommand, Sort};
use crate::linker::symbols::FastMap;
use object::elf;

pub(super) struct ChunkInfo {
    chunk: Chunk,
    name: &'static [u8],
}

pub(super) fn file_parts(name: &str) -> (Option<&str>, &str) {
    // "archive(member)" or a plain path.
    if let (Some(open), true) = (name.rfind('('), name.ends_with(')')) {
        (Some(&name[..open]), &name[open + 1..name.len() - 1])
    } else {
        (None, name)
    }
}

pub(super) fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Whether a file pattern matches an input (object path or archive member).
pub(super) fn file_matches(pat: &str, link: &Link, chunk: &Chunk) -> bool {
    let name = match chunk {
        Chunk::Input(f, _) => link.files[*f as usize].name.as_str(),
        // Linker-created sections come from no file; only `*` selects them.
        _ => return pat == "*",
    };
    if pat == "*" {
        return true;
    }
    let (archive, member) = file_parts(name);
    if let Some((a, m)) = pat.split_once(':') {
        let Some(archive) = archive else {
            return a.is_empty() && Glob::new(m).matches(member.as_bytes());
        };
        let ok_a = a.is_empty()
            || Glob::new(a).matches(archive.as_bytes())
            || Glob::new(a).matches(basename(archive).as_bytes());
        return ok_a && (m.is_empty() || Glob::new(m).matches(member.as_bytes()));
    }
    let g = Glob::new(pat);
    g.matches(member.as_bytes())
        || g.matches(name.as_bytes())
        || (archive.is_none() && g.matches(basename(member).as_bytes()))
}

/// Bytes of a section name the prefix index looks at (see `Matcher::buckets`).
const PREFIX: usize = 3;

pub(super) struct Matcher {
    /// (stmt, command, pattern) for every section pattern, in script order.
    pats: Vec<(usize, usize, usize, Glob)>,
    /// Patterns whose literal start is at least `PREFIX` bytes long, by those bytes: a name
    /// can only match the patterns of its own bucket and those in `short` (with
    /// -ffunction-sections every name is new, and most patterns fail on their first bytes).
    buckets: FastMap<[u8; PREFIX], Vec<u32>>,
    /// Patterns with a shorter literal start (`*`, `*.text`, `.[a-z]*`).
    short: Vec<u32>,
}

impl Matcher {
    fn new(plan: &Plan) -> Matcher {
        let mut pats = Vec::new();
        for (si, s) in plan.stmts.iter().enumerate() {
            if let Stmt::Out(o) = s {
                for (ci, c) in o.desc.commands.iter().enumerate() {
                    if let OutputSectionCommand::Input(d) = c {
                        for (pi, p) in d.sections.iter().enumerate() {
                            pats.push((si, ci, pi, Glob::new(&p.pattern)));
                        }
                    }
                }
            }
        }
        let mut buckets: FastMap<[u8; PREFIX], Vec<u32>> = FastMap::default();
        let mut short = Vec::new();
        for (i, p) in pats.iter().enumerate() {
            let lit = p.3.literal_prefix();
            if let Some(key) = lit.first_chunk::<PREFIX>() {
                buckets.entry(*key).or_default().push(i as u32);
            } else {
                short.push(i as u32);
            }
        }
        Matcher {
            pats,
            buckets,
            short,
        }
    }

    /// The patterns that match `name`, in script order.
    fn candidates<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = u32> + 'a {
        // Patterns that could match, in script order: the name's bucket merged with the short
        // ones, or every pattern for a name shorter than the bucket key.
        let (bucket, short): (&[u32], &[u32]) = match name.first_chunk::<PREFIX>() {
            Some(key) => (
                self.buckets.get(key).map_or(&[][..], |b| &b[..]),
                &self.short[..],
            ),
            None => (&[][..], &[][..]),
        };
        let all = if name.len() < PREFIX {
            0..self.pats.len() as u32
        } else {
            0..0
        };
        let (mut a, mut b) = (
            bucket.iter().copied().peekable(),
            short.iter().copied().peekable(),
        );
        let merged = std::iter::from_fn(move || match (a.peek(), b.peek()) {
            (Some(&x), Some(&y)) if x < y => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        });
        all.chain(merged)
            .filter(move |&i| self.pats[i as usize].3.matches(name))
    }

    /// First (stmt, command) whose description selects the chunk.
    fn find(&self, plan: &Plan, link: &Link, c: &ChunkInfo) -> Option<(usize, usize)> {
        for i in self.candidates(c.name) {
            let (si, ci, pi, _) = &self.pats[i as usize];
            let Stmt::Out(o) = &plan.stmts[*si] else {
                continue;
            };
            let OutputSectionCommand::Input(d) = &o.desc.commands[*ci] else {
                continue;
            };
            if !file_matches(&d.file.pattern, link, &c.chunk) {
                continue;
            }
            if d.file
                .exclude
                .iter()
                .any(|x| file_matches(x, link, &c.chunk))
            {
                continue;
            }
            if d.sections[*pi]
                .exclude_files
                .iter()
                .any(|x| file_matches(x, link, &c.chunk))
            {
                continue;
            }
            if !flags_match(&d.flags, link, &c.chunk) {
                continue;
            }
            return Some((*si, *ci));
        }
        None
    }
}

pub(super) fn chunk_flags(link: &Link, c: &Chunk) -> (u64, u32) {
    let a = elf::SHF_ALLOC as u64;
    let w = elf::SHF_WRITE as u64;
    match c {
        Chunk::Input(f, s) => {
            let sec = link.section(*f, *s);
            (sec.flags, sec.sh_type)
        }
        Chunk::Common => (a | w, elf::SHT_NOBITS),
        Chunk::Synth(k) => match k {
            Synth::Got | Synth::GotPlt | Synth::Dynamic => (a | w, elf::SHT_PROGBITS),
            Synth::Iplt => (a | elf::SHF_EXECINSTR as u64, elf::SHT_PROGBITS),
            Synth::RelaIplt | Synth::RelaDyn => (a, elf::SHT_RELA),
            Synth::BuildId => (a, elf::SHT_NOTE),
            Synth::DynSym => (a, elf::SHT_DYNSYM),
            Synth::DynStr => (a, elf::SHT_STRTAB),
            Synth::EhFrameHdr => (a, elf::SHT_PROGBITS),
            Synth::PageDigests => (0, elf::SHT_PROGBITS),
        },
    }
}

pub(super) fn flags_match(flags: &[ast::SectionFlag], link: &Link, c: &Chunk) -> bool {
    let (f, _) = chunk_flags(link, c);
    flags.iter().all(|fl| {
        let bit = match fl.name.as_str() {
            "SHF_WRITE" => elf::SHF_WRITE,
            "SHF_ALLOC" => elf::SHF_ALLOC,
            "SHF_EXECINSTR" => elf::SHF_EXECINSTR,
            "SHF_MERGE" => elf::SHF_MERGE,
            "SHF_STRINGS" => elf::SHF_STRINGS,
            "SHF_TLS" => elf::SHF_TLS,
            "SHF_GNU_RETAIN" => elf::SHF_GNU_RETAIN,
            _ => return true,
        } as u64;
        (f & bit != 0) != fl.negated
    })
}

pub(super) fn synth_name(k: Synth) -> &'static [u8] {
    match k {
        Synth::Got => b".got",
        Synth::GotPlt => b".got.plt",
        Synth::Iplt => b".iplt",
        Synth::RelaIplt => b".rela.iplt",
        Synth::EhFrameHdr => b".eh_frame_hdr",
        Synth::BuildId => b".note.gnu.build-id",
        Synth::DynSym => b".dynsym",
        Synth::DynStr => b".dynstr",
        Synth::RelaDyn => b".rela.dyn",
        Synth::Dynamic => b".dynamic",
        Synth::PageDigests => b".spacer.digests",
    }
}

/// Assigns input sections to the plan's statements (before garbage collection, so that KEEP
/// can protect them). Returns the sections KEEP protects. `/DISCARD/`ed sections are dropped.
pub fn assign_inputs(plan: &mut Plan, link: &mut Link) -> Vec<(u32, u32)> {
    use rayon::prelude::*;
    let m = Matcher::new(plan);
    let mut kept = Vec::new();
    let mut orphans = Vec::new();
    let secs = link.sections_where(|sec| sec.state == SecState::Normal);
    // `--unique=PATTERN`: matching sections are orphans, each in an output section of its own;
    // a bare `--unique` does that for every orphan.
    let unique: Vec<Glob> = link
        .args
        .unique
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| Glob::new(p))
        .collect();
    let all_orphans_unique = link.args.unique.iter().any(|p| p.is_empty());
    let is_unique = |name: &[u8]| unique.iter().any(|g| g.matches(name));
    // Which statement each section goes to depends on the section alone: found in parallel
    // (with -ffunction-sections there are hundreds of thousands), applied in link order.
    let found: Vec<Option<(usize, usize)>> = {
        let (plan, link) = (&*plan, &*link);
        secs.par_iter()
            .map(|&(f, s)| {
                let ci = ChunkInfo {
                    chunk: Chunk::Input(f, s),
                    name: link.files[f as usize].sections[s as usize].name,
                };
                if is_unique(ci.name) {
                    return None;
                }
                m.find(plan, link, &ci)
            })
            .collect()
    };
    for (&(f, s), hit) in secs.iter().zip(found) {
        match hit {
            Some((si, cmd)) => {
                let Stmt::Out(o) = &mut plan.stmts[si] else {
                    unreachable!()
                };
                if o.desc.is_discard() {
                    orphans.push((f, s, true));
                    continue;
                }
                if let OutputSectionCommand::Input(d) = &o.desc.commands[cmd] {
                    if d.keep {
                        kept.push((f, s));
                    }
                }
                o.chunks[cmd].push(Chunk::Input(f, s));
            }
            None => orphans.push((f, s, false)),
        }
    }
    let mut real_orphans = Vec::new();
    for (f, s, discard) in orphans {
        if discard {
            link.files[f as usize].sections[s as usize].state = SecState::ComdatDiscarded;
        } else {
            let unique = all_orphans_unique || is_unique(link.section(f, s).name);
            real_orphans.push((Chunk::Input(f, s), unique));
        }
    }
    place_orphans(plan, link, real_orphans);
    kept
}

/// Places linker-created sections (after the relocation scan decided which exist).
pub fn assign_synthetic(plan: &mut Plan, link: &Link, synth: &[Chunk]) {
    let m = Matcher::new(plan);
    let mut orphans = Vec::new();
    for &c in synth {
        let name = match c {
            Chunk::Synth(k) => synth_name(k),
            Chunk::Common => b"COMMON",
            Chunk::Input(..) => continue,
        };
        let ci = ChunkInfo { chunk: c, name };
        match m.find(plan, link, &ci) {
            Some((si, cmd)) => {
                let Stmt::Out(o) = &mut plan.stmts[si] else {
                    unreachable!()
                };
                if !o.desc.is_discard() {
                    o.chunks[cmd].push(c);
                }
            }
            None => orphans.push((c, false)),
        }
    }
    place_orphans(plan, link, orphans);
}

/// Orphan kinds, used to find where GNU ld would put a section the script does not mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Note,
    Text,
    Rodata,
    Tdata,
    Tbss,
    Data,
    Bss,
    NonAlloc,
}

pub(super) fn kind_of(flags: u64, sh_type: u32) -> Kind {
    let has = |b: u32| flags & b as u64 != 0;
    if !has(elf::SHF_ALLOC) {
        Kind::NonAlloc
    } else if has(elf::SHF_TLS) {
        if sh_type == elf::SHT_NOBITS {
            Kind::Tbss
        } else {
            Kind::Tdata
        }
    } else if sh_type == elf::SHT_NOTE {
        Kind::Note
    } else if has(elf::SHF_WRITE) {
        if sh_type == elf::SHT_NOBITS {
            Kind::Bss
        } else {
            Kind::Data
        }
    } else if has(elf::SHF_EXECINSTR) {
        Kind::Text
    } else {
        Kind::Rodata
    }
}

pub(super) fn stmt_kind(o: &OutStmt, link: &Link) -> Option<Kind> {
    let mut flags = 0u64;
    let mut ty = elf::SHT_NOBITS;
    let mut any = false;
    for c in o.chunks.iter().flatten().chain(&o.extra) {
        let (f, t) = chunk_flags(link, c);
        flags |= f;
        if t != elf::SHT_NOBITS {
            ty = t;
        }
        any = true;
    }
    if any {
        return Some(kind_of(flags, ty));
    }
    // Statements without inputs are recognised by their conventional names.
    Some(match o.desc.name.as_str() {
        ".note.gnu.build-id" => Kind::Note,
        ".text" => Kind::Text,
        ".rodata" => Kind::Rodata,
        ".tdata" => Kind::Tdata,
        ".tbss" => Kind::Tbss,
        ".data" => Kind::Data,
        ".bss" => Kind::Bss,
        _ => return None,
    })
}

/// Places orphans (each with whether it is one of `--unique`) where GNU ld would.
pub(super) fn place_orphans(plan: &mut Plan, link: &Link, orphans: Vec<(Chunk, bool)>) {
    for (c, unique) in orphans {
        let name = match c {
            Chunk::Input(f, s) => String::from_utf8_lossy(link.section(f, s).name).into_owned(),
            Chunk::Synth(k) => String::from_utf8_lossy(synth_name(k)).into_owned(),
            Chunk::Common => ".bss".into(),
        };
        // Same name as an output section: join it (a unique section joins none).
        if let Some(Stmt::Out(o)) = plan.stmts.iter_mut().find(|s| {
            !unique
                && matches!(s, Stmt::Out(o) if o.desc.name == name && !o.desc.is_discard() && !o.unique)
        }) {
            o.extra.push(c);
            continue;
        }
        let (flags, ty) = chunk_flags(link, &c);
        let kind = kind_of(flags, ty);
        let note_at = (kind == Kind::Note)
            .then(|| note_slot(plan, link, chunk_align(link, &c)))
            .flatten();
        // After the last statement of the same kind, or of the nearest kind before it.
        let order = [
            Kind::Note,
            Kind::Text,
            Kind::Rodata,
            Kind::Tdata,
            Kind::Tbss,
            Kind::Data,
            Kind::Bss,
        ];
        let mut pos = None;
        if kind != Kind::NonAlloc {
            let k_idx = order.iter().position(|&k| k == kind).unwrap();
            for want in order[..=k_idx].iter().rev() {
                pos = plan.stmts.iter().rposition(|s| matches!(s, Stmt::Out(o) if !o.desc.is_discard() && stmt_kind(o, link) == Some(*want)));
                if pos.is_some() {
                    break;
                }
            }
            if pos.is_none() {
                // Nothing comparable: before the first statement of a later kind.
                pos = plan
                    .stmts
                    .iter()
                    .position(|s| matches!(s, Stmt::Out(o) if stmt_kind(o, link).is_some_and(|k| k != Kind::NonAlloc)))
                    .map(|p| p.saturating_sub(1));
            }
        }
        let mut desc = ast::OutputSection {
            name: name.clone(),
            address: None,
            type_: None,
            at: None,
            align: None,
            align_with_input: false,
            subalign: None,
            constraint: None,
            commands: Vec::new(),
            region: None,
            lma_region: None,
            phdrs: Vec::new(),
            fill: None,
            loc: Default::default(),
        };
        if kind == Kind::NonAlloc {
            desc.address = Some(Expr::Number(0));
        }
        let stmt = Stmt::Out(Box::new(OutStmt {
            desc,
            chunks: Vec::new(),
            extra: vec![c],
            orphan: true,
            unique,
            out: None,
        }));
        if let Some(at) = note_at {
            plan.stmts.insert(at, stmt);
            continue;
        }
        match pos {
            Some(p) => {
                // Keep orphans in the order they were found: skip orphans already placed here.
                let mut at = p + 1;
                while at < plan.stmts.len() && matches!(&plan.stmts[at], Stmt::Out(o) if o.orphan) {
                    at += 1;
                }
                plan.stmts.insert(at, stmt);
            }
            None => {
                // Non-allocated orphans go before /DISCARD/ at the end.
                plan.stmts.push(stmt)
            }
        }
    }
}

fn chunk_align(link: &Link, c: &Chunk) -> u64 {
    match c {
        Chunk::Input(f, s) => link.section(*f, *s).align,
        Chunk::Synth(k) => super::synth::synth_align(*k),
        Chunk::Common => link.commons.align,
    }
}

/// The alignment of a statement that already holds notes (None: it holds none, or other
/// sections). The build ID joins its statement only after orphans are placed, but GNU ld
/// creates it before, so with `--build-id` its statement counts as a note already.
fn note_stmt_align(o: &OutStmt, link: &Link) -> Option<u64> {
    let mut chunks = o.chunks.iter().flatten().chain(&o.extra).peekable();
    if chunks.peek().is_none() {
        let build_id = link.args.build_id != crate::linker::args::BuildId::None;
        return (build_id && o.desc.name == ".note.gnu.build-id")
            .then(|| super::synth::synth_align(Synth::BuildId));
    }
    if stmt_kind(o, link) != Some(Kind::Note) {
        return None;
    }
    chunks.map(|c| chunk_align(link, c)).max()
}

/// Where GNU ld inserts an orphan note once notes exist: after the last note of the first
/// run of notes that is aligned at least as much, else before that run. Notes so stay grouped
/// and sorted by alignment, and each PT_NOTE holds notes of one alignment. None: no note yet,
/// the orphan goes where other orphans of its kind go.
fn note_slot(plan: &Plan, link: &Link, align: u64) -> Option<usize> {
    let (mut first, mut after) = (None, None);
    for (i, s) in plan.stmts.iter().enumerate() {
        let Stmt::Out(o) = s else { continue };
        if o.desc.is_discard() {
            continue;
        }
        match note_stmt_align(o, link) {
            Some(a) => {
                first.get_or_insert(i);
                if a >= align {
                    after = Some(i);
                }
            }
            // Other sections end the run of notes.
            None if first.is_some()
                && o.chunks.iter().flatten().chain(&o.extra).next().is_some() =>
            {
                break
            }
            None => {}
        }
    }
    after.map(|a| a + 1).or(first)
}

/// Sorts chunks of input descriptions that ask for it.
pub fn sort_chunks(plan: &mut Plan, link: &Link) {
    for s in plan.stmts.iter_mut() {
        let Stmt::Out(o) = s else { continue };
        for (ci, c) in o.desc.commands.iter().enumerate() {
            let OutputSectionCommand::Input(d) = c else {
                continue;
            };
            let sort = d.sections.iter().find_map(|p| p.sort).or(d.file.sort);
            let Some(sort) = sort else { continue };
            let name = |c: &Chunk| match c {
                Chunk::Input(f, s) => link.section(*f, *s).name.to_vec(),
                _ => Vec::new(),
            };
            let align = |c: &Chunk| match c {
                Chunk::Input(f, s) => link.section(*f, *s).align,
                _ => 8,
            };
            let list = &mut o.chunks[ci];
            match sort {
                Sort::Name => list.sort_by_key(|c| name(c)),
                Sort::Alignment => list.sort_by_key(|c| std::cmp::Reverse(align(c))),
                Sort::NameThenAlignment => {
                    list.sort_by_key(|c| (name(c), std::cmp::Reverse(align(c))))
                }
                Sort::AlignmentThenName => {
                    list.sort_by_key(|c| (std::cmp::Reverse(align(c)), name(c)))
                }
                Sort::InitPriority => {
                    list.sort_by_key(|c| crate::linker::layout::init_priority(&name(c)))
                }
                Sort::None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefix index finds exactly the patterns a scan of all of them finds, in order.
    #[test]
    fn prefix_index_agrees_with_every_pattern() {
        let plan = super::super::script::load(&crate::linker::args::Args::default()).unwrap();
        let m = Matcher::new(&plan);
        assert!(m.pats.len() > 50 && !m.buckets.is_empty());
        for name in [
            &b".text"[..],
            b".text.foo",
            b".text.unlikely.x",
            b".text.hot",
            b".rodata.str1.1",
            b".data.rel.ro.local",
            b".tbss",
            b".tdata.x",
            b".debug_info",
            b".init_array.00100",
            b".ctors",
            b".gcc_except_table.f",
            b".note.gnu.property",
            b"COMMON",
            b".x",
            b"a",
            b"",
        ] {
            let all: Vec<u32> = (0..m.pats.len() as u32)
                .filter(|&i| m.pats[i as usize].3.matches(name))
                .collect();
            assert_eq!(
                m.candidates(name).collect::<Vec<_>>(),
                all,
                "{}",
                String::from_utf8_lossy(name)
            );
        }
    }
}
