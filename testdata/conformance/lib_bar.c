int bar(void) { return 22; }
