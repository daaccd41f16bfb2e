/* The archive member the link needs, placed last in the archive. */
static const char text[] = "this member is needed by archive_user.o and is the last member";
int archived_function_for_spacer_test(int i) { return text[i] + i; }
