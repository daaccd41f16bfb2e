/* Constructors and destructors with priorities, plus atexit handlers.  The order of the lines
 * printed is the test. */
#include <stdio.h>
#include <stdlib.h>

static int step;
static int order_errors;

static void expect(int want, const char *who)
{
    step++;
    if (step != want)
        order_errors++;
    printf("%2d %s%s\n", step, who, step == want ? "" : " (out of order)");
}

/* Destructors of lower priority numbers run last. */
__attribute__((constructor(101))) static void ctor101(void) { expect(1, "constructor 101"); }
__attribute__((constructor(102))) static void ctor102(void) { expect(2, "constructor 102"); }
__attribute__((constructor(500))) static void ctor500(void) { expect(3, "constructor 500"); }
__attribute__((constructor)) static void ctor_default(void) { expect(4, "constructor default"); }

__attribute__((destructor(101))) static void dtor101(void)
{
    expect(11, "destructor 101");
    fflush(stdout);
    /* Nothing else runs after this; report order errors in the exit status. */
    if (order_errors)
        _Exit(100 + order_errors);
}
__attribute__((destructor(102))) static void dtor102(void) { expect(10, "destructor 102"); }
__attribute__((destructor)) static void dtor_default(void) { expect(9, "destructor default"); }

static void at_exit_first(void) { expect(8, "atexit registered first"); }
static void at_exit_second(void) { expect(7, "atexit registered second"); }

/* A constructor in .init_array reached through a plain function pointer. */
static void raw_init(void) { expect(5, "raw .init_array entry"); }
__attribute__((section(".init_array"), used)) static void (*raw_init_ptr)(void) = raw_init;

int main(void)
{
    expect(6, "main");
    atexit(at_exit_first);
    atexit(at_exit_second);
    /* Exit status 3 tells that main ran to the end. */
    return 3;
}
