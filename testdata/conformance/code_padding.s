# Code sections aligned apart: GNU ld fills the gaps with NOPs.
	.text
	.globl _start
_start:	ret
	.section .text.b,"ax",@progbits
	.p2align 6
b:	ret
	.section .text.c,"ax",@progbits
	.p2align 5
c:	nop
	nop
	ret
	.section .note.GNU-stack,"",@progbits
