/* --wrap=malloc: calls to malloc go to __wrap_malloc, which calls the real one. */
#include <stdio.h>
#include <stdlib.h>
void *__real_malloc(size_t n);
static int calls;
void *__wrap_malloc(size_t n) { calls++; return __real_malloc(n); }
int main(void)
{
    void *p = malloc(32);
    printf("wrapped calls=%d ok=%d\n", calls, p != NULL);
    free(p);
    return 0;
}
