int duplicated_symbol_for_spacer_test(void) { return 2; }
