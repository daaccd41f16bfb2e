/* Round-trips generated data through zstd (one-shot, streaming, multi-threaded and dictionary
 * compression) and prints sizes and checksums. */
#define ZSTD_STATIC_LINKING_ONLY
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdict.h"
#include "zstd.h"

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Text-like data: words from a small vocabulary chosen by a LCG, with some numbers. */
static size_t generate(unsigned char *buf, size_t size, uint32_t seed)
{
    static const char *vocab[] = {"linker", "section", "symbol", "relocation", "archive",
                                  "object", "segment", "the", "a", "of", "static", "page",
                                  "layout", "stable", "version", "thread", "local", "storage"};
    size_t n = 0;
    uint32_t s = seed;
    while (n < size) {
        s = s * 1103515245u + 12345u;
        const char *w = vocab[(s >> 16) % (sizeof vocab / sizeof vocab[0])];
        char tmp[32];
        int len;
        if ((s >> 8) % 11 == 0)
            len = snprintf(tmp, sizeof tmp, "%u ", (s >> 4) % 100000);
        else
            len = snprintf(tmp, sizeof tmp, "%s%s", w, (s >> 12) % 9 == 0 ? ".\n" : " ");
        for (int i = 0; i < len && n < size; i++)
            buf[n++] = (unsigned char)tmp[i];
    }
    return n;
}

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAILED: %s\n", what);
        failures++;
    }
}

static void one_shot(const unsigned char *src, size_t n, int level)
{
    size_t bound = ZSTD_compressBound(n);
    unsigned char *dst = malloc(bound);
    unsigned char *back = malloc(n);
    size_t c = ZSTD_compress(dst, bound, src, n, level);
    check(!ZSTD_isError(c), "ZSTD_compress");
    unsigned long long content = ZSTD_getFrameContentSize(dst, c);
    size_t d = ZSTD_decompress(back, n, dst, c);
    check(!ZSTD_isError(d) && d == n && memcmp(src, back, n) == 0, "one-shot round trip");
    printf("level %2d: %zu -> %zu bytes, content size %llu, compressed fnv %016llx\n", level, n, c,
           content, (unsigned long long)fnv1a(dst, c));
    free(dst);
    free(back);
}

static void streaming(const unsigned char *src, size_t n, int level, int workers)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    size_t r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, workers);
    check(!ZSTD_isError(r), "nbWorkers (library built with ZSTD_MULTITHREAD?)");
    size_t cap = ZSTD_compressBound(n) + 1024;
    unsigned char *dst = malloc(cap);
    ZSTD_outBuffer out = {dst, cap, 0};
    /* Feed the input in odd-sized chunks. */
    size_t pos = 0;
    while (pos < n) {
        size_t chunk = n - pos < 70001 ? n - pos : 70001;
        ZSTD_inBuffer in = {src + pos, chunk, 0};
        while (in.pos < in.size) {
            r = ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_continue);
            check(!ZSTD_isError(r), "compressStream2");
        }
        pos += chunk;
    }
    ZSTD_inBuffer empty = {NULL, 0, 0};
    do {
        r = ZSTD_compressStream2(cctx, &out, &empty, ZSTD_e_end);
        check(!ZSTD_isError(r), "compressStream2 end");
    } while (r != 0 && !ZSTD_isError(r));
    ZSTD_freeCCtx(cctx);

    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    unsigned char *back = malloc(n);
    ZSTD_outBuffer dout = {back, n, 0};
    ZSTD_inBuffer din = {dst, out.pos, 0};
    while (din.pos < din.size) {
        /* Give the decoder a few bytes at a time near the start to exercise its state machine. */
        r = ZSTD_decompressStream(dctx, &dout, &din);
        if (ZSTD_isError(r)) {
            check(0, ZSTD_getErrorName(r));
            break;
        }
        if (r == 0)
            break;
    }
    check(dout.pos == n && memcmp(src, back, n) == 0, "streaming round trip");
    printf("stream level %2d workers %d: %zu -> %zu bytes, fnv %016llx\n", level, workers, n,
           out.pos, (unsigned long long)fnv1a(back, dout.pos));
    ZSTD_freeDCtx(dctx);
    free(dst);
    free(back);
}

static void dictionary(void)
{
    enum { SAMPLES = 400, SAMPLE_SIZE = 512 };
    unsigned char *samples = malloc(SAMPLES * SAMPLE_SIZE);
    size_t sizes[SAMPLES];
    for (int i = 0; i < SAMPLES; i++)
        sizes[i] = generate(samples + i * SAMPLE_SIZE, SAMPLE_SIZE, 1000 + i);
    unsigned char dict[8192];
    size_t dsize = ZDICT_trainFromBuffer(dict, sizeof dict, samples, sizes, SAMPLES);
    check(!ZDICT_isError(dsize), "ZDICT_trainFromBuffer");
    if (ZDICT_isError(dsize)) {
        printf("dictionary training failed: %s\n", ZDICT_getErrorName(dsize));
        free(samples);
        return;
    }
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    size_t with = 0, without = 0;
    unsigned char dst[2048], back[SAMPLE_SIZE];
    for (int i = 0; i < 50; i++) {
        unsigned char msg[SAMPLE_SIZE];
        size_t n = generate(msg, sizeof msg, 50000 + i);
        size_t c = ZSTD_compress_usingDict(cctx, dst, sizeof dst, msg, n, dict, dsize, 3);
        check(!ZSTD_isError(c), "compress_usingDict");
        size_t d = ZSTD_decompress_usingDict(dctx, back, sizeof back, dst, c, dict, dsize);
        check(d == n && memcmp(msg, back, n) == 0, "dictionary round trip");
        with += c;
        without += ZSTD_compress(dst, sizeof dst, msg, n, 3);
    }
    printf("dictionary: %zu bytes, id %u; 50 messages: %zu bytes with, %zu without\n", dsize,
           ZDICT_getDictID(dict, dsize), with, without);
    check(with < without, "dictionary helps");
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
    free(samples);
}

int main(void)
{
    printf("zstd %s\n", ZSTD_versionString());
    size_t n = 3 << 19;
    unsigned char *data = malloc(n);
    n = generate(data, n, 42);
    printf("input: %zu bytes, fnv %016llx\n", n, (unsigned long long)fnv1a(data, n));
    int levels[] = {-5, 1, 3, 9, 19};
    for (unsigned i = 0; i < sizeof levels / sizeof levels[0]; i++)
        one_shot(data, n / (levels[i] >= 19 ? 4 : 1), levels[i]);
    streaming(data, n, 3, 0);
    streaming(data, n, 5, 2);
    dictionary();

    /* Corrupt a frame: the decoder must notice. */
    size_t bound = ZSTD_compressBound(4096);
    unsigned char *c = malloc(bound), back[4096];
    size_t cs = ZSTD_compress(c, bound, data, 4096, 3);
    c[cs / 2] ^= 0x5a;
    c[cs / 2 + 1] ^= 0xa5;
    size_t r = ZSTD_decompress(back, sizeof back, c, cs);
    printf("corrupted frame: %s\n", ZSTD_isError(r) || memcmp(back, data, 4096) ? "detected" : "missed");
    free(c);
    free(data);
    printf("failures: %d\n", failures);
    return failures;
}
