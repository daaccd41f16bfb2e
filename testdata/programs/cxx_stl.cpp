// std::string, std::map, std::vector, iostreams and algorithms.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

int main()
{
    const std::string text =
        "it was the best of times it was the worst of times it was the age of wisdom "
        "it was the age of foolishness";
    std::istringstream in(text);
    std::map<std::string, int> counts;
    std::vector<std::string> words;
    for (std::string w; in >> w;) {
        counts[w]++;
        words.push_back(w);
    }
    std::cout << "words: " << words.size() << ", distinct: " << counts.size() << '\n';
    for (const auto &[word, n] : counts)
        std::cout << "  " << std::left << std::setw(12) << word << std::right << std::setw(3) << n
                  << '\n';

    std::vector<std::pair<int, std::string>> by_count;
    for (const auto &[word, n] : counts)
        by_count.emplace_back(-n, word);
    std::sort(by_count.begin(), by_count.end());
    std::cout << "most common: " << by_count.front().second << " (" << -by_count.front().first
              << ")\n";

    std::vector<double> values(20);
    std::iota(values.begin(), values.end(), 1.0);
    std::transform(values.begin(), values.end(), values.begin(),
                   [](double v) { return 1.0 / (v * v); });
    double sum = std::accumulate(values.begin(), values.end(), 0.0);
    std::cout << std::fixed << std::setprecision(10) << "sum 1/n^2 (n<=20) = " << sum << '\n';
    std::cout << std::scientific << std::setprecision(3) << "smallest = " << values.back()
              << std::defaultfloat << '\n';

    std::string s = "Hello";
    s += ", ";
    s.append("world");
    s.insert(0, ">> ");
    std::string upper = s;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    std::cout << s << " | " << upper << " | find=" << s.find("world") << " substr=" << s.substr(3, 5)
              << '\n';

    std::set<int> primes;
    for (int i = 2; i < 60; i++) {
        bool prime = true;
        for (int p : primes)
            if (i % p == 0)
                prime = false;
        if (prime)
            primes.insert(i);
    }
    std::ostringstream os;
    for (int p : primes)
        os << p << ' ';
    std::cout << "primes: " << os.str() << '\n';

    auto shared = std::make_shared<std::vector<int>>(5, 7);
    std::unique_ptr<std::string> owned(new std::string(40, '*'));
    std::cout << "shared use_count=" << shared.use_count() << " sum=" << std::accumulate(shared->begin(), shared->end(), 0)
              << " owned=" << owned->size() << '\n';
    std::cerr << "stderr works too\n";
    std::cout << std::hex << 48879 << std::dec << ' ' << std::boolalpha << true << std::endl;
    return counts.size() == 10 ? 0 : 1;
}
