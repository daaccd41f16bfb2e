/* The application: prints values that depend on every kind of section. */
#include <stdint.h>
#include <string.h>
#include <uk/boot.h>
#include <uk/ctors.h>
#include <uk/libinfo.h>
#include <uk/print.h>
#include "app.h"

UK_LIBINFO(app, "app", 1);

const char *uk_app_name(void)
{
	return "hello";
}

static void __attribute__((constructor(101))) app_prio101(void)
{
	kprintf("ctor prio 101 (app)\n");
}

static void __attribute__((constructor(200))) app_prio200(void)
{
	/* Constructors run after the TLS block is set up. */
	tls_counter += 10;
	kprintf("ctor prio 200 (app), tls counter %lu\n",
		(unsigned long)tls_counter);
}

static void __attribute__((constructor)) app_plain(void)
{
	kprintf("ctor plain (app)\n");
}

static void app_early(void)
{
	kprintf("ctortab 0: app\n");
}
UK_CTOR_PRIO(app_early, 0);

static int app_init1(void)
{
	kprintf("inittab 1: app\n");
	return 0;
}
UK_INITTAB(app_init1, 1);

static int app_init2(void)
{
	kprintf("inittab 2: app, data_value %d\n", data_value);
	data_value += 1;
	return 0;
}
UK_INITTAB(app_init2, 2);

/* Goes through a jump table in .rodata. */
static const char *weekday(int d)
{
	switch (d) {
	case 0: return "Mon";
	case 1: return "Tue";
	case 2: return "Wed";
	case 3: return "Thu";
	case 4: return "Fri";
	case 5: return "Sat";
	case 6: return "Sun";
	default: return "?";
	}
}

int main(void)
{
	unsigned int i, zeros = 0;
	long sum = 0;
	int failures = 0;

	kprintf("Hello world!\n");

	kprintf("rodata: checksum 0x%08x over %u words\n",
		table_checksum(), table_words());
	for (i = 0; i < OPS_COUNT; i++)
		kprintf("rodata: op %s(7, 3) = %ld\n", ops[i].name,
			ops[i].fn(7, 3));
	kprintf("rodata: weekdays %s %s %s\n", weekday(0), weekday(3),
		weekday(6));

	for (i = 0; i < 4; i++)
		sum += data_array[i];
	kprintf("data: value %d, array sum %ld, greeting \"%s\"\n",
		data_value, sum, greeting);

	for (i = 0; i < sizeof(bss_buf); i++)
		zeros += bss_buf[i] == 0;
	kprintf("bss: %u of %u bytes zero, counter %d, common %d\n", zeros,
		(unsigned int)sizeof(bss_buf), bss_counter, common_counter);
	memset(bss_buf, 'x', sizeof(bss_buf));
	bss_counter = 7;
	common_counter = bss_counter * 6;
	kprintf("bss: now counter %d, common %d, buf[100] '%c'\n",
		bss_counter, common_counter, bss_buf[100]);

	kprintf("tls: answer %d, name \"%s\", magic 0x%lx\n", tls_answer,
		tls_name, (unsigned long)uk_tls_magic);
	kprintf("tls: counter %lu, zero %d, local %d\n",
		(unsigned long)tls_counter, uk_tls_zero, tls_local_sum());
	tls_answer += 1;
	tls_counter += 1;
	uk_tls_zero = -5;
	kprintf("tls: after writes answer %d, counter %lu, zero %d\n",
		tls_answer, (unsigned long)tls_counter, uk_tls_zero);

	if (strcmp(greeting, "hi there") != 0)
		failures++;
	return failures;
}
