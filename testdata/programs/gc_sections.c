/* Built with -ffunction-sections -fdata-sections and linked with --gc-sections.  The unused
 * function drags a 4 MiB table with it; the test checks the table is gone from the output. */
#include <stdio.h>

#define BIG (1 << 20)

/* Only reachable from unused_function(): garbage-collected. */
int unused_table[BIG] = {1, 2, 3};

int unused_function(int i)
{
    return unused_table[i % BIG] * 3;
}

/* Reachable: small table, a function called through a pointer, a retained section. */
static const int used_table[] = {3, 1, 4, 1, 5, 9, 2, 6};
static int used_counter = 10;

static int square(int x) { return x * x; }
static int cube(int x) { return x * x * x; }
int (*const ops[])(int) = {square, cube};

__attribute__((used, retain, section(".kept_data"))) static const char kept[] = "kept";

int main(void)
{
    int total = 0;
    for (unsigned i = 0; i < sizeof used_table / sizeof used_table[0]; i++)
        total += ops[i % 2](used_table[i]);
    used_counter += total;
    printf("total=%d counter=%d\n", total, used_counter);
    return used_counter == 10 + total ? 0 : 1;
}
