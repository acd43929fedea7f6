/* test_ct_steps.c — each step of the CT preprocessing on tiny hand-made images, and against
 * brute-force implementations of the OpenCV definitions on small random images. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hust19/ct.h"
#include "hust19/err.h"

static uint32_t rng_state = 12345u;
static uint32_t rnd(void) { /* xorshift32: test data only */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- square crop ---------------------------------------------------------------------------- */

static void test_crop(void) {
    uint8_t in[5 * 3], out[9];
    for (int i = 0; i < 15; i++) in[i] = (uint8_t)i;
    int s = 0, x0, y0;
    ct_square_crop(in, 5, 3, out, &s); /* 5 wide, 3 high: columns 1..3 */
    CHECK(s == 3);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++) CHECK(out[y * 3 + x] == in[y * 5 + x + 1]);
    ct_square_crop_box(3, 6, &x0, &y0, &s); /* 3 wide, 6 high: rows 1..3 (odd difference) */
    CHECK(s == 3 && x0 == 0 && y0 == 1);
    ct_square_crop_box(4, 4, &x0, &y0, &s);
    CHECK(s == 4 && x0 == 0 && y0 == 0);
}

/* ---- adaptive threshold ---------------------------------------------------------------------- */

/* cv2.adaptiveThreshold(MEAN_C, THRESH_BINARY) by its definition: the mean over the
 * BORDER_REPLICATE image, as exact integers (column i of the window counted as often as clamp()
 * maps window positions onto it), rounded half to even with integer arithmetic. */
static void threshold_brute(const uint8_t *src, int w, int h, int block, int cval, uint8_t *dst) {
    int r = block / 2;
    int64_t N = (int64_t)block * block;
    int64_t *cw = calloc((size_t)w, sizeof *cw), *rw = calloc((size_t)h, sizeof *rw);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            memset(cw, 0, (size_t)w * sizeof *cw);
            memset(rw, 0, (size_t)h * sizeof *rw);
            /* multiplicities: the first/last index gets the replicated part in one step */
            for (int i = 0; i < w; i++) cw[i] = (x - r <= i && i <= x + r) ? 1 : 0;
            if (x - r < 0) cw[0] += -(x - r);
            if (x + r > w - 1) cw[w - 1] += x + r - (w - 1);
            for (int j = 0; j < h; j++) rw[j] = (y - r <= j && j <= y + r) ? 1 : 0;
            if (y - r < 0) rw[0] += -(y - r);
            if (y + r > h - 1) rw[h - 1] += y + r - (h - 1);
            int64_t sum = 0;
            for (int j = 0; j < h; j++)
                for (int i = 0; i < w; i++) sum += rw[j] * cw[i] * src[j * w + i];
            int64_t q = sum / N, rem = sum % N;
            if (2 * rem > N || (2 * rem == N && (q & 1))) q++;
            dst[y * w + x] = (src[y * w + x] - q > -cval) ? 255 : 0;
        }
    free(cw);
    free(rw);
}

static void test_threshold(void) {
    ct_prep *ctx = NULL;
    CHECK_OK(ct_prep_create(&ctx, 40, 40));
    if (!ctx) return;
    /* Hand case, 3x1 [0, 0, 255], block 15599: the row window of x holds 7799-x copies of 0 on
     * the left and x+7797 copies of 255 on the right plus the 255 itself, so mean(2) =
     * round(7800*255/15599) = round(127.51) = 128 and mean(0) = round(127.48) = 127. The 255
     * pixel passes iff 255 - 128 > -C: C = -126 yes, C = -127 no. */
    uint8_t img[3] = {0, 0, 255}, out[3];
    CHECK_OK(ct_threshold_mean(ctx, img, 3, 1, CT_THRESH_BLOCK, -126, out));
    CHECK(out[0] == 0 && out[1] == 0 && out[2] == 255);
    CHECK_OK(ct_threshold_mean(ctx, img, 3, 1, CT_THRESH_BLOCK, -127, out));
    CHECK(out[2] == 0);
    /* C = 0: pixel 0 at x=0 is not > 127. A dark body on a bright background with C = +20:
     * pixels above mean - 20. */
    CHECK_OK(ct_threshold_mean(ctx, img, 3, 1, CT_THRESH_BLOCK, 0, out));
    CHECK(out[0] == 0 && out[2] == 255);
    /* Random images against the brute force: the closed form (block wider than the image) and
     * the sliding-sum path (small blocks), several offsets, sizes down to 1x1. */
    static const int sizes[][2] = {{1, 1}, {7, 5}, {13, 9}, {5, 17}, {40, 3}, {31, 31}};
    static const int blocks[] = {3, 5, 11, 15599};
    static const int cs[] = {-96, -3, 0, 7};
    uint8_t src[40 * 40], a[40 * 40], b[40 * 40];
    int mism = 0, ones = 0, total = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (size_t bi = 0; bi < sizeof blocks / sizeof *blocks; bi++)
            for (size_t ci = 0; ci < sizeof cs / sizeof *cs; ci++) {
                int w = sizes[si][0], h = sizes[si][1];
                /* a dark background with a bright blob, so C = -96 thresholds something */
                for (int i = 0; i < w * h; i++) {
                    int x = i % w, y = i / w;
                    int in = (x - w / 2) * (x - w / 2) + (y - h / 2) * (y - h / 2) < w * h / 8;
                    src[i] = (uint8_t)(in ? 180 + rnd() % 76 : rnd() % 90);
                }
                CHECK_OK(ct_threshold_mean(ctx, src, w, h, blocks[bi], cs[ci], a));
                threshold_brute(src, w, h, blocks[bi], cs[ci], b);
                for (int i = 0; i < w * h; i++) {
                    mism += a[i] != b[i];
                    ones += a[i] == 255;
                }
                total += w * h;
            }
    CHECK_MSG(mism == 0, "%d of %d threshold pixels differ from the brute force", mism, total);
    CHECK(ones > 0 && ones < total); /* the cases are not trivial */
    CHECK(ct_threshold_mean(ctx, src, 3, 3, 4, 0, a) == H19_EARG);   /* even block */
    CHECK(ct_threshold_mean(ctx, src, 41, 3, 5, 0, a) == H19_EARG);  /* beyond the context */
    ct_prep_free(ctx);
}

/* ---- connected components ------------------------------------------------------------------- */

/* Brute force: flood labelling with an explicit stack, raster-order seeds. */
static int label_brute(const uint8_t *img, int w, int h, int conn, int fg, int *lab, int *area) {
    int n = w * h, nl = 0, *st = malloc((size_t)n * sizeof *st);
    for (int i = 0; i < n; i++) lab[i] = 0;
    for (int p = 0; p < n; p++) {
        if ((img[p] != 0) != fg || lab[p]) continue;
        int sp = 0;
        st[sp++] = p;
        lab[p] = ++nl;
        area[nl] = 0;
        while (sp) {
            int q = st[--sp], x = q % w, y = q / w;
            area[nl]++;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    if ((!dx && !dy) || (conn == 4 && dx && dy)) continue;
                    int xx = x + dx, yy = y + dy;
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                    int qq = yy * w + xx;
                    if ((img[qq] != 0) == fg && !lab[qq]) {
                        lab[qq] = nl;
                        st[sp++] = qq;
                    }
                }
        }
    }
    free(st);
    return nl;
}

