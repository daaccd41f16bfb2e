/* IBT only (X86_FEATURE_1_AND = 1), ISA_1_NEEDED x86-64-v2. */
        .text
        .globl f_ibt
f_ibt:  ret
        .section .note.gnu.property, "a", @note
        .p2align 3
        .long 4, 2f - 1f, 5     /* namesz, descsz, NT_GNU_PROPERTY_TYPE_0 */
        .asciz "GNU"
1:
        .long 0xc0000002, 4, 1
        .p2align 3
        .long 0xc0008002, 4, 2
        .p2align 3
2:
