//! Linker-script expressions: their values at a point of the layout, and the section a value
//! belongs to (GNU ld's rules for absolute and section-relative symbols).

use super::script::Plan;
use crate::linker::context::Link;
use crate::linker::layout::PAGE;
use crate::linker::script::ast::{AssignOp, BinaryOp, ConstantKind, Expr, UnaryOp};
use crate::linker::symbols::FastMap;
use anyhow::{bail, Result};

/// The result of one evaluation of the SECTIONS statements.
pub(super) struct SecInfo {
    pub(super) addr: u64,
    pub(super) lma: u64,
    pub(super) size: u64,
    pub(super) align: u64,
}

pub(super) struct Env<'a> {
    pub(super) link: &'a Link,
    pub(super) plan_values: &'a [u64],
    pub(super) sym_index: &'a FastMap<String, usize>,
    pub(super) secs: &'a FastMap<String, SecInfo>,
    pub(super) headers_size: u64,
    pub(super) base: u64,
    pub(super) final_pass: bool,
}

impl Env<'_> {
    pub(super) fn symbol(&self, name: &str) -> Result<u64> {
        if let Some(&i) = self.sym_index.get(name) {
            return Ok(self.plan_values[i]);
        }
        match self.link.symtab.get(name.as_bytes()) {
            Some(id) if !self.link.symtab.syms[id as usize].is_undefined() => {
                Ok(self.link.symtab.syms[id as usize].value)
            }
            _ if !self.final_pass => Ok(0),
            _ => bail!("undefined symbol '{name}' referenced in expression"),
        }
    }

    pub(super) fn sec(&self, name: &str) -> Option<&SecInfo> {
        self.secs.get(name)
    }

    /// Evaluates an expression; the flag says whether it is a plain number (which GNU ld takes
    /// as relative to the section when assigned to `.` inside an output section).
    pub(super) fn eval(&self, e: &Expr, dot: u64) -> Result<(u64, bool)> {
        let v = |x: &Expr| -> Result<u64> { Ok(self.eval(x, dot)?.0) };
        Ok(match e {
            Expr::Number(n) => (*n, true),
            Expr::Symbol(s) => (self.symbol(s)?, false),
            Expr::Dot => (dot, false),
            Expr::Unary(op, x) => {
                let (a, c) = self.eval(x, dot)?;
                let r = match op {
                    UnaryOp::Neg => a.wrapping_neg(),
                    UnaryOp::Not => (a == 0) as u64,
                    UnaryOp::BitNot => !a,
                };
                (r, c)
            }
            Expr::Binary(op, a, b) => {
                let (x, cx) = self.eval(a, dot)?;
                let (y, cy) = self.eval(b, dot)?;
                let r = match op {
                    BinaryOp::Mul => x.wrapping_mul(y),
                    BinaryOp::Div => {
                        if y == 0 {
                            bail!("division by zero in linker script expression");
                        }
                        x / y
                    }
                    BinaryOp::Mod => {
                        if y == 0 {
                            bail!("division by zero in linker script expression");
                        }
                        x % y
                    }
                    BinaryOp::Add => x.wrapping_add(y),
                    BinaryOp::Sub => x.wrapping_sub(y),
                    BinaryOp::Shl => x.wrapping_shl(y as u32),
                    BinaryOp::Shr => x.wrapping_shr(y as u32),
                    BinaryOp::Eq => (x == y) as u64,
                    BinaryOp::Ne => (x != y) as u64,
                    BinaryOp::Lt => ((x as i64) < (y as i64)) as u64,
                    BinaryOp::Le => ((x as i64) <= (y as i64)) as u64,
                    BinaryOp::Gt => ((x as i64) > (y as i64)) as u64,
                    BinaryOp::Ge => ((x as i64) >= (y as i64)) as u64,
                    BinaryOp::BitAnd => x & y,
                    BinaryOp::BitXor => x ^ y,
                    BinaryOp::BitOr => x | y,
                    BinaryOp::LogAnd => (x != 0 && y != 0) as u64,
                    BinaryOp::LogOr => (x != 0 || y != 0) as u64,
                };
                // The difference of two addresses is a plain number, as in GNU ld.
                let c = if *op == BinaryOp::Sub {
                    cx == cy
                } else {
                    cx && cy
                };
                (r, c)
            }
            Expr::Conditional(c, a, b) => {
                if v(c)? != 0 {
                    self.eval(a, dot)?
                } else {
                    self.eval(b, dot)?
                }
            }
            Expr::Align { value, align } => {
                let a = v(align)?.max(1);
                let x = match value {
                    Some(x) => v(x)?,
                    None => dot,
                };
                (x.next_multiple_of(a), false)
            }
            Expr::Block(x) => (v(x)?, false),
            Expr::AlignOf(s) => (self.sec(s).map(|s| s.align).unwrap_or(0), true),
            Expr::SizeOf(s) => (self.sec(s).map(|s| s.size).unwrap_or(0), true),
            Expr::SizeOfHeaders => (self.headers_size, true),
            Expr::Addr(s) => (self.sec(s).map(|s| s.addr).unwrap_or(0), false),
            Expr::LoadAddr(s) => (self.sec(s).map(|s| s.lma).unwrap_or(0), false),
            Expr::Defined(s) => {
                let d = self.sym_index.contains_key(s)
                    || self
                        .link
                        .symtab
                        .get(s.as_bytes())
                        .is_some_and(|id| !self.link.symtab.syms[id as usize].is_undefined());
                (d as u64, true)
            }
            Expr::Absolute(x) => (v(x)?, false),
            Expr::Max(a, b) => (v(a)?.max(v(b)?), false),
            Expr::Min(a, b) => (v(a)?.min(v(b)?), false),
            Expr::Constant(ConstantKind::MaxPageSize) => (self.link.args.max_page_size, true),
            Expr::Constant(ConstantKind::CommonPageSize) => (self.link.args.common_page_size, true),
            Expr::DataSegmentAlign { max_page_size, .. } => {
                (dot.next_multiple_of(v(max_page_size)?.max(1)), false)
            }
            Expr::DataSegmentRelroEnd { value, .. } => (
                v(value)?.next_multiple_of(self.link.args.common_page_size.max(PAGE)),
                false,
            ),
            Expr::DataSegmentEnd(x) => (v(x)?, false),
            Expr::SegmentStart { segment, default } => {
                let d = v(default)?;
                (
                    if segment == "text-segment" {
                        self.base
                    } else {
                        d
                    },
                    false,
                )
            }
            Expr::Next(x) => (dot.next_multiple_of(v(x)?.max(1)), false),
            Expr::Origin(r) | Expr::Length(r) => bail!("MEMORY region '{r}' is not supported"),
            Expr::Log2Ceil(x) => {
                let n = v(x)?;
                (
                    if n <= 1 {
                        0
                    } else {
                        64 - (n - 1).leading_zeros() as u64
                    },
                    true,
                )
            }
            Expr::Assert { expr, message } => {
                if self.final_pass && v(expr)? == 0 {
                    bail!("assertion failed: {message}");
                }
                (0, true)
            }
        })
    }
}

