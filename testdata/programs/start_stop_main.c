/* __start_SECNAME / __stop_SECNAME: the linker defines them around a custom section made of
 * entries from several object files.  Also built with --gc-sections, where a __start_
 * reference keeps the section alive. */
#include <stdio.h>
#include <string.h>

struct plugin {
    const char *name;
    int (*run)(int);
    int priority;
};

#define PLUGIN(var, n, fn, prio)                                                                \
    __attribute__((section("plugins"), used, aligned(8))) static const struct plugin var = {  \
        n, fn, prio}

extern const struct plugin __start_plugins[];
extern const struct plugin __stop_plugins[];

static int twice(int x) { return 2 * x; }
static int plus_one(int x) { return x + 1; }
PLUGIN(p_twice, "twice", twice, 2);
PLUGIN(p_plus_one, "plus_one", plus_one, 1);

int main(void)
{
    size_t n = (size_t)(__stop_plugins - __start_plugins);
    printf("plugins: %zu\n", n);
    /* Link order between files is up to the linker command line; sort by priority. */
    const struct plugin *sorted[16];
    for (size_t i = 0; i < n && i < 16; i++)
        sorted[i] = &__start_plugins[i];
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (sorted[j]->priority < sorted[i]->priority) {
                const struct plugin *t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
    int value = 10;
    for (size_t i = 0; i < n; i++) {
        value = sorted[i]->run(value);
        printf("%s -> %d\n", sorted[i]->name, value);
    }
    return n == 4 ? 0 : 1;
}
