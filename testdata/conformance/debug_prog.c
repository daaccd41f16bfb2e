/* A program with debug information spread over several functions and a struct, for
   --compress-debug-sections: its line table and DWARF entries must read the same whether the
   debug sections are compressed or not. */
#include <stdio.h>
#include <string.h>

struct point {
    int x, y;
    const char *label;
};

static int manhattan(const struct point *p)
{
    int x = p->x < 0 ? -p->x : p->x;
    int y = p->y < 0 ? -p->y : p->y;
    return x + y;
}

__attribute__((noinline)) int sum_labels(const struct point *pts, int n)
{
    int total = 0;
    for (int i = 0; i < n; i++)
        total += (int)strlen(pts[i].label) + manhattan(&pts[i]);
    return total;
}

int main(void)
{
    struct point pts[] = {{3, -4, "a"}, {-1, 2, "bc"}, {10, 10, "def"}};
    printf("total %d\n", sum_labels(pts, 3));
    return 0;
}
