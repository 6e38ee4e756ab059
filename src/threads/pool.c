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
 * A region: the caller resets `claim` to (generation g, unit 0) and `done` to 0, writes the
 * descriptor (task, ctx, units, grain), bumps `generation` to g and wakes the threads asleep on
 * it. Every thread, the caller's included, then claims chunks of `grain` units by a
 * compare-and-swap on `claim` — (g, next) to (g, next + grain) — runs them, and adds them to
 * `done`; the caller returns once `done` reaches `units`. The generation in `claim` is what makes a
 * late thread harmless: one that read region g's descriptor only after the caller moved on to
 * g+1 (whose `claim` is reset before its descriptor is written) fails its swap and takes nothing,
 * and a thread the system has not scheduled simply claims no chunk — the others take them. Waiting
 * is spinning a little, then sleeping on the word (memory.atomic.wait32 / futex); a sleeper
 * counter lets the waker skip the wake-up call when nobody sleeps. Every access to the shared
 * words is sequentially consistent: a thread that goes to sleep announces it before it looks at
 * the word again, the waker changes the word before it looks for sleepers, so one of the two
 * always sees the other (no lost wake-up).
 *
 * A thread that dies (in WebAssembly: an exception leaves its pldr_threads_work; its host calls
 * pldr_threads_lost) must not hang the caller on a chunk it will never count. The chunk a thread
 * runs is in its `running` word, taken back by an exchange either by the thread when the chunk is
 * done (it then counts it) or by pldr_threads_lost (which counts it and leaves it in `redo` for
 * the caller to run again before the region returns): exactly one of the two counts it. A lost
 * thread claims nothing more; the others share its part from then on. */
#include "pool.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../platform.h"
#include "../util/size.h"

/* The single-thread WebAssembly modules (no atomics) never run a pool thread: every region runs
 * on its caller, and the pool's machinery compiles away. */
#if defined(__wasm__) && !defined(__wasm_atomics__)
#define POOL_HAS_THREADS 0
#else
#define POOL_HAS_THREADS 1
#endif

#define POOL_SPIN_MS 0.05               /* spin this long before sleeping: a decode step's regions come
                                          tens of µs apart, waking a sleeper costs about as much */
#define POOL_STACK_BYTES (256 * 1024)  /* a WebAssembly pool thread's stack: the kernels need a few KiB,
                                          the scalar quantized product 72 KiB at the widest row */
#define POOL_MAX_THREADS 64

struct pldr_threads {
    int n;                     /* threads, the caller's included */
    int caller_spins;          /* PLDR_THREADS_CALLER_SPINS: the caller never sleeps */
    atomic_int busy;           /* 1 while a region runs: one session's region at a time */
    atomic_int generation;     /* the region's number, +1 per region (and once more to stop) */
    atomic_ullong claim;       /* (generation << 32) | next unit to claim */
    atomic_int done;           /* units of the region done */
    atomic_int sleepers;       /* pool threads asleep on generation */
    atomic_int caller_asleep;  /* the caller is asleep on done */
    atomic_int stopping;
    atomic_int exited;         /* pool threads that left pldr_threads_work (or were lost) */
    atomic_int lost;           /* pool threads lost (pldr_threads_lost) */
    atomic_int redos;          /* chunks in redo not yet run again */
    atomic_ullong *running;    /* [n] the chunk each thread runs: chunk_word(u0, u1), 0 when none */
    atomic_ullong *redo;       /* [n] the chunk a lost thread left, for the caller to run again */
    /* the region's descriptor: written after claim is reset, read before a chunk is claimed */
    _Atomic(pool_task) task;
    _Atomic(void *) ctx;
    atomic_int units, grain;
    pk_scratch *kernel, *work; /* [n] each thread's memory, grown by the caller only */
    unsigned char *stacks;     /* [n-1][POOL_STACK_BYTES] WebAssembly pool threads' stacks */
    void **os_threads;         /* [n-1] native threads */
};

int pldr_threads_supported(void) { return pldr_platform_threads(); }

int pldr_threads_count(const pldr_threads *t) { return t ? t->n - atomic_load(&t->lost) : 1; }

