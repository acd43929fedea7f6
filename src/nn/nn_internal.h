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

#include "hust19/nn.h"

#include <stddef.h>
#include <stdint.h>

/* n floats, 2 MiB-aligned and advised as transparent huge pages when >= 2 MiB (nn_net.c); zero = 1
 * clears them. NULL with h19_fail on failure; release with free(). */
float *nn_big_alloc(size_t n, int zero);


#define NN_PAR_MIN 65536

/* nn_conv3_* with an explicit thread count nt (the scratch must be sized for nt threads). din_write
 * = 1: din is overwritten instead of added to (the network's backward, which would zero it first). */
size_t nn_conv3_scratch_floats_t(int C, int H, int W, int K, int nt);
void nn_conv3_forward_t(float *out, const float *in, const float *w, const float *b, float *col, int B, int C,
                        int H, int W, int K, int nt);
void nn_conv3_backward_t(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                         float *col, int B, int C, int H, int W, int K, int din_write, int nt);

/* The ReLU fused into a convolution (nn_forward, nn_backward): forward relu = 1 stores
 * ReLU(conv) (the in-place ReLU layer after it is then skipped); backward relu_mask = 1 (with
 * din_write = 1) applies the backward of the ReLU whose output is this convolution's input
 * (din = in > 0 ? din + 0 : 0) while din is stored. Same bits as the separate passes. */
void nn_conv3_forward_ex(float *out, const float *in, const float *w, const float *b, float *col, int B, int C,
                         int H, int W, int K, int relu, int nt);
void nn_conv3_backward_ex(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                          float *col, int B, int C, int H, int W, int K, int din_write, int relu_mask, int nt);
/* nn_maxpool2_backward_write, then the backward of the ReLU whose output is the pooling's input. */
void nn_maxpool2_backward_write_relu(float *din, const float *dout, const float *in, int B, int C, int H, int W);

/* Backward variants that write rather than add: pooling assigns every input gradient (0 where not
 * the window's maximum or outside the windows); ReLU and dropout overwrite the gradient g in place.
 * Each equals "zero, then the adding backward" bit for bit (0 + x is written as x + 0.0f, which
 * also maps -0 to +0). */
void nn_maxpool2_backward_write(float *din, const float *dout, const float *in, int B, int C, int H, int W);
void nn_relu_backward_inplace(float *g, const float *out, size_t N);
void nn_dropout_backward_inplace(float *g, const float *mask, size_t N);

/* ---- inference by sample (nn_infer.c) ---------------------------------------------------------
 * A map is one sample's [C][H][W] tensor at p[c*cs + y*ys + x]: plain (cs = H*W, ys = W) or the
 * interior of a Winograd-padded buffer [C][PH][PW] (p = buf + PW + 1, cs = PH*PW, ys = PW). A post
 * is the ReLU / 2x2 max pooling that follow a convolution, done while its output is stored:
 * relu_pre (ReLU, then pooling), pool, relu_post (ReLU after the pooling). Each fused result has
 * the bits of the separate layer passes (job_relu, job_pool_fwd). */
typedef struct {
    float *p;
    size_t cs, ys;
} nn_map;
typedef struct {
    int relu_pre, pool, relu_post;
} nn_post;

int nn_conv3_is_wino(int C, int K);
void nn_wino_pad_dims(int H, int W, int *PH, int *PW);
/* U [16][K][C] of weights w [K][C][3][3], split over nt threads (over K). */
size_t nn_wino_filter_floats(int C, int K);
void nn_wino_filter_t(float *U, const float *w, int C, int K, int nt);
/* Scratch of one nn_wino_conv_map call, in floats: V, M and the row temporaries. */
void nn_wino_sizes(int C, int H, int W, int K, size_t *v, size_t *m, size_t *tmp);
/* One sample, Winograd: dst = post(bias + conv(input)), input padded as above (PH x PW, zeros
 * outside the image); the same SGEMMs as nn_conv3_forward, so the same bits. One thread. */
void nn_wino_conv_map(const nn_map *dst, const float *pad, const float *U, const float *bias, float *V, float *M,
                      float *tmp, int C, int K, int H, int W, nn_post post);
/* One sample, im2col (the thin convolutions): out [K][H][W], col [C*9][H*W] scratch. One thread. */
void nn_conv3_im2col_sample(float *out, const float *in, const float *w, const float *b, float *col, int C, int H,
                            int W, int K);
/* dst = post(src) for a plain sample src [C][H][W] (dst has the pooled shape if post.pool). */
void nn_post_map(const nn_map *dst, const float *src, int C, int H, int W, nn_post post);
/* nn_dense_forward on nchunks chunks (rows[q] samples at row q*stride of in and out), the same
 * SGEMM per chunk, the weight blocks outermost so they are read once for all chunks. */
void nn_dense_forward_chunks(float *out, const float *in, const float *w, const float *b, int nchunks,
                             const int *rows, int stride, int IN, int OUT);
/* nn_forward from layer l0 on (in = the input of layer l0). */
const float *nn_forward_from(nn_net *net, const float *in, const int *y, int B, const nn_drop_ctx *drop,
                             double *loss, int l0);
/* nn_predict's per-sample path for nets with convolutions (nn_infer.c): probabilities of the
 * max_batch chunks c of [0, n) with c % size == rank into prob; returns H19_OK, or -1 if the net
 * has no convolution before its first dense layer (the caller runs nn_forward), H19_ENOMEM. */
int nn_infer_chunks(nn_net *net, const float *X, int n, float *prob, int rank, int size);
/* Frees the inference workspace (nn_net_free, nn_net_set_max_batch). */
void nn_infer_free(nn_net *net);

/* The fixed-point gradient sum of nn_fit (docs/nn.md): fix[i] += round-half-away(g[i] 2^S) for
 * |g[i] 2^S| <= lim, and g[i] = 0; returns the count of values out of range or NaN (not added).
 * nn_fix_to_float: g[i] = fix[i] 2^-S. Element-wise over threads: the same for any thread count. */
int64_t nn_fix_add(int64_t *fix, float *g, size_t np, double qscale, double lim);
void nn_fix_to_float(float *g, const int64_t *fix, size_t np, double qinv);

#endif
