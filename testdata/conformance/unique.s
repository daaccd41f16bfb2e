# Data sections for --unique: two named *foo* (one of them in two pieces), two others.
	.section .data.foo.1,"aw",@progbits
	.ascii "a"
	.section .data.foo.1,"aw",@progbits
	.ascii "b"
	.section .data.foo.2,"aw",@progbits
	.ascii "c"
	.section .data.bar.1,"aw",@progbits
	.ascii "d"
	.section .data.bar.2,"aw",@progbits
	.ascii "e"
	.section .orphan.x,"aw",@progbits
	.ascii "x"
	.text
	.globl _start
_start:
	nop
	.section .note.GNU-stack,"",@progbits
