#include <vector>

#include "cxx_exceptions.h"

void other_unit_throw(int code)
{
    switch (code) {
    case 0:
        throw ParseError("from other unit", 42);
    case 1: {
        std::vector<int> v(3);
        (void)v.at(10);
        break;
    }
    case 2:
        throw 12345;
    default:
        break;
    }
}

std::string other_unit_catch(const std::function<void()> &f)
{
    try {
        f();
    } catch (const ParseError &e) {
        return std::string("caught ParseError '") + e.what() + "' col " + std::to_string(e.column());
    } catch (const std::exception &e) {
        return std::string("caught std::exception '") + e.what() + "'";
    }
    return "nothing thrown";
}
