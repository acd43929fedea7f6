/* dist.c — see include/hust19/dist.h. */
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/log.h"

#include <cblas.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OpenBLAS's thread control (declared in its cblas.h; declared here too for other BLAS builds). */
void openblas_set_num_threads(int num_threads);

static dist_ctx g_ctx = {0, 1, 0, 1, 1, MPI_COMM_NULL};
static volatile sig_atomic_t g_stop = 0;
static int g_we_initialised = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

const dist_ctx *dist_get(void) { return &g_ctx; }
int dist_rank(void) { return g_ctx.rank; }
int dist_size(void) { return g_ctx.size; }

static int env_int(const char *name)
{
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end && *end != '(') return 0; /* SLURM may print "2(x3)" */
    return v > 0 && v < 100000 ? (int)v : 0;
}

int dist_choose_blas_threads(int local_size)
{
    int t = env_int("HUST19_THREADS");
    if (!t) t = env_int("SLURM_CPUS_PER_TASK");
    if (!t) t = env_int("OMP_NUM_THREADS");
    if (!t) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        if (cores < 1) cores = 1;
        t = (int)(cores / (local_size > 0 ? local_size : 1));
    }
    return t < 1 ? 1 : t;
}

int dist_init(int *argc, char ***argv)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        if (MPI_Init(argc, argv) != MPI_SUCCESS) return h19_fail(H19_EMPI, "MPI_Init failed");
        g_we_initialised = 1;
    }
    g_ctx.comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_ctx.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_ctx.size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_ctx.rank, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_rank(local, &g_ctx.local_rank);
        MPI_Comm_size(local, &g_ctx.local_size);
        MPI_Comm_free(&local);
    }
    h19_log_init(g_ctx.rank, g_ctx.size);
    g_ctx.blas_threads = dist_choose_blas_threads(g_ctx.local_size);
    openblas_set_num_threads(g_ctx.blas_threads);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return H19_OK;
}

void dist_finalize(void)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin && g_we_initialised) MPI_Finalize();
}

int dist_check_slurm(void)
{
    if (getenv("HUST19_IGNORE_SLURM")) return H19_OK;
    const char *jid = getenv("SLURM_JOB_ID");
    int ntasks = env_int("SLURM_NTASKS");
    if (!jid || !ntasks) return H19_OK;
    /* a step launched by mpirun/srun inside the job: the world must match the allocation */
    if (ntasks != g_ctx.size && getenv("SLURM_STEP_ID") == NULL && g_ctx.size == 1)
        return h19_fail(H19_EMPI,
                        "running under SLURM job %s with SLURM_NTASKS=%d but MPI world size is 1: "
                        "launch with 'srun --mpi=pmix' or 'mpirun' (not bare), or set "
                        "HUST19_IGNORE_SLURM=1 to run one process on purpose",
                        jid, ntasks);
    if (ntasks != g_ctx.size)
        return h19_fail(H19_EMPI,
                        "MPI world size %d differs from SLURM_NTASKS=%d (job %s): the launcher "
                        "started the wrong number of ranks (check --ntasks and the launcher setting)",
                        g_ctx.size, ntasks, jid);
    return H19_OK;
}

int dist_queue_create(dist_queue *q, int64_t ntasks)
{
    q->ntasks = ntasks;
    q->counter = NULL;
    MPI_Aint sz = g_ctx.rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0;
    if (MPI_Win_allocate(sz, sizeof(int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &q->counter, &q->win) !=
        MPI_SUCCESS)
        return h19_fail(H19_EMPI, "MPI_Win_allocate failed for the task queue");
    if (g_ctx.rank == 0) {
        MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, q->win);
        *q->counter = 0;
        MPI_Win_unlock(0, q->win);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return H19_OK;
}

int64_t dist_queue_next(dist_queue *q)
{
    int64_t one = 1, got = 0;
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, q->win);
    MPI_Fetch_and_op(&one, &got, MPI_INT64_T, 0, 0, MPI_SUM, q->win);
    MPI_Win_unlock(0, q->win);
    return got < q->ntasks ? got : -1;
}

void dist_queue_free(dist_queue *q)
{
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Win_free(&q->win);
}

#define MERGE(fn, ctype, mtype, op)                                                         \
    int fn(ctype *buf, size_t n)                                                            \
    {                                                                                       \
        size_t off = 0;                                                                     \
        while (off < n) {                                                                   \
            size_t c = n - off > (1u << 30) ? (1u << 30) : n - off;                         \
            if (MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)c, mtype, op, MPI_COMM_WORLD) !=  \
                MPI_SUCCESS)                                                                \
                return h19_fail(H19_EMPI, "MPI_Allreduce failed");                          \
            off += c;                                                                       \
        }                                                                                   \
        return H19_OK;                                                                      \
    }
MERGE(dist_merge_f64, double, MPI_DOUBLE, MPI_SUM)
MERGE(dist_merge_f32, float, MPI_FLOAT, MPI_SUM)
MERGE(dist_merge_i64, int64_t, MPI_INT64_T, MPI_SUM)
MERGE(dist_merge_i32, int32_t, MPI_INT32_T, MPI_SUM)
MERGE(dist_merge_u8, uint8_t, MPI_UINT8_T, MPI_BOR)

int dist_any(int flag)
{
    int v = flag ? 1 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return v;
}

int dist_agree(int rc)
{
    /* lowest failing rank: min over (rc ? rank : size) */
    int mine = rc ? g_ctx.rank : g_ctx.size, first = g_ctx.size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == g_ctx.size) return H19_OK;
    struct {
        int code;
        char msg[2000];
    } m;
    memset(&m, 0, sizeof m);
    if (g_ctx.rank == first) {
        m.code = rc;
        strncpy(m.msg, h19_errmsg(), sizeof m.msg - 1);
    }
    MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, first, MPI_COMM_WORLD);
    if (g_ctx.rank != first) h19_fail(m.code, "%s", m.msg);
    return m.code;
}

int dist_barrier(void)
{
    return MPI_Barrier(MPI_COMM_WORLD) == MPI_SUCCESS ? H19_OK : h19_fail(H19_EMPI, "MPI_Barrier failed");
}

int dist_bcast_bytes(void *buf, size_t n, int root)
{
    char *p = buf;
    while (n) {
        int c = n > (1u << 30) ? (1 << 30) : (int)n;
        if (MPI_Bcast(p, c, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
            return h19_fail(H19_EMPI, "MPI_Bcast failed");
        p += c;
        n -= (size_t)c;
    }
    return H19_OK;
}

int dist_stop_signalled(void) { return g_stop != 0; }
void dist_stop_raise(void) { g_stop = 1; }
int dist_stop_requested(void) { return dist_any(g_stop != 0); }
