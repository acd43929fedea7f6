/* test_nn_tool.c — a helper executable for the nn integration tests, and a unit test by itself.
 *
 *   test_nn_tool                      self-test: a data-parallel training run is reproducible and
 *                                     the parity dump round-trips (unit/nn_tool)
 *   test_nn_tool parity DIR           write a small conv net's initial weights, a batch, the
 *                                     logits, every gradient and the weights after 20 Adam steps
 *                                     as raw float32 files for tests/ref/nn_torch_ref.py
 *   test_nn_tool dp OUT [CKPT STOP [MICRO]]
 *                                     train a small CNN data-parallel over MPI_COMM_WORLD (run it
 *                                     under mpirun -np P), rank 0 writes the weights to OUT. With
 *                                     CKPT and STOP > 0: rank P-1 raises the stop flag (as SIGUSR1
 *                                     would) after step STOP; the run must end with H19_ESTOP and a
 *                                     checkpoint, exit code 75. A later run with the same CKPT
 *                                     (STOP 0) resumes. CKPT "-" = none; MICRO = micro-batch
 *                                     (default 4; 16 = the whole batch, the float path).
 */
#include "check.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/nn.h"
#include "hust19/rng.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_raw(const char *dir, const char *name, const void *p, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return h19_fail(H19_EIO, "%s: cannot create", path);
    size_t n = fwrite(p, 1, bytes, f);
    if (fclose(f) != 0 || n != bytes) return h19_fail(H19_EIO, "%s: write failed", path);
    return H19_OK;
}

/* ---- parity: conv(2->4) relu conv(4->4, the Winograd path) relu pool dense(64->8) relu dense(8->3)
 * softmax-CE on a 2x8x8 batch ---- */
enum { PB = 4, PC = 2, PH = 8, PW = 8, PSTEPS = 20 };

static int parity(const char *dir)
{
    nn_layer_spec L[] = {NN_CONV3_(4), NN_RELU_, NN_CONV3_(4), NN_RELU_, NN_POOL2_, NN_DENSE_(8), NN_RELU_, NN_DENSE_(3), NN_SOFTMAX_CE_};
    nn_net *net;
    H19_TRY(nn_net_create(&net, PC, PH, PW, L, 9, PB));
    nn_net_init(net, 2024, 0, 0);
    /* non-zero biases so their gradients and updates are exercised */
    h19_rng r;
    h19_rng_init(&r, 2024, H19_RNG_STATS, 0, 0, 0, 1);
    for (int l = 0; l < net->nlayers; l++)
        if (net->layers[l].b_off != SIZE_MAX)
            for (size_t i = 0; i < net->layers[l].b_n; i++)
                net->params[net->layers[l].b_off + i] = 0.2f * (h19_rng_uniformf(&r) - 0.5f);
    float x[PB * PC * PH * PW];
    int y[PB] = {0, 2, 1, 2};
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = (float)h19_rng_normal(&r);
    int rc = write_raw(dir, "init.f32", net->params, net->nparams * sizeof(float));
    if (!rc) rc = write_raw(dir, "x.f32", x, sizeof x);
    if (!rc) rc = write_raw(dir, "y.i32", y, sizeof y);
    double loss;
    nn_forward(net, x, y, PB, NULL, &loss);
    const nn_layer *lg = &net->layers[net->nlayers - 2];
    if (!rc) rc = write_raw(dir, "logits.f32", lg->out, (size_t)PB * 3 * sizeof(float));
    memset(net->grads, 0, sizeof(float) * net->nparams);
    nn_backward(net, x, y, PB, 1.0f / PB);
    if (!rc) rc = write_raw(dir, "grads.f32", net->grads, net->nparams * sizeof(float));
    /* 20 Adam steps through the trainer: one full batch per epoch, lr decayed per epoch */
    nn_hyper h = nn_hyper_default();
    h.epochs = PSTEPS;
    h.batch = PB;
    h.lr = 1e-2f;
    h.decay = 0.1f;
    nn_fit_result res;
    if (!rc) rc = nn_fit(net, &h, (nn_key){1, 0, 0}, x, y, PB, NULL, NULL, 0, MPI_COMM_SELF, &res);
    if (!rc) rc = write_raw(dir, "final.f32", net->params, net->nparams * sizeof(float));
    char meta[256];
    int n = snprintf(meta, sizeof meta, "nparams %zu\nloss %.9g\nlr %g\ndecay %g\nsteps %d\n", net->nparams,
                     loss / PB, (double)h.lr, (double)h.decay, PSTEPS);
    if (!rc) rc = write_raw(dir, "meta.txt", meta, (size_t)n);
    nn_net_free(net);
    return rc;
}

/* ---- data parallel ---------------------------------------------------------------------------- */
enum { DN = 90, DV = 30, DS = 12 };

/* Images of three classes: a bright square, a bright bar, or noise only. */
static void images(float *X, int *y, int n, uint32_t which)
{
    h19_rng r;
    h19_rng_init(&r, 5, H19_RNG_STATS, which, 0, 0, 0);
    for (int i = 0; i < n; i++) {
        int c = (int)h19_rng_below(&r, 3);
        y[i] = c;
        float *im = X + (size_t)i * DS * DS;
        int oy = (int)h19_rng_below(&r, 6), ox = (int)h19_rng_below(&r, 6);
        for (int p = 0; p < DS * DS; p++) {
            int yy = p / DS, xx = p % DS;
            float v = 0.3f * (float)h19_rng_normal(&r);
            if (c == 0 && yy >= oy && yy < oy + 5 && xx >= ox && xx < ox + 5) v += 1.0f;
            if (c == 1 && yy == oy + 2) v += 1.0f;
            im[p] = v;
        }
    }
}

