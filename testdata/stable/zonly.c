/* Version-stable layout test program: round trips through zlib. */
#include "stable.h"
#include "rt_zlib.h"

int main(void)
{
    unsigned char *in = make_input(INPUT_SIZE);
    int ok = in != NULL;
    printf("zlib %s\n", zlibVersion());
    ok = ok && zlib_roundtrip(in, INPUT_SIZE);
    free(in);
    puts(ok ? "all round trips ok" : "FAILED");
    return ok ? 0 : 1;
}
