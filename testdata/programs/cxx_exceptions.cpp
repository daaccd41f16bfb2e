// Exceptions thrown across functions and translation units, rethrown, and caught by base class;
// destructors run during unwinding.
#include <cstdio>
#include <stdexcept>
#include <string>

#include "cxx_exceptions.h"

namespace {

struct Tracer {
    explicit Tracer(const char *n) : name(n) { std::printf("  enter %s\n", name); }
    ~Tracer() { std::printf("  leave %s\n", name); }
    const char *name;
};

int level3(int x)
{
    Tracer t("level3");
    if (x < 0)
        throw std::runtime_error("negative input: " + std::to_string(x));
    if (x == 0)
        throw ParseError("zero", 17);
    return 100 / x;
}

int level2(int x)
{
    Tracer t("level2");
    return level3(x) + 1;
}

int level1(int x)
{
    Tracer t("level1");
    try {
        return level2(x);
    } catch (const ParseError &e) {
        std::printf("  level1 saw ParseError at column %d, rethrowing\n", e.column());
        throw;
    }
}

void run(int x)
{
    try {
        int r = level1(x);
        std::printf("run(%d) = %d\n", x, r);
    } catch (const ParseError &e) {
        std::printf("run(%d): ParseError: %s (column %d)\n", x, e.what(), e.column());
    } catch (const std::exception &e) {
        std::printf("run(%d): std::exception: %s\n", x, e.what());
    }
}

} // namespace

int main()
{
    run(5);
    run(-3);
    run(0);

    // Thrown in the other translation unit, caught here.
    int caught = 0;
    for (int code = 0; code < 4; code++) {
        try {
            other_unit_throw(code);
            std::printf("code %d: no exception\n", code);
        } catch (const ParseError &e) {
            caught++;
            std::printf("code %d: ParseError %s\n", code, e.what());
        } catch (const std::out_of_range &e) {
            caught++;
            std::printf("code %d: out_of_range %s\n", code, e.what());
        } catch (int v) {
            caught++;
            std::printf("code %d: int %d\n", code, v);
        } catch (...) {
            caught++;
            std::printf("code %d: unknown exception\n", code);
        }
    }

    // Thrown here, caught in the other translation unit.
    std::printf("other_unit_catch: %s\n", other_unit_catch([] { throw ParseError("lambda", 3); }).c_str());
    std::printf("other_unit_catch: %s\n", other_unit_catch([] { throw std::logic_error("logic"); }).c_str());
    std::printf("other_unit_catch: %s\n", other_unit_catch([] {}).c_str());

    // std::exception_ptr round trip.
    std::exception_ptr saved;
    try {
        throw std::invalid_argument("saved for later");
    } catch (...) {
        saved = std::current_exception();
    }
    try {
        std::rethrow_exception(saved);
    } catch (const std::invalid_argument &e) {
        std::printf("rethrow_exception: %s\n", e.what());
    }
    std::printf("caught %d\n", caught);
    return caught == 3 ? 0 : 1;
}
