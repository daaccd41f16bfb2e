/* Shared by the version-stable layout test programs: a deterministic, compressible input and a
 * checksum, so that every program prints the same thing whichever linker linked it. */
#ifndef STABLE_H
#define STABLE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INPUT_SIZE (1u << 20)

/* Text-like data: words drawn by a small LCG from a fixed vocabulary, with some numbers. */
static unsigned char *make_input(size_t n)
{
    static const char *const words[] = {
        "page", "share", "linker", "library", "region", "layout", "stable", "version",
        "compress", "inflate", "deflate", "frame", "block", "window", "literal", "match",
    };
    unsigned char *buf = malloc(n);
    uint32_t state = 0x12345678u;
    size_t i = 0;
    if (!buf)
        return NULL;
    while (i < n) {
        state = state * 1103515245u + 12345u;
        const char *w = words[(state >> 16) & 15];
        char tmp[32];
        int len = (state >> 28) < 3 ? snprintf(tmp, sizeof tmp, "%u ", (unsigned)(state % 10007))
                                    : snprintf(tmp, sizeof tmp, "%s ", w);
        for (int k = 0; k < len && i < n; k++)
            buf[i++] = (unsigned char)tmp[k];
    }
    return buf;
}

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

/* Prints one round trip's result; returns 1 when the data came back intact. */
static int report(const char *what, const unsigned char *in, size_t n, const unsigned char *out,
                  size_t out_n, size_t packed)
{
    int ok = out_n == n && memcmp(in, out, n) == 0;
    printf("%-12s %zu -> %zu -> %zu bytes, checksum %08x, %s\n", what, n, packed, out_n,
           fnv1a(out, out_n), ok ? "ok" : "MISMATCH");
    return ok;
}

#endif
