/* IBT and SHSTK, FEATURE_2_USED x87, ISA_1_USED v2, stack size 1 MiB, no copy on protected. */
        .text
        .globl f_full
f_full: ret
        .section .note.gnu.property, "a", @note
        .p2align 3
        .long 4, 2f - 1f, 5     /* namesz, descsz, NT_GNU_PROPERTY_TYPE_0 */
        .asciz "GNU"
1:
        .long 1, 8; .quad 0x100000
        .p2align 3
        .long 2, 0
        .p2align 3
        .long 0xc0000002, 4, 3
        .p2align 3
        .long 0xc0010001, 4, 2
        .p2align 3
        .long 0xc0010002, 4, 2
        .p2align 3
2:
