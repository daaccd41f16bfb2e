/* stdio, malloc, qsort and <string.h>: the bread and butter of a C program. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct record {
    char name[16];
    int score;
    double weight;
};

static int by_score_then_name(const void *a, const void *b)
{
    const struct record *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static unsigned long long lcg(unsigned long long *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return *state >> 33;
}

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAILED: %s\n", what);
        failures++;
    }
}

int main(void)
{
    /* Formatted output of integers and floating point values. */
    printf("ints: %d %5d|%-5d|%05d %x %X %o %ld %llu\n", 42, 7, 7, 7, 255, 255, 8,
           -1234567890L, 18446744073709551615ULL);
    printf("floats: %f %.3f %e %.2e %g %g %g\n", 3.14159265358979, 2.0 / 3.0, 12345.678,
           0.000123, 1e20, 1e-5, 100.0);
    printf("math: sqrt(2)=%.10f pi=%.8f exp(1)=%.6f\n", sqrt(2.0), 4.0 * atan(1.0), exp(1.0));
    printf("strings: [%s] [%10s] [%-10s] [%.3s] %c%c\n", "hello", "right", "left", "truncate", 'o',
           'k');

    /* snprintf / strtod / strtol round trips. */
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%.17g", 0.1);
    printf("snprintf: %s (%d chars)\n", buf, n);
    check(strtod(buf, NULL) == 0.1, "strtod round trip");
    check(strtol("-0x7fff", NULL, 16) == -0x7fff, "strtol hex");
    check(atoi("  123abc") == 123, "atoi");

    /* Heap: build a table of records, sort them. */
    static const char *names[] = {"delta", "alpha", "echo", "charlie", "bravo", "foxtrot"};
    size_t count = sizeof names / sizeof names[0];
    struct record *recs = malloc(count * sizeof *recs);
    check(recs != NULL, "malloc");
    for (size_t i = 0; i < count; i++) {
        strncpy(recs[i].name, names[i], sizeof recs[i].name - 1);
        recs[i].name[sizeof recs[i].name - 1] = '\0';
        recs[i].score = (int)(strlen(names[i]) * 10 % 37);
        recs[i].weight = recs[i].score / 7.0;
    }
    qsort(recs, count, sizeof *recs, by_score_then_name);
    for (size_t i = 0; i < count; i++)
        printf("rec %zu: %-8s score=%2d weight=%.4f\n", i, recs[i].name, recs[i].score,
               recs[i].weight);

    /* Grow a buffer with realloc and sort many integers. */
    unsigned long long seed = 12345;
    size_t cap = 4, len = 0;
    int *v = malloc(cap * sizeof *v);
    for (int i = 0; i < 10000; i++) {
        if (len == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            check(v != NULL, "realloc");
        }
        v[len++] = (int)(lcg(&seed) % 100000);
    }
    qsort(v, len, sizeof *v, cmp_int);
    long long sum = 0;
    int sorted = 1;
    for (size_t i = 0; i < len; i++) {
        sum += v[i];
        if (i && v[i - 1] > v[i])
            sorted = 0;
    }
    check(sorted, "qsort order");
    printf("ints: n=%zu min=%d median=%d max=%d sum=%lld\n", len, v[0], v[len / 2], v[len - 1],
           sum);
    free(v);
    free(recs);

    /* <string.h> */
    char text[64];
    strcpy(text, "The quick brown fox");
    strcat(text, " jumps");
    printf("strlen=%zu strchr=%s strrchr=%s strstr=%s\n", strlen(text), strchr(text, 'q'),
           strrchr(text, 'o'), strstr(text, "brown"));
    char upper[64];
    for (size_t i = 0; i <= strlen(text); i++)
        upper[i] = (char)toupper((unsigned char)text[i]);
    printf("upper=%s cmp=%d ncmp=%d\n", upper, strcmp(text, upper) > 0, strncmp(text, "The", 3));
    char *dup = strdup(text);
    char *save = NULL;
    int words = 0;
    for (char *tok = strtok_r(dup, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        printf("word %d: %s\n", ++words, tok);
    free(dup);
    memset(buf, 'x', 10);
    buf[10] = '\0';
    memmove(buf + 2, buf, 5);
    memcpy(buf, "ab", 2);
    printf("mem: %s memcmp=%d\n", buf, memcmp("abc", "abd", 3) < 0);

    /* stderr is not compared, but must work. */
    fprintf(stderr, "this goes to stderr\n");
    printf("failures: %d\n", failures);
    return failures;
}
