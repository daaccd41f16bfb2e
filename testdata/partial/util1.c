int shared_common; /* COMMON, merged with cfuncs.c's */
int util_a(int x) { return x * x + shared_common; }
