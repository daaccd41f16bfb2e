// A static constructor, a TLS variable, templates and the shared inline function.
#include <vector>

#include "common.hpp"

struct Registry {
    std::vector<int> v;
    Registry()
    {
        v.push_back(7);
        ctor_order[ctor_count++] = 2;
    }
};
static Registry registry;

thread_local int shapes_tls = 5;

// Not exported from the partial link: objcopy --localize-symbol makes it local.
__attribute__((noinline)) int shapes_helper(int n) { return n * 2 + (int)registry.v.size(); }

int shapes_area(int n)
{
    Box<int> b{n};
    shapes_tls += n;
    return b.twice() + shared_inline(n) + shapes_helper(n) + shapes_tls;
}

std::string shapes_name() { return std::string("sq") + std::to_string(Box<long>{8}.twice()); }
