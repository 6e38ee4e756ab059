/* platform.c — host services (see platform.h). */
#if !defined(__wasm__)
#define _GNU_SOURCE /* syscall(SYS_futex) */
#endif
#include "platform.h"

#include <limits.h>
#include <stdlib.h>

#if defined(__wasm__)
__attribute__((import_module("env"), import_name("pldr_host_now_ms"))) double pldr_host_now_ms(void);
double pldr_now_ms(void) { return pldr_host_now_ms(); }

#if defined(__wasm_atomics__)
int pldr_platform_threads(void) { return 1; }
void pldr_word_wait(atomic_int *word, int expected) {
    __builtin_wasm_memory_atomic_wait32((int *)word, expected, -1);
}
void pldr_word_wake(atomic_int *word, int count) {
    __builtin_wasm_memory_atomic_notify((int *)word, (unsigned)count);
}
#else /* the single-thread module: nothing ever waits */
int pldr_platform_threads(void) { return 0; }
void pldr_word_wait(atomic_int *word, int expected) { (void)word, (void)expected; }
void pldr_word_wake(atomic_int *word, int count) { (void)word, (void)count; }
#endif
void pldr_spin_pause(void) {}
int pldr_thread_start(void **handle, void *(*fn)(void *), void *arg) {
    (void)handle, (void)fn, (void)arg;
    return -1;
}
void pldr_thread_join(void *handle) { (void)handle; }

#else /* native */
#include <pthread.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <sched.h>
#endif

double pldr_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int pldr_platform_threads(void) { return 1; }

#if defined(__linux__)
void pldr_word_wait(atomic_int *word, int expected) {
    syscall(SYS_futex, (int *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}
void pldr_word_wake(atomic_int *word, int count) {
    syscall(SYS_futex, (int *)word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}
#else /* no futex: sleeping is yielding */
void pldr_word_wait(atomic_int *word, int expected) {
    if (atomic_load(word) == expected) sched_yield();
}
void pldr_word_wake(atomic_int *word, int count) { (void)word, (void)count; }
#endif

void pldr_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

int pldr_thread_start(void **handle, void *(*fn)(void *), void *arg) {
    pthread_t *t = malloc(sizeof *t);
    if (!t || pthread_create(t, NULL, fn, arg)) {
        free(t);
        return -1;
    }
    *handle = t;
    return 0;
}

void pldr_thread_join(void *handle) {
    if (!handle) return;
    pthread_join(*(pthread_t *)handle, NULL);
    free(handle);
}
#endif
