//! spacer as a library: the linker and the page tools behind the `spacer` command, also
//! reached by the fuzz targets under `fuzz/`.
//!
//! The pipeline runs in one direction: arguments → inputs → symbol resolution → garbage
//! collection → relocation scan → layout → output (see `linker`).

pub mod atomic_file;
pub mod detach;
pub mod fleet_plan;
pub mod layout_file;
pub mod linker;
pub mod pages;
pub mod vm;
