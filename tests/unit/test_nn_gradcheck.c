/* test_nn_gradcheck.c — finite-difference gradient check of every layer and of a whole network.
 *
 * Each layer's output is reduced to a scalar L = sum_i r_i * out_i with fixed random r (so every
 * output element matters), the analytic gradient comes from the layer's backward with dout = r,
 * and the numeric one from central differences (L(x+e) - L(x-e)) / 2e with e = 1e-3 on the float
 * input, L summed in double. Float rounding of the outputs (~1e-7 relative) divided by 2e gives
 * ~1e-4 absolute noise, hence the tolerance |num - ana| <= 2e-3 + 1e-2 |ana|. Inputs of ReLU and
 * pooling are kept away from kinks and ties (|x| >= 0.05, distinct values) so the difference
 * quotient is the derivative.
 */
#include "check.h"
#include "hust19/err.h"
#include "hust19/nn.h"
#include "hust19/rng.h"

#include <stdlib.h>
#include <string.h>

#define EPS 1e-3f
static h19_rng g_rng;

static void fill(float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * h19_rng_uniformf(&g_rng);
}

/* away from 0 by at least 0.05, and all distinct (for max pooling) */
static void fill_nokink(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float u = 0.05f + 0.95f * h19_rng_uniformf(&g_rng) + 1e-4f * (float)i;
        x[i] = h19_rng_uniformf(&g_rng) < 0.5f ? -u : u;
    }
}

