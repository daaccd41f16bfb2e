//! x86-64 relocations: the scan that decides which GOT and PLT entries exist, and the pass that
//! applies relocations to the output, including GOT and TLS relaxations for executables.

use crate::linker::context::{GotKind, Link, SymRef};
use crate::linker::eh_frame::EhSection;
use crate::linker::reloc_kinds::type_name;
use anyhow::{bail, Result};
use object::elf::*;
use object::LittleEndian as LE;

/// What a relocation needs from the linker, decided from its type, the instruction bytes and
/// the target symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Nothing,
    Got(GotKind),
}

/// `movq foo@gottpoff(%rip), %reg` and `addq foo@gottpoff(%rip), %reg` can become immediate
/// forms (initial-exec → local-exec).
fn ie_relaxable(data: &[u8], off: usize) -> bool {
    if off < 3 || off + 4 > data.len() {
        return false;
    }
    let (rex, op, modrm) = (data[off - 3], data[off - 2], data[off - 1]);
    (rex == 0x48 || rex == 0x4c) && (op == 0x8b || op == 0x03) && modrm & 0xc7 == 0x05
}

/// GOT-indirect `mov`, `call` and `jmp` against a symbol defined here become direct.
fn gotpcrelx_relaxable(ty: u32, data: &[u8], off: usize, link: &Link, target: SymRef) -> bool {
    if ty != R_X86_64_GOTPCRELX && ty != R_X86_64_REX_GOTPCRELX {
        return false;
    }
    if off < 2
        || off + 4 > data.len()
        || link.is_undefined(target)
        || link.is_ifunc(target)
        || link.is_absolute(target)
    {
        return false;
    }
    let op = data[off - 2];
    let modrm = data[off - 1];
    if op == 0x8b {
        return true;
    }
    ty == R_X86_64_GOTPCRELX && op == 0xff && (modrm == 0x15 || modrm == 0x25)
}

/// How a relaxable GOT-indirect instruction is rewritten, as GNU ld rewrites it: in a
/// position-dependent image a load becomes an immediate when the address fits in one (the
/// relocation is then R_X86_64_32S, or R_X86_64_32 without REX.W), else a `lea`; calls and
/// jumps become direct (R_X86_64_PC32; a jump's field starts a byte earlier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GotRelax {
    Lea,
    MovImm { wide: bool },
    Call,
    Jmp,
}

impl GotRelax {
    /// The relocation that describes the rewritten instruction (`--emit-relocs`): its type,
    /// and how its place and addend move.
    pub fn relocation(self) -> (u32, i64, i64) {
        match self {
            GotRelax::Lea | GotRelax::Call => (R_X86_64_PC32, 0, 0),
            GotRelax::Jmp => (R_X86_64_PC32, -1, 0),
            GotRelax::MovImm { wide: true } => (R_X86_64_32S, 0, 4),
            GotRelax::MovImm { wide: false } => (R_X86_64_32, 0, 4),
        }
    }
}

/// The rewrite of a GOTPCREL relocation at `off` of the section bytes `data` (as they are in
/// the input), `s_a` being the target's S + A; `None` when it keeps its GOT entry.
pub fn got_relaxation(
    link: &Link,
    ty: u32,
    data: &[u8],
    off: usize,
    target: SymRef,
    s_a: u64,
) -> Option<GotRelax> {
    if !gotpcrelx_relaxable(ty, data, off, link, target) {
        return None;
    }
    if data[off - 2] != 0x8b {
        return Some(match data[off - 1] {
            0x15 => GotRelax::Call,
            _ => GotRelax::Jmp,
        });
    }
    let wide = ty == R_X86_64_REX_GOTPCRELX && off >= 3 && data[off - 3] & 0x08 != 0;
    let v = s_a.wrapping_add(4) as i64;
    let fits = if wide {
        i32::try_from(v).is_ok()
    } else {
        u32::try_from(v).is_ok()
    };
    Some(match !link.pie && fits {
        true => GotRelax::MovImm { wide },
        false => GotRelax::Lea,
    })
}

