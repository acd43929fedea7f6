/* nn_infer.c — nn_predict for nets with convolutions: each sample runs through all the
 * convolutions alone, on one thread, with the ReLU and pooling fused into the convolutions'
 * output stores, then the dense layers run over several chunks at once.
 *
 * Why (docs/nn.md "Performance"): the layer-by-layer forward of nn_forward streams a micro-batch's
 * activations through memory once per layer (32 x 200 x 200 floats = 5.1 MB per sample and layer,
 * written by the convolution, rewritten by the ReLU, read by the pooling, copied into the next
 * convolution's padded input), and reads the 82 MB weights of the slice CNN's first dense layer
 * once per micro-batch of 8. Here a sample's convolution writes its ReLU'd (and pooled) output
 * straight into the zero-bordered input buffer of the next convolution, which stays in the L3
 * cache, and the dense weights are read once per group of GROUP_SAMPLES samples. Every buffer is
 * made once per net (net->infer) and reused, so there are no page faults per call.
 *
 * Same bits as nn_forward: the convolution SGEMMs are the same calls (OpenBLAS's sums depend on
 * the GEMM shape, so the Winograd blocks and the dense chunks of max_batch rows are kept), the
 * fused ReLU / pooling compute the expressions of the separate passes, and the dense layers are
 * nn_dense_forward's calls on the same chunks, only in another order. tests/unit/test_nn_infer.c
 * compares the two bit for bit.
 */
#include "hust19/err.h"
#include "hust19/nn.h"
#include "nn/nn_internal.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GROUP_SAMPLES 32 /* samples per dense group: 10 MB of slice-CNN dense input */

enum { ST_WINO = 1, ST_GEMM = 2, ST_ELEM = 3 };

typedef struct {
    int kind, l;     /* ST_*, the first layer of the stage (its time in net->prof) */
    int C, H, W, K;  /* input shape; output channels (C for ST_ELEM) */
    int OH, OW;      /* output shape after the post */
    nn_post post;
    int padded;      /* input buffer is Winograd-padded (ST_WINO) */
    int PH, PW;
    size_t in_off;   /* offset of the input buffer in a thread's buffer (SIZE_MAX: the net input) */
    size_t u_off;    /* offset of the filter transform in ws->U */
} stage;

typedef struct {
    float *buf; /* stage inputs | Winograd scratch | im2col columns | im2col output */
    float *V, *M, *tmp, *col, *cout;
} thread_ws;

