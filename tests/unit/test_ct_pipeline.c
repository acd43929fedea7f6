/* test_ct_pipeline.c — the whole CT preprocessing pipeline (ct_preprocess), and a driver for the
 * OpenCV reference comparison and the benchmark.
 *
 *   test_ct_pipeline                      unit tests of the pipeline (CTest unit/ct_pipeline)
 *   test_ct_pipeline --dir IN OUT         for each IN/<name>.pgm write OUT/<name>.out.pgm
 *                                         (200x200), .mask.pgm and .thr.pgm (crop size)
 *   test_ct_pipeline --bench IN REPEATS   slices/s of ct_preprocess over the .pgm files of IN, one core
 *
 * (tests/integration/test_ct_opencv.sh and tests/bench/bench_ct.sh use the two modes.)
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "hust19/ct.h"
#include "hust19/err.h"

/* ---- PGM (P5, maxval 255) ------------------------------------------------------------------ */

static uint8_t *pgm_read(const char *path, int *w, int *h) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    int maxv = 0;
    uint8_t *buf = NULL;
    if (fscanf(f, "P5 %d %d %d", w, h, &maxv) == 3 && maxv == 255 && *w > 0 && *h > 0 &&
        fgetc(f) != EOF) {
        size_t n = (size_t)*w * (size_t)*h;
        buf = malloc(n);
        if (buf && fread(buf, 1, n, f) != n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

static int pgm_write(const char *path, const uint8_t *img, int w, int h) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fprintf(f, "P5\n%d %d\n255\n", w, h);
    size_t n = (size_t)w * h;
    int ok = fwrite(img, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the .pgm files of dir (without the extension); caller frees. */
static char **list_pgm(const char *dir, int *count) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".pgm")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        names[n] = strndup(e->d_name, len - 4);
        if (names[n]) n++;
    }
    closedir(d);
    if (names) qsort(names, (size_t)n, sizeof *names, cmp_str);
    *count = n;
    return names;
}

