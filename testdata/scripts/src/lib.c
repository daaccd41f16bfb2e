/* Functions and data in their own sections (-ffunction-sections -fdata-sections). */
int counter = 5;
int zeroed;
int common_var;                 /* COMMON with -fcommon */
int lib_value = 42;
const char msg[] = "hello from lib";
_Thread_local int tvar = 3;
_Thread_local int tzero;
_Thread_local long tbig[8];

__attribute__((noinline)) int lib_func(int x) { return x * counter + 1; }
__attribute__((noinline)) int unused_func(int x) { return x * 7 + zeroed; }

/* A table matched by `.tab_[1-6][0-9]`; .tab_70 and .tab_x1 are not. */
__attribute__((section(".tab_25"), used)) const int tab25 = 25;
__attribute__((section(".tab_10"), used)) const int tab10 = 10;
__attribute__((section(".tab_63"), used)) const int tab63 = 63;
__attribute__((section(".tab_70"), used)) const int tab70 = 70;
__attribute__((section(".tab_x1"), used)) const int tabx1 = 1;

/* Sections of different alignment, for SORT_BY_ALIGNMENT and SUBALIGN. */
__attribute__((section(".sa.a"), used, aligned(4))) int sa_a = 1;
__attribute__((section(".sa.b"), used, aligned(64))) int sa_b = 2;
__attribute__((section(".sa.c"), used, aligned(16))) int sa_c = 3;
__attribute__((section(".sa.d"), used, aligned(8))) char sa_d[3] = {1, 2, 3};

/* Kept only by KEEP under --gc-sections (nothing refers to them). */
__attribute__((section(".keep.one"), used)) const long keep_one = 1;
__attribute__((section(".keep.two"), used)) const long keep_two = 2;
/* Not referenced and not KEEPed: --gc-sections drops it. */
__attribute__((section(".drop.me"), used)) const long drop_me = 3;

/* Discarded by /DISCARD/. */
__attribute__((section(".junk"), used)) const char junk[] = "junk";

/* A section no script mentions: an orphan. */
__attribute__((section(".orphan_data"), used)) int orphan_value = 77;
__attribute__((section(".orphan_text"), used)) int orphan_func(void) { return 9; }

/* Constructors with priorities (.init_array.NNNNN) and without (.init_array). */
__attribute__((constructor(300))) static void ctor300(void) { counter += 300; }
__attribute__((constructor(101))) static void ctor101(void) { counter += 101; }
__attribute__((constructor)) static void ctor_plain(void) { counter += 1; }
