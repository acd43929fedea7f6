/* nn_layers.c — layer kernels: forward writes, backward adds into gradients (see nn.h).
 *
 * Key: B batch, C input channels, H height, W width, K filters, IN/OUT dense widths, N elements.
 * Convolution is Winograd F(2x2,3x3) (below) or im2col + SGEMM (Chellapilla et al. 2006, "High
 * performance convolutional neural networks for document processing"), one sample at a time so the
 * scratch is one sample's and the accumulation order over the batch is fixed (deterministic).
 */
#include "hust19/nn.h"
#include "hust19/rng.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* The element-wise transforms are written as unit-stride loops; -O2's "very cheap" vectoriser
 * leaves loops of unknown length scalar, so this file asks for -O3's. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

/* ---- convolution ------------------------------------------------------------------------------ */

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

/* ---- Winograd F(2x2, 3x3) (Lavin & Gray 2016, "Fast algorithms for convolutional neural
 * networks", CVPR): each 2x2 output tile is A^T [(G g G^T) .* (B^T d B)] A for the 4x4 input tile
 * d starting one pixel up-left (zero padding). The 16 element-wise products over channels become 16
 * SGEMMs, M[xi] = U[xi] (Cout x Cin) . V[xi] (Cin x tiles): 2.25x fewer multiplications than direct
 * or im2col convolution. Used when both channel counts are >= WINO_MIN_C (for 1-3 channels the
 * GEMMs are too thin to gain), for the forward pass, the input gradient and the weight gradient
 * (by the adjoint transforms). */
#define WINO_MIN_C 4
#define WINO_TMP_ROWS 12 /* row temporaries of the vectorised transforms, (TW + 1) floats each */

static int g_wino = 1;
void nn_conv3_set_winograd(int enable) { g_wino = enable != 0; }
static int use_wino(int Cin, int Cout) { return g_wino && Cin >= WINO_MIN_C && Cout >= WINO_MIN_C; }

/* Tiles are processed in blocks of whole tile rows so that a block's transformed inputs and
 * products (16 (Cin + Cout) floats per tile) stay near 8 MB, inside the L3 cache, instead of
 * streaming the whole sample's through memory. The block size depends only on the layer shape. */
static int wino_block_rows(int Cin, int Cout, int TH, int TW)
{
    long rows = (131072L / (Cin + Cout)) / TW;
    if (rows < 1) rows = 1;
    if (rows > TH) rows = TH;
    return (int)rows;
}

/* scratch layout: U [16][Cout][Cin] | padded input [Cin][PH][PW] | V [16][Cin][Tb] | M [16][Cout][Tb] */
static size_t wino_floats(int Cin, int Cout, int H, int W)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2;
    size_t PH = 2 * (size_t)TH + 2, PW = 2 * (size_t)TW + 2;
    size_t Tb = (size_t)wino_block_rows(Cin, Cout, TH, TW) * TW;
    return 16 * (size_t)Cout * Cin + (size_t)Cin * PH * PW + 16 * (size_t)Cin * Tb + 16 * (size_t)Cout * Tb +
           WINO_TMP_ROWS * ((size_t)TW + 1);
}

/* im2col of output rows [y0, y1) only: col[C*9][(y1-y0)*W] (the weight gradient is accumulated
 * over row chunks so the columns stay in cache). */
static void im2col3_rows(float *col, const float *in, int C, int H, int W, int y0, int y1)
{
    size_t n = (size_t)(y1 - y0) * W, HW = (size_t)H * W;
    for (int c = 0; c < C; c++) {
        const float *src = in + (size_t)c * HW;
        for (int ky = 0; ky < 3; ky++) {
            for (int kx = 0; kx < 3; kx++) {
                float *dst = col + ((size_t)c * 9 + (size_t)ky * 3 + kx) * n;
                for (int y = y0; y < y1; y++) {
                    int yy = y + ky - 1;
                    float *d = dst + (size_t)(y - y0) * W;
                    if (yy < 0 || yy >= H) {
                        memset(d, 0, sizeof(float) * (size_t)W);
                        continue;
                    }
                    const float *sr = src + (size_t)yy * W;
                    if (kx == 1) {
                        memcpy(d, sr, sizeof(float) * (size_t)W);
                    } else if (kx == 0) {
                        d[0] = 0.0f;
                        memcpy(d + 1, sr, sizeof(float) * (size_t)(W - 1));
                    } else {
                        memcpy(d, sr + 1, sizeof(float) * (size_t)(W - 1));
                        d[W - 1] = 0.0f;
                    }
                }
            }
        }
    }
}

