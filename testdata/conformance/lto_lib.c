int table[4] = { 1, 2, 3, 4 };

int scale(int x)
{
	return 3 * x + 1;
}
