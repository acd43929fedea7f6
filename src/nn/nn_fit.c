/* nn_fit.c — the trainer: shuffled mini-batches, fixed micro-batches, a rank-count independent
 * fixed-point gradient sum, Adam with per-epoch decay, early stopping, checkpoints; and batched
 * prediction.
 *
 * Determinism (DESIGN.md "Distribution"). A global batch of bs samples is cut into micro-batches
 * of h->micro_batch samples (the last may be shorter); the cut depends only on bs, never on the
 * rank count. Micro-batch j is computed by rank j % P. Each micro-batch gradient (already scaled
 * by 1/bs, so the sum is the batch mean) is rounded to 64-bit fixed point q = llrint(g * 2^S) and
 * the integers are summed — integer addition is associative, so the sum, and hence every Adam
 * step, is bit-identical on 1 or P ranks. S = h->fixed_bits (default 40: resolution 9.1e-13).
 * Overflow guard: a micro-batch value must satisfy |q| <= 2^62 / nmicro, so no partial sum of
 * nmicro terms can leave int64; a violation (or a NaN) is counted in the same buffer and stops
 * training on every rank with H19_ESTATE ("diverged"). With S = 40 and 4 micro-batches a batch
 * mean gradient element may reach 2^20 ~ 1e6, far beyond any non-diverging training.
 * The reduced buffer is [nparams gradients | loss (2^-24 fixed point) | overflow count | stop
 * flag]: one MPI_Allreduce per step, which also carries the stop request so all ranks stop at the
 * same step. A batch of a single micro-batch needs no conversion (its sum is the one term, exact in
 * float whatever P: the other ranks add zeros), so it is reduced as floats [gradients | loss |
 * stop], and checked for NaN/Inf directly.
 */
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/nn.h"
#include "hust19/rng.h"
#include "nn/nn_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOSS_BITS 24

nn_hyper nn_hyper_default(void)
{
    nn_hyper h;
    memset(&h, 0, sizeof h);
    h.epochs = 100;
    h.batch = 32;
    h.micro_batch = 0;
    h.lr = 1e-3f;
    h.decay = 0.0f;
    h.beta1 = 0.9f;
    h.beta2 = 0.999f;
    h.eps = 1e-7f;
    h.l2 = 0.0f;
    h.dropout = -1.0f;
    h.patience = 0;
    h.fixed_bits = 40;
    h.early_stop = NN_STOP_ACCURACY;
    h.class_weight = NN_CW_NONE;
    return h;
}

/* Small nets (no convolution, < 2^20 parameters, e.g. the CF DNN): their GEMMs of a few hundred
 * rows gain nothing from BLAS threads and lose several-fold when the node is busy (idle BLAS
 * threads spin and yield), so they run on one thread; this also makes their results independent of
 * the per-rank thread count. Returns the count to restore, or 0. */
static int blas_small_begin(const nn_net *net)
{
    for (int l = 0; l < net->nlayers; l++)
        if (net->layers[l].spec.kind == NN_CONV3) return 0;
    if (net->nparams >= (1u << 20)) return 0;
    int t = openblas_get_num_threads();
    if (t <= 1) return 0;
    openblas_set_num_threads(1);
    return t;
}

static void blas_small_end(int t)
{
    if (t > 1) openblas_set_num_threads(t);
}

/* The communicator's size and rank; MPI not initialised (a plain unit test) means local. */
static void comm_info(MPI_Comm comm, int *rank, int *size)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    *rank = 0;
    *size = 1;
    if (init && !fin && comm != MPI_COMM_NULL) {
        MPI_Comm_rank(comm, rank);
        MPI_Comm_size(comm, size);
    }
}

double nn_accuracy(const float *prob, const int *y, int n, int nout)
{
    if (n <= 0) return NAN;
    long ok = 0;
    for (int i = 0; i < n; i++) {
        const float *p = prob + (size_t)i * nout;
        int c;
        if (nout == 1) {
            c = p[0] >= 0.5f;
        } else {
            c = 0;
            for (int k = 1; k < nout; k++)
                if (p[k] > p[c]) c = k;
        }
        ok += c == (nout == 1 ? (y[i] != 0) : y[i]);
    }
    return (double)ok / n;
}

