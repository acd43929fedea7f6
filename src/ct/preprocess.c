/* preprocess.c — the paper's CT slice preprocessing (see include/hust19/ct.h and
 * docs/preprocessing.md for the pipeline and our reading of the published code).
 *
 * Every step reproduces the OpenCV 4 function it stands for bit for bit, but with algorithms whose
 * cost per pixel does not depend on the kernel: the 15599-pixel adaptive-threshold block as exact
 * sliding sums over the border-replicated image (OpenCV pads to 16k x 16k), rectangular
 * dilate/erode by van Herk / Gil-Werman running extrema (van Herk 1992, Pattern Recogn. Lett.
 * 13:517; Gil & Werman 1993, IEEE PAMI 15:504), the median of a binary mask by per-column counts
 * (Perreault & Hebert 2007, IEEE TIP 16:2389, with two bins), the general median by Huang's sliding
 * histogram (Huang, Yang & Tang 1979, IEEE TASSP 27:13).
 */
#include "hust19/ct.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hust19/err.h"

struct ct_prep {
    int max_w, max_h; /* largest input image */
    int max_line;     /* largest line length: max(max_w, max_h, CT_OUT) */
    size_t n;         /* max_w * max_h */
    uint8_t *crop, *a, *b, *mask; /* n each: pipeline images */
    int32_t *lab, *queue, *area;  /* n, n, n + 1: connected components */
    int64_t *rowsum;              /* n: box sums along rows */
    int64_t *colsum;              /* max_line: running box sum of one output row */
    uint8_t *l_src, *l_pre, *l_suf, *l_g, *l_h, *l_dst; /* max_line each: 1-D morphology */
    int32_t *hist;                /* 256: Huang's median */
    int32_t *xofs, *ialpha;       /* max_line, 2 * max_line: resize columns */
    int32_t *yofs, *ibeta;        /* max_line, 2 * max_line: resize rows */
    int32_t *hrow0, *hrow1;       /* max_line: horizontally resized rows */
};

void ct_prep_free(ct_prep *c) {
    if (!c) return;
    free(c->crop); free(c->a); free(c->b); free(c->mask);
    free(c->lab); free(c->queue); free(c->area);
    free(c->rowsum); free(c->colsum);
    free(c->l_src); free(c->l_pre); free(c->l_suf); free(c->l_g); free(c->l_h); free(c->l_dst);
    free(c->hist);
    free(c->xofs); free(c->ialpha); free(c->yofs); free(c->ibeta); free(c->hrow0); free(c->hrow1);
    free(c);
}

int ct_prep_create(ct_prep **out, int max_w, int max_h) {
    if (!out) return h19_fail(H19_EARG, "ct_prep_create: NULL context pointer");
    *out = NULL;
    /* 1<<14 keeps n, and sums of 255 * n * block^2 / n, far inside int32 / int64. */
    if (max_w < 1 || max_h < 1 || max_w > (1 << 14) || max_h > (1 << 14))
        return h19_fail(H19_EARG, "ct_prep_create: slice size %dx%d outside 1..16384", max_w, max_h);
    ct_prep *c = h19_calloc(1, sizeof *c);
    if (!c) return H19_ENOMEM;
    c->max_w = max_w;
    c->max_h = max_h;
    c->max_line = max_w > max_h ? max_w : max_h;
    if (c->max_line < CT_OUT) c->max_line = CT_OUT;
    c->n = (size_t)max_w * (size_t)max_h;
    size_t n = c->n, L = (size_t)c->max_line;
    int ok = (c->crop = h19_malloc(n)) && (c->a = h19_malloc(n)) && (c->b = h19_malloc(n)) &&
             (c->mask = h19_malloc(n)) && (c->lab = h19_malloc(n * sizeof(int32_t))) &&
             (c->queue = h19_malloc(n * sizeof(int32_t))) &&
             (c->area = h19_malloc((n + 1) * sizeof(int32_t))) &&
             (c->rowsum = h19_malloc(n * sizeof(int64_t))) &&
             (c->colsum = h19_malloc(L * sizeof(int64_t))) && (c->l_src = h19_malloc(L)) &&
             (c->l_pre = h19_malloc(L)) && (c->l_suf = h19_malloc(L)) && (c->l_g = h19_malloc(L)) &&
             (c->l_h = h19_malloc(L)) && (c->l_dst = h19_malloc(L)) &&
             (c->hist = h19_malloc(256 * sizeof(int32_t))) &&
             (c->xofs = h19_malloc(L * sizeof(int32_t))) &&
             (c->ialpha = h19_malloc(2 * L * sizeof(int32_t))) &&
             (c->yofs = h19_malloc(L * sizeof(int32_t))) &&
             (c->ibeta = h19_malloc(2 * L * sizeof(int32_t))) &&
             (c->hrow0 = h19_malloc(L * sizeof(int32_t))) &&
             (c->hrow1 = h19_malloc(L * sizeof(int32_t)));
    if (!ok) {
        ct_prep_free(c);
        return H19_ENOMEM;
    }
    *out = c;
    return H19_OK;
}

