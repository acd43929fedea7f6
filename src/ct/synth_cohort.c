/* synth_cohort.c — the synthetic cohort: patients, classes, slice counts, the labelled subset, and
 * the tables of the archive (cf.csv in the iCTCF format, manifest.csv, synth.yaml). */
#include "hust19/csv.h"
#include "hust19/err.h"
#include "hust19/job.h"
#include "hust19/rng.h"
#include "hust19/synth.h"
#include "synth_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sub-streams of H19_RNG_SYNTH beyond those of synth.c (which uses 1..4). */
enum { ST_COHORT = 5, ST_LABELLED = 6, ST_CF = 7 };

/* The iCTCF table's 124 columns, in order (shared/data/ictcf/raw_cf_data.csv), so that a
 * standalone cohort's cf.csv reads exactly like the real table. */
#include "synth_columns.inc"

void ct_synth_job_default(ct_synth_job *job)
{
    memset(job, 0, sizeof *job);
    job->seed = 2020;
    job->patients = 40;
    job->ct_fraction = 1.0;
    job->slices_mean = 240;
    job->slices_sd = 20;
    job->slices_min = 16;
    job->slices_max = 9999;
    job->labelled_patients = 104;
    /* the real table without suspected cases: 216 control, 112 CAP, 620 type I, 274 type II */
    job->class_weights[CT_SYNTH_CONTROL] = 216;
    job->class_weights[CT_SYNTH_CAP] = 112;
    job->class_weights[CT_SYNTH_TYPE1] = 620;
    job->class_weights[CT_SYNTH_TYPE2] = 274;
    ct_synth_params_default(&job->prm);
}

void ct_synth_job_free(ct_synth_job *job)
{
    free(job->out);
    free(job->cf_table);
    memset(job, 0, sizeof *job);
}

static int sample_class(h19_rng *r, const double *w, int lo, int hi)
{
    double tot = 0;
    for (int c = lo; c <= hi; c++) tot += w[c];
    double u = h19_rng_uniform(r) * tot;
    for (int c = lo; c <= hi; c++) {
        if (u < w[c]) return c;
        u -= w[c];
    }
    return hi;
}

/* Hospital by id as in the real table: 1–775 HUST-UH, 776–1170 HUST-LH, 1171–1521 HUST-UH,
 * scaled to the cohort size. */
static int hospital_of(int id, int n)
{
    double f = (double)id / n;
    return f > 775.0 / 1521 && f <= 1170.0 / 1521;
}

static void set_ct(const ct_synth_job *job, ct_synth_entry *e)
{
    h19_rng r;
    h19_rng_init(&r, job->seed, H19_RNG_SYNTH, ST_COHORT, (uint32_t)e->id, 1, 0);
    e->has_ct = h19_rng_uniform(&r) < job->ct_fraction;
    double ns = job->slices_mean + job->slices_sd * h19_rng_normal(&r);
    long k = lrint(ns);
    if (k < job->slices_min) k = job->slices_min;
    if (k > job->slices_max) k = job->slices_max;
    e->nslices = e->has_ct ? (int)k : 0;
}

