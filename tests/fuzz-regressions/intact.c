#include <stdio.h>
#include <string.h>
static const char msg[] = "hello from base";
int counter = 3;
int big[1000];
extern int other(int);
int main(void) {
    big[5] = other(counter);
    printf("%s %d %zu\n", msg, big[5], strlen(msg));
    return 0;
}
