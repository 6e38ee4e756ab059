/* platform.h — what the runtime needs from its host: a monotonic clock in ms, and for the thread
 * pool (src/threads) a way to sleep on a 32-bit word and wake its sleepers, and to start and join
 * threads.
 *
 * WebAssembly imports the clock (env.pldr_host_now_ms, given by js/runtime/wasm.js from
 * performance.now) and sleeps with memory.atomic.wait32 / notify (the threaded module; its threads
 * are Web Workers or worker_threads that the host starts, so it starts none itself). The native
 * build reads CLOCK_MONOTONIC, sleeps on a Linux futex and starts pthreads. */
#ifndef PLDR_PLATFORM_H
#define PLDR_PLATFORM_H

#include <stdatomic.h>

double pldr_now_ms(void);

/* 1 when this build can run threads (native; the WebAssembly module built with atomics). */
int pldr_platform_threads(void);

/* Sleeps while *word == expected (returns at once when it differs; may return spuriously). */
void pldr_word_wait(atomic_int *word, int expected);
/* Wakes up to `count` threads asleep on word. */
void pldr_word_wake(atomic_int *word, int count);
/* A hint inside a spin loop (x86: pause). */
void pldr_spin_pause(void);

/* Native only: starts fn(arg) on a new thread (*handle receives it); 0 on success. The
 * WebAssembly builds start no threads and return -1. */
int pldr_thread_start(void **handle, void *(*fn)(void *), void *arg);
void pldr_thread_join(void *handle);

#endif
