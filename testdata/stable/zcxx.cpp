// Version-stable layout test program in C++: the standard library's containers, strings,
// streams, algorithms and exceptions, with the result compressed and restored with zlib.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <zlib.h>

static uint32_t fnv1a(const std::string &s)
{
    uint32_t h = 2166136261u;
    for (unsigned char c : s) {
        h ^= c;
        h *= 16777619u;
    }
    return h;
}

static int parse_positive(const std::string &w)
{
    int v = std::stoi(w);
    if (v <= 0)
        throw std::out_of_range("not positive: " + w);
    return v;
}

int main()
{
    std::printf("zlib %s\n", zlibVersion());
    static const char *const words[] = {"page", "share", "linker", "library",
                                        "region", "layout", "stable", "version"};
    std::map<std::string, int> counts;
    std::vector<std::string> all;
    uint32_t state = 0x2468aceu;
    for (int i = 0; i < 20000; i++) {
        state = state * 1103515245u + 12345u;
        std::string w = words[(state >> 16) & 7];
        if ((state >> 28) < 2)
            w += std::to_string(state % 97);
        counts[w]++;
        all.push_back(w);
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    std::ostringstream out;
    for (const auto &w : all)
        out << w << '=' << counts[w] << '\n';
    int caught = 0;
    for (const char *w : {"12", "-3", "x", "40"}) {
        try {
            out << "parsed " << parse_positive(w) << '\n';
        } catch (const std::out_of_range &e) {
            out << "out of range: " << e.what() << '\n';
            caught++;
        } catch (const std::invalid_argument &) {
            out << "invalid: " << w << '\n';
            caught++;
        }
    }
    std::string text = out.str();
    std::printf("c++ output: %zu bytes, %zu distinct words, %d exceptions caught, fnv1a %08x\n",
                text.size(), all.size(), caught, (unsigned)fnv1a(text));
    uLongf packed = compressBound(text.size()), back = text.size();
    std::vector<unsigned char> c(packed), d(text.size());
    bool ok = compress2(c.data(), &packed, (const Bytef *)text.data(), text.size(), 6) == Z_OK &&
              uncompress(d.data(), &back, c.data(), packed) == Z_OK && back == text.size() &&
              std::equal(d.begin(), d.end(), text.begin());
    std::printf("zlib %zu -> %lu -> %lu bytes, %s\n", text.size(), (unsigned long)packed,
                (unsigned long)back, ok ? "ok" : "MISMATCH");
    std::puts(ok ? "all round trips ok" : "FAILED");
    return ok ? 0 : 1;
}
