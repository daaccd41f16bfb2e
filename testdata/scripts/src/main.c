/* Entry point and the references that keep sections alive under --gc-sections. */
extern int counter, zeroed, common_var, lib_value;
extern const char msg[];
extern int lib_func(int);
extern int extra_func(int);
extern _Thread_local int tvar, tzero;
extern const int tab10, tab25, tab63;

/* Symbols the scripts define or PROVIDE; weak so that every script links. */
extern char __tab_start[] __attribute__((weak));
extern char __tab_end[] __attribute__((weak));
extern char provided_used[] __attribute__((weak));
extern char hidden_used[] __attribute__((weak));

volatile long sink;

__attribute__((section(".text.start"), used, noreturn)) void start(void)
{
    sink = counter + zeroed + common_var + lib_value + msg[0];
    sink += lib_func(3) + extra_func(4);
    sink += tvar + tzero;
    sink += tab10 + tab25 + tab63;
    sink += (long)__tab_start + (long)__tab_end;
    sink += (long)provided_used + (long)hidden_used;
    for (;;)
        __asm__ volatile("hlt");
}
