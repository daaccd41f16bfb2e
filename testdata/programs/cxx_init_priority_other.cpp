#include "cxx_init_priority.h"

Registered second_other __attribute__((init_priority(200))) ("second_other", 2);
Registered third_other __attribute__((init_priority(2000))) ("third_other", 3);