typedef struct { long stop; int rank, size; } dp_user;

static int dp_on_step(void *user, long step, int epoch, double loss)
{
    dp_user *u = user;
    (void)epoch;
    (void)loss;
    /* a "signal" on the last rank only: the trainer must make every rank stop at the same step */
    if (u->stop > 0 && step == u->stop && u->rank == u->size - 1) dist_stop_raise();
    return 0;
}

static int dp_train(MPI_Comm comm, const char *out, const char *ckpt, long stop, int micro, int rank, int size,
                    float **params_out, size_t *np_out)
{
    nn_layer_spec L[] = {NN_CONV3_(4), NN_RELU_, NN_POOL2_, NN_CONV3_(8), NN_RELU_, NN_POOL2_,
                         NN_DENSE_(16), NN_RELU_, NN_DROPOUT_(0.3f), NN_DENSE_(3), NN_SOFTMAX_CE_};
    nn_net *net;
    H19_TRY(nn_net_create(&net, 1, DS, DS, L, 11, 4));
    nn_net_init(net, 77, 3, 1);
    static float X[DN * DS * DS], Xv[DV * DS * DS];
    static int y[DN], yv[DV];
    images(X, y, DN, 0);
    images(Xv, yv, DV, 1);
    nn_hyper h = nn_hyper_default();
    h.epochs = 8;
    h.batch = 16; /* 5 batches of 16 and one of 10 per epoch */
    h.micro_batch = micro; /* 4: the fixed-point sum; 16 = batch: one micro-batch, float path */
    h.lr = 1e-2f;
    h.decay = 0.05f;
    h.patience = 3;
    h.ckpt_path = ckpt;
    dp_user u = {stop, rank, size};
    h.on_step = dp_on_step;
    h.user = &u;
    nn_fit_result res;
    int rc = nn_fit(net, &h, (nn_key){77, 3, 1}, X, y, DN, Xv, yv, DV, comm, &res);
    if (rank == 0)
        fprintf(stderr, "dp: %d ranks, rc %d, steps %ld, epochs %d, best epoch %d, val acc %.3f, loss %.4f\n", size,
                rc, res.steps, res.epochs_run, res.best_epoch, res.best_val_acc, res.last_loss);
    if (!rc && out && rank == 0) rc = nn_params_save_raw(net, out);
    if (params_out) {
        *params_out = malloc(sizeof(float) * net->nparams);
        memcpy(*params_out, net->params, sizeof(float) * net->nparams);
        *np_out = net->nparams;
    }
    nn_net_free(net);
    return rc;
}

static int selftest(void)
{
    float *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK_OK(dp_train(MPI_COMM_SELF, NULL, NULL, 0, 4, 0, 1, &a, &na));
    CHECK_OK(dp_train(MPI_COMM_SELF, NULL, NULL, 0, 4, 0, 1, &b, &nb));
    CHECK(na == nb && na > 0 && memcmp(a, b, na * sizeof(float)) == 0);
    free(a);
    free(b);
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/h19_nn_tool_%ld", (long)getpid());
    CHECK(mkdir(dir, 0700) == 0);
    CHECK_OK(parity(dir));
    nn_layer_spec L[] = {NN_CONV3_(4), NN_RELU_, NN_CONV3_(4), NN_RELU_, NN_POOL2_, NN_DENSE_(8), NN_RELU_, NN_DENSE_(3), NN_SOFTMAX_CE_};
    nn_net *net;
    CHECK_OK(nn_net_create(&net, PC, PH, PW, L, 9, PB));
    char p[128];
    snprintf(p, sizeof p, "%s/init.f32", dir);
    CHECK_OK(nn_params_load_raw(net, p));
    CHECK(net->params[0] != 0.0f);
    snprintf(p, sizeof p, "%s/x.f32", dir); /* wrong size: refused */
    CHECK(nn_params_load_raw(net, p) == H19_EFORMAT);
    nn_net_free(net);
    const char *files[] = {"init.f32", "x.f32", "y.i32", "logits.f32", "grads.f32", "final.f32", "meta.txt"};
    for (int i = 0; i < 7; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        CHECK(remove(p) == 0);
    }
    rmdir(dir);
    CHECK_DONE();
}

int main(int argc, char **argv)
{
    if (argc == 1) return selftest();
    if (argc == 3 && strcmp(argv[1], "parity") == 0) {
        int rc = parity(argv[2]);
        if (rc) fprintf(stderr, "test_nn_tool parity: %s\n", h19_errmsg());
        return rc ? 1 : 0;
    }
    if (strcmp(argv[1], "dp") == 0 && (argc == 3 || argc == 5 || argc == 6)) {
        if (dist_init(&argc, &argv)) {
            fprintf(stderr, "test_nn_tool: %s\n", h19_errmsg());
            return 1;
        }
        const char *ckpt = argc >= 5 && strcmp(argv[3], "-") != 0 ? argv[3] : NULL;
        long stop = argc >= 5 ? atol(argv[4]) : 0;
        int micro = argc == 6 ? atoi(argv[5]) : 4;
        int rc = dp_train(MPI_COMM_WORLD, argv[2], ckpt, stop, micro, dist_rank(), dist_size(), NULL, NULL);
        if (rc && rc != H19_ESTOP) fprintf(stderr, "test_nn_tool dp (rank %d): %s\n", dist_rank(), h19_errmsg());
        dist_finalize();
        return rc == H19_ESTOP ? H19_EXIT_REQUEUE : rc ? 1 : 0;
    }
    fprintf(stderr, "usage: test_nn_tool [parity DIR | dp OUT [CKPT STOP]]\n");
    return 2;
}
