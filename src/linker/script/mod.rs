//! GNU ld linker scripts: the syntax tree and its parser.
//!
//! [`parse_script`] turns the text of a script into a [`Script`], and [`parse_expression`]
//! a lone expression (as in `--defsym`) into an [`Expr`]; both check syntax only.
//! Giving the commands their meaning (layout, symbol values, `INSERT`, `INCLUDE`) is the
//! job of later stages.

// Not every node, helper and accessor is used by the linker yet.
#![allow(dead_code, unused_imports)]

pub mod ast;
mod lexer;
mod parse;
#[cfg(test)]
mod tests;

pub use ast::*;
pub use parse::{parse_expression, parse_script, ScriptError};
