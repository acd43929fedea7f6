/* nn_layers.c — layer kernels: forward writes, backward adds into gradients (see nn.h).
 *
 * Key: B batch, C input channels, H height, W width, K filters, IN/OUT dense widths, N elements.
 * Convolution is Winograd F(2x2,3x3) (below) or im2col + SGEMM (Chellapilla et al. 2006, "High
 * performance convolutional neural networks for document processing"). Samples are spread over
 * threads (nn_internal.h), each with its own scratch; sums over the batch run in sample order.
 */
#include "hust19/nn.h"
#include "hust19/rng.h"
#include "nn/nn_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* The element-wise transforms are written as unit-stride loops; -O2's "very cheap" vectoriser
 * leaves loops of unknown length scalar, so this file asks for -O3's. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

/* The element-wise transforms, ReLU and pooling loops are also compiled for AVX2 (8 floats a
 * vector instead of SSE2's 4) and chosen at load time (GCC's target_clones, an ifunc). Only adds,
 * subtracts, compares and selects are vectorised and ISO C mode keeps -ffp-contract=off (and the
 * "avx2" target has no FMA), so the bits are those of the SSE2 code. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define NN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NN_CLONES
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
 * products (16 (Cin + Cout) floats per tile) stay near 2 MB per thread, in the L3 cache beside the
 * other threads' blocks, instead of streaming the whole sample's through memory (8 MB blocks were
 * ~1.3x slower in the weight gradient of the 32-channel 200x200 layer). The block size depends only
 * on the layer shape. */
static int wino_block_rows(int Cin, int Cout, int TH, int TW)
{
    long rows = (32768L / (Cin + Cout)) / TW;
    if (rows < 1) rows = 1;
    if (rows > TH) rows = TH;
    return (int)rows;
}

/* Stride between the 16 planes of V and M: the transforms read or write all 16 at once, and planes
 * a multiple of 4 KiB apart (often nearly so) fall into the same cache sets and evict each other;
 * rounding up to 1024 floats and adding 64 (256 bytes) spreads the 16 streams over the sets. */
static size_t wino_plane(size_t n) { return ((n + 1023) & ~(size_t)1023) + 64; }

/* One thread's Winograd scratch: padded input [Cin][PH][PW] | V [16][plane >= Cin Tb] |
 * M [16][plane >= Cout Tb] | row temporaries. */
static size_t wino_thread_floats(int Cin, int Cout, int H, int W)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2;
    size_t PH = 2 * (size_t)TH + 2, PW = 2 * (size_t)TW + 2;
    size_t Tb = (size_t)wino_block_rows(Cin, Cout, TH, TW) * TW;
    return (size_t)Cin * PH * PW + 16 * wino_plane((size_t)Cin * Tb) + 16 * wino_plane((size_t)Cout * Tb) +
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

/* The weight gradient is accumulated in DW_GROUPS partial sums (group g holds the samples
 * n = g mod DW_GROUPS, in order), added in group order at the end: the sum's order depends on the
 * batch only, never on the thread count, and up to DW_GROUPS threads share the work. */
#define DW_GROUPS 16

int nn_threads(void)
{
    int t = openblas_get_num_threads();
    return t < 1 ? 1 : t;
}

/* Inside the sample loops every thread calls SGEMM on its own sample, single-threaded; OpenBLAS's
 * own threads are switched off meanwhile (and its count restored after). */
static int blas_solo_begin(void)
{
    int t = openblas_get_num_threads();
    if (t > 1) openblas_set_num_threads(1);
    return t;
}

static void blas_solo_end(int t)
{
    if (t > 1) openblas_set_num_threads(t);
}

/* Scratch layout (floats): shared [16 K C] (U, or the reduced dU) | DW_GROUPS x [16 K C] partial
 * weight gradients | nt x per-thread (im2col columns or the Winograd buffers). */
static size_t conv_shared_floats(int C, int K) { return (1 + DW_GROUPS) * 16 * (size_t)K * C; }

static size_t conv_thread_floats(int C, int H, int W, int K)
{
    size_t n = (size_t)C * 9 * (size_t)H * (size_t)W; /* im2col (forward if thin, weight gradient) */
    if (use_wino(C, K)) {
        size_t a = wino_thread_floats(C, K, H, W), b = wino_thread_floats(K, C, H, W);
        if (a > n) n = a;
        if (b > n) n = b;
    }
    return n;
}

size_t nn_conv3_scratch_floats_t(int C, int H, int W, int K, int nt)
{
    return conv_shared_floats(C, K) + (size_t)(nt < 1 ? 1 : nt) * conv_thread_floats(C, H, W, K);
}

size_t nn_conv3_scratch_floats(int C, int H, int W, int K) { return nn_conv3_scratch_floats_t(C, H, W, K, nn_threads()); }

/* U[xi][co][ci] = (G g G^T)[xi] for g = w[co][ci] (flip = 0), or for the filter of the input
 * gradient, g[co=c][ci=k] = w[k][c] rotated by 180 degrees (flip = 1; Cout = C, Cin = K). */
