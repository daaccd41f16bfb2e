# Hand-written sections: an odd-sized code section, a section with a large alignment and a
# non-allocated note, plus symbols at section boundaries.
        .section .text.asm, "ax", @progbits
        .globl asm_entry
asm_entry:
        nop
        nop
        nop
        ret
        .section .rodata.big_align, "a", @progbits
        .balign 256
        .globl big_aligned
big_aligned:
        .quad 0x1122334455667788
        .section .comment.extra, "", @progbits
        .asciz "not allocated"
        .section .tab_55, "a", @progbits
        .globl tab55
tab55:
        .long 55
        .section .note.GNU-stack, "", @progbits
