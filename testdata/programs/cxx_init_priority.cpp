// Static constructors ordered with init_priority across two translation units.
#include <cstdio>

#include "cxx_init_priority.h"

int init_step = 0;
int init_errors = 0;

Registered::Registered(const char *name, int want) : name_(name)
{
    init_step++;
    if (init_step != want)
        init_errors++;
    std::printf("construct %-22s step %d%s\n", name, init_step, init_step == want ? "" : " (wrong)");
}

Registered::~Registered() { std::printf("destroy %s\n", name_); }

Registered late_here __attribute__((init_priority(3000))) ("late_here", 4);
Registered first_here __attribute__((init_priority(101))) ("first_here", 1);
Registered default_here("default_here", 5);

int main()
{
    std::printf("main: %d constructed, %d errors\n", init_step, init_errors);
    return init_errors;
}
