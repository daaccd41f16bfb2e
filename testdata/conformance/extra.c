int extra = 7;
