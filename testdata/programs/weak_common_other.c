int common_counter;
char common_buffer[64];
int weak_data = 2;

const char *overridden_hook(void) { return "strong override"; }

void other_bump(int by) { common_counter += by; }

int other_buffer_size(void) { return (int)sizeof common_buffer; }
