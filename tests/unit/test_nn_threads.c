/* test_nn_threads — the nn kernels give the same bits for any thread count (nn_internal.h: each
 * parallel part owns disjoint outputs, sums run in sample order). A small CNN with every layer kind
 * (an im2col convolution, Winograd convolutions with an odd width, pooling, dense, dropout) sized
 * so that the element-wise, Adam and fixed-point loops are split too, trained by nn_fit for two
 * epochs of micro-batched steps with 1, 2 and 3 threads: parameters, Adam moments and predictions
 * must be byte-identical. Also the convolution kernels directly, with 20 samples (more than the 16
 * weight-gradient groups), against 1 thread. */
#include "check.h"
#include "hust19/err.h"
#include "hust19/nn.h"
#include "hust19/rng.h"
#include "nn/nn_internal.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

enum { N = 40, C0 = 1, H0 = 48, W0 = 42 };

static void fill(float *x, size_t n, uint64_t seed)
{
    h19_rng r;
    h19_rng_init(&r, seed, H19_RNG_STATS, 0, 0, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * h19_rng_uniformf(&r) - 1.0f;
}

/* Train and predict with nt threads; returns params | m | v | prob (caller frees). */
static float *run_fit(int nt, const float *X, const int *y, size_t *len)
{
    openblas_set_num_threads(nt);
    CHECK(nn_threads() == nt);
    nn_layer_spec L[] = {{NN_CONV3, 8, 0}, NN_RELU_,     {NN_CONV3, 6, 0}, NN_RELU_,        NN_POOL2_,
                         {NN_CONV3, 8, 0}, NN_RELU_,     NN_POOL2_,        NN_DENSE_(80),   NN_RELU_,
                         NN_DROPOUT_(0.3f), NN_DENSE_(3), NN_SOFTMAX_CE_};
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(&net, C0, H0, W0, L, (int)(sizeof L / sizeof L[0]), 8));
    if (!net) return NULL;
    CHECK(net->nparams >= NN_PAR_MIN); /* Adam and the fixed-point sum are split over threads */
    nn_net_init(net, 7, 0, 0);
    nn_hyper h = nn_hyper_default();
    h.epochs = 2;
    h.batch = 20;
    h.micro_batch = 8; /* 3 micro-batches of 8, 8, 4: the fixed-point path */
    h.lr = 1e-3f;
    nn_fit_result res;
    CHECK_OK(nn_fit(net, &h, (nn_key){7, 0, 0}, X, y, N, NULL, NULL, 0, MPI_COMM_SELF, &res));
    size_t np = net->nparams;
    *len = 3 * np + (size_t)N * 3;
    float *out = malloc(sizeof(float) * *len);
    memcpy(out, net->params, sizeof(float) * np);
    memcpy(out + np, net->m, sizeof(float) * np);
    memcpy(out + 2 * np, net->v, sizeof(float) * np);
    CHECK_OK(nn_predict(net, X, N, out + 3 * np, MPI_COMM_SELF));
    nn_net_free(net);
    return out;
}

static void test_fit(void)
{
    size_t nin = (size_t)C0 * H0 * W0;
    float *X = malloc(sizeof(float) * N * nin);
    int y[N];
    fill(X, N * nin, 1);
    for (int i = 0; i < N; i++) y[i] = i % 3;
    size_t l1 = 0, l2 = 0, l3 = 0;
    float *a = run_fit(1, X, y, &l1), *b = run_fit(2, X, y, &l2), *c = run_fit(3, X, y, &l3);
    CHECK(a && b && c && l1 == l2 && l1 == l3);
    if (a && b && c) {
        CHECK_MSG(memcmp(a, b, sizeof(float) * l1) == 0, "1 and 2 threads: trained models differ");
        CHECK_MSG(memcmp(a, c, sizeof(float) * l1) == 0, "1 and 3 threads: trained models differ");
        /* and training did something */
        int moved = 0;
        for (size_t i = 0; i < l1 / 4; i++) moved += a[l1 / 3 + i] != 0.0f; /* Adam m non-zero */
        CHECK(moved > 0);
    }
    free(a);
    free(b);
    free(c);
    free(X);
}

/* The kernels directly: forward, and backward (adding into non-zero gradients) with nt threads. */
static void conv_case(int B, int C, int H, int W, int K)
{
    size_t ni = (size_t)B * C * H * W, no = (size_t)B * K * H * W, nw = (size_t)K * C * 9;
    float *in = malloc(ni * 4), *w = malloc(nw * 4), *b = malloc(K * 4), *g = malloc(no * 4);
    fill(in, ni, 2);
    fill(w, nw, 3);
    fill(b, K, 4);
    fill(g, no, 5);
    float *ref[4] = {0};
    for (int nt = 1; nt <= 3; nt++) {
        float *col = malloc(nn_conv3_scratch_floats_t(C, H, W, K, nt) * 4);
        float *out = malloc(no * 4), *din = malloc(ni * 4), *dw = malloc(nw * 4), *db = malloc(K * 4);
        fill(din, ni, 6);
        fill(dw, nw, 7);
        fill(db, K, 8);
        nn_conv3_forward_t(out, in, w, b, col, B, C, H, W, K, nt);
        nn_conv3_backward_t(din, dw, db, g, in, w, col, B, C, H, W, K, 0, nt);
        float *all[4] = {out, din, dw, db};
        size_t n[4] = {no, ni, nw, (size_t)K};
        for (int i = 0; i < 4; i++) {
            if (nt == 1) {
                ref[i] = all[i];
                continue;
            }
            CHECK_MSG(memcmp(ref[i], all[i], n[i] * 4) == 0, "conv %dx%dx%dx%d->%d: %d threads differ (output %d)", B,
                      C, H, W, K, nt, i);
            free(all[i]);
        }
        free(col);
    }
    for (int i = 0; i < 4; i++) free(ref[i]);
    free(in);
    free(w);
    free(b);
    free(g);
}

int main(void)
{
    test_fit();
    conv_case(20, 5, 9, 11, 6); /* Winograd, 20 samples > 16 weight-gradient groups, odd sizes */
    conv_case(20, 2, 9, 11, 3); /* im2col with an input gradient */
    conv_case(5, 1, 8, 7, 4);   /* im2col, first-layer shape */
    CHECK_DONE();
}