static void wino_filter(float *U, const float *w, int Cin, int Cout, int flip, int co0, int co1)
{
    size_t plane = (size_t)Cout * Cin;
    for (int co = co0; co < co1; co++) {
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

/* The element-wise steps of the transforms, each a loop along one tile row with restrict pointers
 * (without them GCC cannot rule out aliasing between the scratch rows and the planes, and leaves
 * the loops scalar). */

/* B^T d over the 4 input rows of a tile row, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], split
 * into even (E) and odd (O) columns; n = TW + 1 column pairs. */
static inline __attribute__((always_inline)) void wino_in_rows(float *restrict E0, float *restrict O0, float *restrict E1, float *restrict O1,
                         float *restrict E2, float *restrict O2, float *restrict E3, float *restrict O3,
                         const float *restrict r0, const float *restrict r1, const float *restrict r2,
                         const float *restrict r3, int n)
{
    for (int k = 0; k < n; k++) {
        int e = 2 * k, o = 2 * k + 1;
        E0[k] = r0[e] - r2[e];
        O0[k] = r0[o] - r2[o];
        E1[k] = r1[e] + r2[e];
        O1[k] = r1[o] + r2[o];
        E2[k] = r2[e] - r1[e];
        O2[k] = r2[o] - r1[o];
        E3[k] = r1[e] - r3[e];
        O3[k] = r1[o] - r3[o];
    }
}

/* (B^T d) B over columns for row i of every tile: columns 2tx..2tx+3 are E[tx], O[tx], E[tx+1],
 * O[tx+1]; writes v[(4i + j) plane + tx]. */
static inline __attribute__((always_inline)) void wino_in_cols(float *restrict v, size_t vplane, const float *restrict Ei, const float *restrict Oi, int TW)
{
    float *v0 = v, *v1 = v + vplane, *v2 = v + 2 * vplane, *v3 = v + 3 * vplane;
    for (int tx = 0; tx < TW; tx++) {
        v0[tx] = Ei[tx] - Ei[tx + 1];
        v1[tx] = Oi[tx] + Ei[tx + 1];
        v2[tx] = Ei[tx + 1] - Oi[tx];
        v3[tx] = Oi[tx] - Oi[tx + 1];
    }
}

/* Input transform of tile rows [ty0, ty1): V[xi][c][t] = (B^T d B)[xi] for tile t of the block,
 * along whole tile rows with unit stride over tiles. */
NN_CLONES
static void wino_input(float *V, const float *pad, float *const *E, float *const *O, int Cin, int ty0, int ty1,
                       int TW, int PW, size_t pplane)
{
    size_t T = (size_t)(ty1 - ty0) * TW, vplane = wino_plane((size_t)Cin * T);
    for (int c = 0; c < Cin; c++) {
        const float *pc = pad + (size_t)c * pplane;
        for (int ty = ty0; ty < ty1; ty++) {
            const float *r0 = pc + (size_t)(2 * ty) * PW, *r1 = r0 + PW, *r2 = r1 + PW, *r3 = r2 + PW;
            wino_in_rows(E[0], O[0], E[1], O[1], E[2], O[2], E[3], O[3], r0, r1, r2, r3, TW + 1);
            float *v = V + (size_t)c * T + (size_t)(ty - ty0) * TW;
            for (int i = 0; i < 4; i++) wino_in_cols(v + (size_t)(4 * i) * vplane, vplane, E[i], O[i], TW);
        }
    }
}

/* dM = A dY A^T for the tiles of one tile row, A = [1 0; 1 1; 1 -1; 0 -1], from output rows g0, g1
 * (g1 a zero row below an odd height); the last tile of an odd width has one column. */
NN_CLONES
static void wino_dm_row(float *restrict m, size_t mp, const float *restrict g0, const float *restrict g1, int W,
                        int TW)
{
    int xe = W / 2; /* tiles with both columns inside */
    for (int tx = 0; tx < xe; tx++) {
        int x = 2 * tx;
        float a = g0[x], c = g1[x], b = g0[x + 1], d = g1[x + 1];
        float p0 = a + c, q0 = b + d, p1 = a - c, q1 = b - d;
        m[tx] = a, m[mp + tx] = a + b, m[2 * mp + tx] = a - b, m[3 * mp + tx] = -b;
        m[4 * mp + tx] = p0, m[5 * mp + tx] = p0 + q0, m[6 * mp + tx] = p0 - q0, m[7 * mp + tx] = -q0;
        m[8 * mp + tx] = p1, m[9 * mp + tx] = p1 + q1, m[10 * mp + tx] = p1 - q1, m[11 * mp + tx] = -q1;
        m[12 * mp + tx] = -c, m[13 * mp + tx] = -c - d, m[14 * mp + tx] = d - c, m[15 * mp + tx] = d;
    }
    if (xe < TW) {
        int tx = xe, x = 2 * tx;
        float a = g0[x], c = g1[x], b = 0.0f, d = 0.0f;
        float p0 = a + c, q0 = b + d, p1 = a - c, q1 = b - d;
        m[tx] = a, m[mp + tx] = a + b, m[2 * mp + tx] = a - b, m[3 * mp + tx] = -b;
        m[4 * mp + tx] = p0, m[5 * mp + tx] = p0 + q0, m[6 * mp + tx] = p0 - q0, m[7 * mp + tx] = -q0;
        m[8 * mp + tx] = p1, m[9 * mp + tx] = p1 + q1, m[10 * mp + tx] = p1 - q1, m[11 * mp + tx] = -q1;
        m[12 * mp + tx] = -c, m[13 * mp + tx] = -c - d, m[14 * mp + tx] = d - c, m[15 * mp + tx] = d;
    }
}

/* A^T m A for the tiles of one tile row, A^T = [1 1 1 0; 0 1 -1 -1]: rows first (s), then columns:
 * Y0, Y1 the two pixels of the tile's top row, Y2, Y3 of its bottom row. */
NN_CLONES
static void wino_out_row(float *restrict Y0, float *restrict Y1, float *restrict Y2, float *restrict Y3,
                         const float *restrict m, size_t mp, int TW)
{
    for (int tx = 0; tx < TW; tx++) {
        float s0[4], s1[4];
        for (int j = 0; j < 4; j++) {
            float e0 = m[(size_t)j * mp + tx], e1 = m[(size_t)(4 + j) * mp + tx];
            float e2 = m[(size_t)(8 + j) * mp + tx], e3 = m[(size_t)(12 + j) * mp + tx];
            s0[j] = e0 + e1 + e2;
            s1[j] = e1 - e2 - e3;
        }
        Y0[tx] = s0[0] + s0[1] + s0[2];
        Y1[tx] = s0[1] - s0[2] - s0[3];
        Y2[tx] = s1[0] + s1[1] + s1[2];
        Y3[tx] = s1[1] - s1[2] - s1[3];
    }
}

/* One output row p from the tiles' pixel pairs (Ya, Yb): p = b + Y (add = 0) or p += Y. */
NN_CLONES
static void wino_out_store(float *restrict p, const float *restrict Ya, const float *restrict Yb, float b, int W,
                           int add)
{
    int xe = W / 2;
    if (add) {
        for (int tx = 0; tx < xe; tx++) {
            p[2 * tx] += Ya[tx];
            p[2 * tx + 1] += Yb[tx];
        }
        if (W & 1) p[W - 1] += Ya[xe];
    } else {
        for (int tx = 0; tx < xe; tx++) {
            p[2 * tx] = b + Ya[tx];
            p[2 * tx + 1] = b + Yb[tx];
        }
        if (W & 1) p[W - 1] = b + Ya[xe];
    }
}

/* Weight gradient, one sample, accumulated in the Winograd domain: with Y = A^T [U .* V] A and
 * U = G g G^T, dU = sum over tiles of (A dY A^T) .* V and dg = G^T dU G (applied once at the end by
 * wino_filter_adjoint). dU [16][Cout][Cin] accumulates; ts is one thread's scratch. */
static void wino_dw(const float *in, const float *dout, float *dU, float *ts, int Cin, int Cout, int H, int W)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2, PW = 2 * TW + 2, PH = 2 * TH + 2;
    int rows = wino_block_rows(Cin, Cout, TH, TW);
    size_t Tb = (size_t)rows * TW, pplane = (size_t)PH * PW;
    float *pad = ts;
    float *V = pad + (size_t)Cin * pplane;
    float *M = V + 16 * wino_plane((size_t)Cin * Tb);
    float *tmp = M + 16 * wino_plane((size_t)Cout * Tb);
    float *E[4], *O[4];
    for (int i = 0; i < 4; i++) {
        E[i] = tmp + (size_t)(2 * i) * (TW + 1);
        O[i] = tmp + (size_t)(2 * i + 1) * (TW + 1);
    }
    wino_pad(pad, in, Cin, H, W, PH, PW);
    for (int ty0 = 0; ty0 < TH; ty0 += rows) {
        int ty1 = ty0 + rows < TH ? ty0 + rows : TH;
        int T = (ty1 - ty0) * TW;
        size_t vplane = wino_plane((size_t)Cin * T), mplane = wino_plane((size_t)Cout * T);
        wino_input(V, pad, E, O, Cin, ty0, ty1, TW, PW, pplane);
        /* dM = A dY A^T per tile, A = [1 0; 1 1; 1 -1; 0 -1]; outputs outside the image are 0 */
        float *zero = tmp; /* E[0], O[0]: 2 TW + 2 >= W contiguous floats, free after wino_input */
        memset(zero, 0, sizeof(float) * (size_t)W);
        for (int k = 0; k < Cout; k++) {
            const float *g = dout + (size_t)k * H * W;
            for (int ty = ty0; ty < ty1; ty++) {
                int y = 2 * ty;
                const float *g0 = g + (size_t)y * W, *g1 = y + 1 < H ? g0 + W : zero;
                wino_dm_row(M + (size_t)k * T + (size_t)(ty - ty0) * TW, mplane, g0, g1, W, TW);
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
static void wino_filter_adjoint(float *dw, const float *dU, int Cin, int Cout, int co0, int co1)
{
    size_t plane = (size_t)Cout * Cin;
    for (int co = co0; co < co1; co++) {
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

/* M[xi] (Cout x T) = U[xi] (Cout x Cin) . V[xi] (Cin x T) for the 16 xi. M is cleared with memset and
 * the SGEMM adds into it (beta 1): OpenBLAS 0.3.21's beta = 0 clears C in a separate slow pass
 * (sgemm_beta, 25-50% of these SGEMMs' time, measured on the 32 x 512 x 32 blocks of the slice
 * CNN's second layer); it too clears C and then adds, so the bits are the same. */
static void wino_gemm16(float *M, size_t mplane, const float *U, const float *V, size_t vplane, int Cin, int Cout,
                        int T)
{
    for (int xi = 0; xi < 16; xi++) {
        float *m = M + (size_t)xi * mplane;
        memset(m, 0, sizeof(float) * (size_t)Cout * T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Cout, T, Cin, 1.0f, U + (size_t)xi * Cout * Cin, Cin,
                    V + (size_t)xi * vplane, T, 1.0f, m, T);
    }
}

/* relu as the network's in-place ReLU writes it (job_relu mode 3): -0 and NaN become +0 */
static inline float relu1(float v) { return v > 0.0f ? v : 0.0f; }

/* The maximum of one 2x2 window (a, b | c, d), compared in the row-major order of job_pool_fwd,
 * with the ReLU before the pooling (rpre) and/or after it (rpost) fused: the bits of separate passes. */
static inline float pool4(float a, float b, float c, float d, int rpre, int rpost)
{
    if (rpre) {
        a = relu1(a);
        b = relu1(b);
        c = relu1(c);
        d = relu1(d);
    }
    float m = a;
    m = b > m ? b : m;
    m = c > m ? c : m;
    m = d > m ? d : m;
    return rpost ? relu1(m) : m;
}

/* One output row of a Winograd tile row, p = b + Y (then ReLU): wino_out_store's expression. */
NN_CLONES
static void wino_map_row(float *restrict p, const float *restrict Ya, const float *restrict Yb, float b, int W,
                         int relu)
{
    int xe = W / 2;
    if (relu) {
        for (int tx = 0; tx < xe; tx++) {
            p[2 * tx] = relu1(b + Ya[tx]);
            p[2 * tx + 1] = relu1(b + Yb[tx]);
        }
        if (W & 1) p[W - 1] = relu1(b + Ya[xe]);
    } else {
        for (int tx = 0; tx < xe; tx++) {
            p[2 * tx] = b + Ya[tx];
            p[2 * tx + 1] = b + Yb[tx];
        }
        if (W & 1) p[W - 1] = b + Ya[xe];
    }
}

/* One pooled row from a tile row: the 2x2 window of tile tx is (Y0, Y1 | Y2, Y3), in the row-major
 * order in which job_pool_fwd compares r0[2x], r0[2x+1], r1[2x], r1[2x+1]; each value is b + Y as
 * stored, ReLU'd first if a ReLU sits between the convolution and the pooling (rpre), the maximum
 * ReLU'd if one follows the pooling (rpost): the bits of the three separate passes. */
NN_CLONES
static void wino_map_pool(float *restrict q, const float *restrict Y0, const float *restrict Y1,
                          const float *restrict Y2, const float *restrict Y3, float b, int OW, int rpre, int rpost)
{
    for (int tx = 0; tx < OW; tx++) q[tx] = pool4(b + Y0[tx], b + Y1[tx], b + Y2[tx], b + Y3[tx], rpre, rpost);
}

/* One sample: out[Cout][H][W] = (add ? out : bias) + conv(in[Cin][H][W]) with U from wino_filter
 * (bias NULL: 0); ts is one thread's scratch. Without add, relu = 1 stores ReLU(bias + conv) (the
 * ReLU layer after it fused). */
static void wino_conv(float *out, const float *in, const float *bias, const float *U, float *ts, int Cin, int Cout,
                      int H, int W, int add, int relu)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2, PW = 2 * TW + 2, PH = 2 * TH + 2;
    int rows = wino_block_rows(Cin, Cout, TH, TW);
    size_t Tb = (size_t)rows * TW, pplane = (size_t)PH * PW;
    float *pad = ts;
    float *V = pad + (size_t)Cin * pplane;
    float *M = V + 16 * wino_plane((size_t)Cin * Tb);
    wino_pad(pad, in, Cin, H, W, PH, PW);
    /* input transform: wino_input; the output transform below runs along tile rows likewise */
    float *tmp = M + 16 * wino_plane((size_t)Cout * Tb);
    float *E[4], *O[4];
    for (int i = 0; i < 4; i++) {
        E[i] = tmp + (size_t)(2 * i) * (TW + 1);
        O[i] = tmp + (size_t)(2 * i + 1) * (TW + 1);
    }
    float *Y0 = tmp + (size_t)8 * (TW + 1), *Y1 = Y0 + (TW + 1), *Y2 = Y1 + (TW + 1), *Y3 = Y2 + (TW + 1);
    for (int ty0 = 0; ty0 < TH; ty0 += rows) {
        int ty1 = ty0 + rows < TH ? ty0 + rows : TH;
        int T = (ty1 - ty0) * TW; /* tiles in this block */
        size_t vplane = wino_plane((size_t)Cin * T), mplane = wino_plane((size_t)Cout * T);
        wino_input(V, pad, E, O, Cin, ty0, ty1, TW, PW, pplane);
        wino_gemm16(M, mplane, U, V, vplane, Cin, Cout, T);
        for (int k = 0; k < Cout; k++) {
            float *o = out + (size_t)k * H * W;
            float b = add || !bias ? 0.0f : bias[k];
            for (int ty = ty0; ty < ty1; ty++) {
                wino_out_row(Y0, Y1, Y2, Y3, M + (size_t)k * T + (size_t)(ty - ty0) * TW, mplane, TW);
                int y = 2 * ty;
                float *p0 = o + (size_t)y * W;
                if (add) {
                    wino_out_store(p0, Y0, Y1, b, W, 1);
                    if (y + 1 < H) wino_out_store(p0 + W, Y2, Y3, b, W, 1);
                } else {
                    wino_map_row(p0, Y0, Y1, b, W, relu);
                    if (y + 1 < H) wino_map_row(p0 + W, Y2, Y3, b, W, relu);
                }
            }
        }
    }
}

/* ---- per-sample convolution for inference (nn_infer.c) --------------------------------------- */

int nn_conv3_is_wino(int C, int K) { return use_wino(C, K); }

void nn_wino_pad_dims(int H, int W, int *PH, int *PW)
{
    *PH = 2 * ((H + 1) / 2) + 2;
    *PW = 2 * ((W + 1) / 2) + 2;
}

size_t nn_wino_filter_floats(int C, int K) { return 16 * (size_t)K * C; }

void nn_wino_sizes(int C, int H, int W, int K, size_t *v, size_t *m, size_t *tmp)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2;
    size_t Tb = (size_t)wino_block_rows(C, K, TH, TW) * TW;
    *v = 16 * wino_plane((size_t)C * Tb);
    *m = 16 * wino_plane((size_t)K * Tb);
    *tmp = WINO_TMP_ROWS * ((size_t)TW + 1);
}


typedef struct {
    float *U;
    const float *w;
    int C, K;
} filt_job;

static void job_filt(void *p, long lo, long hi, int part)
{
    filt_job *j = p;
    (void)part;
    wino_filter(j->U, j->w, j->C, j->K, 0, (int)lo, (int)hi);
}

void nn_wino_filter_t(float *U, const float *w, int C, int K, int nt)
{
    filt_job j = {U, w, C, K};
    nn_par(nt, K, job_filt, &j);
}

/* wino_conv with the input already padded ([C][PH][PW], zero outside the image) and the output
 * written through dst with the ReLU / pooling that follow fused in (nn_internal.h). The blocks, the
 * transforms and the 16 SGEMMs are wino_conv's, call for call (OpenBLAS's sums depend on the GEMM
 * shape, so the shapes must stay), hence the same bits as wino_conv followed by the separate
 * ReLU and pooling passes. */
void nn_wino_conv_map(const nn_map *dst, const float *pad, const float *U, const float *bias, float *V, float *M,
                      float *tmp, int Cin, int Cout, int H, int W, nn_post post)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2, PW = 2 * TW + 2, PH = 2 * TH + 2;
    int rows = wino_block_rows(Cin, Cout, TH, TW);
    size_t pplane = (size_t)PH * PW;
    float *E[4], *O[4];
    for (int i = 0; i < 4; i++) {
        E[i] = tmp + (size_t)(2 * i) * (TW + 1);
        O[i] = tmp + (size_t)(2 * i + 1) * (TW + 1);
    }
    float *Y0 = tmp + (size_t)8 * (TW + 1), *Y1 = Y0 + (TW + 1), *Y2 = Y1 + (TW + 1), *Y3 = Y2 + (TW + 1);
    int relu = post.relu_pre || post.relu_post, OH = H / 2, OW = W / 2;
    for (int ty0 = 0; ty0 < TH; ty0 += rows) {
        int ty1 = ty0 + rows < TH ? ty0 + rows : TH;
        int T = (ty1 - ty0) * TW;
        size_t vplane = wino_plane((size_t)Cin * T), mplane = wino_plane((size_t)Cout * T);
        wino_input(V, pad, E, O, Cin, ty0, ty1, TW, PW, pplane);
        wino_gemm16(M, mplane, U, V, vplane, Cin, Cout, T);
        for (int k = 0; k < Cout; k++) {
            float *o = dst->p + (size_t)k * dst->cs;
            float b = bias[k];
            for (int ty = ty0; ty < ty1; ty++) {
                if (post.pool && ty >= OH) continue; /* the row an odd height leaves outside every window */
                wino_out_row(Y0, Y1, Y2, Y3, M + (size_t)k * T + (size_t)(ty - ty0) * TW, mplane, TW);
                int y = 2 * ty;
                if (post.pool) {
                    wino_map_pool(o + (size_t)ty * dst->ys, Y0, Y1, Y2, Y3, b, OW, post.relu_pre, post.relu_post);
                } else {
                    wino_map_row(o + (size_t)y * dst->ys, Y0, Y1, b, W, relu);
                    if (y + 1 < H) wino_map_row(o + (size_t)(y + 1) * dst->ys, Y2, Y3, b, W, relu);
                }
            }
        }
    }
}

/* One sample of job_forward's im2col path: out[K][H][W] = b + w . im2col(in) (the same SGEMM). */
void nn_conv3_im2col_sample(float *out, const float *in, const float *w, const float *b, float *col, int C, int H,
                            int W, int K)
{
    int HW = H * W, C9 = C * 9;
    for (int k = 0; k < K; k++) {
        float bk = b[k];
        float *ok = out + (size_t)k * HW;
        for (int i = 0; i < HW; i++) ok[i] = bk;
    }
    im2col3(col, in, C, H, W);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, HW, C9, 1.0f, w, C9, col, HW, 1.0f, out, HW);
}

/* ReLU / pooling of one plain sample src[C][H][W] into dst (the separate passes' bits). */
NN_CLONES
void nn_post_map(const nn_map *dst, const float *src, int C, int H, int W, nn_post post)
{
    int relu = post.relu_pre || post.relu_post, OH = H / 2, OW = W / 2;
    for (int c = 0; c < C; c++) {
        const float *x = src + (size_t)c * H * W;
        float *o = dst->p + (size_t)c * dst->cs;
        if (!post.pool) {
            for (int y = 0; y < H; y++) {
                const float *restrict s = x + (size_t)y * W;
                float *restrict d = o + (size_t)y * dst->ys;
                if (relu)
                    for (int i = 0; i < W; i++) d[i] = relu1(s[i]);
                else
                    memcpy(d, s, sizeof(float) * (size_t)W);
            }
            continue;
        }
        for (int y = 0; y < OH; y++) {
            const float *restrict r0 = x + (size_t)(2 * y) * W, *restrict r1 = r0 + W;
            float *restrict q = o + (size_t)y * dst->ys;
            for (int xx = 0; xx < OW; xx++)
                q[xx] = pool4(r0[2 * xx], r0[2 * xx + 1], r1[2 * xx], r1[2 * xx + 1], post.relu_pre, post.relu_post);
        }
    }
}

/* A convolution call's arguments, shared by the parts of its parallel loops (nn_par). Each loop
 * gives its parts disjoint outputs: samples, filters, weight-gradient groups or elements. */
typedef struct {
    float *out, *din, *dw, *db, *col, *thr, *grp;
    const float *in, *w, *b, *dout;
    size_t per, gsz, ne;
    int B, C, H, W, K, ng, wino, din_write, flip, fC, fK; /* fC, fK: the filter transform's Cin, Cout */
    int relu; /* forward: ReLU fused into the output; backward: the ReLU backward of the input fused into din */
} conv_job;

/* the ReLU layer's pass (job_relu mode 3) on one sample, while its output is still in cache */
NN_CLONES
static void relu_sample(float *restrict d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = relu1(d[i]);
}

/* the ReLU backward (job_relu mode 2) on one sample's input gradient g, x the ReLU's output */
NN_CLONES
static void relu_mask_sample(float *restrict g, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++) g[i] = x[i] > 0.0f ? g[i] + 0.0f : 0.0f;
}

static void job_filter(void *p, long lo, long hi, int part)
{
    conv_job *j = p;
    (void)part;
    wino_filter(j->col, j->w, j->fC, j->fK, j->flip, (int)lo, (int)hi);
}

static void job_filter_adjoint(void *p, long lo, long hi, int part)
{
    conv_job *j = p;
    (void)part;
    wino_filter_adjoint(j->dw, j->col, j->C, j->K, (int)lo, (int)hi);
}

static void job_forward(void *p, long lo, long hi, int part)
{
    conv_job *j = p;
    int C = j->C, H = j->H, W = j->W, K = j->K, HW = H * W, C9 = C * 9;
    float *ts = j->thr + (size_t)part * j->per;
    for (long n = lo; n < hi; n++) {
        const float *x = j->in + (size_t)n * C * HW;
        float *o = j->out + (size_t)n * K * HW;
        if (j->wino) {
            wino_conv(o, x, j->b, j->col, ts, C, K, H, W, 0, j->relu);
            continue;
        }
        for (int k = 0; k < K; k++) {
            float bk = j->b[k];
            float *ok = o + (size_t)k * HW;
            for (int i = 0; i < HW; i++) ok[i] = bk;
        }
        im2col3(ts, x, C, H, W);
        /* o[K][HW] += w[K][C9] . col[C9][HW] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, HW, C9, 1.0f, j->w, C9, ts, HW, 1.0f, o, HW);
        if (j->relu) relu_sample(o, (size_t)K * HW);
    }
}

void nn_conv3_forward_t(float *out, const float *in, const float *w, const float *b, float *col, int B, int C,
                        int H, int W, int K, int nt)
{
    nn_conv3_forward_ex(out, in, w, b, col, B, C, H, W, K, 0, nt);
}

void nn_conv3_forward_ex(float *out, const float *in, const float *w, const float *b, float *col, int B, int C,
                         int H, int W, int K, int relu, int nt)
{
    conv_job j = {.out = out, .in = in, .w = w, .b = b, .col = col, .thr = col + conv_shared_floats(C, K),
                  .per = conv_thread_floats(C, H, W, K), .B = B, .C = C, .H = H, .W = W, .K = K,
                  .wino = use_wino(C, K), .flip = 0, .fC = C, .fK = K, .relu = relu};
    int bt = blas_solo_begin();
    if (j.wino) nn_par(nt, K, job_filter, &j);
    nn_par(nt, B, job_forward, &j);
    blas_solo_end(bt);
}

void nn_conv3_forward(float *out, const float *in, const float *w, const float *b, float *col, int B, int C, int H,
                      int W, int K)
{
    nn_conv3_forward_t(out, in, w, b, col, B, C, H, W, K, nn_threads());
}

/* bias gradient: per filter, samples in order */
static void job_db(void *p, long lo, long hi, int part)
{
    conv_job *j = p;
    size_t HW = (size_t)j->H * j->W;
    (void)part;
    for (long k = lo; k < hi; k++) {
        for (int n = 0; n < j->B; n++) {
            const float *gk = j->dout + ((size_t)n * j->K + k) * HW;
            float s = 0.0f;
            for (size_t i = 0; i < HW; i++) s += gk[i];
            j->db[k] += s;
        }
    }
}

/* weight gradient: group g accumulates samples g, g + DW_GROUPS, ... (Winograd domain dU, or dw);
 * the im2col path also does the input gradient of its samples (each sample's din is disjoint) */
static void job_dw(void *p, long lo, long hi, int part)
{
    conv_job *j = p;
    int C = j->C, H = j->H, W = j->W, K = j->K, HW = H * W, C9 = C * 9;
    float *ts = j->thr + (size_t)part * j->per;
    for (long g = lo; g < hi; g++) {
        float *acc = j->grp + (size_t)g * j->gsz;
        memset(acc, 0, sizeof(float) * j->ne);
        for (int n = (int)g; n < j->B; n += DW_GROUPS) {
            const float *x = j->in + (size_t)n * C * HW, *gr = j->dout + (size_t)n * K * HW;
            if (j->wino) {
                wino_dw(x, gr, acc, ts, C, K, H, W);
            } else if (!j->din) {
                /* dw[K][C9] += g[K][rows] . col[C9][rows]^T, over chunks of output rows */
                int rows = dw_chunk_rows(C, H, W);
                for (int y0 = 0; y0 < H; y0 += rows) {
                    int y1 = y0 + rows < H ? y0 + rows : H, nr = (y1 - y0) * W;
                    im2col3_rows(ts, x, C, H, W, y0, y1);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, C9, nr, 1.0f, gr + (size_t)y0 * W, HW, ts,
                                nr, 1.0f, acc, C9);
                }
            } else {
                /* the full columns serve the weight gradient, then (as dcol) the input gradient */
                im2col3(ts, x, C, H, W);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, C9, HW, 1.0f, gr, HW, ts, HW, 1.0f, acc, C9);
                /* dcol[C9][HW] = w[K][C9]^T . g[K][HW], then scatter back (col reused as dcol). */
                memset(ts, 0, sizeof(float) * (size_t)C9 * HW); /* beta 1 on zeros: wino_gemm16 */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C9, HW, K, 1.0f, j->w, C9, gr, HW, 1.0f, ts, HW);
                float *dn = j->din + (size_t)n * C * HW;
                if (j->din_write) memset(dn, 0, sizeof(float) * (size_t)C * HW);
                col2im3_add(dn, ts, C, H, W);
                if (j->relu) relu_mask_sample(dn, x, (size_t)C * HW);
            }
        }
    }
}

/* the groups' sum in group order, per element: into the shared dU (Winograd) or added to dw */
static void job_reduce(void *p, long lo, long hi, int part)
{
    conv_job *j = p;
    (void)part;
    float *red = j->wino ? j->col : j->dw;
    for (long e = lo; e < hi; e++) {
        float s = j->grp[e];
        for (int g = 1; g < j->ng; g++) s += j->grp[(size_t)g * j->gsz + e];
        red[e] = j->wino ? s : red[e] + s;
    }
}

/* Winograd input gradient: the convolution of dout with the transposed, rotated filters */
static void job_din(void *p, long lo, long hi, int part)
{
    conv_job *j = p;
    size_t HW = (size_t)j->H * j->W;
    float *ts = j->thr + (size_t)part * j->per;
    for (long n = lo; n < hi; n++) {
        float *dn = j->din + (size_t)n * j->C * HW;
        wino_conv(dn, j->dout + (size_t)n * j->K * HW, NULL, j->col, ts, j->K, j->C, j->H, j->W, !j->din_write, 0);
        /* the ReLU backward of the input, on this sample while its gradient is in cache */
        if (j->relu) relu_mask_sample(dn, j->in + (size_t)n * j->C * HW, (size_t)j->C * HW);
    }
}

void nn_conv3_backward_t(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                         float *col, int B, int C, int H, int W, int K, int din_write, int nt)
{
    nn_conv3_backward_ex(din, dw, db, dout, in, w, col, B, C, H, W, K, din_write, 0, nt);
}

void nn_conv3_backward_ex(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                          float *col, int B, int C, int H, int W, int K, int din_write, int relu_mask, int nt)
{
    int wino = use_wino(C, K);
    size_t gsz = 16 * (size_t)K * C;
    conv_job j = {.din = din, .dw = dw, .db = db, .dout = dout, .in = in, .w = w, .col = col, .grp = col + gsz,
                  .thr = col + conv_shared_floats(C, K), .per = conv_thread_floats(C, H, W, K), .gsz = gsz,
                  .ne = wino ? gsz : (size_t)K * C * 9, .B = B, .C = C, .H = H, .W = W, .K = K,
                  .ng = B < DW_GROUPS ? B : DW_GROUPS, .wino = wino, .din_write = din_write,
                  .relu = relu_mask && din_write};
    int bt = blas_solo_begin();
    nn_par(nt, K, job_db, &j);
    nn_par(nt, j.ng, job_dw, &j);
    nn_par(nt, (long)j.ne, job_reduce, &j);
    if (wino) {
        nn_par(nt, K, job_filter_adjoint, &j);
        if (din) {
            /* The input gradient of a stride-1 same 3x3 convolution is the same convolution of dout
             * with the filters transposed (K <-> C) and rotated by 180 degrees. */
            j.flip = 1;
            j.fC = K;
            j.fK = C;
            nn_par(nt, C, job_filter, &j);
            nn_par(nt, B, job_din, &j);
        }
    }
    blas_solo_end(bt);
}

void nn_conv3_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                       float *col, int B, int C, int H, int W, int K)
{
    nn_conv3_backward_t(din, dw, db, dout, in, w, col, B, C, H, W, K, 0, nn_threads());
}