fn needs(ty: u32, data: &[u8], off: usize, link: &Link, target: SymRef) -> Need {
    match ty {
        R_X86_64_GOTTPOFF if !ie_relaxable(data, off) => Need::Got(GotKind::TpOff),
        R_X86_64_GOTPCREL | R_X86_64_GOTPCRELX | R_X86_64_REX_GOTPCRELX
            if !gotpcrelx_relaxable(ty, data, off, link, target) =>
        {
            Need::Got(GotKind::Addr)
        }
        R_X86_64_GOT32 | R_X86_64_GOT64 | R_X86_64_GOTPCREL64 | R_X86_64_GOTPLT64 => {
            Need::Got(GotKind::Addr)
        }
        _ => Need::Nothing,
    }
}

/// Results of scanning one section.
#[derive(Default)]
pub struct ScanOut {
    pub got: Vec<(SymRef, GotKind)>,
    pub plt: Vec<SymRef>,
    /// Undefined, strongly referenced symbols: (symbol, offset in section).
    pub undefined: Vec<(SymRef, u64)>,
    /// A relocation refers to the GOT base.
    pub needs_got_base: bool,
    /// Relative dynamic relocations this section needs in a position-independent output.
    pub dyn_relocs: u32,
    /// Relocations that cannot be expressed in a position-independent output.
    pub errors: Vec<String>,
}

/// In a position-independent executable, an absolute 64-bit address needs a load-time
/// R_X86_64_RELATIVE; absolute symbols and unresolved weak ones do not move.
pub fn needs_relative(link: &Link, alloc: bool, ty: u32, target: SymRef) -> bool {
    link.pie
        && alloc
        && ty == R_X86_64_64
        && !link.is_absolute(target)
        && !link.is_undefined(target)
}

/// Absolute relocations narrower than a pointer cannot be fixed up at load time.
fn pie_incompatible(link: &Link, ty: u32, target: SymRef) -> bool {
    link.pie
        && matches!(ty, R_X86_64_32 | R_X86_64_32S | R_X86_64_16 | R_X86_64_8)
        && !link.is_absolute(target)
        && !link.is_undefined(target)
}

/// When undefined symbols are let through (`--unresolved-symbols=ignore-all`,
/// `--warn-unresolved-symbols`) they are 0, which a PC-relative reference from an image
/// loaded anywhere cannot reach; ld.bfd refuses such a link too. (With `--noinhibit-exec`
/// the references were reported as errors, and the output is written all the same.)
fn unresolvable_in_pie(link: &Link, ty: u32, target: SymRef) -> bool {
    let args = &link.args;
    link.pie
        && matches!(
            ty,
            R_X86_64_PC32 | R_X86_64_PC64 | R_X86_64_PC16 | R_X86_64_PC8
        )
        && matches!(target, SymRef::Global(id)
            if link.symtab.syms[id as usize].is_undefined()
                && link.symtab.syms[id as usize].strong_ref)
        && (args.ignore_unresolved || args.warn_unresolved)
        && !args.noinhibit_exec
}

fn is_tls_pair_start(ty: u32) -> bool {
    ty == R_X86_64_TLSGD || ty == R_X86_64_TLSLD
}

pub fn scan_section(link: &Link, file: u32, sec: u32) -> ScanOut {
    let s = link.section(file, sec);
    let eh = link.eh.get(&(file, sec));
    let mut out = ScanOut::default();
    let mut skip_next_call = None;
    for r in s.relocs {
        let ty = r.r_type(LE, false);
        let off = r.r_offset.get(LE);
        if let Some(limit) = skip_next_call.take() {
            if off > limit - 12 && off <= limit {
                continue;
            }
        }
        let target = link.symref(file, r.r_sym(LE, false));
        if is_tls_pair_start(ty) {
            skip_next_call = Some(off + 12);
        }
        if ty == R_X86_64_NONE {
            continue;
        }
        if link.is_undefined(target) {
            if let SymRef::Global(id) = target {
                if link.symtab.syms[id as usize].strong_ref && s.is_alloc() {
                    out.undefined.push((target, off));
                }
            }
        }
        if !s.is_alloc() || eh.is_some_and(|e| e.map_offset(off).is_none()) {
            continue;
        }
        if needs_relative(link, true, ty, target) {
            out.dyn_relocs += 1;
        }
        let got_base_sym = matches!(target, SymRef::Global(id)
            if link.symtab.syms[id as usize].name == b"_GLOBAL_OFFSET_TABLE_");
        if got_base_sym
            || matches!(
                ty,
                R_X86_64_GOTPC32
                    | R_X86_64_GOTPC64
                    | R_X86_64_GOTOFF64
                    | R_X86_64_GOT32
                    | R_X86_64_GOT64
                    | R_X86_64_GOTPLT64
                    | R_X86_64_PLTOFF64
            )
        {
            out.needs_got_base = true;
        }
        if pie_incompatible(link, ty, target) {
            out.errors.push(format!(
                "{}:({}+{off:#x}): {} against `{}' cannot be used in a position-independent executable; recompile with -fPIE",
                link.files[file as usize].name,
                String::from_utf8_lossy(s.name),
                type_name(ty),
                link.display_name(target)
            ));
        }
        if unresolvable_in_pie(link, ty, target) {
            out.errors.push(format!(
                "{}:({}+{off:#x}): {} against undefined `{}' cannot be resolved to 0 in a position-independent executable",
                link.files[file as usize].name,
                String::from_utf8_lossy(s.name),
                type_name(ty),
                link.display_name(target)
            ));
        }
        if let Need::Got(kind) = needs(ty, s.data, off as usize, link, target) {
            out.got.push((target, kind));
        }
        if link.is_ifunc(target) {
            out.plt.push(target);
        }
    }
    out
}

