/* References a function that no input defines. */
int missing_function_for_spacer_test(int);

void _start(void)
{
    missing_function_for_spacer_test(1);
    for (;;)
        ;
}
