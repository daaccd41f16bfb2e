/* Refers to a function, a variable and an array that nobody defines. Linked with
   --unresolved-symbols=ignore-all (or --warn-unresolved-symbols, --noinhibit-exec), each
   resolves to 0; the call is on a path taken only with more than five arguments. */
#include <stdio.h>

extern int missing_function(int);
extern int missing_variable;
extern int missing_array[];

static void *volatile sink;

int main(int argc, char **argv) {
    (void)argv;
    sink = (void *)&missing_function;
    printf("function at %p\n", sink);
    sink = (void *)&missing_variable;
    printf("variable at %p\n", sink);
    sink = (void *)missing_array;
    printf("array at %p\n", sink);
    if (argc > 5)
        printf("%d\n", missing_function(missing_variable));
    printf("done\n");
    return 0;
}
