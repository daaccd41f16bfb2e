/* Runs the early constructor table and .init_array. */
#include <uk/ctors.h>
#include <uk/print.h>

extern const uk_ctor_func_t uk_ctortab_start[], uk_ctortab_end[];
extern const uk_ctor_func_t __init_array_start[], __init_array_end[];

void uk_ctortab_run(void)
{
	const uk_ctor_func_t *f;

	for (f = uk_ctortab_start; f < uk_ctortab_end; f++)
		(*f)();
}

void uk_init_array_run(void)
{
	const uk_ctor_func_t *f;

	kprintf("init_array: %d entries\n",
		(int)(__init_array_end - __init_array_start));
	for (f = __init_array_start; f < __init_array_end; f++)
		(*f)();
}

static void __attribute__((constructor(150))) ctors_prio150(void)
{
	kprintf("ctor prio 150 (libctors)\n");
}

static void __attribute__((constructor)) ctors_plain(void)
{
	kprintf("ctor plain (libctors)\n");
}

static void ctors_early(void)
{
	kprintf("ctortab 1: libctors\n");
}
UK_CTOR_PRIO(ctors_early, 1);
