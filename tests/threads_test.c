/* threads_test.c — pldr.h's thread-safety statement, checked: sessions of one model run at the
 * same time on different threads and give exactly what they give one after another; and the
 * kernels' thread pool (pldr_threads) gives the bits of one thread with any number of threads,
 * also when four sessions share one pool at once (a region that finds it busy runs alone). Built
 * with ThreadSanitizer (make build/threads-test), which fails the run on any data race — on the
 * model's G-cache of mode "first" published by concurrent first prefills, on the A-net counters,
 * on the half-precision table of the quantized kernels, on the pool's job descriptor, barrier and
 * per-thread memory.
 *
 *   threads-test MODEL_DIR    prints "ok: ..." and exits 0, or names what differed */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cli/load.h"
#include "../src/platform.h"
#include "../src/threads/pool.h"
#include "pldr.h"

#define THREADS 4
#define PROMPT 24
#define STEPS 6

typedef struct {
    pldr_model *model;
    int kv_format;          /* pldr_kv_format of the session */
    int32_t prompt[PROMPT];
    int32_t out[STEPS];     /* greedy tokens */
    float *logits;          /* [STEPS][V] the logits they were picked from */
    int rc;
    char error[512];
} job;

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void *run_job(void *arg) {
    job *j = arg;
    int V = pldr_model_vocab_size(j->model);
    pldr_session_params sp = pldr_session_default_params();
    sp.context_length = PROMPT + STEPS;
    sp.kv_format = j->kv_format;
    pldr_session *s = pldr_session_new(j->model, &sp);
    if (!s) {
        j->rc = -1;
        snprintf(j->error, sizeof j->error, "session: %s", pldr_model_error(j->model));
        return NULL;
    }
    j->rc = pldr_session_prefill(s, j->prompt, PROMPT, NULL);
    for (int t = 0; t < STEPS && !j->rc; t++) {
        const float *logits = pldr_session_logits(s);
        memcpy(j->logits + (size_t)t * V, logits, (size_t)V * sizeof(float));
        j->out[t] = argmax(logits, V);
        if (t + 1 < STEPS) j->rc = pldr_session_decode(s, j->out[t]);
    }
    if (j->rc) snprintf(j->error, sizeof j->error, "%s", pldr_session_error(s));
    pldr_session_free(s);
    return NULL;
}

static pldr_model *open_model(const char *dir, pldr_gcache_mode mode, pldr_weight_format format) {
    pldr_model_params mp = pldr_model_default_params();
    mp.gcache_mode = mode;
    mp.weight_format = format;
    char err[1024];
    pldr_model *m = load_model_dir(dir, &mp, err, sizeof err);
    if (!m) fprintf(stderr, "threads-test: %s\n", err);
    return m;
}

/* the prompt of job i: `same` gives every job the same one */
static void fill_prompt(job *j, int i, int same, int vocab) {
    for (int k = 0; k < PROMPT; k++) j->prompt[k] = 6 + (int32_t)(((same ? 0 : i) * 7919 + k * 104729) % (vocab - 6));
}

/* Runs the jobs on THREADS threads at once (concurrent) or one by one; 0 on success. */
static int run_jobs(job *jobs, int concurrent) {
    pthread_t tid[THREADS];
    for (int i = 0; i < THREADS; i++) {
        if (!concurrent) run_job(&jobs[i]);
        else if (pthread_create(&tid[i], NULL, run_job, &jobs[i])) return -1;
    }
    for (int i = 0; concurrent && i < THREADS; i++) pthread_join(tid[i], NULL);
    for (int i = 0; i < THREADS; i++)
        if (jobs[i].rc) {
            fprintf(stderr, "threads-test: job %d: %s\n", i, jobs[i].error);
            return -1;
        }
    return 0;
}

/* One scenario: the same jobs on a model run concurrently and, on a fresh model, one by one; the
 * concurrent sessions share a pool of pool_threads kernel threads (1: none). */
