# A general-dynamic TLS access whose call is not one a linker knows how to relax: the large
# code model's sequence, but calling through %rcx instead of %rax.
	.text
	.globl	_start
_start:
	leaq	tls_var@tlsgd(%rip), %rdi
	movabsq	$__tls_get_addr@pltoff, %rax
	addq	%rbx, %rax
	call	*%rcx
	ret
	.globl	__tls_get_addr
__tls_get_addr:
	ret
	.section	.tbss,"awT",@nobits
tls_var:
	.zero	4
