/* Weak definitions overridden by strong ones, weak undefined references, and common symbols
 * (built with -fcommon).  weak_lib.a holds a strong definition of a function that is only
 * referenced weakly: a weak reference must not pull an archive member in. */
#include <stdio.h>

/* Tentative definitions: common symbols, also defined (bigger) in weak_common_other.c. */
int common_counter;
char common_buffer[16];

/* Weak default implementations; weak_common_other.c overrides overridden_hook. */
__attribute__((weak)) const char *overridden_hook(void) { return "weak default (wrong)"; }
__attribute__((weak)) const char *default_hook(void) { return "weak default"; }
__attribute__((weak)) int weak_data = 1;

/* Weak undefined: nobody defines this one. */
extern void never_defined(void) __attribute__((weak));
extern int never_defined_data __attribute__((weak));
/* Weak undefined, defined only in an archive member that nothing else pulls in. */
extern const char *only_in_archive(void) __attribute__((weak));
/* Strong reference to a function in the archive. */
const char *archive_function(void);

void other_bump(int by);
int other_buffer_size(void);

int main(void)
{
    other_bump(5);
    common_counter += 2;
    printf("overridden_hook: %s\n", overridden_hook());
    printf("default_hook: %s\n", default_hook());
    printf("weak_data: %d\n", weak_data);
    printf("never_defined: %s\n", never_defined ? "defined (wrong)" : "null");
    printf("&never_defined_data: %s\n", &never_defined_data ? "non-null (wrong)" : "null");
    printf("only_in_archive: %s\n", only_in_archive ? "pulled in (wrong)" : "null");
    printf("archive_function: %s\n", archive_function());
    printf("common_counter: %d\n", common_counter);
    printf("common_buffer size seen by other: %d\n", other_buffer_size());
    common_buffer[15] = 'z';
    int bad = (common_counter != 7) + (never_defined != 0) + (only_in_archive != 0) +
              (weak_data != 2);
    return bad;
}
