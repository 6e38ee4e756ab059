/* pool.c — the thread pool (pool.h; pldr_threads_* of pldr.h).
 *
 * Why a pool of our own and not Emscripten's pthreads: Emscripten 3.1.6 refuses -pthread with
 * -sSTANDALONE_WASM, and its pthread glue is a JavaScript runtime of its own (a worker pool, a
 * proxied main thread, TLS set-up) that this module does not otherwise need. What the kernels
 * need is small: N threads looping over one job descriptor in shared memory, started once,
 * woken per region and joined at a barrier. The same C runs natively (pthreads, Linux futexes),
 * so the suite can check it under ThreadSanitizer; in WebAssembly the host starts the threads —
 * each a Web Worker or worker_thread that instantiates the module over the same shared memory,
 * moves its stack pointer to its own stack (pldr_threads_stack) and calls pldr_threads_work.
 *
 * A region: the caller writes task/ctx/parts, resets `remaining`, bumps `generation` and wakes
 * the threads asleep on it; every pool thread runs its part (or, past `parts`, nothing) and
 * counts itself out of `remaining`; the caller runs part 0 and waits for `remaining` to reach 0.
 * Waiting is spinning a little, then sleeping on the word (memory.atomic.wait32 / futex); a
 * sleeper counter lets the other side skip the wake-up call when nobody sleeps. Every access to
 * the counters is sequentially consistent: a thread that goes to sleep announces it before it
 * looks at the word again, the waker changes the word before it looks for sleepers, so one of
 * the two always sees the other (no lost wake-up). */
#include "pool.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../platform.h"

#define POOL_SPIN 20000                /* spins (~20-50 µs) before sleeping: regions come close together */
#define POOL_STACK_BYTES (256 * 1024)  /* a WebAssembly pool thread's stack: kernels need a few KiB */
#define POOL_MAX_THREADS 64

struct pldr_threads {
    int n;                     /* threads, the caller's included */
    int caller_spins;          /* PLDR_THREADS_CALLER_SPINS: the caller never sleeps */
    atomic_int busy;           /* 1 while a region runs: one session's region at a time */
    atomic_int generation;     /* +1 per region (and once more to stop) */
    atomic_int remaining;      /* pool threads not yet done with the region */
    atomic_int sleepers;       /* pool threads asleep on generation */
    atomic_int caller_asleep;  /* the caller is asleep on remaining */
    atomic_int stopping;
    atomic_int exited;         /* pool threads that left pldr_threads_work */
    /* the region: written by the caller before it bumps generation, read by the threads after */
    pool_task task;
    void *ctx;
    int parts;
    pk_scratch *kernel, *work; /* [n] the parts' memory, grown by the caller only */
    unsigned char *stacks;     /* [n-1][POOL_STACK_BYTES] WebAssembly pool threads' stacks */
    void **os_threads;         /* [n-1] native threads */
};

int pldr_threads_supported(void) { return pldr_platform_threads(); }

int pldr_threads_count(const pldr_threads *t) { return t ? t->n : 1; }

/* Waits until *word differs from `seen`; returns its new value. */
static int wait_change(atomic_int *word, int seen, atomic_int *sleepers, int may_sleep) {
    int v;
    for (int i = 0; i < POOL_SPIN; i++) {
        if ((v = atomic_load(word)) != seen) return v;
        pldr_spin_pause();
    }
    if (!may_sleep) {
        while ((v = atomic_load(word)) == seen) pldr_spin_pause();
        return v;
    }
    atomic_fetch_add(sleepers, 1);
    while ((v = atomic_load(word)) == seen) pldr_word_wait(word, seen);
    atomic_fetch_sub(sleepers, 1);
    return v;
}

int pldr_threads_work(pldr_threads *t, int index) {
    if (!t || index < 1 || index >= t->n) return PLDR_ERR_INVALID_ARGUMENT;
    int seen = 0; /* regions are generations 1, 2, ...: none can pass before every thread ran it */
    for (;;) {
        seen = wait_change(&t->generation, seen, &t->sleepers, 1);
        if (atomic_load(&t->stopping)) break;
        if (index < t->parts) {
            pool_part p = {index, t->parts, &t->kernel[index], &t->work[index]};
            t->task(t->ctx, &p);
        }
        if (atomic_fetch_sub(&t->remaining, 1) == 1 && atomic_load(&t->caller_asleep))
            pldr_word_wake(&t->remaining, 1);
    }
    atomic_fetch_add(&t->exited, 1);
    pldr_word_wake(&t->exited, 1);
    return PLDR_OK;
}

static void free_memory(pldr_threads *t) {
    for (int i = 0; t->kernel && i < t->n; i++) pk_scratch_free(&t->kernel[i]);
    for (int i = 0; t->work && i < t->n; i++) pk_scratch_free(&t->work[i]);
    free(t->kernel);
    free(t->work);
    free(t->stacks);
    free(t->os_threads);
    free(t);
}

#if !defined(__wasm__)
typedef struct { pldr_threads *t; int index; } thread_arg;

static void *native_thread(void *arg) {
    thread_arg a = *(thread_arg *)arg;
    free(arg);
    pldr_threads_work(a.t, a.index);
    return NULL;
}