static int check_size(const ct_prep *c, int w, int h, const char *who) {
    if (!c) return h19_fail(H19_EARG, "%s: NULL context", who);
    if (w < 1 || h < 1 || w > c->max_w || h > c->max_h)
        return h19_fail(H19_EARG, "%s: image %dx%d outside the context's 1..%dx%d", who, w, h,
                        c->max_w, c->max_h);
    return H19_OK;
}

/* ---- square crop --------------------------------------------------------------------------- */

void ct_square_crop_box(int w, int h, int *x0, int *y0, int *side) {
    int s = w < h ? w : h;
    *x0 = (w - s) / 2;
    *y0 = (h - s) / 2;
    *side = s;
}

void ct_square_crop(const uint8_t *in, int w, int h, uint8_t *out, int *side) {
    int x0, y0, s;
    ct_square_crop_box(w, h, &x0, &y0, &s);
    for (int y = 0; y < s; y++) memcpy(out + (size_t)y * s, in + (size_t)(y + y0) * w + x0, (size_t)s);
    *side = s;
}

/* ---- box sums over the border-replicated image ----------------------------------------------- */

/* Sum of v[clamp(i, 0, n-1)] for i in [-r, r] (the window centred on index 0): r copies of v[0]
 * on the left, the real samples 0..min(r, n-1), and r-(n-1) copies of v[n-1] if the window runs
 * past the end. The window of an index x then slides by adding v[clamp(x+r)] and removing
 * v[clamp(x-r-1)]: O(1) per sample whatever r, and exact (integers). */
static void rowsums_replicate(const uint8_t *src, int w, int h, int r, int64_t *out) {
    for (int y = 0; y < h; y++) {
        const uint8_t *s = src + (size_t)y * w;
        int64_t *o = out + (size_t)y * w;
        int64_t acc = (int64_t)r * s[0];
        int top = r < w - 1 ? r : w - 1;
        for (int i = 0; i <= top; i++) acc += s[i];
        if (r > w - 1) acc += (int64_t)(r - (w - 1)) * s[w - 1];
        o[0] = acc;
        for (int x = 1; x < w; x++) {
            int add = x + r, sub = x - r - 1;
            acc += s[add < w ? add : w - 1] - s[sub > 0 ? sub : 0];
            o[x] = acc;
        }
    }
}

/* The same along columns of the row sums, one output row at a time into colsum (w values);
 * calls emit(y, colsum) for each row y. Written as a macro-free pair of helpers below. */
static void colsum_init(const int64_t *rs, int w, int h, int r, int64_t *acc) {
    for (int x = 0; x < w; x++) acc[x] = (int64_t)r * rs[x];
    int top = r < h - 1 ? r : h - 1;
    for (int i = 0; i <= top; i++) {
        const int64_t *row = rs + (size_t)i * w;
        for (int x = 0; x < w; x++) acc[x] += row[x];
    }
    if (r > h - 1) {
        const int64_t *last = rs + (size_t)(h - 1) * w;
        int64_t m = r - (h - 1);
        for (int x = 0; x < w; x++) acc[x] += m * last[x];
    }
}

static void colsum_step(const int64_t *rs, int w, int h, int r, int y, int64_t *acc) {
    int add = y + r, sub = y - r - 1;
    const int64_t *ra = rs + (size_t)(add < h ? add : h - 1) * w;
    const int64_t *rm = rs + (size_t)(sub > 0 ? sub : 0) * w;
    for (int x = 0; x < w; x++) acc[x] += ra[x] - rm[x];
}

/* ---- 1. adaptive threshold ---------------------------------------------------------------------- */

