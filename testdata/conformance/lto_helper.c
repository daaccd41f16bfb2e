int helper_offset(void)
{
	return 100;
}
