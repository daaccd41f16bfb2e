/* Only commons and a function nobody calls: must stay out of the link. */
int foo;
int common_other_marker(void) { return 2; }