int ct_threshold_mean(ct_prep *c, const uint8_t *src, int w, int h, int block, int cval, uint8_t *dst) {
    H19_TRY(check_size(c, w, h, "ct_threshold_mean"));
    if (block < 3 || block % 2 == 0)
        return h19_fail(H19_EARG, "ct_threshold_mean: block %d is not odd >= 3", block);
    int r = block / 2;
    /* OpenCV (imgproc/src/thresh.cpp, adaptiveThreshold): mean = boxFilter(src, CV_8U, block,
     * normalize, BORDER_REPLICATE) and, for THRESH_BINARY, idelta = cvCeil(C), dst = 255 iff
     * src - mean > -idelta. The box filter sums in double when block^2 > 2^23 (exact for these
     * integers) and stores saturate_cast<uchar>(sum * (1.0 / block^2)), i.e. round to nearest
     * even: we do the same double product and rint. */
    double scale = 1.0 / ((double)block * (double)block);
    int thr = -cval; /* -idelta with idelta = ceil(C); C is an integer here */
    rowsums_replicate(src, w, h, r, c->rowsum);
    int64_t *acc = c->colsum;
    colsum_init(c->rowsum, w, h, r, acc);
    for (int y = 0; y < h; y++) {
        if (y > 0) colsum_step(c->rowsum, w, h, r, y, acc);
        const uint8_t *s = src + (size_t)y * w;
        uint8_t *d = dst + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            double m = rint((double)acc[x] * scale);
            int mean = m < 0 ? 0 : m > 255 ? 255 : (int)m;
            d[x] = (s[x] - mean > thr) ? 255 : 0;
        }
    }
    return H19_OK;
}

/* ---- 2./4. connected components ------------------------------------------------------------------ */

/* Label the non-zero pixels by breadth-first search from each unlabelled seed in raster order, so
 * label l (1-based) is the l-th component met in raster order; area[l] = its pixel count. */
static int label_components(ct_prep *c, const uint8_t *src, int w, int h, int conn) {
    size_t n = (size_t)w * h;
    int32_t *lab = c->lab, *q = c->queue, *area = c->area;
    memset(lab, 0, n * sizeof *lab);
    int nl = 0;
    for (size_t p0 = 0; p0 < n; p0++) {
        if (!src[p0] || lab[p0]) continue;
        int l = ++nl;
        size_t qh = 0, qt = 0;
        q[qt++] = (int32_t)p0;
        lab[p0] = l;
        while (qh < qt) {
            int p = q[qh++];
            int x = p % w, y = p / w;
            for (int dy = -1; dy <= 1; dy++) {
                int yy = y + dy;
                if (yy < 0 || yy >= h) continue;
                for (int dx = -1; dx <= 1; dx++) {
                    if (!dx && !dy) continue;
                    if (conn == 4 && dx && dy) continue;
                    int xx = x + dx;
                    if (xx < 0 || xx >= w) continue;
                    int pp = yy * w + xx;
                    if (src[pp] && !lab[pp]) {
                        lab[pp] = l;
                        q[qt++] = pp;
                    }
                }
            }
        }
        area[l] = (int32_t)qt;
    }
    return nl;
}

int ct_keep_largest(ct_prep *c, const uint8_t *src, int w, int h, int conn, int k, uint8_t *dst,
                    int *ncomp) {
    H19_TRY(check_size(c, w, h, "ct_keep_largest"));
    if (conn != 4 && conn != 8)
        return h19_fail(H19_EARG, "ct_keep_largest: connectivity %d is not 4 or 8", conn);
    if (k < 1 || k > 8) return h19_fail(H19_EARG, "ct_keep_largest: k = %d outside 1..8", k);
    int nl = label_components(c, src, w, h, conn);
    if (ncomp) *ncomp = nl;
    /* The k largest by a partial selection: strictly larger wins, so among equal areas the lower
     * label (met first in raster order) is kept. */
    int keep[8], nk = 0;
    int32_t *area = c->area;
    for (int j = 0; j < k && j < nl; j++) {
        int best = 0;
        for (int l = 1; l <= nl; l++) {
            int taken = 0;
            for (int t = 0; t < nk; t++) taken |= keep[t] == l;
            if (!taken && (best == 0 || area[l] > area[best])) best = l;
        }
        keep[nk++] = best;
    }
    size_t n = (size_t)w * h;
    const int32_t *lab = c->lab;
    for (size_t p = 0; p < n; p++) {
        int l = lab[p], on = 0;
        if (l)
            for (int t = 0; t < nk; t++) on |= keep[t] == l;
        dst[p] = on ? 255 : 0;
    }
    return H19_OK;
}

