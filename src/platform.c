/* platform.c — host services (see platform.h). */
#include "platform.h"

#if defined(__wasm__)
__attribute__((import_module("env"), import_name("pldr_host_now_ms"))) double pldr_host_now_ms(void);
double pldr_now_ms(void) { return pldr_host_now_ms(); }
#else
#define _POSIX_C_SOURCE 199309L
#include <time.h>
double pldr_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
#endif