/* ---- pooling ---------------------------------------------------------------------------------- */

typedef struct {
    float *out;
    const float *in, *dout;
    int C, H, W, write, relu; /* relu: the ReLU backward of the input fused (write only) */
} pool_job;

NN_CLONES
static void job_pool_fwd(void *p, long lo, long hi, int part)
{
    pool_job *j = p;
    int H = j->H, W = j->W, OH = H / 2, OW = W / 2;
    (void)part;
    for (long bc = lo; bc < hi; bc++) {
        const float *x = j->in + (size_t)bc * H * W;
        float *o = j->out + (size_t)bc * OH * OW;
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

/* threads for an element-wise pass over n floats */
static int ew_threads(size_t n) { return n >= NN_PAR_MIN ? nn_threads() : 1; }

void nn_maxpool2_forward(float *out, const float *in, int B, int C, int H, int W)
{
    pool_job j = {.out = out, .in = in, .C = C, .H = H, .W = W};
    nn_par(ew_threads((size_t)B * C * H * W), (long)B * C, job_pool_fwd, &j);
}

/* write = 0: din += routed gradient; write = 1: din = routed gradient + 0.0f, and 0 in the row and
 * column an odd size leaves outside every window. */
NN_CLONES
static void job_pool_bwd(void *p, long lo, long hi, int part)
{
    pool_job *j = p;
    int H = j->H, W = j->W, OH = H / 2, OW = W / 2, write = j->write, relu = j->relu;
    (void)part;
    for (long bc = lo; bc < hi; bc++) {
        const float *x = j->in + (size_t)bc * H * W;
        float *d = j->out + (size_t)bc * H * W;
        const float *g = j->dout + (size_t)bc * OH * OW;
        if (write) {
            if (H & 1) memset(d + (size_t)(H - 1) * W, 0, sizeof(float) * (size_t)W);
            if (W & 1)
                for (int y = 0; y < 2 * OH; y++) d[(size_t)y * W + W - 1] = 0.0f;
        }
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
                float v0 = k == 0 ? gv : 0.0f, v1 = k == 1 ? gv : 0.0f, v2 = k == 2 ? gv : 0.0f, v3 = k == 3 ? gv : 0.0f;
                if (write && relu) { /* x > 0 ? (v + 0) + 0 : 0, and (v + 0) + 0 is v + 0 */
                    d0[2 * xx] = a > 0.0f ? v0 + 0.0f : 0.0f;
                    d0[2 * xx + 1] = b > 0.0f ? v1 + 0.0f : 0.0f;
                    d1[2 * xx] = c > 0.0f ? v2 + 0.0f : 0.0f;
                    d1[2 * xx + 1] = e > 0.0f ? v3 + 0.0f : 0.0f;
                } else if (write) {
                    d0[2 * xx] = v0 + 0.0f;
                    d0[2 * xx + 1] = v1 + 0.0f;
                    d1[2 * xx] = v2 + 0.0f;
                    d1[2 * xx + 1] = v3 + 0.0f;
                } else {
                    d0[2 * xx] += v0;
                    d0[2 * xx + 1] += v1;
                    d1[2 * xx] += v2;
                    d1[2 * xx + 1] += v3;
                }
            }
        }
    }
}

