/* Four threads and the main thread each update their own copies of static, global and extern
   thread-local variables (initialised and zero-initialised), then check them against what
   they must be. Prints each thread's values in a fixed order; exits 1 on a wrong value. */
#include <pthread.h>
#include <stdio.h>

extern __thread int ext_counter;
extern __thread long ext_array[4];
int lib_bump(int k);

static __thread int local_static = 5;
__thread int main_global = 9;
static __thread char local_zero[64];

#define THREADS 4
#define ROUNDS 1000

struct result {
    long values[8];
};

static struct result results[THREADS + 1];

static void *work(void *arg) {
    int id = (int)(long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        local_static += id;
        main_global += 1;
        ext_counter += 2;
        ext_array[i % 4] += id;
        local_zero[id] += 1;
        lib_bump(1);
    }
    long *v = results[id].values;
    v[0] = local_static;
    v[1] = main_global;
    v[2] = ext_counter;
    v[3] = ext_array[0];
    v[4] = ext_array[3];
    v[5] = (unsigned char)local_zero[id];
    v[6] = lib_bump(0);
    v[7] = local_zero[(id + 1) % 64];
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    for (long i = 1; i <= THREADS; i++)
        if (pthread_create(&t[i - 1], NULL, work, (void *)i) != 0)
            return 2;
    work((void *)0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    int bad = 0;
    for (int id = 0; id <= THREADS; id++) {
        long *v = results[id].values;
        long want[8] = {5 + (long)ROUNDS * id, 9 + ROUNDS, 100 + 3 * ROUNDS,
                        1 + (ROUNDS / 4) * id, 4 + (ROUNDS / 4) * id, ROUNDS % 256,
                        7 + ROUNDS, 0};
        printf("thread %d:", id);
        for (int k = 0; k < 8; k++) {
            printf(" %ld", v[k]);
            bad |= v[k] != want[k];
        }
        printf("\n");
    }
    printf(bad ? "wrong thread-local values\n" : "ok\n");
    return bad;
}
