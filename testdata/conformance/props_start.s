/* Entry point; IBT and SHSTK (X86_FEATURE_1_AND = 3), FEATURE_2_USED x86, ISA_1_USED baseline. */
        .text
        .globl _start
_start: mov $60, %eax
        xor %edi, %edi
        syscall
        .section .note.gnu.property, "a", @note
        .p2align 3
        .long 4, 2f - 1f, 5     /* namesz, descsz, NT_GNU_PROPERTY_TYPE_0 */
        .asciz "GNU"
1:
        .long 0xc0000002, 4, 3
        .p2align 3
        .long 0xc0010001, 4, 1
        .p2align 3
        .long 0xc0010002, 4, 1
        .p2align 3
2:
