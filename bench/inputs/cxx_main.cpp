// C++ benchmark input: pulls in a good part of libstdc++ (iostreams, locale,
// regex, exceptions, threads with thread_local, std::function).
#include <algorithm>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

thread_local int tls_counter = 0;

struct Shape {
    virtual ~Shape() = default;
    virtual double area() const = 0;
    virtual std::string name() const = 0;
};
struct Rect : Shape {
    double w, h;
    Rect(double w, double h) : w(w), h(h) {}
    double area() const override { return w * h; }
    std::string name() const override { return "rect"; }
};
struct Circle : Shape {
    double r;
    explicit Circle(double r) : r(r) {}
    double area() const override { return 3.14159 * r * r; }
    std::string name() const override { return "circle"; }
};

struct Registry {
    std::map<std::string, int> counts;
    Registry() { counts["init"] = 1; }
};
Registry registry;  // non-trivial static initialiser

int parse_positive(const std::string &s)
{
    int v = std::stoi(s);
    if (v <= 0) throw std::domain_error("not positive: " + s);
    return v;
}

}  // namespace

int main()
{
    std::vector<std::unique_ptr<Shape>> shapes;
    for (int i = 1; i <= 5; i++) {
        shapes.push_back(std::make_unique<Rect>(i, i + 1));
        shapes.push_back(std::make_unique<Circle>(i * 0.5));
    }
    std::sort(shapes.begin(), shapes.end(),
              [](const auto &a, const auto &b) { return a->area() < b->area(); });
    std::ostringstream os;
    os << std::fixed << std::setprecision(3);
    for (const auto &s : shapes) os << s->name() << '=' << s->area() << ' ';
    std::cout << os.str() << '\n';

    std::string text = "linker=spacer pages=4096 digest=sha1 layout=stable";
    std::regex kv(R"((\w+)=(\w+))");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kv); it != std::sregex_iterator(); ++it)
        registry.counts[(*it)[1]] += static_cast<int>((*it)[2].length());
    for (const auto &[k, v] : registry.counts) std::cout << k << ':' << v << ' ';
    std::cout << '\n';

    for (const char *s : {"12", "-3", "x"}) {
        try {
            int v = parse_positive(s);
            std::cout << "parsed " << v << '\n';
        } catch (const std::domain_error &e) {
            std::cout << "domain_error: " << e.what() << '\n';
        } catch (const std::exception &e) {
            std::cout << "exception: " << e.what() << '\n';
        }
    }

    std::vector<long> sums(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([t, &sums] {
            for (int i = 0; i < 1000; i++) tls_counter += i % (t + 2);
            sums[t] = tls_counter;
        });
    for (auto &th : threads) th.join();
    std::cout << "threads " << std::accumulate(sums.begin(), sums.end(), 0L) << " main tls " << tls_counter << '\n';

    std::function<long(int)> fact = [&](int n) -> long { return n <= 1 ? 1 : n * fact(n - 1); };
    std::cout << "fact(15) = " << fact(15) << '\n';
    return 0;
}
