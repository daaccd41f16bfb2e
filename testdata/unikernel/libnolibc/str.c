/* String functions. */
#include <string.h>
#include <uk/libinfo.h>

UK_LIBINFO(nolibc, "libnolibc", 4);

size_t strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return (size_t)(p - s);
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}
