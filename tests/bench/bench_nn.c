/* bench_nn.c — training and inference throughput of the slice CNN (configs/models/slice_cnn.yaml,
 * 1x200x200, batch 32) and GFLOP/s per layer; peak RSS. Run by tests/bench/bench_nn.sh.
 *
 *   bench_nn MODEL.yaml [train_batches [infer_slices [micro_batch]]]
 *
 * FLOPs are counted analytically (a multiply-add = 2): conv 2*K*C*9*H*W per sample forward,
 * twice that backward (weights and input; the first conv has no input gradient); dense 2*IN*OUT
 * forward, twice backward. Element-wise layers are reported in ms only.
 */
#include "hust19/err.h"
#include "hust19/nn.h"
#include "hust19/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds of the whole process (all threads): less sensitive to other jobs than the wall time,
 * since a thread that waits for a core is not charged */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char *kname(nn_kind k)
{
    const char *n[] = {"?", "conv3", "maxpool2", "dense", "relu", "dropout", "softmax", "sigmoid"};
    return n[k];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_nn MODEL.yaml [train_batches [infer_slices [micro_batch]]]\n");
        return 2;
    }
    int nbatch = argc > 2 ? atoi(argv[2]) : 3, ninf = argc > 3 ? atoi(argv[3]) : 96;
    int C, H, W, ns;
    nn_layer_spec *spec;
    nn_hyper h;
    if (nn_model_load(argv[1], 0, 0, &C, &H, &W, &spec, &ns, &h)) {
        fprintf(stderr, "bench_nn: %s\n", h19_errmsg());
        return 1;
    }
    h.batch = 32;
    if (argc > 4) h.micro_batch = atoi(argv[4]);
    int micro = h.micro_batch > 0 ? h.micro_batch : h.batch;
    nn_net *net;
    if (nn_net_create(&net, C, H, W, spec, ns, micro)) {
        fprintf(stderr, "bench_nn: %s\n", h19_errmsg());
        return 1;
    }
    nn_net_init(net, 1, 0, 0);
    int n = nbatch * h.batch, nin = C * H * W;
    int nmax = n > ninf ? n : ninf;
    float *X = malloc(sizeof(float) * (size_t)nmax * nin);
    int *y = malloc(sizeof(int) * (size_t)nmax);
    h19_rng r;
    h19_rng_init(&r, 3, H19_RNG_STATS, 0, 0, 0, 0);
    for (size_t i = 0; i < (size_t)nmax * nin; i++) X[i] = h19_rng_uniformf(&r);
    for (int i = 0; i < nmax; i++) y[i] = (int)h19_rng_below(&r, 3);
    float *prob = malloc(sizeof(float) * (size_t)nmax * 3);

    /* warm-up: one inference batch (page faults, BLAS thread start), then the inference timed
     * before training too: the two figures differ only by what training left behind (and by the
     * machine's load, which varies) */
    nn_predict(net, X, micro, prob, MPI_COMM_SELF);
    double tb0 = now();
    nn_predict(net, X, ninf, prob, MPI_COMM_SELF);
    double tinf0 = now() - tb0;

    double *prof = calloc(2 * (size_t)net->nlayers, sizeof(double));
    net->prof = prof;
    h.epochs = 1;
    h.patience = 0;
    nn_fit_result res;
    double c0 = cpu_now(), t0 = now();
    int rc = n > 0 ? nn_fit(net, &h, (nn_key){1, 0, 0}, X, y, n, NULL, NULL, 0, MPI_COMM_SELF, &res) : H19_OK;
    double ttrain = now() - t0, ctrain = cpu_now() - c0;
    if (n == 0) n = 1; /* inference only (train_batches 0): the training rows print 0 */
    if (rc) {
        fprintf(stderr, "bench_nn: %s\n", h19_errmsg());
        return 1;
    }
    double *tprof = malloc(sizeof(double) * 2 * net->nlayers);
    memcpy(tprof, prof, sizeof(double) * 2 * net->nlayers);
    memset(prof, 0, sizeof(double) * 2 * net->nlayers);
    c0 = cpu_now();
    t0 = now();
    nn_predict(net, X, ninf, prob, MPI_COMM_SELF);
    double tinf = now() - t0, cinf = cpu_now() - c0;

    printf("hust19 slice CNN %dx%dx%d, batch %d (micro-batch %d), %zu parameters\n", C, H, W, h.batch, micro,
           net->nparams);
    printf("hust19 train: %d slices in %.2f s = %.2f slices/s\n", n, ttrain, n / ttrain);
    printf("hust19 infer: %d slices in %.2f s = %.2f slices/s\n", ninf, tinf, ninf / tinf);
    printf("(inference before training: %.2f slices/s)\n", ninf / tinf0);
    printf("hust19 CPU time per slice (all threads): train %.1f ms, infer %.1f ms\n", 1e3 * ctrain / n,
           1e3 * cinf / ninf);
    printf("%-3s %-9s %-14s %10s %10s %10s %10s\n", "l", "layer", "out", "fwd ms/sl", "fwd GF/s", "bwd ms/sl",
           "bwd GF/s");
    double tf = 0, tb = 0;
    for (int l = 0; l < net->nlayers; l++) {
        const nn_layer *L = &net->layers[l];
        double ff = 0, fb = 0;
        if (L->spec.kind == NN_CONV3) {
            ff = 2.0 * L->OC * L->C * 9 * L->H * L->W;
            fb = l == 0 ? ff : 2 * ff;
        } else if (L->spec.kind == NN_DENSE) {
            ff = 2.0 * L->OC * L->C * L->H * L->W;
            fb = 2 * ff;
        }
        double f_ms = 1e3 * tprof[2 * l] / n, b_ms = 1e3 * tprof[2 * l + 1] / n;
        double i_ms = 1e3 * prof[2 * l] / ninf;
        tf += f_ms;
        tb += b_ms;
        char shp[32];
        snprintf(shp, sizeof shp, "%dx%dx%d", L->OC, L->OH, L->OW);
        if (ff > 0)
            printf("%-3d %-9s %-14s %10.2f %10.1f %10.2f %10.1f   (infer fwd %.2f ms, %.1f GF/s)\n", l,
                   kname(L->spec.kind), shp, f_ms, ff / (f_ms * 1e6), b_ms, fb / (b_ms * 1e6), i_ms,
                   ff / (i_ms * 1e6));
        else
            printf("%-3d %-9s %-14s %10.2f %10s %10.2f\n", l, kname(L->spec.kind), shp, f_ms, "", b_ms);
    }
    double other = 1e3 * ttrain / n - tf - tb;
    printf("train per slice: forward %.1f ms, backward %.1f ms, gradient sum + Adam %.1f ms\n", tf, tb, other);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("hust19 peak RSS: %.0f MB\n", ru.ru_maxrss / 1024.0);
    net->prof = NULL;
    nn_net_free(net);
    free(spec);
    free(X);
    free(y);
    free(prob);
    free(prof);
    free(tprof);
    return 0;
}
