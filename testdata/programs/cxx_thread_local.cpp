// thread_local objects with non-trivial constructors and destructors, used from std::threads.
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

static std::atomic<int> constructed{0};
static std::atomic<int> destroyed{0};

struct PerThread {
    explicit PerThread(int seed) : values(seed % 7 + 1, seed), label("worker")
    {
        constructed++;
    }
    ~PerThread() { destroyed++; }
    std::vector<int> values;
    std::string label;
    int calls = 0;
};

static std::atomic<int> seed_source{10};

PerThread &state()
{
    thread_local PerThread s(seed_source.load() + 3);
    return s;
}

thread_local std::string tl_name = "unnamed";
thread_local int tl_counter = 100;

int main()
{
    std::mutex m;
    std::vector<std::string> lines(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([t, &lines, &m] {
            tl_name = "thread" + std::to_string(t);
            for (int i = 0; i < 1000; i++) {
                state().calls++;
                tl_counter++;
            }
            PerThread &s = state();
            char buf[160];
            std::snprintf(buf, sizeof buf, "%s: calls=%d counter=%d values=%zu label=%s", tl_name.c_str(),
                          s.calls, tl_counter, s.values.size(), s.label.c_str());
            std::lock_guard<std::mutex> lock(m);
            lines[t] = buf;
        });
    for (auto &th : threads)
        th.join();
    for (const auto &l : lines)
        std::printf("%s\n", l.c_str());
    std::printf("main: name=%s counter=%d\n", tl_name.c_str(), tl_counter);
    std::printf("constructed=%d destroyed=%d\n", constructed.load(), destroyed.load());
    return constructed.load() == 4 && destroyed.load() == 4 ? 0 : 1;
}
