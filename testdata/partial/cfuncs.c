/* C side: a COMMON symbol (also in util1.c), TLS, a prioritised constructor, archive calls. */
int shared_common;
_Thread_local int c_tls = 40;
int ctor_order[8] = {0};
int ctor_count = 0;

int util_a(int);
int util_b(int);

__attribute__((constructor(150))) static void c_ctor(void)
{
    ctor_order[ctor_count++] = 1;
    shared_common += 10;
}

/* Not exported: objcopy --keep-global-symbols makes it local. */
__attribute__((noinline)) int c_helper(int x) { return x + 1; }

int c_sum(int n)
{
    int s = 0;
    for (int i = 0; i < n; i++)
        s += util_a(i);
    return s + c_tls++ + util_b(n) + c_helper(n);
}