static int run_dir(const char *in, const char *out) {
    int n = 0;
    char **names = list_pgm(in, &n);
    if (!names || n == 0) {
        fprintf(stderr, "no .pgm files in %s\n", in);
        return 1;
    }
    ct_prep *ctx = NULL;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char path[4096];
        int w, h;
        snprintf(path, sizeof path, "%s/%s.pgm", in, names[i]);
        uint8_t *img = pgm_read(path, &w, &h);
        if (!img) {
            fprintf(stderr, "cannot read %s\n", path);
            rc = 1;
            break;
        }
        /* One context sized for the largest slice would be the production use; here each slice
         * may differ, so grow the context when needed. */
        int s = w < h ? w : h;
        uint8_t *crop = malloc((size_t)s * s), *thr = malloc((size_t)s * s),
                *mask = malloc((size_t)s * s), res[CT_OUT * CT_OUT];
        ct_prep *c2 = NULL;
        if (!crop || !thr || !mask || ct_prep_create(&c2, w, h)) {
            fprintf(stderr, "out of memory / %s\n", h19_errmsg());
            rc = 1;
        } else {
            ct_prep_free(ctx);
            ctx = c2;
            int cs;
            ct_square_crop(img, w, h, crop, &cs);
            if (ct_threshold_mean(ctx, crop, s, s, CT_THRESH_BLOCK, CT_THRESH_C, thr) ||
                ct_preprocess(ctx, img, w, h, res, mask)) {
                fprintf(stderr, "%s: %s\n", names[i], h19_errmsg());
                rc = 1;
            } else {
                snprintf(path, sizeof path, "%s/%s.out.pgm", out, names[i]);
                rc |= pgm_write(path, res, CT_OUT, CT_OUT) != 0;
                snprintf(path, sizeof path, "%s/%s.mask.pgm", out, names[i]);
                rc |= pgm_write(path, mask, s, s) != 0;
                snprintf(path, sizeof path, "%s/%s.thr.pgm", out, names[i]);
                rc |= pgm_write(path, thr, s, s) != 0;
                if (rc) fprintf(stderr, "cannot write into %s\n", out);
            }
        }
        free(crop);
        free(thr);
        free(mask);
        free(img);
    }
    ct_prep_free(ctx);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static double now_s(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int run_bench(const char *in, int repeats) {
    int n = 0;
    char **names = list_pgm(in, &n);
    if (!names || n == 0) {
        fprintf(stderr, "no .pgm files in %s\n", in);
        return 1;
    }
    uint8_t **imgs = calloc((size_t)n, sizeof *imgs);
    int *ws = calloc((size_t)n, sizeof *ws), *hs = calloc((size_t)n, sizeof *hs), mw = 1, mh = 1;
    int rc = !imgs || !ws || !hs;
    for (int i = 0; i < n && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.pgm", in, names[i]);
        imgs[i] = pgm_read(path, &ws[i], &hs[i]);
        if (!imgs[i]) rc = 1;
        else {
            if (ws[i] > mw) mw = ws[i];
            if (hs[i] > mh) mh = hs[i];
        }
    }
    ct_prep *ctx = NULL;
    uint8_t out[CT_OUT * CT_OUT];
    if (!rc && ct_prep_create(&ctx, mw, mh) == 0) {
        /* warm-up pass (page faults of the scratch buffers), then the timed passes */
        for (int i = 0; i < n && !rc; i++) rc = ct_preprocess(ctx, imgs[i], ws[i], hs[i], out, NULL);
        /* CPU time of this (single-threaded) process and wall time: on a shared machine the
         * CPU-time rate is the one-core figure, the wall-time one includes waiting for a core. */
        double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        unsigned sum = 0;
        for (int r = 0; r < repeats && !rc; r++)
            for (int i = 0; i < n && !rc; i++) {
                rc = ct_preprocess(ctx, imgs[i], ws[i], hs[i], out, NULL);
                sum += out[CT_OUT * CT_OUT / 2 + CT_OUT / 2];
            }
        double dt = now_s(CLOCK_MONOTONIC) - t0, dc = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (!rc)
            printf("c_slices_per_s %.2f cpu %.2f wall (%d slices, %.3f s cpu, %.3f s wall, checksum %u)\n",
                   repeats * n / dc, repeats * n / dt, repeats * n, dc, dt, sum);
    } else {
        rc = 1;
    }
    if (rc) fprintf(stderr, "bench failed: %s\n", h19_errmsg());
    ct_prep_free(ctx);
    for (int i = 0; i < n; i++) {
        free(names[i]);
        if (imgs) free(imgs[i]);
    }
    free(names);
    free(imgs);
    free(ws);
    free(hs);
    return rc;
}

/* ---- unit tests of the pipeline ---------------------------------------------------------------- */

/* A chest-like phantom: dark background (air 59), an elliptic body (soft tissue 236) with two dark
 * lungs (85) and a bright spine dot; deterministic. */
static void phantom(uint8_t *img, int w, int h, int lungs) {
    double cx = w / 2.0, cy = h / 2.0, s = w < h ? w : h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double bx = (x - cx) / (0.42 * s), by = (y - cy) / (0.30 * s);
            uint8_t v = 59;
            if (bx * bx + by * by <= 1) {
                v = 236;
                for (int side = -1; side <= 1 && lungs; side += 2) {
                    double lx = (x - (cx + side * 0.22 * s)) / (0.13 * s), ly = (y - cy) / (0.2 * s);
                    if (lx * lx + ly * ly <= 1) v = 85;
                }
                double sx = (x - cx) / (0.04 * s), sy = (y - (cy + 0.22 * s)) / (0.04 * s);
                if (sx * sx + sy * sy <= 1) v = 255;
            }
            img[y * w + x] = v;
        }
}