/* ---- 3. flood fill from the border ----------------------------------------------------------- */

int ct_fill_border(ct_prep *c, uint8_t *img, int w, int h, int conn) {
    H19_TRY(check_size(c, w, h, "ct_fill_border"));
    if (conn != 4 && conn != 8)
        return h19_fail(H19_EARG, "ct_fill_border: connectivity %d is not 4 or 8", conn);
    int32_t *q = c->queue;
    size_t qt = 0, qh = 0;
    /* Seed every border 0 pixel (painting it at once, so none is queued twice). */
    for (int x = 0; x < w; x++) {
        int p0 = x, p1 = (h - 1) * w + x;
        if (!img[p0]) { img[p0] = 255; q[qt++] = p0; }
        if (!img[p1]) { img[p1] = 255; q[qt++] = p1; }
    }
    for (int y = 1; y < h - 1; y++) {
        int p0 = y * w, p1 = y * w + w - 1;
        if (!img[p0]) { img[p0] = 255; q[qt++] = p0; }
        if (!img[p1]) { img[p1] = 255; q[qt++] = p1; }
    }
    while (qh < qt) {
        int p = q[qh++];
        int x = p % w, y = p / w;
        for (int dy = -1; dy <= 1; dy++) {
            int yy = y + dy;
            if (yy < 0 || yy >= h) continue;
            for (int dx = -1; dx <= 1; dx++) {
                if (!dx && !dy) continue;
                if (conn == 4 && dx && dy) continue;
                int xx = x + dx;
                if (xx < 0 || xx >= w) continue;
                int pp = yy * w + xx;
                if (!img[pp]) {
                    img[pp] = 255;
                    q[qt++] = pp;
                }
            }
        }
    }
    return H19_OK;
}

void ct_invert(uint8_t *img, int n) {
    for (int i = 0; i < n; i++) img[i] = (uint8_t)(255 - img[i]);
}

/* ---- 5. morphology ----------------------------------------------------------------------------- */

static inline uint8_t ext(uint8_t a, uint8_t b, int is_max) {
    return is_max ? (a > b ? a : b) : (a < b ? a : b);
}

/* 1-D running extremum of s[0..n-1] over windows [x-a, x-a+K-1] clipped to [0, n-1] (OpenCV's
 * default morphology border: outside pixels never win; a window wholly outside gives the neutral
 * value). van Herk / Gil-Werman: with blocks of K samples, g = running extremum from each block
 * start, hh = from each block end; a full window [lo, lo+K-1] is ext(hh[lo], g[lo+K-1]). Clipped
 * windows touch an end of the line, so they are a prefix (pre) or suffix (suf) extremum. */
static void line_extremum(ct_prep *c, const uint8_t *s, uint8_t *d, int n, int K, int a, int is_max) {
    uint8_t *pre = c->l_pre, *suf = c->l_suf, *g = c->l_g, *hh = c->l_h;
    uint8_t neutral = is_max ? 0 : 255;
    pre[0] = s[0];
    for (int i = 1; i < n; i++) pre[i] = ext(pre[i - 1], s[i], is_max);
    suf[n - 1] = s[n - 1];
    for (int i = n - 2; i >= 0; i--) suf[i] = ext(suf[i + 1], s[i], is_max);
    int full = K <= n; /* only then can a window lie wholly inside */
    if (full) {
        for (int i = 0; i < n; i++) g[i] = (i % K == 0) ? s[i] : ext(g[i - 1], s[i], is_max);
        for (int i = n - 1; i >= 0; i--)
            hh[i] = (i == n - 1 || (i + 1) % K == 0) ? s[i] : ext(hh[i + 1], s[i], is_max);
    }
    for (int x = 0; x < n; x++) {
        int lo = x - a, hi = x - a + K - 1;
        uint8_t v;
        if (lo > n - 1 || hi < 0) v = neutral;
        else if (lo <= 0 && hi >= n - 1) v = pre[n - 1];
        else if (lo <= 0) v = pre[hi];
        else if (hi >= n - 1) v = suf[lo];
        else v = ext(hh[lo], g[hi], is_max);
        d[x] = v;
    }
}

