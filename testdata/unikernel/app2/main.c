/* A second application on the same platform libraries plus libukcrc: a small key-value table
 * whose entries are checked with CRC-32. */
#include <stdint.h>
#include <string.h>
#include <uk/crc.h>
#include <uk/libinfo.h>
#include <uk/print.h>

UK_LIBINFO(app, "kvstore", 1);

struct entry {
	const char *key;
	const char *value;
};

static const struct entry seed[] = {
	{ "os", "unikernel" },
	{ "linker", "spacer" },
	{ "boot", "multiboot" },
	{ "console", "com1" },
};

#define SLOTS 16
static struct entry slots[SLOTS];
static unsigned int used;

const char *uk_app_name(void)
{
	return "kvstore";
}

static int put(const char *key, const char *value)
{
	for (unsigned int i = 0; i < used; i++) {
		if (strcmp(slots[i].key, key) == 0) {
			slots[i].value = value;
			return 0;
		}
	}
	if (used == SLOTS)
		return -1;
	slots[used].key = key;
	slots[used].value = value;
	used++;
	return 0;
}

static const char *get(const char *key)
{
	for (unsigned int i = 0; i < used; i++)
		if (strcmp(slots[i].key, key) == 0)
			return slots[i].value;
	return NULL;
}

int main(void)
{
	uint32_t sum = 0;

	for (unsigned int i = 0; i < sizeof(seed) / sizeof(seed[0]); i++)
		put(seed[i].key, seed[i].value);
	put("linker", "spacer --layout");
	for (unsigned int i = 0; i < used; i++) {
		uint32_t c = uk_crc32(0, slots[i].value, strlen(slots[i].value));

		kprintf("kv %s = %s (crc32 %08x)\n", slots[i].key,
			slots[i].value, (unsigned int)c);
		sum ^= c;
	}
	kprintf("kv: %u entries, missing key %s, crc32(\"123456789\") = %08x\n",
		used, get("absent") ? "found" : "absent",
		(unsigned int)uk_crc32(0, "123456789", 9));
	kprintf("kv: xor of crcs %08x\n", (unsigned int)sum);
	return 0;
}
