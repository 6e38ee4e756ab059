/* pool.h — the thread pool that splits the heavy kernels of a run; internal (the public side is
 * pldr_threads_* in pldr.h).
 *
 * A run is a sequence of regions: a matrix product, attention over heads, a part of the A-net.
 * pool_run hands one region to every thread of the pool at once, the caller's included, and
 * returns when all have finished it: a barrier per region, nothing shared between regions. Each
 * thread runs a `part` of the region's work, chosen so that every output is computed by one
 * thread in the order one thread alone would compute it — by rows of a weight matrix
 * (PK_SPLIT_ROWS), by rows of the A-net's A (PK_SPLIT_TOKENS), by heads — so results are bitwise
 * those of one thread, whatever the thread count.
 *
 * Pool threads never allocate (dlmalloc is not thread-safe in the WebAssembly build): each has a
 * kernel and a work scratch that only the caller grows, before it starts a region. */
#ifndef PLDR_POOL_H
#define PLDR_POOL_H

#include "../kernels/kernels.h"
#include "pldr.h"

/* One thread's share of a region. */
typedef struct {
    int part, parts;     /* this part's index, and how many run the region */
    pk_scratch *kernel;  /* its kernel work memory (the ws of pk_matmul) */
    pk_scratch *work;    /* its own buffers (pk_scratch_reserve(work, need.work_bytes) succeeds) */
} pool_part;

typedef void (*pool_task)(void *ctx, const pool_part *part);

/* What each part of a region needs. */
typedef struct {
    int parts;            /* parts worth running (≥ 1): the pool runs at most its thread count */
    size_t kernel_bytes;  /* kernel work memory ready for each part (pk_matmul_scratch) */
    size_t work_bytes;    /* buffers each part takes from part->work */
} pool_need;

/* Runs task over min(need.parts, threads) parts at once; returns when every part is done, with
 * the number of parts run. Without a pool, with one thread or one part, while the pool runs a
 * region of another session (try-lock: sessions may share a pool), or when the pool threads'
 * memory cannot be grown, the caller runs the task alone, as part 0 of 1 with `own` memory. */
int pool_run(pldr_threads *t, const pool_part *own, pool_need need, pool_task task, void *ctx);

/* A part is worth a thread from this many multiply-adds: below, waking a thread and the barrier
 * cost about what the part saves. */
#define POOL_MIN_PART_MACS (1 << 16)

/* Parts worth running for `macs` multiply-adds in `units` independent pieces (1 .. units). */
static inline int pool_parts_worth(double macs, int units) {
    double worth = macs / POOL_MIN_PART_MACS;
    return worth < 1 || units < 1 ? 1 : worth < units ? (int)worth : units;
}

/* [*begin, *end) of part p of `units` split in `parts` runs of nearly equal length. */
static inline void pool_span(int units, int part, int parts, int *begin, int *end) {
    *begin = (int)((long long)units * part / parts);
    *end = (int)((long long)units * (part + 1) / parts);
}

#endif
