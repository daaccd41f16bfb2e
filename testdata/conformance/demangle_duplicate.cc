// Compiled twice (once with -DWITH_MAIN): both objects define ns::g(double) and a function
// with a Rust v0 name, so the link has two multiple-definition errors.
namespace ns {
int g(double d) { return static_cast<int>(d); }
} // namespace ns

extern "C" int _RNvCs1234_7mycrate3bar(void) { return 1; }

#ifdef WITH_MAIN
int main() { return ns::g(2.0) + _RNvCs1234_7mycrate3bar(); }
#endif
