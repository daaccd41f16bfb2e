/* A C program whose objects carry GNU property notes (-fcf-protection marks them IBT and
   SHSTK compatible); the property note of the image is what the test compares. */
#include <stdio.h>

int twice(int x);

int main(void)
{
    printf("twice(21) = %d\n", twice(21));
    return 0;
}
