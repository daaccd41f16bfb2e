/* Referenced only weakly: this member must stay out of the link. */
const char *only_in_archive(void) { return "archive member b"; }