static int morph_rect(ct_prep *c, const uint8_t *src, uint8_t *dst, int w, int h, int kw, int kh,
                      int ax, int ay, int is_max, const char *who) {
    H19_TRY(check_size(c, w, h, who));
    if (kw < 1 || kh < 1 || ax < 0 || ax >= kw || ay < 0 || ay >= kh)
        return h19_fail(H19_EARG, "%s: kernel %dx%d with anchor (%d,%d) is invalid", who, kw, kh, ax, ay);
    /* A rectangle is separable: rows, then columns (each pass exact for max/min). */
    for (int y = 0; y < h; y++) {
        memcpy(c->l_src, src + (size_t)y * w, (size_t)w);
        line_extremum(c, c->l_src, dst + (size_t)y * w, w, kw, ax, is_max);
    }
    for (int x = 0; x < w; x++) {
        for (int y = 0; y < h; y++) c->l_src[y] = dst[(size_t)y * w + x];
        line_extremum(c, c->l_src, c->l_dst, h, kh, ay, is_max);
        for (int y = 0; y < h; y++) dst[(size_t)y * w + x] = c->l_dst[y];
    }
    return H19_OK;
}

int ct_dilate_rect(ct_prep *c, const uint8_t *src, uint8_t *dst, int w, int h, int kw, int kh, int ax,
                   int ay) {
    return morph_rect(c, src, dst, w, h, kw, kh, ax, ay, 1, "ct_dilate_rect");
}

int ct_erode_rect(ct_prep *c, const uint8_t *src, uint8_t *dst, int w, int h, int kw, int kh, int ax,
                  int ay) {
    return morph_rect(c, src, dst, w, h, kw, kh, ax, ay, 0, "ct_erode_rect");
}

int ct_morph(ct_prep *c, uint8_t *img, int w, int h, int op, int k, int it) {
    if (k < 1 || it < 1 || k > (1 << 14) || it > 1000)
        return h19_fail(H19_EARG, "ct_morph: kernel %d x %d iterations is invalid", k, it);
    /* OpenCV (imgproc/src/morph.dispatch.cpp, morphOp): `it` iterations of an all-ones
     * rectangle become one pass of size k + (it-1)(k-1), anchor = it * anchor, anchor = k/2. */
    int K = k + (it - 1) * (k - 1), A = it * (k / 2);
    switch (op) {
    case CT_MORPH_DILATE: return ct_dilate_rect(c, img, img, w, h, K, K, A, A);
    case CT_MORPH_ERODE: return ct_erode_rect(c, img, img, w, h, K, K, A, A);
    case CT_MORPH_CLOSE: /* morphologyEx: dilate(it) then erode(it), same kernel and anchor */
        H19_TRY(ct_dilate_rect(c, img, img, w, h, K, K, A, A));
        return ct_erode_rect(c, img, img, w, h, K, K, A, A);
    default: return h19_fail(H19_EARG, "ct_morph: unknown operation %d", op);
    }
}

/* ---- median ------------------------------------------------------------------------------------ */