static void standalone_row(const ct_synth_job *job, ct_synth_entry *e, int n)
{
    h19_rng r;
    h19_rng_init(&r, job->seed, H19_RNG_SYNTH, ST_COHORT, (uint32_t)e->id, 0, 0);
    e->cls = sample_class(&r, job->class_weights, 0, CT_SYNTH_NCLASS - 1);
    e->hospital = hospital_of(e->id, n);
    /* ages and sex ratios per group as in the real table (mean, SD) */
    static const double age_m[4] = {47.6, 56.7, 52.7, 63.5}, age_s[4] = {20.6, 11.8, 15.9, 14.2};
    static const double male[4] = {0.60, 0.61, 0.43, 0.53};
    double a = age_m[e->cls] + age_s[e->cls] * h19_rng_normal(&r);
    e->age = (int)lrint(a < 18 ? 18 : a > 95 ? 95 : a);
    e->male = h19_rng_uniform(&r) < male[e->cls];
    const char *morb = "Control";
    const char *mort = "Unknown";
    double u = h19_rng_uniform(&r), v = h19_rng_uniform(&r);
    switch (e->cls) {
    case CT_SYNTH_CAP: morb = "Control (Community-acquired pneumonia)"; break;
    case CT_SYNTH_TYPE1:
        morb = u < 24.0 / 620 ? "Mild" : "Regular";
        mort = v < 0.8 ? "Cured" : "Unknown";
        break;
    case CT_SYNTH_TYPE2:
        if (u < 202.0 / 274) {
            morb = "Severe";
            mort = v < 0.08 ? "Deceased" : v < 0.85 ? "Cured" : "Unknown";
        } else {
            morb = "Critically ill";
            mort = v < 0.58 ? "Deceased" : v < 0.76 ? "Cured" : "Unknown";
        }
        break;
    default: break;
    }
    snprintf(e->morbidity, sizeof e->morbidity, "%s", morb);
    snprintf(e->mortality, sizeof e->mortality, "%s", mort);
}

static int attach_rows(const ct_synth_job *job, ct_synth_entry **out, int *nout)
{
    csv_table t;
    H19_TRY(csv_read(job->cf_table, 1, &t));
    int c_hosp = csv_column(&t, "Hospital"), c_morb = csv_column(&t, "Morbidity outcome");
    int c_mort = csv_column(&t, "Mortality outcome"), c_age = csv_column(&t, "Age");
    int c_sex = csv_column(&t, "Gender");
    int rc = H19_OK;
    if (c_morb < 0 || c_hosp < 0)
        rc = h19_fail(H19_EFORMAT, "%s: no 'Morbidity outcome' or 'Hospital' column: not an iCTCF table",
                      job->cf_table);
    ct_synth_entry *e = rc ? NULL : h19_calloc((size_t)(t.nrows > 1 ? t.nrows - 1 : 1), sizeof *e);
    if (!rc && !e) rc = H19_ENOMEM;
    int n = 0;
    for (int row = 1; !rc && row < t.nrows; row++) {
        ct_synth_entry *p = &e[n];
        const char *ids = csv_cell(&t, row, 0);
        char *end;
        long id = strtol(ids, &end, 10);
        if (end == ids || *end || id < 1 || id > 100000000) {
            rc = h19_fail(H19_EFORMAT, "%s:%d: patient id '%s' is not a positive integer", job->cf_table,
                          t.line[row], ids);
            break;
        }
        p->id = (int)id;
        const char *m = csv_cell(&t, row, c_morb);
        h19_rng r;
        h19_rng_init(&r, job->seed, H19_RNG_SYNTH, ST_COHORT, (uint32_t)id, 0, 0);
        if (!strcmp(m, "Control")) p->cls = CT_SYNTH_CONTROL;
        else if (!strcmp(m, "Control (Community-acquired pneumonia)")) p->cls = CT_SYNTH_CAP;
        else if (!strcmp(m, "Mild") || !strcmp(m, "Regular")) p->cls = CT_SYNTH_TYPE1;
        else if (!strcmp(m, "Severe") || !strcmp(m, "Critically ill")) p->cls = CT_SYNTH_TYPE2;
        else if (!strcmp(m, "Suspected (COVID-19-confirmed later)"))
            p->cls = sample_class(&r, job->class_weights, CT_SYNTH_TYPE1, CT_SYNTH_TYPE2);
        else if (!strncmp(m, "Suspected", 9)) p->cls = sample_class(&r, job->class_weights, 0, CT_SYNTH_NCLASS - 1);
        else {
            rc = h19_fail(H19_EFORMAT, "%s:%d: unknown Morbidity outcome '%s' (expected Control, Control "
                          "(Community-acquired pneumonia), Mild, Regular, Severe, Critically ill, Suspected...)",
                          job->cf_table, t.line[row], m);
            break;
        }
        snprintf(p->morbidity, sizeof p->morbidity, "%s", m);
        snprintf(p->mortality, sizeof p->mortality, "%s", c_mort >= 0 ? csv_cell(&t, row, c_mort) : "");
        p->hospital = strstr(csv_cell(&t, row, c_hosp), "Liyuan") != NULL;
        long age = c_age >= 0 ? strtol(csv_cell(&t, row, c_age), NULL, 10) : 0;
        p->age = age > 0 && age < 130 ? (int)age : 50;
        p->male = c_sex >= 0 ? !strcmp(csv_cell(&t, row, c_sex), "Male") : (int)(id & 1);
        n++;
    }
    csv_free(&t);
    if (rc) {
        free(e);
        return rc;
    }
    *out = e;
    *nout = n;
    return H19_OK;
}

