//! The link context shared by the stages after input loading, and the orchestration of the
//! stages: load → resolve → gc → scan relocations → lay out → write.

use crate::linker::args::Args;
use crate::linker::eh_frame::EhSection;
use crate::linker::layout::Layout;
use crate::linker::object_file::{InputSection, ObjSym, ObjectFile, Split};
use crate::linker::symbols::{Def, FastMap, LinkerSym, SymbolTable};
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

/// The state of a link, filled in stage by stage: each group of fields below is the product of
/// one stage (see `linker::link`), which later stages read.
pub struct Link {
    // Command line and loaded inputs (`input::load`), with symbols resolved.
    pub args: Args,
    pub files: Vec<ObjectFile>,
    pub symtab: SymbolTable,
    /// Position-independent output (`-pie`, as in `-static-pie`).
    pub pie: bool,
    /// Split `.eh_frame` input sections by (file, section) (`gc`).
    pub eh: FastMap<(u32, u32), EhSection>,
    /// Common symbols' places (`commons`).
    pub commons: Commons,
    /// GOT and PLT entries and relative relocations (`reloc::scan_relocations`).
    pub tables: Tables,
    // The layout stage's results.
    /// Merged `SHF_MERGE` input sections, indexed by `InputSection::merge_idx`.
    pub merge: Vec<crate::linker::merge::MergeMap>,
    pub layout: Layout,
    pub script: ScriptSymbols,
    /// Code moved by the layout file: section -> address of its old place, which holds a jump
    /// to it and which references from other sections keep using.
    pub trampolines: FastMap<(u32, u32, u64), u64>,
}

/// Common symbols allocated in `.bss`.
#[derive(Debug)]
pub struct Commons {
    /// (symbol id, offset in the COMMON block).
    pub syms: Vec<(u32, u64)>,
    pub size: u64,
    pub align: u64,
}

impl Default for Commons {
    fn default() -> Self {
        Commons {
            syms: Vec::new(),
            size: 0,
            align: 1,
        }
    }
}

/// What the relocation scan decided the image needs besides its input sections.
#[derive(Debug, Default)]
pub struct Tables {
    pub got: Vec<(SymRef, GotKind)>,
    pub got_map: FastMap<(SymRef, GotKind), u32>,
    /// IFUNC symbols that got a PLT entry and an IRELATIVE relocation.
    pub plt: Vec<SymRef>,
    pub plt_map: FastMap<SymRef, u32>,
    /// Some relocation uses the GOT base (`_GLOBAL_OFFSET_TABLE_`), so `.got.plt` must exist.
    pub needs_got_base: bool,
    /// First `.rela.dyn` entry of each input section that needs relative relocations.
    pub dyn_start: FastMap<(u32, u32), (u32, u32)>,
    /// Number of relative relocations from input sections (GOT and IRELATIVE entries follow).
    pub dyn_section_relocs: u32,
}

/// The symbols a linker script assigns (see `LinkerSym::Script`), by index.
#[derive(Debug, Default)]
pub struct ScriptSymbols {
    pub values: Vec<u64>,
    /// Hidden (PROVIDE_HIDDEN, HIDDEN).
    pub hidden: Vec<bool>,
    /// Absolute (a number, ABSOLUTE, MIN, MAX).
    pub abs: Vec<bool>,
    /// The output section each belongs to (None: absolute).
    pub sec: Vec<Option<usize>>,
}

impl Link {
    pub fn new(args: Args, files: Vec<ObjectFile>, symtab: SymbolTable) -> Link {
        let pie = args.pie;
        Link {
            args,
            files,
            symtab,
            pie,
            eh: FastMap::default(),
            commons: Commons::default(),
            tables: Tables::default(),
            merge: Vec::new(),
            layout: Layout::default(),
            script: ScriptSymbols::default(),
            trampolines: FastMap::default(),
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
        if sym.is_undefined() || sym.shndx >= crate::linker::object_file::SHN_RESERVED {
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
        String::from_utf8_lossy(self.sym_name(r)).into_owned()
    }

    /// The name as messages show it: demangled, unless `--no-demangle`.
    pub fn display_name(&self, r: SymRef) -> String {
        crate::linker::diag::symbol(self.sym_name(r))
    }

    /// The name in the symbol table; a section symbol's is its section's.
    pub fn sym_name(&self, r: SymRef) -> &'static [u8] {
        match r {
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
        }
    }

    /// Address of a symbol defined in file `f` as symbol `s` (after layout). Symbols in
    /// discarded sections resolve to 0.
    pub fn file_sym_addr(&self, f: u32, s: u32) -> u64 {
        let sym = &self.files[f as usize].symbols[s as usize];
        if sym.is_abs() {
            return sym.value;
        }
        if sym.is_undefined() || sym.shndx >= crate::linker::object_file::SHN_RESERVED {
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
            || sym.shndx >= crate::linker::object_file::SHN_RESERVED
        {
            return None;
        }
        self.trampolines.get(&(f, sym.shndx, sym.value)).copied()
    }

    /// The address relocations use for a symbol: IFUNCs resolve to their PLT entry.
    pub fn sym_addr(&self, r: SymRef) -> u64 {
        if !self.tables.plt_map.is_empty() {
            if let Some(&i) = self.tables.plt_map.get(&r) {
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
        self.tables
            .got_map
            .get(&(r, kind))
            .map(|&i| self.layout.got_addr + 8 * i as u64)
    }

    /// GOT entries that hold a link-time address and so need a relative relocation in a
    /// position-independent output.
    pub fn got_relative(&self) -> impl Iterator<Item = u32> + '_ {
        self.tables
            .got
            .iter()
            .enumerate()
            .filter_map(move |(i, &(r, k))| {
                (self.pie && k == GotKind::Addr && !self.is_absolute(r) && !self.is_undefined(r))
                    .then_some(i as u32)
            })
    }

    /// Size and alignment an input section takes in the output: split `.eh_frame` and merged
    /// sections shrink. `.eh_frame` records are packed: a padding gap of four zero bytes would
    /// read as a terminator to unwinders that walk the section from `__EH_FRAME_BEGIN__`.
    pub fn member_size_align(&self, f: u32, s: u32) -> (u64, u64) {
        let link = self;
        let sec = link.section(f, s);
        match sec.split {
            crate::linker::object_file::Split::EhFrame => {
                (link.eh[&(f, s)].out_size, sec.align.min(4))
            }
            crate::linker::object_file::Split::Merged => (
                link.merge[sec.merge_idx as usize].blob.len() as u64,
                sec.align,
            ),
            crate::linker::object_file::Split::None => (sec.size, sec.align),
        }
    }

    /// (file, section) of every input section `keep` accepts, files in output order.
    pub fn sections_where(&self, keep: impl Fn(&InputSection) -> bool) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for f in self.file_order() {
            let file = &self.files[f as usize];
            for (s, sec) in file.sections.iter().enumerate() {
                if keep(sec) {
                    out.push((f, s as u32));
                }
            }
        }
        out
    }

    /// Files in output order.
    pub fn file_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.files.len() as u32).collect();
        order.sort_by_key(|&f| self.files[f as usize].order);
        order
    }
}
