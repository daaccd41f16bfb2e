// References C++ functions nobody defines, and (through demangle_rust.c) symbols with Rust
// names: the undefined-reference errors must show them demangled.
namespace ns {
int f(int);
template <class T> struct S {
    static int h(const T &);
};
} // namespace ns

extern "C" int use_rust_names(void);

int main() { return ns::f(3) + ns::S<long>::h(4L) + use_rust_names(); }
