/* bench.h — native benchmarks (synthetic weights of a given shape). */
#ifndef PLDR_CLI_BENCH_H
#define PLDR_CLI_BENCH_H
int bench_main(int argc, char **argv);
#endif
