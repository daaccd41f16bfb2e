/* Nothing refers to this member: it stays in the archive. */
int util_unused(int x) { return x * 1000; }
