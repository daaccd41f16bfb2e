// Exceptions thrown and caught here, and thrown to the caller.
#include <stdexcept>
#include <string>

#include "common.hpp"

struct MyError : std::runtime_error {
    int code;
    MyError(const std::string &s, int c) : std::runtime_error(s), code(c) {}
};

__attribute__((noinline)) static void deep(int n)
{
    if (n > 2)
        throw MyError("too deep: " + std::to_string(n), n);
}

int thrower_run(int n)
{
    try {
        deep(n);
        return shared_inline(n) + (int)Box<long>{n}.twice() + Box<int>{n}.twice();
    } catch (const MyError &e) {
        return -e.code * 100 - (int)std::string(e.what()).size();
    }
}

void thrower_throw(int n)
{
    if (n > 5)
        throw std::out_of_range("index " + std::to_string(n));
}