static void test_pipeline(void) {
    enum { W = 256, H = 200 };
    static uint8_t img[W * H], out[CT_OUT * CT_OUT], out2[CT_OUT * CT_OUT], mask[W * H];
    phantom(img, W, H, 1);
    ct_prep *ctx = NULL;
    CHECK_OK(ct_prep_create(&ctx, W, H));
    if (!ctx) return;
    CHECK_OK(ct_preprocess(ctx, img, W, H, out, mask));
    /* The mask (crop 200x200, x0 = 28) covers the two lungs and not the body or background. */
    int s = H, x0 = (W - H) / 2, on = 0, in_lung_on = 0, in_lung = 0;
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++) {
            int m = mask[y * s + x];
            CHECK(m == 0 || m == 255);
            uint8_t v = img[y * W + x + x0];
            on += m != 0;
            if (v == 85) {
                in_lung++;
                in_lung_on += m != 0;
            }
            if (v == 59) CHECK(m == 0); /* never the background */
        }
    CHECK_MSG(in_lung_on > 0.97 * in_lung, "lung pixels masked %d of %d", in_lung_on, in_lung);
    CHECK_MSG(on < 1.15 * in_lung, "mask %d pixels for %d lung pixels", on, in_lung);
    /* The output is the masked slice: lungs at 85 inside, 0 outside the lungs. */
    CHECK(out[100 * CT_OUT + 100] == 0);           /* the mediastinum between the lungs */
    int lx = (int)((W / 2.0 + 0.22 * H - x0) * CT_OUT / s);
    CHECK(out[100 * CT_OUT + lx] == 85);           /* inside the right-hand lung */
    CHECK(out[5 * CT_OUT + 5] == 0);               /* background */
    /* Reusing the context gives the same result (no state carried between slices), and the
     * NULL mask is allowed. */
    static uint8_t other[W * H];
    phantom(other, W, H, 0);
    CHECK_OK(ct_preprocess(ctx, other, W, H, out2, NULL));
    int nz = 0;
    for (int i = 0; i < CT_OUT * CT_OUT; i++) nz += out2[i] != 0;
    CHECK_MSG(nz == 0, "a body without lungs gives an empty output (%d non-zero)", nz);
    CHECK_OK(ct_preprocess(ctx, img, W, H, out2, NULL));
    CHECK(memcmp(out, out2, sizeof out) == 0);
    /* Errors: a slice beyond the context. */
    CHECK(ct_preprocess(ctx, img, W + 1, H, out2, NULL) == H19_EARG);
    CHECK(ct_preprocess(ctx, img, 0, H, out2, NULL) == H19_EARG);
    CHECK(strstr(h19_errmsg(), "ct_preprocess") != NULL);
    ct_prep_free(ctx);
    ct_prep *bad = (ct_prep *)&bad;
    CHECK(ct_prep_create(&bad, 0, 10) == H19_EARG);
    CHECK(bad == NULL);
    ct_prep_free(NULL);
}

static void test_blank(void) {
    /* Uniform slice: threshold finds nothing, so the output and the mask are empty. */
    enum { N = 40 };
    static uint8_t img[N * N], out[CT_OUT * CT_OUT], mask[N * N];
    memset(img, 120, sizeof img);
    ct_prep *ctx = NULL;
    CHECK_OK(ct_prep_create(&ctx, N, N));
    if (!ctx) return;
    CHECK_OK(ct_preprocess(ctx, img, N, N, out, mask));
    int nz = 0;
    for (int i = 0; i < N * N; i++) nz += mask[i] != 0;
    for (int i = 0; i < CT_OUT * CT_OUT; i++) nz += out[i] != 0;
    CHECK(nz == 0);
    ct_prep_free(ctx);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--dir")) return run_dir(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "--bench")) return run_bench(argv[2], atoi(argv[3]));
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--dir IN OUT | --bench IN REPEATS]\n", argv[0]);
        return 2;
    }
    test_pipeline();
    test_blank();
    CHECK_DONE();
}
