/* setjmp/longjmp: non-local exits through several frames. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

static jmp_buf env;
static int depth_reached;

static void recurse(int depth, int limit)
{
    volatile char pad[64];
    pad[0] = (char)depth;
    depth_reached = depth + pad[0] - depth;
    if (depth == limit)
        longjmp(env, depth * 10);
    recurse(depth + 1, limit);
    printf("not reached\n");
}

static int attempt(int limit)
{
    volatile int tries = 0;
    int rc = setjmp(env);
    tries++;
    if (rc == 0) {
        recurse(0, limit);
        return -1;
    }
    printf("limit %d: longjmp returned %d after depth %d, tries=%d\n", limit, rc, depth_reached,
           tries);
    return rc;
}

static sigjmp_buf sigenv;

int main(void)
{
    int total = 0;
    for (int limit = 1; limit <= 5; limit++)
        total += attempt(limit);
    printf("total=%d\n", total);

    /* longjmp with value 0 must make setjmp return 1. */
    jmp_buf local;
    volatile int stage = 0;
    int r = setjmp(local);
    if (stage == 0) {
        stage = 1;
        longjmp(local, 0);
    }
    printf("longjmp(0) gives %d\n", r);

    if (sigsetjmp(sigenv, 1) == 0) {
        printf("sigsetjmp first pass\n");
        siglongjmp(sigenv, 7);
    }
    printf("siglongjmp came back\n");
    /* The exit status is part of the test: 150 == 10+20+30+40+50. */
    return total == 150 ? 42 : 1;
}
