/* nn_net.c — sequential networks over one parameter buffer; initialisation; Adam.
 *
 * Memory: ReLU and dropout work in place on their input buffer (the layers before them never need
 * their own output in backward: conv and dense use their input, pooling recomputes the argmax from
 * its input), so activations are stored once per conv/pool/dense layer. Backward runs through two
 * ping-pong gradient buffers of the largest activation size.
 */
#include "hust19/nn.h"
#include "hust19/err.h"
#include "hust19/rng.h"
#include "nn/nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char *kind_name(nn_kind k)
{
    switch (k) {
    case NN_CONV3: return "conv3";
    case NN_MAXPOOL2: return "maxpool2";
    case NN_DENSE: return "dense";
    case NN_RELU: return "relu";
    case NN_DROPOUT: return "dropout";
    case NN_SOFTMAX_CE: return "softmax";
    case NN_SIGMOID_BCE: return "sigmoid";
    case NN_GAP: return "gap";
    case NN_GMP: return "gmp";
    }
    return "?";
}

/* n floats on 2 MiB-aligned memory advised as transparent huge pages (this system's THP mode is
 * "madvise": plain malloc memory gets 4 KiB pages); zero = 1 clears (and so touches) it. The
 * slice CNN's buffers are tens of MB per layer, thousands of small pages against a second-level
 * TLB of ~2,000 entries; with huge pages the fused inference ran ~10-25 % faster on the loaded
 * development VM, and lost less after sitting idle (e.g. during training) while the kernel's
 * memory monitor (DAMON) aged its page tables. Freed with free(). */
