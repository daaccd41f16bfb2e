/* .rodata, .data, .bss, COMMON and TLS definitions of the application. */
#include <stdint.h>
#include "app.h"

static const uint32_t table[64] = {
	2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53,
	59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131,
	137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193, 197, 199,
	211, 223, 227, 229, 233, 239, 241, 251, 257, 263, 269, 271, 277, 281,
	283, 293, 307, 311,
};

uint32_t table_checksum(void)
{
	uint32_t h = 0x811c9dc5;
	unsigned int i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		h ^= table[i];
		h *= 0x01000193;
	}
	return h;
}

unsigned int table_words(void)
{
	return sizeof(table) / sizeof(table[0]);
}

static long op_add(long a, long b) { return a + b; }
static long op_sub(long a, long b) { return a - b; }
static long op_mul(long a, long b) { return a * b; }
static long op_mod(long a, long b) { return a % b; }

/* Function pointers in .rodata: absolute relocations. */
const struct op ops[OPS_COUNT] = {
	{ "add", op_add },
	{ "sub", op_sub },
	{ "mul", op_mul },
	{ "mod", op_mod },
};

int data_value = 1234;
long data_array[4] = { 100, -20, 3, -4000 };
const char *greeting = "hi there";

char bss_buf[300];
int bss_counter;
/* A common symbol (built with -fcommon); the partial link allocates it. */
int common_counter;

__thread int tls_answer = 42;
__thread char tls_name[16] = "tls-array";
__thread uint64_t tls_counter;
static __thread int tls_local[3] = { 1, 20, 300 };
static __thread int tls_local_bss;

int tls_local_sum(void)
{
	tls_local_bss += 1000;
	return tls_local[0] + tls_local[1] + tls_local[2] + tls_local_bss;
}
