/* C side of the platform boot: console, thread pointer, exit. */
#include <stdint.h>
#include <uk/plat.h>
#include <uk/libinfo.h>
#include "io.h"

UK_LIBINFO(plat, "libplat", 5);

#define MULTIBOOT_BOOTLOADER_MAGIC	0x2BADB002
#define MULTIBOOT_INFO_MEMORY		0x00000001
#define MSR_FS_BASE			0xC0000100
#define DEBUG_EXIT_PORT			0xf4

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower;
	uint32_t mem_upper;
	/* the rest is not used */
};

/* Provided by libukboot. */
void ukboot_entry(void) __attribute__((noreturn));

static uint32_t boot_magic_seen;
static uint32_t mem_upper;

uint32_t ukplat_boot_magic(void)
{
	return boot_magic_seen;
}

uint32_t ukplat_mem_upper_kib(void)
{
	return mem_upper;
}

void ukplat_tlsp_set(uintptr_t tlsp)
{
	wrmsr(MSR_FS_BASE, tlsp);
}

uintptr_t ukplat_tlsp_get(void)
{
	return (uintptr_t)rdmsr(MSR_FS_BASE);
}

void ukplat_exit(int status)
{
	outb(DEBUG_EXIT_PORT, (uint8_t)status);
	/* Only reached without the isa-debug-exit device. */
	for (;;)
		__asm__ __volatile__("cli; hlt");
}

/* Called from multiboot.S on the boot stack, in long mode. */
void _libplat_entry(uint32_t magic, uint32_t info_addr)
{
	const struct multiboot_info *info =
		(const struct multiboot_info *)(uintptr_t)info_addr;

	ukplat_console_init();
	boot_magic_seen = magic;
	if (magic == MULTIBOOT_BOOTLOADER_MAGIC &&
	    (info->flags & MULTIBOOT_INFO_MEMORY))
		mem_upper = info->mem_upper;
	ukboot_entry();
}
