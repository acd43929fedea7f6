/* test_synth.c — the CT phantom: determinism, NiCT at the ends, lesions by class, burden type II >
 * type I, plausible HU, parameter checks, and the cohort (standalone and on the real CF table). */
#include "check.h"
#include "hust19/err.h"
#include "hust19/synth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S 128 /* small images keep the test fast; the anatomy is in mm, so it is the same phantom */
#define NS 32

static ct_synth_params small(void)
{
    ct_synth_params p;
    ct_synth_params_default(&p);
    p.size = S;
    return p;
}

/* Render all slices; return the summed lesion area, count labels, fill first/last labels. */
typedef struct {
    int nlab[4]; /* by ct_synth_label, CT_SYNTH_UNSURE included */
    int first, last, mid_label;
    double lesion_mm2, lung_mm2, cap_px;
    long max_lesion_px_control;
} series_stats;

static void render_all_grade(const ct_synth_params *prm, uint64_t seed, uint32_t key, int cls, int critical,
                             series_stats *st)
{
    memset(st, 0, sizeof *st);
    ct_synth_patient *p = NULL;
    CHECK_OK(ct_synth_patient_make(prm, seed, key, cls, critical, NS, &p));
    if (!p) return;
    int16_t *hu = malloc(sizeof *hu * S * S);
    for (int k = 0; k < NS; k++) {
        ct_synth_slice_info in;
        CHECK_OK(ct_synth_render(p, k, hu, &in));
        st->nlab[in.label]++;
        if (k == 0) st->first = in.label;
        if (k == NS - 1) st->last = in.label;
        if (k == NS / 2) st->mid_label = in.label;
        st->lesion_mm2 += in.lesion_mm2;
        st->lung_mm2 += in.lung_mm2;
        st->cap_px += (double)in.cap_px;
        /* a pCT slice must show a lesion above the threshold; an nCT slice of a COVID patient not */
        if (in.label == CT_SYNTH_PCT) CHECK(in.lesion_mm2 >= prm->pct_lesion_mm2 && in.lung_mm2 >= prm->nict_lung_mm2);
        if (in.label == CT_SYNTH_NICT) CHECK(in.lung_mm2 < prm->nict_lung_mm2);
        /* "uncertain": lung present, below the pCT area (a faint or small opacity) */
        if (in.label == CT_SYNTH_UNSURE)
            CHECK(in.lung_mm2 >= prm->nict_lung_mm2 && in.lesion_mm2 < prm->pct_lesion_mm2);
        CHECK(in.label >= 0 && in.label <= CT_SYNTH_UNSURE);
    }
    free(hu);
    ct_synth_patient_free(p);
}

