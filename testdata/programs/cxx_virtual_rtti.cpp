// Virtual functions, multiple and virtual inheritance, dynamic_cast and typeid.
#include <cstdio>
#include <memory>
#include <typeinfo>
#include <vector>

struct Shape {
    virtual ~Shape() = default;
    virtual double area() const = 0;
    virtual const char *kind() const { return "shape"; }
};

struct Named {
    virtual ~Named() = default;
    virtual const char *name() const = 0;
};

struct Rect : Shape, Named {
    Rect(double w, double h) : w(w), h(h) {}
    double area() const override { return w * h; }
    const char *kind() const override { return "rect"; }
    const char *name() const override { return "a rectangle"; }
    double w, h;
};

struct Square final : Rect {
    explicit Square(double s) : Rect(s, s) {}
    const char *kind() const override { return "square"; }
    const char *name() const override { return "a square"; }
};

struct Circle : Shape {
    explicit Circle(double r) : r(r) {}
    double area() const override { return 3.14159265358979 * r * r; }
    double r;
};

// Diamond with virtual inheritance.
struct Base {
    virtual ~Base() = default;
    int base_value = 1;
    virtual int value() const { return base_value; }
};
struct Left : virtual Base {
    int value() const override { return base_value * 10; }
};
struct Right : virtual Base {
};
struct Diamond : Left, Right {
    int value() const override { return Left::value() + 5; }
};

int main()
{
    std::vector<std::unique_ptr<Shape>> shapes;
    shapes.emplace_back(new Rect(2, 3));
    shapes.emplace_back(new Square(4));
    shapes.emplace_back(new Circle(1));

    int named = 0;
    for (const auto &s : shapes) {
        std::printf("%-6s area=%8.4f typeid=%s", s->kind(), s->area(), typeid(*s).name());
        if (auto *n = dynamic_cast<const Named *>(s.get())) {
            named++;
            std::printf(" named=%s", n->name());
        }
        if (dynamic_cast<const Square *>(s.get()))
            std::printf(" is-square");
        std::printf("\n");
    }

    Diamond d;
    Base *b = &d;
    Right *r = dynamic_cast<Right *>(b);
    std::printf("diamond value=%d cross-cast=%s typeid=%s\n", b->value(), r ? "ok" : "failed",
                typeid(*b).name());
    std::printf("typeid equality: %d %d\n", typeid(*b) == typeid(Diamond), typeid(*b) == typeid(Left));

    try {
        Shape &s = *shapes[2];
        (void)dynamic_cast<Rect &>(s);
        std::printf("bad_cast not thrown\n");
    } catch (const std::bad_cast &e) {
        std::printf("bad_cast caught\n");
    }
    return named == 2 && r ? 0 : 1;
}