/* Rows per chunk of the weight-gradient im2col: about 2 MB of columns. */
static int dw_chunk_rows(int C, int H, int W)
{
    long r = 524288L / ((long)C * 9 * W);
    if (r < 1) r = 1;
    if (r > H) r = H;
    return (int)r;
}

size_t nn_conv3_scratch_floats(int C, int H, int W, int K)
{
    size_t n = (size_t)C * 9 * (size_t)H * (size_t)W; /* im2col (forward if thin, weight gradient) */
    if (use_wino(C, K)) {
        size_t a = wino_floats(C, K, H, W), b = wino_floats(K, C, H, W);
        if (a > n) n = a;
        if (b > n) n = b;
    }
    return n;
}

/* U[xi][co][ci] = (G g G^T)[xi] for g = w[co][ci] (flip = 0), or for the filter of the input
 * gradient, g[co=c][ci=k] = w[k][c] rotated by 180 degrees (flip = 1; Cout = C, Cin = K). */
static void wino_filter(float *U, const float *w, int Cin, int Cout, int flip)
{
    size_t plane = (size_t)Cout * Cin;
    for (int co = 0; co < Cout; co++) {
        for (int ci = 0; ci < Cin; ci++) {
            float g[9];
            if (!flip) {
                memcpy(g, w + ((size_t)co * Cin + ci) * 9, sizeof g);
            } else {
                const float *s = w + ((size_t)ci * Cout + co) * 9;
                for (int i = 0; i < 9; i++) g[i] = s[8 - i];
            }
            float t[12]; /* G g: 4x3 */
            for (int j = 0; j < 3; j++) {
                float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                t[j] = g0;
                t[3 + j] = 0.5f * (g0 + g1 + g2);
                t[6 + j] = 0.5f * (g0 - g1 + g2);
                t[9 + j] = g2;
            }
            float *u = U + (size_t)co * Cin + ci;
            for (int i = 0; i < 4; i++) { /* (G g) G^T: 4x4 */
                float a0 = t[3 * i], a1 = t[3 * i + 1], a2 = t[3 * i + 2];
                u[(size_t)(4 * i + 0) * plane] = a0;
                u[(size_t)(4 * i + 1) * plane] = 0.5f * (a0 + a1 + a2);
                u[(size_t)(4 * i + 2) * plane] = 0.5f * (a0 - a1 + a2);
                u[(size_t)(4 * i + 3) * plane] = a2;
            }
        }
    }
}

/* Zero-padded copy of one sample [Cin][H][W] into pad [Cin][PH][PW] (tiles need no bounds checks). */
static void wino_pad(float *pad, const float *in, int Cin, int H, int W, int PH, int PW)
{
    size_t pplane = (size_t)PH * PW;
    memset(pad, 0, sizeof(float) * (size_t)Cin * pplane);
    for (int c = 0; c < Cin; c++) {
        const float *x = in + (size_t)c * H * W;
        float *pc = pad + (size_t)c * pplane;
        for (int y = 0; y < H; y++) memcpy(pc + (size_t)(y + 1) * PW + 1, x + (size_t)y * W, sizeof(float) * W);
    }
}

/* Input transform of tile rows [ty0, ty1): V[xi][c][t] = (B^T d B)[xi] for tile t of the block.
 * The loops run along whole tile rows with unit stride over tiles (so the compiler vectorises
 * them): B^T acts on the 4 input rows of a tile row at once, giving 4 combined rows split into
 * even and odd columns (E, O: 4 x (TW + 1) scratch); B then combines columns 2tx..2tx+3 = E[tx],
 * O[tx], E[tx+1], O[tx+1]. */
