/* Defines duplicated_symbol_for_spacer_test, as does duplicate_b.c. */
int duplicated_symbol_for_spacer_test(void) { return 1; }

void _start(void)
{
    duplicated_symbol_for_spacer_test();
    for (;;)
        ;
}
