/* test_nn_earlystop.c — the trainer's early-stopping criteria (accuracy, loss, AUC; balanced with
 * class weights) and the class-weighted loss: weighting a class by w equals repeating its rows w
 * times (full-batch, no dropout: same gradient up to float summation order), the kept weights'
 * criterion is what the criterion function reports, the options are in the checkpoint's hash and
 * are read from YAML strictly. */
#include "check.h"
#include "hust19/cfg.h"
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/nn.h"
#include "hust19/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { D = 6, NTR = 90, NVA = 80 };

/* Two overlapping Gaussian classes, the positive one rare (about 1 in 4). */
static void data(float *X, int *y, int n, uint32_t which)
{
    h19_rng r;
    h19_rng_init(&r, 99, H19_RNG_STATS, which, 0, 0, 0);
    for (int i = 0; i < n; i++) {
        int c = h19_rng_below(&r, 4) == 0;
        y[i] = c;
        for (int d = 0; d < D; d++) X[i * D + d] = (d < 2 && c ? 1.0f : 0.0f) + (float)h19_rng_normal(&r);
    }
}

static nn_net *mlp(int dropout)
{
    nn_layer_spec L[] = {NN_DENSE_(16), NN_RELU_, NN_DROPOUT_(dropout ? 0.3f : 0.0f), NN_DENSE_(1), NN_SIGMOID_BCE_};
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(&net, 1, 1, D, L, 5, 64));
    if (net) nn_net_init(net, 5, 0, 0);
    return net;
}

/* Class weight w_k = n / (K n_k): with n0 = 2 n1 the positive weighs twice the negative, so the
 * weighted mean gradient equals the plain mean gradient over the set with every positive twice. */
static void test_weight_equals_repetition(const float *X, const int *y)
{
    int n0 = 0, n1 = 0;
    float Xw[NTR * D], Xr[2 * NTR * D];
    int yw[NTR], yr[2 * NTR];
    for (int i = 0; i < NTR; i++) { /* a subset with exactly 2 negatives per positive */
        if (y[i] == 0 && n0 < 2 * 15) {
            memcpy(Xw + (n0 + n1) * D, X + i * D, sizeof(float) * D);
            yw[n0 + n1] = 0;
            n0++;
        } else if (y[i] == 1 && n1 < 15) {
            memcpy(Xw + (n0 + n1) * D, X + i * D, sizeof(float) * D);
            yw[n0 + n1] = 1;
            n1++;
        }
    }
    CHECK(n0 == 30 && n1 == 15);
    int n = n0 + n1, nr = 0;
    for (int i = 0; i < n; i++)
        for (int t = 0; t < (yw[i] ? 2 : 1); t++) {
            memcpy(Xr + nr * D, Xw + i * D, sizeof(float) * D);
            yr[nr++] = yw[i];
        }
    nn_net *a = mlp(0), *b = mlp(0), *c = mlp(0);
    if (!a || !b || !c) return;
    nn_hyper h = nn_hyper_default();
    h.epochs = 4;
    h.batch = 64; /* one full batch per epoch for both sets */
    h.lr = 1e-2f;
    nn_fit_result r;
    h.class_weight = NN_CW_BALANCED;
    CHECK_OK(nn_fit(a, &h, (nn_key){1, 0, 0}, Xw, yw, n, NULL, NULL, 0, MPI_COMM_SELF, &r));
    h.class_weight = NN_CW_NONE;
    CHECK_OK(nn_fit(b, &h, (nn_key){1, 0, 0}, Xr, yr, nr, NULL, NULL, 0, MPI_COMM_SELF, &r));
    CHECK_OK(nn_fit(c, &h, (nn_key){1, 0, 0}, Xw, yw, n, NULL, NULL, 0, MPI_COMM_SELF, &r));
    double dmax = 0, dunw = 0;
    for (size_t i = 0; i < a->nparams; i++) {
        dmax = fmax(dmax, fabs((double)a->params[i] - b->params[i]));
        dunw = fmax(dunw, fabs((double)a->params[i] - c->params[i]));
    }
    /* float summation order differs (2 sub-batches vs one shuffled batch): 1e-5 on weights of
     * order 0.1-1 after 4 Adam steps of 1e-2 */
    CHECK_MSG(dmax < 1e-5, "weighted vs repeated: max |dw| = %g", dmax);
    CHECK_MSG(dunw > 1e-3, "weighting changed nothing: max |dw| = %g", dunw);
    nn_net_free(a);
    nn_net_free(b);
    nn_net_free(c);
}

