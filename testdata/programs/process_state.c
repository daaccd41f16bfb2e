/* Reports the process state a program inherits from whoever started it: signal dispositions,
   the alternate signal stack, and mappings of shared libraries it never loaded. Started
   directly and through `spacer run`, it must print the same. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *disposition(int sig)
{
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) != 0)
        return "error";
    if (sa.sa_handler == SIG_DFL)
        return "default";
    if (sa.sa_handler == SIG_IGN)
        return "ignored";
    return "handler";
}

int main(void)
{
    printf("SIGPIPE %s\n", disposition(SIGPIPE));
    printf("SIGSEGV %s\n", disposition(SIGSEGV));
    printf("SIGBUS %s\n", disposition(SIGBUS));
    printf("SIGILL %s\n", disposition(SIGILL));
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0)
        printf("altstack %s\n", (ss.ss_flags & SS_DISABLE) ? "off" : "on");
    FILE *maps = fopen("/proc/self/maps", "r");
    int shared_libs = 0;
    char line[512];
    while (maps && fgets(line, sizeof line, maps))
        if (strstr(line, ".so"))
            shared_libs++;
    if (maps)
        fclose(maps);
    printf("shared library mappings %d\n", shared_libs);
    /* The heap works: large and small blocks. */
    char *big = malloc(1 << 20), *small = malloc(100);
    memset(big, 1, 1 << 20);
    memset(small, 2, 100);
    printf("heap %d\n", big[12345] + small[50]);
    free(big);
    free(small);
    return 0;
}