/* The labelled subset: among patients with CT, each class in its own seeded order, taken round
 * robin over the classes, so every class is represented (the paper labelled 104 patients). */
static int choose_labelled(const ct_synth_job *job, ct_synth_entry *e, int n)
{
    int *order = h19_malloc(sizeof *order * (size_t)(n ? n : 1));
    if (!order) return H19_ENOMEM;
    int *byc[CT_SYNTH_NCLASS], cnt[CT_SYNTH_NCLASS] = {0}, pos[CT_SYNTH_NCLASS] = {0};
    int m = 0;
    for (int c = 0; c < CT_SYNTH_NCLASS; c++) {
        byc[c] = order + m;
        for (int i = 0; i < n; i++)
            if (e[i].has_ct && e[i].cls == c) byc[c][cnt[c]++] = i;
        m += cnt[c];
        h19_rng r;
        h19_rng_init(&r, job->seed, H19_RNG_SYNTH, ST_LABELLED, (uint32_t)c, 0, 0);
        h19_rng_shuffle(&r, byc[c], cnt[c]);
    }
    int want = job->labelled_patients < m ? job->labelled_patients : m;
    for (int got = 0; got < want;)
        for (int c = 0; c < CT_SYNTH_NCLASS && got < want; c++)
            if (pos[c] < cnt[c]) e[byc[c][pos[c]++]].labelled = 1, got++;
    free(order);
    return H19_OK;
}

int ct_synth_cohort(const ct_synth_job *job, ct_synth_entry **entries, int *n)
{
    *entries = NULL;
    *n = 0;
    ct_synth_entry *e = NULL;
    int m = 0;
    if (job->cf_table) {
        H19_TRY(attach_rows(job, &e, &m));
    } else {
        m = job->patients;
        e = h19_calloc((size_t)(m ? m : 1), sizeof *e);
        if (!e) return H19_ENOMEM;
        for (int i = 0; i < m; i++) {
            e[i].id = i + 1;
            standalone_row(job, &e[i], m);
        }
    }
    for (int i = 0; i < m; i++) set_ct(job, &e[i]);
    int rc = choose_labelled(job, e, m);
    if (rc) {
        free(e);
        return rc;
    }
    *entries = e;
    *n = m;
    return H19_OK;
}

void ct_synth_series_rel(const ct_synth_entry *e, char *buf, size_t cap)
{
    snprintf(buf, cap, "dicom/P%04d/S01", e->id);
}

/* ---- cf.csv ----------------------------------------------------------------------------------- */

static void put_field(sbuf *b, const char *s)
{
    int q = strpbrk(s, ",\"\n\r") != NULL;
    if (!q) {
        sb_put(b, s, strlen(s));
        return;
    }
    sb_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"') sb_put(b, "\"", 1);
        sb_put(b, p, 1);
    }
    sb_put(b, "\"", 1);
}

/* A laboratory value as the resource prints it: two decimals, " ↑" / " ↓" outside the normal range,
 * "<x" below the assay's floor. */
