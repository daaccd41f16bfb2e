/*
 * Three kinds of constructors:
 *  - UK_CTOR_PRIO(fn, prio): early constructors, prio 0-9, in the sections
 *    .uk_ctortab<prio> that libctors.ld sorts into .uk_ctortab; they run
 *    before the TLS block is set up.
 *  - __attribute__((constructor(N))): the usual .init_array[.N] entries.
 *  - UK_INITTAB(fn, level): init functions, level 1-9, in the sections
 *    .uk_inittab_<level> that the platform script sorts into .uk_inittab;
 *    they return 0 on success.
 */
#ifndef UK_CTORS_H
#define UK_CTORS_H

typedef void (*uk_ctor_func_t)(void);
typedef int (*uk_init_func_t)(void);

#define __UK_STR(x) #x
#define UK_STR(x) __UK_STR(x)

#define UK_CTOR_PRIO(fn, prio)						\
	static const uk_ctor_func_t __uk_ctortab_##fn			\
	__attribute__((used, section(".uk_ctortab" UK_STR(prio)))) = (fn)

#define UK_INITTAB(fn, level)						\
	static const uk_init_func_t __uk_inittab_##fn			\
	__attribute__((used, section(".uk_inittab_" UK_STR(level)))) = (fn)

void uk_ctortab_run(void);
void uk_init_array_run(void);
int uk_inittab_run(void);

#endif
