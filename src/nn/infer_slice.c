/* infer_slice.c — `hust19 infer`: score every slice of the archive with the trained slice CNN
 * (include/hust19/stage_cnn.h, docs/training.md). Chunks of infer_chunk slices are tasks of the
 * dynamic queue (dist_queue_next); a finished chunk is kept in <outdir>/infer-chunks/ so that an
 * interrupted run resumes; the probabilities of all ranks are merged exactly (each slot is
 * written by one rank, dist_merge_f32) and written collectively into the scores file. */
#include "hust19/ct.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/h5io.h"
#include "hust19/log.h"
#include "hust19/rng.h"
#include "hust19/stage_cnn.h"
#include "train_slice_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const float *prob;
    const int32_t *patient;
} top_ctx;

static const top_ctx *g_top; /* qsort has no user pointer; sc_top_pct is called from one thread */

/* patient ascending, then pCT probability descending, then slice index ascending */
static int cmp_top(const void *a, const void *b)
{
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    int32_t pi = g_top->patient[i], pj = g_top->patient[j];
    if (pi != pj) return pi < pj ? -1 : 1;
    float qi = g_top->prob[i * SC_NCLASS + 1], qj = g_top->prob[j * SC_NCLASS + 1];
    if (qi != qj) return qi > qj ? -1 : 1;
    return i < j ? -1 : i > j;
}

int sc_top_pct(const float *prob, const int32_t *patient, int64_t n, int64_t npatients, int64_t *top)
{
    for (int64_t i = 0; i < npatients * SC_TOPK; i++) top[i] = -1;
    if (n == 0) return H19_OK;
    int64_t *order = h19_malloc(sizeof(int64_t) * (size_t)n);
    if (!order) return H19_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        if (patient[i] < 0 || patient[i] >= npatients) {
            free(order);
            return h19_fail(H19_EFORMAT, "slice %lld: patient row %d outside [0, %lld)", (long long)i, patient[i],
                            (long long)npatients);
        }
        order[i] = i;
    }
    top_ctx c = {prob, patient};
    g_top = &c;
    qsort(order, (size_t)n, sizeof *order, cmp_top);
    g_top = NULL;
    for (int64_t s = 0; s < n;) {
        int64_t e = s;
        while (e < n && patient[order[e]] == patient[order[s]]) e++;
        int64_t *row = top + (int64_t)patient[order[s]] * SC_TOPK;
        for (int k = 0; k < SC_TOPK; k++) row[k] = order[s + (k < e - s ? k : e - s - 1)];
        s = e;
    }
    free(order);
    return H19_OK;
}

/* A finished chunk: "H19SCCH1", model hash, first, n, then n * SC_NCLASS floats. */
#define CHUNK_MAGIC "H19SCCH1"
typedef struct {
    char magic[8];
    uint64_t model_hash;
    int64_t first, n;
} chunk_head;

static void chunk_path(char *buf, size_t cap, const sc_opts *o, int64_t t)
{
    snprintf(buf, cap, "%s/c%07lld.bin", o->chunk_dir, (long long)t);
}

/* 1 if a valid chunk file for (hash, first, n) was read into prob. */
static int chunk_load(const char *path, uint64_t hash, int64_t first, int64_t n, float *prob)
{
    char *data = NULL;
    size_t len = 0;
    if (!h19_file_exists(path) || h19_read_file(path, &data, &len)) return 0;
    chunk_head h;
    int ok = len == sizeof h + sizeof(float) * (size_t)n * SC_NCLASS;
    if (ok) {
        memcpy(&h, data, sizeof h);
        ok = !memcmp(h.magic, CHUNK_MAGIC, 8) && h.model_hash == hash && h.first == first && h.n == n;
    }
    if (ok) memcpy(prob, data + sizeof h, sizeof(float) * (size_t)n * SC_NCLASS);
    free(data);
    return ok;
}

static int chunk_save(const char *path, uint64_t hash, int64_t first, int64_t n, const float *prob)
{
    size_t len = sizeof(chunk_head) + sizeof(float) * (size_t)n * SC_NCLASS;
    char *data = h19_malloc(len);
    if (!data) return H19_ENOMEM;
    chunk_head h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CHUNK_MAGIC, 8);
    h.model_hash = hash;
    h.first = first;
    h.n = n;
    memcpy(data, &h, sizeof h);
    memcpy(data + sizeof h, prob, len - sizeof h);
    int rc = h19_write_atomic(path, data, len);
    free(data);
    return rc;
}

/* What a scores file was computed from: the model's parameters and the inference settings (hash),
 * the archive's path and its slices' metadata (patient, series, instance, position). A re-run with
 * an equal key finds the scores done. */