/* Spins up to POOL_SPIN_MS while *word == seen (the clock read every 64 spins); its last value. */
static int spin_while(atomic_int *word, int seen) {
    int v;
    double until = 0;
    for (int i = 0; (v = atomic_load(word)) == seen; i++) {
        if ((i & 63) == 0) {
            double now = pldr_now_ms();
            if (until == 0) until = now + POOL_SPIN_MS;
            else if (now > until) break;
        }
        pldr_spin_pause();
    }
    return v;
}

/* Waits until *word differs from `seen` (spinning, then asleep); returns its new value. */
static int wait_change(atomic_int *word, int seen, atomic_int *sleepers) {
    int v = spin_while(word, seen);
    if (v != seen) return v;
    atomic_fetch_add(sleepers, 1);
    while ((v = atomic_load(word)) == seen) pldr_word_wait(word, seen);
    atomic_fetch_sub(sleepers, 1);
    return v;
}

static unsigned long long claim_word(unsigned gen, int next) { return (unsigned long long)gen << 32 | (unsigned)next; }

/* A chunk [u0, u1) as one word (never 0: u1 > u0 >= 0). */
static unsigned long long chunk_word(int u0, int u1) { return (unsigned long long)(unsigned)u0 << 32 | (unsigned)u1; }

/* Counts `units` done; the one that completes the region wakes the caller if it sleeps. */
static void count_done(pldr_threads *t, int units, int total) {
    if (atomic_fetch_add(&t->done, units) + units == total && atomic_load(&t->caller_asleep)) pldr_word_wake(&t->done, 1);
}

/* Claims and runs chunks of region `gen` until none is left (or the region is another's). */
static void run_chunks(pldr_threads *t, unsigned gen, const pool_part *me) {
    pool_task task = atomic_load(&t->task);
    void *ctx = atomic_load(&t->ctx);
    int units = atomic_load(&t->units), grain = atomic_load(&t->grain);
    unsigned long long c = atomic_load(&t->claim);
    for (;;) {
        int next = (int)(unsigned)c;
        if ((unsigned)(c >> 32) != gen || next >= units) return;
        int end = units - next > grain ? next + grain : units;
        if (!atomic_compare_exchange_weak(&t->claim, &c, claim_word(gen, end))) continue; /* c reloaded */
        atomic_store(&t->running[me->index], chunk_word(next, end));
        task(ctx, next, end, me); /* the swap succeeded: the descriptor read above is region gen's */
        if (atomic_exchange(&t->running[me->index], 0)) count_done(t, end - next, units); /* else lost: counted */
        c = atomic_load(&t->claim);
    }
}

int pldr_threads_work(pldr_threads *t, int index) {
    if (!POOL_HAS_THREADS || !t || index < 1 || index >= t->n) return PLDR_ERR_INVALID_ARGUMENT;
    pool_part me = {&t->kernel[index], &t->work[index], index};
    int seen = 0; /* regions are generations 1, 2, ... */
    for (;;) {
        seen = wait_change(&t->generation, seen, &t->sleepers);
        if (atomic_load(&t->stopping)) break;
        run_chunks(t, (unsigned)seen, &me);
    }
    atomic_fetch_add(&t->exited, 1);
    pldr_word_wake(&t->exited, 1);
    return PLDR_OK;
}

