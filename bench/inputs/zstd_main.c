/* Benchmark driver for libzstd: compresses a generated buffer at several
 * levels (one of them with worker threads), decompresses it again and
 * prints sizes and checksums. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define ZSTD_STATIC_LINKING_ONLY
#include "zstd.h"

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static int roundtrip(const unsigned char *src, size_t n, int level, int workers)
{
    size_t cap = ZSTD_compressBound(n);
    unsigned char *comp = malloc(cap), *back = malloc(n);
    if (!comp || !back) return 1;

    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (workers) {
        size_t r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, workers);
        if (ZSTD_isError(r)) {
            printf("nbWorkers: %s\n", ZSTD_getErrorName(r));
            return 1;
        }
    }
    size_t csize = ZSTD_compress2(cctx, comp, cap, src, n);
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(csize)) {
        printf("compress: %s\n", ZSTD_getErrorName(csize));
        return 1;
    }
    size_t dsize = ZSTD_decompress(back, n, comp, csize);
    if (ZSTD_isError(dsize) || dsize != n || memcmp(src, back, n) != 0) {
        printf("level %d: roundtrip failed\n", level);
        return 1;
    }
    printf("level %2d workers %d: %zu -> %zu bytes, fnv1a %08x\n", level, workers, n,
           csize, (unsigned)fnv1a(comp, csize));
    free(comp);
    free(back);
    return 0;
}

int main(void)
{
    size_t n = 1 << 20;
    unsigned char *buf = malloc(n);
    if (!buf) return 1;
    /* Text-like data with repetitions at several distances. */
    static const char *const words[] = {"page", "linker", "section", "symbol",
                                        "relocation", "archive", "digest", "layout"};
    uint32_t x = 12345;
    size_t i = 0;
    while (i < n) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % 8];
        size_t len = strlen(w);
        for (size_t k = 0; k < len && i < n; k++) buf[i++] = (unsigned char)w[k];
        if (i < n) buf[i++] = (x >> 24) % 11 ? ' ' : '\n';
    }
    printf("zstd %s, input fnv1a %08x\n", ZSTD_versionString(), (unsigned)fnv1a(buf, n));
    int rc = 0;
    rc |= roundtrip(buf, n, 1, 0);
    rc |= roundtrip(buf, n, 3, 2);
    rc |= roundtrip(buf, n, 9, 0);
    free(buf);
    return rc;
}
