/* Archive members: lib_value is called by the program; only_required is extracted only because
 * --require-defined names it. */
int lib_value(void)
{
	return 42;
}
