int greet(const char *name);
