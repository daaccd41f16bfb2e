/* Thread-local storage with several threads: initialised (.tdata) and zero-initialised (.tbss)
 * variables, in this file and in tls_other.c.  Built with the default (exec) TLS models and,
 * with -fPIC, with the general-dynamic, local-dynamic and TLS-descriptor models, which the
 * linker has to relax for a static executable. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define NTHREADS 4

/* Defined in tls_other.c. */
extern __thread int tls_shared;
extern __thread long tls_other_zero[8];
int other_bump_private(int by);
int other_private_value(void);
long other_sum_zero(void);
int *other_shared_address(void);

__thread int tls_init = 1000;
__thread char tls_name[32] = "main";
__thread double tls_zero_double;
static __thread int tls_static_counter = 5;
static __thread long long tls_static_big[16];
__thread int tls_aligned __attribute__((aligned(64))) = 77;

struct result {
    int id;
    int init;
    int counter;
    int shared;
    int private_value;
    long zero_sum;
    long long big_sum;
    int address_match;
    int aligned_ok;
    char name[32];
};

static struct result results[NTHREADS + 1];

static void work(int id, struct result *r)
{
    tls_init += id;
    snprintf(tls_name, sizeof tls_name, "thread-%d", id);
    tls_zero_double += id * 0.5;
    for (int i = 0; i < 100; i++) {
        tls_static_counter++;
        tls_static_big[i % 16] += i * (id + 1);
    }
    tls_shared *= (id + 2);
    for (int i = 0; i < 8; i++)
        tls_other_zero[i] = id + i;
    other_bump_private(id * 3);
    other_bump_private(1);

    r->id = id;
    r->init = tls_init;
    r->counter = tls_static_counter;
    r->shared = tls_shared;
    r->private_value = other_private_value();
    r->zero_sum = other_sum_zero();
    long long big = 0;
    for (int i = 0; i < 16; i++)
        big += tls_static_big[i];
    r->big_sum = big + (long long)(tls_zero_double * 2);
    r->address_match = (&tls_shared == other_shared_address());
    r->aligned_ok = ((unsigned long)&tls_aligned % 64) == 0 && tls_aligned == 77;
    strcpy(r->name, tls_name);
}

static void *thread_main(void *arg)
{
    int id = (int)(long)arg;
    work(id, &results[id]);
    return NULL;
}

int main(void)
{
    pthread_t threads[NTHREADS];
    /* Every thread starts from the initial image, whatever the others do. */
    for (long i = 1; i <= NTHREADS; i++)
        if (pthread_create(&threads[i - 1], NULL, thread_main, (void *)i) != 0) {
            printf("pthread_create failed\n");
            return 2;
        }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(threads[i], NULL);
    work(0, &results[0]);

    int bad = 0;
    for (int i = 0; i <= NTHREADS; i++) {
        struct result *r = &results[i];
        printf("thread %d: name=%s init=%d counter=%d shared=%d private=%d zero_sum=%ld "
               "big_sum=%lld same_addr=%d aligned=%d\n",
               r->id, r->name, r->init, r->counter, r->shared, r->private_value, r->zero_sum,
               r->big_sum, r->address_match, r->aligned_ok);
        if (r->init != 1000 + i || r->counter != 105 || r->shared != 5 * (i + 2) ||
            r->private_value != 3 * i + 1 || !r->address_match || !r->aligned_ok)
            bad++;
    }
    printf("bad threads: %d\n", bad);
    return bad;
}
