/* dist.h — MPI ranks, the dynamic task queue, deterministic merges, BLAS threads, stop signals.
 *
 * Rank 0 is the master and also works. Tasks are integers [0, n); a rank takes the next task with
 * dist_queue_next(), which is an atomic fetch-and-add on a counter that lives on rank 0 (MPI-3
 * passive-target RMA), so tasks are handed out dynamically without a master loop. Where a result
 * lands depends only on the task id, never on the rank that computed it: each rank fills the slots
 * of its own tasks in a zeroed buffer and dist_merge_*() sums the buffers (x + 0 = x exactly, so the
 * merge is exact whatever the rank count).
 *
 * Collective calls (every rank must make them, in the same order): dist_init, dist_finalize,
 * dist_queue_create/free, dist_merge_*, dist_bcast_*, dist_any, dist_barrier, dist_stop_requested.
 */
#ifndef HUST19_DIST_H
#define HUST19_DIST_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rank, size;
    int local_rank, local_size; /* within the node (MPI_COMM_TYPE_SHARED) */
    int blas_threads;
    MPI_Comm comm;
} dist_ctx;

/* Initialise MPI (if not yet), logging, BLAS threads and stop-signal handlers. Collective. */
int dist_init(int *argc, char ***argv);
void dist_finalize(void);
const dist_ctx *dist_get(void);
int dist_rank(void);
int dist_size(void);

/* BLAS threads per rank: HUST19_THREADS, else SLURM_CPUS_PER_TASK, else OMP_NUM_THREADS, else
 * (online cores / ranks on this node), at least 1. Applied with openblas_set_num_threads. */
int dist_choose_blas_threads(int local_size);

/* Under SLURM (SLURM_NTASKS set and HUST19_IGNORE_SLURM unset), check the MPI world size equals
 * SLURM_NTASKS; a mismatch is an error that names both and the likely cause. */
int dist_check_slurm(void);

/* Dynamic task queue over [0, ntasks). */
typedef struct {
    MPI_Win win;
    int64_t *counter; /* on rank 0 */
    int64_t ntasks;
} dist_queue;

int dist_queue_create(dist_queue *q, int64_t ntasks);
/* Next task id, or -1 when none is left. Not collective. */
int64_t dist_queue_next(dist_queue *q);
void dist_queue_free(dist_queue *q);

/* In-place sum over ranks (MPI_Allreduce). Deterministic when each element is non-zero on at
 * most one rank. */
int dist_merge_f64(double *buf, size_t n);
int dist_merge_f32(float *buf, size_t n);
int dist_merge_i64(int64_t *buf, size_t n);
int dist_merge_i32(int32_t *buf, size_t n);
int dist_merge_u8(uint8_t *buf, size_t n); /* bitwise OR */

/* 1 on every rank if flag is non-zero on any rank. */
int dist_any(int flag);
/* A failed status on any rank becomes a failure on every rank (the message of the lowest failing
 * rank is broadcast and re-recorded), so all ranks take the same error path. */
int dist_agree(int rc);
int dist_barrier(void);
int dist_bcast_bytes(void *buf, size_t n, int root);

/* Stop requests: SIGUSR1 and SIGTERM set a flag. dist_stop_requested() is collective and returns
 * 1 on every rank if any rank received a signal, so all ranks checkpoint at the same step. */
int dist_stop_requested(void);
/* Non-collective peek at this rank's flag. */
int dist_stop_signalled(void);
/* For tests: raise the flag as if a signal arrived. */
void dist_stop_raise(void);

#endif