static void wino_input(float *V, const float *pad, float *const *E, float *const *O, int Cin, int ty0, int ty1,
                       int TW, int PW, size_t pplane)
{
    size_t T = (size_t)(ty1 - ty0) * TW, vplane = (size_t)Cin * T;
    for (int c = 0; c < Cin; c++) {
        const float *pc = pad + (size_t)c * pplane;
        for (int ty = ty0; ty < ty1; ty++) {
            const float *r0 = pc + (size_t)(2 * ty) * PW, *r1 = r0 + PW, *r2 = r1 + PW, *r3 = r2 + PW;
            /* B^T d over rows, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], deinterleaved */
            for (int k = 0; k <= TW; k++) {
                int e = 2 * k, o = 2 * k + 1;
                E[0][k] = r0[e] - r2[e];
                O[0][k] = r0[o] - r2[o];
                E[1][k] = r1[e] + r2[e];
                O[1][k] = r1[o] + r2[o];
                E[2][k] = r2[e] - r1[e];
                O[2][k] = r2[o] - r1[o];
                E[3][k] = r1[e] - r3[e];
                O[3][k] = r1[o] - r3[o];
            }
            /* (B^T d) B over columns: v[4i + j] for tile tx */
            float *v = V + (size_t)c * T + (size_t)(ty - ty0) * TW;
            for (int i = 0; i < 4; i++) {
                const float *Ei = E[i], *Oi = O[i];
                float *v0 = v + (size_t)(4 * i) * vplane, *v1 = v0 + vplane, *v2 = v1 + vplane, *v3 = v2 + vplane;
                for (int tx = 0; tx < TW; tx++) {
                    v0[tx] = Ei[tx] - Ei[tx + 1];
                    v1[tx] = Oi[tx] + Ei[tx + 1];
                    v2[tx] = Ei[tx + 1] - Oi[tx];
                    v3[tx] = Oi[tx] - Oi[tx + 1];
                }
            }
        }
    }
}

/* Weight gradient, one sample, accumulated in the Winograd domain: with Y = A^T [U .* V] A and
 * U = G g G^T, dU = sum over tiles of (A dY A^T) .* V and dg = G^T dU G (applied once at the end by
 * wino_filter_adjoint). dU [16][Cout][Cin] is at the start of scratch and accumulates. */
