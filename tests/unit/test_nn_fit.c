/* test_nn_fit.c — Adam, the decay schedule, and the trainer on small MLPs: learning, determinism,
 * early stopping with best-weight restore, the sigmoid head, divergence detection, and
 * checkpoint/resume giving the same model as an uninterrupted run. */
#include "check.h"
#include "hust19/err.h"
#include "hust19/nn.h"
#include "hust19/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { D = 8, NTR = 240, NVA = 120 };

/* Three Gaussian blobs in D dimensions (means +-1.5 on a few axes, sd 1). */
static void blobs(float *X, int *y, int n, uint32_t which, int classes)
{
    h19_rng r;
    h19_rng_init(&r, 42, H19_RNG_STATS, which, 0, 0, 0);
    for (int i = 0; i < n; i++) {
        int c = (int)h19_rng_below(&r, (uint32_t)classes);
        y[i] = c;
        for (int d = 0; d < D; d++) {
            float mu = (d == c) ? 1.5f : (d == c + 3 ? -1.5f : 0.0f);
            X[i * D + d] = mu + (float)h19_rng_normal(&r);
        }
    }
}

static nn_net *mlp(int out)
{
    nn_layer_spec L[] = {NN_DENSE_(32), NN_RELU_, NN_DROPOUT_(0.2f), NN_DENSE_(16), NN_RELU_, NN_DROPOUT_(0.2f),
                         NN_DENSE_(out), out == 1 ? NN_SIGMOID_BCE_ : NN_SOFTMAX_CE_};
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(&net, 1, 1, D, L, 8, 64));
    if (net) nn_net_init(net, 11, 0, 0);
    return net;
}

static void test_adam(void)
{
    nn_layer_spec L[] = {NN_DENSE_(1), NN_SIGMOID_BCE_};
    nn_net *net;
    CHECK_OK(nn_net_create(&net, 1, 1, 1, L, 2, 1));
    if (!net) return;
    net->params[0] = 1.0f;
    net->params[1] = -2.0f;
    net->grads[0] = 0.5f;
    net->grads[1] = -0.01f;
    nn_adam_step(net, 0.01f, 0.9f, 0.999f, 1e-7f, 0.0f);
    /* Keras: lr_t = lr sqrt(1-b2)/(1-b1); m = 0.1 g; v = 0.001 g^2; p -= lr_t m / (sqrt v + eps) */
    for (int i = 0; i < 2; i++) {
        double g = i == 0 ? 0.5 : -0.01, p0 = i == 0 ? 1.0 : -2.0;
        double lrt = 0.01 * sqrt(1 - 0.999) / (1 - 0.9);
        double want = p0 - lrt * (0.1 * g) / (sqrt(0.001 * g * g) + 1e-7);
        CHECK_NEAR(net->params[i], want, 1e-6);
    }
    /* second step with a zero gradient keeps moving by the momentum */
    net->grads[0] = net->grads[1] = 0.0f;
    float p1 = net->params[0];
    nn_adam_step(net, 0.01f, 0.9f, 0.999f, 1e-7f, 0.0f);
    CHECK(net->params[0] < p1);
    CHECK(net->step == 2);
    /* L2 adds l2 * w to weights only, not to the bias */
    net->params[0] = 1.0f;
    net->params[1] = 1.0f;
    memset(net->m, 0, 2 * sizeof(float));
    memset(net->v, 0, 2 * sizeof(float));
    net->step = 0;
    net->grads[0] = net->grads[1] = 0.0f;
    nn_adam_step(net, 0.01f, 0.9f, 0.999f, 1e-7f, 0.1f);
    CHECK(net->params[0] < 1.0f);
    CHECK(net->params[1] == 1.0f);
    nn_net_free(net);
    /* equation 10 of the paper */
    CHECK_NEAR(nn_lr_at_epoch(0.01f, 0.5f, 0), 0.01, 1e-9);
    CHECK_NEAR(nn_lr_at_epoch(0.01f, 0.5f, 2), 0.005, 1e-9);
}

static float *Xtr, *Xva;
static int *ytr, *yva;

