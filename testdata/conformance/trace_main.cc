// A C++ program for --trace: libstdc++, and libm through glibc's libm.a input script.
#include <cmath>
#include <iostream>
#include <vector>

int main(int argc, char **) {
    std::vector<double> v{1.0, 2.0};
    std::cout << std::sqrt(v[1] * argc) << std::endl;
}
