/* platform.h — the one thing the runtime needs from its host: a monotonic clock in ms.
 * WebAssembly imports it (env.pldr_host_now_ms, given by js/runtime/wasm.js from performance.now);
 * the native build reads CLOCK_MONOTONIC. */
#ifndef PLDR_PLATFORM_H
#define PLDR_PLATFORM_H
double pldr_now_ms(void);
#endif