static uint64_t scores_key(uint64_t hash, const h19_job *job, const ct_archive_meta *m)
{
    uint64_t k = h19_mix64(hash ^ 0x53434f5245530001ull ^ (uint64_t)m->n);
    for (const char *c = job->archive; *c; c++) k = h19_mix64(k ^ (uint64_t)(unsigned char)*c);
    for (int64_t i = 0; i < m->n; i++) {
        uint64_t z;
        memcpy(&z, &m->z[i], sizeof z);
        k = h19_mix64(k ^ (uint64_t)(uint32_t)m->patient[i] ^ (uint64_t)(uint32_t)m->series[i] << 32);
        k = h19_mix64(k ^ (uint64_t)(uint32_t)m->instance[i] ^ z);
    }
    return k;
}

/* 1 if o->scores_out exists, is a scores file and carries key (rank 0 reads, all ranks agree). */
static int scores_done(const sc_opts *o, uint64_t key)
{
    int done = 0;
    if (dist_rank() == 0 && h19_file_exists(o->scores_out)) {
        h5_file f;
        if (h5_open(&f, o->scores_out, MPI_COMM_SELF, SC_SCORES_KIND, SC_SCORES_VERSION) == H19_OK) {
            int64_t v = 0;
            if (H5Aexists(f.fid, "scores_key") > 0 && h5_read_attr_i64(&f, "", "scores_key", &v) == H19_OK)
                done = (uint64_t)v == key;
            h5_close(&f);
        }
    }
    if (dist_size() > 1) MPI_Bcast(&done, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return done;
}

static int write_scores(const sc_opts *o, const h19_job *job, const float *prob, const ct_archive_meta *m,
                        const int64_t *top, uint64_t key)
{
    int rank = dist_rank(), size = dist_size();
    int64_t n = m->n, np = m->npatients;
    int64_t f0 = n * rank / size, f1 = n * (rank + 1) / size;
    int64_t p0 = np * rank / size, p1 = np * (rank + 1) / size;
    h5_file f;
    H19_TRY(h5_create(&f, o->scores_out, MPI_COMM_WORLD, SC_SCORES_KIND, SC_SCORES_VERSION));
    int64_t dp[2] = {n, SC_NCLASS}, dt[2] = {np, SC_TOPK};
    int rc = h5_write(&f, "/prob", H5T_NATIVE_FLOAT, 2, dp, f0, f1 - f0, prob + f0 * SC_NCLASS, 1);
    if (!rc) rc = h5_write_i32_1d(&f, "/patient", n, f0, f1 - f0, m->patient + f0);
    if (!rc) rc = h5_write(&f, "/top10", H5T_NATIVE_INT64, 2, dt, p0, p1 - p0, top + p0 * SC_TOPK, 1);
    if (!rc) rc = h5_attr_str(&f, "", "classes", "NiCT,pCT,nCT");
    if (!rc) rc = h5_attr_str(&f, "", "model", o->model_out);
    if (!rc) rc = h5_attr_str(&f, "", "archive", job->archive);
    if (!rc) rc = h5_attr_i64(&f, "", "scores_key", (int64_t)key);
    if (rc) {
        h5_abort(&f);
        return rc;
    }
    return h5_commit(&f);
}

int sc_infer(h19_job *job, sc_opts *o, sc_infer_result *res)
{
    memset(res, 0, sizeof *res);
    h5_file f;
    ct_archive_meta m;
    memset(&m, 0, sizeof m);
    int rc = sc_meta_open(job, &f, &m);
    rc = dist_agree(rc);
    if (rc) return rc;
    res->n = m.n;
    res->npatients = m.npatients;
    nn_net *net = NULL;
    int mb = o->hyper.micro_batch > 0 ? o->hyper.micro_batch : 16;
    if (mb > o->infer_chunk) mb = (int)o->infer_chunk;
    rc = nn_net_create(&net, o->C, o->H, o->W, o->spec, o->nspec, mb);
    if (!rc) rc = sc_model_read(o, net);
    rc = dist_agree(rc);
    /* flip_test scores differ: chunks of the other setting are not reused */
    uint64_t hash = rc ? 0 : sc_params_hash(net) ^ (o->flip_test ? 0x5f1eULL : 0) ^ (uint64_t)o->input * 0x1a9c0000ULL;
    uint64_t key = rc ? 0 : scores_key(hash, job, &m);
    if (!rc && scores_done(o, key)) { /* the same model and settings already scored this archive */
        LOG_INFO("infer: %s is up to date (same model, settings and archive); nothing to do (delete it to re-score)",
                 o->scores_out);
        res->up_to_date = 1;
        nn_net_free(net);
        h5_close(&f);
        ct_archive_meta_free(&m);
        return H19_OK;
    }
    if (!rc) rc = job_make_outdir(job);
    if (!rc && dist_rank() == 0) rc = h19_mkdir_p(o->chunk_dir);
    rc = dist_agree(rc);
    int64_t chunk = o->infer_chunk, nchunks = (m.n + chunk - 1) / chunk;
    size_t nin = (size_t)o->H * o->W;
    float *prob = rc ? NULL : h19_calloc((size_t)m.n * SC_NCLASS, sizeof(float));
    int64_t *idx = rc ? NULL : h19_malloc(sizeof(int64_t) * (size_t)chunk);
    float *X = rc ? NULL : h19_malloc(sizeof(float) * nin * (size_t)chunk);
    int64_t *top = rc ? NULL : h19_malloc(sizeof(int64_t) * (size_t)(m.npatients + 1) * SC_TOPK);
    if (!rc && (!prob || !idx || !X || !top)) rc = H19_ENOMEM;
    rc = dist_agree(rc);
    dist_queue q;
    int have_q = 0;
    if (!rc) {
        rc = dist_queue_create(&q, nchunks);
        have_q = !rc;
    }
    double w0 = sc_wall_seconds(), c0 = sc_cpu_seconds();
    int stopped = 0;
    int64_t scored = 0;
    /* test mode: HUST19_STOP_AFTER_CHUNKS=N stops this rank after N chunks, as SIGTERM would */
    const char *env = getenv("HUST19_STOP_AFTER_CHUNKS");
    long stop_after = env && *env ? strtol(env, NULL, 10) : 0;
    for (int64_t t; !rc && !stopped && (t = dist_queue_next(&q)) >= 0;) {
        int64_t first = t * chunk, n = m.n - first < chunk ? m.n - first : chunk;
        char path[1200];
        chunk_path(path, sizeof path, o, t);
        float *p = prob + first * SC_NCLASS;
        if (chunk_load(path, hash, first, n, p)) {
            res->chunks_reused++;
        } else {
            for (int64_t i = 0; i < n; i++) idx[i] = first + i;
            rc = sc_load_slices(&f, idx, n, o->H, o->W, o->input, X);
            if (!rc) rc = sc_predict(net, X, (int)n, o->H, o->W, o->flip_test, p, MPI_COMM_SELF);
            if (!rc) rc = chunk_save(path, hash, first, n, p);
            scored += n;
        }
        res->chunks_done++;
        if (stop_after > 0 && res->chunks_done >= stop_after) dist_stop_raise();
        /* a signalled rank finishes its chunk and takes no more; the others drain the queue */
        if (dist_stop_signalled()) stopped = 1;
    }
    res->seconds = sc_wall_seconds() - w0;
    res->cpu_seconds = sc_cpu_seconds() - c0;
    h5_close(&f);
    if (have_q) dist_queue_free(&q);
    rc = dist_agree(rc);
    if (!rc && dist_any(stopped))
        rc = h19_fail(H19_ESTOP, "stopped by a signal; finished chunks are in %s: re-run to resume", o->chunk_dir);
    if (!rc) {
        double v[2] = {res->cpu_seconds, (double)scored};
        int reused = res->chunks_reused;
        if (dist_size() > 1) {
            MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            MPI_Allreduce(MPI_IN_PLACE, &reused, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        }
        LOG_INFO("infer: %.0f slices scored in %.2f s on %d ranks: %.3f slices/s; CPU %.2f s: %.3f slices per "
                 "CPU-second; %d chunks reused", v[1], res->seconds, dist_size(), res->seconds > 0 ? v[1] / res->seconds : 0.0,
                 v[0], v[0] > 0 ? v[1] / v[0] : 0.0, reused);
        rc = dist_merge_f32(prob, (size_t)m.n * SC_NCLASS);
    }
    if (!rc) rc = dist_agree(sc_top_pct(prob, m.patient, m.n, m.npatients, top));
    if (!rc) rc = write_scores(o, job, prob, &m, top, key);
    if (!rc && dist_rank() == 0) {
        /* the scores file is committed: the chunk files have served their purpose */
        for (int64_t t = 0; t < nchunks; t++) {
            char path[1200];
            chunk_path(path, sizeof path, o, t);
            if (unlink(path) && errno != ENOENT) LOG_WARN("infer: cannot remove %s: %s", path, strerror(errno));
        }
        rmdir(o->chunk_dir);
    }
    if (!rc) LOG_INFO("infer: %lld slices of %lld patients scored into %s", (long long)m.n, (long long)m.npatients,
                      o->scores_out);
    nn_net_free(net);
    free(prob);
    free(idx);
    free(X);
    free(top);
    ct_archive_meta_free(&m);
    return rc;
}
