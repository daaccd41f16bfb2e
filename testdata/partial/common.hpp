// Declarations shared by the partial-link test program (C++ side).
#pragma once

#include <string>

// A template instantiated in several objects (COMDAT groups).
template <typename T> struct Box {
    T v;
    __attribute__((noinline)) T twice() const { return v + v; }
};

// An inline function emitted, out of line, in several objects: one COMDAT group each.
__attribute__((noinline)) inline int shared_inline(int x) { return x * 3 + 1; }

int shapes_area(int n);
int thrower_run(int n);
void thrower_throw(int n);
std::string shapes_name();

extern "C" {
int c_sum(int n);
extern int shared_common;
extern thread_local int c_tls;
extern int ctor_order[8];
extern int ctor_count;
}

extern thread_local int shapes_tls;
