//! The linker: GNU ld's command line in, a static ELF image (or a relocatable object) out.

pub mod args;
pub mod context;
pub mod eh_frame;
pub mod gc;
pub mod glob;
pub mod input;
pub mod layout;
pub mod map;
pub mod merge;
pub mod object_file;
pub mod output;
pub mod reloc;
pub mod relocatable;
pub mod script;
pub mod stable;
pub mod symbols;
