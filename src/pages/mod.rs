//! The page tools: per-page digests of static ELF images, checking them, comparing images,
//! and starting a program with its pages shared through a page store. They read and write
//! images only; nothing here depends on the linker.

pub mod digest;
pub mod elf_edit;
pub mod run;
pub mod share;
pub mod store;
pub mod verify;
