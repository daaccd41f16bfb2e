/*
 * Static TLS block, x86-64 variant II: the block (.tdata image followed by
 * zeroed .tbss) ends at the thread pointer, aligned up; the thread pointer
 * points at the TCB, whose first word points to itself.
 *
 *   tls_area: [.tdata copy][.tbss zeroed][padding][TCB: self pointer]
 *                                                 ^ %fs base
 *
 * The bounds come from the platform script: _tls_start (start of .tdata),
 * _etdata (end of .tdata) and _tls_end (_etdata + SIZEOF(.tbss)).
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <uk/boot.h>
#include <uk/plat.h>
#include <uk/print.h>

/* The largest alignment of any TLS variable in the kernel (a 16-byte
 * array); the linker aligns the end of the TLS segment to it. */
#define TLS_ALIGN	16
#define TCB_SIZE	sizeof(uintptr_t)
#define ALIGN_UP(v, a)	(((v) + (a) - 1) & ~((uintptr_t)(a) - 1))

extern char _tls_start[], _etdata[], _tls_end[];

__thread uint64_t uk_tls_magic = 0x5eedf00dcafe1234ULL;
__thread int uk_tls_zero;

static unsigned char tls_area[2048] __attribute__((aligned(64)));

uintptr_t uk_tls_init(void)
{
	size_t tdata_len = (size_t)(_etdata - _tls_start);
	size_t tbss_len = (size_t)(_tls_end - _etdata);
	size_t block_len = ALIGN_UP(tdata_len + tbss_len, TLS_ALIGN);
	uintptr_t tp;

	kprintf("tls: .tdata %zu bytes, .tbss %zu bytes, block %zu bytes\n",
		tdata_len, tbss_len, block_len);
	if (block_len + TCB_SIZE > sizeof(tls_area)) {
		kprintf("tls: block too large\n");
		ukplat_exit(UKPLAT_EXIT_FAILURE);
	}

	/* Poison first, so that a .tbss the layout does not cover shows. */
	memset(tls_area, 0xa5, sizeof(tls_area));
	memcpy(tls_area, _tls_start, tdata_len);
	memset(tls_area + tdata_len, 0, block_len - tdata_len);

	tp = (uintptr_t)tls_area + block_len;
	*(uintptr_t *)tp = tp;
	ukplat_tlsp_set(tp);
	return tp;
}
