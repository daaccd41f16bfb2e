int only_required(void)
{
	return 1;
}