static void test_learn(void)
{
    nn_net *a = mlp(3), *b = mlp(3);
    if (!a || !b) return;
    nn_hyper h = nn_hyper_default();
    h.epochs = 30;
    h.batch = 16;
    h.lr = 3e-3f;
    nn_key k = {7, 1, 2};
    nn_fit_result ra, rb;
    CHECK_OK(nn_fit(a, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &ra));
    CHECK_OK(nn_fit(b, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &rb));
    /* Bayes accuracy of these blobs is ~0.9; a trained MLP must be well above chance (1/3). */
    CHECK_MSG(ra.best_val_acc > 0.8, "validation accuracy %.3f", ra.best_val_acc);
    CHECK(ra.best_epoch >= 0 && ra.best_epoch < 30);
    CHECK(ra.steps == 30L * ((NTR + 15) / 16));
    CHECK(memcmp(a->params, b->params, sizeof(float) * a->nparams) == 0); /* same key: same bytes */
    float prob[NVA * 3];
    CHECK_OK(nn_predict(a, Xva, NVA, prob, MPI_COMM_SELF));
    CHECK_NEAR(nn_accuracy(prob, yva, NVA, 3), ra.best_val_acc, 1e-12); /* best weights were kept */
    for (int i = 0; i < NVA; i++) CHECK_NEAR(prob[3 * i] + prob[3 * i + 1] + prob[3 * i + 2], 1.0, 1e-5);
    /* prediction does not depend on the batch size used for it */
    CHECK_OK(nn_net_set_max_batch(a, 7));
    float prob7[NVA * 3];
    CHECK_OK(nn_predict(a, Xva, NVA, prob7, MPI_COMM_SELF));
    for (int i = 0; i < NVA * 3; i++) CHECK_NEAR(prob7[i], prob[i], 1e-6);
    /* another seed: other weights */
    nn_net *c = mlp(3);
    nn_key k2 = {8, 1, 2};
    nn_fit_result rc;
    h.epochs = 2;
    CHECK_OK(nn_fit(c, &h, k2, Xtr, ytr, NTR, NULL, NULL, 0, MPI_COMM_SELF, &rc));
    CHECK(memcmp(a->params, c->params, sizeof(float) * a->nparams) != 0);
    CHECK(isnan(rc.best_val_acc) && rc.best_epoch == -1 && rc.epochs_run == 2);
    nn_net_free(a);
    nn_net_free(b);
    nn_net_free(c);
}

static void test_early_stop_and_sigmoid(void)
{
    int yb[NTR], yvb[NVA];
    for (int i = 0; i < NTR; i++) yb[i] = ytr[i] == 0;
    for (int i = 0; i < NVA; i++) yvb[i] = yva[i] == 0;
    nn_net *net = mlp(1);
    if (!net) return;
    nn_hyper h = nn_hyper_default();
    h.epochs = 200;
    h.batch = 32;
    h.lr = 5e-3f;
    h.patience = 3;
    nn_fit_result r;
    CHECK_OK(nn_fit(net, &h, (nn_key){3, 0, 0}, Xtr, yb, NTR, Xva, yvb, NVA, MPI_COMM_SELF, &r));
    CHECK_MSG(r.epochs_run < 200 && r.epochs_run == r.best_epoch + 1 + 3, "ran %d epochs, best %d", r.epochs_run,
              r.best_epoch);
    CHECK_MSG(r.best_val_acc > 0.85, "sigmoid validation accuracy %.3f", r.best_val_acc);
    float p[NVA];
    CHECK_OK(nn_predict(net, Xva, NVA, p, MPI_COMM_SELF));
    CHECK_NEAR(nn_accuracy(p, yvb, NVA, 1), r.best_val_acc, 1e-12);
    /* bad labels and NaN inputs are errors, not silent garbage */
    int ybad[NTR];
    memcpy(ybad, yb, sizeof ybad);
    ybad[5] = 2;
    CHECK(nn_fit(net, &h, (nn_key){3, 0, 0}, Xtr, ybad, NTR, NULL, NULL, 0, MPI_COMM_SELF, &r) == H19_EARG);
    float *Xn = malloc(sizeof(float) * NTR * D);
    memcpy(Xn, Xtr, sizeof(float) * NTR * D);
    for (int i = 0; i < NTR * D; i++) Xn[i] = NAN;
    int rc = nn_fit(net, &h, (nn_key){3, 0, 0}, Xn, yb, NTR, NULL, NULL, 0, MPI_COMM_SELF, &r);
    CHECK_MSG(rc == H19_ESTATE && strstr(h19_errmsg(), "diverged"), "rc %d: %s", rc, h19_errmsg());
    free(Xn);
    nn_net_free(net);
}