/* The criterion of the kept weights, recomputed from their validation probabilities. */
static double criterion(int crit, int balanced, const float *p, const int *y, int n)
{
    if (crit == NN_STOP_AUC) {
        double s[NVA], a;
        for (int i = 0; i < n; i++) s[i] = p[i];
        CHECK_OK(ev_auc(s, y, n, &a));
        return a;
    }
    double sum[2] = {0, 0}, cnt[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        double v;
        if (crit == NN_STOP_LOSS) {
            double q = y[i] ? p[i] : 1.0 - p[i];
            v = -log(fmin(fmax(q, 1e-7), 1 - 1e-7));
        } else {
            v = (p[i] >= 0.5f) == y[i];
        }
        sum[y[i]] += v;
        cnt[y[i]]++;
    }
    return balanced ? (sum[0] / cnt[0] + sum[1] / cnt[1]) / 2 : (sum[0] + sum[1]) / n;
}

static void test_criteria(const float *X, const int *y, const float *Xv, const int *yv)
{
    const int crits[] = {NN_STOP_ACCURACY, NN_STOP_LOSS, NN_STOP_AUC};
    int best_epoch[3][2];
    for (int ci = 0; ci < 3; ci++)
        for (int bal = 0; bal < 2; bal++) {
            nn_net *net = mlp(1);
            if (!net) return;
            nn_hyper h = nn_hyper_default();
            h.epochs = 150;
            h.batch = 16;
            h.lr = 1e-2f;
            h.patience = 8;
            h.early_stop = crits[ci];
            h.class_weight = bal ? NN_CW_BALANCED : NN_CW_NONE;
            nn_fit_result r;
            CHECK_OK(nn_fit(net, &h, (nn_key){3, 1, 2}, X, y, NTR, Xv, yv, NVA, MPI_COMM_SELF, &r));
            best_epoch[ci][bal] = r.best_epoch;
            CHECK_MSG(r.best_epoch >= 0 && r.epochs_run == r.best_epoch + 1 + 8, "crit %d bal %d: ran %d best %d",
                      ci, bal, r.epochs_run, r.best_epoch);
            float p[NVA];
            CHECK_OK(nn_predict(net, Xv, NVA, p, MPI_COMM_SELF));
            double want = criterion(crits[ci], bal, p, yv, NVA);
            /* the criterion is computed from float probabilities in double in both places */
            CHECK_MSG(fabs(r.best_val - want) < 1e-12, "crit %d bal %d: best_val %.15g, recomputed %.15g", ci, bal,
                      r.best_val, want);
            CHECK_NEAR(r.best_val_acc, nn_accuracy(p, yv, NVA, 1), 1e-12);
            /* the task is learnable (Bayes AUC 0.84, 90 training rows): the kept weights beat chance */
            if (crits[ci] == NN_STOP_AUC) CHECK_MSG(r.best_val > 0.6, "AUC %.3f", r.best_val);
            if (crits[ci] == NN_STOP_LOSS) CHECK_MSG(r.best_val < log(2.0), "loss %.3f", r.best_val);
            nn_net_free(net);
        }
    /* the criteria choose differently on this data (they are not one code path) */
    CHECK(best_epoch[0][0] != best_epoch[1][0] || best_epoch[1][0] != best_epoch[2][0]);
    /* an AUC criterion without one class in the validation set is an error */
    int yv0[NVA] = {0};
    nn_net *net = mlp(1);
    nn_hyper h = nn_hyper_default();
    h.epochs = 3;
    h.early_stop = NN_STOP_AUC;
    nn_fit_result r;
    int rc = nn_fit(net, &h, (nn_key){3, 1, 2}, X, y, NTR, Xv, yv0, NVA, MPI_COMM_SELF, &r);
    CHECK_MSG(rc == H19_EARG && strstr(h19_errmsg(), "every class"), "rc %d: %s", rc, h19_errmsg());
    h.early_stop = 7;
    CHECK(nn_fit(net, &h, (nn_key){3, 1, 2}, X, y, NTR, Xv, yv, NVA, MPI_COMM_SELF, &r) == H19_EARG);
    nn_net_free(net);
}

