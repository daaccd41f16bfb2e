/* No property note at all. */
        .text
        .globl f_none
f_none: ret
/* A 4-byte aligned note of another owner, which orphan placement must keep apart from the
   8-byte aligned property note. */
        .section .note.spacer-test, "a", @note
        .p2align 2
        .long 7, 4, 1
        .asciz "spacer"
        .p2align 2
        .long 42
