/*
 * Library descriptors, collected into the .uk_libinfo section (placed by
 * libukdebug.ld) between uk_libinfo_start and uk_libinfo_end.
 */
#ifndef UK_LIBINFO_H
#define UK_LIBINFO_H

struct uk_libinfo {
	const char *name;
	unsigned int version;
	unsigned int flags;
};

#define UK_LIBINFO(id, libname, ver)					\
	static const struct uk_libinfo __uk_libinfo_##id		\
	__attribute__((used, section(".uk_libinfo"), aligned(8))) =	\
		{ .name = (libname), .version = (ver), .flags = 0 }

#endif
