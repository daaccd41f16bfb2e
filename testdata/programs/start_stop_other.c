struct plugin {
    const char *name;
    int (*run)(int);
    int priority;
};

static int negate(int x) { return -x; }
static int square(int x) { return x * x; }

__attribute__((section("plugins"), used, aligned(8))) static const struct plugin p_negate = {
    "negate", negate, 3};
__attribute__((section("plugins"), used, aligned(8))) static const struct plugin p_square = {
    "square", square, 4};
