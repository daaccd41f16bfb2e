//! What the version-stable layout places: pieces (input sections) of libraries, the output
//! sections that have per-library regions, and how those regions are aligned.

use crate::linker::layout::Chunk;

/// Smallest room worth a trampoline: `jmp rel32` is 5 bytes.
pub const TRAMPOLINE: u64 = 5;

pub const PAGE: u64 = 4096;

/// A library with at most this much in a regioned section (a C runtime file's few bytes of
/// `.data`, a program's small `.rodata`) gets a region that shares its page with its
/// neighbours: a page for each would grow a program by up to a page per library and section.
pub const SMALL: u64 = PAGE / 4;

/// The alignment of a small region.
pub const SMALL_ALIGN: u64 = 64;

/// Output sections whose inputs are grouped into per-library regions on pages. Sections whose
/// order carries meaning (.init/.fini fragments, constructor tables) keep the script's order;
/// the TLS template has regions of its own (`is_tls_regioned`). `.eh_frame` is walked record by
/// record, so the room between its regions holds filler records (`eh_frame::fill_gaps`).
pub fn is_regioned(name: &str) -> bool {
    matches!(
        name,
        ".text" | ".rodata" | ".data" | ".data.rel.ro" | ".bss" | ".eh_frame"
    )
}

/// The TLS template. Code reaches thread-local variables at offsets from the end of the TLS
/// block, so the block keeps its size and each variable its offset: libraries get regions here
/// too, on 16-byte boundaries instead of pages (the template is copied for every thread).
pub fn is_tls_regioned(name: &str) -> bool {
    matches!(name, ".tdata" | ".tbss")
}

/// How regions of an output section are aligned and how much room a new one reserves.
#[derive(Clone, Copy)]
pub struct Granule {
    pub align: u64,
    /// The section keeps every recorded region's room, not only up to its last byte.
    pub keep_size: bool,
}

impl Granule {
    pub fn of(section: &str) -> Granule {
        if is_tls_regioned(section) {
            Granule {
                align: 16,
                keep_size: true,
            }
        } else {
            Granule {
                align: PAGE,
                keep_size: false,
            }
        }
    }

    /// Room a new region reserves for `size` bytes: an eighth more (at least 64 bytes) for
    /// TLS, where a new variable is small, and for a small region (at most `SMALL` bytes, in
    /// units of `SMALL_ALIGN`); else a sixteenth more in pages.
    pub fn reserve(&self, size: u64) -> u64 {
        if size == 0 {
            0
        } else if self.keep_size {
            (size + (size / 8).max(64)).next_multiple_of(self.align)
        } else if size <= SMALL {
            (size + (size / 8).max(64)).next_multiple_of(SMALL_ALIGN)
        } else {
            (size + size / 16).next_multiple_of(self.align)
        }
    }

    /// Where a region of `reserved` bytes starts: on a page, except a small one (whose room is
    /// never whole pages), which shares its page with its neighbours.
    pub fn region_align(&self, reserved: u64) -> u64 {
        if self.keep_size || reserved.is_multiple_of(PAGE) {
            self.align
        } else {
            SMALL_ALIGN
        }
    }
}

/// One piece of a library in a regioned section: the chunk, its key (`member:section`), size
/// and alignment.
pub struct Piece {
    pub chunk: Chunk,
    pub key: String,
    pub size: u64,
    pub align: u64,
    /// Code: a moved piece leaves a trampoline.
    pub exec: bool,
    /// Content hash (see `content_hash`).
    pub hash: u64,
    /// Function symbols inside it, not at its start, with their offsets.
    pub funcs: std::sync::Arc<[(String, u64)]>,
    /// Input sections of its own library it refers to.
    pub refs: std::sync::Arc<[(u32, u32)]>,
    /// Input sections of other libraries that refer to it.
    pub callers: std::sync::Arc<[(u32, u32)]>,
}

impl Piece {
    /// Referenced from another library: its address matters to pages outside its own.
    pub fn external(&self) -> bool {
        !self.callers.is_empty()
    }
}

/// Who a piece is: its library, its key, its content hash, and whether code or data of another
/// library refers to it.
#[derive(Debug, Clone)]
pub struct PieceId {
    pub library: std::sync::Arc<str>,
    pub key: std::sync::Arc<str>,
    pub hash: u64,
    pub funcs: std::sync::Arc<[(String, u64)]>,
    pub refs: std::sync::Arc<[(u32, u32)]>,
    pub callers: std::sync::Arc<[(u32, u32)]>,
}

/// One library's pieces in a regioned section, in their usual order.
pub type Group = (String, Vec<Piece>);
