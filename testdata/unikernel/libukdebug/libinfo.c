/* Walks the library descriptors that libukdebug.ld gathers. */
#include <uk/libinfo.h>
#include <uk/print.h>

UK_LIBINFO(ukdebug, "libukdebug", 3);

extern const struct uk_libinfo uk_libinfo_start[], uk_libinfo_end[];

void uk_libinfo_print(void)
{
	const struct uk_libinfo *li;

	kprintf("libinfo: %d libraries\n",
		(int)(uk_libinfo_end - uk_libinfo_start));
	for (li = uk_libinfo_start; li < uk_libinfo_end; li++)
		kprintf("libinfo: %s v%u\n", li->name, li->version);
}
