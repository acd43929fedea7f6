/* test_train_slice.c — the slice CNN stages (src/nn/train_slice.c, src/nn/infer_slice.c):
 * the stratified split, normalisation, top-10 selection, strict job keys, and an end-to-end run on a
 * small archive of simple synthetic slices drawn here (dark lungs in a grey body; NiCT without
 * lungs, pCT with ground-glass discs): held-out AUC >= 0.98 for NiCT and pCT, then inference.
 *
 * Also a tool for the integration tests:
 *   test_train_slice --make-archive PATH PATIENTS SLICES LABELLED SEED
 * writes such an archive (the /ct schema of docs/archive.md) with the h5io API. */
#include "check.h"
#include "hust19/archive.h"
#include "hust19/ct.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/h5io.h"
#include "hust19/ingest.h"
#include "hust19/job.h"
#include "hust19/rng.h"
#include "hust19/stage_cnn.h"
#include "nn/train_slice_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- synthetic slices ---------------------------------------------------------------------- */

static void disc(uint8_t *img, double cx, double cy, double rx, double ry, int v)
{
    for (int y = (int)(cy - ry) - 1; y <= (int)(cy + ry) + 1; y++)
        for (int x = (int)(cx - rx) - 1; x <= (int)(cx + rx) + 1; x++) {
            if (x < 0 || y < 0 || x >= CT_OUT || y >= CT_OUT) continue;
            double dx = (x - cx) / rx, dy = (y - cy) / ry;
            if (dx * dx + dy * dy <= 1.0) img[y * CT_OUT + x] = (uint8_t)v;
        }
}

