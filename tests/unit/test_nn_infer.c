/* test_nn_infer — nn_predict's per-sample path (nn_infer.c: convolutions with the ReLU and pooling
 * fused into their stores, dense layers over groups of chunks) gives the same bits as the layer by
 * layer nn_forward on chunks of max_batch samples (what nn_predict did before, and what training
 * computes), for nets covering every fusion case: an im2col first layer (C = 1), Winograd layers
 * with odd heights and widths (pooling drops a row and a column), conv + pool without ReLU, pool
 * then ReLU, a dropout between a convolution and its ReLU, a thin (im2col) convolution in the
 * middle, a lone pooling before the first convolution, and both dense kinds (one SGEMM, and the
 * split layer of >= 2^20 weights whose blocks are shared by the chunks of a group). Also: 1, 2 and
 * 3 threads; n not a multiple of max_batch; a second call after the weights changed (the filter
 * transforms are recomputed); and the rank split (chunks c % size == rank) of nn_infer_chunks.
 * And the training passes: nn_forward / nn_backward fuse each in-place ReLU into the convolution
 * before it and its backward into the convolution or pooling after it; their outputs and gradients
 * must equal the public, unfused layer kernels of nn.h run one by one. No tolerance: byte
 * equality. */
#include "check.h"
#include "hust19/err.h"
#include "hust19/nn.h"
#include "hust19/rng.h"
#include "nn/nn_internal.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

static void fill(float *x, size_t n, uint64_t seed)
{
    h19_rng r;
    h19_rng_init(&r, seed, H19_RNG_STATS, 0, 0, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * h19_rng_uniformf(&r) - 1.0f;
}

/* the reference: nn_forward (no dropout) on the chunks of max_batch samples */
static void ref_predict(nn_net *net, const float *X, int n, float *prob)
{
    int mb = net->max_batch, nin = nn_net_nin(net), nout = nn_net_nout(net);
    for (int s = 0; s < n; s += mb) {
        int b = n - s < mb ? n - s : mb;
        const float *p = nn_forward(net, X + (size_t)s * nin, NULL, b, NULL, NULL);
        memcpy(prob + (size_t)s * nout, p, sizeof(float) * (size_t)b * nout);
    }
}

static int same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, sizeof(float) * n) == 0; }

static void net_case(const char *name, int C, int H, int W, const nn_layer_spec *L, int nl, int mb, int n, int unfused)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(&net, C, H, W, L, nl, mb));
    if (!net) return;
    nn_net_init(net, 11, 0, 0);
    /* non-zero biases, so the fused "b + Y" and ReLU see both signs */
    for (int l = 0; l < net->nlayers; l++)
        if (net->layers[l].b_off != SIZE_MAX) fill(net->params + net->layers[l].b_off, net->layers[l].b_n, 20 + l);
    size_t nin = (size_t)nn_net_nin(net), nout = (size_t)nn_net_nout(net), np = (size_t)n * nout;
    float *X = malloc(sizeof(float) * nin * n), *ref = malloc(sizeof(float) * np), *got = malloc(sizeof(float) * np);
    fill(X, nin * n, 5);
    for (int round = 0; round < 2; round++) {
        ref_predict(net, X, n, ref);
        int distinct = 0;
        for (size_t i = nout; i < np; i++) distinct += ref[i] != ref[i % nout];
        CHECK_MSG(distinct > 0, "%s: the reference predictions are all alike (a weak case)", name);
        for (int nt = 1; nt <= 3; nt++) {
            openblas_set_num_threads(nt);
            memset(got, 0xff, sizeof(float) * np);
            CHECK_OK(nn_predict(net, X, n, got, MPI_COMM_SELF));
            CHECK_MSG(same_bits(ref, got, np), "%s, round %d, %d threads: nn_predict differs from nn_forward", name,
                      round, nt);
        }
        /* two ranks: each fills its own chunks; together, every chunk */
        memset(got, 0, sizeof(float) * np);
        float *g1 = calloc(np, sizeof(float));
        int r0 = nn_infer_chunks(net, X, n, got, 0, 2);
        /* -1: a layer the fused path does not plan (a global average pooling): nn_predict has run
         * nn_forward above instead */
        CHECK_MSG(r0 == (unfused ? -1 : H19_OK), "%s: nn_infer_chunks returned %d", name, r0);
        if (!unfused) {
            CHECK_OK(nn_infer_chunks(net, X, n, g1, 1, 2));
            for (size_t i = 0; i < np; i++) got[i] += g1[i]; /* disjoint chunks: x + 0 */
            CHECK_MSG(same_bits(ref, got, np), "%s, round %d: the 2-rank split differs", name, round);
        }
        free(g1);
        /* change every weight: the next round must follow */
        for (size_t i = 0; i < net->nparams; i++) net->params[i] *= (i & 1) ? 0.75f : -1.25f;
    }
    openblas_set_num_threads(2);
    nn_net_free(net);
    free(X);
    free(ref);
    free(got);
}


