int foo(void) { return 11; }
