/* The C side of the --discard-locals / --discard-all test: static functions and data, and
 * string constants (whose .L labels the assembler keeps with -Wa,-L). */
static const char *volatile greeting = "hello";
static int calls;

static __attribute__((noinline)) int count(void) { return ++calls; }

int helper(void) { return count() + greeting[0] - 'h' + 6; }
