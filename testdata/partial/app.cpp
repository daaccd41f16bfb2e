// main: exercises every object of the program and prints what it sees.
#include <cstdio>
#include <stdexcept>

#include "common.hpp"

static int app_ctor_seen = [] {
    ctor_order[ctor_count++] = 3;
    return 1;
}();

int main()
{
    std::printf("ctors:");
    for (int i = 0; i < ctor_count; i++)
        std::printf(" %d", ctor_order[i]);
    std::printf(" (app %d)\n", app_ctor_seen);
    std::printf("shapes %d %d, tls %d, name %s\n", shapes_area(3), shapes_area(4), shapes_tls,
                shapes_name().c_str());
    std::printf("thrower %d %d\n", thrower_run(1), thrower_run(5));
    for (int n : {1, 9}) {
        try {
            thrower_throw(n);
            std::printf("no exception for %d\n", n);
        } catch (const std::out_of_range &e) {
            std::printf("caught out_of_range: %s\n", e.what());
        } catch (const std::exception &e) {
            std::printf("caught exception: %s\n", e.what());
        }
    }
    std::printf("c_sum %d, c_tls %d, common %d\n", c_sum(4), c_tls, shared_common);
    std::printf("inline %d, box %d\n", shared_inline(2), Box<int>{21}.twice());
    return 0;
}
