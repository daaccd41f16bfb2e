const char *archive_function(void) { return "from archive member a"; }
