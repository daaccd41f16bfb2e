/* Kernel console printing. */
#ifndef UK_PRINT_H
#define UK_PRINT_H

#include <stdarg.h>

int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
void kputs(const char *s);

/* Prints the libraries registered with UK_LIBINFO, in link order. */
void uk_libinfo_print(void);

#endif