static void wino_dw(const float *in, const float *dout, float *scratch, int Cin, int Cout, int H, int W)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2, PW = 2 * TW + 2, PH = 2 * TH + 2;
    int rows = wino_block_rows(Cin, Cout, TH, TW);
    size_t Tb = (size_t)rows * TW, pplane = (size_t)PH * PW;
    float *dU = scratch;
    float *pad = scratch + 16 * (size_t)Cout * Cin;
    float *V = pad + (size_t)Cin * pplane;
    float *M = V + 16 * (size_t)Cin * Tb;
    float *tmp = M + 16 * (size_t)Cout * Tb;
    float *E[4], *O[4];
    for (int i = 0; i < 4; i++) {
        E[i] = tmp + (size_t)(2 * i) * (TW + 1);
        O[i] = tmp + (size_t)(2 * i + 1) * (TW + 1);
    }
    wino_pad(pad, in, Cin, H, W, PH, PW);
    for (int ty0 = 0; ty0 < TH; ty0 += rows) {
        int ty1 = ty0 + rows < TH ? ty0 + rows : TH;
        int T = (ty1 - ty0) * TW;
        size_t vplane = (size_t)Cin * T, mplane = (size_t)Cout * T;
        wino_input(V, pad, E, O, Cin, ty0, ty1, TW, PW, pplane);
        /* dM = A dY A^T per tile, A = [1 0; 1 1; 1 -1; 0 -1]; outputs outside the image are 0 */
        float *zero = tmp; /* E[0], O[0]: 2 TW + 2 >= W contiguous floats, free after wino_input */
        memset(zero, 0, sizeof(float) * (size_t)W);
        for (int k = 0; k < Cout; k++) {
            const float *g = dout + (size_t)k * H * W;
            for (int ty = ty0; ty < ty1; ty++) {
                int y = 2 * ty, xe = W / 2;
                const float *g0 = g + (size_t)y * W, *g1 = y + 1 < H ? g0 + W : zero;
                float *m = M + (size_t)k * T + (size_t)(ty - ty0) * TW;
                float *m0 = m, *m1 = m + mplane, *m2 = m + 2 * mplane, *m3 = m + 3 * mplane;
                float *m4 = m + 4 * mplane, *m5 = m + 5 * mplane, *m6 = m + 6 * mplane, *m7 = m + 7 * mplane;
                float *m8 = m + 8 * mplane, *m9 = m + 9 * mplane, *m10 = m + 10 * mplane, *m11 = m + 11 * mplane;
                float *m12 = m + 12 * mplane, *m13 = m + 13 * mplane, *m14 = m + 14 * mplane, *m15 = m + 15 * mplane;
                for (int tx = 0; tx <= xe && tx < TW; tx++) {
                    int x = 2 * tx, full = tx < xe; /* the last tile of an odd width has one column */
                    float a = g0[x], c = g1[x];
                    float b = full ? g0[x + 1] : 0.0f, d = full ? g1[x + 1] : 0.0f;
                    float p0 = a + c, q0 = b + d, p1 = a - c, q1 = b - d;
                    m0[tx] = a, m1[tx] = a + b, m2[tx] = a - b, m3[tx] = -b;
                    m4[tx] = p0, m5[tx] = p0 + q0, m6[tx] = p0 - q0, m7[tx] = -q0;
                    m8[tx] = p1, m9[tx] = p1 + q1, m10[tx] = p1 - q1, m11[tx] = -q1;
                    m12[tx] = -c, m13[tx] = -c - d, m14[tx] = d - c, m15[tx] = d;
                }
            }
        }
        /* dU[xi] (Cout x Cin) += dM[xi] (Cout x T) . V[xi]^T (T x Cin) */
        for (int xi = 0; xi < 16; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Cout, Cin, T, 1.0f, M + (size_t)xi * mplane, T,
                        V + (size_t)xi * vplane, T, 1.0f, dU + (size_t)xi * Cout * Cin, Cin);
    }
}

/* dw[co][ci] += G^T dU[.][co][ci] G, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] (the adjoint of
 * wino_filter with flip = 0). */
static void wino_filter_adjoint(float *dw, const float *dU, int Cin, int Cout)
{
    size_t plane = (size_t)Cout * Cin;
    for (int co = 0; co < Cout; co++) {
        for (int ci = 0; ci < Cin; ci++) {
            const float *u = dU + (size_t)co * Cin + ci;
            float e[16], t[12];
            for (int i = 0; i < 16; i++) e[i] = u[(size_t)i * plane];
            for (int j = 0; j < 4; j++) { /* t = G^T dU: 3x4 */
                float u0 = e[j], u1 = e[4 + j], u2 = e[8 + j], u3 = e[12 + j];
                t[j] = u0 + 0.5f * (u1 + u2);
                t[4 + j] = 0.5f * (u1 - u2);
                t[8 + j] = 0.5f * (u1 + u2) + u3;
            }
            float *g = dw + ((size_t)co * Cin + ci) * 9;
            for (int a = 0; a < 3; a++) { /* (G^T dU) G: 3x3 */
                float t0 = t[4 * a], t1 = t[4 * a + 1], t2 = t[4 * a + 2], t3 = t[4 * a + 3];
                g[3 * a + 0] += t0 + 0.5f * (t1 + t2);
                g[3 * a + 1] += 0.5f * (t1 - t2);
                g[3 * a + 2] += 0.5f * (t1 + t2) + t3;
            }
        }
    }
}

/* One sample: out[Cout][H][W] = (add ? out : bias) + conv(in[Cin][H][W]) with U prepared at the
 * start of scratch (wino_filter). */