static void lab_value(char *buf, size_t cap, double v, double lo, double hi, double floor_v)
{
    if (floor_v > 0 && v < floor_v) {
        snprintf(buf, cap, "<%.2f", floor_v);
        return;
    }
    snprintf(buf, cap, "%.2f%s", v, v > hi ? " \xe2\x86\x91" : v < lo ? " \xe2\x86\x93" : "");
}

typedef struct {
    const char *column;
    double median[CT_SYNTH_NCLASS]; /* per class: control, CAP, type I, type II */
    double sdlog;                   /* log-normal spread */
    double lo, hi, floor_v;         /* normal range (configs/cf_catalog.yaml), assay floor */
    double present;                 /* probability the value was measured */
} lab_model;

/* A few CFs the paper found informative (lymphocytes, CRP, D-dimer, neutrophils, albumin, IL-6,
 * LDH), with medians that move with severity as reported for COVID-19 (lymphopenia, raised CRP,
 * D-dimer, IL-6 and LDH, low albumin in severe cases; neutrophilia and CRP in bacterial CAP). */
static const lab_model k_labs[] = {
    {"Lymphocyte count", {1.9, 1.5, 1.25, 0.75}, 0.3, 1.1, 3.2, 0, 0.85},
    {"Neutrophil count", {3.6, 6.5, 3.2, 5.8}, 0.35, 1.8, 6.3, 0, 0.85},
    {"C-reactive protein", {2.5, 45, 12, 60}, 0.9, 0, 8, 3.14, 0.45},
    {"D-Dimer", {0.3, 0.6, 0.45, 1.6}, 0.7, 0, 0.5, 0.1, 0.65},
    {"Albumin", {42, 37, 38.5, 32}, 0.09, 35, 55, 0, 0.65},
    {"Interleukin-6", {2.2, 8, 5, 22}, 0.8, 0.1, 2.9, 1.5, 0.35},
    {"Lactate dehydrogenase", {175, 210, 215, 340}, 0.22, 120, 250, 0, 0.3},
};

static const char *const k_udis[] = {"Hypertension", "Diabetes", "Hypertension, Diabetes",
                                     "Coronary atherosclerotic heart disease", "Chronic bronchitis",
                                     "Hepatitis B"};

static void cf_row(const ct_synth_job *job, const ct_synth_entry *e, sbuf *b)
{
    h19_rng r;
    h19_rng_init(&r, job->seed, H19_RNG_SYNTH, ST_CF, (uint32_t)e->id, 0, 0);
    int covid = e->cls == CT_SYNTH_TYPE1 || e->cls == CT_SYNTH_TYPE2;
    double fever_p[4] = {0.1, 0.7, 0.6, 0.75};
    double temp = h19_rng_uniform(&r) < fever_p[e->cls] ? 38.0 + 0.5 * h19_rng_normal(&r)
                                                        : 36.6 + 0.3 * h19_rng_normal(&r);
    double udis_p[4] = {0.25, 0.35, 0.3, 0.55};
    const char *udis = h19_rng_uniform(&r) < udis_p[e->cls]
                           ? k_udis[h19_rng_below(&r, (uint32_t)(sizeof k_udis / sizeof k_udis[0]))]
                           : "No underlying disease";
    char buf[128];
    for (int c = 0; k_ictcf_columns[c]; c++) {
        const char *col = k_ictcf_columns[c];
        if (c) sb_put(b, ",", 1);
        buf[0] = 0;
        if (c == 0) snprintf(buf, sizeof buf, "%d", e->id);
        else if (!strcmp(col, "Hospital")) snprintf(buf, sizeof buf, "%s", e->hospital ? "HUST-Liyuan Hospital" : "HUST-Union Hospital");
        else if (!strcmp(col, "Age")) snprintf(buf, sizeof buf, "%d", e->age);
        else if (!strcmp(col, "Gender")) snprintf(buf, sizeof buf, "%s", e->male ? "Male" : "Female");
        else if (!strcmp(col, "Body temperature")) snprintf(buf, sizeof buf, "%.1f\xc2\xb0" "C", temp);
        else if (!strcmp(col, "Underlying diseases")) snprintf(buf, sizeof buf, "%s", udis);
        else if (!strcmp(col, "SARS-CoV-2 nucleic acids")) snprintf(buf, sizeof buf, "%s", covid ? "Positive" : "Negative");
        else if (!strcmp(col, "Computed tomography (CT)"))
            snprintf(buf, sizeof buf, "%s", covid && strcmp(e->morbidity, "Mild") ? "Positive" : "Negative");
        else if (!strcmp(col, "Morbidity outcome")) snprintf(buf, sizeof buf, "%s", e->morbidity);
        else if (!strcmp(col, "Mortality outcome")) snprintf(buf, sizeof buf, "%s", e->mortality);
        else
            for (size_t k = 0; k < sizeof k_labs / sizeof k_labs[0]; k++) {
                const lab_model *l = &k_labs[k];
                if (strcmp(col, l->column)) continue;
                double u = h19_rng_uniform(&r), g = h19_rng_normal(&r); /* drawn whether present or not */
                if (u < l->present)
                    lab_value(buf, sizeof buf, l->median[e->cls] * exp(l->sdlog * g), l->lo, l->hi, l->floor_v);
            }
        put_field(b, buf);
    }
    sb_put(b, "\n", 1);
}

