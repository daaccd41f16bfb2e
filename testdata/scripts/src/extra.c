/* A second object with the same kinds of sections, for EXCLUDE_FILE and sorting by name. */
int extra_data = 11;
int extra_common;               /* COMMON with -fcommon */
long extra_big_common[5];       /* COMMON, larger alignment */
const char extra_msg[] = "extra";
_Thread_local int extra_tls = 8;

__attribute__((noinline)) int extra_func(int x) { return x + extra_data + extra_common; }
__attribute__((noinline)) int extra_helper(int x) { return x - 1; }

__attribute__((section(".tab_40"), used)) const int tab40 = 40;
__attribute__((section(".tab_12"), used)) const int tab12 = 12;
__attribute__((section(".sa.e"), used, aligned(32))) int sa_e = 5;
__attribute__((section(".keep.three"), used)) const long keep_three = 3;
__attribute__((section(".junk"), used)) const char extra_junk[] = "more junk";
__attribute__((section(".orphan_data"), used)) int extra_orphan = 78;

__attribute__((constructor(200))) static void ctor200(void) { extra_data += 200; }
__attribute__((constructor(65535))) static void ctor65535(void) { extra_data += 1; }
