#pragma once
#include <functional>
#include <stdexcept>
#include <string>

class ParseError : public std::runtime_error {
public:
    ParseError(const std::string &what, int column)
        : std::runtime_error("parse error: " + what), column_(column)
    {
    }
    int column() const { return column_; }

private:
    int column_;
};

void other_unit_throw(int code);
std::string other_unit_catch(const std::function<void()> &f);