/// `S + A` for a relocation against local symbol `sym` of `file` when that is a section
/// symbol of a kept input section that is copied whole or merged; `None` for anything else.
fn debug_section_target(link: &Link, file: u32, sym: u32, addend: i64) -> Option<u64> {
    use crate::linker::object_file::{Split, SHN_RESERVED};
    let f = &link.files[file as usize];
    if sym as usize >= f.first_global {
        return None;
    }
    let y = &f.symbols[sym as usize];
    if y.typ != STT_SECTION || y.shndx >= SHN_RESERVED {
        return None;
    }
    let sec = f.sections.get(y.shndx as usize)?;
    if !sec.is_included() || sec.out_sec == u32::MAX {
        return None;
    }
    match sec.split {
        Split::None => Some(
            (link.layout.secs[sec.out_sec as usize].addr + sec.out_off + y.value)
                .wrapping_add(addend as u64),
        ),
        Split::Merged => Some(link.merged_addr(
            (file, y.shndx),
            (y.value as i64).wrapping_add(addend) as u64,
        )),
        Split::EhFrame => None,
    }
}

struct Writer<'a> {
    buf: &'a mut [u8],
}

impl Writer<'_> {
    fn check(&self, off: usize, n: usize) -> Result<()> {
        if off + n > self.buf.len() {
            bail!("relocation at offset {off:#x} extends past the end of the section");
        }
        Ok(())
    }
    fn w64(&mut self, off: usize, v: u64) -> Result<()> {
        self.check(off, 8)?;
        self.buf[off..off + 8].copy_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn w32(&mut self, off: usize, v: u32) -> Result<()> {
        self.check(off, 4)?;
        self.buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn w16(&mut self, off: usize, v: u16) -> Result<()> {
        self.check(off, 2)?;
        self.buf[off..off + 2].copy_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn w8(&mut self, off: usize, v: u8) -> Result<()> {
        self.check(off, 1)?;
        self.buf[off] = v;
        Ok(())
    }
}

/// Applies the relocations of one input section to its bytes in the output (`buf`, already a
/// copy of the input), which sit at address `addr`. For `.eh_frame`, offsets are mapped
/// through the record split and relocations in dropped records are skipped.
pub fn apply_section(
    link: &Link,
    file: u32,
    sec: u32,
    buf: &mut [u8],
    addr: u64,
    eh: Option<&EhSection>,
    dyn_out: &mut [u8],
) -> Result<()> {
    let mut dyn_next = 0usize;
    let s = link.section(file, sec);
    let fname = &link.files[file as usize].name;
    // Only error messages need the name as text.
    let sname = || String::from_utf8_lossy(s.name);
    let alloc = s.is_alloc();
    let layout = &link.layout;
    let mut w = Writer { buf };
    let mut skip_until: Option<u64> = None;
    for r in s.relocs {
        let ty = r.r_type(LE, false);
        let in_off = r.r_offset.get(LE);
        if let Some(limit) = skip_until.take() {
            if in_off > limit - 12 && in_off <= limit {
                continue;
            }
        }
        let off = match eh {
            Some(eh) => match eh.map_offset(in_off) {
                Some(o) => o as usize,
                None => continue,
            },
            None => in_off as usize,
        };
        let a = r.r_addend.get(LE);
        // Debug information: nearly all its relocations are 32- or 64-bit addresses of a
        // section symbol of the same file plus an addend; they are written here with one
        // look at the symbol and its section (what the general path below computes for them,
        // through several). Anything else, or a value that does not fit, goes that way.
        if !alloc {
            if let Some(v) = debug_section_target(link, file, r.r_sym(LE, false), a) {
                let done = match ty {
                    R_X86_64_64 => w.w64(off, v).is_ok(),
                    R_X86_64_32 => u32::try_from(v).is_ok_and(|v| w.w32(off, v).is_ok()),
                    _ => false,
                };
                if done {
                    continue;
                }
            }
        }
        let target = link.symref(file, r.r_sym(LE, false));
        let p = addr + off as u64;
        let tsec = link.def_section(target);
        let discarded = tsec.is_some_and(|(f, x)| !link.section(f, x).is_included());
        // A section symbol of a merged section: the addend picks the piece (one lookup, the
        // commonest case in debug information, which points into `.debug_str` this way).
        let merged = if discarded {
            None
        } else {
            link.merged_section_target(target, a)
        };
        let s_a = match merged {
            Some(v) => v,
            None if discarded => a as u64,
            // Code and data keep calling a moved function's old place, also from inside the
            // moved section itself, so that every address of the function taken through a
            // relocation is the same one (function pointers compare equal). Only `.eh_frame`
            // describes the code where it really is.
            None => match link.trampoline(target) {
                Some(t) if alloc && eh.is_none() => t,
                _ => link.sym_addr(target),
            }
            .wrapping_add(a as u64),
        };
        let ctx = || {
            format!(
                "{fname}:({}+{in_off:#x}): {} against `{}'",
                sname(),
                type_name(ty),
                link.display_name(target)
            )
        };
        let overflow = |v: i128| -> anyhow::Error {
            anyhow::anyhow!(
                "{}: value {v:#x} does not fit in the relocated field",
                ctx()
            )
        };
        let fit_i32 = |v: i128| -> Result<u32> {
            if v < i32::MIN as i128 || v > i32::MAX as i128 {
                return Err(overflow(v));
            }
            Ok(v as i32 as u32)
        };
        let fit_u32 = |v: i128| -> Result<u32> {
            if v < 0 || v > u32::MAX as i128 {
                return Err(overflow(v));
            }
            Ok(v as u32)
        };
        if discarded && !alloc {
            // Debug information about code that was dropped: point it at 0 (1 in range lists,
            // where 0 would end the list early).
            let tomb = if s.name == b".debug_ranges" || s.name == b".debug_loc" {
                1u64
            } else {
                0
            };
            match ty {
                R_X86_64_64 | R_X86_64_DTPOFF64 => w.w64(off, tomb)?,
                R_X86_64_32 | R_X86_64_32S | R_X86_64_DTPOFF32 => w.w32(off, tomb as u32)?,
                _ => {}
            }
            continue;
        }
        let pc = |v: u64| -> i128 { v as i64 as i128 - p as i128 };
        match ty {
            R_X86_64_NONE => {}
            R_X86_64_64 => {
                w.w64(off, s_a)?;
                if needs_relative(link, alloc, ty, target) {
                    let e = dyn_out
                        .get_mut(dyn_next * 24..dyn_next * 24 + 24)
                        .ok_or_else(|| {
                            anyhow::anyhow!("{}: internal error: dynamic relocation count", ctx())
                        })?;
                    write_rela(e, p, R_X86_64_RELATIVE, s_a);
                    dyn_next += 1;
                }
            }
            R_X86_64_PC32 | R_X86_64_PLT32 => {
                let v = if link.is_undefined(target) && ty == R_X86_64_PLT32 {
                    // A call to an undefined weak function: GNU ld resolves it to address 0.
                    pc(s_a)
                } else {
                    pc(s_a)
                };
                w.w32(off, fit_i32(v)?)?
            }
            R_X86_64_32 => w.w32(off, fit_u32(s_a as i64 as i128)?)?,
            R_X86_64_32S => w.w32(off, fit_i32(s_a as i64 as i128)?)?,
            R_X86_64_16 => {
                let v = s_a as i64;
                if !(-32768..=65535).contains(&v) {
                    return Err(overflow(v as i128));
                }
                w.w16(off, v as u16)?
            }
            R_X86_64_PC16 => {
                let v = pc(s_a);
                if !(-32768..=32767).contains(&v) {
                    return Err(overflow(v));
                }
                w.w16(off, v as i16 as u16)?
            }
            R_X86_64_8 => {
                let v = s_a as i64;
                if !(-128..=255).contains(&v) {
                    return Err(overflow(v as i128));
                }
                w.w8(off, v as u8)?
            }
            R_X86_64_PC8 => {
                let v = pc(s_a);
                if !(-128..=127).contains(&v) {
                    return Err(overflow(v));
                }
                w.w8(off, v as i8 as u8)?
            }
            R_X86_64_PC64 => w.w64(off, s_a.wrapping_sub(p))?,
            R_X86_64_SIZE32 => w.w32(off, fit_u32(link.sym_size(target) as i128 + a as i128)?)?,
            R_X86_64_SIZE64 => w.w64(off, link.sym_size(target).wrapping_add(a as u64))?,
            R_X86_64_GOTPC32 => w.w32(off, fit_i32(pc(layout.got_base.wrapping_add(a as u64)))?)?,
            R_X86_64_GOTPC64 => {
                w.w64(off, layout.got_base.wrapping_add(a as u64).wrapping_sub(p))?
            }
            R_X86_64_GOTOFF64 => w.w64(off, s_a.wrapping_sub(layout.got_base))?,
            R_X86_64_GOTPCREL | R_X86_64_GOTPCRELX | R_X86_64_REX_GOTPCRELX => {
                match got_relaxation(link, ty, w.buf, off, target, s_a) {
                    Some(GotRelax::Lea) => {
                        w.buf[off - 2] = 0x8d; // mov foo@GOTPCREL(%rip) -> lea foo(%rip)
                        w.w32(off, fit_i32(pc(s_a))?)?;
                    }
                    Some(GotRelax::MovImm { wide }) => {
                        // mov foo@GOTPCREL(%rip), %reg -> mov $foo, %reg; the register moves
                        // from ModRM.reg to ModRM.rm, so REX.R becomes REX.B.
                        let reg = (w.buf[off - 1] >> 3) & 7;
                        if ty == R_X86_64_REX_GOTPCRELX {
                            let rex = w.buf[off - 3];
                            w.buf[off - 3] = (rex & !0x04) | ((rex & 0x04) >> 2);
                        }
                        w.buf[off - 2] = 0xc7;
                        w.buf[off - 1] = 0xc0 | reg;
                        let v = s_a.wrapping_add(4) as i64 as i128;
                        w.w32(off, if wide { fit_i32(v)? } else { fit_u32(v)? })?;
                    }
                    Some(GotRelax::Call) => {
                        w.buf[off - 2] = 0x67; // call *foo@GOTPCREL(%rip) -> addr32 call foo
                        w.buf[off - 1] = 0xe8;
                        w.w32(off, fit_i32(pc(s_a))?)?;
                    }
                    Some(GotRelax::Jmp) => {
                        w.buf[off - 2] = 0xe9; // jmp *foo@GOTPCREL(%rip) -> jmp foo; nop
                        w.w32(off - 1, fit_i32(pc(s_a) + 1)?)?;
                        w.w8(off + 3, 0x90)?;
                    }
                    None => {
                        let g = got(link, target, GotKind::Addr, &ctx)?;
                        w.w32(off, fit_i32(pc(g.wrapping_add(a as u64)))?)?;
                    }
                }
            }
            R_X86_64_GOTPCREL64 => {
                let g = got(link, target, GotKind::Addr, &ctx)?;
                w.w64(off, g.wrapping_add(a as u64).wrapping_sub(p))?
            }
            R_X86_64_GOT32 => {
                let g = got(link, target, GotKind::Addr, &ctx)?;
                w.w32(
                    off,
                    fit_i32(g as i128 - layout.got_base as i128 + a as i128)?,
                )?
            }
            R_X86_64_GOT64 | R_X86_64_GOTPLT64 => {
                let g = got(link, target, GotKind::Addr, &ctx)?;
                w.w64(off, g.wrapping_sub(layout.got_base).wrapping_add(a as u64))?
            }
            R_X86_64_PLTOFF64 => w.w64(off, s_a.wrapping_sub(layout.got_base))?,
            R_X86_64_TPOFF32 => w.w32(off, fit_i32(s_a as i64 as i128 - layout.tp as i128)?)?,
            R_X86_64_TPOFF64 => w.w64(off, s_a.wrapping_sub(layout.tp))?,
            R_X86_64_DTPOFF32 => {
                // In code, local-dynamic accesses were relaxed to offsets from the thread
                // pointer; debug information wants offsets in the TLS block.
                let base = if alloc { layout.tp } else { layout.tls_start };
                w.w32(off, fit_i32(s_a as i64 as i128 - base as i128)?)?
            }
            R_X86_64_DTPOFF64 => {
                let base = if alloc { layout.tp } else { layout.tls_start };
                w.w64(off, s_a.wrapping_sub(base))?
            }
            R_X86_64_DTPMOD64 => w.w64(off, 1)?,
            R_X86_64_GOTTPOFF => {
                if ie_relaxable(w.buf, off) {
                    let rex = w.buf[off - 3];
                    let op = w.buf[off - 2];
                    let reg = (w.buf[off - 1] >> 3) & 7;
                    let high = rex == 0x4c;
                    if op == 0x8b {
                        // movq foo@gottpoff(%rip), %reg -> movq $tpoff, %reg
                        w.buf[off - 3] = if high { 0x49 } else { 0x48 };
                        w.buf[off - 2] = 0xc7;
                        w.buf[off - 1] = 0xc0 | reg;
                    } else if reg == 4 {
                        // addq foo@gottpoff(%rip), %rsp/%r12 -> addq $tpoff, %reg
                        w.buf[off - 3] = if high { 0x49 } else { 0x48 };
                        w.buf[off - 2] = 0x81;
                        w.buf[off - 1] = 0xc4;
                    } else {
                        // addq foo@gottpoff(%rip), %reg -> leaq tpoff(%reg), %reg
                        w.buf[off - 3] = if high { 0x4d } else { 0x48 };
                        w.buf[off - 2] = 0x8d;
                        w.buf[off - 1] = 0x80 | (reg << 3) | reg;
                    }
                    w.w32(off, fit_i32(s_a as i64 as i128 + 4 - layout.tp as i128)?)?;
                } else {
                    let g = got(link, target, GotKind::TpOff, &ctx)?;
                    w.w32(off, fit_i32(pc(g.wrapping_add(a as u64)))?)?;
                }
            }
            R_X86_64_TLSGD => {
                // General dynamic -> local exec:
                //   data16 lea x@tlsgd(%rip),%rdi; data16 data16 rex64 call __tls_get_addr
                // (or `data16 rex64 call *__tls_get_addr@GOTPCREL(%rip)`) becomes
                //   mov %fs:0,%rax; lea x@tpoff(%rax),%rax
                let b = &w.buf;
                let tpoff = fit_i32(s_a as i64 as i128 + 4 - layout.tp as i128)?;
                if is_large_model_tls_call(b, off) {
                    // The large code model's 22 bytes become those two instructions and a
                    // 6-byte nop, as in GNU ld.
                    w.buf[off - 3..off + 19].copy_from_slice(&[
                        0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0, 0x48, 0x8d, 0x80, 0, 0, 0, 0,
                        0x66, 0x0f, 0x1f, 0x44, 0, 0,
                    ]);
                    w.w32(off + 9, tpoff)?;
                    // The call's relocation is at +6, inside the window skipped below.
                    skip_until = Some(in_off + 12);
                    continue;
                }
                let ok = off >= 4
                    && off + 12 <= b.len()
                    && b[off - 4..off] == [0x66, 0x48, 0x8d, 0x3d]
                    && (b[off + 4..off + 8] == [0x66, 0x66, 0x48, 0xe8]
                        || b[off + 4..off + 8] == [0x66, 0x48, 0xff, 0x15]);
                if !ok {
                    bail!("{}: unsupported general-dynamic TLS code sequence", ctx());
                }
                w.buf[off - 4..off + 8]
                    .copy_from_slice(&[0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0, 0x48, 0x8d, 0x80]);
                w.w32(off + 8, tpoff)?;
                skip_until = Some(in_off + 12);
            }
            R_X86_64_TLSLD => {
                // Local dynamic -> local exec: the call becomes `mov %fs:0,%rax`.
                let b = &w.buf;
                let ok = off >= 3 && off + 6 <= b.len() && b[off - 3..off] == [0x48, 0x8d, 0x3d];
                if ok && b[off + 4] == 0xe8 && off + 9 <= b.len() {
                    w.buf[off - 3..off + 9].copy_from_slice(&[
                        0x66, 0x66, 0x66, 0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0,
                    ]);
                } else if ok && b[off + 4..off + 6] == [0xff, 0x15] && off + 10 <= b.len() {
                    w.buf[off - 3..off + 10].copy_from_slice(&[
                        0x66, 0x66, 0x66, 0x66, 0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0,
                    ]);
                } else if is_large_model_tls_call(b, off) {
                    // Large code model: a 13-byte nop, then `mov %fs:0,%rax` (GNU ld's bytes).
                    w.buf[off - 3..off + 19].copy_from_slice(&[
                        0x66, 0x66, 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0, 0x64, 0x48,
                        0x8b, 0x04, 0x25, 0, 0, 0, 0,
                    ]);
                } else {
                    bail!("{}: unsupported local-dynamic TLS code sequence", ctx());
                }
                skip_until = Some(in_off + 12);
            }
            R_X86_64_GOTPC32_TLSDESC => {
                // lea x@tlsdesc(%rip), %reg -> mov $x@tpoff, %reg
                let b = &w.buf;
                if off < 3
                    || off + 4 > b.len()
                    || b[off - 3] & 0xfb != 0x48
                    || b[off - 2] != 0x8d
                    || b[off - 1] & 0xc7 != 0x05
                {
                    bail!("{}: unsupported TLS descriptor code sequence", ctx());
                }
                let rex = w.buf[off - 3];
                let reg = (w.buf[off - 1] >> 3) & 7;
                w.buf[off - 3] = 0x48 | ((rex >> 2) & 1);
                w.buf[off - 2] = 0xc7;
                w.buf[off - 1] = 0xc0 | reg;
                w.w32(off, fit_i32(s_a as i64 as i128 + 4 - layout.tp as i128)?)?;
            }
            R_X86_64_TLSDESC_CALL => {
                // call *x@tlscall(%rax) -> xchg %ax,%ax
                if off + 2 > w.buf.len() || w.buf[off..off + 2] != [0xff, 0x10] {
                    bail!("{}: unsupported TLS descriptor call sequence", ctx());
                }
                w.buf[off] = 0x66;
                w.buf[off + 1] = 0x90;
            }
            _ => bail!(
                "{fname}:({}+{in_off:#x}): unsupported relocation type {} ({ty})",
                sname(),
                type_name(ty)
            ),
        }
    }
    Ok(())
}

/// The large code model's call of `__tls_get_addr` after `lea x@tlsgd(%rip),%rdi` (or
/// `x@tlsld`), whose displacement is at `off`: `movabs $__tls_get_addr@pltoff,%rax;
/// add %reg,%rax; call *%rax`, with the GOT base in `%reg`. 22 bytes from `off - 3`.
fn is_large_model_tls_call(b: &[u8], off: usize) -> bool {
    let call = off + 4;
    off >= 3
        && call + 15 <= b.len()
        && b[off - 3..off] == [0x48, 0x8d, 0x3d]
        && b[call..call + 2] == [0x48, 0xb8]
        // REX.W, with REX.R when the GOT base is in %r8–%r15.
        && b[call + 10] & 0xfb == 0x48
        && b[call + 11] == 0x01
        // A register-direct ModRM adding into %rax.
        && b[call + 12] & 0xc7 == 0xc0
        && b[call + 13..call + 15] == [0xff, 0xd0]
}

/// Writes one Elf64_Rela without a symbol.
pub fn write_rela(e: &mut [u8], offset: u64, ty: u32, addend: u64) {
    e[0..8].copy_from_slice(&offset.to_le_bytes());
    e[8..16].copy_from_slice(&(ty as u64).to_le_bytes());
    e[16..24].copy_from_slice(&addend.to_le_bytes());
}

fn got(link: &Link, target: SymRef, kind: GotKind, ctx: &dyn Fn() -> String) -> Result<u64> {
    link.got_addr(target, kind)
        .ok_or_else(|| anyhow::anyhow!("{}: internal error: no GOT entry", ctx()))
}
