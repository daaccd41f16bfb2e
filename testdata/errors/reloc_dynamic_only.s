# An R_X86_64_JUMP_SLOT relocation in an object file.  That type belongs only in the dynamic
# relocation tables of executables and shared objects; a linker has nothing sensible to do with
# it in its input.
	.text
	.globl	_start
_start:
	jmp	_start
	.globl	target_function
target_function:
	ret

	.data
	.reloc	., R_X86_64_JUMP_SLOT, target_function
	.quad	0