static void maxpool2_backward(float *din, const float *dout, const float *in, int B, int C, int H, int W, int write,
                              int relu)
{
    pool_job j = {.out = din, .in = in, .dout = dout, .C = C, .H = H, .W = W, .write = write, .relu = relu};
    nn_par(ew_threads((size_t)B * C * H * W), (long)B * C, job_pool_bwd, &j);
}

void nn_maxpool2_backward(float *din, const float *dout, const float *in, int B, int C, int H, int W)
{
    maxpool2_backward(din, dout, in, B, C, H, W, 0, 0);
}

void nn_maxpool2_backward_write(float *din, const float *dout, const float *in, int B, int C, int H, int W)
{
    maxpool2_backward(din, dout, in, B, C, H, W, 1, 0);
}

void nn_maxpool2_backward_write_relu(float *din, const float *dout, const float *in, int B, int C, int H, int W)
{
    maxpool2_backward(din, dout, in, B, C, H, W, 1, 1);
}

/* ---- global average pooling ----------------------------------------------------------------------- */

void nn_gap_forward(float *out, const float *in, int B, int C, int HW)
{
    const double inv = 1.0 / (double)HW;
    for (long r = 0; r < (long)B * C; r++) {
        const float *x = in + (size_t)r * (size_t)HW;
        double sum = 0.0;
        for (int i = 0; i < HW; i++) sum += x[i];
        out[r] = (float)(sum * inv);
    }
}

