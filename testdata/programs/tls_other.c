/* The second translation unit of the TLS test. */
__thread int tls_shared = 5;
__thread long tls_other_zero[8];
static __thread int tls_private;
static __thread int tls_private_init = 9;

int other_bump_private(int by)
{
    tls_private += by;
    tls_private_init += by;
    return tls_private;
}

int other_private_value(void)
{
    return tls_private_init - 9 == tls_private ? tls_private : -1;
}

long other_sum_zero(void)
{
    long s = 0;
    for (int i = 0; i < 8; i++)
        s += tls_other_zero[i];
    return s;
}

int *other_shared_address(void)
{
    return &tls_shared;
}
