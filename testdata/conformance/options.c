/* A program for options that change what the image holds but not what it does:
 * --require-defined, --retain-symbols-file, -init/-fini, -z start-stop-visibility. */
#include <stdio.h>

extern int lib_value(void);

__attribute__((section("options_set"), used)) static const int in_set[] = { 1, 2, 3 };
extern const int __start_options_set[], __stop_options_set[];

int keep_me(void)
{
	return 7;
}

int main(void)
{
	printf("lib %d, keep %d, set of %d\n", lib_value(), keep_me(),
	       (int)(__stop_options_set - __start_options_set));
	return 0;
}
