//! The link context shared by the stages after input loading, and the orchestration of the
//! stages: load → resolve → gc → scan relocations → lay out → write.

use crate::linker::args::Args;
use crate::linker::eh_frame::EhSection;
use crate::linker::layout::Layout;
use crate::linker::object_file::{InputSection, ObjSym, ObjectFile, SecState, Split};
use crate::linker::symbols::{Def, FastMap, LinkerSym, SymbolTable};
use anyhow::{bail, Result};
use object::elf;

/// A symbol as a relocation sees it: a global table entry or a file-local symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SymRef {
    Global(u32),
    Local(u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GotKind {
    /// The symbol's address.
    Addr,
    /// The symbol's offset from the thread pointer (initial-exec TLS that could not be relaxed).
    TpOff,
}

pub struct Link {
    pub args: Args,
    pub files: Vec<ObjectFile>,
    pub symtab: SymbolTable,
    /// Split `.eh_frame` input sections by (file, section).
    pub eh: FastMap<(u32, u32), EhSection>,
    /// Merged `SHF_MERGE` input sections by (file, section).
    pub merge: Vec<crate::linker::merge::MergeMap>,
    pub got: Vec<(SymRef, GotKind)>,
    pub got_map: FastMap<(SymRef, GotKind), u32>,
    /// IFUNC symbols that got a PLT entry and an IRELATIVE relocation.
    pub plt: Vec<SymRef>,
    pub plt_map: FastMap<SymRef, u32>,
    /// Common symbols allocated in `.bss`: (symbol id, offset in the COMMON block).
    pub commons: Vec<(u32, u64)>,
    pub common_size: u64,
    pub common_align: u64,
    pub layout: Layout,
    /// Values of the symbols a linker script assigns (see `LinkerSym::Script`).
    pub script_values: Vec<u64>,
    /// Whether each script symbol is hidden (PROVIDE_HIDDEN, HIDDEN).
    pub script_hidden: Vec<bool>,
    /// Whether each script symbol is absolute (a number, ABSOLUTE, MIN, MAX).
    pub script_abs: Vec<bool>,
    /// The output section each script symbol belongs to (None: absolute).
    pub script_sec: Vec<Option<usize>>,
    /// Some relocation uses the GOT base (`_GLOBAL_OFFSET_TABLE_`), so `.got.plt` must exist.
    pub needs_got_base: bool,
    /// Code moved by the layout file: section -> address of its old place, which holds a jump
    /// to it and which references from other sections keep using.
    pub trampolines: FastMap<(u32, u32, u64), u64>,
    /// `--layout`: the version-stable layout of this link.
    pub stable: Option<crate::linker::stable::Stable>,
    /// Position-independent output (`-pie`, as in `-static-pie`).
    pub pie: bool,
    /// First `.rela.dyn` entry of each input section that needs relative relocations.
    pub dyn_start: FastMap<(u32, u32), (u32, u32)>,
    /// Number of relative relocations from input sections (GOT and IRELATIVE entries follow).
    pub dyn_section_relocs: u32,
}

impl Link {
    pub fn new(args: Args, files: Vec<ObjectFile>, symtab: SymbolTable) -> Link {
        let args_pie = args.pie;
        Link {
            args,
            files,
            symtab,
            eh: FastMap::default(),
            merge: Vec::new(),
            got: Vec::new(),
            got_map: FastMap::default(),
            plt: Vec::new(),
            plt_map: FastMap::default(),
            commons: Vec::new(),
            common_size: 0,
            common_align: 1,
            pie: args_pie,
            script_values: Vec::new(),
            script_hidden: Vec::new(),
            script_abs: Vec::new(),
            script_sec: Vec::new(),
            needs_got_base: false,
            stable: None,
            trampolines: FastMap::default(),
            layout: Layout::default(),
            dyn_start: FastMap::default(),
            dyn_section_relocs: 0,
        }
    }

    pub fn symref(&self, file: u32, sym: u32) -> SymRef {
        let f = &self.files[file as usize];
        if (sym as usize) < f.first_global {
            SymRef::Local(file, sym)
        } else {
            SymRef::Global(f.globals[sym as usize - f.first_global])
        }
    }

    /// The file symbol that defines `r`, if it is defined in an input file.
    pub fn definition(&self, r: SymRef) -> Option<(u32, u32, &ObjSym)> {
        let (f, s) = match r {
            SymRef::Local(f, s) => (f, s),
            SymRef::Global(id) => self.symtab.syms[id as usize].file_sym()?,
        };
        Some((f, s, &self.files[f as usize].symbols[s as usize]))
    }

    /// The input section that defines `r`.
    pub fn def_section(&self, r: SymRef) -> Option<(u32, u32)> {
        let (f, _, sym) = self.definition(r)?;
        if sym.is_undefined() || sym.shndx >= elf::SHN_LORESERVE as u32 {
            return None;
        }
        Some((f, sym.shndx))
    }

    pub fn section(&self, file: u32, sec: u32) -> &InputSection {
        &self.files[file as usize].sections[sec as usize]
    }

    pub fn is_ifunc(&self, r: SymRef) -> bool {
        matches!(self.definition(r), Some((_, _, s)) if s.typ == elf::STT_GNU_IFUNC && !s.is_undefined())
    }

    /// True if the symbol resolves to nothing (undefined, weak or not).
    pub fn is_undefined(&self, r: SymRef) -> bool {
        match r {
            SymRef::Global(id) => self.symtab.syms[id as usize].is_undefined(),
            SymRef::Local(f, s) => self.files[f as usize].symbols[s as usize].is_undefined(),
        }
    }

    pub fn is_absolute(&self, r: SymRef) -> bool {
        match r {
            SymRef::Global(id) => match self.symtab.syms[id as usize].def {
                Def::Linker(LinkerSym::Defsym(_)) => true,
                Def::Weak(..) | Def::Strong(..) => {
                    self.definition(r).is_some_and(|(_, _, s)| s.is_abs())
                }
                _ => false,
            },
            SymRef::Local(f, s) => self.files[f as usize].symbols[s as usize].is_abs(),
        }
    }

    pub fn name(&self, r: SymRef) -> String {
        let n = match r {
            SymRef::Global(id) => self.symtab.syms[id as usize].name,
            SymRef::Local(f, s) => {
                let sym = &self.files[f as usize].symbols[s as usize];
                if sym.typ == elf::STT_SECTION
                    && (sym.shndx as usize) < self.files[f as usize].sections.len()
                {
                    self.files[f as usize].sections[sym.shndx as usize].name
                } else {
                    sym.name
                }
            }
        };
        String::from_utf8_lossy(n).into_owned()
    }

    /// Address of a symbol defined in file `f` as symbol `s` (after layout). Symbols in
    /// discarded sections resolve to 0.
    pub fn file_sym_addr(&self, f: u32, s: u32) -> u64 {
        let sym = &self.files[f as usize].symbols[s as usize];
        if sym.is_abs() {
            return sym.value;
        }
        if sym.is_undefined() || sym.shndx >= elf::SHN_LORESERVE as u32 {
            return 0;
        }
        let sec = &self.files[f as usize].sections[sym.shndx as usize];
        if !sec.is_included() || sec.out_sec == u32::MAX {
            return 0;
        }
        let base = self.layout.secs[sec.out_sec as usize].addr;
        match sec.split {
            Split::None => base + sec.out_off + sym.value,
            Split::Merged => self.merged_addr((f, sym.shndx), sym.value),
            Split::EhFrame => {
                base + sec.out_off + self.eh[&(f, sym.shndx)].map_offset(sym.value).unwrap_or(0)
            }
        }
    }

    /// Address of input offset `off` of a merged section (the piece may live in another
    /// input section that had it first).
    pub fn merged_addr(&self, key: (u32, u32), off: u64) -> u64 {
        let idx = self.section(key.0, key.1).merge_idx as usize;
        match self.merge.get(idx).and_then(|m| m.lookup(off)) {
            Some(((of, os), o)) => {
                let owner = self.section(of, os);
                self.layout.secs[owner.out_sec as usize].addr + owner.out_off + o
            }
            None => 0,
        }
    }

    /// `S + A` for a section symbol of a merged section: the addend selects the piece.
    pub fn merged_section_target(&self, r: SymRef, addend: i64) -> Option<u64> {
        let SymRef::Local(f, s) = r else { return None };
        let sym = &self.files[f as usize].symbols[s as usize];
        if sym.typ != elf::STT_SECTION {
            return None;
        }
        let sec = self.files[f as usize].sections.get(sym.shndx as usize)?;
        if sec.split != Split::Merged {
            return None;
        }
        Some(self.merged_addr(
            (f, sym.shndx),
            (sym.value as i64).wrapping_add(addend) as u64,
        ))
    }

    /// For a function the layout file moved: the address of its old place (a jump to it), which
    /// references from elsewhere keep using so that their bytes do not change.
    pub fn trampoline(&self, r: SymRef) -> Option<u64> {
        if self.trampolines.is_empty() {
            return None;
        }
        let (f, _, sym) = self.definition(r)?;
        // Functions and plain labels only: an IFUNC's references go to its PLT entry, and a
        // section symbol plus addend is not a function's entry.
        if !matches!(sym.typ, elf::STT_FUNC | elf::STT_NOTYPE)
            || sym.shndx >= elf::SHN_LORESERVE as u32
        {
            return None;
        }
        self.trampolines.get(&(f, sym.shndx, sym.value)).copied()
    }

    /// The address relocations use for a symbol: IFUNCs resolve to their PLT entry.
    pub fn sym_addr(&self, r: SymRef) -> u64 {
        if !self.plt_map.is_empty() {
            if let Some(&i) = self.plt_map.get(&r) {
                return self.layout.plt_entry_addr(i);
            }
        }
        match r {
            SymRef::Global(id) => self.symtab.syms[id as usize].value,
            SymRef::Local(f, s) => self.file_sym_addr(f, s),
        }
    }

    pub fn sym_size(&self, r: SymRef) -> u64 {
        self.definition(r).map(|(_, _, s)| s.size).unwrap_or(0)
    }

    pub fn got_addr(&self, r: SymRef, kind: GotKind) -> Option<u64> {
        self.got_map
            .get(&(r, kind))
            .map(|&i| self.layout.got_addr + 8 * i as u64)
    }

    /// GOT entries that hold a link-time address and so need a relative relocation in a
    /// position-independent output.
    pub fn got_relative(&self) -> impl Iterator<Item = u32> + '_ {
        self.got.iter().enumerate().filter_map(move |(i, &(r, k))| {
            (self.pie && k == GotKind::Addr && !self.is_absolute(r) && !self.is_undefined(r))
                .then_some(i as u32)
        })
    }

    /// Files in output order.
    pub fn file_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.files.len() as u32).collect();
        order.sort_by_key(|&f| self.files[f as usize].order);
        order
    }
}

