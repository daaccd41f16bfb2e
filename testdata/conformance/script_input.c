#include <stdio.h>
int foo(void);
extern int extra;
int main(void) { printf("foo=%d extra=%d\n", foo(), extra); return 0; }
