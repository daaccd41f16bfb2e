//! The global symbol table and GNU ld's symbol resolution rules.

use crate::linker::object_file::{ObjSym, ObjectFile, SecState};
use object::elf;
use std::collections::HashMap;
/// Hash map for the linker's many small keys (names, ids): a multiplicative hash is much
/// cheaper than a streaming one here.
pub type FastMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// A symbol the linker itself provides when the program refers to it and nobody defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkerSym {
    EhdrStart,
    ExecutableStart,
    Etext,
    Edata,
    End,
    BssStart,
    GlobalOffsetTable,
    RelaIpltStart,
    RelaIpltEnd,
    ArrayStart(ArrayKind),
    ArrayEnd(ArrayKind),
    /// `__start_SEC` / `__stop_SEC`: index into the output-section name list resolved at layout.
    SectionStart(&'static [u8]),
    SectionStop(&'static [u8]),
    /// `_TLS_MODULE_BASE_`: the base that TLS descriptors of local-dynamic code are relative
    /// to. Relaxed to local-exec, its offset from the thread pointer must be 0.
    TlsModuleBase,
    /// `_DYNAMIC` of a position-independent executable.
    Dynamic,
    /// Assigned by a linker script: index into the script's symbol values.
    Script(u32),
    /// `--defsym` and absolute values.
    Defsym(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayKind {
    Preinit,
    Init,
    Fini,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Def {
    Undefined,
    /// Defined in an input file: (file index, symbol index).
    Weak(u32, u32),
    Strong(u32, u32),
    Common(u32, u32),
    Linker(LinkerSym),
}

pub struct Symbol {
    pub name: &'static [u8],
    pub def: Def,
    /// Some reference is not weak (so the symbol must be defined, and archives are searched).
    pub strong_ref: bool,
    /// Final address, set by layout.
    pub value: u64,
    /// Symbol type seen on undefined references (kept for undefined symbols in `-r` output,
    /// where a TLS reference must stay STT_TLS).
    pub ref_type: u8,
}

impl Symbol {
    pub fn is_undefined(&self) -> bool {
        self.def == Def::Undefined
    }
    pub fn file_sym(&self) -> Option<(u32, u32)> {
        match self.def {
            Def::Weak(f, s) | Def::Strong(f, s) | Def::Common(f, s) => Some((f, s)),
            _ => None,
        }
    }
}

#[derive(Default)]
pub struct SymbolTable {
    pub syms: Vec<Symbol>,
    pub by_name: FastMap<&'static [u8], u32>,
    /// COMDAT signatures claimed so far.
    pub comdats: FastMap<&'static [u8], u32>,
    /// Duplicate strong definitions: (symbol, first file, second file).
    pub duplicates: Vec<(u32, u32, u32)>,
    /// `--warn-common`: warn where a common symbol meets another common or a definition.
    pub warn_common: bool,
    /// `--wrap`: the name an undefined reference is bound to instead of its own (`X` to
    /// `__wrap_X`, `__real_X` to `X`).
    pub wrapped: FastMap<&'static [u8], &'static [u8]>,
    /// Grows whenever a symbol becomes undefined and strongly referenced, or a new name comes
    /// as a common: GNU ld searches a group's archives again for as long as its list of
    /// undefined symbols grows, and this counts that list's additions.
    pub undefs: u64,
}

impl SymbolTable {
    /// `--wrap=SYMBOL` for each name: undefined references to SYMBOL go to `__wrap_SYMBOL`,
    /// and those to `__real_SYMBOL` to SYMBOL itself, as GNU ld binds them.
    pub fn wrap(&mut self, names: &[String]) {
        for n in names {
            let leak =
                |s: String| -> &'static [u8] { Box::leak(s.into_bytes().into_boxed_slice()) };
            let plain = leak(n.clone());
            self.wrapped.insert(plain, leak(format!("__wrap_{n}")));
            self.wrapped.insert(leak(format!("__real_{n}")), plain);
        }
    }

    pub fn intern(&mut self, name: &'static [u8]) -> u32 {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.syms.len() as u32;
        self.syms.push(Symbol {
            name,
            def: Def::Undefined,
            strong_ref: false,
            value: 0,
            ref_type: 0,
        });
        self.by_name.insert(name, id);
        id
    }

    pub fn get(&self, name: &[u8]) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// Claims COMDAT groups, then enters the file's global symbols. `file_idx` is the index the
    /// file will have in the link's file list.
    pub fn add_file(&mut self, file: &mut ObjectFile, file_idx: u32, files: &[ObjectFile]) {
        for (sig, members, _) in &file.groups {
            if self.comdats.contains_key(sig) {
                for &m in members {
                    file.sections[m as usize].state = SecState::ComdatDiscarded;
                }
            } else {
                self.comdats.insert(sig, file_idx);
            }
        }
        for i in file.first_global..file.symbols.len() {
            let s: ObjSym = file.symbols[i];
            let name = match self.wrapped.get(s.name) {
                Some(&to) if s.is_undefined() => to,
                _ => s.name,
            };
            let fresh = self.syms.len() as u32;
            let id = self.intern(name);
            file.globals[i - file.first_global] = id;
            let in_discarded = !s.is_undefined()
                && (s.shndx as usize) < file.sections.len()
                && file.sections[s.shndx as usize].state == SecState::ComdatDiscarded;
            if s.is_undefined() && s.typ != elf::STT_NOTYPE {
                self.syms[id as usize].ref_type = s.typ;
            }
            if s.is_undefined() || in_discarded {
                if s.bind != elf::STB_WEAK || in_discarded {
                    let sym = &mut self.syms[id as usize];
                    if sym.is_undefined() && !sym.strong_ref {
                        self.undefs += 1;
                    }
                    sym.strong_ref = true;
                }
                continue;
            }
            if s.is_common() && id == fresh {
                self.undefs += 1;
            }
            let new = if s.is_common() {
                Def::Common(file_idx, i as u32)
            } else if s.bind == elf::STB_WEAK {
                Def::Weak(file_idx, i as u32)
            } else {
                Def::Strong(file_idx, i as u32)
            };
            if self.warn_common {
                warn_common(files, file, file_idx, self.syms[id as usize].def, new);
            }
            let sym = &mut self.syms[id as usize];
            sym.def = match (sym.def, new) {
                (Def::Undefined, n) => n,
                (Def::Linker(_), n) => n,
                (Def::Weak(..), n @ (Def::Strong(..) | Def::Common(..))) => n,
                (old @ Def::Weak(..), Def::Weak(..)) => old,
                (old @ Def::Strong(of, _), Def::Strong(..)) => {
                    self.duplicates.push((id, of, file_idx));
                    old
                }
                (old @ Def::Strong(..), _) => old,
                (Def::Common(of, os), Def::Common(nf, ns)) => {
                    // Keep the larger; alignment is merged when commons are allocated.
                    let old_size = common_size(files, file, file_idx, of, os);
                    if s.size > old_size {
                        Def::Common(nf, ns)
                    } else {
                        Def::Common(of, os)
                    }
                }
                (Def::Common(..), n @ Def::Strong(..)) => n,
                (old @ Def::Common(..), Def::Weak(..)) => old,
                (_, n) => n,
            };
        }
    }
}

/// GNU ld's `--warn-common` messages, for a symbol defined as `old` meeting definition `new`
/// of the file being added.
fn warn_common(files: &[ObjectFile], cur: &ObjectFile, cur_idx: u32, old: Def, new: Def) {
    let name_of = |f: u32| -> &str {
        if f == cur_idx {
            &cur.name
        } else {
            &files[f as usize].name
        }
    };
    let sym_of = |f: u32, s: u32| -> &ObjSym {
        if f == cur_idx {
            &cur.symbols[s as usize]
        } else {
            &files[f as usize].symbols[s as usize]
        }
    };
    let msg = match (old, new) {
        (Def::Common(of, _), Def::Strong(nf, ns)) => format!(
            "{}: definition of `{}' overriding common from {}",
            name_of(nf),
            String::from_utf8_lossy(sym_of(nf, ns).name),
            name_of(of),
        ),
        (Def::Strong(of, _), Def::Common(nf, ns)) => format!(
            "{}: common of `{}' overridden by definition from {}",
            name_of(nf),
            String::from_utf8_lossy(sym_of(nf, ns).name),
            name_of(of),
        ),
        (Def::Common(of, os), Def::Common(nf, ns)) => {
            let (old_size, new_size) = (sym_of(of, os).size, sym_of(nf, ns).size);
            let name = String::from_utf8_lossy(sym_of(nf, ns).name);
            let (old_name, new_name) = (name_of(of), name_of(nf));
            match new_size.cmp(&old_size) {
                std::cmp::Ordering::Equal => {
                    format!("{new_name} and {old_name}: multiple common of `{name}'")
                }
                std::cmp::Ordering::Greater => format!(
                    "{new_name}: common of `{name}' overriding smaller common from {old_name}"
                ),
                std::cmp::Ordering::Less => format!(
                    "{new_name}: common of `{name}' overridden by larger common from {old_name}"
                ),
            }
        }
        _ => return,
    };
    crate::linker::diag::warn(msg);
}

fn common_size(files: &[ObjectFile], cur: &ObjectFile, cur_idx: u32, f: u32, s: u32) -> u64 {
    if f == cur_idx {
        cur.symbols[s as usize].size
    } else {
        files[f as usize].symbols[s as usize].size
    }
}

/// Maps a name the program refers to onto a linker-provided symbol, as GNU ld's default script
/// PROVIDEs them.
pub fn linker_symbol_for(name: &'static [u8]) -> Option<LinkerSym> {
    Some(match name {
        b"__ehdr_start" => LinkerSym::EhdrStart,
        b"__executable_start" => LinkerSym::ExecutableStart,
        b"_etext" | b"etext" | b"__etext" => LinkerSym::Etext,
        b"_edata" | b"edata" => LinkerSym::Edata,
        b"_end" | b"end" => LinkerSym::End,
        b"__bss_start" => LinkerSym::BssStart,
        b"_GLOBAL_OFFSET_TABLE_" => LinkerSym::GlobalOffsetTable,
        b"__rela_iplt_start" => LinkerSym::RelaIpltStart,
        b"_TLS_MODULE_BASE_" => LinkerSym::TlsModuleBase,
        b"__rela_iplt_end" => LinkerSym::RelaIpltEnd,
        b"__preinit_array_start" => LinkerSym::ArrayStart(ArrayKind::Preinit),
        b"__preinit_array_end" => LinkerSym::ArrayEnd(ArrayKind::Preinit),
        b"__init_array_start" => LinkerSym::ArrayStart(ArrayKind::Init),
        b"__init_array_end" => LinkerSym::ArrayEnd(ArrayKind::Init),
        b"__fini_array_start" => LinkerSym::ArrayStart(ArrayKind::Fini),
        b"__fini_array_end" => LinkerSym::ArrayEnd(ArrayKind::Fini),
        _ => {
            if let Some(sec) = name.strip_prefix(b"__start_") {
                if is_c_identifier(sec) {
                    return Some(LinkerSym::SectionStart(sec));
                }
            }
            if let Some(sec) = name.strip_prefix(b"__stop_") {
                if is_c_identifier(sec) {
                    return Some(LinkerSym::SectionStop(sec));
                }
            }
            return None;
        }
    })
}

pub fn is_c_identifier(s: &[u8]) -> bool {
    !s.is_empty()
        && !s[0].is_ascii_digit()
        && s.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}