/// Checks the results of symbol resolution that make a link fail.
pub fn check_duplicates(link: &Link) -> Result<()> {
    if link.symtab.duplicates.is_empty() || link.args.allow_multiple_definition {
        return Ok(());
    }
    let mut msg = String::new();
    for (i, &(id, a, b)) in link.symtab.duplicates.iter().enumerate() {
        if i > 0 {
            msg.push_str("\nspacer: error: ");
        }
        msg.push_str(&format!(
            "{}: multiple definition of '{}'; first defined in {}",
            link.files[b as usize].name,
            String::from_utf8_lossy(link.symtab.syms[id as usize].name),
            link.files[a as usize].name
        ));
    }
    bail!("{msg}")
}

/// Marks sections the output never carries and gives linker-provided symbols their kind.
pub fn define_linker_symbols(link: &mut Link) {
    let pie = link.pie;
    for sym in link.symtab.syms.iter_mut() {
        if sym.is_undefined() {
            if pie && sym.name == b"_DYNAMIC" {
                sym.def = Def::Linker(LinkerSym::Dynamic);
            } else if let Some(k) = crate::linker::symbols::linker_symbol_for(sym.name) {
                sym.def = Def::Linker(k);
            }
        }
    }
    for (i, (name, _)) in link.args.defsyms.iter().enumerate() {
        let name: &'static [u8] = Box::leak(name.clone().into_bytes().into_boxed_slice());
        let id = link.symtab.intern(name);
        link.symtab.syms[id as usize].def = Def::Linker(LinkerSym::Defsym(i));
    }
    // Debug sections of discarded COMDAT groups are already marked; nothing else to do here.
    let _ = SecState::Normal;
}

