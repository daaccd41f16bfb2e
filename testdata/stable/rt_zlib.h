/* zlib round trips: one-shot compress2/uncompress and a streaming deflate/inflate. */
#include <zlib.h>

static int zlib_roundtrip(const unsigned char *in, size_t n)
{
    int ok = 1;
    uLongf bound = compressBound(n), packed = bound, out_n = n;
    unsigned char *c = malloc(bound), *d = malloc(n);
    if (!c || !d)
        return 0;
    if (compress2(c, &packed, in, n, 6) != Z_OK || uncompress(d, &out_n, c, packed) != Z_OK)
        ok = 0;
    ok &= report("zlib", in, n, d, out_n, packed);

    /* Streaming, in 16 KiB pieces, gzip format. */
    z_stream s;
    memset(&s, 0, sizeof s);
    if (deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    s.next_out = c;
    s.avail_out = bound;
    for (size_t off = 0; off < n; off += 16384) {
        s.next_in = (unsigned char *)in + off;
        s.avail_in = n - off < 16384 ? n - off : 16384;
        if (deflate(&s, off + 16384 >= n ? Z_FINISH : Z_NO_FLUSH) == Z_STREAM_ERROR)
            ok = 0;
    }
    packed = s.total_out;
    deflateEnd(&s);
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, 15 + 32) != Z_OK)
        return 0;
    s.next_in = c;
    s.avail_in = packed;
    s.next_out = d;
    s.avail_out = n;
    if (inflate(&s, Z_FINISH) != Z_STREAM_END)
        ok = 0;
    out_n = s.total_out;
    inflateEnd(&s);
    ok &= report("zlib-gzip", in, n, d, out_n, packed);
    printf("zlib crc32 %08lx adler32 %08lx\n", crc32(0, in, n), adler32(1, in, n));
    free(c);
    free(d);
    return ok;
}