static void test_components(void) {
    ct_prep *ctx = NULL;
    CHECK_OK(ct_prep_create(&ctx, 48, 48));
    if (!ctx) return;
    /* Hand case (7x4): A = 5 pixels, B = 2 + 1 + 1 pixels touching only diagonally, C = 2. */
    const char *pic =
        "AA...B."
        "AA...B."
        "A.....B"
        "..CC.B.";
    enum { W = 7, H = 4 };
    uint8_t img[W * H], out[W * H];
    for (int i = 0; i < W * H; i++) img[i] = pic[i] == '.' ? 0 : 255;
    int nc = 0;
    CHECK_OK(ct_keep_largest(ctx, img, W, H, 4, 1, out, &nc));
    CHECK(nc == 5); /* A, B's top 2 pixels, (6,2), C, (5,3) */
    for (int i = 0; i < W * H; i++) CHECK(out[i] == (pic[i] == 'A' ? 255 : 0));
    CHECK_OK(ct_keep_largest(ctx, img, W, H, 8, 2, out, &nc));
    CHECK(nc == 3); /* 8-connected: A 5, B 4, C 2 */
    for (int i = 0; i < W * H; i++) CHECK(out[i] == ((pic[i] == 'A' || pic[i] == 'B') ? 255 : 0));
    /* Ties: two components of 2 pixels; the first in raster order wins; in place (dst = src). */
    const char *tie = "..X...X" ".X....X";
    uint8_t t[14];
    for (int i = 0; i < 14; i++) t[i] = tie[i] == 'X' ? 255 : 0;
    CHECK_OK(ct_keep_largest(ctx, t, 7, 2, 8, 1, t, &nc));
    CHECK(nc == 2);
    for (int i = 0; i < 14; i++) CHECK(t[i] == ((i == 2 || i == 8) ? 255 : 0));
    /* Empty image: nothing kept. */
    memset(img, 0, sizeof img);
    CHECK_OK(ct_keep_largest(ctx, img, W, H, 4, 2, out, &nc));
    CHECK(nc == 0 && out[0] == 0);
    CHECK(ct_keep_largest(ctx, img, W, H, 6, 1, out, NULL) == H19_EARG);

    /* Random images against the flood-fill brute force: component count and the kept pixels
     * (the k largest, ties to the earlier component). Densities around the percolation point
     * give many components of all sizes; 255 and other non-zero values both count. */
    uint8_t src[48 * 48], got[48 * 48];
    int lab[48 * 48], area[48 * 48 + 1];
    int bad = 0;
    for (int trial = 0; trial < 60; trial++) {
        int w = 1 + rnd() % 48, h = 1 + rnd() % 48, conn = trial % 2 ? 8 : 4, k = 1 + trial % 3;
        int dens = 35 + rnd() % 30;
        for (int i = 0; i < w * h; i++) src[i] = (int)(rnd() % 100) < dens ? (uint8_t)(1 + rnd() % 255) : 0;
        CHECK_OK(ct_keep_largest(ctx, src, w, h, conn, k, got, &nc));
        int nl = label_brute(src, w, h, conn, 1, lab, area);
        bad += nc != nl;
        int keep[3], nk = 0;
        for (int j = 0; j < k && j < nl; j++) {
            int best = 0;
            for (int l = 1; l <= nl; l++) {
                int taken = 0;
                for (int q = 0; q < nk; q++) taken |= keep[q] == l;
                if (!taken && (!best || area[l] > area[best])) best = l;
            }
            keep[nk++] = best;
        }
        for (int i = 0; i < w * h; i++) {
            int on = 0;
            for (int q = 0; q < nk; q++) on |= lab[i] == keep[q];
            bad += got[i] != (on && lab[i] ? 255 : 0);
        }
    }
    CHECK_MSG(bad == 0, "%d mismatches against the brute-force labelling", bad);
    ct_prep_free(ctx);
}

static void test_fill_border(void) {
    ct_prep *ctx = NULL;
    CHECK_OK(ct_prep_create(&ctx, 48, 48));
    if (!ctx) return;
    /* A ring with a hole, and a second pocket open to the outside only through a diagonal gap. */
    const char *pic =
        "........"
        ".####..."
        ".#..#..."
        ".####..."
        "......#."
        ".....#.#"
        "......#.";
    enum { W = 8, H = 7 };
    uint8_t img[W * H];
    for (int i = 0; i < W * H; i++) img[i] = pic[i] == '#' ? 255 : 0;
    /* 4-connected: the ring's hole and (6,5) (its four neighbours are #) stay 0. */
    CHECK_OK(ct_fill_border(ctx, img, W, H, 4));
    for (int i = 0; i < W * H; i++) {
        int hole = i == 2 * W + 2 || i == 2 * W + 3 || i == 5 * W + 6;
        CHECK(img[i] == (hole ? 0 : 255));
    }
    /* 8-connected: (6,5) touches the outside diagonally through (7,4) and is filled. */
    for (int i = 0; i < W * H; i++) img[i] = pic[i] == '#' ? 255 : 0;
    CHECK_OK(ct_fill_border(ctx, img, W, H, 8));
    for (int i = 0; i < W * H; i++) {
        int hole = i == 2 * W + 2 || i == 2 * W + 3;
        CHECK(img[i] == (hole ? 0 : 255));
    }
    /* Random images against the brute force: 0 pixels in a component touching the border -> 255. */
    uint8_t src[48 * 48], got[48 * 48];
    int lab[48 * 48], area[48 * 48 + 1], hit[48 * 48 + 1];
    int bad = 0;
    for (int trial = 0; trial < 40; trial++) {
        int w = 1 + rnd() % 48, h = 1 + rnd() % 48, conn = trial % 2 ? 8 : 4;
        for (int i = 0; i < w * h; i++) src[i] = rnd() % 100 < 45 ? 255 : 0;
        memcpy(got, src, (size_t)w * h);
        CHECK_OK(ct_fill_border(ctx, got, w, h, conn));
        int nl = label_brute(src, w, h, conn, 0, lab, area);
        for (int l = 0; l <= nl; l++) hit[l] = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                if (x == 0 || y == 0 || x == w - 1 || y == h - 1) hit[lab[y * w + x]] = 1;
        for (int i = 0; i < w * h; i++) {
            uint8_t want = src[i] ? src[i] : (hit[lab[i]] ? 255 : 0);
            bad += got[i] != want;
        }
    }
    CHECK_MSG(bad == 0, "%d mismatches against the brute-force fill", bad);
    uint8_t inv[3] = {0, 100, 255};
    ct_invert(inv, 3);
    CHECK(inv[0] == 255 && inv[1] == 155 && inv[2] == 0);
    ct_prep_free(ctx);
}

/* ---- morphology ------------------------------------------------------------------------------ */

/* cv2.dilate/erode by definition: extremum over the window clipped to the image. */
static void morph_brute(const uint8_t *s, uint8_t *d, int w, int h, int kw, int kh, int ax, int ay,
                        int is_max) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = is_max ? 0 : 255;
            for (int j = y - ay; j < y - ay + kh; j++)
                for (int i = x - ax; i < x - ax + kw; i++) {
                    if (i < 0 || j < 0 || i >= w || j >= h) continue;
                    int p = s[j * w + i];
                    v = is_max ? (p > v ? p : v) : (p < v ? p : v);
                }
            d[y * w + x] = (uint8_t)v;
        }
}

static void test_morphology(void) {
    ct_prep *ctx = NULL;
    CHECK_OK(ct_prep_create(&ctx, 40, 40));
    if (!ctx) return;
    uint8_t src[40 * 40], a[40 * 40], b[40 * 40];
    int bad = 0;
    for (int trial = 0; trial < 120; trial++) {
        int w = 1 + rnd() % 40, h = 1 + rnd() % 40;
        int kw = 1 + rnd() % 25, kh = 1 + rnd() % 25, ax = rnd() % kw, ay = rnd() % kh;
        int binary = trial % 2, is_max = (trial / 2) % 2;
        for (int i = 0; i < w * h; i++)
            src[i] = binary ? ((int)(rnd() % 100) < 20 + trial % 60 ? 255 : 0) : (uint8_t)rnd();
        if (is_max) CHECK_OK(ct_dilate_rect(ctx, src, a, w, h, kw, kh, ax, ay));
        else CHECK_OK(ct_erode_rect(ctx, src, a, w, h, kw, kh, ax, ay));
        morph_brute(src, b, w, h, kw, kh, ax, ay, is_max);
        bad += memcmp(a, b, (size_t)w * h) != 0;
        /* in place */
        memcpy(a, src, (size_t)w * h);
        if (is_max) CHECK_OK(ct_dilate_rect(ctx, a, a, w, h, kw, kh, ax, ay));
        else CHECK_OK(ct_erode_rect(ctx, a, a, w, h, kw, kh, ax, ay));
        bad += memcmp(a, b, (size_t)w * h) != 0;
    }
    CHECK_MSG(bad == 0, "%d morphology results differ from the brute force", bad);

    /* ct_morph's iteration rule equals `it` passes of the k x k kernel with anchor k/2
     * (what cv2.dilate(..., iterations=it) means), for odd and even k. */
    for (int trial = 0; trial < 12; trial++) {
        int w = 20 + rnd() % 20, h = 20 + rnd() % 20, k = 2 + trial % 9, it = 1 + trial % 3;
        int op = trial % 2 ? CT_MORPH_ERODE : CT_MORPH_DILATE;
        for (int i = 0; i < w * h; i++) src[i] = rnd() % 100 < 30 ? 255 : 0;
        memcpy(a, src, (size_t)w * h);
        CHECK_OK(ct_morph(ctx, a, w, h, op, k, it));
        memcpy(b, src, (size_t)w * h);
        for (int p = 0; p < it; p++) {
            uint8_t tmp[40 * 40];
            morph_brute(b, tmp, w, h, k, k, k / 2, k / 2, op == CT_MORPH_DILATE);
            memcpy(b, tmp, (size_t)w * h);
        }
        CHECK_MSG(memcmp(a, b, (size_t)w * h) == 0, "ct_morph op %d k %d it %d", op, k, it);
    }
    /* Closing a single point with 10x10 x 2, as measured with cv2.morphologyEx (OpenCV 4.6):
     * the even kernel's anchor (5,5) shifts the result to (p+2, p+2). */
    memset(a, 0, 30 * 30);
    a[15 * 30 + 15] = 255;
    CHECK_OK(ct_morph(ctx, a, 30, 30, CT_MORPH_CLOSE, 10, 2));
    int on = 0;
    for (int i = 0; i < 900; i++) on += a[i] != 0;
    CHECK(on == 1 && a[17 * 30 + 17] == 255);
    /* Dilating a point 5x5 x 3 gives the 13x13 square around it (cv2: rows/cols 9..21). */
    memset(a, 0, 30 * 30);
    a[15 * 30 + 15] = 255;
    CHECK_OK(ct_morph(ctx, a, 30, 30, CT_MORPH_DILATE, 5, 3));
    on = 0;
    for (int y = 0; y < 30; y++)
        for (int x = 0; x < 30; x++) {
            int in = x >= 9 && x <= 21 && y >= 9 && y <= 21;
            on += (a[y * 30 + x] != 0) != in;
        }
    CHECK(on == 0);
    /* Erosion ignores the outside: an all-255 image stays 255. */
    memset(a, 255, 30 * 30);
    CHECK_OK(ct_morph(ctx, a, 30, 30, CT_MORPH_ERODE, 5, 2));
    CHECK(a[0] == 255 && a[899] == 255);
    CHECK(ct_dilate_rect(ctx, a, a, 30, 30, 3, 3, 3, 0) == H19_EARG); /* anchor outside */
    CHECK(ct_morph(ctx, a, 30, 30, 7, 3, 1) == H19_EARG);
    ct_prep_free(ctx);
}

/* ---- median ---------------------------------------------------------------------------------- */

static int cmp_u8(const void *a, const void *b) { return *(const uint8_t *)a - *(const uint8_t *)b; }

/* cv2.medianBlur by definition: the median of the ksize^2 window of the BORDER_REPLICATE image. */
static void median_brute(const uint8_t *s, uint8_t *d, int w, int h, int k) {
    int r = k / 2;
    uint8_t *win = malloc((size_t)k * k);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int n = 0;
            for (int j = -r; j <= r; j++)
                for (int i = -r; i <= r; i++)
                    win[n++] = s[clampi(y + j, 0, h - 1) * w + clampi(x + i, 0, w - 1)];
            qsort(win, (size_t)n, 1, cmp_u8);
            d[y * w + x] = win[n / 2];
        }
    free(win);
}

static void test_median(void) {
    ct_prep *ctx = NULL;
    CHECK_OK(ct_prep_create(&ctx, 36, 36));
    if (!ctx) return;
    /* Hand case: a 3x3 median removes an isolated bright pixel and keeps a wide edge. */
    uint8_t img[5 * 5] = {0}, out[5 * 5], ref[36 * 36];
    img[2 * 5 + 2] = 200;
    CHECK_OK(ct_median_u8(ctx, img, out, 5, 5, 3));
    for (int i = 0; i < 25; i++) CHECK(out[i] == 0);
    for (int i = 0; i < 25; i++) img[i] = (i % 5) >= 3 ? 255 : 0;
    CHECK_OK(ct_median_binary(ctx, img, out, 5, 5, 3));
    for (int i = 0; i < 25; i++) CHECK(out[i] == img[i]);
    uint8_t src[36 * 36], a[36 * 36], b[36 * 36];
    int bad = 0;
    for (int trial = 0; trial < 30; trial++) {
        int w = 1 + rnd() % 36, h = 1 + rnd() % 36, k = (trial % 3 == 0) ? 21 : 3 + 2 * (int)(rnd() % 6);
        int binary = trial % 2, dens = (trial % 4 == 1) ? 3 : 500; /* sparse: rows without 255 */
        for (int i = 0; i < w * h; i++) src[i] = binary ? ((int)(rnd() % 1000) < dens ? 255 : 0) : (uint8_t)rnd();
        median_brute(src, ref, w, h, k);
        CHECK_OK(ct_median_u8(ctx, src, a, w, h, k));
        bad += memcmp(a, ref, (size_t)w * h) != 0;
        if (binary) {
            CHECK_OK(ct_median_binary(ctx, src, b, w, h, k));
            bad += memcmp(b, ref, (size_t)w * h) != 0;
        }
    }
    CHECK_MSG(bad == 0, "%d median results differ from the brute force", bad);
    CHECK(ct_median_u8(ctx, src, src, 5, 5, 3) == H19_EARG); /* aliasing */
    CHECK(ct_median_binary(ctx, src, a, 5, 5, 4) == H19_EARG); /* even */
    ct_prep_free(ctx);
}

/* ---- resize ---------------------------------------------------------------------------------- */

static void test_resize(void) {
    ct_prep *ctx = NULL;
    CHECK_OK(ct_prep_create(&ctx, 400, 400));
    if (!ctx) return;
    /* Expected values from cv2.resize(..., interpolation=cv2.INTER_LINEAR), OpenCV 4.6 (Debian 12):
     * an upscale 3x2 -> 5x4 and a downscale 4x4 -> 3x3 (non-integer scales, both borders). */
    const uint8_t a[6] = {10, 200, 30, 250, 0, 128};
    const uint8_t a_up[20] = {10, 86, 200, 98, 30, 70, 102, 150, 92, 55,
                              190, 134, 50, 82, 104, 250, 150, 0, 77, 128};
    uint8_t out[400 * 400];
    CHECK_OK(ct_resize_linear(ctx, a, 3, 2, out, 5, 4));
    for (int i = 0; i < 20; i++) CHECK_MSG(out[i] == a_up[i], "up[%d] = %d, cv2 %d", i, out[i], a_up[i]);
    uint8_t b[16];
    for (int i = 0; i < 16; i++) b[i] = (uint8_t)(17 * i);
    const uint8_t b_dn[9] = {14, 37, 59, 105, 128, 150, 195, 218, 241};
    CHECK_OK(ct_resize_linear(ctx, b, 4, 4, out, 3, 3));
    for (int i = 0; i < 9; i++) CHECK_MSG(out[i] == b_dn[i], "down[%d] = %d, cv2 %d", i, out[i], b_dn[i]);
    /* A constant image stays constant; the identity size is the identity. */
    static uint8_t big[400 * 400];
    memset(big, 77, sizeof big);
    CHECK_OK(ct_resize_linear(ctx, big, 333, 271, out, CT_OUT, CT_OUT));
    int bad = 0;
    for (int i = 0; i < CT_OUT * CT_OUT; i++) bad += out[i] != 77;
    for (int i = 0; i < 400 * 400; i++) big[i] = (uint8_t)rnd();
    CHECK_OK(ct_resize_linear(ctx, big, 37, 23, out, 37, 23));
    bad += memcmp(out, big, 37 * 23) != 0;
    /* 400 -> 200 is INTER_AREA in OpenCV: (a + b + c + d + 2) >> 2 of each 2x2 block. */
    CHECK_OK(ct_resize_linear(ctx, big, 400, 400, out, CT_OUT, CT_OUT));
    for (int y = 0; y < CT_OUT; y++)
        for (int x = 0; x < CT_OUT; x++) {
            const uint8_t *p = big + (2 * y) * 400 + 2 * x;
            bad += out[y * CT_OUT + x] != ((p[0] + p[1] + p[400] + p[401] + 2) >> 2);
        }
    CHECK_MSG(bad == 0, "%d resize pixels wrong", bad);
    CHECK(ct_resize_linear(ctx, big, 3, 3, out, 401, 3) == H19_EARG);
    ct_prep_free(ctx);
}

int main(void) {
    test_crop();
    test_threshold();
    test_components();
    test_fill_border();
    test_morphology();
    test_median();
    test_resize();
    CHECK_DONE();
}