void nn_gap_backward_write(float *din, const float *dout, int B, int C, int HW)
{
    const float inv = 1.0f / (float)HW;
    for (long r = 0; r < (long)B * C; r++) {
        float g = dout[r] * inv, *d = din + (size_t)r * (size_t)HW;
        for (int i = 0; i < HW; i++) d[i] = g;
    }
}

/* ---- global max pooling --------------------------------------------------------------------------- */

static int first_max(const float *x, int n)
{
    int a = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[a]) a = i;
    return a;
}

void nn_gmp_forward(float *out, const float *in, int B, int C, int HW)
{
    for (long r = 0; r < (long)B * C; r++) {
        const float *x = in + (size_t)r * (size_t)HW;
        out[r] = x[first_max(x, HW)];
    }
}

void nn_gmp_backward_write(float *din, const float *dout, const float *in, int B, int C, int HW)
{
    for (long r = 0; r < (long)B * C; r++) {
        float *d = din + (size_t)r * (size_t)HW;
        memset(d, 0, sizeof(float) * (size_t)HW);
        d[first_max(in + (size_t)r * (size_t)HW, HW)] = dout[r];
    }
}

/* ---- dense ------------------------------------------------------------------------------------ */

/* Dense GEMMs run on one BLAS thread: OpenBLAS's threaded SGEMM did not give the same bits as its
 * single-threaded one for these shapes (measured: M = 8, N = 80, K = 1890), so results would
 * depend on the thread count. Large layers (>= DENSE_SPLIT weights, e.g. the slice CNN's
 * 80,000 x 256) are cut into fixed blocks of DENSE_BLK outputs (or inputs, for the input
 * gradient), one single-threaded SGEMM per block, spread over nn_threads(): the blocks depend on
 * the shape only, so the bits do not depend on the thread count. Small layers (the CF DNN) are one
 * SGEMM as before. */
