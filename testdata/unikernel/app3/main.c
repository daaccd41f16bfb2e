/* A third application: an lz4 round trip (liblz4, built from a released lz4) of a text it
 * makes itself, checked byte for byte. */
#include <stdint.h>
#include <string.h>
#include <uk/libinfo.h>
#include <uk/print.h>
#include "lz4.h"

UK_LIBINFO(app, "lz4trip", 1);

#define TEXT_SIZE (24 * 1024)
static char text[TEXT_SIZE];
static char packed[TEXT_SIZE + TEXT_SIZE / 255 + 16];
static char unpacked[TEXT_SIZE];
static uint64_t state[16384 / 8 + 64];

const char *uk_app_name(void)
{
	return "lz4trip";
}

static const char *const words[] = {
	"page ", "linker ", "unikernel ", "shared ", "layout ", "stable ",
	"digest ", "region ", "library ", "version ", "address ", "\n",
};

static uint32_t fnv(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (unsigned char)*p++) * 16777619u;
	return h;
}

int main(void)
{
	uint32_t x = 12345;
	size_t n = 0;

	while (n < TEXT_SIZE) {
		const char *w;
		size_t len;

		x = x * 1103515245u + 12345u;
		w = words[(x >> 16) % (sizeof(words) / sizeof(words[0]))];
		len = strlen(w);
		if (len > TEXT_SIZE - n)
			len = TEXT_SIZE - n;
		memcpy(text + n, w, len);
		n += len;
	}
	if ((size_t)LZ4_sizeofState() > sizeof(state)) {
		kprintf("lz4: state of %d bytes does not fit\n", LZ4_sizeofState());
		return 1;
	}
	int c = LZ4_compress_fast_extState(state, text, packed, TEXT_SIZE,
					   LZ4_compressBound(TEXT_SIZE), 1);
	int d = LZ4_decompress_safe(packed, unpacked, c, TEXT_SIZE);
	int same = d == TEXT_SIZE && memcmp(text, unpacked, TEXT_SIZE) == 0;

	kprintf("lz4 %s: %d bytes packed into %d, unpacked %d, %s, text fnv %08x\n",
		LZ4_versionString(), TEXT_SIZE, c, d, same ? "same" : "DIFFERENT",
		(unsigned int)fnv(text, TEXT_SIZE));
	return same ? 0 : 1;
}
