/* Data shared between the application's files. */
#ifndef APP_H
#define APP_H

#include <stdint.h>

struct op {
	const char *name;
	long (*fn)(long, long);
};

#define OPS_COUNT 4
extern const struct op ops[OPS_COUNT];

uint32_t table_checksum(void);
unsigned int table_words(void);

extern int data_value;
extern long data_array[4];
extern const char *greeting;
extern char bss_buf[300];
extern int bss_counter;
extern int common_counter;

extern __thread int tls_answer;
extern __thread char tls_name[16];
extern __thread uint64_t tls_counter;
int tls_local_sum(void);

#endif