static int scenario(const char *dir, const char *name, pldr_gcache_mode mode, pldr_weight_format format,
                    int same_prompt, int warm_first, int pool_threads) {
    pldr_model *models[2] = {open_model(dir, mode, format), open_model(dir, mode, format)};
    if (!models[0] || !models[1]) return -1;
    pldr_threads *pool = pool_threads > 1 ? pldr_threads_new(pool_threads, 0) : NULL;
    if (pool_threads > 1 && !pool) return -1;
    pldr_model_set_threads(models[1], pool);
    int V = pldr_model_vocab_size(models[0]), rc = 0;
    job *jobs[2];
    for (int r = 0; r < 2; r++) {
        jobs[r] = calloc(THREADS, sizeof(job));
        for (int i = 0; i < THREADS; i++) {
            jobs[r][i].model = models[r];
            jobs[r][i].logits = malloc((size_t)STEPS * V * sizeof(float));
            fill_prompt(&jobs[r][i], i, same_prompt, V);
        }
        if (warm_first) { /* a first prompt, so that mode first has its G before the threads start */
            job warm = {.model = models[r], .logits = malloc((size_t)STEPS * V * sizeof(float))};
            fill_prompt(&warm, 99, 0, V);
            run_job(&warm);
            rc |= warm.rc;
            free(warm.logits);
        }
    }
    rc = rc || run_jobs(jobs[1], 1) || run_jobs(jobs[0], 0); /* at once first: the first use of everything */
    for (int i = 0; !rc && i < THREADS; i++)
        if (memcmp(jobs[0][i].out, jobs[1][i].out, sizeof jobs[0][i].out) ||
            memcmp(jobs[0][i].logits, jobs[1][i].logits, (size_t)STEPS * V * sizeof(float))) {
            fprintf(stderr, "threads-test: %s: job %d differs between concurrent and one-by-one runs\n", name, i);
            rc = -1;
        }
    long long runs[2] = {pldr_model_anet_runs(models[0]), pldr_model_anet_runs(models[1])};
    if (!rc && mode == PLDR_GCACHE_PROMPT && runs[0] != runs[1]) {
        fprintf(stderr, "threads-test: %s: %lld A-net runs one by one, %lld at once\n", name, runs[0], runs[1]);
        rc = -1;
    }
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < THREADS; i++) free(jobs[r][i].logits);
        free(jobs[r]);
        pldr_model_free(models[r]);
    }
    pldr_threads_free(pool);
    if (!rc) printf("  %s: %d threads = one by one\n", name, THREADS);
    return rc;
}

/* One session's run (a prompt, then decode steps) on pools of
 * 1 to 4 threads: the same bits every time. */
static int pool_sizes(const char *dir, const char *name, pldr_gcache_mode mode, pldr_weight_format format, int kv_format) {
    float *first = NULL;
    int rc = 0, V = 0;
    for (int n = 1; n <= 4 && !rc; n++) {
        pldr_threads *pool = pldr_threads_new(n, 0);
        pldr_model *m = pool ? open_model(dir, mode, format) : NULL;
        if (!m) {
            pldr_threads_free(pool);
            return -1;
        }
        pldr_model_set_threads(m, pool);
        V = pldr_model_vocab_size(m);
        job j = {.model = m, .kv_format = kv_format, .logits = malloc((size_t)STEPS * V * sizeof(float))};
        fill_prompt(&j, 5, 0, V);
        run_job(&j);
        if (j.rc) {
            fprintf(stderr, "threads-test: %s, pool of %d: %s\n", name, n, j.error);
            rc = -1;
        } else if (!first) {
            first = j.logits;
            j.logits = NULL;
        } else if (memcmp(first, j.logits, (size_t)STEPS * V * sizeof(float))) {
            fprintf(stderr, "threads-test: %s: a pool of %d threads differs from one thread\n", name, n);
            rc = -1;
        }
        free(j.logits);
        pldr_model_free(m);
        pldr_threads_free(pool);
    }
    free(first);
    if (!rc) printf("  %s: pools of 1-4 threads give the same bits\n", name);
    return rc;
}

/* ---- a pool thread lost in the middle of a chunk ------------------------------------------------ */

#define LOST_UNITS 64

typedef struct {
    pldr_threads *pool;
    int out[LOST_UNITS];
    atomic_int thread1_died; /* pool thread 1 took a chunk and was lost in it */
} lost_job;

/* out[u] = u*u + 1; pool thread 1, at its first chunk, writes garbage, tells the pool it is lost
 * and exits (as a WebAssembly worker does after an exception: thread-worker.js); the other
 * threads' chunks wait (5 s at most) for that to happen, so that thread 1 surely takes one. */
