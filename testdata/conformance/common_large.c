long foo[4];