/* The early-stopping criterion of validation probabilities prob [n][nout] as a score (higher is
 * better): accuracy, -cross-entropy or AUC (nn.h, nn_early_stop). balanced: classes weigh equally
 * (the per-class means are averaged). dwork [n] and iwork [n] are scratch for the AUC. The
 * probabilities are clipped to [1e-7, 1 - 1e-7] in the loss, as Keras clips them (epsilon 1e-7),
 * so one confident mistake cannot make the criterion infinite. */
static int val_criterion(int crit, int balanced, const float *prob, const int *y, int n, int nout, double *dwork,
                         int *iwork, double *score)
{
    int K = nout == 1 ? 2 : nout;
    if (crit == NN_STOP_AUC) {
        /* one-vs-rest per class (binary: the positive class only), then the mean */
        double sum = 0.0;
        int kk = nout == 1 ? 1 : 0, used = 0;
        for (int k = kk; k < K; k++) {
            int pos = 0;
            for (int i = 0; i < n; i++) {
                dwork[i] = prob[(size_t)i * nout + (nout == 1 ? 0 : k)];
                iwork[i] = y[i] == k;
                pos += iwork[i];
            }
            if (pos == 0 || pos == n)
                return h19_fail(H19_EARG, "nn_fit: early_stop auc needs every class in the validation set "
                                          "(class %d has %d of %d samples)", k, pos, n);
            double a;
            H19_TRY(ev_auc(dwork, iwork, n, &a));
            sum += a;
            used++;
        }
        *score = sum / used;
        return H19_OK;
    }
    double cls_sum[64];
    double *csum = NULL, tot = 0.0;
    long *ccount = NULL, cnt2[64];
    if (balanced) {
        /* per-class sums: K <= 64 on the stack, more on the heap */
        if (K <= 64) {
            csum = cls_sum;
            ccount = cnt2;
        } else {
            csum = h19_calloc((size_t)K, sizeof(double));
            ccount = h19_calloc((size_t)K, sizeof(long));
            if (!csum || !ccount) {
                free(csum);
                free(ccount);
                return H19_ENOMEM;
            }
        }
        for (int k = 0; k < K; k++) {
            csum[k] = 0.0;
            ccount[k] = 0;
        }
    }
    for (int i = 0; i < n; i++) {
        const float *p = prob + (size_t)i * nout;
        double v;
        if (crit == NN_STOP_LOSS) {
            double q = nout == 1 ? (y[i] ? p[0] : 1.0 - p[0]) : p[y[i]];
            q = q < 1e-7 ? 1e-7 : q > 1.0 - 1e-7 ? 1.0 - 1e-7 : q;
            v = -log(q);
        } else {
            int c = 0;
            if (nout == 1) {
                c = p[0] >= 0.5f;
            } else {
                for (int k = 1; k < nout; k++)
                    if (p[k] > p[c]) c = k;
            }
            v = c == y[i];
        }
        if (balanced) {
            csum[y[i]] += v;
            ccount[y[i]]++;
        } else {
            tot += v;
        }
    }
    double m = 0.0;
    if (balanced) {
        int used = 0;
        for (int k = 0; k < K; k++)
            if (ccount[k]) {
                m += csum[k] / (double)ccount[k];
                used++;
            }
        m = used ? m / used : 0.0;
        if (K > 64) {
            free(csum);
            free(ccount);
        }
    } else {
        m = n > 0 ? tot / n : 0.0;
    }
    *score = crit == NN_STOP_LOSS ? -m : m;
    return H19_OK;
}

int nn_predict(nn_net *net, const float *X, int n, float *prob, MPI_Comm comm)
{
    int rank, size;
    comm_info(comm, &rank, &size);
    int nin = nn_net_nin(net), nout = net->nout, mb = net->max_batch;
    if (n < 0) return h19_fail(H19_EARG, "nn_predict: n = %d", n);
    int nchunks = (n + mb - 1) / mb;
    if (size > 1) memset(prob, 0, sizeof(float) * (size_t)n * nout);
    /* nets with convolutions: by sample, fused, same bits (nn_infer.c); -1 = not such a net */
    int rc = nn_infer_chunks(net, X, n, prob, rank, size);
    if (rc != -1 && rc != H19_OK) return rc;
    int bt = blas_small_begin(net);
    for (int c = 0; c < nchunks && rc == -1; c++) {
        if (c % size != rank) continue;
        int s = c * mb, b = n - s < mb ? n - s : mb;
        const float *p = nn_forward(net, X + (size_t)s * nin, NULL, b, NULL, NULL);
        memcpy(prob + (size_t)s * nout, p, sizeof(float) * (size_t)b * nout);
    }
    blas_small_end(bt);
    if (size > 1) {
        /* each element is non-zero on one rank only: x + 0 = x, so the sum is exact */
        size_t tot = (size_t)n * nout, off = 0;
        while (off < tot) {
            size_t c = tot - off > (1u << 30) ? (1u << 30) : tot - off;
            if (MPI_Allreduce(MPI_IN_PLACE, prob + off, (int)c, MPI_FLOAT, MPI_SUM, comm) != MPI_SUCCESS)
                return h19_fail(H19_EMPI, "nn_predict: MPI_Allreduce of probabilities failed");
            off += c;
        }
    }
    return H19_OK;
}

