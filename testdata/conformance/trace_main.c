/* A small C program for --trace and --trace-symbol: it pulls printf and malloc out of libc.a,
   refers weakly to a symbol nobody defines and has a common symbol (built with -fcommon). */
#include <stdio.h>
#include <stdlib.h>

extern int trace_weak_thing __attribute__((weak));
int trace_common_thing;

int main(int argc, char **argv) {
    (void)argv;
    char *p = malloc(16);
    trace_common_thing = argc;
    printf("%d %d\n", trace_common_thing, &trace_weak_thing != 0);
    free(p);
    return 0;
}
