/* Runs the program's own main (renamed real_main at compile time), then waits to be killed, so
   that its memory can be measured while it is alive. */
#include <stdio.h>
#include <unistd.h>
int real_main(int argc, char **argv, char **envp);
int main(int argc, char **argv, char **envp)
{
    int r = real_main(argc, argv, envp);
    fflush(stdout);
    pause();
    return r;
}
