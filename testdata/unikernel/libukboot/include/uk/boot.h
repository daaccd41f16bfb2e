/* Boot sequence and the thread-local storage block. */
#ifndef UK_BOOT_H
#define UK_BOOT_H

#include <stdint.h>

/* Status printed by main's caller; 0 is success. */
int main(void);

/* Name of the application; libukboot has a weak default. */
const char *uk_app_name(void);

/* Sets up the static TLS block and points %fs at it; returns the pointer. */
uintptr_t uk_tls_init(void);

/* Defined in libukboot's TLS image, used by other libraries. */
extern __thread uint64_t uk_tls_magic;
extern __thread int uk_tls_zero;

#endif
