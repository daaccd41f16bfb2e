/* Link-time optimization across files: main calls into lto_lib.c (both -flto) and into a
 * plain archive (helper.c, no LTO). */
#include <stdio.h>

int scale(int x);
int helper_offset(void);
extern int table[4];

int main(void)
{
	int sum = 0;

	for (int i = 0; i < 4; i++)
		sum += scale(table[i]);
	printf("lto: sum %d, offset %d\n", sum, helper_offset());
	return 0;
}
