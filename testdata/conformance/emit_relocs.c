/* A freestanding program (no C library) for --emit-relocs: references of every common kind,
 * so that the relocations an image keeps can be compared with GNU ld's one by one. Built with
 * -fPIC -fno-plt, so that GOT loads and calls are there for the linker to relax. Exits with
 * 50. */

/* volatile: the compiler may not fold the loads, so the references stay in the object. */
static const char *volatile names[] = {"alpha", "beta", "gamma"};
int counter = 1;
static int hidden_state;
__attribute__((visibility("hidden"))) int hidden_global = 4;
int table[4] = {1, 2, 3, 4};
int *ptrs[] = {&counter, &table[2]};

__attribute__((noinline)) int add(int a, int b) { return a + b + hidden_state; }

/* Nothing calls it: --gc-sections drops it, and the relocations of its FDE go. */
__attribute__((noinline)) int unused(int x) { return x * 3 + counter; }

static int (*volatile fp)(int, int) = add;
static int *volatile local_ptr = &table[1];

__attribute__((noreturn)) void _start(void) {
    int r = 0;
    for (int i = 0; i < 3; i++)
        r += names[i][0];
    r = fp(r, *ptrs[1]) + add(counter, 0) - 1 + hidden_global + *local_ptr - 2;
    hidden_state = r;
    __asm__ volatile("syscall" ::"a"(60), "D"(r & 0xff));
    __builtin_unreachable();
}