/* conv(2->5) ReLU conv(5->6) ReLU pool conv(6->4) ReLU dense(3) softmax, B = 3, by the net and by hand */
static void train_case(void)
{
    enum { B = 3, C0 = 2, H = 9, W = 11, K1 = 5, K2 = 6, K3 = 4 };
    nn_layer_spec L[] = {{NN_CONV3, K1, 0}, NN_RELU_, {NN_CONV3, K2, 0}, NN_RELU_, NN_POOL2_, {NN_CONV3, K3, 0},
                         NN_RELU_, NN_DENSE_(3), NN_SOFTMAX_CE_};
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(&net, C0, H, W, L, 9, B));
    if (!net) return;
    nn_net_init(net, 3, 0, 0);
    for (int l = 0; l < net->nlayers; l++)
        if (net->layers[l].b_off != SIZE_MAX) fill(net->params + net->layers[l].b_off, net->layers[l].b_n, 40 + l);
    const int OH = H / 2, OW = W / 2, D = K3 * OH * OW;
    float x[B * C0 * H * W];
    int y[B] = {0, 2, 1};
    fill(x, sizeof x / sizeof x[0], 9);
    openblas_set_num_threads(2);
    const float *prob = nn_forward(net, x, y, B, NULL, NULL);
    float pnet[B * 3];
    memcpy(pnet, prob, sizeof pnet);
    memset(net->grads, 0, sizeof(float) * net->nparams);
    nn_backward(net, x, y, B, 1.0f / B);
    /* by hand */
    const float *P = net->params;
    const nn_layer *c1 = &net->layers[0], *c2 = &net->layers[2], *c3 = &net->layers[5], *dl = &net->layers[7];
    size_t n1 = (size_t)B * K1 * H * W, n2 = (size_t)B * K2 * H * W, n3 = (size_t)B * K2 * OH * OW, n4 = (size_t)B * D;
    float *a1 = malloc(4 * n1), *a2 = malloc(4 * n2), *a3 = malloc(4 * n3), *a4 = malloc(4 * n4), *lg = malloc(4 * B * 3),
          *pr = malloc(4 * B * 3);
    size_t cs = nn_conv3_scratch_floats(K2, H, W, K2) + nn_conv3_scratch_floats(C0, H, W, K1);
    float *col = malloc(4 * cs);
    nn_conv3_forward(a1, x, P + c1->w_off, P + c1->b_off, col, B, C0, H, W, K1);
    nn_relu_forward(a1, a1, n1);
    nn_conv3_forward(a2, a1, P + c2->w_off, P + c2->b_off, col, B, K1, H, W, K2);
    nn_relu_forward(a2, a2, n2);
    nn_maxpool2_forward(a3, a2, B, K2, H, W);
    nn_conv3_forward(a4, a3, P + c3->w_off, P + c3->b_off, col, B, K2, OH, OW, K3);
    nn_relu_forward(a4, a4, n4);
    nn_dense_forward(lg, a4, P + dl->w_off, P + dl->b_off, B, D, 3);
    nn_softmax_ce_forward(pr, lg, y, B, 3);
    CHECK_MSG(same_bits(pr, pnet, B * 3), "training forward: fused net differs from the layer kernels");
    float *G = calloc(net->nparams, sizeof(float));
    float *glg = calloc(B * 3, 4), *g4 = calloc(n4, 4), *g4r = calloc(n4, 4), *g3 = calloc(n3, 4), *g2 = calloc(n2, 4),
          *g2r = calloc(n2, 4), *g1 = calloc(n1, 4), *g1r = calloc(n1, 4);
    nn_softmax_ce_backward(glg, pr, y, 1.0f / B, B, 3);
    nn_dense_backward(g4, G + dl->w_off, G + dl->b_off, glg, a4, P + dl->w_off, B, D, 3);
    nn_relu_backward(g4r, g4, a4, n4);
    nn_conv3_backward(g3, G + c3->w_off, G + c3->b_off, g4r, a3, P + c3->w_off, col, B, K2, OH, OW, K3);
    nn_maxpool2_backward(g2, g3, a2, B, K2, H, W);
    nn_relu_backward(g2r, g2, a2, n2);
    nn_conv3_backward(g1, G + c2->w_off, G + c2->b_off, g2r, a1, P + c2->w_off, col, B, K1, H, W, K2);
    nn_relu_backward(g1r, g1, a1, n1);
    nn_conv3_backward(NULL, G + c1->w_off, G + c1->b_off, g1r, x, P + c1->w_off, col, B, C0, H, W, K1);
    CHECK_MSG(same_bits(G, net->grads, net->nparams), "training backward: fused net gradients differ from the layer kernels");
    int nz = 0;
    for (size_t i = 0; i < net->nparams; i++) nz += G[i] != 0.0f;
    CHECK(nz > (int)net->nparams / 2);
    free(a1), free(a2), free(a3), free(a4), free(lg), free(pr), free(col), free(G), free(glg);
    free(g4), free(g4r), free(g3), free(g2), free(g2r), free(g1), free(g1r);
    nn_net_free(net);
}

