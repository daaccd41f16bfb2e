/* GNU indirect functions: the resolver runs at startup (IRELATIVE relocations in a static
 * executable) and picks the implementation. */
#include <stdio.h>
#include <string.h>

typedef int (*sum_fn)(const int *, int);

static int sum_forward(const int *v, int n)
{
    int s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s;
}

static int sum_backward(const int *v, int n)
{
    int s = 0;
    for (int i = n - 1; i >= 0; i--)
        s += v[i];
    return s;
}

static int resolver_calls;

/* The resolver may run before the C library is initialised: keep it trivial. */
static sum_fn resolve_sum(void)
{
    resolver_calls++;
    return sum_backward;
}

int sum(const int *v, int n) __attribute__((ifunc("resolve_sum")));

static const char *name_a(void) { return "implementation A"; }
static const char *name_b(void) { return "implementation B"; }
static const char *(*resolve_name(void))(void)
{
    resolver_calls++;
    return 1 ? name_b : name_a;
}
const char *impl_name(void) __attribute__((ifunc("resolve_name")));

/* Taking the address of an IFUNC must give the same pointer everywhere. */
sum_fn sum_ptr = sum;

int main(void)
{
    int v[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    printf("sum=%d via pointer=%d\n", sum(v, 10), sum_ptr(v, 10));
    printf("name=%s\n", impl_name());
#ifndef SKIP_POINTER_EQUALITY
    /* In a static PIE, ld.bfd resolves the data pointer to the implementation but code refers
     * to the PLT entry, so the two differ there; that variant is built with this check off. */
    printf("pointer equality: %d\n", sum_ptr == (sum_fn)sum);
#endif
    printf("resolver ran: %s\n", resolver_calls >= 2 ? "yes" : "no");
    /* memcpy/strlen in static glibc are IFUNCs too. */
    char buf[32];
    memcpy(buf, "ifunc works", 12);
    printf("%s (%zu)\n", buf, strlen(buf));
    (void)sum_forward;
    return sum(v, 10) == 55 ? 0 : 1;
}