/// The bucket of a name in GNU ld's symbol hash table (BFD's string hash, 4051 buckets), which
/// fixes the order GNU ld allocates common symbols in.
fn gnu_hash_bucket(name: &[u8]) -> u64 {
    let mut h: u64 = 0;
    for &c in name {
        let c = c as u64;
        h = h.wrapping_add(c + (c << 17));
        h ^= h >> 2;
    }
    let len = name.len() as u64;
    h = h.wrapping_add(len + (len << 17));
    h ^= h >> 2;
    h % 4051
}

/// Allocates common symbols into one block at the end of `.bss`.
pub fn allocate_commons(link: &mut Link) {
    // The alignment of a common symbol is in st_value; the largest one seen for a name wins.
    let mut max_align: FastMap<&[u8], u64> = FastMap::default();
    for file in &link.files {
        for s in &file.symbols[file.first_global..] {
            if s.is_common() {
                let a = max_align.entry(s.name).or_insert(1);
                *a = (*a).max(s.value);
            }
        }
    }
    let mut off = 0u64;
    let mut align = 1u64;
    // GNU ld allocates commons walking its symbol hash table; the same order keeps layouts
    // (and so shared pages) identical to GNU ld's.
    let mut commons: Vec<(u64, u32, u64)> = Vec::new();
    for (id, sym) in link.symtab.syms.iter().enumerate() {
        if let Def::Common(f, s) = sym.def {
            let a = max_align.get(sym.name).copied().unwrap_or(1).max(1);
            commons.push((
                a,
                id as u32,
                link.files[f as usize].symbols[s as usize].size,
            ));
        }
    }
    // Partial links (-r -d) follow GNU ld's hash-table walk; final links take files in link
    // order and each file's commons last to first. Both reproduce GNU ld's placement.
    if link.args.relocatable {
        commons.sort_by_key(|&(_, id, _)| {
            (
                gnu_hash_bucket(link.symtab.syms[id as usize].name),
                std::cmp::Reverse(id),
            )
        });
    } else {
        commons.sort_by_key(|&(_, id, _)| match link.symtab.syms[id as usize].def {
            Def::Common(f, s) => (link.files[f as usize].order, std::cmp::Reverse(s)),
            _ => ((u32::MAX, u64::MAX), std::cmp::Reverse(0)),
        });
    }
    for (a, id, size) in commons {
        off = off.next_multiple_of(a);
        link.commons.push((id, off));
        off += size;
        align = align.max(a);
    }
    link.common_size = off;
    link.common_align = align;
}