static int stop_at(void *user, long step, int epoch, double loss)
{
    (void)epoch;
    CHECK(isfinite(loss));
    return step == *(long *)user;
}

static void test_resume(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/h19_nn_ckpt_%ld.bin", (long)getpid());
    remove(path);
    nn_hyper h = nn_hyper_default();
    h.epochs = 6;
    h.batch = 20;
    h.lr = 3e-3f;
    h.patience = 10;
    nn_key k = {21, 0, 4};
    nn_net *ref = mlp(3), *net = mlp(3);
    if (!ref || !net) return;
    nn_fit_result r0, r1;
    CHECK_OK(nn_fit(ref, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r0));

    h.ckpt_path = path;
    long stop_step = 17; /* mid-epoch 2 (12 batches per epoch) */
    h.on_step = stop_at;
    h.user = &stop_step;
    int rc = nn_fit(net, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r1);
    CHECK_MSG(rc == H19_ESTOP && r1.stopped && r1.steps == 17, "rc %d steps %ld", rc, r1.steps);
    /* resume in a fresh net (weights differ from the checkpoint until read) */
    nn_net_free(net);
    net = mlp(3);
    nn_net_init(net, 999, 0, 0);
    stop_step = 39; /* stop again at an epoch boundary + 3 */
    rc = nn_fit(net, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r1);
    CHECK(rc == H19_ESTOP && r1.steps == 39);
    h.on_step = NULL;
    CHECK_OK(nn_fit(net, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r1));
    CHECK(r1.steps == r0.steps && r1.best_epoch == r0.best_epoch);
    CHECK_NEAR(r1.best_val_acc, r0.best_val_acc, 0);
    CHECK_MSG(memcmp(ref->params, net->params, sizeof(float) * ref->nparams) == 0,
              "resumed model differs from the uninterrupted one");
    /* a finished checkpoint: resuming returns the same model without training */
    nn_net_init(net, 5, 0, 0);
    CHECK_OK(nn_fit(net, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r1));
    CHECK(memcmp(ref->params, net->params, sizeof(float) * ref->nparams) == 0);
    /* other settings: refused */
    h.lr = 1e-3f;
    rc = nn_fit(net, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r1);
    CHECK_MSG(rc == H19_EFORMAT && strstr(h19_errmsg(), "other training settings"), "%s", h19_errmsg());
    /* a corrupt file: refused with a clear message */
    FILE *f = fopen(path, "r+b");
    fseek(f, 200, SEEK_SET);
    fputc(0x5A, f);
    fclose(f);
    h.lr = 3e-3f;
    rc = nn_fit(net, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r1);
    CHECK_MSG(rc == H19_EFORMAT && strstr(h19_errmsg(), "checksum"), "%s", h19_errmsg());
    remove(path);
    nn_net_free(ref);
    nn_net_free(net);
}

/* Tail averaging (nn_hyper.average_from): the kept weights are the mean of the epoch-end weights
 * from epoch average_from on; resuming continues the mean; the setting is part of the checkpoint hash. */
typedef struct {
    nn_net *net;
    long per_epoch, stop;
    float *snap; /* [epochs][nparams] the weights after each epoch */
} avg_ctx;

static int snap_epochs(void *user, long step, int epoch, double loss)
{
    (void)epoch;
    (void)loss;
    avg_ctx *a = user;
    if (step % a->per_epoch == 0)
        memcpy(a->snap + (size_t)(step / a->per_epoch - 1) * a->net->nparams, a->net->params,
               sizeof(float) * a->net->nparams);
    return a->stop > 0 && step == a->stop;
}

