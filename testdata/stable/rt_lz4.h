/* lz4 round trips: block (fast and HC) and frame format. */
#include <lz4.h>
#include <lz4hc.h>
#include <lz4frame.h>

static int lz4_roundtrip(const unsigned char *in, size_t n)
{
    int ok = 1;
    int bound = LZ4_compressBound((int)n);
    size_t fbound = LZ4F_compressFrameBound(n, NULL);
    size_t cap = fbound > (size_t)bound ? fbound : (size_t)bound;
    unsigned char *c = malloc(cap), *d = malloc(n);
    if (!c || !d)
        return 0;

    int packed = LZ4_compress_default((const char *)in, (char *)c, (int)n, bound);
    int out_n = LZ4_decompress_safe((const char *)c, (char *)d, packed, (int)n);
    if (packed <= 0 || out_n < 0)
        return 0;
    ok &= report("lz4", in, n, d, (size_t)out_n, (size_t)packed);

    packed = LZ4_compress_HC((const char *)in, (char *)c, (int)n, bound, 9);
    out_n = LZ4_decompress_safe((const char *)c, (char *)d, packed, (int)n);
    if (packed <= 0 || out_n < 0)
        return 0;
    ok &= report("lz4-hc", in, n, d, (size_t)out_n, (size_t)packed);

    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    size_t fpacked = LZ4F_compressFrame(c, cap, in, n, &prefs);
    if (LZ4F_isError(fpacked))
        return 0;
    LZ4F_dctx *dctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
        return 0;
    size_t src_n = fpacked, dst_n = n;
    size_t r = LZ4F_decompress(dctx, d, &dst_n, c, &src_n, NULL);
    LZ4F_freeDecompressionContext(dctx);
    if (LZ4F_isError(r))
        return 0;
    ok &= report("lz4-frame", in, n, d, dst_n, fpacked);
    free(c);
    free(d);
    return ok;
}