/* Native: the pool's threads, started here; 0 on success. */
static int start_native_threads(pldr_threads *t) {
    t->os_threads = calloc((size_t)t->n - 1, sizeof *t->os_threads);
    if (!t->os_threads) return -1;
    for (int i = 1; i < t->n; i++) {
        thread_arg *a = malloc(sizeof *a);
        if (a) *a = (thread_arg){t, i};
        if (!a || pldr_thread_start(&t->os_threads[i - 1], native_thread, a)) {
            free(a);
            return -1;
        }
    }
    return 0;
}
#endif

/* Waits for pool threads to leave (all started: native threads joined, host threads counted). */
static void stop_threads(pldr_threads *t, int started) {
    atomic_store(&t->stopping, 1);
    atomic_fetch_add(&t->generation, 1);
    pldr_word_wake(&t->generation, INT_MAX);
    if (t->os_threads) {
        for (int i = 0; i < started; i++) pldr_thread_join(t->os_threads[i]);
        return;
    }
    int n;
    while ((n = atomic_load(&t->exited)) < started) {
        if (t->caller_spins) pldr_spin_pause();
        else pldr_word_wait(&t->exited, n);
    }
}

pldr_threads *pldr_threads_new(int n_threads, int flags) {
    if (n_threads < 1 || n_threads > POOL_MAX_THREADS || (n_threads > 1 && !pldr_platform_threads())) return NULL;
    pldr_threads *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n = n_threads;
    t->caller_spins = (flags & PLDR_THREADS_CALLER_SPINS) != 0;
    t->kernel = calloc((size_t)n_threads, sizeof *t->kernel);
    t->work = calloc((size_t)n_threads, sizeof *t->work);
    if (!t->kernel || !t->work) {
        free_memory(t);
        return NULL;
    }
    for (int i = 0; i < n_threads; i++) t->kernel[i].fixed = t->work[i].fixed = 1; /* grown by ready_memory only */
    if (n_threads == 1) return t;
#if defined(__wasm__)
    t->stacks = malloc((size_t)(n_threads - 1) * POOL_STACK_BYTES + 16);
    if (!t->stacks) {
        free_memory(t);
        return NULL;
    }
#else
    if (start_native_threads(t)) {
        int started = 0;
        while (started < n_threads - 1 && t->os_threads && t->os_threads[started]) started++;
        stop_threads(t, started);
        free_memory(t);
        return NULL;
    }
#endif
    return t;
}

void *pldr_threads_stack(const pldr_threads *t, int index) {
    if (!t || !t->stacks || index < 1 || index >= t->n) return NULL;
    uintptr_t top = (uintptr_t)(t->stacks + (size_t)index * POOL_STACK_BYTES);
    return (void *)(top & ~(uintptr_t)15); /* stacks grow down from the top of their slice */
}

void pldr_threads_free(pldr_threads *t) {
    if (!t) return;
    if (t->n > 1) stop_threads(t, t->n - 1);
    free_memory(t);
}

/* ---- regions ----------------------------------------------------------------------------------- */

/* Grows the memory of parts 0..parts-1 (the caller holds the pool); 0 on success. */
static int ready_memory(pldr_threads *t, int parts, const pool_need *need) {
    for (int i = 0; i < parts; i++)
        if (pk_scratch_ensure(&t->kernel[i], need->kernel_bytes) || pk_scratch_ensure(&t->work[i], need->work_bytes))
            return -1;
    return 0;
}

static void run_alone(const pool_part *own, pool_task task, void *ctx) {
    pool_part p = {0, 1, own->kernel, own->work};
    task(ctx, &p);
}

int pool_run(pldr_threads *t, const pool_part *own, pool_need need, pool_task task, void *ctx) {
    int parts = !t ? 1 : need.parts < t->n ? need.parts : t->n, idle = 0;
    if (parts <= 1 || !atomic_compare_exchange_strong(&t->busy, &idle, 1)) {
        run_alone(own, task, ctx);
        return 1;
    }
    if (ready_memory(t, parts, &need)) {
        atomic_store(&t->busy, 0);
        run_alone(own, task, ctx);
        return 1;
    }
    t->task = task;
    t->ctx = ctx;
    t->parts = parts;
    atomic_store(&t->remaining, t->n - 1);
    atomic_fetch_add(&t->generation, 1);
    if (atomic_load(&t->sleepers)) pldr_word_wake(&t->generation, INT_MAX);
    pool_part p0 = {0, parts, &t->kernel[0], &t->work[0]};
    task(ctx, &p0);
    int left;
    for (int i = 0; (left = atomic_load(&t->remaining)) != 0 && i < POOL_SPIN; i++) pldr_spin_pause();
    if (left && !t->caller_spins) {
        atomic_store(&t->caller_asleep, 1);
        while ((left = atomic_load(&t->remaining)) != 0) pldr_word_wait(&t->remaining, left);
        atomic_store(&t->caller_asleep, 0);
    }
    while (atomic_load(&t->remaining) != 0) pldr_spin_pause();
    atomic_store(&t->busy, 0);
    return parts;
}