/* One 200x200 slice of class cls (CT_LABEL_*), a pure function of (seed, patient, slice). */
static void draw_slice(uint8_t *img, int cls, uint64_t seed, int patient, int slice)
{
    h19_rng r;
    h19_rng_init(&r, seed, H19_RNG_SYNTH, 0, 0, (uint32_t)patient, (uint32_t)slice);
    memset(img, 0, CT_OUT * CT_OUT);
    double cx = 100 + 6 * (h19_rng_uniform(&r) - 0.5), cy = 100 + 6 * (h19_rng_uniform(&r) - 0.5);
    disc(img, cx, cy, 82 + 8 * h19_rng_uniform(&r), 62 + 8 * h19_rng_uniform(&r), 140 + (int)h19_rng_below(&r, 30));
    if (cls == CT_LABEL_NICT) { /* abdomen or neck: organs, no lungs */
        int k = 1 + (int)h19_rng_below(&r, 3);
        for (int i = 0; i < k; i++)
            disc(img, cx - 40 + 80 * h19_rng_uniform(&r), cy - 25 + 50 * h19_rng_uniform(&r), 10 + 20 * h19_rng_uniform(&r),
                 10 + 15 * h19_rng_uniform(&r), 100 + (int)h19_rng_below(&r, 100));
    } else {
        double lrx = 22 + 6 * h19_rng_uniform(&r), lry = 36 + 8 * h19_rng_uniform(&r);
        double lx[2] = {cx - 38, cx + 38};
        for (int s = 0; s < 2; s++) disc(img, lx[s], cy, lrx, lry, 20 + (int)h19_rng_below(&r, 20));
        int nv = (int)h19_rng_below(&r, 6); /* vessels: small bright dots */
        for (int i = 0; i < nv; i++)
            disc(img, lx[i & 1] + (h19_rng_uniform(&r) - 0.5) * lrx, cy + (h19_rng_uniform(&r) - 0.5) * lry, 1.5, 1.5, 150);
        if (cls == CT_LABEL_PCT) {
            int nl = 1 + (int)h19_rng_below(&r, 3);
            for (int i = 0; i < nl; i++) {
                double rr = 8 + 8 * h19_rng_uniform(&r);
                disc(img, lx[i & 1] + (h19_rng_uniform(&r) - 0.5) * (lrx - rr), cy + (h19_rng_uniform(&r) - 0.5) * lry,
                     rr, rr, 85 + (int)h19_rng_below(&r, 40));
            }
        }
    }
    for (int i = 0; i < CT_OUT * CT_OUT; i++) { /* noise */
        int v = img[i] + (int)h19_rng_below(&r, 17) - 8;
        img[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* Class of slice s of patient p (spp slices): NiCT at both ends, COVID patients (odd p) pCT in two
 * of three middle slices, others nCT. */
static int slice_class(int p, int s, int spp)
{
    int end = spp / 6 > 0 ? spp / 6 : 1;
    if (s < end || s >= spp - end) return CT_LABEL_NICT;
    if ((p & 1) && s % 3 != 0) return CT_LABEL_PCT;
    return CT_LABEL_NCT;
}

/* Archive with npat patients (the last without CT), spp slices each, the first nlab labelled. */
static int make_archive(const char *path, int npat, int spp, int nlab, uint64_t seed)
{
    int64_t n = (int64_t)(npat - 1) * spp;
    uint8_t *sl = h19_malloc((size_t)n * CT_OUT * CT_OUT);
    int32_t *pat = h19_malloc(sizeof(int32_t) * (size_t)n), *ser = h19_malloc(sizeof(int32_t) * (size_t)n);
    int32_t *ins = h19_malloc(sizeof(int32_t) * (size_t)n);
    int8_t *lab = h19_malloc((size_t)n);
    double *z = h19_malloc(sizeof(double) * (size_t)n);
    int32_t *line = h19_malloc(sizeof(int32_t) * (size_t)npat), *cnt = h19_malloc(sizeof(int32_t) * (size_t)npat);
    int64_t *first = h19_malloc(sizeof(int64_t) * (size_t)npat);
    int32_t *sp = h19_malloc(sizeof(int32_t) * (size_t)npat), *sn = h19_malloc(sizeof(int32_t) * (size_t)npat);
    int64_t *sf = h19_malloc(sizeof(int64_t) * (size_t)npat);
    if (!sl || !pat || !ser || !ins || !lab || !z || !line || !cnt || !first || !sp || !sn || !sf) return H19_ENOMEM;
    for (int p = 0; p < npat; p++) {
        line[p] = p + 2;
        cnt[p] = p < npat - 1 ? spp : 0;
        first[p] = p < npat - 1 ? (int64_t)p * spp : 0;
        if (p < npat - 1) {
            sp[p] = p;
            sn[p] = spp;
            sf[p] = (int64_t)p * spp;
        }
        for (int s = 0; s < cnt[p]; s++) {
            int64_t i = (int64_t)p * spp + s;
            int c = slice_class(p, s, spp);
            draw_slice(sl + (size_t)i * CT_OUT * CT_OUT, c, seed, p, s);
            pat[i] = p;
            ser[i] = p;
            ins[i] = s + 1;
            lab[i] = (int8_t)(p < nlab ? c : CT_LABEL_NONE);
            z[i] = -1.25 * s;
        }
    }
    h5_file f;
    int rc = h5_create(&f, path, MPI_COMM_SELF, H19_ARCHIVE_KIND, H19_ARCHIVE_VERSION);
    int64_t d3[3] = {n, CT_OUT, CT_OUT}, ns = npat - 1;
    if (!rc) rc = h5_ensure_group(&f, "/patients");
    if (!rc) rc = h5_ensure_group(&f, "/ct/series_table");
    if (!rc) rc = h5_write_i32_1d(&f, "/patients/line", npat, 0, npat, line);
    if (!rc) rc = h5_write_i32_1d(&f, "/patients/ct_count", npat, 0, npat, cnt);
    if (!rc) rc = h5_write(&f, "/patients/ct_first", H5T_NATIVE_INT64, 1, (int64_t[]){npat}, 0, npat, first, 0);
    if (!rc) rc = h5_write(&f, "/ct/slices", H5T_NATIVE_UINT8, 3, d3, 0, n, sl, 1);
    if (!rc) rc = h5_write_i32_1d(&f, "/ct/patient", n, 0, n, pat);
    if (!rc) rc = h5_write_i32_1d(&f, "/ct/series", n, 0, n, ser);
    if (!rc) rc = h5_write_i32_1d(&f, "/ct/instance", n, 0, n, ins);
    if (!rc) rc = h5_write(&f, "/ct/label", H5T_NATIVE_INT8, 1, &n, 0, n, lab, 0);
    if (!rc) rc = h5_write_f64_1d(&f, "/ct/z", n, 0, n, z);
    if (!rc) rc = h5_write_i32_1d(&f, "/ct/series_table/patient", ns, 0, ns, sp);
    if (!rc) rc = h5_write_i32_1d(&f, "/ct/series_table/n_slices", ns, 0, ns, sn);
    if (!rc) rc = h5_write(&f, "/ct/series_table/first", H5T_NATIVE_INT64, 1, &ns, 0, ns, sf, 0);
    if (!rc) rc = h5_commit(&f);
    else h5_abort(&f);
    free(sl); free(pat); free(ser); free(ins); free(lab); free(z); free(line); free(cnt); free(first);
    free(sp); free(sn); free(sf);
    return rc;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_split(void)
{
    enum { N = 1000 };
    int y[N], part[N], part2[N], part3[N];
    for (int i = 0; i < N; i++) y[i] = i < 200 ? 0 : i < 700 ? 1 : 2; /* 200 / 500 / 300 */
    CHECK(sc_split(y, N, 7, 0.1, 0.1, 0, part) == H19_OK);
    int c[3][3] = {{0}};
    for (int i = 0; i < N; i++) c[y[i]][part[i]]++;
    /* test = round(0.1 n_k), validation = round(0.1 (n_k - test)) */
    CHECK(c[0][2] == 20 && c[1][2] == 50 && c[2][2] == 30);
    CHECK(c[0][1] == 18 && c[1][1] == 45 && c[2][1] == 27);
    CHECK(c[0][0] == 162 && c[1][0] == 405 && c[2][0] == 243);
    CHECK(sc_split(y, N, 7, 0.1, 0.1, 0, part2) == H19_OK);
    CHECK(!memcmp(part, part2, sizeof part));
    CHECK(sc_split(y, N, 8, 0.1, 0.1, 0, part3) == H19_OK);
    CHECK(memcmp(part, part3, sizeof part) != 0);
    /* the cap keeps 81 training slices in proportion 162:405:243 (16.2, 40.5, 24.3 -> 16, 41, 24)
     * and does not touch validation and test */
    CHECK(sc_split(y, N, 7, 0.1, 0.1, 81, part2) == H19_OK);
    int k[3][4] = {{0}};
    for (int i = 0; i < N; i++) k[y[i]][part2[i] + 1]++;
    CHECK_MSG(k[0][1] == 16 && k[1][1] == 41 && k[2][1] == 24, "%d %d %d", k[0][1], k[1][1], k[2][1]);
    for (int i = 0; i < N; i++) CHECK(part2[i] == -1 ? part[i] == 0 : part2[i] == part[i]);
    y[5] = 3;
    CHECK(sc_split(y, N, 7, 0.1, 0.1, 0, part) == H19_EARG);
}

/* by patient: 40 patients of 25 slices (ids 100, 103, ... given out of order), the first 20 with
 * pCT slices; every patient in one part, test = round(0.1 * 20) = 2 patients per stratum,
 * validation round(0.1 * 18) = 2 per stratum */
static void test_split_patients(void)
{
    enum { P = 40, S = 25, N = P * S };
    int y[N], g[N], part[N], part2[N], part3[N];
    for (int i = 0; i < N; i++) {
        int p = (i * 7) % P; /* slices of a patient are interleaved with the others' */
        g[i] = 100 + 3 * p;
        int k = i / P; /* slice k of patient p */
        y[i] = k < 4 || k >= 22 ? 0 : p < 20 && k >= 8 && k < 16 ? 1 : 2;
    }
    CHECK(sc_split_patients(y, g, N, 7, 0.1, 0.1, 0, part) == H19_OK);
    int pp[P], npart[2][3] = {{0}};
    for (int p = 0; p < P; p++) pp[p] = -9;
    for (int i = 0; i < N; i++) {
        int p = (g[i] - 100) / 3;
        if (pp[p] == -9) {
            pp[p] = part[i];
            npart[p < 20 ? 1 : 0][part[i]]++;
        }
        CHECK_MSG(pp[p] == part[i], "patient %d in parts %d and %d", p, pp[p], part[i]);
    }
    CHECK_MSG(npart[1][2] == 2 && npart[0][2] == 2 && npart[1][1] == 2 && npart[0][1] == 2,
              "test %d+%d, validation %d+%d patients", npart[1][2], npart[0][2], npart[1][1], npart[0][1]);
    CHECK(sc_split_patients(y, g, N, 7, 0.1, 0.1, 0, part2) == H19_OK && !memcmp(part, part2, sizeof part));
    CHECK(sc_split_patients(y, g, N, 8, 0.1, 0.1, 0, part3) == H19_OK && memcmp(part, part3, sizeof part) != 0);
    /* the cap only drops training slices */
    CHECK(sc_split_patients(y, g, N, 7, 0.1, 0.1, 100, part2) == H19_OK);
    int kept = 0;
    for (int i = 0; i < N; i++) {
        kept += part2[i] == 0;
        CHECK(part2[i] == -1 ? part[i] == 0 : part2[i] == part[i]);
    }
    CHECK(kept == 100);
    y[3] = -1;
    CHECK(sc_split_patients(y, g, N, 7, 0.1, 0.1, 0, part) == H19_EARG);
}

static void test_normalise(void)
{
    static uint8_t img[CT_OUT * CT_OUT];
    for (int i = 0; i < CT_OUT * CT_OUT; i++) img[i] = (uint8_t)((i % CT_OUT + i / CT_OUT) % 256);
    static float full[CT_OUT * CT_OUT], q[50 * 50];
    sc_normalise(full, img, 1, CT_OUT, CT_OUT);
    CHECK(full[0] == 0.0f && full[CT_OUT * CT_OUT - 1] == (float)img[CT_OUT * CT_OUT - 1] / 255.0f);
    CHECK_NEAR(full[3 * CT_OUT + 4], 7.0 / 255.0, 1e-7);
    sc_normalise(q, img, 1, 50, 50);
    /* block (r, c) of 4x4: mean of (4r + a + 4c + b) over a, b in 0..3 = 4r + 4c + 3 */
    CHECK_NEAR(q[0], 3.0 / 255.0, 1e-7);
    CHECK_NEAR(q[2 * 50 + 5], (8 + 20 + 3) / 255.0, 1e-7);

    /* input: lung — block mean in grey levels, (v - 85) / 40 clipped to [-1.5, 2.5], 0 outside */
    static uint8_t m[CT_OUT * CT_OUT];
    memset(m, 0, sizeof m);
    for (int c = 0; c < 2; c++) m[c] = m[CT_OUT + c] = 125;        /* block 0: 125 -> 1 */
    for (int c = 2; c < 4; c++) m[c] = m[CT_OUT + c] = 255;        /* block 1: saturates at 2.5 */
    for (int c = 4; c < 6; c++) m[c] = m[CT_OUT + c] = 85;         /* block 2: lung -> 0 */
    m[6] = 8;                                                      /* block 3: mean 2 -> -1.5 */
    m[8] = 100; m[9] = 100; m[CT_OUT + 8] = 90; m[CT_OUT + 9] = 90; /* block 4: 95 -> 0.25 */
    static float l[100 * 100];
    sc_normalise_lung(l, m, 1, 100, 100, 0.0f);
    CHECK_NEAR(l[0], 1.0, 1e-6);
    CHECK_NEAR(l[1], 2.5, 1e-6);
    CHECK_NEAR(l[2], 0.0, 1e-6);
    CHECK_NEAR(l[3], -1.5, 1e-6);
    CHECK_NEAR(l[4], 0.25, 1e-6);
    CHECK(l[5] == 0.0f && l[100 * 100 - 1] == 0.0f); /* outside the mask */
    sc_normalise_lung(full, m, 1, CT_OUT, CT_OUT, 0.0f);
    /* lung_mask: the same inside, the outside of the mask at SC_LUNG_OUT */
    sc_normalise_lung(l, m, 1, 100, 100, SC_LUNG_OUT);
    CHECK_NEAR(l[0], 1.0, 1e-6);
    CHECK_NEAR(l[2], 0.0, 1e-6);
    CHECK_NEAR(l[3], -1.5, 1e-6);
    CHECK(l[5] == SC_LUNG_OUT && l[100 * 100 - 1] == SC_LUNG_OUT);
    CHECK_NEAR(full[0], 1.0, 1e-6);
    CHECK_NEAR(full[CT_OUT + 8], 0.125, 1e-6);
}

static void test_top(void)
{
    /* patient 0: slices 0..3; patient 1: none; patient 2: slices 4..15 (12 slices) */
    enum { N = 16 };
    float prob[N * 3];
    int32_t pat[N];
    for (int i = 0; i < N; i++) {
        pat[i] = i < 4 ? 0 : 2;
        prob[i * 3 + 1] = (float)((i * 7) % 5) / 10.0f; /* ties among several slices */
        prob[i * 3] = prob[i * 3 + 2] = (1.0f - prob[i * 3 + 1]) / 2;
    }
    int64_t top[3 * SC_TOPK];
    CHECK(sc_top_pct(prob, pat, N, 3, top) == H19_OK);
    /* patient 0: pCT probs 0, .2, .4, .1 -> slices 2, 1, 3, 0, then 0 repeated */
    int64_t want0[SC_TOPK] = {2, 1, 3, 0, 0, 0, 0, 0, 0, 0};
    CHECK(!memcmp(top, want0, sizeof want0));
    for (int k = 0; k < SC_TOPK; k++) CHECK(top[SC_TOPK + k] == -1);
    /* patient 2: (i*7)%5 for i = 4..15: 3,0,2,4,1,3,0,2,4,1,3,0 -> .4 at 7, 12; .3 at 4, 9, 14; .2 at 6, 11; .1 at 8, 13 */
    int64_t want2[SC_TOPK] = {7, 12, 4, 9, 14, 6, 11, 8, 13, 5};
    CHECK(!memcmp(top + 2 * SC_TOPK, want2, sizeof want2));
    pat[3] = 5;
    CHECK(sc_top_pct(prob, pat, N, 3, top) == H19_EFORMAT);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fputs(text, f);
    return fclose(f);
}

static int load_job(h19_job *job, const char *path)
{
    cli_args a;
    memset(&a, 0, sizeof a);
    return job_load(job, &a, path);
}

/* A reduced model for the test (the full model is measured in docs/training.md): 50x50 input
 * (4x4 block means of the slice), two conv/pool blocks, a dense layer. */
static const char *TINY_MODEL = "format: hust19-model\nversion: 1\nname: slice-cnn-tiny\ninput: [1, 50, 50]\n"
                                "layers:\n  - conv: 4\n  - relu\n  - pool\n  - conv: 8\n  - relu\n  - pool\n"
                                "  - dense: 16\n  - relu\n  - output: 3\n";

static const char *JOB_FMT = "job: {name: sc-unit, seed: 11, results: %s}\n"
                             "data: {cf_table: none.csv, archive: %s}\n"
                             "outcomes: {morbidity: {label_column: M, classes: [a, b], map: {A: a, B: b}}}\n"
                             "slice_cnn:\n  model: %s\n  epochs: 25\n  batch: 16\n  micro_batch: 8\n  lr: 3.0e-3\n"
                             "  decay: 0.02\n  patience: 6\n  infer_chunk: 50\n%s";

/* slice_cnn.flip: the mirrored copies follow the slices, column c from column W - 1 - c. */
static void test_mirrors(void)
{
    enum { n = 2, H = 3, W = 4 };
    float X[2 * n * H * W];
    int y[2 * n] = {2, 1, -9, -9};
    for (int i = 0; i < n * H * W; i++) X[i] = (float)i;
    sc_append_mirrors(X, y, n, H, W);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) CHECK(X[((n + i) * H + r) * W + c] == X[(i * H + r) * W + (W - 1 - c)]);
    CHECK(y[2] == 2 && y[3] == 1);
    CHECK(X[(n * H + 0) * W + 0] == 3.0f); /* sample 0, row 0: 3 2 1 0 */
}

/* slice_cnn.flip_test: the score is the mean of the slice's and its mirror's, so a slice and its
 * mirror get the same score. */
static void test_flip_test(const char *dir)
{
    enum { n = 3, H = 50, W = 50 };
    char model[512];
    snprintf(model, sizeof model, "%s/tiny_flip.yaml", dir);
    CHECK(write_text(model, TINY_MODEL) == 0);
    int C, h, w, nspec;
    nn_layer_spec *spec = NULL;
    nn_net *net = NULL;
    CHECK_OK(nn_model_load(model, 0, SC_NCLASS, &C, &h, &w, &spec, &nspec, NULL));
    CHECK(C == 1 && h == H && w == W);
    CHECK_OK(nn_net_create(&net, C, H, W, spec, nspec, 2 * n));
    nn_net_init(net, 7, 0, 0);
    static float X[2 * n * H * W];
    int y[2 * n] = {0};
    h19_rng r;
    h19_rng_init(&r, 3, H19_RNG_INIT, 0, 0, 0, 0);
    for (int i = 0; i < n * H * W; i++) X[i] = (float)h19_rng_uniform(&r);
    sc_append_mirrors(X, y, n, H, W); /* samples n..2n-1: the mirrors */
    float p[2 * n * SC_NCLASS], q[2 * n * SC_NCLASS];
    CHECK_OK(sc_predict(net, X, 2 * n, H, W, false, p, MPI_COMM_SELF));
    CHECK_OK(sc_predict(net, X, 2 * n, H, W, true, q, MPI_COMM_SELF));
    int differs = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < SC_NCLASS; k++) {
            float avg = 0.5f * (p[i * SC_NCLASS + k] + p[(n + i) * SC_NCLASS + k]);
            CHECK(fabsf(q[i * SC_NCLASS + k] - avg) < 1e-6f);
            CHECK(fabsf(q[i * SC_NCLASS + k] - q[(n + i) * SC_NCLASS + k]) < 1e-6f);
            differs += fabsf(p[i * SC_NCLASS + k] - p[(n + i) * SC_NCLASS + k]) > 1e-6f;
        }
    CHECK(differs > 0); /* the untrained net is not mirror-symmetric by itself */
    nn_net_free(net);
    free(spec);
}

static void test_end_to_end(const char *dir)
{
    char arch[512], model[512], jobp[512], text[2048], res[512];
    snprintf(arch, sizeof arch, "%s/archive.h5", dir);
    snprintf(model, sizeof model, "%s/tiny.yaml", dir);
    snprintf(jobp, sizeof jobp, "%s/job.yaml", dir);
    snprintf(res, sizeof res, "%s/results", dir);
    /* 12 patients with CT x 30 slices, 10 labelled: 300 labelled slices (NiCT 100, pCT 65, nCT 135);
     * split by patient (the default): 5 with pCT slices, 5 without, held out round(0.1 * 5) = 1 of
     * each, 60 slices */
    CHECK(make_archive(arch, 13, 30, 10, 5) == H19_OK);
    CHECK(write_text(model, TINY_MODEL) == 0);

    /* strict keys: a misspelt key of slice_cnn: is an error naming it */
    snprintf(text, sizeof text, JOB_FMT, res, arch, model, "  tset_fraction: 0.2\n");
    CHECK(write_text(jobp, text) == 0);
    h19_job job;
    sc_opts o;
    CHECK(load_job(&job, jobp) == H19_OK);
    int rc = sc_opts_parse(&job, &o);
    CHECK_MSG(rc == H19_ECONFIG && strstr(h19_errmsg(), "tset_fraction"), "%d %s", rc, h19_errmsg());
    job_free(&job);
    snprintf(text, sizeof text, JOB_FMT, res, arch, model, "  flip: true\n");
    CHECK(write_text(jobp, text) == 0);
    CHECK(load_job(&job, jobp) == H19_OK);
    rc = sc_opts_parse(&job, &o);
    CHECK_MSG(rc == H19_OK && o.flip && o.split_patients, "%d %s", rc, h19_errmsg());
    if (!rc) sc_opts_free(&o);
    job_free(&job);
    snprintf(text, sizeof text, JOB_FMT, res, arch, model, "  split: slice\n");
    CHECK(write_text(jobp, text) == 0);
    CHECK(load_job(&job, jobp) == H19_OK);
    rc = sc_opts_parse(&job, &o);
    CHECK_MSG(rc == H19_OK && !o.split_patients, "%d %s", rc, h19_errmsg());
    if (!rc) sc_opts_free(&o);
    job_free(&job);
    snprintf(text, sizeof text, JOB_FMT, res, arch, model, "  split: series\n");
    CHECK(write_text(jobp, text) == 0);
    CHECK(load_job(&job, jobp) == H19_OK);
    rc = sc_opts_parse(&job, &o);
    CHECK_MSG(rc == H19_ECONFIG && strstr(h19_errmsg(), "slice_cnn.split") && strstr(h19_errmsg(), "series"), "%d %s",
              rc, h19_errmsg());
    job_free(&job);

    snprintf(text, sizeof text, JOB_FMT, res, arch, model, "");
    CHECK(write_text(jobp, text) == 0);
    CHECK(load_job(&job, jobp) == H19_OK);
    rc = sc_opts_parse(&job, &o);
    CHECK_MSG(rc == H19_OK, "%s", h19_errmsg());
    if (rc) return;
    CHECK(o.hyper.epochs == 25 && o.hyper.batch == 16 && o.H == 50 && o.infer_chunk == 50);
    sc_train_result tr;
    rc = sc_train(&job, &o, &tr);
    CHECK_MSG(rc == H19_OK, "%s", h19_errmsg());
    CHECK_MSG(tr.ntest == 60 && tr.ntrain + tr.nval == 240, "%d %d %d", tr.ntrain, tr.nval, tr.ntest);
    /* the paper's slice CNN separates NiCT and pCT almost perfectly; on these easy slices the
     * held-out one-vs-rest AUC must reach 0.98 */
    CHECK_MSG(tr.auc[0] >= 0.98 && tr.auc[1] >= 0.98, "AUC NiCT %.4f pCT %.4f nCT %.4f", tr.auc[0], tr.auc[1],
              tr.auc[2]);
    long tot = 0;
    for (int i = 0; i < 9; i++) tot += tr.cm[i];
    CHECK(tot == 60);
    CHECK(h19_file_exists(o.metrics_out) && h19_file_exists(o.model_out) && h19_file_exists(o.ckpt));
    char *csv = NULL;
    CHECK(h19_read_file(o.metrics_out, &csv, NULL) == H19_OK);
    CHECK(csv && strstr(csv, "test_auc_ovr,pCT,,") && strstr(csv, "confusion,nCT,nCT,"));
    free(csv);
    char html[700];
    snprintf(html, sizeof html, "%s/sc-unit/slice_cnn.html", res);
    CHECK(h19_read_file(html, &csv, NULL) == H19_OK);
    CHECK(csv && strstr(csv, "<img src=\"slice_cnn_roc.svg\">") && strstr(csv, "<td>pCT</td>"));
    free(csv);
    snprintf(html, sizeof html, "%s/sc-unit/slice_cnn_roc.svg", res);
    CHECK(h19_file_exists(html));

    /* a re-run finds the finished checkpoint and returns the same model */
    sc_train_result tr2;
    CHECK(sc_train(&job, &o, &tr2) == H19_OK);
    CHECK(tr2.auc[1] == tr.auc[1] && tr2.fit.epochs_run == tr.fit.epochs_run);
    /* ... but not under another init or input encoding: the checkpoint names its settings */
    for (int v = 0; v < 2; v++) {
        sc_opts o2 = o;
        if (v) o2.input = SC_INPUT_LUNG;
        else o2.init_uniform = true;
        sc_train_result tr3;
        CHECK(sc_train(&job, &o2, &tr3) != H19_OK);
        CHECK_MSG(strstr(h19_errmsg(), "other training settings") != NULL, "%s", h19_errmsg());
    }

    /* inference under another input encoding than the model's is refused before anything is written */
    {
        sc_opts ol = o;
        ol.input = SC_INPUT_LUNG;
        sc_infer_result irl;
        CHECK(sc_infer(&job, &ol, &irl) != H19_OK);
        CHECK_MSG(strstr(h19_errmsg(), "trained with slice_cnn.input: u8, the job says lung") != NULL, "%s",
                  h19_errmsg());
        CHECK(!h19_file_exists(o.scores_out));
    }
    sc_infer_result ir;
    rc = sc_infer(&job, &o, &ir);
    CHECK_MSG(rc == H19_OK, "%s", h19_errmsg());
    CHECK(ir.n == 360 && ir.npatients == 13 && ir.chunks_done == 8 && ir.chunks_reused == 0);
    h5_file f;
    CHECK(h5_open(&f, o.scores_out, MPI_COMM_SELF, SC_SCORES_KIND, SC_SCORES_VERSION) == H19_OK);
    float *prob = NULL;
    int64_t *top = NULL;
    int32_t *pat = NULL;
    int nd;
    int64_t dims[4];
    CHECK(h5_read(&f, "/prob", H5T_NATIVE_FLOAT, &nd, dims, (void **)&prob) == H19_OK);
    CHECK(nd == 2 && dims[0] == 360 && dims[1] == 3);
    CHECK(h5_read(&f, "/top10", H5T_NATIVE_INT64, &nd, dims, (void **)&top) == H19_OK);
    CHECK(nd == 2 && dims[0] == 13 && dims[1] == 10);
    CHECK(h5_read(&f, "/patient", H5T_NATIVE_INT32, &nd, dims, (void **)&pat) == H19_OK);
    h5_close(&f);
    if (prob && top && pat) {
        for (int i = 0; i < 360; i++) CHECK_NEAR(prob[i * 3] + prob[i * 3 + 1] + prob[i * 3 + 2], 1.0, 1e-5);
        CHECK(pat[0] == 0 && pat[359] == 11);
        /* an unlabelled COVID patient (11): its top-10 slices are pCT slices (13 of its 30 are) */
        int good = 0;
        for (int k = 0; k < 10; k++) good += top[11 * 10 + k] >= 330 && slice_class(11, (int)(top[11 * 10 + k] - 330), 30) == CT_LABEL_PCT;
        CHECK_MSG(good >= 9, "%d of patient 11's top 10 are pCT", good);
        for (int k = 0; k < 10; k++) CHECK(top[12 * 10 + k] == -1); /* no CT */
    }
    free(prob);
    free(top);
    free(pat);
    CHECK(!h19_file_exists(o.chunk_dir)); /* removed once the scores file is committed */
    sc_opts_free(&o);
    job_free(&job);
}

int main(int argc, char **argv)
{
    if (dist_init(&argc, &argv)) {
        fprintf(stderr, "dist_init: %s\n", h19_errmsg());
        return 1;
    }
    if (argc == 7 && !strcmp(argv[1], "--make-archive")) {
        int rc = make_archive(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), strtoull(argv[6], NULL, 10));
        if (rc) fprintf(stderr, "make-archive: %s\n", h19_errmsg());
        dist_finalize();
        return rc ? 1 : 0;
    }
    test_split();
    test_split_patients();
    test_normalise();
    test_top();
    test_mirrors();
    char dir[] = "/tmp/h19_train_slice_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_flip_test(dir);
    test_end_to_end(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (check_failures == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    dist_finalize();
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures ? 1 : 0;
}
