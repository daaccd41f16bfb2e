int other(int x) { return x * 7 + 1; }
