/* Needs archived_function_for_spacer_test from an archive. */
int archived_function_for_spacer_test(int);

void _start(void)
{
    archived_function_for_spacer_test(3);
    for (;;)
        ;
}
