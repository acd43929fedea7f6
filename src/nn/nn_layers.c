/* nn_layers.c — layer kernels: forward writes, backward adds into gradients (see nn.h).
 *
 * Key: B batch, C input channels, H height, W width, K filters, IN/OUT dense widths, N elements.
 * Convolution is im2col + SGEMM (Chellapilla et al. 2006, "High performance convolutional neural
 * networks for document processing"), one sample at a time so the scratch is one sample's
 * columns and the accumulation order over the batch is fixed (deterministic).
 */
#include "hust19/nn.h"
#include "hust19/rng.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- convolution ------------------------------------------------------------------------------ */

size_t nn_conv3_col_floats(int C, int H, int W) { return (size_t)C * 9 * (size_t)H * (size_t)W; }

/* col[(c*9 + ky*3 + kx)][y*W + x] = in[c][y+ky-1][x+kx-1], zero outside (same padding). */
static void im2col3(float *col, const float *in, int C, int H, int W)
{
    size_t HW = (size_t)H * W;
    for (int c = 0; c < C; c++) {
        const float *src = in + (size_t)c * HW;
        for (int ky = 0; ky < 3; ky++) {
            for (int kx = 0; kx < 3; kx++) {
                float *dst = col + ((size_t)c * 9 + (size_t)ky * 3 + kx) * HW;
                for (int y = 0; y < H; y++) {
                    int yy = y + ky - 1;
                    float *d = dst + (size_t)y * W;
                    if (yy < 0 || yy >= H) {
                        memset(d, 0, sizeof(float) * (size_t)W);
                        continue;
                    }
                    const float *s = src + (size_t)yy * W;
                    if (kx == 1) {
                        memcpy(d, s, sizeof(float) * (size_t)W);
                    } else if (kx == 0) {
                        d[0] = 0.0f;
                        memcpy(d + 1, s, sizeof(float) * (size_t)(W - 1));
                    } else {
                        memcpy(d, s + 1, sizeof(float) * (size_t)(W - 1));
                        d[W - 1] = 0.0f;
                    }
                }
            }
        }
    }
}

/* The adjoint of im2col3: din[c][y+ky-1][x+kx-1] += col[...][y*W+x]. */
static void col2im3_add(float *din, const float *col, int C, int H, int W)
{
    size_t HW = (size_t)H * W;
    for (int c = 0; c < C; c++) {
        float *dst = din + (size_t)c * HW;
        for (int ky = 0; ky < 3; ky++) {
            for (int kx = 0; kx < 3; kx++) {
                const float *src = col + ((size_t)c * 9 + (size_t)ky * 3 + kx) * HW;
                for (int y = 0; y < H; y++) {
                    int yy = y + ky - 1;
                    if (yy < 0 || yy >= H) continue;
                    const float *s = src + (size_t)y * W;
                    float *d = dst + (size_t)yy * W;
                    int x0 = kx == 0 ? 1 : 0, x1 = kx == 2 ? W - 1 : W;
                    int sh = kx - 1;
                    for (int x = x0; x < x1; x++) d[x + sh] += s[x];
                }
            }
        }
    }
}

void nn_conv3_forward(float *out, const float *in, const float *w, const float *b, float *col, int B,
                      int C, int H, int W, int K)
{
    int HW = H * W, C9 = C * 9;
    for (int n = 0; n < B; n++) {
        const float *x = in + (size_t)n * C * HW;
        float *o = out + (size_t)n * K * HW;
        for (int k = 0; k < K; k++) {
            float bk = b[k];
            float *ok = o + (size_t)k * HW;
            for (int i = 0; i < HW; i++) ok[i] = bk;
        }
        im2col3(col, x, C, H, W);
        /* o[K][HW] += w[K][C9] . col[C9][HW] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, HW, C9, 1.0f, w, C9, col, HW, 1.0f,
                    o, HW);
    }
}

void nn_conv3_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                       const float *w, float *col, int B, int C, int H, int W, int K)
{
    int HW = H * W, C9 = C * 9;
    for (int n = 0; n < B; n++) {
        const float *x = in + (size_t)n * C * HW;
        const float *g = dout + (size_t)n * K * HW;
        for (int k = 0; k < K; k++) {
            const float *gk = g + (size_t)k * HW;
            float s = 0.0f;
            for (int i = 0; i < HW; i++) s += gk[i];
            db[k] += s;
        }
        im2col3(col, x, C, H, W);
        /* dw[K][C9] += g[K][HW] . col[C9][HW]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, C9, HW, 1.0f, g, HW, col, HW, 1.0f, dw,
                    C9);
        if (din) {
            /* dcol[C9][HW] = w[K][C9]^T . g[K][HW], then scatter back (col reused as dcol). */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C9, HW, K, 1.0f, w, C9, g, HW, 0.0f,
                        col, HW);
            col2im3_add(din + (size_t)n * C * HW, col, C, H, W);
        }
    }
}

/* ---- pooling ---------------------------------------------------------------------------------- */

void nn_maxpool2_forward(float *out, const float *in, int B, int C, int H, int W)
{
    int OH = H / 2, OW = W / 2;
    for (size_t bc = 0; bc < (size_t)B * C; bc++) {
        const float *x = in + bc * H * W;
        float *o = out + bc * OH * OW;
        for (int y = 0; y < OH; y++) {
            const float *r0 = x + (size_t)(2 * y) * W, *r1 = r0 + W;
            for (int xx = 0; xx < OW; xx++) {
                float m = r0[2 * xx];
                if (r0[2 * xx + 1] > m) m = r0[2 * xx + 1];
                if (r1[2 * xx] > m) m = r1[2 * xx];
                if (r1[2 * xx + 1] > m) m = r1[2 * xx + 1];
                o[(size_t)y * OW + xx] = m;
            }
        }
    }
}