pub(super) fn apply_op(op: AssignOp, old: u64, v: u64) -> u64 {
    match op.binary_op() {
        None => v,
        Some(BinaryOp::Add) => old.wrapping_add(v),
        Some(BinaryOp::Sub) => old.wrapping_sub(v),
        Some(BinaryOp::Mul) => old.wrapping_mul(v),
        Some(BinaryOp::Div) => old.checked_div(v).unwrap_or(0),
        Some(BinaryOp::Shl) => old.wrapping_shl(v as u32),
        Some(BinaryOp::Shr) => old.wrapping_shr(v as u32),
        Some(BinaryOp::BitAnd) => old & v,
        Some(BinaryOp::BitOr) => old | v,
        Some(BinaryOp::BitXor) => old ^ v,
        Some(_) => v,
    }
}

/// The section an expression's value belongs to, by GNU ld's rules: a plain number, an
/// absolute value, or relative to a named output section. `dot` records whether `.` (or
/// ALIGN, SEGMENT_START) was involved and not made absolute since.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ValSec {
    Plain,
    Abs,
    Sec(String),
}

pub(super) fn classify(e: &Expr, in_section: bool, link: &Link, plan: &Plan) -> (ValSec, bool) {
    let ctx = || {
        if in_section {
            ValSec::Plain
        } else {
            ValSec::Abs
        }
    };
    match e {
        Expr::Number(_) => (ctx(), false),
        Expr::Dot | Expr::Align { .. } | Expr::SegmentStart { .. } | Expr::Origin(_) => {
            (ctx(), true)
        }
        Expr::Addr(s) => (ValSec::Sec(s.clone()), false),
        Expr::LoadAddr(_) => (ValSec::Abs, false),
        Expr::Absolute(_) | Expr::Next(_) => (ValSec::Abs, false),
        Expr::Symbol(name) => {
            if plan.sym_index.contains_key(name) {
                return (ctx(), false);
            }
            let sec = link.symtab.get(name.as_bytes()).and_then(|id| {
                let (f, s) = link.symtab.syms[id as usize].file_sym()?;
                let sym = &link.files[f as usize].symbols[s as usize];
                if sym.is_abs()
                    || sym.is_undefined()
                    || sym.shndx >= crate::linker::object_file::SHN_RESERVED
                {
                    return None;
                }
                let sec = link.section(f, sym.shndx);
                link.layout
                    .secs
                    .get(sec.out_sec as usize)
                    .map(|os| String::from_utf8_lossy(&os.name).into_owned())
            });
            (sec.map(ValSec::Sec).unwrap_or_else(ctx), false)
        }
        Expr::Unary(_, x) | Expr::Block(x) | Expr::Log2Ceil(x) | Expr::DataSegmentEnd(x) => {
            let (s, d) = classify(x, in_section, link, plan);
            if matches!(e, Expr::Log2Ceil(_)) {
                (ValSec::Plain, d)
            } else {
                (s, d)
            }
        }
        Expr::Conditional(c, a, b) => {
            let (_, dc) = classify(c, in_section, link, plan);
            // The branch taken is not known here; both branches usually agree.
            let (s, d) = classify(a, in_section, link, plan);
            let _ = b;
            (s, d || dc)
        }
        Expr::Binary(op, a, b) => {
            let (sa, da) = classify(a, in_section, link, plan);
            let (sb, db) = classify(b, in_section, link, plan);
            let keeps = matches!(
                op,
                BinaryOp::Add
                    | BinaryOp::Sub
                    | BinaryOp::Mul
                    | BinaryOp::Div
                    | BinaryOp::Mod
                    | BinaryOp::Shl
                    | BinaryOp::Shr
                    | BinaryOp::BitAnd
                    | BinaryOp::BitOr
                    | BinaryOp::BitXor
            );
            if !keeps {
                return (ValSec::Plain, da || db);
            }
            if sa != sb {
                match (&sa, &sb) {
                    (ValSec::Plain, s) | (s, ValSec::Plain) => (s.clone(), da || db),
                    _ => (ValSec::Abs, false),
                }
            } else {
                (ctx(), da || db)
            }
        }
        Expr::Max(a, b) | Expr::Min(a, b) => {
            let (sa, da) = classify(a, in_section, link, plan);
            let (sb, db) = classify(b, in_section, link, plan);
            if sa != sb && sa != ValSec::Plain && sb != ValSec::Plain {
                (ValSec::Abs, false)
            } else if sa == ValSec::Plain {
                (sb, da || db)
            } else {
                (sa, da || db)
            }
        }
        _ => (ValSec::Plain, false),
    }
}