static void test_average(void)
{
    nn_hyper h = nn_hyper_default();
    h.epochs = 6;
    h.batch = 20; /* 12 steps per epoch */
    h.lr = 3e-3f;
    h.average_from = 4;
    nn_key k = {33, 0, 1};
    nn_net *net = mlp(3), *last = mlp(3), *res = mlp(3);
    if (!net || !last || !res) return;
    size_t np = net->nparams;
    float *snap = calloc(6 * np, sizeof(float));
    avg_ctx a = {net, 12, 0, snap};
    h.on_step = snap_epochs;
    h.user = &a;
    nn_fit_result r;
    CHECK_OK(nn_fit(net, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r));
    CHECK_MSG(r.averaged == 3 && r.best_epoch == -1 && r.epochs_run == 6, "averaged %d best %d epochs %d", r.averaged,
              r.best_epoch, r.epochs_run);
    double maxd = 0.0, spread = 0.0;
    for (size_t i = 0; i < np; i++) {
        double m = ((double)snap[3 * np + i] + snap[4 * np + i] + snap[5 * np + i]) / 3.0;
        double d = fabs(net->params[i] - m) / (fabs(m) + 1e-3);
        if (d > maxd) maxd = d;
        spread += fabs(snap[5 * np + i] - snap[3 * np + i]);
    }
    CHECK_MSG(maxd < 1e-5, "kept weights differ from the mean of epochs 4-6 by %.3g relative", maxd);
    CHECK_MSG(spread > 1e-3, "the averaged epochs' weights do not differ (%.3g): the test proves nothing", spread);
    /* the reported validation figure is that of the kept (averaged) weights */
    float prob[NVA * 3];
    CHECK_OK(nn_predict(net, Xva, NVA, prob, MPI_COMM_SELF));
    CHECK_NEAR(r.best_val_acc, nn_accuracy(prob, yva, NVA, 3), 1e-12);

    /* average_from beyond the run: the last weights, as a run without validation keeps them */
    h.on_step = NULL;
    h.average_from = 9;
    CHECK_OK(nn_fit(res, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r));
    CHECK(r.averaged == 0 && r.best_epoch == -1);
    h.average_from = 0;
    CHECK_OK(nn_fit(last, &h, k, Xtr, ytr, NTR, NULL, NULL, 0, MPI_COMM_SELF, &r));
    CHECK(memcmp(res->params, last->params, sizeof(float) * np) == 0);
    CHECK(memcmp(last->params, snap + 5 * np, sizeof(float) * np) == 0);

    /* stop inside the averaged epochs (step 55: epoch 5), resume: the uninterrupted model */
    char path[64];
    snprintf(path, sizeof path, "/tmp/h19_nn_avg_%ld.bin", (long)getpid());
    remove(path);
    h.average_from = 4;
    h.ckpt_path = path;
    nn_net_init(res, 11, 0, 0);
    avg_ctx b = {res, 12, 55, calloc(6 * np, sizeof(float))};
    h.on_step = snap_epochs;
    h.user = &b;
    CHECK(nn_fit(res, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r) == H19_ESTOP);
    nn_net_init(res, 99, 0, 0);
    b.stop = 0;
    CHECK_OK(nn_fit(res, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r));
    CHECK_MSG(memcmp(res->params, net->params, sizeof(float) * np) == 0, "resumed average differs");
    CHECK(r.averaged == 3);
    /* a checkpoint of another average_from is not resumed */
    h.average_from = 5;
    h.on_step = NULL;
    int rc = nn_fit(res, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r);
    CHECK_MSG(rc == H19_EFORMAT && strstr(h19_errmsg(), "other training settings"), "%s", h19_errmsg());
    h.average_from = -1;
    CHECK(nn_fit(res, &h, k, Xtr, ytr, NTR, Xva, yva, NVA, MPI_COMM_SELF, &r) == H19_EARG);
    remove(path);
    free(b.snap);
    free(snap);
    nn_net_free(net);
    nn_net_free(last);
    nn_net_free(res);
}

int main(void)
{
    Xtr = malloc(sizeof(float) * NTR * D);
    Xva = malloc(sizeof(float) * NVA * D);
    ytr = malloc(sizeof(int) * NTR);
    yva = malloc(sizeof(int) * NVA);
    blobs(Xtr, ytr, NTR, 0, 3);
    blobs(Xva, yva, NVA, 1, 3);
    test_adam();
    test_learn();
    test_early_stop_and_sigmoid();
    test_resume();
    test_average();
    free(Xtr);
    free(Xva);
    free(ytr);
    free(yva);
    CHECK_DONE();
}
