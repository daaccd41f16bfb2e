/* Boot sequence: early constructors, TLS, .init_array, init table, main. */
#include <stdint.h>
#include <uk/boot.h>
#include <uk/ctors.h>
#include <uk/libinfo.h>
#include <uk/plat.h>
#include <uk/print.h>

#define MULTIBOOT_BOOTLOADER_MAGIC	0x2BADB002

UK_LIBINFO(ukboot, "libukboot", 7);

/* Overridden by the application. */
__attribute__((weak)) const char *uk_app_name(void)
{
	return "(unnamed)";
}

/* Nobody defines this one: it stays a null undefined weak reference. */
extern void uk_optional_hook(void) __attribute__((weak));

/* Linker script symbols. */
extern char _base_addr[], _text[], _etext[], _rodata[], _erodata[];
extern char _ctors[], _ectors[], _tls_start[], _data[], _edata[];
extern char __bss_start[], _end[];

static int boot_stage;

static void __attribute__((constructor(102))) ukboot_ctor(void)
{
	kprintf("ctor prio 102 (libukboot), boot stage %d\n", boot_stage);
}

static int ukboot_init1(void)
{
	kprintf("inittab 1: libukboot\n");
	return 0;
}
UK_INITTAB(ukboot_init1, 1);

#define ADDR(sym) ((uintptr_t)(sym))

/* The script's symbols must come in this order, with these alignments. */
static int layout_ok(void)
{
	const uintptr_t order[] = {
		ADDR(_base_addr), ADDR(_text), ADDR(_etext), ADDR(_rodata),
		ADDR(_erodata), ADDR(_ctors), ADDR(_ectors), ADDR(_tls_start),
		ADDR(_data), ADDR(_edata), ADDR(__bss_start), ADDR(_end),
	};
	unsigned int i;

	for (i = 1; i < sizeof(order) / sizeof(order[0]); i++)
		if (order[i - 1] > order[i])
			return 0;
	return ADDR(_base_addr) == 0x100000 && ADDR(_text) < ADDR(_etext) &&
	       ADDR(__bss_start) < ADDR(_end) &&
	       (ADDR(_rodata) & 0xfff) == 0 && (ADDR(_tls_start) & 0xfff) == 0 &&
	       (ADDR(_data) & 0xfff) == 0 && (ADDR(_end) & 0xfff) == 0;
}

void ukboot_entry(void)
{
	uintptr_t tp;
	int rc;

	kprintf("boot: %s\n",
		ukplat_boot_magic() == MULTIBOOT_BOOTLOADER_MAGIC
			? "multiboot magic ok" : "bad multiboot magic");
	kprintf("boot: %u KiB upper memory\n", ukplat_mem_upper_kib());
	kputs(layout_ok() ? "boot: layout ok" : "boot: layout BAD");

	boot_stage = 1;
	uk_ctortab_run();

	boot_stage = 2;
	tp = uk_tls_init();
	kputs(ukplat_tlsp_get() == tp && *(uintptr_t *)tp == tp
		      ? "tls: self pointer ok" : "tls: self pointer BAD");

	boot_stage = 3;
	uk_init_array_run();

	boot_stage = 4;
	rc = uk_inittab_run();

	uk_libinfo_print();
	kprintf("boot: app %s, optional hook %s\n", uk_app_name(),
		uk_optional_hook ? "present" : "absent");

	kprintf("boot: calling main\n");
	rc |= main();
	kprintf("boot: exit status %d\n", rc);
	ukplat_exit(rc ? UKPLAT_EXIT_FAILURE : UKPLAT_EXIT_SUCCESS);
}