#define DENSE_SPLIT (1L << 20)
#define DENSE_BLK 32
#define DENSE_BLK_IN 4096

typedef struct {
    float *out;
    const float *in, *w, *dout;
    int B, IN, OUT;
} dense_job;

static void job_dense_fwd(void *p, long lo, long hi, int part)
{
    dense_job *j = p;
    (void)part;
    for (long c = lo; c < hi; c++) {
        int o0 = (int)c * DENSE_BLK, no = j->OUT - o0 < DENSE_BLK ? j->OUT - o0 : DENSE_BLK;
        /* out[B][o0:o0+no] += in[B][IN] . w[o0:o0+no][IN]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->B, no, j->IN, 1.0f, j->in, j->IN,
                    j->w + (size_t)o0 * j->IN, j->IN, 1.0f, j->out + o0, j->OUT);
    }
}

static void job_dense_dw(void *p, long lo, long hi, int part)
{
    dense_job *j = p;
    (void)part;
    for (long c = lo; c < hi; c++) {
        int o0 = (int)c * DENSE_BLK, no = j->OUT - o0 < DENSE_BLK ? j->OUT - o0 : DENSE_BLK;
        /* dw[o0:o0+no][IN] += dout[B][o0:o0+no]^T . in[B][IN] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, no, j->IN, j->B, 1.0f, j->dout + o0, j->OUT, j->in,
                    j->IN, 1.0f, j->out + (size_t)o0 * j->IN, j->IN);
    }
}

static void job_dense_din(void *p, long lo, long hi, int part)
{
    dense_job *j = p;
    (void)part;
    for (long c = lo; c < hi; c++) {
        int i0 = (int)c * DENSE_BLK_IN, ni = j->IN - i0 < DENSE_BLK_IN ? j->IN - i0 : DENSE_BLK_IN;
        /* din[B][i0:i0+ni] += dout[B][OUT] . w[OUT][i0:i0+ni] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->B, ni, j->OUT, 1.0f, j->dout, j->OUT, j->w + i0,
                    j->IN, 1.0f, j->out + i0, j->IN);
    }
}

void nn_dense_forward(float *out, const float *in, const float *w, const float *b, int B, int IN,
                      int OUT)
{
    for (int n = 0; n < B; n++) memcpy(out + (size_t)n * OUT, b, sizeof(float) * (size_t)OUT);
    int bt = blas_solo_begin();
    if ((long)IN * OUT >= DENSE_SPLIT) {
        dense_job j = {out, in, w, NULL, B, IN, OUT};
        nn_par(bt, (OUT + DENSE_BLK - 1) / DENSE_BLK, job_dense_fwd, &j);
    } else { /* out[B][OUT] += in[B][IN] . w[OUT][IN]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OUT, IN, 1.0f, in, IN, w, IN, 1.0f, out, OUT);
    }
    blas_solo_end(bt);
}

/* nn_dense_forward of nchunks chunks at once: chunk j is rows[j] samples at in + j*stride*IN, out +
 * j*stride*OUT. The SGEMM calls are nn_dense_forward's for each chunk (same shapes, same bits), but
 * for a split layer each block of DENSE_BLK weight rows (10 MB for the slice CNN's 80,000 x 256) is
 * applied to every chunk before the next block, so the weights come from memory once per call
 * rather than once per chunk. */
typedef struct {
    float *out;
    const float *in, *w;
    const int *rows;
    int nchunks, stride, IN, OUT;
} dense_chunks_job;

static void job_dense_chunks(void *p, long lo, long hi, int part)
{
    dense_chunks_job *j = p;
    (void)part;
    for (long c = lo; c < hi; c++) {
        int o0 = (int)c * DENSE_BLK, no = j->OUT - o0 < DENSE_BLK ? j->OUT - o0 : DENSE_BLK;
        for (int q = 0; q < j->nchunks; q++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->rows[q], no, j->IN, 1.0f,
                        j->in + (size_t)q * j->stride * j->IN, j->IN, j->w + (size_t)o0 * j->IN, j->IN, 1.0f,
                        j->out + (size_t)q * j->stride * j->OUT + o0, j->OUT);
    }
}

void nn_dense_forward_chunks(float *out, const float *in, const float *w, const float *b, int nchunks,
                             const int *rows, int stride, int IN, int OUT)
{
    if ((long)IN * OUT < DENSE_SPLIT) {
        for (int q = 0; q < nchunks; q++)
            nn_dense_forward(out + (size_t)q * stride * OUT, in + (size_t)q * stride * IN, w, b, rows[q], IN, OUT);
        return;
    }
    for (int q = 0; q < nchunks; q++)
        for (int n = 0; n < rows[q]; n++) memcpy(out + ((size_t)q * stride + n) * OUT, b, sizeof(float) * (size_t)OUT);
    int bt = blas_solo_begin();
    dense_chunks_job j = {out, in, w, rows, nchunks, stride, IN, OUT};
    nn_par(bt, (OUT + DENSE_BLK - 1) / DENSE_BLK, job_dense_chunks, &j);
    blas_solo_end(bt);
}

void nn_dense_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                       const float *w, int B, int IN, int OUT)
{
    for (int n = 0; n < B; n++) {
        const float *g = dout + (size_t)n * OUT;
        for (int o = 0; o < OUT; o++) db[o] += g[o];
    }
    int bt = blas_solo_begin();
    if ((long)IN * OUT >= DENSE_SPLIT) {
        dense_job j = {dw, in, w, dout, B, IN, OUT};
        nn_par(bt, (OUT + DENSE_BLK - 1) / DENSE_BLK, job_dense_dw, &j);
        if (din) {
            j.out = din;
            nn_par(bt, (IN + DENSE_BLK_IN - 1) / DENSE_BLK_IN, job_dense_din, &j);
        }
    } else {
        /* dw[OUT][IN] += dout[B][OUT]^T . in[B][IN] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, B, 1.0f, dout, OUT, in, IN, 1.0f, dw, IN);
        if (din) /* din[B][IN] += dout[B][OUT] . w[OUT][IN] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, IN, OUT, 1.0f, dout, OUT, w, IN, 1.0f, din, IN);
    }
    blas_solo_end(bt);
}

/* ---- ReLU, dropout ---------------------------------------------------------------------------- */

typedef struct {
    float *d;
    const float *a, *b;
    int mode; /* 0 d = relu(a); 1 d += b > 0 ? a : 0; 2 d = b > 0 ? d + 0 : 0; 3 d = relu(d) */
} relu_job;

NN_CLONES
static void job_relu(void *p, long lo, long hi, int part)
{
    relu_job *j = p;
    float *restrict d = j->d;
    (void)part;
    if (j->mode == 0) {
        const float *restrict a = j->a;
        for (long i = lo; i < hi; i++) d[i] = a[i] > 0.0f ? a[i] : 0.0f;
    } else if (j->mode == 1) {
        const float *restrict a = j->a, *restrict b = j->b;
        for (long i = lo; i < hi; i++) d[i] += b[i] > 0.0f ? a[i] : 0.0f; /* branch-free: vectorises */
    } else if (j->mode == 2) {
        const float *restrict b = j->b;
        for (long i = lo; i < hi; i++) d[i] = b[i] > 0.0f ? d[i] + 0.0f : 0.0f;
    } else {
        for (long i = lo; i < hi; i++) d[i] = d[i] > 0.0f ? d[i] : 0.0f;
    }
}

void nn_relu_forward(float *out, const float *in, size_t N)
{
    relu_job j = {out, in, NULL, out == in ? 3 : 0}; /* in place: the network's case */
    nn_par(ew_threads(N), (long)N, job_relu, &j);
}

void nn_relu_backward(float *din, const float *dout, const float *out, size_t N)
{
    relu_job j = {din, dout, out, 1};
    nn_par(ew_threads(N), (long)N, job_relu, &j);
}

void nn_relu_backward_inplace(float *g, const float *out, size_t N)
{
    relu_job j = {g, NULL, out, 2};
    nn_par(ew_threads(N), (long)N, job_relu, &j);
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

void nn_dropout_backward_inplace(float *g, const float *mask, size_t N)
{
    for (size_t i = 0; i < N; i++) g[i] = g[i] * mask[i] + 0.0f;
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