struct nn_infer_ws {
    int nt, mb, group, nstage, ld; /* threads, max_batch, chunks per group, stages, first dense layer */
    stage *st;
    size_t D, nU;
    float *U;    /* Winograd filter transforms of all ST_WINO stages */
    float *din;  /* [group * mb][D] dense input */
    float *dout; /* [group * mb][OUT of layer ld] */
    int *gidx, *grow; /* [group * mb] sample index and dense row of each sample of a group */
    thread_ws *tw;
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void nn_infer_free(nn_net *net)
{
    struct nn_infer_ws *ws = net->infer;
    if (!ws) return;
    if (ws->tw)
        for (int t = 0; t < ws->nt; t++) free(ws->tw[t].buf);
    free(ws->tw);
    free(ws->st);
    free(ws->U);
    free(ws->din);
    free(ws->dout);
    free(ws->gidx);
    free(ws->grow);
    free(ws);
    net->infer = NULL;
}

/* Cut the layers before the first dense layer into stages: a convolution or a lone pooling/ReLU,
 * then the ReLUs and at most one pooling that follow (dropout is the identity here). Returns the
 * stage count, 0 if there is no convolution (nn_forward is as good). */
static int plan(const nn_net *net, stage *st, int *ld)
{
    int nl = net->nlayers, l = 0, ns = 0, conv = 0;
    *ld = nl;
    for (int i = 0; i < nl; i++)
        if (net->layers[i].spec.kind == NN_DENSE) {
            *ld = i;
            break;
        }
    if (*ld == nl) return 0;
    while (l < *ld) {
        const nn_layer *L = &net->layers[l];
        if (L->spec.kind == NN_DROPOUT) {
            l++;
            continue;
        }
        stage s;
        memset(&s, 0, sizeof s);
        s.l = l;
        s.C = L->C;
        s.H = L->H;
        s.W = L->W;
        s.K = L->C;
        s.in_off = SIZE_MAX;
        if (L->spec.kind == NN_CONV3) {
            s.K = L->OC;
            s.kind = nn_conv3_is_wino(L->C, L->OC) ? ST_WINO : ST_GEMM;
            conv = 1;
            l++;
        } else if (L->spec.kind == NN_RELU || L->spec.kind == NN_MAXPOOL2) {
            s.kind = ST_ELEM;
        } else {
            return 0; /* a head before any dense layer cannot be built; be safe */
        }
        while (l < *ld) {
            nn_kind k = net->layers[l].spec.kind;
            if (k == NN_DROPOUT) {
                l++;
            } else if (k == NN_RELU) {
                if (s.post.pool) s.post.relu_post = 1;
                else s.post.relu_pre = 1;
                l++;
            } else if (k == NN_MAXPOOL2 && !s.post.pool) {
                s.post.pool = 1;
                l++;
            } else {
                break;
            }
        }
        s.OH = s.post.pool ? s.H / 2 : s.H;
        s.OW = s.post.pool ? s.W / 2 : s.W;
        s.padded = s.kind == ST_WINO;
        nn_wino_pad_dims(s.H, s.W, &s.PH, &s.PW);
        st[ns++] = s;
    }
    return conv ? ns : 0;
}

static int ws_make(nn_net *net, int nt, struct nn_infer_ws **out)
{
    *out = NULL;
    stage *st = h19_calloc((size_t)net->nlayers, sizeof *st);
    if (!st) return H19_ENOMEM;
    int ld = 0, ns = plan(net, st, &ld);
    if (ns == 0) {
        free(st);
        return H19_OK;
    }
    struct nn_infer_ws *ws = h19_calloc(1, sizeof *ws);
    if (!ws) {
        free(st);
        return H19_ENOMEM;
    }
    ws->st = st;
    ws->nstage = ns;
    ws->ld = ld;
    ws->nt = nt;
    ws->mb = net->max_batch;
    ws->group = GROUP_SAMPLES / ws->mb > 1 ? GROUP_SAMPLES / ws->mb : 1;
    const nn_layer *LD = &net->layers[ld];
    ws->D = (size_t)LD->C * LD->H * LD->W;
    size_t per = 0, vmax = 0, mmax = 0, tmax = 0, col = 0, cout = 0, nU = 0;
    for (int s = 0; s < ns; s++) {
        stage *S = &st[s];
        size_t in = S->padded ? (size_t)S->C * S->PH * S->PW : (size_t)S->C * S->H * S->W;
        if (s > 0 || S->padded) { /* the first stage reads a plain input in place */
            S->in_off = per;
            per += (in + 15) & ~(size_t)15;
        }
        if (S->kind == ST_WINO) {
            size_t v, m, t;
            nn_wino_sizes(S->C, S->H, S->W, S->K, &v, &m, &t);
            vmax = v > vmax ? v : vmax;
            mmax = m > mmax ? m : mmax;
            tmax = t > tmax ? t : tmax;
            S->u_off = nU;
            nU += nn_wino_filter_floats(S->C, S->K);
        } else if (S->kind == ST_GEMM) {
            size_t c = (size_t)S->C * 9 * S->H * S->W, o = (size_t)S->K * S->H * S->W;
            if (c > col) col = c;
            if (o > cout) cout = o;
        }
    }
    size_t rows = (size_t)ws->group * ws->mb;
    int rc = H19_OK;
    ws->nU = nU;
    if ((nU && !(ws->U = h19_malloc(sizeof(float) * nU))) || !(ws->din = nn_big_alloc(rows * ws->D, 1)) ||
        !(ws->dout = h19_malloc(sizeof(float) * rows * (size_t)LD->OC)) ||
        !(ws->gidx = h19_malloc(sizeof(int) * rows)) || !(ws->grow = h19_malloc(sizeof(int) * rows)) ||
        !(ws->tw = h19_calloc((size_t)nt, sizeof *ws->tw)))
        rc = H19_ENOMEM;
    for (int t = 0; t < nt && !rc; t++) {
        thread_ws *T = &ws->tw[t];
        /* calloc: the padded buffers' borders must be zero, and are never written after */
        if (!(T->buf = nn_big_alloc(per + vmax + mmax + tmax + col + cout + 1, 1))) {
            rc = H19_ENOMEM;
            break;
        }
        T->V = T->buf + per;
        T->M = T->V + vmax;
        T->tmp = T->M + mmax;
        T->col = T->tmp + tmax;
        T->cout = T->col + col;
    }
    if (rc) {
        net->infer = ws;
        nn_infer_free(net);
        return h19_fail(rc, "nn_predict: inference workspace of %d threads", nt);
    }
    *out = ws;
    return H19_OK;
}

static nn_map in_map(const stage *S, float *buf)
{
    nn_map m;
    if (S->padded) {
        m.p = buf + S->in_off + S->PW + 1;
        m.cs = (size_t)S->PH * S->PW;
        m.ys = (size_t)S->PW;
    } else {
        m.p = buf + S->in_off;
        m.cs = (size_t)S->H * S->W;
        m.ys = (size_t)S->W;
    }
    return m;
}

typedef struct {
    nn_net *net;
    struct nn_infer_ws *ws;
    const float *X;
    int nin;
} seg_job;

/* One sample x through the stages into the dense input row drow. */
static void run_sample(nn_net *net, struct nn_infer_ws *ws, thread_ws *T, const float *x, float *drow, int timed)
{
    const float *P = net->params;
    for (int s = 0; s < ws->nstage; s++) {
        const stage *S = &ws->st[s];
        const nn_layer *L = &net->layers[S->l];
        double t0 = timed ? now() : 0.0;
        size_t HW = (size_t)S->H * S->W;
        const float *src = S->in_off == SIZE_MAX ? x : T->buf + S->in_off;
        if (s == 0 && S->in_off != SIZE_MAX) { /* copy the input into its buffer (padded) */
            nn_map m = in_map(S, T->buf);
            for (int c = 0; c < S->C; c++)
                for (int y = 0; y < S->H; y++)
                    memcpy(m.p + c * m.cs + y * m.ys, x + c * HW + (size_t)y * S->W, sizeof(float) * (size_t)S->W);
        }
        nn_map dst;
        if (s + 1 < ws->nstage) {
            dst = in_map(&ws->st[s + 1], T->buf);
        } else {
            dst.p = drow;
            dst.cs = (size_t)S->OH * S->OW;
            dst.ys = (size_t)S->OW;
        }
        if (S->kind == ST_WINO) {
            nn_wino_conv_map(&dst, src, ws->U + S->u_off, P + L->b_off, T->V, T->M, T->tmp, S->C, S->K, S->H, S->W,
                             S->post);
        } else if (S->kind == ST_GEMM) {
            nn_conv3_im2col_sample(T->cout, src, P + L->w_off, P + L->b_off, T->col, S->C, S->H, S->W, S->K);
            nn_post_map(&dst, T->cout, S->K, S->H, S->W, S->post);
        } else {
            nn_post_map(&dst, src, S->C, S->H, S->W, S->post);
        }
        if (timed) net->prof[2 * S->l] += now() - t0;
    }
}

static void job_seg(void *p, long lo, long hi, int part)
{
    seg_job *j = p;
    struct nn_infer_ws *ws = j->ws;
    for (long i = lo; i < hi; i++)
        run_sample(j->net, ws, &ws->tw[part], j->X + (size_t)ws->gidx[i] * j->nin, ws->din + (size_t)ws->grow[i] * ws->D,
                   part == 0 && j->net->prof);
}

int nn_infer_chunks(nn_net *net, const float *X, int n, float *prob, int rank, int size)
{
    int nt = nn_threads();
    struct nn_infer_ws *ws = net->infer;
    if (ws && (ws->nt < nt || ws->mb != net->max_batch)) {
        nn_infer_free(net);
        ws = NULL;
    }
    if (!ws) {
        H19_TRY(ws_make(net, nt, &ws));
        if (!ws) return -1;
        net->infer = ws;
    }
    if (nt > ws->nt) nt = ws->nt;
    const float *P = net->params;
    for (int s = 0; s < ws->nstage; s++) { /* the weights may have changed since the last call */
        const stage *S = &ws->st[s];
        if (S->kind == ST_WINO)
            nn_wino_filter_t(ws->U + S->u_off, P + net->layers[S->l].w_off, S->C, S->K, nt);
    }
    int mb = ws->mb, nchunks = (n + mb - 1) / mb, nin = nn_net_nin(net), nout = net->nout;
    const nn_layer *LD = &net->layers[ws->ld];
    int rows[GROUP_SAMPLES > 0 ? GROUP_SAMPLES : 1], cidx[GROUP_SAMPLES > 0 ? GROUP_SAMPLES : 1];
    seg_job sj = {net, ws, X, nin};
    for (int c0 = rank; c0 < nchunks;) {
        int g = 0, gs = 0;
        for (; g < ws->group && c0 < nchunks; g++, c0 += size) {
            int s0 = c0 * mb, b = n - s0 < mb ? n - s0 : mb;
            rows[g] = b;
            cidx[g] = c0;
            for (int r = 0; r < b; r++, gs++) {
                ws->gidx[gs] = s0 + r;
                ws->grow[gs] = g * mb + r;
            }
        }
        /* the convolutions: samples over threads, OpenBLAS on one thread inside each */
        int bt = openblas_get_num_threads();
        if (bt > 1) openblas_set_num_threads(1);
        nn_par(nt, gs, job_seg, &sj);
        if (bt > 1) openblas_set_num_threads(bt);
        double t0 = net->prof ? now() : 0.0;
        nn_dense_forward_chunks(ws->dout, ws->din, P + LD->w_off, P + LD->b_off, g, rows, mb, (int)ws->D, LD->OC);
        if (net->prof) net->prof[2 * ws->ld] += now() - t0;
        for (int q = 0; q < g; q++) {
            const float *p = nn_forward_from(net, ws->dout + (size_t)q * mb * LD->OC, NULL, rows[q], NULL, NULL, ws->ld + 1);
            memcpy(prob + (size_t)cidx[q] * mb * nout, p, sizeof(float) * (size_t)rows[q] * nout);
        }
    }
    return H19_OK;
}
