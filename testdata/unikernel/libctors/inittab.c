/* Runs the init table, level by level (the linker script sorts the levels). */
#include <uk/ctors.h>
#include <uk/libinfo.h>
#include <uk/print.h>

UK_LIBINFO(ctors, "libctors", 2);

extern const uk_init_func_t uk_inittab_start[], uk_inittab_end[];

int uk_inittab_run(void)
{
	const uk_init_func_t *f;
	int failed = 0;

	kprintf("inittab: %d entries\n",
		(int)(uk_inittab_end - uk_inittab_start));
	for (f = uk_inittab_start; f < uk_inittab_end; f++) {
		int rc = (*f)();

		if (rc) {
			kprintf("inittab: entry %d failed: %d\n",
				(int)(f - uk_inittab_start), rc);
			failed++;
		}
	}
	return failed;
}

static int ctors_init3(void)
{
	kprintf("inittab 3: libctors\n");
	return 0;
}
UK_INITTAB(ctors_init3, 3);
