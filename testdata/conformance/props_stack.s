/* Stack size 2 MiB and ISA_1_NEEDED baseline. */
        .text
        .globl f_stack
f_stack: ret
        .section .note.gnu.property, "a", @note
        .p2align 3
        .long 4, 2f - 1f, 5     /* namesz, descsz, NT_GNU_PROPERTY_TYPE_0 */
        .asciz "GNU"
1:
        .long 1, 8; .quad 0x200000
        .p2align 3
        .long 0xc0008002, 4, 1
        .p2align 3
2:
