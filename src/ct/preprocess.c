/* preprocess.c — the paper's CT slice preprocessing (see include/hust19/ct.h and
 * docs/preprocessing.md for the pipeline and our reading of the published code).
 *
 * Every step reproduces the OpenCV 4 function it stands for bit for bit, but with algorithms whose
 * cost per pixel does not depend on the kernel: the 15599-pixel adaptive-threshold block as exact
 * sums over the border-replicated image in closed form (OpenCV filters rows padded to
 * w + 15598 pixels, ~0.15 s a slice), rectangular
 * dilate/erode by van Herk / Gil-Werman running extrema (van Herk 1992, Pattern Recogn. Lett.
 * 13:517; Gil & Werman 1993, IEEE PAMI 15:504), the median of a binary mask by per-column counts
 * (Perreault & Hebert 2007, IEEE TIP 16:2389, with two bins), the general median by Huang's sliding
 * histogram (Huang, Yang & Tang 1979, IEEE TASSP 27:13).
 */
#include "hust19/ct.h"

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
    int32_t *rs, *re, *rlab;      /* runs: start, end (inclusive), parent then label; nruns_max */
    int32_t *row0;                /* max_h + 1: first run of each row */
    int32_t *area;                /* nruns_max + 1: component areas / flags */
    int64_t *rowsum;              /* n: box sums along rows (threshold) */
    int64_t *colsum;              /* max_line: running box sum of one output row */
    uint8_t *l_src, *l_suf, *l_g, *l_h; /* max_line each: morphology along one row */
    uint8_t *m_g, *m_h, *m_suf;         /* n each: morphology along columns, whole rows at a time */
    int32_t *hist;                /* 256: Huang's median */
    uint16_t *cnt, *acc16;        /* n, 2 max_line + 1: binary median counts, prefix counts */
    int32_t *xofs, *ialpha;       /* max_line, 2 * max_line: resize columns */
    int32_t *yofs, *ibeta;        /* max_line, 2 * max_line: resize rows */
    int32_t *hrow0, *hrow1;       /* max_line: horizontally resized rows */
};

void ct_prep_free(ct_prep *c) {
    if (!c) return;
    free(c->crop); free(c->a); free(c->b); free(c->mask);
    free(c->rs); free(c->re); free(c->rlab); free(c->row0); free(c->area);
    free(c->rowsum); free(c->colsum);
    free(c->l_src); free(c->l_suf); free(c->l_g); free(c->l_h);
    free(c->m_g); free(c->m_h); free(c->m_suf);
    free(c->hist); free(c->cnt); free(c->acc16);
    free(c->xofs); free(c->ialpha); free(c->yofs); free(c->ibeta); free(c->hrow0); free(c->hrow1);
    free(c);
}

int ct_prep_create(ct_prep **out, int max_w, int max_h) {
    if (!out) return h19_fail(H19_EARG, "ct_prep_create: NULL context pointer");
    *out = NULL;
    /* <= 16384 a side keeps pixel and run counts in int32 and every box sum exact. */
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
    /* at most (w + 1) / 2 runs of one class in a row */
    size_t R = (size_t)max_h * (((size_t)max_w + 1) / 2) + 1;
    int ok = (c->crop = h19_malloc(n)) && (c->a = h19_malloc(n)) && (c->b = h19_malloc(n)) &&
             (c->mask = h19_malloc(n)) && (c->rs = h19_malloc(R * sizeof(int32_t))) &&
             (c->re = h19_malloc(R * sizeof(int32_t))) &&
             (c->rlab = h19_malloc(R * sizeof(int32_t))) &&
             (c->row0 = h19_malloc(((size_t)max_h + 1) * sizeof(int32_t))) &&
             (c->area = h19_malloc((R + 1) * sizeof(int32_t))) &&
             (c->rowsum = h19_malloc(n * sizeof(int64_t))) &&
             (c->colsum = h19_malloc(L * sizeof(int64_t))) && (c->l_src = h19_malloc(L)) &&
             (c->l_suf = h19_malloc(L)) && (c->l_g = h19_malloc(L)) && (c->l_h = h19_malloc(L)) &&
             (c->m_g = h19_malloc(n)) && (c->m_h = h19_malloc(n)) && (c->m_suf = h19_malloc(n)) &&
             (c->hist = h19_malloc(256 * sizeof(int32_t))) &&
             (c->cnt = h19_malloc(n * sizeof(uint16_t))) &&
             (c->acc16 = h19_malloc((2 * L + 1) * sizeof(uint16_t))) &&
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

/* The same down the columns of the row sums, one output row at a time: colsum_init gives the
 * window sums of row 0 in acc (w values), colsum_step moves acc from row y-1 to row y. */
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
    /* <= 32767 keeps every box sum and slope product an exact integer in double (< 2^53). */
    if (block < 3 || block % 2 == 0 || block > 32767)
        return h19_fail(H19_EARG, "ct_threshold_mean: block %d is not odd in 3..32767", block);
    int r = block / 2;
    /* OpenCV (imgproc/src/thresh.cpp, adaptiveThreshold): mean = boxFilter(src, CV_8U, block,
     * normalize, BORDER_REPLICATE) and, for THRESH_BINARY, idelta = cvCeil(C), dst = 255 iff
     * src - mean > -idelta. The box filter sums in double when block^2 > 2^23 (exact for these
     * integers) and stores saturate_cast<uchar>(sum * (1.0 / block^2)), i.e. round to nearest
     * even: we do the same double product and rint. For block^2 = N odd the exact mean is never
     * a half-integer (it is >= 1/(2N) away), far beyond the error of one double product, so this
     * is the exactly rounded mean; OpenCV's integer-sum path for small blocks rounds the same way
     * (both checked against cv2.boxFilter; tests/unit/test_ct_steps.c checks exact rounding). */
    double scale = 1.0 / ((double)block * (double)block);
    double thr = -(double)cval; /* -idelta with idelta = ceil(C); C is an integer here */
    /* rint without a library call: adding and removing 1.5 * 2^52 rounds a double in [0, 2^51)
     * to an integer, to nearest even, in the default rounding mode (as cvRound). */
    const double magic = 6755399441055744.0;
    if (r >= w && r >= h) {
        /* The block is wider than the image (always, for 15599): every window covers the whole
         * image plus replicated edges. Along a row, the window of x holds r - x copies of s[0],
         * the row, and x + r - w + 1 copies of s[w-1], so the row sum is R(0) + x * (s[w-1] - s[0]);
         * along the columns likewise with the rows' R(0) and slopes D. So the box sum is
         * T(x, y) = A(y) + x * B(y), O(w*h) for the row totals and O(1) per pixel after. */
        int64_t *R0 = c->colsum, *D = c->rowsum; /* h values each */
        for (int y = 0; y < h; y++) {
            const uint8_t *sr = src + (size_t)y * w;
            int64_t tot = 0;
            for (int x = 0; x < w; x++) tot += sr[x];
            R0[y] = (int64_t)r * sr[0] + tot + (int64_t)(r - w + 1) * sr[w - 1];
            D[y] = (int64_t)sr[w - 1] - sr[0];
        }
        int64_t r0tot = 0, dtot = 0;
        for (int y = 0; y < h; y++) {
            r0tot += R0[y];
            dtot += D[y];
        }
        for (int y = 0; y < h; y++) {
            int64_t nl = r - y, nr = (int64_t)y + r - h + 1; /* replicated rows above / below */
            int64_t A = nl * R0[0] + r0tot + nr * R0[h - 1];
            int64_t B = nl * D[0] + dtot + nr * D[h - 1];
            /* A + x B < 255 * block^2 < 2^36 and x B < 2^50: exact in double. */
            double Ad = (double)A, Bd = (double)B;
            const uint8_t *sr = src + (size_t)y * w;
            uint8_t *d = dst + (size_t)y * w;
            int x = 0;
            for (; x + 16 <= w; x += 16) /* chunks of 16: vectorised at -O2 */
                for (int j = 0; j < 16; j++) {
                    double m = (Ad + (double)(x + j) * Bd) * scale;
                    double mean = (m + magic) - magic;
                    d[x + j] = ((double)sr[x + j] - mean > thr) ? 255 : 0;
                }
            for (; x < w; x++) {
                double m = (Ad + (double)x * Bd) * scale;
                double mean = (m + magic) - magic;
                d[x] = ((double)sr[x] - mean > thr) ? 255 : 0;
            }
        }
        return H19_OK;
    }
    rowsums_replicate(src, w, h, r, c->rowsum);
    int64_t *acc = c->colsum;
    colsum_init(c->rowsum, w, h, r, acc);
    for (int y = 0; y < h; y++) {
        if (y > 0) colsum_step(c->rowsum, w, h, r, y, acc);
        const uint8_t *sr = src + (size_t)y * w;
        uint8_t *d = dst + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            double mean = ((double)acc[x] * scale + magic) - magic; /* in [0, 255] */
            d[x] = ((double)sr[x] - mean > thr) ? 255 : 0;
        }
    }
    return H19_OK;
}

/* ---- 2./4. connected components ------------------------------------------------------------------ */

/* Connected components on runs (maximal horizontal stretches of one class), not pixels: the
 * run-based two-pass labelling of He, Chao & Suzuki (2008, IEEE TIP 17:749) with union-find.
 * Runs are numbered in raster order of their first pixel; a run is united with every run of the
 * row above that touches it (columns overlap for conn 4, overlap or meet diagonally for conn 8),
 * the smaller number becoming the root. A component's first pixel in raster order starts its
 * first run, so the root of a set is that run, and numbering roots in increasing order makes
 * final label l the l-th component met in raster order. The cost is O(w*h/8) to find the runs
 * (8 bytes at a time) plus O(runs). */

/* Runs of pixels of class fg ((v != 0) == fg) of one row into rs/re (inclusive ends). */
static int row_runs(const uint8_t *s, int w, int fg, int32_t *rs, int32_t *re) {
    int n = 0, x = 0;
    uint64_t skip = fg ? 0 : ~(uint64_t)0; /* a word of 8 pixels of the other class, if binary */
    while (x < w) {
        /* skip pixels of the other class, 8 at a time where the row is binary there */
        while (x + 8 <= w) {
            uint64_t v;
            memcpy(&v, s + x, 8);
            if (fg ? v != 0 : v != skip) break;
            x += 8;
        }
        while (x < w && (s[x] != 0) != fg) x++;
        if (x >= w) break;
        int x0 = x;
        while (x + 8 <= w) {
            uint64_t v;
            memcpy(&v, s + x, 8);
            /* a word wholly of class fg: all bytes non-zero (fg) or all zero (!fg) */
            int all = fg ? ((v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull) == 0 : v == 0;
            if (!all) break;
            x += 8;
        }
        while (x < w && (s[x] != 0) == fg) x++;
        rs[n] = x0;
        re[n] = x - 1;
        n++;
    }
    return n;
}

static int32_t uf_find(int32_t *par, int32_t x) {
    while (par[x] != x) {
        par[x] = par[par[x]]; /* path halving: parents stay smaller than children */
        x = par[x];
    }
    return x;
}

static void uf_union(int32_t *par, int32_t a, int32_t b) {
    a = uf_find(par, a);
    b = uf_find(par, b);
    if (a < b) par[b] = a;
    else if (b < a) par[a] = b;
}

/* Label the runs of class fg; afterwards run i (rows y: runs [c->row0[y], c->row0[y+1])) has final
 * label c->rlab[i] in 1..nl and c->area[l] is the pixel count of component l. Returns nl. */
static int label_runs(ct_prep *c, const uint8_t *src, int w, int h, int conn, int fg) {
    int32_t *rs = c->rs, *re = c->re, *par = c->rlab, *row0 = c->row0;
    int32_t nr = 0, d = conn == 8 ? 1 : 0;
    for (int y = 0; y < h; y++) {
        row0[y] = nr;
        int k = row_runs(src + (size_t)y * w, w, fg, rs + nr, re + nr);
        int32_t a0 = y ? row0[y - 1] : 0, a1 = y ? nr : 0; /* runs of the row above */
        int32_t j = a0;
        for (int32_t i = nr; i < nr + k; i++) {
            par[i] = i;
            /* runs above that end before this run can touch it cannot touch later runs either */
            while (j < a1 && re[j] + d < rs[i]) j++;
            for (int32_t t = j; t < a1 && rs[t] <= re[i] + d; t++) uf_union(par, i, t);
        }
        nr += k;
    }
    row0[h] = nr;
    int nl = 0;
    for (int32_t v = 0; v < nr; v++) par[v] = par[v] == v ? ++nl : par[par[v]];
    /* par[v] < v for a non-root, already mapped; a root's label is positive and new. (Labels and
     * run numbers share par[]: a parent read is always of a smaller, already mapped index.) */
    int32_t *area = c->area;
    for (int l = 0; l <= nl; l++) area[l] = 0;
    for (int32_t v = 0; v < nr; v++) area[par[v]] += re[v] - rs[v] + 1;
    return nl;
}

int ct_keep_largest(ct_prep *c, const uint8_t *src, int w, int h, int conn, int k, uint8_t *dst,
                    int *ncomp) {
    H19_TRY(check_size(c, w, h, "ct_keep_largest"));
    if (conn != 4 && conn != 8)
        return h19_fail(H19_EARG, "ct_keep_largest: connectivity %d is not 4 or 8", conn);
    if (k < 1 || k > 8) return h19_fail(H19_EARG, "ct_keep_largest: k = %d outside 1..8", k);
    int nl = label_runs(c, src, w, h, conn, 1);
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
    /* area[] becomes the keep flag per label */
    for (int l = 0; l <= nl; l++) area[l] = 0;
    for (int t = 0; t < nk; t++) area[keep[t]] = 1;
    memset(dst, 0, (size_t)w * h); /* src is not read again: dst may alias it */
    for (int y = 0; y < h; y++)
        for (int32_t i = c->row0[y]; i < c->row0[y + 1]; i++)
            if (area[c->rlab[i]])
                memset(dst + (size_t)y * w + c->rs[i], 255, (size_t)(c->re[i] - c->rs[i] + 1));
    return H19_OK;
}

/* ---- 3. flood fill from the border ----------------------------------------------------------- */

int ct_fill_border(ct_prep *c, uint8_t *img, int w, int h, int conn) {
    H19_TRY(check_size(c, w, h, "ct_fill_border"));
    if (conn != 4 && conn != 8)
        return h19_fail(H19_EARG, "ct_fill_border: connectivity %d is not 4 or 8", conn);
    /* A flood fill from every border 0 pixel paints exactly the components of 0 pixels that touch
     * the border: label the runs of 0, flag the components of runs on the border, paint them. */
    int nl = label_runs(c, img, w, h, conn, 0);
    int32_t *hit = c->area, *rs = c->rs, *re = c->re, *lab = c->rlab, *row0 = c->row0;
    for (int l = 0; l <= nl; l++) hit[l] = 0;
    for (int y = 0; y < h; y++)
        for (int32_t i = row0[y]; i < row0[y + 1]; i++)
            if (y == 0 || y == h - 1 || rs[i] == 0 || re[i] == w - 1) hit[lab[i]] = 1;
    for (int y = 0; y < h; y++)
        for (int32_t i = row0[y]; i < row0[y + 1]; i++)
            if (hit[lab[i]]) memset(img + (size_t)y * w + rs[i], 255, (size_t)(re[i] - rs[i] + 1));
    return H19_OK;
}

void ct_invert(uint8_t *img, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) /* chunks of 16: vectorised at -O2 */
        for (int j = 0; j < 16; j++) img[i + j] = (uint8_t)(255 - img[i + j]);
    for (; i < n; i++) img[i] = (uint8_t)(255 - img[i]);
}

/* ---- 5. morphology ----------------------------------------------------------------------------- */

static inline uint8_t ext(uint8_t a, uint8_t b, int is_max) {
    return is_max ? (a > b ? a : b) : (a < b ? a : b);
}

/* d = ext(a, b) elementwise; chunks of 16 so that GCC vectorises at -O2 (pmaxub / pminub). */
static void vext(uint8_t *restrict d, const uint8_t *restrict a, const uint8_t *restrict b, int n,
                 int is_max) {
    int x = 0;
    if (is_max) {
        for (; x + 16 <= n; x += 16)
            for (int j = 0; j < 16; j++) d[x + j] = a[x + j] > b[x + j] ? a[x + j] : b[x + j];
        for (; x < n; x++) d[x] = a[x] > b[x] ? a[x] : b[x];
    } else {
        for (; x + 16 <= n; x += 16)
            for (int j = 0; j < 16; j++) d[x + j] = a[x + j] < b[x + j] ? a[x + j] : b[x + j];
        for (; x < n; x++) d[x] = a[x] < b[x] ? a[x] : b[x];
    }
}

/* Running extremum over windows [x-a, x-a+K-1] clipped to [0, n-1] (OpenCV's default morphology
 * border: outside pixels never win; a window wholly outside gives the neutral value).
 * van Herk / Gil-Werman: cut the line into blocks of K samples; g = running extremum from each
 * block's start, hh = from each block's end; a window lying inside, [lo, lo+K-1], spans at most two
 * blocks and is ext(hh[lo], g[lo+K-1]): 3 operations per sample whatever K. A clipped window
 * touches an end of the line: a prefix extremum (= g, since it ends in the first block) or a
 * suffix extremum (suf, computed over the last K samples only).
 *
 * Both directions use the same code on "elements" that are either single bytes (a row, e = 1,
 * stride 1) or whole rows (the columns of an image, e = w bytes per element, vectorised). */
static void lines_extremum(ct_prep *c, const uint8_t *src, uint8_t *dst, int n, int e, int K, int a,
                           int is_max) {
    uint8_t *g = c->m_g, *hh = c->m_h, *suf = c->m_suf;
    const uint8_t neutral = is_max ? 0 : 255;
    size_t E = (size_t)e;
    /* g and hh, block by block (the last block may be short) */
    for (int b0 = 0; b0 < n; b0 += K) {
        int b1 = b0 + K < n ? b0 + K : n; /* [b0, b1) */
        memcpy(g + b0 * E, src + b0 * E, E);
        for (int i = b0 + 1; i < b1; i++) vext(g + i * E, g + (i - 1) * E, src + i * E, e, is_max);
        memcpy(hh + (b1 - 1) * E, src + (b1 - 1) * E, E);
        for (int i = b1 - 2; i >= b0; i--) vext(hh + i * E, hh + (i + 1) * E, src + i * E, e, is_max);
    }
    /* suffix extrema of the last min(K, n) samples */
    int s0 = n - K > 0 ? n - K : 0;
    memcpy(suf + (n - 1) * E, src + (n - 1) * E, E);
    for (int i = n - 2; i >= s0; i--) vext(suf + i * E, suf + (i + 1) * E, src + i * E, e, is_max);
    for (int x = 0; x < n; x++) {
        int lo = x - a, hi = x - a + K - 1;
        uint8_t *d = dst + x * E;
        if (lo > n - 1 || hi < 0) memset(d, neutral, E);
        else if (lo <= 0 && hi >= n - 1) memcpy(d, suf, E); /* K >= n here, so suf[0] exists */
        else if (lo <= 0) memcpy(d, g + hi * E, E);         /* hi < K: inside the first block */
        else if (hi >= n - 1) memcpy(d, suf + lo * E, E);   /* lo > n - K: suf[lo] exists */
        else vext(d, hh + lo * E, g + hi * E, e, is_max);
    }
}

/* The same for one line of bytes, scalar (the per-element calls above would cost more). */
static void line_extremum(ct_prep *c, const uint8_t *s, uint8_t *d, int n, int K, int a, int is_max) {
    uint8_t *g = c->l_g, *hh = c->l_h, *suf = c->l_suf;
    const uint8_t neutral = is_max ? 0 : 255;
    for (int b0 = 0; b0 < n; b0 += K) {
        int b1 = b0 + K < n ? b0 + K : n;
        uint8_t v = s[b0];
        g[b0] = v;
        for (int i = b0 + 1; i < b1; i++) g[i] = v = ext(v, s[i], is_max);
        v = s[b1 - 1];
        hh[b1 - 1] = v;
        for (int i = b1 - 2; i >= b0; i--) hh[i] = v = ext(v, s[i], is_max);
    }
    int s0 = n - K > 0 ? n - K : 0;
    uint8_t v = s[n - 1];
    suf[n - 1] = v;
    for (int i = n - 2; i >= s0; i--) suf[i] = v = ext(v, s[i], is_max);
    /* interior windows: lo >= 1 and hi <= n - 2, i.e. x in [a + 1, n - 2 + a - K + 1] */
    int xa = a + 1, xb = n - 1 + a - K; /* inclusive */
    for (int x = 0; x < n; x++) {
        if (x == xa && xb >= xa) {
            for (; x <= xb; x++) d[x] = ext(hh[x - a], g[x - a + K - 1], is_max);
            if (x >= n) break;
        }
        int lo = x - a, hi = x - a + K - 1;
        if (lo > n - 1 || hi < 0) d[x] = neutral;
        else if (lo <= 0 && hi >= n - 1) d[x] = suf[0];
        else if (lo <= 0) d[x] = g[hi];
        else if (hi >= n - 1) d[x] = suf[lo];
        else d[x] = ext(hh[lo], g[hi], is_max);
    }
}

/* Does img hold only 0 and 255? (16 at a time, vectorised.) */
static int is_binary(const uint8_t *img, size_t n) {
    size_t i = 0;
    int bad = 0;
    for (; i + 16 <= n && !bad; i += 16)
        for (int j = 0; j < 16; j++) bad |= (uint8_t)(img[i + j] + 1) > 1; /* 0 -> 1, 255 -> 0 */
    for (; i < n; i++) bad |= (uint8_t)(img[i] + 1) > 1;
    return !bad;
}

/* The row pass for a binary line: the output is the neutral value except near the runs of the
 * other value v (255 for a dilation, 0 for an erosion), and a window holds a pixel p of v iff
 * x in [p - (K-1-a), p + a], so each run [s, e] of v paints [s - (K-1-a), e + a] (clipped) with v.
 * Cost: the run search (8 bytes at a time) plus the painted bytes. */
static void line_extremum_binary(ct_prep *c, const uint8_t *s, uint8_t *d, int n, int K, int a,
                                 int is_max) {
    int32_t *rs = c->rs, *re = c->re; /* free between labelling calls */
    int fg = is_max; /* runs of 255 for max, of 0 for min */
    int k = row_runs(s, n, fg, rs, re);
    uint8_t v = is_max ? 255 : 0;
    memset(d, is_max ? 0 : 255, (size_t)n);
    for (int i = 0; i < k; i++) {
        int lo = rs[i] - (K - 1 - a), hi = re[i] + a;
        if (lo < 0) lo = 0;
        if (hi > n - 1) hi = n - 1;
        if (lo <= hi) memset(d + lo, v, (size_t)(hi - lo + 1));
    }
}

static int morph_rect(ct_prep *c, const uint8_t *src, uint8_t *dst, int w, int h, int kw, int kh,
                      int ax, int ay, int is_max, const char *who) {
    H19_TRY(check_size(c, w, h, who));
    if (kw < 1 || kh < 1 || ax < 0 || ax >= kw || ay < 0 || ay >= kh)
        return h19_fail(H19_EARG, "%s: kernel %dx%d with anchor (%d,%d) is invalid", who, kw, kh, ax, ay);
    /* A rectangle is separable: rows, then columns (each pass exact for max/min). */
    if (is_binary(src, (size_t)w * h)) {
        for (int y = 0; y < h; y++) {
            memcpy(c->l_src, src + (size_t)y * w, (size_t)w);
            line_extremum_binary(c, c->l_src, dst + (size_t)y * w, w, kw, ax, is_max);
        }
    } else {
        for (int y = 0; y < h; y++) {
            memcpy(c->l_src, src + (size_t)y * w, (size_t)w);
            line_extremum(c, c->l_src, dst + (size_t)y * w, w, kw, ax, is_max);
        }
    }
    lines_extremum(c, dst, dst, h, w, kh, ay, is_max);
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
    if (ksize > 255)
        return h19_fail(H19_EARG, "ct_median_binary: ksize %d above 255 (16-bit counts)", ksize);
    int r = ksize / 2;
    /* The median of ksize^2 samples of {0, 255} is 255 iff more than half are 255. Count the 255s
     * of each replicated-border window with per-column counts (the two-bin case of Perreault &
     * Hebert): a sliding count along each row (cnt), then running sums of cnt rows down the
     * columns, whole rows at a time (vectorised); counts <= 255^2 fit 16 bits. */
    uint16_t *cnt = c->cnt, *acc = c->acc16, *P = c->acc16 + c->max_line; /* P: w + 1 */
    for (int y = 0; y < h; y++) {
        const uint8_t *s = src + (size_t)y * w;
        uint16_t *restrict o = cnt + (size_t)y * w;
        /* a row without 255 counts 0 everywhere (most rows of a lung mask) */
        int x = 0;
        uint64_t v;
        while (x + 8 <= w && (memcpy(&v, s + x, 8), v == 0)) x += 8;
        while (x < w && !s[x]) x++;
        if (x == w) {
            memset(o, 0, (size_t)w * sizeof *o);
            continue;
        }
        /* window counts from prefix counts P[i] = #255 in s[0..i-1], with r copies of each end */
        P[0] = 0;
        for (int i = 0; i < w; i++) P[i + 1] = (uint16_t)(P[i] + (s[i] != 0));
        int first = s[0] != 0, last = s[w - 1] != 0;
        for (x = 0; x < w; x++) {
            int lo = x - r, hi = x + r, k;
            if (lo >= 0 && hi <= w - 1) {
                /* interior run of x: no clamping */
                int xe = w - 1 - r; /* last interior x */
                for (; x <= xe; x++) o[x] = (uint16_t)(P[x + r + 1] - P[x - r]);
                if (x >= w) break;
                lo = x - r;
                hi = x + r;
            }
            k = P[(hi < w - 1 ? hi : w - 1) + 1] - P[lo > 0 ? lo : 0];
            if (lo < 0) k += -lo * first;
            if (hi > w - 1) k += (hi - (w - 1)) * last;
            o[x] = (uint16_t)k;
        }
    }
    for (int x = 0; x < w; x++) acc[x] = 0;
    for (int i = -r; i <= r; i++) {
        const uint16_t *row = cnt + (size_t)clampi(i, 0, h - 1) * w;
        for (int x = 0; x < w; x++) acc[x] = (uint16_t)(acc[x] + row[x]);
    }
    const uint16_t half = (uint16_t)((ksize * ksize) / 2);
    for (int y = 0; y < h; y++) {
        if (y > 0) {
            const uint16_t *ra = cnt + (size_t)clampi(y + r, 0, h - 1) * w;
            const uint16_t *rm = cnt + (size_t)clampi(y - r - 1, 0, h - 1) * w;
            int x = 0;
            for (; x + 16 <= w; x += 16)
                for (int j = 0; j < 16; j++)
                    acc[x + j] = (uint16_t)(acc[x + j] + ra[x + j] - rm[x + j]);
            for (; x < w; x++) acc[x] = (uint16_t)(acc[x] + ra[x] - rm[x]);
        }
        uint8_t *d = dst + (size_t)y * w;
        int x = 0;
        for (; x + 16 <= w; x += 16)
            for (int j = 0; j < 16; j++) d[x + j] = acc[x + j] > half ? 255 : 0;
        for (; x < w; x++) d[x] = acc[x] > half ? 255 : 0;
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
    {
        uint8_t *restrict o = c->b;
        const uint8_t *restrict m = c->mask, *restrict v = c->crop;
        int i = 0;
        for (; i + 16 <= n; i += 16) /* mask is 0 or 255 */
            for (int j = 0; j < 16; j++) o[i + j] = m[i + j] & v[i + j];
        for (; i < n; i++) o[i] = m[i] & v[i];
    }
    if (mask_out) memcpy(mask_out, c->mask, (size_t)n);
    /* 6. 200 x 200 */
    return ct_resize_linear(c, c->b, s, s, out, CT_OUT, CT_OUT);
}
