# Aligned string sections (.str1.8, as gcc emits them: every string aligned, NUL padding
# between), a string at an unaligned offset, duplicates across sections and a plain
# .str1.1 section; .data holds a pointer to each string. None is a tail of another (GNU ld
# also merges tails, which spacer does not).
	.section .rodata.a.str1.8,"aMS",@progbits,1
	.align 8
s_a1:	.string "eight-aligned one"
	.align 8
s_a2:	.string "second"
	.align 8
	.zero 8
s_a3:	.string "third"
	.section .rodata.b.str1.8,"aMS",@progbits,1
	.align 8
s_b1:	.string "second"
s_bx:	.string "x"
	.align 8
s_b2:	.string "eight-aligned one"
s_by:	.string "why"
	.section .rodata.c.str1.1,"aMS",@progbits,1
s_c1:	.string "abc"
s_c3:	.string "def"
s_c5:	.string "abc"
	.data
	.globl _start
_start:
	.quad s_a1, s_a2, s_a3, s_b1, s_bx, s_b2, s_by, s_c1, s_c3, s_c5, s_a3-8
	.section .note.GNU-stack,"",@progbits