/* ---- the tables ------------------------------------------------------------------------------- */

static int write_sbuf(const char *dir, const char *name, sbuf *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (b->oom) return h19_fail(H19_ENOMEM, "%s: out of memory while formatting", path);
    return ct_synth_atomic_write(path, b->s ? b->s : "", b->n);
}

int ct_synth_is_critical(const ct_synth_entry *e)
{
    return e->cls == CT_SYNTH_TYPE2 && !strcmp(e->morbidity, "Critically ill");
}

static void lesion_yaml(sbuf *b, const char *name, const ct_synth_lesion_params *l)
{
    sb_printf(b, "    %s: {count: [%d, %d], radius_mm: [%g, %g], hu: [%g, %g], consolidation: %g, crazy_paving: %g}\n",
              name, l->count_min, l->count_max, l->radius_min, l->radius_max, l->hu_min, l->hu_max,
              l->consolidation, l->crazy_paving);
}

int ct_synth_describe(const ct_synth_job *job, const ct_synth_entry *e, int n, sbuf *b)
{
    long slices = 0, labelled = 0, npat = 0, cls[CT_SYNTH_NCLASS] = {0}, critical = 0;
    for (int i = 0; i < n; i++) {
        slices += e[i].nslices;
        labelled += e[i].labelled ? e[i].nslices : 0;
        npat += e[i].has_ct;
        cls[e[i].cls]++;
        critical += ct_synth_is_critical(&e[i]);
    }
    const ct_synth_params *p = &job->prm;
    sb_printf(b, "# A synthetic consortium CT archive written by `hust19 synth` (docs/synth.md).\n");
    sb_printf(b, "format: hust19-synth\nversion: 1\nseed: %llu\n", (unsigned long long)job->seed);
    sb_printf(b, "cf_table: %s\n", job->cf_table ? job->cf_table : "~");
    sb_printf(b, "patients: %d\npatients_with_ct: %ld\nslices: %ld\nlabelled_slices: %ld\n", n, npat, slices, labelled);
    sb_printf(b, "classes: {control: %ld, cap: %ld, type1: %ld, type2: %ld}\ntype2_critical: %ld\n", cls[0], cls[1],
              cls[2], cls[3], critical);
    sb_printf(b, "ct_fraction: %g\nslices_per_patient: {mean: %g, sd: %g, min: %d, max: %d}\n", job->ct_fraction,
              job->slices_mean, job->slices_sd, job->slices_min, job->slices_max);
    sb_printf(b, "labelled_patients: %d\nclass_weights: {control: %g, cap: %g, type1: %g, type2: %g}\n",
              job->labelled_patients, job->class_weights[0], job->class_weights[1], job->class_weights[2],
              job->class_weights[3]);
    sb_printf(b, "image_size: %d\nfov_mm: %g\npixel_mm: %.6g\nnoise_hu: [%g, %g]\n", p->size, p->fov_mm,
              p->fov_mm / p->size, p->noise_min, p->noise_max);
    sb_printf(b,
              "thresholds: {nict_lung_mm2: %g, pct_lesion_mm2: %g, lesion_hu: %g, faint_hu: %g%s}\n"
              "control_minor: %g\nlesions:\n",
              p->nict_lung_mm2, p->pct_lesion_mm2, p->lesion_hu, p->faint_hu,
              p->label_in_mask ? ", label_in_mask: true" : "", p->control_minor); /* key only when set:
              archives made before it keep their synth.yaml */
    lesion_yaml(b, "type1", &p->type1);
    lesion_yaml(b, "type2", &p->type2);
    lesion_yaml(b, "cap", &p->cap);
    lesion_yaml(b, "critical", &p->critical);
    return b->oom ? h19_fail(H19_ENOMEM, "synth.yaml: out of memory") : H19_OK;
}