void nn_maxpool2_backward(float *din, const float *dout, const float *in, int B, int C, int H, int W)
{
    int OH = H / 2, OW = W / 2;
    for (size_t bc = 0; bc < (size_t)B * C; bc++) {
        const float *x = in + bc * H * W;
        float *d = din + bc * H * W;
        const float *g = dout + bc * OH * OW;
        for (int y = 0; y < OH; y++) {
            for (int xx = 0; xx < OW; xx++) {
                /* first maximum in row-major window order, as the forward comparison chain */
                size_t i0 = (size_t)(2 * y) * W + 2 * xx, best = i0;
                size_t cand[3] = {i0 + 1, i0 + W, i0 + W + 1};
                for (int c = 0; c < 3; c++)
                    if (x[cand[c]] > x[best]) best = cand[c];
                d[best] += g[(size_t)y * OW + xx];
            }
        }
    }
}

/* ---- dense ------------------------------------------------------------------------------------ */

void nn_dense_forward(float *out, const float *in, const float *w, const float *b, int B, int IN,
                      int OUT)
{
    for (int n = 0; n < B; n++) memcpy(out + (size_t)n * OUT, b, sizeof(float) * (size_t)OUT);
    /* out[B][OUT] += in[B][IN] . w[OUT][IN]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OUT, IN, 1.0f, in, IN, w, IN, 1.0f, out,
                OUT);
}

void nn_dense_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                       const float *w, int B, int IN, int OUT)
{
    for (int n = 0; n < B; n++) {
        const float *g = dout + (size_t)n * OUT;
        for (int o = 0; o < OUT; o++) db[o] += g[o];
    }
    /* dw[OUT][IN] += dout[B][OUT]^T . in[B][IN] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, B, 1.0f, dout, OUT, in, IN, 1.0f, dw,
                IN);
    if (din) /* din[B][IN] += dout[B][OUT] . w[OUT][IN] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, IN, OUT, 1.0f, dout, OUT, w, IN, 1.0f,
                    din, IN);
}

/* ---- ReLU, dropout ---------------------------------------------------------------------------- */

void nn_relu_forward(float *out, const float *in, size_t N)
{
    for (size_t i = 0; i < N; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void nn_relu_backward(float *din, const float *dout, const float *out, size_t N)
{
    for (size_t i = 0; i < N; i++)
        if (out[i] > 0.0f) din[i] += dout[i];
}

uint64_t nn_dropout_seed(uint64_t seed, int layer)
{
    /* A distinct stream per dropout layer, still a pure function of the job seed. */
    return h19_mix64(seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(layer + 1)));
}

void nn_dropout_forward(float *out, float *mask, const float *in, float p, uint64_t seed,
                        uint32_t repeat, uint32_t fold, uint32_t epoch, const int *sample, int B,
                        int D)
{
    float keep = 1.0f / (1.0f - p);
    for (int n = 0; n < B; n++) {
        float *m = mask + (size_t)n * D;
        if (p <= 0.0f) {
            for (int i = 0; i < D; i++) m[i] = 1.0f;
        } else {
            h19_rng r;
            h19_rng_init(&r, seed, H19_RNG_DROPOUT, repeat, fold, epoch, (uint32_t)sample[n]);
            for (int i = 0; i < D; i++) m[i] = h19_rng_uniformf(&r) < p ? 0.0f : keep;
        }
        const float *x = in + (size_t)n * D;
        float *o = out + (size_t)n * D;
        for (int i = 0; i < D; i++) o[i] = x[i] * m[i];
    }
}

void nn_dropout_backward(float *din, const float *dout, const float *mask, size_t N)
{
    for (size_t i = 0; i < N; i++) din[i] += dout[i] * mask[i];
}

/* ---- loss heads ------------------------------------------------------------------------------- */

double nn_softmax_ce_forward(float *prob, const float *logits, const int *y, int B, int K)
{
    double loss = 0.0;
    for (int n = 0; n < B; n++) {
        const float *z = logits + (size_t)n * K;
        float *p = prob + (size_t)n * K;
        float mx = z[0];
        for (int k = 1; k < K; k++)
            if (z[k] > mx) mx = z[k];
        double s = 0.0;
        for (int k = 0; k < K; k++) s += exp((double)z[k] - mx);
        for (int k = 0; k < K; k++) p[k] = (float)(exp((double)z[k] - mx) / s);
        if (y) loss += log(s) + mx - z[y[n]]; /* -log softmax(z)[y] = logsumexp(z) - z[y] */
    }
    return loss;
}

void nn_softmax_ce_backward(float *dlogits, const float *prob, const int *y, float scale, int B, int K)
{
    for (int n = 0; n < B; n++) {
        const float *p = prob + (size_t)n * K;
        float *d = dlogits + (size_t)n * K;
        for (int k = 0; k < K; k++) d[k] += scale * (p[k] - (k == y[n] ? 1.0f : 0.0f));
    }
}

double nn_sigmoid_bce_forward(float *prob, const float *logits, const int *y, int B)
{
    double loss = 0.0;
    for (int n = 0; n < B; n++) {
        double z = logits[n];
        prob[n] = (float)(z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z)));
        /* stable BCE with logits: max(z,0) - z*y + log(1 + exp(-|z|)) */
        if (y) loss += (z > 0 ? z : 0.0) - z * (y[n] ? 1.0 : 0.0) + log1p(exp(-fabs(z)));
    }
    return loss;
}

void nn_sigmoid_bce_backward(float *dlogits, const float *prob, const int *y, float scale, int B)
{
    for (int n = 0; n < B; n++) dlogits[n] += scale * (prob[n] - (y[n] ? 1.0f : 0.0f));
}
