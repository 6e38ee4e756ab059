/* bench.c — placeholder until the benchmark driver lands. */
#include <stdio.h>
#include "bench.h"
int bench_main(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "bench: not built yet\n"); return 2; }