float *nn_big_alloc(size_t n, int zero)
{
    size_t align = (size_t)2 << 20, bytes = sizeof(float) * (n ? n : 1);
    if (bytes >= align) bytes = (bytes + align - 1) & ~(align - 1);
    else align = 64; /* small: no huge page to gain */
    void *p = NULL;
    if (posix_memalign(&p, align, bytes) != 0) {
        h19_fail(H19_ENOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (align > 64) (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice only: else small pages */
#endif
    if (zero) memset(p, 0, bytes);
    return p;
}

static size_t shape_n(int C, int H, int W) { return (size_t)C * (size_t)H * (size_t)W; }

static void free_acts(nn_net *net)
{
    for (int l = 0; l < net->nlayers; l++) {
        nn_layer *L = &net->layers[l];
        if (!L->inplace) free(L->out);
        free(L->mask);
        L->out = NULL;
        L->mask = NULL;
    }
    free(net->gbuf[0]);
    free(net->gbuf[1]);
    free(net->col);
    net->gbuf[0] = net->gbuf[1] = net->col = NULL;
}

/* Scratch of the widest convolution for nt threads. */
static size_t col_floats(const nn_net *net, int nt)
{
    size_t col = 0;
    for (int l = 0; l < net->nlayers; l++) {
        const nn_layer *L = &net->layers[l];
        if (L->spec.kind != NN_CONV3) continue;
        size_t c = nn_conv3_scratch_floats_t(L->C, L->H, L->W, L->OC, nt);
        if (c > col) col = c;
    }
    return col;
}

static int alloc_acts(nn_net *net, int max_batch)
{
    for (int l = 0; l < net->nlayers; l++) {
        nn_layer *L = &net->layers[l];
        size_t on = shape_n(L->OC, L->OH, L->OW) * (size_t)max_batch;
        if (L->inplace) {
            L->out = net->layers[l - 1].out;
        } else if (!(L->out = nn_big_alloc(on, 0))) {
            return h19_fail_ctx(H19_ENOMEM, "nn: activations of layer %d (%s): ", l, kind_name(L->spec.kind));
        }
        if (L->spec.kind == NN_DROPOUT && !(L->mask = nn_big_alloc(on, 0)))
            return H19_ENOMEM;
    }
    int nt = nn_threads();
    size_t col = col_floats(net, nt);
    net->col_threads = nt;
    size_t g = net->act_max * (size_t)max_batch;
    if (!(net->gbuf[0] = nn_big_alloc(g, 0)) || !(net->gbuf[1] = nn_big_alloc(g, 0))) return H19_ENOMEM;
    if (col && !(net->col = nn_big_alloc(col, 0))) return H19_ENOMEM;
    net->max_batch = max_batch;
    return H19_OK;
}

int nn_net_create(nn_net **out, int C, int H, int W, const nn_layer_spec *spec, int n, int max_batch)
{
    *out = NULL;
    if (C < 1 || H < 1 || W < 1) return h19_fail(H19_EARG, "nn: input shape %dx%dx%d is not positive", C, H, W);
    if (n < 2) return h19_fail(H19_EARG, "nn: a network needs at least a dense layer and a loss head");
    if (max_batch < 1) return h19_fail(H19_EARG, "nn: max_batch %d < 1", max_batch);
    nn_net *net = h19_calloc(1, sizeof *net);
    if (!net) return H19_ENOMEM;
    net->layers = h19_calloc((size_t)n, sizeof *net->layers);
    if (!net->layers) {
        free(net);
        return H19_ENOMEM;
    }
    net->nlayers = n;
    net->C = C;
    net->H = H;
    net->W = W;
    int c = C, h = H, w = W;
    size_t off = 0, amax = shape_n(C, H, W);
    int rc = H19_OK;
    for (int l = 0; l < n && !rc; l++) {
        nn_layer *L = &net->layers[l];
        L->spec = spec[l];
        L->C = c;
        L->H = h;
        L->W = w;
        L->w_off = L->b_off = SIZE_MAX;
        int last = l == n - 1;
        switch (spec[l].kind) {
        case NN_CONV3:
            if (spec[l].n < 1) rc = h19_fail(H19_EARG, "nn: layer %d: conv3 needs filters >= 1", l);
            L->w_off = off;
            L->w_n = (size_t)spec[l].n * c * 9;
            L->b_off = off + L->w_n;
            L->b_n = (size_t)spec[l].n;
            c = spec[l].n;
            break;
        case NN_MAXPOOL2:
            if (h < 2 || w < 2) rc = h19_fail(H19_EARG, "nn: layer %d: maxpool2 on a %dx%d map", l, h, w);
            h /= 2;
            w /= 2;
            break;
        case NN_GAP:
        case NN_GMP:
            h = w = 1;
            break;
        case NN_DENSE: {
            if (spec[l].n < 1) rc = h19_fail(H19_EARG, "nn: layer %d: dense needs units >= 1", l);
            size_t in = shape_n(c, h, w);
            L->w_off = off;
            L->w_n = (size_t)spec[l].n * in;
            L->b_off = off + L->w_n;
            L->b_n = (size_t)spec[l].n;
            c = spec[l].n;
            h = w = 1;
            break;
        }
        case NN_RELU:
            L->inplace = l > 0;
            break;
        case NN_DROPOUT:
            if (!(spec[l].p >= 0.0f && spec[l].p < 1.0f))
                rc = h19_fail(H19_EARG, "nn: layer %d: dropout rate %g not in [0, 1)", l, spec[l].p);
            L->inplace = l > 0;
            break;
        case NN_SOFTMAX_CE:
        case NN_SIGMOID_BCE: {
            int sig = spec[l].kind == NN_SIGMOID_BCE;
            if (!last) rc = h19_fail(H19_EARG, "nn: layer %d: the %s head must be the last layer", l, kind_name(spec[l].kind));
            else if (l == 0 || spec[l - 1].kind != NN_DENSE)
                rc = h19_fail(H19_EARG, "nn: layer %d: the %s head must follow a dense layer", l, kind_name(spec[l].kind));
            else if (sig ? c != 1 : c < 2)
                rc = h19_fail(H19_EARG, "nn: layer %d: a %s head needs %s outputs, the dense layer has %d", l,
                              kind_name(spec[l].kind), sig ? "1" : ">= 2", c);
            net->head = spec[l].kind;
            net->nout = c;
            break;
        }
        default:
            rc = h19_fail(H19_EARG, "nn: layer %d: unknown layer kind %d", l, (int)spec[l].kind);
        }
        if (!rc && last && spec[l].kind != NN_SOFTMAX_CE && spec[l].kind != NN_SIGMOID_BCE)
            rc = h19_fail(H19_EARG, "nn: the last layer (%d, %s) must be a softmax or sigmoid head", l,
                          kind_name(spec[l].kind));
        off += L->w_n + L->b_n;
        L->OC = c;
        L->OH = h;
        L->OW = w;
        if (shape_n(c, h, w) > amax) amax = shape_n(c, h, w);
    }
    net->nparams = off;
    net->act_max = amax;
    if (!rc) {
        float *p = nn_big_alloc(4 * (off ? off : 1), 1);
        if (!p) rc = H19_ENOMEM;
        else {
            net->params = p;
            net->grads = p + off;
            net->m = p + 2 * off;
            net->v = p + 3 * off;
        }
    }
    if (!rc) rc = alloc_acts(net, max_batch);
    if (rc) {
        nn_net_free(net);
        return rc;
    }
    *out = net;
    return H19_OK;
}

void nn_net_free(nn_net *net)
{
    if (!net) return;
    nn_infer_free(net);
    if (net->layers) free_acts(net);
    free(net->params);
    free(net->layers);
    free(net);
}

int nn_net_set_max_batch(nn_net *net, int max_batch)
{
    if (max_batch < 1) return h19_fail(H19_EARG, "nn: max_batch %d < 1", max_batch);
    if (max_batch == net->max_batch) return H19_OK;
    nn_infer_free(net); /* sized for the old chunks */
    free_acts(net);
    return alloc_acts(net, max_batch);
}

int nn_net_nout(const nn_net *net) { return net->nout; }
int nn_net_nin(const nn_net *net) { return net->C * net->H * net->W; }

void nn_net_init(nn_net *net, uint64_t seed, uint32_t repeat, uint32_t fold)
{
    memset(net->params, 0, sizeof(float) * 4 * net->nparams);
    for (int l = 0; l < net->nlayers; l++) {
        nn_layer *L = &net->layers[l];
        if (L->w_off == SIZE_MAX) continue;
        int relu = l + 1 < net->nlayers && net->layers[l + 1].spec.kind == NN_RELU;
        double fan_in, fan_out;
        if (L->spec.kind == NN_CONV3) {
            fan_in = 9.0 * L->C;
            fan_out = 9.0 * L->OC;
        } else {
            fan_in = (double)shape_n(L->C, L->H, L->W);
            fan_out = L->OC;
        }
        h19_rng r;
        h19_rng_init(&r, seed, H19_RNG_INIT, repeat, fold, 0, (uint32_t)l);
        float *w = net->params + L->w_off;
        if (relu) { /* He et al. 2015: N(0, 2/fan_in) for ReLU layers */
            double sd = sqrt(2.0 / fan_in);
            for (size_t i = 0; i < L->w_n; i++) w[i] = (float)(sd * h19_rng_normal(&r));
        } else { /* Glorot & Bengio 2010 uniform: U(-a, a), a = sqrt(6/(fan_in+fan_out)) */
            double a = sqrt(6.0 / (fan_in + fan_out));
            for (size_t i = 0; i < L->w_n; i++) w[i] = (float)(a * (2.0 * h19_rng_uniform(&r) - 1.0));
        }
    }
    net->step = 0;
}

void nn_net_init_uniform(nn_net *net, uint64_t seed, uint32_t repeat, uint32_t fold)
{
    memset(net->params, 0, sizeof(float) * 4 * net->nparams);
    for (int l = 0; l < net->nlayers; l++) {
        nn_layer *L = &net->layers[l];
        if (L->w_off == SIZE_MAX) continue;
        double fan_in = L->spec.kind == NN_CONV3 ? 9.0 * L->C : (double)shape_n(L->C, L->H, L->W);
        double a = 1.0 / sqrt(fan_in);
        h19_rng r;
        h19_rng_init(&r, seed, H19_RNG_INIT, repeat, fold, 0, (uint32_t)l);
        float *w = net->params + L->w_off;
        for (size_t i = 0; i < L->w_n; i++) w[i] = (float)(a * (2.0 * h19_rng_uniform(&r) - 1.0));
        if (L->b_off == SIZE_MAX) continue;
        h19_rng_init(&r, seed, H19_RNG_INIT, repeat, fold, 1, (uint32_t)l);
        float *b = net->params + L->b_off;
        for (size_t i = 0; i < L->b_n; i++) b[i] = (float)(a * (2.0 * h19_rng_uniform(&r) - 1.0));
    }
    net->step = 0;
}

/* The threads the convolutions may use: nn_threads(), or fewer if the scratch was sized for fewer
 * (the count was raised after nn_net_create; results do not depend on it). */
static int conv_threads(const nn_net *net)
{
    int nt = nn_threads();
    return nt < net->col_threads ? nt : net->col_threads;
}

const float *nn_forward(nn_net *net, const float *x, const int *y, int B, const nn_drop_ctx *drop,
                        double *loss)
{
    return nn_forward_from(net, x, y, B, drop, loss, 0);
}

const float *nn_forward_from(nn_net *net, const float *x, const int *y, int B, const nn_drop_ctx *drop,
                             double *loss, int l0)
{
    const float *in = x;
    int nt = conv_threads(net);
    double ls = 0.0;
    for (int l = l0; l < net->nlayers; l++) {
        nn_layer *L = &net->layers[l];
        const float *P = net->params;
        size_t D = shape_n(L->C, L->H, L->W);
        double t0 = net->prof ? now() : 0.0;
        switch (L->spec.kind) {
        case NN_CONV3: {
            /* an in-place ReLU after it is done in the convolution's store (same bits) */
            int relu = l + 1 < net->nlayers && net->layers[l + 1].spec.kind == NN_RELU && net->layers[l + 1].inplace;
            nn_conv3_forward_ex(L->out, in, P + L->w_off, P + L->b_off, net->col, B, L->C, L->H, L->W, L->OC, relu, nt);
            if (relu) {
                if (net->prof) net->prof[2 * l] += now() - t0;
                l++; /* the ReLU's output is this buffer */
                in = net->layers[l].out;
                continue;
            }
            break;
        }
        case NN_MAXPOOL2: nn_maxpool2_forward(L->out, in, B, L->C, L->H, L->W); break;
        case NN_GAP: nn_gap_forward(L->out, in, B, L->C, L->H * L->W); break;
        case NN_GMP: nn_gmp_forward(L->out, in, B, L->C, L->H * L->W); break;
        case NN_DENSE: nn_dense_forward(L->out, in, P + L->w_off, P + L->b_off, B, (int)D, L->OC); break;
        case NN_RELU: nn_relu_forward(L->out, in, D * (size_t)B); break;
        case NN_DROPOUT:
            if (drop) {
                float p = drop->rate_override >= 0.0f ? drop->rate_override : L->spec.p;
                nn_dropout_forward(L->out, L->mask, in, p, nn_dropout_seed(drop->seed, l), drop->repeat,
                                   drop->fold, drop->epoch, drop->sample, B, (int)D);
            } else if (L->out != in) {
                memcpy(L->out, in, sizeof(float) * D * (size_t)B);
            }
            break;
        case NN_SOFTMAX_CE: ls = nn_softmax_ce_forward(L->out, in, y, B, L->C); break;
        case NN_SIGMOID_BCE: ls = nn_sigmoid_bce_forward(L->out, in, y, B); break;
        }
        if (net->prof) net->prof[2 * l] += now() - t0;
        in = L->out;
    }
    if (loss) *loss = ls;
    return in;
}

void nn_backward(nn_net *net, const float *x, const int *y, int B, float scale)
{
    int nl = net->nlayers, nt = conv_threads(net);
    nn_layer *H = &net->layers[nl - 1];
    float *gout = net->gbuf[0], *gin = net->gbuf[1];
    size_t nlog = (size_t)B * H->C;
    memset(gout, 0, sizeof(float) * nlog);
    if (H->spec.kind == NN_SOFTMAX_CE) nn_softmax_ce_backward(gout, H->out, y, scale, B, H->C);
    else nn_sigmoid_bce_backward(gout, H->out, y, scale, B);
    /* Each layer writes its input gradient into gin (the swap makes it the next gout): conv and
     * pooling overwrite it, ReLU and dropout rewrite gout in place (no swap), dense adds into a
     * zeroed gin. Each is bit-identical to zeroing gin and calling the adding kernel of nn.h. */
    for (int l = nl - 2; l >= 0; l--) {
        nn_layer *L = &net->layers[l];
        const float *in = l == 0 ? x : net->layers[l - 1].out;
        size_t D = shape_n(L->C, L->H, L->W);
        float *din = l == 0 ? NULL : gin;
        double t0 = net->prof ? now() : 0.0;
        float *G = net->grads;
        const float *P = net->params;
        int swap = 1;
        /* The backward of an in-place ReLU just before a convolution or pooling (its output is their
         * input) is fused into their input-gradient store, and then skipped (same bits). */
        int relu_in = din && l >= 2 && net->layers[l - 1].spec.kind == NN_RELU && net->layers[l - 1].inplace &&
                      (L->spec.kind == NN_CONV3 || L->spec.kind == NN_MAXPOOL2);
        switch (L->spec.kind) {
        case NN_CONV3:
            nn_conv3_backward_ex(din, G + L->w_off, G + L->b_off, gout, in, P + L->w_off, net->col, B, L->C, L->H,
                                 L->W, L->OC, 1, relu_in, nt);
            break;
        case NN_MAXPOOL2:
            if (din && relu_in) nn_maxpool2_backward_write_relu(din, gout, in, B, L->C, L->H, L->W);
            else if (din) nn_maxpool2_backward_write(din, gout, in, B, L->C, L->H, L->W);
            break;
        case NN_GAP:
            if (din) nn_gap_backward_write(din, gout, B, L->C, L->H * L->W);
            break;
        case NN_GMP:
            if (din) nn_gmp_backward_write(din, gout, in, B, L->C, L->H * L->W);
            break;
        case NN_DENSE:
            if (din) memset(din, 0, sizeof(float) * D * (size_t)B);
            nn_dense_backward(din, G + L->w_off, G + L->b_off, gout, in, P + L->w_off, B, (int)D, L->OC);
            break;
        case NN_RELU:
            if (din) nn_relu_backward_inplace(gout, L->out, D * (size_t)B);
            swap = 0;
            break;
        case NN_DROPOUT:
            if (din) nn_dropout_backward_inplace(gout, L->mask, D * (size_t)B);
            swap = 0;
            break;
        default: break;
        }
        if (net->prof) net->prof[2 * l + 1] += now() - t0;
        if (swap) {
            float *t = gout;
            gout = gin;
            gin = t;
        }
        if (relu_in) l--; /* the ReLU's backward is done */
    }
}

/* ---- Adam ------------------------------------------------------------------------------------- */

float nn_lr_at_epoch(float lr, float decay, int epoch) { return (float)(lr / (1.0 + (double)decay * epoch)); }

typedef struct {
    nn_net *net;
    float lr_t, beta1, beta2, b1c, b2c, eps;
} adam_job;

static void job_adam(void *p, long lo, long hi, int part)
{
    adam_job *j = p;
    float *restrict pp = j->net->params, *restrict m = j->net->m, *restrict v = j->net->v;
    const float *restrict g = j->net->grads;
    float lr_t = j->lr_t, beta1 = j->beta1, beta2 = j->beta2, b1c = j->b1c, b2c = j->b2c, eps = j->eps;
    (void)part;
    for (long i = lo; i < hi; i++) {
        float gi = g[i];
        m[i] = beta1 * m[i] + b1c * gi;
        v[i] = beta2 * v[i] + b2c * gi * gi;
        pp[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps);
    }
}

void nn_adam_step(nn_net *net, float lr, float beta1, float beta2, float eps, float l2)
{
    float *p = net->params, *g = net->grads;
    if (l2 > 0.0f) {
        for (int l = 0; l < net->nlayers; l++) {
            const nn_layer *L = &net->layers[l];
            if (L->w_off == SIZE_MAX) continue;
            for (size_t i = L->w_off; i < L->w_off + L->w_n; i++) g[i] += l2 * p[i];
        }
    }
    net->step++;
    double t = (double)net->step;
    /* Keras 2.2.4 Adam (Kingma & Ba 2015, with the bias correction folded into the rate) */
    float lr_t = (float)(lr * sqrt(1.0 - pow(beta2, t)) / (1.0 - pow(beta1, t)));
    adam_job j = {net, lr_t, beta1, beta2, 1.0f - beta1, 1.0f - beta2, eps};
    size_t np = net->nparams;
    nn_par(np >= NN_PAR_MIN ? nn_threads() : 1, (long)np, job_adam, &j);
}

/* ---- fixed-point gradient sum (nn_fit) ---------------------------------------------------------- */

typedef struct {
    int64_t *fix;
    float *g;
    const int64_t *cfix;
    double scale, lim;
    int64_t bad[256]; /* per part (nn_par has at most 256) */
} fix_job;

static void job_fix_add(void *p, long lo, long hi, int part)
{
    fix_job *j = p;
    int64_t *restrict fix = j->fix, bad = 0;
    float *restrict g = j->g;
    double qscale = j->scale, lim = j->lim;
    for (long i = lo; i < hi; i++) {
        /* round half away from zero; inline (llrint is a libm call) and branch-free */
        double q = (double)g[i] * qscale;
        int ok = fabs(q) <= lim; /* false for NaN too */
        bad += !ok;
        q = ok ? q : 0.0;
        fix[i] += (int64_t)(q + copysign(0.5, q));
        g[i] = 0.0f; /* ready for the next micro-batch, without a separate memset pass */
    }
    j->bad[part] = bad;
}

int64_t nn_fix_add(int64_t *fix, float *g, size_t np, double qscale, double lim)
{
    fix_job j = {.fix = fix, .g = g, .scale = qscale, .lim = lim};
    int nt = np >= NN_PAR_MIN ? nn_threads() : 1;
    if (nt > 256) nt = 256;
    nn_par(nt, (long)np, job_fix_add, &j);
    int64_t bad = 0;
    for (int t = 0; t < nt; t++) bad += j.bad[t]; /* parts that got no elements left 0 */
    return bad;
}

static void job_fix_to_float(void *p, long lo, long hi, int part)
{
    fix_job *j = p;
    (void)part;
    for (long i = lo; i < hi; i++) j->g[i] = (float)((double)j->cfix[i] * j->scale);
}

void nn_fix_to_float(float *g, const int64_t *fix, size_t np, double qinv)
{
    fix_job j = {.g = g, .cfix = fix, .scale = qinv};
    nn_par(np >= NN_PAR_MIN ? nn_threads() : 1, (long)np, job_fix_to_float, &j);
}
