/* Version-stable layout test program: round trips through zlib lz4. */
#include "stable.h"
#include "rt_zlib.h"
#include "rt_lz4.h"

int main(void)
{
    unsigned char *in = make_input(INPUT_SIZE);
    int ok = in != NULL;
    printf("zlib %s\n", zlibVersion());
    printf("lz4 %s\n", LZ4_versionString());
    ok = ok && zlib_roundtrip(in, INPUT_SIZE);
    ok = ok && lz4_roundtrip(in, INPUT_SIZE);
    free(in);
    puts(ok ? "all round trips ok" : "FAILED");
    return ok ? 0 : 1;
}
