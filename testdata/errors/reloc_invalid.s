# The test patches this R_X86_64_64 relocation's type to a number that no x86-64 relocation
# has (250), which no linker can support.
	.text
	.globl	_start
_start:
	jmp	_start

	.data
	.quad	_start
