/* --emit-relocs with the C library: TLS of every model the static link relaxes, strings,
 * function pointers; the program must run the same from GNU ld's image and spacer's (and from
 * spacer's after `strip`). */
#include <stdio.h>
#include <string.h>

__thread int tls_counter = 5;
static __thread char tls_name[16] = "thread";
extern __thread int tls_ie __attribute__((tls_model("initial-exec")));
__thread int tls_ie = 7;

static int square(int x) { return x * x; }
int (*volatile op)(int) = square;

/* Nothing calls it: with --gc-sections it and its relocations go. */
int never_called(int x) { return x + tls_counter; }

int main(int argc, char **argv) {
    (void)argv;
    tls_counter += argc;
    strcat(tls_name, "-local");
    printf("%s %d %d %d\n", tls_name, tls_counter, tls_ie, op(tls_counter));
    return 0;
}
