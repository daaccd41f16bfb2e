/* A small printf for the serial console: %d %i %u %x %X %p %s %c %%,
 * with the 'l' and 'z' length modifiers, '0' padding and a field width. */
#include <stdint.h>
#include <stddef.h>
#include <uk/ctors.h>
#include <uk/plat.h>
#include <uk/print.h>

static int emit(char c)
{
	ukplat_putc(c);
	return 1;
}

static int emit_str(const char *s, int width)
{
	int n = 0, len = 0;
	const char *p;

	if (!s)
		s = "(null)";
	for (p = s; *p; p++)
		len++;
	for (; len < width; width--)
		n += emit(' ');
	while (*s)
		n += emit(*s++);
	return n;
}

static int emit_num(uint64_t v, unsigned int base, int neg, int width,
		    char pad, int upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24];
	int i = 0, n = 0;

	do {
		buf[i++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg) {
		if (pad == '0')
			n += emit('-');
		else
			buf[i++] = '-';
		width--;
	}
	for (; width > i; width--)
		n += emit(pad);
	while (i)
		n += emit(buf[--i]);
	return n;
}

int kvprintf(const char *fmt, va_list ap)
{
	int n = 0;

	for (; *fmt; fmt++) {
		int width = 0, lng = 0;
		char pad = ' ';
		int64_t sv;
		uint64_t uv;

#ifdef UKDEBUG_PRINT_RUNS
		/* A second version of kvprintf (for tests/unikernel_layout.rs):
		 * a run of ordinary characters goes out in one inner loop.  The
		 * output is the same; the code is longer. */
		if (*fmt != '%') {
			const char *end = fmt;

			while (*end && *end != '%')
				end++;
			while (fmt < end)
				n += emit(*fmt++);
			fmt--;
			continue;
		}
#else
		if (*fmt != '%') {
			n += emit(*fmt);
			continue;
		}
#endif
		fmt++;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng = 1;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i':
			sv = lng ? va_arg(ap, long) : va_arg(ap, int);
			uv = sv < 0 ? -(uint64_t)sv : (uint64_t)sv;
			n += emit_num(uv, 10, sv < 0, width, pad, 0);
			break;
		case 'u':
			uv = lng ? va_arg(ap, unsigned long)
				 : va_arg(ap, unsigned int);
			n += emit_num(uv, 10, 0, width, pad, 0);
			break;
		case 'x':
		case 'X':
			uv = lng ? va_arg(ap, unsigned long)
				 : va_arg(ap, unsigned int);
			n += emit_num(uv, 16, 0, width, pad, *fmt == 'X');
			break;
		case 'p':
			n += emit('0') + emit('x');
			n += emit_num((uintptr_t)va_arg(ap, void *), 16, 0,
				      width, pad, 0);
			break;
		case 's':
			n += emit_str(va_arg(ap, const char *), width);
			break;
		case 'c':
			n += emit((char)va_arg(ap, int));
			break;
		case '%':
			n += emit('%');
			break;
		case '\0':
			return n;
		default:
			n += emit('%') + emit(*fmt);
			break;
		}
	}
	return n;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

void kputs(const char *s)
{
	emit_str(s, 0);
	emit('\n');
}

/* An early constructor of this library: runs before the TLS block exists. */
static void ukdebug_early(void)
{
	kprintf("ctortab 2: libukdebug\n");
}
UK_CTOR_PRIO(ukdebug_early, 2);