int main(void)
{
    ct_synth_params prm = small();
    int16_t *a = malloc(sizeof *a * S * S), *b = malloc(sizeof *b * S * S);

    /* same (seed, patient, slice) -> same bytes; another seed or patient -> different bytes */
    ct_synth_patient *p1, *p2, *p3, *p4;
    CHECK_OK(ct_synth_patient_make(&prm, 11, 5, CT_SYNTH_TYPE2, 0, NS, &p1));
    CHECK_OK(ct_synth_patient_make(&prm, 11, 5, CT_SYNTH_TYPE2, 0, NS, &p2));
    CHECK_OK(ct_synth_patient_make(&prm, 12, 5, CT_SYNTH_TYPE2, 0, NS, &p3));
    CHECK_OK(ct_synth_patient_make(&prm, 11, 6, CT_SYNTH_TYPE2, 0, NS, &p4));
    CHECK_OK(ct_synth_render(p1, NS / 2, a, NULL));
    CHECK_OK(ct_synth_render(p2, NS / 2, b, NULL));
    CHECK(memcmp(a, b, sizeof *a * S * S) == 0);
    /* rendering order does not matter: another slice first, then this one again */
    CHECK_OK(ct_synth_render(p2, 3, b, NULL));
    CHECK_OK(ct_synth_render(p2, NS / 2, b, NULL));
    CHECK(memcmp(a, b, sizeof *a * S * S) == 0);
    CHECK_OK(ct_synth_render(p3, NS / 2, b, NULL));
    CHECK(memcmp(a, b, sizeof *a * S * S) != 0);
    CHECK_OK(ct_synth_render(p4, NS / 2, b, NULL));
    CHECK(memcmp(a, b, sizeof *a * S * S) != 0);
    CHECK(ct_synth_render(p1, NS, a, NULL) == H19_EARG); /* out of range slice */

    /* plausible HU at the middle slice: air corner ~ -1000 with noise, lung, fat and bone present */
    CHECK_OK(ct_synth_render(p1, NS / 2, a, NULL));
    long lung = 0, fat = 0, bone = 0, lo = 0, hi = 0;
    for (int i = 0; i < S * S; i++) {
        lung += a[i] >= -950 && a[i] <= -700;
        fat += a[i] >= -150 && a[i] <= -50;
        bone += a[i] >= 300;
        lo += a[i] < -1024;
        hi += a[i] > 3071;
    }
    CHECK(lo == 0 && hi == 0);
    CHECK_MSG(lung > S * S / 20, "lung pixels %ld", lung);
    CHECK_MSG(fat > S * S / 200, "fat pixels %ld", fat);
    CHECK_MSG(bone > S * S / 1000, "bone pixels %ld", bone);
    double m = 0, m2 = 0;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) m += a[i * S + j], m2 += (double)a[i * S + j] * a[i * S + j];
    m /= 64, m2 = m2 / 64 - m * m;
    CHECK_MSG(m > -1012 && m < -988, "air mean %g", m);
    CHECK_MSG(sqrt(m2) > 6 && sqrt(m2) < 30, "air SD %g (noise 15-25 HU, clamped at -1024)", sqrt(m2));
    ct_synth_patient_free(p1);
    ct_synth_patient_free(p2);
    ct_synth_patient_free(p3);
    ct_synth_patient_free(p4);

    /* per class over several patients: NiCT at both ends and lungs mid-series; pCT only (and
     * always) in COVID patients; CAP consolidation only in CAP; type II burden > type I */
    double burden[4] = {0}, lungs[4] = {0};
    int npat = 6;
    for (int cls = 0; cls < CT_SYNTH_NCLASS; cls++)
        for (int k = 0; k < npat; k++) {
            series_stats st;
            render_all_grade(&prm, 2020, (uint32_t)(100 + k), cls, 0, &st);
            CHECK_MSG(st.first == CT_SYNTH_NICT && st.last == CT_SYNTH_NICT, "class %d patient %d: ends %d %d", cls,
                      k, st.first, st.last);
            CHECK(st.mid_label != CT_SYNTH_NICT);
            CHECK(st.nlab[CT_SYNTH_NICT] >= 2 && st.nlab[CT_SYNTH_NICT] < NS / 2);
            int covid = cls == CT_SYNTH_TYPE1 || cls == CT_SYNTH_TYPE2;
            if (covid) CHECK_MSG(st.nlab[CT_SYNTH_PCT] > 0, "class %d patient %d has no pCT slice", cls, k);
            else CHECK(st.nlab[CT_SYNTH_PCT] == 0 && st.nlab[CT_SYNTH_UNSURE] == 0 && st.lesion_mm2 == 0);
            /* the uncertain slices are the few at a lesion's faint poles, not a class of their own */
            if (covid) CHECK_MSG(st.nlab[CT_SYNTH_UNSURE] <= st.nlab[CT_SYNTH_PCT], "class %d patient %d: %d uncertain, %d pCT",
                                 cls, k, st.nlab[CT_SYNTH_UNSURE], st.nlab[CT_SYNTH_PCT]);
            if (cls == CT_SYNTH_CAP) CHECK(st.cap_px > 0);
            else CHECK(st.cap_px == 0);
            burden[cls] += st.lesion_mm2 / npat;
            lungs[cls] += st.lung_mm2 / npat;
        }
    /* involvement (lesion / lung area over the series) in the ranges of CT severity scoring
     * (src/ct/synth.c, ct_synth_params_default): type I a few percent, type II a fifth or more */
    double inv1 = burden[CT_SYNTH_TYPE1] / lungs[CT_SYNTH_TYPE1], inv2 = burden[CT_SYNTH_TYPE2] / lungs[CT_SYNTH_TYPE2];
    CHECK_MSG(inv1 > 0.01 && inv1 < 0.12, "type I involvement %.3f", inv1);
    CHECK_MSG(inv2 > 0.18 && inv2 < 0.6 && inv2 > 4 * inv1, "type II involvement %.3f (type I %.3f)", inv2, inv1);
    CHECK_MSG(burden[CT_SYNTH_TYPE2] > 2 * burden[CT_SYNTH_TYPE1], "lesion burden type II %g vs type I %g",
              burden[CT_SYNTH_TYPE2], burden[CT_SYNTH_TYPE1]);
    CHECK(burden[CT_SYNTH_TYPE1] > 0);
    fprintf(stderr, "mean lesion burden (mm2 summed over slices): type I %.0f, type II %.0f; involvement %.3f, %.3f\n",
            burden[2], burden[3], inv1, inv2);

    /* the critical grade of type II: more extensive than severe, still below a whole lung; the
     * flag means nothing for the other classes (same patient, same series) */
    double bc = 0, lc = 0;
    for (int k = 0; k < npat; k++) {
        series_stats st;
        render_all_grade(&prm, 2020, (uint32_t)(100 + k), CT_SYNTH_TYPE2, 1, &st);
        CHECK(st.nlab[CT_SYNTH_PCT] > 0 && st.first == CT_SYNTH_NICT && st.last == CT_SYNTH_NICT);
        bc += st.lesion_mm2 / npat;
        lc += st.lung_mm2 / npat;
    }
    double invc = bc / lc;
    CHECK_MSG(invc > 1.3 * inv2 && invc < 0.8, "critical involvement %.3f (type II %.3f)", invc, inv2);
    fprintf(stderr, "critical involvement %.3f\n", invc);
    {
        series_stats ga, gb;
        render_all_grade(&prm, 2020, 101, CT_SYNTH_TYPE1, 0, &ga);
        render_all_grade(&prm, 2020, 101, CT_SYNTH_TYPE1, 1, &gb);
        CHECK(ga.lesion_mm2 == gb.lesion_mm2 && ga.lung_mm2 == gb.lung_mm2 && ga.nlab[CT_SYNTH_PCT] == gb.nlab[CT_SYNTH_PCT]);
    }
    /* label_in_mask: the same image; pCT needs the lesion area inside the preprocessing mask, a
     * slice whose lesion the mask removes becomes uncertain, every other label is unchanged */
    {
        ct_synth_params pm = prm;
        pm.label_in_mask = 1;
        int changed = 0, pct = 0;
        for (uint32_t key = 1; key <= 6; key++) {
            ct_synth_patient *q0, *q1;
            CHECK_OK(ct_synth_patient_make(&prm, 11, key, CT_SYNTH_TYPE2, 0, NS, &q0));
            CHECK_OK(ct_synth_patient_make(&pm, 11, key, CT_SYNTH_TYPE2, 0, NS, &q1));
            for (int k = 0; k < NS; k++) {
                ct_synth_slice_info i0, i1;
                CHECK_OK(ct_synth_render(q0, k, a, &i0));
                CHECK_OK(ct_synth_render(q1, k, b, &i1));
                CHECK(memcmp(a, b, sizeof *a * S * S) == 0);
                CHECK(i0.lesion_mask_px == -1 && i1.lesion_mask_px >= 0 && i1.lesion_mask_px <= i1.lesion_px);
                double px2 = ct_synth_pixel_spacing(q1) * ct_synth_pixel_spacing(q1);
                if (i1.label == CT_SYNTH_PCT) CHECK(i0.label == CT_SYNTH_PCT && i1.lesion_mask_px * px2 >= pm.pct_lesion_mm2);
                if (i1.label != i0.label) CHECK(i0.label == CT_SYNTH_PCT && i1.label == CT_SYNTH_UNSURE);
                changed += i1.label != i0.label;
                pct += i1.label == CT_SYNTH_PCT;
            }
            ct_synth_patient_free(q0);
            ct_synth_patient_free(q1);
        }
        CHECK(pct > NS); /* most lung slices of type II patients stay pCT */
        fprintf(stderr, "label_in_mask: %d of %d type II slices pCT, %d pCT -> uncertain\n", pct, 6 * NS, changed);
    }

    /* parameter checks name the field */
    ct_synth_params bad = small();
    bad.size = 10;
    CHECK(ct_synth_params_check(&bad) == H19_EARG && strstr(h19_errmsg(), "image_size"));
    bad = small();
    bad.type2.hu_min = -200, bad.type2.hu_max = -300;
    CHECK(ct_synth_params_check(&bad) == H19_EARG && strstr(h19_errmsg(), "type2"));
    ct_synth_patient *px = NULL;
    CHECK(ct_synth_patient_make(&prm, 1, 1, 7, 0, NS, &px) == H19_EARG && px == NULL);
    CHECK(ct_synth_patient_make(&prm, 1, 1, 0, 0, 0, &px) == H19_EARG);
    CHECK(ct_synth_class_parse("type2") == CT_SYNTH_TYPE2 && ct_synth_class_parse("x") == -1);

    /* standalone cohort: deterministic, classes roughly as the weights, labelled subset size */
    ct_synth_job job;
    ct_synth_job_default(&job);
    job.patients = 400;
    job.labelled_patients = 30;
    job.ct_fraction = 0.9;
    ct_synth_entry *e1, *e2;
    int n1, n2;
    CHECK_OK(ct_synth_cohort(&job, &e1, &n1));
    CHECK_OK(ct_synth_cohort(&job, &e2, &n2));
    CHECK(n1 == 400 && n2 == 400 && memcmp(e1, e2, sizeof *e1 * 400) == 0);
    int ncls[4] = {0}, nlab = 0, nct = 0, labcls[4] = {0};
    for (int i = 0; i < n1; i++) {
        ncls[e1[i].cls]++;
        nct += e1[i].has_ct;
        if (e1[i].labelled) {
            nlab++, labcls[e1[i].cls]++;
            CHECK(e1[i].has_ct);
        }
        CHECK(e1[i].has_ct ? e1[i].nslices >= job.slices_min : e1[i].nslices == 0);
    }
    CHECK(nlab == 30);
    for (int c = 0; c < 4; c++) CHECK(labcls[c] >= 5); /* round robin over the classes */
    CHECK_MSG(ncls[CT_SYNTH_TYPE1] > 150 && ncls[CT_SYNTH_TYPE1] < 260, "type I %d of 400", ncls[CT_SYNTH_TYPE1]);
    CHECK_MSG(nct > 330 && nct < 390, "with CT %d of 400 at fraction 0.9", nct);
    free(e1);
    free(e2);

    /* attached to the real CF table: classes from the Morbidity outcome */
    const char *shared = getenv("HUST19_SHARED");
    char path[1024];
    snprintf(path, sizeof path, "%s/data/ictcf/raw_cf_data.csv", shared ? shared : "../shared");
    FILE *f = fopen(path, "r");
    if (f) {
        fclose(f);
        job.cf_table = strdup(path);
        job.labelled_patients = 104;
        CHECK_OK(ct_synth_cohort(&job, &e1, &n1));
        CHECK(n1 == 1521);
        int c[4] = {0};
        for (int i = 0; i < n1; i++) c[e1[i].cls]++;
        /* 216 control + Suspected sampled, 112 CAP + sampled, 620 type I + ..., 274 type II + ... */
        CHECK(c[0] >= 216 && c[1] >= 112 && c[2] >= 620 && c[3] >= 274);
        CHECK(c[0] + c[1] + c[2] + c[3] == 1521);
        CHECK(e1[3].id == 4 && e1[3].cls == CT_SYNTH_TYPE2 && e1[3].age == 73 && e1[3].male); /* the worked example */
        /* the table's 72 "Critically ill" patients draw the critical lesions; "Severe" ones do not */
        int ncrit = 0;
        for (int i = 0; i < n1; i++) ncrit += ct_synth_is_critical(&e1[i]);
        CHECK_MSG(ncrit == 72, "%d critical patients (the table has 72)", ncrit);
        CHECK(!ct_synth_is_critical(&e1[3]));
        CHECK(e1[800].hospital == 1 && e1[0].hospital == 0);                                  /* 776-1170 Liyuan */
        free(e1);
    } else {
        fprintf(stderr, "note: %s not found; the attached-cohort checks were skipped\n", path);
    }
    ct_synth_job_free(&job);
    free(a);
    free(b);
    CHECK_DONE();
}
