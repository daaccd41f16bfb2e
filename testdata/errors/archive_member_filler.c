/* A first archive member that nothing needs. */
int filler_table[256] = {1, 2, 3};
int filler_function(int i) { return filler_table[i & 255]; }
