/* A common `foo` (built with -fcommon); the archive defines `foo = 5` in one member. */
#include <stdio.h>
int foo;
int main(void) { printf("foo=%d\n", foo); return 0; }