/* A checkpoint written with one criterion is refused under another (the options are hashed). */
static void test_ckpt_hash(const float *X, const int *y, const float *Xv, const int *yv)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/h19_nn_es_%ld.bin", (long)getpid());
    remove(path);
    nn_net *net = mlp(1);
    if (!net) return;
    nn_hyper h = nn_hyper_default();
    h.epochs = 2;
    h.ckpt_path = path;
    nn_fit_result r;
    CHECK_OK(nn_fit(net, &h, (nn_key){3, 0, 0}, X, y, NTR, Xv, yv, NVA, MPI_COMM_SELF, &r));
    h.early_stop = NN_STOP_LOSS;
    int rc = nn_fit(net, &h, (nn_key){3, 0, 0}, X, y, NTR, Xv, yv, NVA, MPI_COMM_SELF, &r);
    CHECK_MSG(rc == H19_EFORMAT && strstr(h19_errmsg(), "other training settings"), "%s", h19_errmsg());
    h.early_stop = NN_STOP_ACCURACY;
    h.class_weight = NN_CW_BALANCED;
    rc = nn_fit(net, &h, (nn_key){3, 0, 0}, X, y, NTR, Xv, yv, NVA, MPI_COMM_SELF, &r);
    CHECK(rc == H19_EFORMAT);
    remove(path);
    nn_net_free(net);
}

static int read_yaml(const char *text, nn_hyper *h)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/h19_nn_es_%ld.yaml", (long)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    cfg_doc d;
    int rc = cfg_load(&d, path);
    if (!rc) {
        *h = nn_hyper_default();
        rc = nn_hyper_read(&d, d.root, h);
        if (!rc) rc = cfg_check_unused(&d);
        cfg_free(&d);
    }
    remove(path);
    return rc;
}

static void test_yaml(void)
{
    nn_hyper h;
    CHECK_OK(read_yaml("epochs: 5\n", &h));
    CHECK(h.early_stop == NN_STOP_ACCURACY && h.class_weight == NN_CW_NONE); /* the paper's default */
    CHECK_OK(read_yaml("early_stop: loss\nclass_weight: balanced\n", &h));
    CHECK(h.early_stop == NN_STOP_LOSS && h.class_weight == NN_CW_BALANCED);
    CHECK_OK(read_yaml("early_stop: auc\n", &h));
    CHECK(h.early_stop == NN_STOP_AUC);
    int rc = read_yaml("early_stop: recall\n", &h);
    CHECK_MSG(rc != H19_OK && strstr(h19_errmsg(), "early_stop") && strstr(h19_errmsg(), ":1:"), "%s", h19_errmsg());
    rc = read_yaml("class_weight: yes\n", &h);
    CHECK_MSG(rc != H19_OK && strstr(h19_errmsg(), "class_weight"), "%s", h19_errmsg());
}

int main(void)
{
    float *X = malloc(sizeof(float) * NTR * D), *Xv = malloc(sizeof(float) * NVA * D);
    int *y = malloc(sizeof(int) * NTR), *yv = malloc(sizeof(int) * NVA);
    data(X, y, NTR, 0);
    data(Xv, yv, NVA, 1);
    test_weight_equals_repetition(X, y);
    test_criteria(X, y, Xv, yv);
    test_ckpt_hash(X, y, Xv, yv);
    test_yaml();
    free(X);
    free(Xv);
    free(y);
    free(yv);
    CHECK_DONE();
}
