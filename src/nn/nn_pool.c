/* nn_pool.c — a small blocking thread pool for the nn kernels' parallel loops (nn_internal.h).
 *
 * Why not OpenMP: libgomp's idle threads spin (GOMP_SPINCOUNT, ~ms) between parallel regions unless
 * OMP_WAIT_POLICY=PASSIVE is in the environment at start-up, and on a loaded node the spinning
 * thread competed with the working ones: the slice CNN benchmark used 1.7-1.9x the CPU time of the
 * same code with PASSIVE. Here idle workers block on a condition variable, whatever the
 * environment.
 *
 * A job is [0, n) cut into nt static parts (part t = [n t / nt, n (t + 1) / nt)); the caller runs
 * part 0 and workers 1..nt-1 the others. The cut depends on nt only and every kernel gives each
 * part disjoint outputs, so results do not depend on which thread runs what. Workers are created on
 * first use and live until the process ends. A job started from inside a job (or while another
 * thread's job runs) runs on the calling thread alone.
 */
#include "nn/nn_internal.h"

#include <pthread.h>

#define POOL_MAX 256

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_start = PTHREAD_COND_INITIALIZER, g_done = PTHREAD_COND_INITIALIZER;
static int g_workers;        /* created so far */
static unsigned long g_gen;  /* job generation: a change wakes the workers */
static int g_busy;           /* a job is running */
static int g_pending;        /* worker parts of the current job not finished */
static int g_nt;             /* parts of the current job */
static long g_n;
static nn_par_fn g_fn;
static void *g_ctx;
static unsigned long g_gen0[POOL_MAX]; /* the generation when worker i was created */
static _Thread_local int t_in_job;

static void run_part(nn_par_fn fn, void *ctx, long n, int nt, int t)
{
    long lo = (long)((double)n * t / nt), hi = (long)((double)n * (t + 1) / nt);
    if (t == nt - 1) hi = n;
    if (hi > lo) fn(ctx, lo, hi, t);
}

static void *worker(void *arg)
{
    int id = (int)(long)arg; /* part index, 1..POOL_MAX-1 */
    t_in_job = 1;
    pthread_mutex_lock(&g_mu);
    unsigned long seen = g_gen0[id]; /* a job published before this thread ran is still seen */
    for (;;) {
        while (g_gen == seen) pthread_cond_wait(&g_start, &g_mu);
        seen = g_gen;
        if (id >= g_nt) continue; /* not needed for this job */
        nn_par_fn fn = g_fn;
        void *ctx = g_ctx;
        long n = g_n;
        int nt = g_nt;
        pthread_mutex_unlock(&g_mu);
        run_part(fn, ctx, n, nt, id);
        pthread_mutex_lock(&g_mu);
        if (--g_pending == 0) pthread_cond_signal(&g_done);
    }
    return NULL;
}

void nn_par(int nt, long n, nn_par_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (nt > POOL_MAX) nt = POOL_MAX;
    if ((long)nt > n) nt = (int)n;
    if (nt <= 1 || t_in_job) {
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&g_mu);
    if (g_busy) { /* another thread's job: run alone rather than wait */
        pthread_mutex_unlock(&g_mu);
        fn(ctx, 0, n, 0);
        return;
    }
    while (g_workers < nt - 1) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        g_gen0[g_workers + 1] = g_gen;
        int rc = pthread_create(&th, &at, worker, (void *)(long)(g_workers + 1));
        pthread_attr_destroy(&at);
        if (rc != 0) break;
        g_workers++;
    }
    int nw = nt - 1 < g_workers ? nt - 1 : g_workers; /* parts the workers take */
    g_busy = 1;
    g_fn = fn;
    g_ctx = ctx;
    g_n = n;
    g_nt = nt;
    g_pending = nw;
    g_gen++;
    pthread_cond_broadcast(&g_start);
    pthread_mutex_unlock(&g_mu);
    t_in_job = 1;
    run_part(fn, ctx, n, nt, 0);
    for (int t = nw + 1; t < nt; t++) run_part(fn, ctx, n, nt, t); /* workers that could not start */
    t_in_job = 0;
    pthread_mutex_lock(&g_mu);
    while (g_pending > 0) pthread_cond_wait(&g_done, &g_mu);
    g_busy = 0;
    pthread_mutex_unlock(&g_mu);
}
