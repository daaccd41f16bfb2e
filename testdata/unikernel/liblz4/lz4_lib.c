/*
 * lz4 as a library of the unikernel: the lz4.c of a released lz4 (its directory comes
 * with -I, see bench/vm-fleet.sh, which takes lz4 1.9.3 and 1.9.4 from crates.io), built
 * freestanding, with its allocator (LZ4_USER_MEMORY_FUNCTIONS) served from a static pool.
 */
#include <stddef.h>
#include <uk/libinfo.h>

UK_LIBINFO(lz4, "liblz4", 9);

void *LZ4_malloc(size_t s);
void *LZ4_calloc(size_t n, size_t s);
void LZ4_free(void *p);

static unsigned char pool[64 * 1024] __attribute__((aligned(16)));
static size_t pool_used;

void *LZ4_malloc(size_t s)
{
	size_t at = (pool_used + 15) & ~(size_t)15;

	if (s > sizeof(pool) - at)
		return NULL;
	pool_used = at + s;
	return pool + at;
}

void *LZ4_calloc(size_t n, size_t s)
{
	unsigned char *p;

	if (s && n > (size_t)-1 / s)
		return NULL;
	p = LZ4_malloc(n * s);
	for (size_t i = 0; p && i < n * s; i++)
		p[i] = 0;
	return p;
}

void LZ4_free(void *p)
{
	(void)p;
}

#include "lz4.c"
