/* A small C program for trying out spacer: formatted output, heap
 * allocation, sorting and a static initialised table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const words[] = {
    "pages", "linker", "static", "layout", "digest", "shared", "stable",
};
#define NWORDS (sizeof words / sizeof words[0])

static int cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(void)
{
    const char **sorted = malloc(NWORDS * sizeof *sorted);
    if (sorted == NULL) {
        perror("malloc");
        return 1;
    }
    memcpy(sorted, words, NWORDS * sizeof *sorted);
    qsort(sorted, NWORDS, sizeof *sorted, cmp);

    char *line = malloc(256);
    if (line == NULL) {
        perror("malloc");
        return 1;
    }
    size_t len = 0;
    for (size_t i = 0; i < NWORDS; i++)
        len += (size_t)snprintf(line + len, 256 - len, "%s%s", i ? " " : "", sorted[i]);

    printf("Hello from a statically linked program!\n");
    printf("%zu words, %zu characters: %s\n", NWORDS, len, line);

    free(line);
    free(sorted);
    return 0;
}