static void wino_conv(float *out, const float *in, const float *bias, float *scratch, int Cin, int Cout, int H,
                      int W, int add)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2, PW = 2 * TW + 2, PH = 2 * TH + 2;
    int rows = wino_block_rows(Cin, Cout, TH, TW);
    size_t Tb = (size_t)rows * TW, pplane = (size_t)PH * PW;
    const float *U = scratch;
    float *pad = scratch + 16 * (size_t)Cout * Cin;
    float *V = pad + (size_t)Cin * pplane;
    float *M = V + 16 * (size_t)Cin * Tb;
    wino_pad(pad, in, Cin, H, W, PH, PW);
    /* input transform: wino_input; the output transform below runs along tile rows likewise */
    float *tmp = M + 16 * (size_t)Cout * Tb;
    float *E[4], *O[4];
    for (int i = 0; i < 4; i++) {
        E[i] = tmp + (size_t)(2 * i) * (TW + 1);
        O[i] = tmp + (size_t)(2 * i + 1) * (TW + 1);
    }
    float *Y0 = tmp + (size_t)8 * (TW + 1), *Y1 = Y0 + (TW + 1), *Y2 = Y1 + (TW + 1), *Y3 = Y2 + (TW + 1);
    for (int ty0 = 0; ty0 < TH; ty0 += rows) {
        int ty1 = ty0 + rows < TH ? ty0 + rows : TH;
        int T = (ty1 - ty0) * TW; /* tiles in this block */
        size_t vplane = (size_t)Cin * T, mplane = (size_t)Cout * T;
        wino_input(V, pad, E, O, Cin, ty0, ty1, TW, PW, pplane);
        for (int xi = 0; xi < 16; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Cout, T, Cin, 1.0f, U + (size_t)xi * Cout * Cin,
                        Cin, V + (size_t)xi * vplane, T, 0.0f, M + (size_t)xi * mplane, T);
        for (int k = 0; k < Cout; k++) {
            float *o = out + (size_t)k * H * W;
            float b = add ? 0.0f : bias[k];
            for (int ty = ty0; ty < ty1; ty++) {
                const float *m = M + (size_t)k * T + (size_t)(ty - ty0) * TW;
                /* A^T m A, A^T = [1 1 1 0; 0 1 -1 -1]: rows first (s), then columns (y) */
                for (int tx = 0; tx < TW; tx++) {
                    float s0[4], s1[4];
                    for (int j = 0; j < 4; j++) {
                        float e0 = m[(size_t)j * mplane + tx], e1 = m[(size_t)(4 + j) * mplane + tx];
                        float e2 = m[(size_t)(8 + j) * mplane + tx], e3 = m[(size_t)(12 + j) * mplane + tx];
                        s0[j] = e0 + e1 + e2;
                        s1[j] = e1 - e2 - e3;
                    }
                    Y0[tx] = s0[0] + s0[1] + s0[2];
                    Y1[tx] = s0[1] - s0[2] - s0[3];
                    Y2[tx] = s1[0] + s1[1] + s1[2];
                    Y3[tx] = s1[1] - s1[2] - s1[3];
                }
                int y = 2 * ty, two_y = y + 1 < H, xe = W / 2; /* tiles with both columns inside */
                float *p0 = o + (size_t)y * W, *p1 = p0 + W;
                if (add) {
                    for (int tx = 0; tx < xe; tx++) {
                        p0[2 * tx] += Y0[tx];
                        p0[2 * tx + 1] += Y1[tx];
                    }
                    if (W & 1) p0[W - 1] += Y0[xe];
                    if (two_y) {
                        for (int tx = 0; tx < xe; tx++) {
                            p1[2 * tx] += Y2[tx];
                            p1[2 * tx + 1] += Y3[tx];
                        }
                        if (W & 1) p1[W - 1] += Y2[xe];
                    }
                } else {
                    for (int tx = 0; tx < xe; tx++) {
                        p0[2 * tx] = b + Y0[tx];
                        p0[2 * tx + 1] = b + Y1[tx];
                    }
                    if (W & 1) p0[W - 1] = b + Y0[xe];
                    if (two_y) {
                        for (int tx = 0; tx < xe; tx++) {
                            p1[2 * tx] = b + Y2[tx];
                            p1[2 * tx + 1] = b + Y3[tx];
                        }
                        if (W & 1) p1[W - 1] = b + Y2[xe];
                    }
                }
            }
        }
    }
}