/// Runs the whole link.
pub fn run(args: Args) -> Result<()> {
    let loaded = crate::linker::input::load(&args)?;
    let mut link = Link::new(args, loaded.files, loaded.symtab);
    check_duplicates(&link)?;
    if link.args.relocatable {
        if let Some(path) = &link.args.layout {
            // Addresses are decided by the final link; that is where the layout file belongs.
            eprintln!(
                "spacer: warning: --layout {} has no effect with -r (give it to the final link)",
                path.display()
            );
        }
        return crate::linker::relocatable::link_relocatable(&mut link);
    }
    run_scripted(link)
}

fn write_outputs(link: &Link) -> Result<()> {
    if let Some(map) = &link.args.map_file {
        crate::linker::map::write_map(link, map)?;
    }
    crate::linker::output::write(link)
}

/// The layout comes from a linker script: the command line's, or the built-in one.
fn run_scripted(mut link: Link) -> Result<()> {
    use crate::linker::layout::script as sl;
    let mut plan = sl::load(&link.args)?;
    // Held until this function returns, after the layout file is written back.
    let _layout_lock = match &link.args.layout {
        Some(path) => Some(crate::linker::stable::LayoutLock::acquire(path)?),
        None => None,
    };
    if let Some(path) = &link.args.layout {
        let old = if path.exists() {
            crate::layout_file::LayoutFile::read(path)?
        } else {
            Default::default()
        };
        link.stable = Some(crate::linker::stable::Stable::new(old));
    }
    if link.args.strip != crate::linker::args::Strip::None {
        for file in link.files.iter_mut() {
            for sec in file.sections.iter_mut() {
                if !sec.is_alloc() && crate::linker::layout::is_debug(sec.name) {
                    sec.state = SecState::Ignored;
                }
            }
        }
    }
    sl::define_symbols(&mut plan, &mut link);
    define_linker_symbols(&mut link);
    if link.args.entry.is_none() {
        link.args.entry = plan.entry.clone();
    }
    crate::linker::gc::split_eh_frames(&mut link)?;
    let kept = sl::assign_inputs(&mut plan, &mut link);
    crate::linker::gc::collect_garbage(&mut link, &kept)?;
    crate::linker::gc::finalize_eh_frames(&mut link);
    allocate_commons(&mut link);
    scan_relocations(&mut link)?;
    let has_eh = !link.eh.is_empty();
    let mut synth: Vec<sl::Chunk> = Vec::new();
    for (k, size) in crate::linker::layout::synth_sizes(&link, has_eh) {
        link.layout.synth_sizes.insert(k, size);
        synth.push(sl::Chunk::Synth(k));
    }
    if link.common_size > 0 {
        synth.push(sl::Chunk::Common);
    }
    sl::assign_synthetic(&mut plan, &link, &synth);
    sl::sort_chunks(&mut plan, &link);
    sl::create_output_sections(&mut plan, &mut link)?;
    sl::assign_addresses(&mut plan, &mut link)?;
    if link.stable.is_some() && plan.phdrs.is_none() {
        crate::linker::stable::split_at_holes(&mut link);
        crate::linker::stable::cover_relro_room(&mut link, plan.relro);
    }
    sl::assign_segments(&plan, &mut link)?;
    crate::linker::layout::finish(&mut link)?;
    write_outputs(&link)?;
    if let (Some(st), Some(path)) = (&link.stable, &link.args.layout) {
        for m in &st.moved {
            eprintln!("spacer: note: {m}");
        }
        crate::atomic_file::write_file_atomically(path, st.new.render().as_bytes(), false)?;
    }
    Ok(())
}

