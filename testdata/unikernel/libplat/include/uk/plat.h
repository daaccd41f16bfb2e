/* Platform interface: console, halting, thread pointer. */
#ifndef UK_PLAT_H
#define UK_PLAT_H

#include <stdint.h>

/* Exit status written to the isa-debug-exit port; QEMU exits with 2 * N + 1. */
#define UKPLAT_EXIT_SUCCESS	0x2a	/* QEMU exit code 85 */
#define UKPLAT_EXIT_FAILURE	0x01	/* QEMU exit code 3 */

void ukplat_console_init(void);
void ukplat_putc(char c);
void ukplat_tlsp_set(uintptr_t tlsp);
uintptr_t ukplat_tlsp_get(void);
uint32_t ukplat_boot_magic(void);
uint32_t ukplat_mem_upper_kib(void);
void ukplat_exit(int status) __attribute__((noreturn));

#endif