static double dot(const float *a, const float *r, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * r[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

/* Compare analytic gradient ana[n] of loss() w.r.t. x[n] (perturbed in place). */
static int check_grad(const char *what, loss_fn loss, void *ctx, float *x, const float *ana, size_t n)
{
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = x0 + EPS;
        double lp = loss(ctx);
        x[i] = x0 - EPS;
        double lm = loss(ctx);
        x[i] = x0;
        double num = (lp - lm) / (2.0 * (double)EPS);
        double err = fabs(num - ana[i]);
        double tol = 2e-3 + 1e-2 * fabs(ana[i]);
        if (err / tol > worst) worst = err / tol;
        if (err > tol) {
            if (bad < 5) fprintf(stderr, "%s[%zu]: numeric %.6g analytic %.6g\n", what, i, num, (double)ana[i]);
            bad++;
        }
    }
    fprintf(stderr, "%-22s %5zu values, worst error/tolerance %.3f\n", what, n, worst);
    CHECK_MSG(bad == 0, "%s: %d of %zu gradient values disagree", what, bad, n);
    return bad;
}

/* ---- dense ---- */
typedef struct { float *out, *in, *w, *b, *r; int B, IN, OUT; } dense_ctx;
static double dense_loss(void *p)
{
    dense_ctx *c = p;
    nn_dense_forward(c->out, c->in, c->w, c->b, c->B, c->IN, c->OUT);
    return dot(c->out, c->r, (size_t)c->B * c->OUT);
}
static void test_dense(void)
{
    enum { B = 3, IN = 7, OUT = 5 };
    float in[B * IN], w[OUT * IN], b[OUT], out[B * OUT], r[B * OUT];
    float din[B * IN] = {0}, dw[OUT * IN] = {0}, db[OUT] = {0};
    fill(in, B * IN, -1, 1); fill(w, OUT * IN, -1, 1); fill(b, OUT, -1, 1); fill(r, B * OUT, -1, 1);
    dense_ctx c = {out, in, w, b, r, B, IN, OUT};
    nn_dense_backward(din, dw, db, r, in, w, B, IN, OUT);
    check_grad("dense d/din", dense_loss, &c, in, din, B * IN);
    check_grad("dense d/dw", dense_loss, &c, w, dw, OUT * IN);
    check_grad("dense d/db", dense_loss, &c, b, db, OUT);
    /* backward adds: a second call doubles the gradients */
    float db2[OUT];
    memcpy(db2, db, sizeof db);
    nn_dense_backward(din, dw, db, r, in, w, B, IN, OUT);
    for (int i = 0; i < OUT; i++) CHECK_NEAR(db[i], 2 * db2[i], 1e-6);
}

/* ---- conv3 ---- */
typedef struct { float *out, *in, *w, *b, *col, *r; int B, C, H, W, K; } conv_ctx;
static double conv_loss(void *p)
{
    conv_ctx *c = p;
    nn_conv3_forward(c->out, c->in, c->w, c->b, c->col, c->B, c->C, c->H, c->W, c->K);
    return dot(c->out, c->r, (size_t)c->B * c->K * c->H * c->W);
}
/* Direct convolution in double: the definition the fast paths must match. */
static void conv_direct(double *out, const float *in, const float *w, const float *b, int B, int C, int H, int W,
                        int K)
{
    for (int n = 0; n < B; n++)
        for (int k = 0; k < K; k++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    double s = b[k];
                    for (int ci = 0; ci < C; ci++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int yy = y + ky - 1, xx = x + kx - 1;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                s += (double)w[((k * C + ci) * 3 + ky) * 3 + kx] * in[((n * C + ci) * H + yy) * W + xx];
                            }
                    out[((n * K + k) * H + y) * W + x] = s;
                }
}

/* C, K < 4: im2col path; C, K >= 4: Winograd F(2x2,3x3) path (odd sizes test the tile edges). */
static void test_conv(const char *name, int B, int C, int H, int W, int K)
{
    size_t ni = (size_t)B * C * H * W, no = (size_t)B * K * H * W, nw = (size_t)K * C * 9;
    float *in = malloc(ni * 4), *w = malloc(nw * 4), *b = malloc(K * 4), *out = malloc(no * 4), *r = malloc(no * 4);
    float *din = calloc(ni, 4), *dw = calloc(nw, 4), *db = calloc(K, 4);
    float *col = malloc(nn_conv3_scratch_floats(C, H, W, K) * 4);
    double *ref = malloc(no * sizeof(double));
    fill(in, ni, -1, 1); fill(w, nw, -1, 1); fill(b, K, -1, 1); fill(r, no, -1, 1);
    conv_ctx c = {out, in, w, b, col, r, B, C, H, W, K};
    conv_loss(&c);
    conv_direct(ref, in, w, b, B, C, H, W, K);
    double worst = 0;
    for (size_t i = 0; i < no; i++) worst = fmax(worst, fabs(out[i] - ref[i]));
    CHECK_MSG(worst < 1e-5 * C * 9, "%s: forward differs from direct convolution by %g", name, worst);
    nn_conv3_backward(din, dw, db, r, in, w, col, B, C, H, W, K);
    char what[64];
    snprintf(what, sizeof what, "%s d/din", name);
    check_grad(what, conv_loss, &c, in, din, ni);
    snprintf(what, sizeof what, "%s d/dw", name);
    check_grad(what, conv_loss, &c, w, dw, nw);
    snprintf(what, sizeof what, "%s d/db", name);
    check_grad(what, conv_loss, &c, b, db, K);
    if (C >= 4 && K >= 4) {
        /* the Winograd gradients equal the im2col ones up to float rounding */
        float *din2 = calloc(ni, 4), *dw2 = calloc(nw, 4), *db2 = calloc(K, 4);
        memset(din, 0, ni * 4);
        memset(dw, 0, nw * 4);
        memset(db, 0, K * 4);
        nn_conv3_backward(din, dw, db, r, in, w, col, B, C, H, W, K);
        nn_conv3_set_winograd(0);
        nn_conv3_backward(din2, dw2, db2, r, in, w, col, B, C, H, W, K);
        nn_conv3_set_winograd(1);
        double ed = 0, ew = 0, sd = 0, sw = 0;
        for (size_t i = 0; i < ni; i++) ed = fmax(ed, fabs(din[i] - din2[i])), sd = fmax(sd, fabs(din2[i]));
        for (size_t i = 0; i < nw; i++) ew = fmax(ew, fabs(dw[i] - dw2[i])), sw = fmax(sw, fabs(dw2[i]));
        CHECK_MSG(ed <= 1e-5 * sd && ew <= 1e-5 * sw, "%s: winograd vs im2col gradients differ by %g (din), %g (dw)",
                  name, ed / sd, ew / sw);
        free(din2);
        free(dw2);
        free(db2);
    }
    free(in); free(w); free(b); free(out); free(r); free(din); free(dw); free(db); free(col); free(ref);
}

/* ---- maxpool2 ---- */
typedef struct { float *out, *in, *r; int B, C, H, W; } pool_ctx;
static double pool_loss(void *p)
{
    pool_ctx *c = p;
    nn_maxpool2_forward(c->out, c->in, c->B, c->C, c->H, c->W);
    return dot(c->out, c->r, (size_t)c->B * c->C * (c->H / 2) * (c->W / 2));
}
static void test_pool(void)
{
    enum { B = 2, C = 2, H = 5, W = 6 }; /* odd H: the last row is dropped (floor) */
    float in[B * C * H * W], out[B * C * 2 * 3], r[B * C * 2 * 3], din[B * C * H * W] = {0};
    fill_nokink(in, B * C * H * W);
    fill(r, sizeof r / 4, -1, 1);
    pool_ctx c = {out, in, r, B, C, H, W};
    nn_maxpool2_backward(din, r, in, B, C, H, W);
    check_grad("maxpool2 d/din", pool_loss, &c, in, din, B * C * H * W);
    pool_loss(&c);
    float m = in[0];
    if (in[1] > m) m = in[1];
    if (in[W] > m) m = in[W];
    if (in[W + 1] > m) m = in[W + 1];
    CHECK(out[0] == m);
    for (int x = 0; x < W; x++) CHECK(din[4 * W + x] == 0.0f); /* the dropped row gets no gradient */
}

/* ---- global average pooling ---- */
typedef struct { float *out, *in, *r; int B, C, HW; } gap_ctx;
static double gap_loss(void *p)
{
    gap_ctx *c = p;
    nn_gap_forward(c->out, c->in, c->B, c->C, c->HW);
    return dot(c->out, c->r, (size_t)c->B * c->C);
}
static void test_gap(void)
{
    enum { B = 2, C = 3, HW = 5 * 7 };
    float in[B * C * HW], out[B * C], r[B * C], din[B * C * HW];
    fill(in, B * C * HW, -1, 1);
    fill(r, B * C, -1, 1);
    memset(din, 0x7f, sizeof din); /* _write overwrites every element */
    gap_ctx c = {out, in, r, B, C, HW};
    nn_gap_backward_write(din, r, B, C, HW);
    check_grad("gap d/din", gap_loss, &c, in, din, B * C * HW);
    gap_loss(&c);
    double m = 0;
    for (int i = 0; i < HW; i++) m += in[HW + i]; /* sample 0, channel 1 */
    CHECK(fabs(out[1] - m / HW) < 1e-6);
}

/* ---- global max pooling ---- */
static double gmp_loss(void *p)
{
    gap_ctx *c = p;
    nn_gmp_forward(c->out, c->in, c->B, c->C, c->HW);
    return dot(c->out, c->r, (size_t)c->B * c->C);
}
static void test_gmp(void)
{
    enum { B = 2, C = 3, HW = 5 * 7 };
    float in[B * C * HW], out[B * C], r[B * C], din[B * C * HW];
    /* distinct values, at least 0.01 apart, so the finite differences never move the maximum */
    for (int i = 0; i < B * C * HW; i++) in[i] = 0.01f * (float)((i * 37) % (B * C * HW)) - 1.0f;
    fill(r, B * C, -1, 1);
    memset(din, 0x7f, sizeof din); /* _write overwrites every element */
    gap_ctx c = {out, in, r, B, C, HW};
    nn_gmp_backward_write(din, r, in, B, C, HW);
    check_grad("gmp d/din", gmp_loss, &c, in, din, B * C * HW);
    gmp_loss(&c);
    float m = in[HW];
    int nz = 0;
    for (int i = 0; i < HW; i++) m = in[HW + i] > m ? in[HW + i] : m, nz += din[HW + i] != 0.0f;
    CHECK(out[1] == m && nz == 1); /* sample 0, channel 1: its maximum, one gradient */
    /* ties: the first maximum (row-major) gets the gradient, as the forward keeps it */
    float t[4] = {0.5f, 2.0f, 2.0f, 1.0f}, o, g = 3.0f, dt[4];
    nn_gmp_forward(&o, t, 1, 1, 4);
    nn_gmp_backward_write(dt, &g, t, 1, 1, 4);
    CHECK(o == 2.0f && dt[0] == 0.0f && dt[1] == 3.0f && dt[2] == 0.0f && dt[3] == 0.0f);
}

/* ---- relu ---- */
typedef struct { float *out, *in, *r; size_t n; } ew_ctx;
static double relu_loss(void *p)
{
    ew_ctx *c = p;
    nn_relu_forward(c->out, c->in, c->n);
    return dot(c->out, c->r, c->n);
}
static void test_relu(void)
{
    enum { N = 40 };
    float in[N], out[N], r[N], din[N] = {0};
    fill_nokink(in, N);
    fill(r, N, -1, 1);
    ew_ctx c = {out, in, r, N};
    relu_loss(&c);
    nn_relu_backward(din, r, out, N);
    check_grad("relu d/din", relu_loss, &c, in, din, N);
}

/* ---- dropout ---- */
typedef struct { float *out, *mask, *in, *r; int *sample; int B, D; float p; } drop_ctx;
static double drop_loss(void *q)
{
    drop_ctx *c = q;
    nn_dropout_forward(c->out, c->mask, c->in, c->p, 99, 1, 2, 3, c->sample, c->B, c->D);
    return dot(c->out, c->r, (size_t)c->B * c->D);
}
static void test_dropout(void)
{
    enum { B = 4, D = 200 };
    static float in[B * D], out[B * D], mask[B * D], r[B * D], din[B * D];
    int sample[B] = {17, 3, 250, 8};
    fill(in, B * D, -1, 1);
    fill(r, B * D, -1, 1);
    drop_ctx c = {out, mask, in, r, sample, B, D, 0.25f};
    drop_loss(&c);
    nn_dropout_backward(din, r, mask, B * D);
    check_grad("dropout d/din", drop_loss, &c, in, din, B * D);
    /* rate close to 0.25 and inverted scaling 1/(1-p) */
    int zeros = 0;
    for (int i = 0; i < B * D; i++) {
        zeros += mask[i] == 0.0f;
        CHECK(mask[i] == 0.0f || fabsf(mask[i] - 1.0f / 0.75f) < 1e-6f);
    }
    CHECK_MSG(zeros > 150 && zeros < 250, "%d of 800 dropped at p=0.25", zeros);
    /* the mask of a sample does not depend on its batch position or companions */
    int s2[1] = {250};
    float in2[D], out2[D], m2[D];
    memcpy(in2, in + 2 * D, sizeof in2);
    nn_dropout_forward(out2, m2, in2, 0.25f, 99, 1, 2, 3, s2, 1, D);
    CHECK(memcmp(m2, mask + 2 * D, sizeof m2) == 0);
    /* another epoch gives another mask */
    nn_dropout_forward(out2, m2, in2, 0.25f, 99, 1, 2, 4, s2, 1, D);
    CHECK(memcmp(m2, mask + 2 * D, sizeof m2) != 0);
}

/* ---- heads ---- */
typedef struct { float *prob, *z; int *y; int B, K; int sig; } head_ctx;
static double head_loss(void *p)
{
    head_ctx *c = p;
    return c->sig ? nn_sigmoid_bce_forward(c->prob, c->z, c->y, c->B)
                  : nn_softmax_ce_forward(c->prob, c->z, c->y, c->B, c->K);
}
static void test_heads(void)
{
    enum { B = 4, K = 3 };
    float z[B * K], prob[B * K], dz[B * K] = {0};
    int y[B] = {0, 2, 1, 2};
    fill(z, B * K, -3, 3);
    head_ctx c = {prob, z, y, B, K, 0};
    head_loss(&c);
    nn_softmax_ce_backward(dz, prob, y, 1.0f, B, K);
    check_grad("softmax-ce d/dz", head_loss, &c, z, dz, B * K);
    for (int n = 0; n < B; n++) CHECK_NEAR(prob[n * K] + prob[n * K + 1] + prob[n * K + 2], 1.0, 1e-6);
    /* large logits stay finite */
    float zb[3] = {1000, -1000, 0}, pb[3];
    int yb[1] = {1};
    double lb = nn_softmax_ce_forward(pb, zb, yb, 1, 3);
    CHECK_NEAR(lb, 2000.0, 1e-6);

    int ys[B] = {0, 1, 1, 0};
    float zs[B], ps[B], dzs[B] = {0};
    fill(zs, B, -4, 4);
    head_ctx cs = {ps, zs, ys, B, 1, 1};
    head_loss(&cs);
    nn_sigmoid_bce_backward(dzs, ps, ys, 1.0f, B);
    check_grad("sigmoid-bce d/dz", head_loss, &cs, zs, dzs, B);
    float zl[2] = {80.0f, -80.0f}, pl[2];
    int yl[2] = {0, 1};
    CHECK_NEAR(nn_sigmoid_bce_forward(pl, zl, yl, 2), 160.0, 1e-6);
}

/* ---- a whole network: plumbing (in-place layers, ping-pong buffers, parameter slicing) ---- */
typedef struct { nn_net *net; float *x; int *y; int B; nn_drop_ctx *dc; } net_ctx;
static double net_loss(void *p)
{
    net_ctx *c = p;
    double l;
    nn_forward(c->net, c->x, c->y, c->B, c->dc, &l);
    return l;
}
static void test_net(int sigmoid)
{
    /* the sigmoid net ends its convolutions in a global average pooling (the patient CNN's variant) */
    nn_layer_spec L[] = {NN_CONV3_(3), NN_RELU_, NN_POOL2_, NN_CONV3_(2), NN_RELU_, NN_DENSE_(6), NN_RELU_,
                         NN_DROPOUT_(0.3f), NN_DENSE_(sigmoid ? 1 : 3), sigmoid ? NN_SIGMOID_BCE_ : NN_SOFTMAX_CE_};
    nn_layer_spec G[] = {NN_CONV3_(3), NN_RELU_, NN_POOL2_, NN_CONV3_(4), NN_RELU_, NN_GAP_, NN_DENSE_(6), NN_RELU_,
                         NN_DROPOUT_(0.3f), NN_DENSE_(1), NN_SIGMOID_BCE_};
    /* mode 2: the softmax net with a global max pooling (the slice CNN's variant), no ReLU before
     * it, so no channel is a tie of zeros */
    nn_layer_spec M[] = {NN_CONV3_(3), NN_RELU_, NN_POOL2_, NN_CONV3_(4), NN_GMP_, NN_DENSE_(6), NN_RELU_,
                         NN_DROPOUT_(0.3f), NN_DENSE_(3), NN_SOFTMAX_CE_};
    nn_net *net;
    enum { B = 3 };
    CHECK_OK(sigmoid == 2 ? nn_net_create(&net, 2, 6, 5, M, 10, B)
             : sigmoid    ? nn_net_create(&net, 2, 6, 5, G, 11, B)
                          : nn_net_create(&net, 2, 6, 5, L, 10, B));
    if (!net) return;
    nn_net_init(net, 5, 0, 0);
    fill(net->params, net->nparams, -0.5f, 0.5f); /* non-zero biases too */
    float x[B * 2 * 6 * 5];
    fill(x, sizeof x / 4, -1, 1);
    int y[B] = {2, 0, 1};
    if (sigmoid == 1) y[0] = 1;
    int sample[B] = {4, 9, 1};
    nn_drop_ctx dc = {7, 0, 1, 2, sample, -1.0f};
    net_ctx c = {net, x, y, B, &dc};
    net_loss(&c);
    memset(net->grads, 0, sizeof(float) * net->nparams);
    nn_backward(net, x, y, B, 1.0f);
    float *ana = malloc(sizeof(float) * net->nparams);
    memcpy(ana, net->grads, sizeof(float) * net->nparams);
    check_grad(sigmoid == 2 ? "net(gmp) d/dparams" : sigmoid ? "net(sigmoid) d/dparams" : "net(softmax) d/dparams", net_loss, &c, net->params, ana,
               net->nparams);
    free(ana);
    nn_net_free(net);
}

int main(void)
{
    h19_rng_init(&g_rng, 12345, H19_RNG_STATS, 0, 0, 0, 0);
    test_dense();
    test_conv("conv3 im2col", 2, 3, 5, 4, 3);
    test_conv("conv3 winograd", 2, 5, 5, 7, 6);
    test_conv("conv3 winograd even", 1, 4, 6, 4, 4);
    test_pool();
    test_relu();
    test_dropout();
    test_heads();
    test_net(0);
    test_net(1);
    test_gap(); /* last: the shared random stream of the cases above stays as it was */
    test_gmp();
    test_net(2);
    CHECK_DONE();
}
