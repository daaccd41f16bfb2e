/* zstd round trips: one-shot at two levels and streaming with a context. */
#include <zstd.h>

static int zstd_roundtrip(const unsigned char *in, size_t n)
{
    int ok = 1;
    size_t bound = ZSTD_compressBound(n);
    unsigned char *c = malloc(bound), *d = malloc(n);
    if (!c || !d)
        return 0;
    static const int levels[] = {1, 9};
    for (int i = 0; i < 2; i++) {
        size_t packed = ZSTD_compress(c, bound, in, n, levels[i]);
        if (ZSTD_isError(packed))
            return 0;
        size_t out_n = ZSTD_decompress(d, n, c, packed);
        if (ZSTD_isError(out_n))
            return 0;
        char what[16];
        snprintf(what, sizeof what, "zstd-%d", levels[i]);
        ok &= report(what, in, n, d, out_n, packed);
    }

    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 5);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    ZSTD_outBuffer out = {c, bound, 0};
    for (size_t off = 0; off < n; off += 65536) {
        size_t len = n - off < 65536 ? n - off : 65536;
        ZSTD_inBuffer inb = {in + off, len, 0};
        ZSTD_EndDirective mode = off + len >= n ? ZSTD_e_end : ZSTD_e_continue;
        size_t r;
        do {
            r = ZSTD_compressStream2(cctx, &out, &inb, mode);
            if (ZSTD_isError(r))
                return 0;
        } while (mode == ZSTD_e_end ? r != 0 : inb.pos < inb.size);
    }
    ZSTD_freeCCtx(cctx);
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    ZSTD_inBuffer inb = {c, out.pos, 0};
    ZSTD_outBuffer dout = {d, n, 0};
    while (inb.pos < inb.size) {
        size_t r = ZSTD_decompressStream(dctx, &dout, &inb);
        if (ZSTD_isError(r))
            return 0;
        if (r == 0)
            break;
    }
    ZSTD_freeDCtx(dctx);
    ok &= report("zstd-stream", in, n, d, dout.pos, out.pos);
    free(c);
    free(d);
    return ok;
}