int pldr_threads_lost(pldr_threads *t, int index) {
    if (!POOL_HAS_THREADS || !t || index < 1 || index >= t->n) return PLDR_ERR_INVALID_ARGUMENT;
    unsigned long long chunk = atomic_exchange(&t->running[index], 0);
    atomic_fetch_add(&t->lost, 1);
    if (chunk) { /* left for the caller, then counted: the region cannot end before the caller sees it */
        atomic_store(&t->redo[index], chunk);
        atomic_fetch_add(&t->redos, 1);
        count_done(t, (int)(unsigned)chunk - (int)(chunk >> 32), atomic_load(&t->units));
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
    free(t->running);
    free(t->redo);
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
    t->running = calloc((size_t)n_threads, sizeof *t->running);
    t->redo = calloc((size_t)n_threads, sizeof *t->redo);
    if (!t->kernel || !t->work || !t->running || !t->redo) {
        free_memory(t);
        return NULL;
    }
    for (int i = 0; i < n_threads; i++) t->kernel[i].fixed = t->work[i].fixed = 1; /* grown by ready_memory only */
    if (n_threads == 1) return t;
#if defined(__wasm__)
    int ok = 1;
    size_t stacks = size_add(size_mul((size_t)n_threads - 1, POOL_STACK_BYTES, &ok), 16, &ok); /* [n-1][POOL_STACK_BYTES] */
    t->stacks = ok ? malloc(stacks) : NULL;
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
    if (POOL_HAS_THREADS && t->n > 1) stop_threads(t, t->n - 1);
    free_memory(t);
}

/* ---- regions ----------------------------------------------------------------------------------- */

/* Grows every thread's memory (the caller holds the pool); 0 on success. */
static int ready_memory(pldr_threads *t, const pool_need *need) {
    for (int i = 0; i < t->n; i++)
        if (pk_scratch_ensure(&t->kernel[i], need->kernel_bytes) || pk_scratch_ensure(&t->work[i], need->work_bytes))
            return -1;
    return 0;
}

static int run_alone(const pool_part *own, const pool_need *need, pool_task task, void *ctx) {
    task(ctx, 0, need->units, own);
    return 1;
}

/* Waits for every unit of the region to be done: spinning while chunks keep finishing, asleep
 * once none has for POOL_SPIN_MS (where the caller may sleep). */
static void wait_done(pldr_threads *t, int units) {
    int d;
    while ((d = atomic_load(&t->done)) != units) {
        if (spin_while(&t->done, d) != d || t->caller_spins) continue;
        atomic_store(&t->caller_asleep, 1);
        while ((d = atomic_load(&t->done)) != units) pldr_word_wait(&t->done, d);
        atomic_store(&t->caller_asleep, 0);
    }
}

/* Runs again, on the caller, the chunks that threads lost in this region left. */
static void redo_lost(pldr_threads *t, pool_task task, void *ctx, const pool_part *me) {
    for (int i = 1; i < t->n; i++) {
        unsigned long long chunk = atomic_exchange(&t->redo[i], 0);
        if (!chunk) continue;
        task(ctx, (int)(chunk >> 32), (int)(unsigned)chunk, me);
        atomic_fetch_sub(&t->redos, 1);
    }
}

int pool_run(pldr_threads *t, const pool_part *own, pool_need need, pool_task task, void *ctx) {
    int parts = !t ? 1 : need.parts < t->n ? need.parts : t->n, idle = 0;
    if (need.units < 1) return 1;
    if (!POOL_HAS_THREADS || parts <= 1 || need.units == 1 || !atomic_compare_exchange_strong(&t->busy, &idle, 1))
        return run_alone(own, &need, task, ctx);
    if (ready_memory(t, &need)) {
        atomic_store(&t->busy, 0);
        return run_alone(own, &need, task, ctx);
    }
    int grain = need.grain > 0 ? need.grain : (need.units + 4 * parts - 1) / (4 * parts); /* ~4 chunks per thread */
    unsigned gen = (unsigned)atomic_load(&t->generation) + 1;
    atomic_store(&t->claim, claim_word(gen, 0)); /* before the descriptor: see run_chunks */
    atomic_store(&t->done, 0);
    atomic_store(&t->task, task);
    atomic_store(&t->ctx, ctx);
    atomic_store(&t->units, need.units);
    atomic_store(&t->grain, grain);
    atomic_store(&t->generation, (int)gen);
    if (atomic_load(&t->sleepers)) pldr_word_wake(&t->generation, INT_MAX);
    pool_part me = {&t->kernel[0], &t->work[0], 0};
    run_chunks(t, gen, &me);
    wait_done(t, need.units);
    if (atomic_load(&t->redos)) redo_lost(t, task, ctx, &me);
    atomic_store(&t->busy, 0);
    return parts;
}
