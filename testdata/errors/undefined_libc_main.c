/* A complete C program, linked against the C library, calling a function nothing defines. */
#include <stdio.h>

int missing_function_for_spacer_test(int);

int main(void)
{
    printf("%d\n", missing_function_for_spacer_test(2));
    return 0;
}