static uint64_t hyper_hash(const nn_hyper *h, nn_key k, int n)
{
    double v[] = {(double)k.seed, k.repeat, k.fold, h->batch, h->micro_batch, h->lr, h->decay, h->beta1,
                  h->beta2, h->eps, h->l2, h->dropout, h->patience, h->fixed_bits, n,
                  h->early_stop, h->class_weight};
    uint64_t hsh = 0x48595045520001ull;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint64_t b;
        memcpy(&b, &v[i], sizeof b);
        hsh = h19_mix64(hsh ^ b);
    }
    if (h->ckpt_salt) hsh = h19_mix64(hsh ^ h->ckpt_salt); /* only when set: older checkpoints stay valid */
    if (h->average_from) hsh = h19_mix64(hsh ^ 0x415647ull ^ (uint64_t)h->average_from << 24);
    return hsh ^ k.seed; /* the seed enters exactly, not only through a double */
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Rank 0 writes; the status is broadcast so every rank takes the same path. */
static int ckpt_save(const nn_hyper *h, const nn_net *net, const nn_ckpt_state *st, int rank, int size,
                     MPI_Comm comm)
{
    if (!h->ckpt_path) return H19_OK;
    int rc = rank == 0 ? nn_ckpt_write(h->ckpt_path, net, st) : H19_OK;
    if (size > 1 && MPI_Bcast(&rc, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
        return h19_fail(H19_EMPI, "nn_fit: MPI_Bcast of the checkpoint status failed");
    if (rc && rank != 0) return h19_fail(rc, "nn_fit: rank 0 failed to write checkpoint %s", h->ckpt_path);
    return rc;
}

int nn_fit(nn_net *net, const nn_hyper *h, nn_key key, const float *X, const int *y, int n,
           const float *Xval, const int *yval, int nval, MPI_Comm comm, nn_fit_result *res)
{
    memset(res, 0, sizeof *res);
    res->best_epoch = -1;
    res->best_val_acc = NAN;
    res->best_val = NAN;
    if (n < 1) return h19_fail(H19_EARG, "nn_fit: no training samples");
    if (h->batch < 1 || h->epochs < 0) return h19_fail(H19_EARG, "nn_fit: batch %d, epochs %d", h->batch, h->epochs);
    int micro = h->micro_batch > 0 ? h->micro_batch : h->batch;
    if (micro > h->batch) micro = h->batch;
    if (h->fixed_bits < 8 || h->fixed_bits > 56)
        return h19_fail(H19_EARG, "nn_fit: fixed_bits %d not in [8, 56]", h->fixed_bits);
    if (h->early_stop < NN_STOP_ACCURACY || h->early_stop > NN_STOP_AUC || h->class_weight < NN_CW_NONE ||
        h->class_weight > NN_CW_BALANCED)
        return h19_fail(H19_EARG, "nn_fit: early_stop %d or class_weight %d unknown", h->early_stop, h->class_weight);
    if (h->average_from < 0) return h19_fail(H19_EARG, "nn_fit: average_from %d < 0", h->average_from);
    if (!(h->lr > 0) || !(h->decay >= 0) || !(h->dropout < 1.0f))
        return h19_fail(H19_EARG, "nn_fit: lr %g, decay %g, dropout %g out of range", h->lr, h->decay, h->dropout);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= (net->nout == 1 ? 2 : net->nout))
            return h19_fail(H19_EARG, "nn_fit: label %d of sample %d is not a class of this %d-output net", y[i], i,
                            net->nout);
    int rank, size;
    comm_info(comm, &rank, &size);
    if (net->max_batch < micro) H19_TRY(nn_net_set_max_batch(net, micro));

    int nin = nn_net_nin(net);
    size_t np = net->nparams, nbuf = np + 3;
    int *perm = h19_malloc(sizeof(int) * (size_t)n);
    int *yb = h19_malloc(sizeof(int) * (size_t)micro);
    int *sidx = h19_malloc(sizeof(int) * (size_t)micro);
    float *xb = h19_malloc(sizeof(float) * (size_t)micro * nin);
    int64_t *fix = h19_malloc(sizeof(int64_t) * nbuf);
    float *best = h19_malloc(sizeof(float) * (np ? np : 1));
    float *vprob = nval > 0 ? h19_malloc(sizeof(float) * (size_t)nval * net->nout) : NULL;
    double *vwork = nval > 0 ? h19_malloc(sizeof(double) * (size_t)nval) : NULL;
    int *viwork = nval > 0 ? h19_malloc(sizeof(int) * (size_t)nval) : NULL;
    /* class weights n / (K n_k) from the training labels (an absent class gets weight 0: it has no
     * rows to weigh); ccnt/coff: per-class rows of the current micro-batch and their offsets */
    int K = net->nout == 1 ? 2 : net->nout;
    int weighted = h->class_weight == NN_CW_BALANCED;
    float *cw = weighted ? h19_calloc((size_t)K, sizeof(float)) : NULL;
    int *ccnt = weighted ? h19_calloc((size_t)K + 1, sizeof(int)) : NULL;
    int *coff = weighted ? h19_calloc((size_t)K + 1, sizeof(int)) : NULL;
    int rc = H19_OK;
    int bt = blas_small_begin(net);
    if (!perm || !yb || !sidx || !xb || !fix || !best || (nval > 0 && (!vprob || !vwork || !viwork)) ||
        (weighted && (!cw || !ccnt || !coff))) {
        rc = H19_ENOMEM;
        goto done;
    }

    nn_ckpt_state st;
    memset(&st, 0, sizeof st);
    st.best_epoch = -1;
    st.best_acc = -1.0;
    st.best = best;
    st.hyper_hash = hyper_hash(h, key, n);
    if (weighted) {
        for (int i = 0; i < n; i++) ccnt[y[i]]++;
        for (int k = 0; k < K; k++) cw[k] = ccnt[k] ? (float)((double)n / ((double)K * ccnt[k])) : 0.0f;
    }
    memcpy(best, net->params, sizeof(float) * np);
    if (h->ckpt_path && file_exists(h->ckpt_path)) {
        rc = nn_ckpt_read(h->ckpt_path, net, &st);
        if (rc) goto done;
    }

    /* Invariant: net->grads is zero before each micro-batch (the conversion loop re-zeroes it). */
    memset(net->grads, 0, sizeof(float) * np);
    const double qscale = ldexp(1.0, h->fixed_bits), qinv = ldexp(1.0, -h->fixed_bits);
    const double lscale = ldexp(1.0, LOSS_BITS);
    int nbatches = (n + h->batch - 1) / h->batch;
    int epoch = st.epoch;
    for (; !st.done && epoch < h->epochs; epoch++) {
        float lr = nn_lr_at_epoch(h->lr, h->decay, epoch);
        for (int i = 0; i < n; i++) perm[i] = i;
        h19_rng r;
        h19_rng_init(&r, key.seed, H19_RNG_SHUFFLE, key.repeat, key.fold, (uint32_t)epoch, 0);
        h19_rng_shuffle(&r, perm, n);
        for (int b = st.batch_pos; b < nbatches; b++) {
            int start = b * h->batch, bs = n - start < h->batch ? n - start : h->batch;
            int nmicro = (bs + micro - 1) / micro;
            double lim = ldexp(1.0, 62) / nmicro;
            float scale = 1.0f / (float)bs;
            /* One micro-batch (e.g. the CF DNN, micro_batch = batch): its gradient is the batch sum
             * as it stands, on any rank count (rank 0 computes it, the others add zeros: x + 0 = x),
             * so the fixed-point round trip is skipped. */
            int single = nmicro == 1;
            double loss1 = 0.0;
            if (!single) memset(fix, 0, sizeof(int64_t) * nbuf);
            for (int j = 0; j < nmicro; j++) {
                if (j % size != rank) continue;
                int s0 = start + j * micro, mb = bs - j * micro < micro ? bs - j * micro : micro;
                if (weighted) {
                    /* rows grouped by class (stable), so each class runs as one sub-batch */
                    memset(ccnt, 0, sizeof(int) * (size_t)K);
                    for (int i = 0; i < mb; i++) ccnt[y[perm[s0 + i]]]++;
                    coff[0] = 0;
                    for (int k = 0; k < K; k++) coff[k + 1] = coff[k] + ccnt[k];
                    memcpy(ccnt, coff, sizeof(int) * (size_t)K); /* ccnt: fill cursor per class */
                }
                for (int i = 0; i < mb; i++) {
                    int si = perm[s0 + i];
                    int o = weighted ? ccnt[y[si]]++ : i;
                    sidx[o] = si;
                    yb[o] = y[si];
                    memcpy(xb + (size_t)o * nin, X + (size_t)si * nin, sizeof(float) * nin);
                }
                double loss = 0.0;
                if (!weighted) {
                    nn_drop_ctx dc = {key.seed, key.repeat, key.fold, (uint32_t)epoch, sidx, h->dropout};
                    nn_forward(net, xb, yb, mb, &dc, &loss);
                    nn_backward(net, xb, yb, mb, scale); /* grads are zero here (see below) */
                } else {
                    /* weighted loss sum_i w_{y_i} l_i / bs: the layers act per sample (dropout masks
                     * are keyed by the sample index), so class k's rows as one sub-batch with scale
                     * w_k / bs give exactly the terms of the weighted batch; backward adds them up */
                    for (int k = 0; k < K; k++) {
                        int o = coff[k], m = coff[k + 1] - coff[k];
                        if (m == 0) continue;
                        nn_drop_ctx dc = {key.seed, key.repeat, key.fold, (uint32_t)epoch, sidx + o, h->dropout};
                        double lk = 0.0;
                        const float *xo = xb + (size_t)o * nin;
                        nn_forward(net, xo, yb + o, m, &dc, &lk);
                        nn_backward(net, xo, yb + o, m, scale * cw[k]);
                        loss += (double)cw[k] * lk;
                    }
                }
                if (single) {
                    loss1 = (float)loss; /* float on every path, so the loss agrees on any rank count */
                    continue;
                }
                int64_t bad = nn_fix_add(fix, net->grads, np, qscale, lim); /* and zeroes the grads */
                double lq = loss * lscale;
                if (!(fabs(lq) <= lim)) bad++;
                else fix[np] += (int64_t)(lq + copysign(0.5, lq));
                fix[np + 1] += bad;
            }
            int sig = dist_stop_signalled() ? 1 : 0;
            int64_t nbad = 0;
            if (single) {
                float *g = net->grads;
                if (size > 1) {
                    float *fb = (float *)fix; /* 2 * nbuf floats of room */
                    memcpy(fb, g, sizeof(float) * np);
                    fb[np] = (float)loss1;
                    fb[np + 1] = (float)sig;
                    if (MPI_Allreduce(MPI_IN_PLACE, fb, (int)(np + 2), MPI_FLOAT, MPI_SUM, comm) != MPI_SUCCESS) {
                        rc = h19_fail(H19_EMPI, "nn_fit: MPI_Allreduce of the gradient failed");
                        goto done;
                    }
                    memcpy(g, fb, sizeof(float) * np);
                    loss1 = fb[np];
                    sig = fb[np + 1] > 0.0f;
                }
                for (size_t i = 0; i < np; i++) nbad += !isfinite(g[i]);
                nbad += !isfinite(loss1);
            } else {
                fix[np + 2] = sig;
                if (size > 1 &&
                    MPI_Allreduce(MPI_IN_PLACE, fix, (int)nbuf, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS) {
                    rc = h19_fail(H19_EMPI, "nn_fit: MPI_Allreduce of the gradient failed");
                    goto done;
                }
                nbad = fix[np + 1];
                sig = fix[np + 2] != 0;
            }
            if (nbad != 0) {
                rc = h19_fail(H19_ESTATE,
                              "nn_fit: training diverged at epoch %d batch %d: %lld gradient values are NaN or "
                              "exceed the fixed-point range (2^%d / %d micro-batches); lower lr",
                              epoch, b, (long long)nbad, 62 - h->fixed_bits, nmicro);
                goto done;
            }
            if (!single) nn_fix_to_float(net->grads, fix, np, qinv);
            nn_adam_step(net, lr, h->beta1, h->beta2, h->eps, h->l2);
            memset(net->grads, 0, sizeof(float) * np);
            double bl = single ? loss1 : (double)fix[np] / lscale;
            st.epoch_loss += bl;
            st.step = net->step;
            int stop = sig;
            if (h->on_step && h->on_step(h->user, net->step, epoch, bl / bs)) stop = 1;
            if (size > 1 && h->on_step) {
                /* a callback is local: agree so that every rank stops at this same step */
                if (MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS) {
                    rc = h19_fail(H19_EMPI, "nn_fit: MPI_Allreduce of the stop flag failed");
                    goto done;
                }
            }
            if (stop) {
                st.epoch = epoch;
                st.batch_pos = b + 1;
                rc = ckpt_save(h, net, &st, rank, size, comm);
                if (!rc) {
                    res->stopped = 1;
                    rc = h19_fail(H19_ESTOP, "nn_fit: stopped at step %ld (epoch %d, batch %d)%s", net->step,
                                  epoch, b + 1, h->ckpt_path ? "; checkpoint written" : "");
                }
                goto done;
            }
        }
        st.batch_pos = 0;
        st.last_loss = st.epoch_loss / n;
        st.epoch_loss = 0.0;
        res->epochs_run = epoch + 1;
        int last = epoch + 1 == h->epochs;
        /* tail averaging: best holds the running mean of the weights after epochs average_from..epoch+1
         * (1-based), so a resumed run continues it (its count follows from the epoch) */
        int avg = h->average_from > 0;
        if (avg && epoch + 1 >= h->average_from) {
            int k = epoch + 2 - h->average_from;
            if (k == 1) {
                memcpy(best, net->params, sizeof(float) * np);
            } else {
                const float inv = 1.0f / (float)k;
                for (size_t i = 0; i < np; i++) best[i] += (net->params[i] - best[i]) * inv;
            }
        }
        if (nval > 0) {
            rc = nn_predict(net, Xval, nval, vprob, comm);
            if (rc) goto done;
            double acc = 0.0;
            rc = val_criterion(h->early_stop, weighted, vprob, yval, nval, net->nout, vwork, viwork, &acc);
            if (rc) goto done;
            /* strictly better: ties keep the earlier, simpler model */
            if (st.best_epoch < 0 || acc > st.best_acc) {
                st.best_acc = acc;
                st.best_epoch = epoch;
                st.wait = 0;
                if (!avg) memcpy(best, net->params, sizeof(float) * np);
            } else {
                st.wait++;
            }
            if (h->patience > 0 && st.wait >= h->patience) last = 1;
        }
        st.epoch = epoch + 1;
        st.done = last;
        rc = ckpt_save(h, net, &st, rank, size, comm);
        if (rc) goto done;
        if (last) break;
    }
    int navg = h->average_from > 0 && st.epoch >= h->average_from ? st.epoch - h->average_from + 1 : 0;
    if (h->average_from > 0) {
        if (navg > 0) memcpy(net->params, best, sizeof(float) * np);
        st.best_epoch = -1; /* no epoch was selected: the mean (or, stopped before average_from, the last) */
        if (nval > 0) { /* the criterion of the kept weights */
            rc = nn_predict(net, Xval, nval, vprob, comm);
            if (rc) goto done;
            rc = val_criterion(h->early_stop, weighted, vprob, yval, nval, net->nout, vwork, viwork, &st.best_acc);
            if (rc) goto done;
            res->best_val = h->early_stop == NN_STOP_LOSS ? -st.best_acc : st.best_acc;
            res->best_val_acc = nn_accuracy(vprob, yval, nval, net->nout);
        }
    } else if (st.best_epoch >= 0) {
        memcpy(net->params, best, sizeof(float) * np);
    }
    res->averaged = navg;
    res->epochs_run = st.epoch;
    res->best_epoch = st.best_epoch;
    if (st.best_epoch >= 0) {
        res->best_val = h->early_stop == NN_STOP_LOSS ? -st.best_acc : st.best_acc;
        if (h->early_stop == NN_STOP_ACCURACY && !weighted) {
            res->best_val_acc = st.best_acc;
        } else { /* the plain accuracy of the kept weights */
            rc = nn_predict(net, Xval, nval, vprob, comm);
            if (rc) goto done;
            res->best_val_acc = nn_accuracy(vprob, yval, nval, net->nout);
        }
    }
    res->last_loss = st.last_loss;
done:
    blas_small_end(bt);
    res->steps = net->step;
    free(perm);
    free(yb);
    free(sidx);
    free(xb);
    free(fix);
    free(best);
    free(vprob);
    free(vwork);
    free(viwork);
    free(cw);
    free(ccnt);
    free(coff);
    return rc;
}
