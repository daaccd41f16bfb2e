/* Sections placed by --section-start, -Ttext, -Tdata and -Tbss. */
#include <stdio.h>
__attribute__((section(".mysec"))) int marker = 42;
int counter;
int data_word = 7;
int main(void)
{
    counter += data_word;
    printf("marker=%d counter=%d\n", marker, counter);
    return 0;
}
