#pragma once
class Registered {
public:
    Registered(const char *name, int want);
    ~Registered();

private:
    const char *name_;
};
extern int init_step;
extern int init_errors;
