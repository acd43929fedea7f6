/* nn_internal.h — kernels shared by the nn sources but not part of the public API (nn.h).
 *
 * Threads: the convolution, pooling, ReLU and Adam loops are split over nn_threads()
 * threads (nn_par, a blocking pool: nn_pool.c), which is the OpenBLAS thread count dist_init gives the rank, so a rank never
 * uses more cores than it was given. Every parallel loop gives each thread disjoint outputs and
 * keeps every sum in an order fixed by the data (sample order, never thread order), so results are
 * bit-identical for any thread count. Convolution GEMMs run on one BLAS thread per sample inside
 * those loops (threads over samples rather than inside each small GEMM).
 */
#ifndef HUST19_NN_INTERNAL_H
#define HUST19_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Threads for the nn kernels: OpenBLAS's current count (>= 1). */
int nn_threads(void);

/* Run fn(ctx, lo, hi, part) over the nt static parts of [0, n) (part t = [n t/nt, n (t+1)/nt))
 * on nt threads, the caller being one of them; returns when all parts are done. fn must give the
 * parts disjoint outputs. Element-wise loops use it only from NN_PAR_MIN elements. */
typedef void (*nn_par_fn)(void *ctx, long lo, long hi, int part);
void nn_par(int nt, long n, nn_par_fn fn, void *ctx);
#define NN_PAR_MIN 65536

/* nn_conv3_* with an explicit thread count nt (the scratch must be sized for nt threads). din_write
 * = 1: din is overwritten instead of added to (the network's backward, which would zero it first). */
size_t nn_conv3_scratch_floats_t(int C, int H, int W, int K, int nt);
void nn_conv3_forward_t(float *out, const float *in, const float *w, const float *b, float *col, int B, int C,
                        int H, int W, int K, int nt);
void nn_conv3_backward_t(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                         float *col, int B, int C, int H, int W, int K, int din_write, int nt);

/* Backward variants that write rather than add: pooling assigns every input gradient (0 where not
 * the window's maximum or outside the windows); ReLU and dropout overwrite the gradient g in place.
 * Each equals "zero, then the adding backward" bit for bit (0 + x is written as x + 0.0f, which
 * also maps -0 to +0). */
void nn_maxpool2_backward_write(float *din, const float *dout, const float *in, int B, int C, int H, int W);
void nn_relu_backward_inplace(float *g, const float *out, size_t N);
void nn_dropout_backward_inplace(float *g, const float *mask, size_t N);

/* The fixed-point gradient sum of nn_fit (docs/nn.md): fix[i] += round-half-away(g[i] 2^S) for
 * |g[i] 2^S| <= lim, and g[i] = 0; returns the count of values out of range or NaN (not added).
 * nn_fix_to_float: g[i] = fix[i] 2^-S. Element-wise over threads: the same for any thread count. */
int64_t nn_fix_add(int64_t *fix, float *g, size_t np, double qscale, double lim);
void nn_fix_to_float(float *g, const int64_t *fix, size_t np, double qinv);

#endif