static int check_median(ct_prep *c, const uint8_t *src, const uint8_t *dst, int w, int h, int ksize,
                        const char *who) {
    H19_TRY(check_size(c, w, h, who));
    if (ksize < 3 || ksize % 2 == 0 || ksize > (1 << 14))
        return h19_fail(H19_EARG, "%s: ksize %d is not odd >= 3", who, ksize);
    if (src == dst) return h19_fail(H19_EARG, "%s: dst must not alias src", who);
    return H19_OK;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

int ct_median_u8(ct_prep *c, const uint8_t *src, uint8_t *dst, int w, int h, int ksize) {
    H19_TRY(check_median(c, src, dst, w, h, ksize, "ct_median_u8"));
    int r = ksize / 2;
    int rank = (ksize * ksize) / 2; /* 0-based rank of the median of ksize^2 samples */
    int32_t *hist = c->hist;
    for (int y = 0; y < h; y++) {
        memset(hist, 0, 256 * sizeof *hist);
        /* Window at x = 0 over the replicated border. */
        for (int dy = -r; dy <= r; dy++) {
            const uint8_t *row = src + (size_t)clampi(y + dy, 0, h - 1) * w;
            for (int dx = -r; dx <= r; dx++) hist[row[clampi(dx, 0, w - 1)]]++;
        }
        /* Track the median m with lt = number of samples < m (Huang et al. 1979). */
        int m = 0, lt = 0;
        while (lt + hist[m] <= rank) lt += hist[m++];
        dst[(size_t)y * w] = (uint8_t)m;
        for (int x = 1; x < w; x++) {
            int xo = clampi(x - r - 1, 0, w - 1), xi = clampi(x + r, 0, w - 1);
            for (int dy = -r; dy <= r; dy++) {
                const uint8_t *row = src + (size_t)clampi(y + dy, 0, h - 1) * w;
                int vo = row[xo], vi = row[xi];
                hist[vo]--;
                if (vo < m) lt--;
                hist[vi]++;
                if (vi < m) lt++;
            }
            while (lt > rank) lt -= hist[--m];
            while (lt + hist[m] <= rank) lt += hist[m++];
            dst[(size_t)y * w + x] = (uint8_t)m;
        }
    }
    return H19_OK;
}

int ct_median_binary(ct_prep *c, const uint8_t *src, uint8_t *dst, int w, int h, int ksize) {
    H19_TRY(check_median(c, src, dst, w, h, ksize, "ct_median_binary"));
    int r = ksize / 2;
    /* The median of ksize^2 samples of {0, 255} is 255 iff more than half are 255, i.e. iff
     * the replicated-border box sum exceeds 255 * (ksize^2 / 2). The box sums are those of the
     * threshold step (exact, O(1) per pixel): the two-bin case of Perreault & Hebert. */
    int64_t half = 255 * (int64_t)((ksize * ksize) / 2);
    rowsums_replicate(src, w, h, r, c->rowsum);
    int64_t *acc = c->colsum;
    colsum_init(c->rowsum, w, h, r, acc);
    for (int y = 0; y < h; y++) {
        if (y > 0) colsum_step(c->rowsum, w, h, r, y, acc);
        uint8_t *d = dst + (size_t)y * w;
        for (int x = 0; x < w; x++) d[x] = acc[x] > half ? 255 : 0;
    }
    return H19_OK;
}

/* ---- 6. bilinear resize ------------------------------------------------------------------------ */

/* OpenCV (imgproc/src/resize.cpp, resize for CV_8U, INTER_LINEAR): per output column
 * fx = (float)((dx + 0.5) * scale - 0.5), sx = floor(fx), fx -= sx; sx < 0 -> (sx, fx) = (0, 0),
 * sx >= n-1 -> (n-1, 0); weights saturate_cast<short>((1-fx) * 2048) and (fx * 2048) (float
 * products, round half to even). Rows: the same without clamping fy; the two source rows are
 * clamped instead. Horizontal pass: integer sums S = a0*p[sx] + a1*p[sx+1] (one tap of weight
 * 2048 past the right edge); vertical pass, as OpenCV's scalar and SIMD code (VResizeLinear for
 * uchar): ((b0*(S0>>4))>>16) + ((b1*(S1>>4))>>16) + 2) >> 2. An exact 2x downscale is INTER_AREA
 * in OpenCV, which equals this formula there (weights 1024: (a+b+c+d+2)>>2). */
static void resize_coeffs(int ssize, int dsize, int32_t *ofs, int32_t *coef, int clamp_frac) {
    double inv_scale = (double)dsize / ssize;
    double scale = 1.0 / inv_scale;
    for (int d = 0; d < dsize; d++) {
        float f = (float)((d + 0.5) * scale - 0.5);
        int s = (int)floorf(f);
        f -= (float)s;
        if (clamp_frac) {
            if (s < 0) { s = 0; f = 0.f; }
            if (s >= ssize - 1) { s = ssize - 1; f = 0.f; }
        }
        ofs[d] = s;
        float c0 = 1.f - f, c1 = f;
        coef[2 * d] = (int32_t)lrintf(c0 * 2048.f);
        coef[2 * d + 1] = (int32_t)lrintf(c1 * 2048.f);
    }
}

static void hresize_row(const uint8_t *s, int sw, int32_t *out, int dw, const int32_t *xofs,
                        const int32_t *ia) {
    for (int dx = 0; dx < dw; dx++) {
        int sx = xofs[dx];
        out[dx] = sx + 1 < sw ? s[sx] * ia[2 * dx] + s[sx + 1] * ia[2 * dx + 1] : s[sx] * 2048;
    }
}

int ct_resize_linear(ct_prep *c, const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh) {
    H19_TRY(check_size(c, sw, sh, "ct_resize_linear"));
    if (dw < 1 || dh < 1 || dw > c->max_line || dh > c->max_line)
        return h19_fail(H19_EARG, "ct_resize_linear: target %dx%d outside 1..%d", dw, dh, c->max_line);
    resize_coeffs(sw, dw, c->xofs, c->ialpha, 1);
    resize_coeffs(sh, dh, c->yofs, c->ibeta, 0);
    int r0 = -1, r1 = -1; /* source rows held in hrow0 / hrow1 */
    for (int dy = 0; dy < dh; dy++) {
        int sy0 = clampi(c->yofs[dy], 0, sh - 1), sy1 = clampi(c->yofs[dy] + 1, 0, sh - 1);
        if (sy0 != r0) {
            if (sy0 == r1) { /* reuse the previous lower row */
                int32_t *t = c->hrow0; c->hrow0 = c->hrow1; c->hrow1 = t;
                r0 = r1; r1 = -1;
            } else {
                hresize_row(src + (size_t)sy0 * sw, sw, c->hrow0, dw, c->xofs, c->ialpha);
                r0 = sy0;
            }
        }
        if (sy1 != r1) {
            if (sy1 == r0) memcpy(c->hrow1, c->hrow0, (size_t)dw * sizeof(int32_t));
            else hresize_row(src + (size_t)sy1 * sw, sw, c->hrow1, dw, c->xofs, c->ialpha);
            r1 = sy1;
        }
        int b0 = c->ibeta[2 * dy], b1 = c->ibeta[2 * dy + 1];
        const int32_t *S0 = c->hrow0, *S1 = c->hrow1;
        uint8_t *d = dst + (size_t)dy * dw;
        for (int x = 0; x < dw; x++) {
            int v = (((b0 * (S0[x] >> 4)) >> 16) + ((b1 * (S1[x] >> 4)) >> 16) + 2) >> 2;
            d[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    return H19_OK;
}

/* ---- the pipeline ------------------------------------------------------------------------------- */

int ct_preprocess(ct_prep *c, const uint8_t *in, int w, int h, uint8_t out[CT_OUT * CT_OUT],
                  uint8_t *mask_out) {
    H19_TRY(check_size(c, w, h, "ct_preprocess"));
    if (!in || !out) return h19_fail(H19_EARG, "ct_preprocess: NULL image");
    int s;
    ct_square_crop(in, w, h, c->crop, &s);
    int n = s * s;
    /* 1. threshold: body tissue (brighter than the slice mean + 96) -> 255. */
    H19_TRY(ct_threshold_mean(c, c->crop, s, s, CT_THRESH_BLOCK, CT_THRESH_C, c->a));
    /* 2. the body: the largest 4-connected white component. */
    H19_TRY(ct_keep_largest(c, c->a, s, s, 4, 1, c->b, NULL));
    /* 3. the background (black, touching the border) -> white: only holes inside the body stay. */
    H19_TRY(ct_fill_border(c, c->b, s, s, 4));
    /* 4. invert: the holes (lungs, airways, noise) are white; keep the two largest. */
    ct_invert(c->b, n);
    H19_TRY(ct_keep_largest(c, c->b, s, s, 4, 2, c->a, NULL));
    /* 5. morphology as the published code's OpenCV calls, then a 21 median. */
    H19_TRY(ct_morph(c, c->a, s, s, CT_MORPH_DILATE, 5, 3));
    H19_TRY(ct_morph(c, c->a, s, s, CT_MORPH_ERODE, 5, 2));
    H19_TRY(ct_morph(c, c->a, s, s, CT_MORPH_CLOSE, 10, 2));
    H19_TRY(ct_median_binary(c, c->a, c->mask, s, s, 21));
    /* multiply the slice by the 0/1 mask */
    for (int i = 0; i < n; i++) c->b[i] = c->mask[i] ? c->crop[i] : 0;
    if (mask_out) memcpy(mask_out, c->mask, (size_t)n);
    /* 6. 200 x 200 */
    return ct_resize_linear(c, c->b, s, s, out, CT_OUT, CT_OUT);
}