int main(void)
{
    train_case();
    /* the slice CNN's pattern, small: im2col first conv, conv+ReLU+pool, split dense */
    nn_layer_spec a[] = {{NN_CONV3, 8, 0}, NN_RELU_, {NN_CONV3, 8, 0}, NN_RELU_, NN_POOL2_, {NN_CONV3, 16, 0},
                         NN_RELU_, NN_POOL2_, NN_DENSE_(300), NN_RELU_, NN_DROPOUT_(0.5f), NN_DENSE_(3),
                         NN_SOFTMAX_CE_};
    net_case("slice-like", 1, 56, 56, a, (int)(sizeof a / sizeof a[0]), 8, 75, 0); /* 16*14*14*300 >= 2^20 */
    /* odd sizes, conv + pool without ReLU, pool then ReLU, dropout between conv and ReLU */
    nn_layer_spec b[] = {{NN_CONV3, 5, 0}, NN_DROPOUT_(0.2f), NN_RELU_, {NN_CONV3, 6, 0}, NN_POOL2_,
                         {NN_CONV3, 7, 0}, NN_POOL2_,        NN_RELU_, NN_DENSE_(1),    NN_SIGMOID_BCE_};
    net_case("odd sizes", 4, 23, 19, b, (int)(sizeof b / sizeof b[0]), 3, 10, 0);
    /* a lone pooling first, a thin convolution (3 filters: im2col) in the middle, a ReLU after it */
    nn_layer_spec c[] = {NN_POOL2_, {NN_CONV3, 6, 0}, NN_RELU_, {NN_CONV3, 3, 0}, NN_RELU_, {NN_CONV3, 6, 0},
                         NN_RELU_,  NN_POOL2_,        NN_DENSE_(5), NN_DENSE_(3), NN_SOFTMAX_CE_};
    net_case("thin middle", 2, 30, 33, c, (int)(sizeof c / sizeof c[0]), 4, 9, 0);
    /* a global average pooling before the dense layers: the fused path steps aside for nn_forward */
    nn_layer_spec g[] = {{NN_CONV3, 8, 0}, NN_RELU_, NN_POOL2_, {NN_CONV3, 16, 0}, NN_RELU_, NN_GAP_,
                         NN_DENSE_(8), NN_RELU_, NN_DENSE_(3), NN_SOFTMAX_CE_};
    net_case("gap", 10, 40, 40, g, (int)(sizeof g / sizeof g[0]), 8, 21, 1);
    nn_layer_spec m[] = {{NN_CONV3, 8, 0}, NN_RELU_, NN_POOL2_, {NN_CONV3, 16, 0}, NN_RELU_, NN_GMP_,
                         NN_DENSE_(8), NN_RELU_, NN_DENSE_(3), NN_SOFTMAX_CE_};
    net_case("gmp", 10, 40, 40, m, (int)(sizeof m / sizeof m[0]), 8, 21, 1);
    /* max_batch larger than the group: one chunk per group, a last short chunk */
    net_case("big chunks", 1, 56, 56, a, (int)(sizeof a / sizeof a[0]), 40, 45, 0);
    CHECK_DONE();
}