static void lost_task(void *ctx, int u0, int u1, const pool_part *part) {
    lost_job *j = ctx;
    if (part->index == 1 && !atomic_load(&j->thread1_died)) {
        for (int u = u0; u < u1; u++) j->out[u] = -1;
        atomic_store(&j->thread1_died, 1);
        pldr_threads_lost(j->pool, 1);
        pthread_exit(NULL);
    }
    double until = pldr_now_ms() + 5000;
    while (!atomic_load(&j->thread1_died) && pldr_now_ms() < until) pldr_spin_pause();
    for (int u = u0; u < u1; u++) j->out[u] = u * u + 1;
}

/* The chunk is run again by the caller (every output right), the region and the next ones end,
 * the pool counts one thread less, and freeing it does not wait for the lost one. */
static int lost_thread(void) {
    lost_job j = {.pool = pldr_threads_new(3, 0)};
    if (!j.pool) return -1;
    pool_part own = {NULL, NULL, 0};
    pool_need need = {.units = LOST_UNITS, .parts = 3, .grain = 1};
    int rc = 0;
    for (int round = 0; round < 3 && !rc; round++) {
        memset(j.out, 0, sizeof j.out);
        pool_run(j.pool, &own, need, lost_task, &j);
        for (int u = 0; u < LOST_UNITS && !rc; u++)
            if (j.out[u] != u * u + 1) {
                fprintf(stderr, "threads-test: lost thread, round %d: unit %d is %d\n", round, u, j.out[u]);
                rc = -1;
            }
    }
    if (!rc && !atomic_load(&j.thread1_died)) {
        fprintf(stderr, "threads-test: lost thread: pool thread 1 took no chunk in 5 s\n");
        rc = -1;
    }
    if (!rc && pldr_threads_count(j.pool) != 2) {
        fprintf(stderr, "threads-test: lost thread: the pool counts %d threads, not 2\n", pldr_threads_count(j.pool));
        rc = -1;
    }
    pldr_threads_free(j.pool);
    if (!rc) printf("  a pool thread lost inside a chunk: the caller redoes it, the pool goes on with 2\n");
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: threads-test MODEL_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    /* concurrent first prefills race to publish the model's G (the same prompt: any winner's G is
     * the same); q8 and q4 first use the half-precision table in every thread at once */
    int rc = lost_thread() ||
             scenario(dir, "mode first, concurrent first prefills, q8", PLDR_GCACHE_FIRST, PLDR_WEIGHTS_Q8, 1, 0, 1) ||
             scenario(dir, "mode first, G already there, q4", PLDR_GCACHE_FIRST, PLDR_WEIGHTS_Q4, 0, 1, 1) ||
             scenario(dir, "mode prompt, f32", PLDR_GCACHE_PROMPT, PLDR_WEIGHTS_F32, 0, 0, 1) ||
             /* the same, the four sessions sharing one pool of 3 kernel threads */
             scenario(dir, "mode first, concurrent first prefills, q8, one pool of 3", PLDR_GCACHE_FIRST, PLDR_WEIGHTS_Q8, 1, 0, 3) ||
             scenario(dir, "mode prompt, f32, one pool of 3", PLDR_GCACHE_PROMPT, PLDR_WEIGHTS_F32, 0, 0, 3) ||
             pool_sizes(dir, "pool, mode off, f32", PLDR_GCACHE_OFF, PLDR_WEIGHTS_F32, PLDR_KV_F32) ||
             pool_sizes(dir, "pool, mode first, q8", PLDR_GCACHE_FIRST, PLDR_WEIGHTS_Q8, PLDR_KV_F32) ||
             pool_sizes(dir, "pool, mode prompt, q4", PLDR_GCACHE_PROMPT, PLDR_WEIGHTS_Q4, PLDR_KV_F32) ||
             pool_sizes(dir, "pool, mode prompt, q8, KV-cache f16", PLDR_GCACHE_PROMPT, PLDR_WEIGHTS_Q8, PLDR_KV_F16);
    if (rc) return 1;
    printf("ok: sessions of one model on %d threads give what they give one by one, with and without a kernel pool\n", THREADS);
    return 0;
}
