//! Facts about x86-64 relocation types that both input checking and relocation need: their
//! names for messages and the bytes each one touches. Kept free of linker state so the object
//! reader can use it without depending on relocation processing.

use object::elf::*;

/// The ELF name of relocation type `t`, or its number when spacer does not know it.
pub fn type_name(t: u32) -> String {
    match name(t) {
        Some(n) => n.to_string(),
        None => format!("relocation type {t}"),
    }
}

const fn name(t: u32) -> Option<&'static str> {
    Some(match t {
        R_X86_64_NONE => "R_X86_64_NONE",
        R_X86_64_64 => "R_X86_64_64",
        R_X86_64_PC32 => "R_X86_64_PC32",
        R_X86_64_GOT32 => "R_X86_64_GOT32",
        R_X86_64_PLT32 => "R_X86_64_PLT32",
        R_X86_64_COPY => "R_X86_64_COPY",
        R_X86_64_GLOB_DAT => "R_X86_64_GLOB_DAT",
        R_X86_64_JUMP_SLOT => "R_X86_64_JUMP_SLOT",
        R_X86_64_RELATIVE => "R_X86_64_RELATIVE",
        R_X86_64_GOTPCREL => "R_X86_64_GOTPCREL",
        R_X86_64_32 => "R_X86_64_32",
        R_X86_64_32S => "R_X86_64_32S",
        R_X86_64_16 => "R_X86_64_16",
        R_X86_64_PC16 => "R_X86_64_PC16",
        R_X86_64_8 => "R_X86_64_8",
        R_X86_64_PC8 => "R_X86_64_PC8",
        R_X86_64_DTPMOD64 => "R_X86_64_DTPMOD64",
        R_X86_64_DTPOFF64 => "R_X86_64_DTPOFF64",
        R_X86_64_TPOFF64 => "R_X86_64_TPOFF64",
        R_X86_64_TLSGD => "R_X86_64_TLSGD",
        R_X86_64_TLSLD => "R_X86_64_TLSLD",
        R_X86_64_DTPOFF32 => "R_X86_64_DTPOFF32",
        R_X86_64_GOTTPOFF => "R_X86_64_GOTTPOFF",
        R_X86_64_TPOFF32 => "R_X86_64_TPOFF32",
        R_X86_64_PC64 => "R_X86_64_PC64",
        R_X86_64_GOTOFF64 => "R_X86_64_GOTOFF64",
        R_X86_64_GOTPC32 => "R_X86_64_GOTPC32",
        R_X86_64_GOT64 => "R_X86_64_GOT64",
        R_X86_64_GOTPCREL64 => "R_X86_64_GOTPCREL64",
        R_X86_64_GOTPC64 => "R_X86_64_GOTPC64",
        R_X86_64_GOTPLT64 => "R_X86_64_GOTPLT64",
        R_X86_64_PLTOFF64 => "R_X86_64_PLTOFF64",
        R_X86_64_SIZE32 => "R_X86_64_SIZE32",
        R_X86_64_SIZE64 => "R_X86_64_SIZE64",
        R_X86_64_GOTPC32_TLSDESC => "R_X86_64_GOTPC32_TLSDESC",
        R_X86_64_TLSDESC_CALL => "R_X86_64_TLSDESC_CALL",
        R_X86_64_TLSDESC => "R_X86_64_TLSDESC",
        R_X86_64_IRELATIVE => "R_X86_64_IRELATIVE",
        R_X86_64_GOTPCRELX => "R_X86_64_GOTPCRELX",
        R_X86_64_REX_GOTPCRELX => "R_X86_64_REX_GOTPCRELX",
        _ => return None,
    })
}

/// `extent` of a type spacer knows, `None` for others: from a table, as the input check asks it
/// of every relocation.
pub fn known_extent(ty: u32) -> Option<(u64, u64)> {
    const TABLE: [Option<(u8, u8)>; 64] = {
        let mut t = [None; 64];
        let mut i = 0;
        while i < 64 {
            if name(i as u32).is_some() {
                let (b, w) = extent(i as u32);
                t[i] = Some((b as u8, w as u8));
            }
            i += 1;
        }
        t
    };
    match TABLE.get(ty as usize) {
        Some(&Some((b, w))) => Some((b as u64, w as u64)),
        _ => None,
    }
}

/// The bytes a relocation of type `ty` touches around its offset: (instruction bytes before it
/// that TLS and GOT relaxation read and rewrite, width of the field itself).
pub const fn extent(ty: u32) -> (u64, u64) {
    match ty {
        R_X86_64_NONE => (0, 0),
        R_X86_64_64 | R_X86_64_PC64 | R_X86_64_GOTOFF64 | R_X86_64_GOTPC64 | R_X86_64_GOT64
        | R_X86_64_GOTPCREL64 | R_X86_64_GOTPLT64 | R_X86_64_PLTOFF64 | R_X86_64_DTPOFF64
        | R_X86_64_TPOFF64 | R_X86_64_DTPMOD64 | R_X86_64_SIZE64 => (0, 8),
        R_X86_64_16 | R_X86_64_PC16 => (0, 2),
        R_X86_64_8 | R_X86_64_PC8 => (0, 1),
        // `call *x@TLSCALL(%rax)`: the two-byte call at the offset.
        R_X86_64_TLSDESC_CALL => (0, 2),
        R_X86_64_GOTPCRELX => (2, 4),
        // The shortest instructions these stand in (`lea x@tlsgd(%rip),%rdi` of large-model
        // code has no data16 prefix).
        R_X86_64_REX_GOTPCRELX
        | R_X86_64_GOTTPOFF
        | R_X86_64_TLSGD
        | R_X86_64_TLSLD
        | R_X86_64_GOTPC32_TLSDESC => (3, 4),
        // Everything else is a 32-bit field; unknown types are reported when applied.
        _ => (0, 4),
    }
}