int ct_synth_write_tables(const ct_synth_job *job, const ct_synth_entry *e, int n)
{
    H19_TRY(ct_synth_mkdirs(job->out));
    sbuf b = {0};
    /* synth.yaml first: an existing archive made with other parameters must not be mixed into */
    int rc = ct_synth_describe(job, e, n, &b);
    char path[4096];
    snprintf(path, sizeof path, "%s/synth.yaml", job->out);
    if (!rc && !job->force && h19_file_exists(path)) {
        char *old = NULL;
        size_t len = 0;
        rc = h19_read_file(path, &old, &len);
        if (!rc && (len != b.n || memcmp(old, b.s, len)))
            rc = h19_fail(H19_ESTATE, "%s: this directory holds a synthetic archive made with other parameters; "
                          "choose another synth.out or rerun with --force to rewrite it", path);
        free(old);
    }
    if (!rc) rc = write_sbuf(job->out, "synth.yaml", &b);
    sb_free(&b);
    if (rc) return rc;
    /* cf.csv */
    if (job->cf_table) {
        char *data = NULL;
        size_t len = 0;
        rc = h19_read_file(job->cf_table, &data, &len);
        char cpath[4096];
        snprintf(cpath, sizeof cpath, "%s/cf.csv", job->out);
        if (!rc) rc = ct_synth_atomic_write(cpath, data, len);
        free(data);
    } else {
        for (int c = 0; k_ictcf_columns[c]; c++) {
            if (c) sb_put(&b, ",", 1);
            put_field(&b, k_ictcf_columns[c]);
        }
        sb_put(&b, "\n", 1);
        for (int i = 0; i < n; i++) cf_row(job, &e[i], &b);
        rc = write_sbuf(job->out, "cf.csv", &b);
    }
    sb_free(&b);
    if (rc) return rc;
    /* manifest.csv */
    sb_printf(&b, "patient_id,class,morbidity,hospital,series,n_slices,labelled\n");
    for (int i = 0; i < n; i++) {
        char rel[64] = "";
        if (e[i].has_ct) ct_synth_series_rel(&e[i], rel, sizeof rel);
        sb_printf(&b, "%d,%s,", e[i].id, ct_synth_class_name(e[i].cls));
        put_field(&b, e[i].morbidity);
        sb_printf(&b, ",%s,%s,%d,%d\n", e[i].hospital ? "HUST-LH" : "HUST-UH", rel, e[i].nslices, e[i].labelled);
    }
    rc = write_sbuf(job->out, "manifest.csv", &b);
    sb_free(&b);
    return rc;
}
