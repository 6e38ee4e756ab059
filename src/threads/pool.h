/* pool.h — the thread pool that splits the heavy kernels of a run; internal (the public side is
 * pldr_threads_* in pldr.h).
 *
 * A run is a sequence of regions: a matrix product, attention over heads, a part of the A-net.
 * A region is `units` independent pieces of work — runs of PK_SPLIT_ROWS rows of a weight matrix,
 * (token, head) pairs, runs of rows of the A-net's A (at least PK_SPLIT_TOKENS), heads — that
 * the pool's threads, the caller's included, claim in chunks until none is left; pool_run returns
 * when every chunk is done (a barrier per region, nothing shared between regions). Each unit is
 * computed by one thread exactly as one thread alone computes it, whatever chunk it falls in, so
 * results are bitwise those of one thread, whatever the thread count.
 *
 * Pool threads never allocate (dlmalloc is not thread-safe in the WebAssembly build): each has a
 * kernel and a work scratch that only the caller grows, before it starts a region. */
#ifndef PLDR_POOL_H
#define PLDR_POOL_H

#include "../kernels/kernels.h"
#include "pldr.h"

/* The memory of the thread that runs a chunk. */
typedef struct {
    pk_scratch *kernel;  /* kernel work memory (the ws of pk_matmul) */
    pk_scratch *work;    /* buffers (pk_scratch_reserve(work, need.work_bytes) succeeds) */
    int index;           /* the thread's index in the pool (0: the caller) */
} pool_part;

/* Runs units [u0, u1) of a region; called any number of times, by any thread, for disjoint
 * ranges that together cover every unit once. A task writes its units' outputs from inputs the
 * region does not change, so that running a range again gives the same bits (the caller redoes
 * the chunk of a thread lost in it: pldr_threads_lost). */
typedef void (*pool_task)(void *ctx, int u0, int u1, const pool_part *part);

/* A region. */
typedef struct {
    int units;            /* pieces of work [0, units) */
    int parts;            /* threads worth running it (1: the caller alone; see pool_parts_worth) */
    int grain;            /* units per chunk claimed (0: a few chunks per thread) */
    size_t kernel_bytes;  /* kernel work memory ready for every thread (pk_matmul_scratch) */
    size_t work_bytes;    /* buffers every thread takes from part->work */
} pool_need;

/* Runs task over every unit and returns when all are done, with the number of threads that could
 * take part. Chunks are claimed, not assigned: a thread the system has not scheduled takes none
 * and holds nobody up. Without a pool, with one thread, when need.parts is 1, while the pool runs
 * a region of another session (try-lock: sessions may share a pool), or when the pool threads'
 * memory cannot be grown, the caller runs task(ctx, 0, units, own) alone. */
int pool_run(pldr_threads *t, const pool_part *own, pool_need need, pool_task task, void *ctx);

/* A part is worth a thread from this many multiply-adds: below, waking a thread and the barrier
 * cost about what the part saves. */
#define POOL_MIN_PART_MACS (1 << 16)

/* Threads worth running `macs` multiply-adds in `units` independent pieces (1 .. units). */
static inline int pool_parts_worth(double macs, int units) {
    double worth = macs / POOL_MIN_PART_MACS;
    return worth < 1 || units < 1 ? 1 : worth < units ? (int)worth : units;
}

#endif