/// Relocation scan: which GOT and PLT entries exist, which references are undefined.
fn scan_relocations(link: &mut Link) -> Result<()> {
    use rayon::prelude::*;
    let jobs: Vec<(u32, u32)> = link
        .file_order()
        .into_iter()
        .flat_map(|f| {
            let file = &link.files[f as usize];
            (0..file.sections.len() as u32)
                .filter(move |&s| {
                    let sec = &file.sections[s as usize];
                    sec.is_included() && !sec.relocs.is_empty()
                })
                .map(move |s| (f, s))
        })
        .collect();
    let results: Vec<crate::linker::reloc::x86_64::ScanOut> = jobs
        .par_iter()
        .map(|&(f, s)| crate::linker::reloc::x86_64::scan_section(link, f, s))
        .collect();
    let mut undefined = Vec::new();
    let mut errors = Vec::new();
    for (&(f, s), r) in jobs.iter().zip(&results) {
        link.needs_got_base |= r.needs_got_base;
        if r.dyn_relocs > 0 {
            link.dyn_start
                .insert((f, s), (link.dyn_section_relocs, r.dyn_relocs));
            link.dyn_section_relocs += r.dyn_relocs;
        }
        errors.extend(r.errors.iter().cloned());
        for &(sym, kind) in &r.got {
            if !link.got_map.contains_key(&(sym, kind)) {
                link.got_map.insert((sym, kind), link.got.len() as u32);
                link.got.push((sym, kind));
            }
        }
        for &sym in &r.plt {
            if !link.plt_map.contains_key(&sym) {
                link.plt_map.insert(sym, link.plt.len() as u32);
                link.plt.push(sym);
            }
        }
        for &(sym, off) in &r.undefined {
            undefined.push((sym, f, s, off));
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\nspacer: error: "));
    }
    if let Some(mut st) = link.stable.take() {
        // Slots the layout file keeps, so that one library's or program's new GOT or PLT
        // entry does not move the entries every other library's code refers to.
        let named = |link: &Link, r: SymRef| link.name(r).replace(char::is_whitespace, "_");
        let got: Vec<((SymRef, GotKind), String)> = std::mem::take(&mut link.got)
            .into_iter()
            .map(|(r, k)| {
                let prefix = if k == GotKind::TpOff { "tpoff:" } else { "" };
                ((r, k), format!("{prefix}{}", named(link, r)))
            })
            .collect();
        (link.got, link.got_map) = crate::linker::stable::assign_slots(&mut st, "got", got);
        let plt: Vec<(SymRef, String)> = std::mem::take(&mut link.plt)
            .into_iter()
            .map(|r| (r, named(link, r)))
            .collect();
        (link.plt, link.plt_map) = crate::linker::stable::assign_slots(&mut st, "plt", plt);
        link.stable = Some(st);
    }
    if !undefined.is_empty() && !link.args.no_undefined_error {
        let mut lines = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for &(sym, f, s, off) in &undefined {
            if !seen.insert((sym, f)) {
                continue;
            }
            lines.push(format!(
                "{}: undefined reference to '{}' (in section {}+{off:#x})",
                link.files[f as usize].name,
                link.name(sym),
                String::from_utf8_lossy(link.section(f, s).name)
            ));
        }
        let shown = lines.len().min(50);
        let mut msg = lines[..shown].join("\nspacer: error: ");
        if lines.len() > shown {
            msg.push_str(&format!(
                "\nspacer: error: ... and {} more undefined references",
                lines.len() - shown
            ));
        }
        bail!("{msg}");
    }

    Ok(())
}