void nn_conv3_forward(float *out, const float *in, const float *w, const float *b, float *col, int B,
                      int C, int H, int W, int K)
{
    int HW = H * W, C9 = C * 9;
    if (use_wino(C, K)) {
        wino_filter(col, w, C, K, 0);
        for (int n = 0; n < B; n++) wino_conv(out + (size_t)n * K * HW, in + (size_t)n * C * HW, b, col, C, K, H, W, 0);
        return;
    }
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
    int HW = H * W, C9 = C * 9, wino = use_wino(C, K);
    for (int n = 0; n < B; n++) {
        const float *g = dout + (size_t)n * K * HW;
        for (int k = 0; k < K; k++) {
            const float *gk = g + (size_t)k * HW;
            float s = 0.0f;
            for (int i = 0; i < HW; i++) s += gk[i];
            db[k] += s;
        }
    }
    if (wino) {
        /* weight gradient in the Winograd domain, accumulated over the batch, then mapped back */
        memset(col, 0, sizeof(float) * 16 * (size_t)K * C);
        for (int n = 0; n < B; n++) wino_dw(in + (size_t)n * C * HW, dout + (size_t)n * K * HW, col, C, K, H, W);
        wino_filter_adjoint(dw, col, C, K);
        if (din) {
            /* The input gradient of a stride-1 same 3x3 convolution is the same convolution of dout
             * with the filters transposed (K <-> C) and rotated by 180 degrees. */
            wino_filter(col, w, K, C, 1);
            for (int n = 0; n < B; n++)
                wino_conv(din + (size_t)n * C * HW, dout + (size_t)n * K * HW, NULL, col, K, C, H, W, 1);
        }
        return;
    }
    for (int n = 0; n < B; n++) {
        const float *x = in + (size_t)n * C * HW;
        const float *g = dout + (size_t)n * K * HW;
        if (!din) {
            /* dw[K][C9] += g[K][rows] . col[C9][rows]^T, over chunks of output rows */
            int rows = dw_chunk_rows(C, H, W);
            for (int y0 = 0; y0 < H; y0 += rows) {
                int y1 = y0 + rows < H ? y0 + rows : H, nr = (y1 - y0) * W;
                im2col3_rows(col, x, C, H, W, y0, y1);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, C9, nr, 1.0f, g + (size_t)y0 * W, HW, col, nr,
                            1.0f, dw, C9);
            }
            continue;
        }
        /* the full columns serve the weight gradient, then (as dcol) the input gradient */
        im2col3(col, x, C, H, W);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, C9, HW, 1.0f, g, HW, col, HW, 1.0f, dw, C9);
        /* dcol[C9][HW] = w[K][C9]^T . g[K][HW], then scatter back (col reused as dcol). */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C9, HW, K, 1.0f, w, C9, g, HW, 0.0f, col, HW);
        col2im3_add(din + (size_t)n * C * HW, col, C, H, W);
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
            const float *r0 = x + (size_t)(2 * y) * W, *r1 = r0 + W;
            float *d0 = d + (size_t)(2 * y) * W, *d1 = d0 + W;
            const float *gy = g + (size_t)y * OW;
            for (int xx = 0; xx < OW; xx++) {
                /* the first maximum in row-major window order, as the forward comparison chain
                 * picks it; written branch-free (select masks) so the loop vectorises */
                float a = r0[2 * xx], b = r0[2 * xx + 1], c = r1[2 * xx], e = r1[2 * xx + 1];
                float m = a;
                int k = 0;
                k = b > m ? 1 : k;
                m = b > m ? b : m;
                k = c > m ? 2 : k;
                m = c > m ? c : m;
                k = e > m ? 3 : k;
                float gv = gy[xx];
                d0[2 * xx] += k == 0 ? gv : 0.0f;
                d0[2 * xx + 1] += k == 1 ? gv : 0.0f;
                d1[2 * xx] += k == 2 ? gv : 0.0f;
                d1[2 * xx + 1] += k == 3 ? gv : 0.0f;
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
    for (size_t i = 0; i < N; i++) din[i] += out[i] > 0.0f ? dout[i] : 0.0f; /* branch-free: vectorises */
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
