//! Common symbols (`int x;` in C built with -fcommon): one block at the end of `.bss`, in the
//! order GNU ld gives them.

use crate::linker::context::{Commons, Link};
use crate::linker::symbols::{Def, FastMap};

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
pub fn allocate_commons(link: &Link) -> Commons {
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
    let mut syms = Vec::new();
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
        syms.push((id, off));
        off += size;
        align = align.max(a);
    }
    Commons {
        syms,
        size: off,
        align,
    }
}
