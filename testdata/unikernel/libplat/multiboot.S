/*
 * Multiboot (v1) entry of the test unikernel.
 *
 * The boot loader (QEMU's -kernel multiboot loader) enters _multiboot_entry
 * in 32-bit protected mode with paging off, EAX = 0x2BADB002 and EBX = the
 * physical address of the multiboot information structure.  This code clears
 * .bss, enables PAE, loads the statically built identity-mapped page tables
 * (first 1 GiB, 2 MiB pages), turns on long mode and SSE, and jumps to 64-bit
 * code, which calls _libplat_entry(magic, info) on the boot stack.
 */

#define MULTIBOOT_MAGIC		0x1BADB002
#define MULTIBOOT_FLAGS		0x00000003	/* page align modules, memory info */

#define CR0_PE			(1 << 0)
#define CR0_MP			(1 << 1)
#define CR0_EM			(1 << 2)
#define CR0_PG			(1 << 31)
#define CR4_PAE			(1 << 5)
#define CR4_OSFXSR		(1 << 9)
#define CR4_OSXMMEXCPT		(1 << 10)
#define MSR_EFER		0xC0000080
#define EFER_LME		(1 << 8)

#define GDT_CODE64		0x08
#define GDT_DATA		0x10

#define BOOT_STACK_SIZE		0x4000

/* The header lives in .data.boot, which the platform script keeps first. */
	.section .data.boot, "a"
	.align 4
multiboot_header:
	.long MULTIBOOT_MAGIC
	.long MULTIBOOT_FLAGS
	.long -(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)

	.section .text.boot, "ax"
	.code32
	.globl _multiboot_entry
	.type _multiboot_entry, @function
_multiboot_entry:
	cli
	cld
	movl %eax, boot_magic
	movl %ebx, boot_info

	/* Clear .bss (the boot stack is in it, so before using the stack). */
	movl $__bss_start, %edi
	movl $_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb

	lgdt gdt64_ptr

	movl %cr4, %eax
	orl $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
	movl %eax, %cr4

	movl $boot_pml4, %eax
	movl %eax, %cr3

	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr

	movl %cr0, %eax
	andl $~CR0_EM, %eax
	orl $(CR0_PE | CR0_MP | CR0_PG), %eax
	movl %eax, %cr0

	ljmp $GDT_CODE64, $long_mode_entry
	.size _multiboot_entry, . - _multiboot_entry

	.code64
long_mode_entry:
	movw $GDT_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs

	leaq boot_stack_top(%rip), %rsp
	xorl %ebp, %ebp
	movl boot_magic(%rip), %edi
	movl boot_info(%rip), %esi
	call _libplat_entry
1:	cli
	hlt
	jmp 1b

/* Descriptor table: null, 64-bit code, data. */
	.section .data
	.align 16
gdt64:
	.quad 0
	.quad 0x00af9a000000ffff
	.quad 0x00cf92000000ffff
gdt64_end:
	.align 8
gdt64_ptr:
	.word gdt64_end - gdt64 - 1
	.quad gdt64

boot_magic:
	.long 0
boot_info:
	.long 0

/* Identity map of the first 1 GiB with 2 MiB pages. */
	.align 4096
boot_pml4:
	.quad boot_pdpt + 0x3
	.fill 511, 8, 0
boot_pdpt:
	.quad boot_pd + 0x3
	.fill 511, 8, 0
boot_pd:
	.set page, 0
	.rept 512
	.quad (page << 21) | 0x83
	.set page, page + 1
	.endr

	.section .bss
	.align 16
boot_stack:
	.space BOOT_STACK_SIZE
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
