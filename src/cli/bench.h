/* bench.h — `pldr-native bench`: speed of the runtime on synthetic weights of the released 110M
 * shape or on a model folder, the memory-bandwidth ceiling, and (in a build with -DPLDR_PROFILE)
 * a decode step split by part. The same source runs as WebAssembly (build/pldr-bench.wasm, WASI)
 * so both builds are measured by one program; bench/run.mjs drives them. */
#ifndef PLDR_CLI_BENCH_H
#define PLDR_CLI_BENCH_H
int bench_main(int argc, char **argv);
#endif
