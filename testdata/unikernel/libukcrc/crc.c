/* CRC-32 with a table built on first use (in .bss) and a constant check table in .rodata. */
#include <uk/crc.h>
#include <uk/libinfo.h>

UK_LIBINFO(crc, "libukcrc", 1);

static uint32_t table[256];
static int table_ready;

static void make_table(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[n] = c;
	}
	table_ready = 1;
}

uint32_t uk_crc32(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (!table_ready)
		make_table();
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
