/* cv_report.c — metrics of a CV/validation run (the paper's Tables 2 and 3 for the CF path), the
 * results file and an HTML page with SVG ROC curves (see include/hust19/cv.h). */
#include "hust19/cv.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MET_AUC, MET_LO, MET_HI, MET_SN, MET_SP, MET_AC, MET_PPV, MET_NPV, MET_MCC, NMET };
static const char *const met_names[] = {"auc", "auc_lo", "auc_hi", "sn", "sp", "ac", "ppv", "npv", "mcc"};

/* Metrics of one repeat for class k: scores [n][K] and per-patient thresholds thr_of[i]. */
static int metrics_one(const double *score, const int *y, int n, int K, int k, const double *thr_of, double *met)
{
    double *s = h19_malloc(sizeof(double) * (size_t)(n + 1)), *thr = h19_malloc(sizeof(double) * (size_t)(n + 1));
    int *b = h19_malloc(sizeof(int) * (size_t)(n + 1));
    if (!s || !b || !thr) { free(s); free(b); free(thr); return H19_ENOMEM; }
    /* NaN = not scored by this model (no input): left out */
    int m = 0, npos = 0;
    for (int i = 0; i < n; i++) {
        double v = score[(size_t)i * (size_t)K + (size_t)k];
        if (isnan(v)) continue;
        s[m] = v;
        b[m] = y[i] == k;
        npos += b[m];
        thr[m++] = thr_of[i];
    }
    n = m;
    ev_delong d;
    int rc = H19_OK;
    if (npos < 2 || n - npos < 2) {
        for (int q = 0; q < NMET; q++) met[q] = NAN;
        free(s);
        free(b);
        free(thr);
        return H19_OK;
    }
    rc = ev_delong_ci(s, b, n, 0.95, EV_CI_NORMAL, &d);
    if (!rc) {
        met[MET_AUC] = d.auc;
        met[MET_LO] = d.lo;
        met[MET_HI] = d.hi;
        ev_conf c = {0, 0, 0, 0};
        for (int i = 0; i < n; i++) {
            int pred = s[i] >= thr[i];
            if (pred && b[i]) c.tp++;
            else if (pred) c.fp++;
            else if (b[i]) c.fn++;
            else c.tn++;
        }
        ev_measures em;
        ev_measures_from(&c, &em);
        met[MET_SN] = em.sn;
        met[MET_SP] = em.sp;
        met[MET_AC] = em.ac;
        met[MET_PPV] = em.ppv;
        met[MET_NPV] = em.npv;
        met[MET_MCC] = em.mcc;
    }
    free(s);
    free(b);
    free(thr);
    return rc;
}

static void fmt(char *buf, size_t n, double v)
{
    if (isnan(v))
        buf[0] = 0;
    else
        snprintf(buf, n, "%.4f", v);
}

/* Summary of a block: mean[t][met], sd[t][met] over repeats (t = 0 Youden, 1 sensitive). */
typedef struct {
    double mean[2][NMET], sd[2][NMET];
} summary;

static int summarise(const cv_run *run, int is_val, int s, int m, int k, summary *out)
{
    const cv_set *S = is_val ? &run->vtest[s] : &run->sets[s];
    int R = is_val ? run->VR : run->R, n = S->n, K = S->K;
    double *vals = h19_malloc(sizeof(double) * (size_t)R * 2 * NMET);
    double *thr_of = h19_malloc(sizeof(double) * (size_t)n);
    if (!vals || !thr_of) { free(vals); free(thr_of); return H19_ENOMEM; }
    int rc = H19_OK;
    for (int r = 0; r < R && !rc; r++) {
        const double *sc = is_val ? run->vscore[s] + (((size_t)m * (size_t)R + (size_t)r) * (size_t)n) * (size_t)K
                                  : run->score[s] + (((size_t)m * (size_t)R + (size_t)r) * (size_t)n) * (size_t)K;
        for (int t = 0; t < 2 && !rc; t++) {
            for (int i = 0; i < n; i++) {
                const double *th;
                if (is_val)
                    th = run->vthr[s] + ((size_t)m * (size_t)R + (size_t)r) * (size_t)K * 2;
                else {
                    int f = run->fold[s][(size_t)r * (size_t)n + (size_t)i];
                    th = run->thr[s] + (((size_t)m * (size_t)R + (size_t)r) * (size_t)run->F + (size_t)f) * (size_t)K * 2;
                }
                thr_of[i] = th[2 * k + t];
            }
            rc = metrics_one(sc, S->y, n, K, k, thr_of, vals + ((size_t)r * 2 + (size_t)t) * NMET);
        }
    }
    for (int t = 0; t < 2 && !rc; t++)
        for (int q = 0; q < NMET; q++) {
            double *x = h19_malloc(sizeof(double) * (size_t)R);
            if (!x) { rc = H19_ENOMEM; break; }
            for (int r = 0; r < R; r++) x[r] = vals[((size_t)r * 2 + (size_t)t) * NMET + (size_t)q];
            rc = ev_mean_sd(x, R, &out->mean[t][q], &out->sd[t][q]);
            free(x);
        }
    free(vals);
    free(thr_of);
    return rc;
}

static int write_metrics_csv(const h19_job *job, const cv_run *run, int is_val, const char *name, const char *detail)
{
    char *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    FILE *f1 = open_memstream(&b1, &n1), *f2 = detail ? open_memstream(&b2, &n2) : NULL;
    if (!f1 || (detail && !f2)) return h19_fail(H19_ENOMEM, "open_memstream failed");
    fprintf(f1, "outcome,model,class,auc,auc_lo,auc_hi,sn,sp,ac,ppv,npv,mcc\n");
    if (f2) fprintf(f2, "outcome,model,class,threshold,metric,mean,sd,repeats\n");
    int rc = H19_OK;
    int nsets = is_val ? run->nval : run->nsets;
    for (int s = 0; s < nsets && !rc; s++) {
        const cv_set *S = is_val ? &run->vtest[s] : &run->sets[s];
        const cf_outcome *o = &job->outcomes[S->outcome];
        for (int m = 0; m < run->M && !rc; m++)
            for (int k = S->K == 2 ? 1 : 0; k < S->K && !rc; k++) {
                summary sm;
                rc = summarise(run, is_val, s, m, k, &sm);
                if (rc) break;
                fprintf(f1, "%s,%s,%s", o->name, job_model_names[run->model[m]], o->class_name[k]);
                for (int q = 0; q < NMET; q++) {
                    char v[32];
                    fmt(v, sizeof v, sm.mean[0][q]);
                    fprintf(f1, ",%s", v);
                }
                fputc('\n', f1);
                for (int t = 0; f2 && t < 2; t++)
                    for (int q = 0; q < NMET; q++) {
                        if (t == 1 && q <= MET_HI) continue; /* AUC does not depend on the threshold */
                        char v[32], sd[32];
                        fmt(v, sizeof v, sm.mean[t][q]);
                        fmt(sd, sizeof sd, sm.sd[t][q]);
                        fprintf(f2, "%s,%s,%s,%s,%s,%s,%s,%d\n", o->name, job_model_names[run->model[m]],
                                o->class_name[k], q <= MET_HI ? "any" : t ? "sensitive" : "youden", met_names[q], v,
                                sd, is_val ? run->VR : run->R);
                    }
            }
    }
    fclose(f1);
    if (f2) fclose(f2);
    char path[1200];
    if (!rc) {
        snprintf(path, sizeof path, "%s/%s", job->outdir, name);
        rc = h19_write_atomic(path, b1, n1);
    }
    if (!rc && detail) {
        snprintf(path, sizeof path, "%s/%s", job->outdir, detail);
        rc = h19_write_atomic(path, b2, n2);
    }
    free(b1);
    free(b2);
    return rc;
}

/* One ROC curve per model for class k of repeat 0 (out-of-fold scores). */
static int svg_for(const h19_job *job, const cv_run *run, int is_val, int s, int k, FILE *out)
{
    const cv_set *S = is_val ? &run->vtest[s] : &run->sets[s];
    int n = S->n, K = S->K, R = is_val ? run->VR : run->R;
    ev_roc_curve cur[JOB_MAX_MODELS];
    double *fpr[JOB_MAX_MODELS] = {0}, *tpr[JOB_MAX_MODELS] = {0}, *thr[JOB_MAX_MODELS] = {0};
    char labels[JOB_MAX_MODELS][64];
    double *sv = h19_malloc(sizeof(double) * (size_t)n);
    int *b = h19_malloc(sizeof(int) * (size_t)n);
    int rc = (!sv || !b) ? H19_ENOMEM : H19_OK;
    for (int m = 0; m < run->M && !rc; m++) {
        const double *sc = is_val ? run->vscore[s] + ((size_t)m * (size_t)R) * (size_t)n * (size_t)K
                                  : run->score[s] + ((size_t)m * (size_t)R) * (size_t)n * (size_t)K;
        int ns = 0, npos = 0;
        for (int i = 0; i < n; i++) {
            double v = sc[(size_t)i * (size_t)K + (size_t)k];
            if (isnan(v)) continue; /* not scored by this model */
            sv[ns] = v;
            b[ns] = S->y[i] == k;
            npos += b[ns++];
        }
        int np = 0;
        if (npos < 2 || ns - npos < 2) { /* nothing to draw for this model */
            snprintf(labels[m], sizeof labels[m], "%s (not scored)", job_model_names[run->model[m]]);
            cur[m] = (ev_roc_curve){labels[m], NULL, NULL, 0, NAN, NAN, NAN};
            continue;
        }
        rc = ev_roc(sv, b, ns, &fpr[m], &tpr[m], &thr[m], &np);
        ev_delong d;
        if (!rc) rc = ev_delong_ci(sv, b, ns, 0.95, EV_CI_NORMAL, &d);
        if (rc) break;
        snprintf(labels[m], sizeof labels[m], "%s", job_model_names[run->model[m]]);
        cur[m].label = labels[m];
        cur[m].fpr = fpr[m];
        cur[m].tpr = tpr[m];
        cur[m].n = np;
        cur[m].auc = d.auc;
        cur[m].lo = d.lo;
        cur[m].hi = d.hi;
    }
    if (!rc) {
        char title[256];
        const cf_outcome *o = &job->outcomes[S->outcome];
        snprintf(title, sizeof title, "%s%s: %s vs rest", o->name, is_val ? " (validation cohort)" : " (CV, repeat 1)",
                 o->class_name[k]);
        ev_roc_curve shown[JOB_MAX_MODELS];
        int nshown = 0;
        for (int m = 0; m < run->M; m++)
            if (cur[m].n > 0) shown[nshown++] = cur[m];
        rc = ev_svg_roc_fp(out, shown, nshown, title);
    }
    for (int m = 0; m < run->M; m++) {
        free(fpr[m]);
        free(tpr[m]);
        free(thr[m]);
    }
    free(sv);
    free(b);
    return rc;
}

static void html_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

static int csv_table_html(FILE *f, const char *path)
{
    char *text = NULL;
    size_t n;
    H19_TRY(h19_read_file(path, &text, &n));
    csv_table t;
    int rc = csv_parse(path, text, n, 1, &t);
    free(text);
    if (rc) return rc;
    fputs("<table>\n", f);
    for (int r = 0; r < t.nrows; r++) {
        fputs("<tr>", f);
        for (int c = 0; c < t.nfields[r]; c++) {
            fputs(r ? "<td>" : "<th>", f);
            html_escape(f, csv_cell(&t, r, c));
            fputs(r ? "</td>" : "</th>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    csv_free(&t);
    return H19_OK;
}

static int write_html(const h19_job *job, const cv_run *run)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return h19_fail(H19_ENOMEM, "open_memstream failed");
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>hust19 %s: cross-validation</title>\n"
               "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
               "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
               "th{background:#f0f0f0}.figs{display:flex;flex-wrap:wrap;gap:12px}.figs svg{width:360px;height:auto}</style>"
               "</head><body>\n",
            job->name);
    fprintf(f, "<h1>hust19 — %s</h1>\n<p>Job file <code>", job->name);
    html_escape(f, job->file);
    fprintf(f, "</code>, seed %llu, %d × %d-fold stratified cross-validation. Metrics are means over "
               "repeats of out-of-fold predictions at the Youden threshold chosen on each fold's training scores; "
               "AUC 95%% CI by DeLong. Thresholds, SDs and the sensitive threshold: <code>metrics-detail.csv</code>.</p>\n",
            (unsigned long long)job->seed, run->R, run->F);
    int rc = H19_OK;
    char path[1200];
    if (run->nsets) {
        fputs("<h2>Cross-validation</h2>\n", f);
        snprintf(path, sizeof path, "%s/metrics.csv", job->outdir);
        rc = csv_table_html(f, path);
        for (int s = 0; s < run->nsets && !rc; s++) {
            fputs("<div class=\"figs\">\n", f);
            for (int k = run->sets[s].K == 2 ? 1 : 0; k < run->sets[s].K && !rc; k++) rc = svg_for(job, run, 0, s, k, f);
            fputs("</div>\n", f);
        }
    }
    if (run->nval && !rc) {
        fputs("<h2>Validation on the held-out cohort</h2>\n", f);
        snprintf(path, sizeof path, "%s/validate.csv", job->outdir);
        rc = csv_table_html(f, path);
        for (int s = 0; s < run->nval && !rc; s++) {
            fputs("<div class=\"figs\">\n", f);
            for (int k = run->vtest[s].K == 2 ? 1 : 0; k < run->vtest[s].K && !rc; k++) rc = svg_for(job, run, 1, s, k, f);
            fputs("</div>\n", f);
        }
    }
    fputs("</body></html>\n", f);
    fclose(f);
    if (!rc) {
        snprintf(path, sizeof path, "%s/cv.html", job->outdir);
        rc = h19_write_atomic(path, buf, n);
    }
    free(buf);
    return rc;
}

static int write_h5(const h19_job *job, const cf_archive *a, const cv_run *run)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/results.h5", job->outdir);
    h5_file f;
    H19_TRY(h5_create(&f, path, MPI_COMM_WORLD, H19_RESULTS_KIND, H19_RESULTS_VERSION));
    int rc = h5_attr_str(&f, "", "job", job->name);
    if (!rc) rc = h5_attr_i64(&f, "", "seed", (int64_t)job->seed);
    const char *models[JOB_MAX_MODELS];
    for (int m = 0; m < run->M; m++) models[m] = job_model_names[run->model[m]];
    for (int pass = 0; pass < 2 && !rc; pass++) {
        int nsets = pass ? run->nval : run->nsets;
        int R = pass ? run->VR : run->R;
        for (int s = 0; s < nsets && !rc; s++) {
            const cv_set *S = pass ? &run->vtest[s] : &run->sets[s];
            const cf_outcome *o = &job->outcomes[S->outcome];
            char g[300], ds[400];
            snprintf(g, sizeof g, "/%s/%s", pass ? "validate" : "cv", o->name);
            /* each rank writes a block of repeats: offsets from an exclusive scan */
            int64_t r0 = (int64_t)R * dist_rank() / dist_size(), nr = (int64_t)R * (dist_rank() + 1) / dist_size() - r0;
            int64_t first, total;
            rc = h5_exscan_rows(MPI_COMM_WORLD, nr, &first, &total);
            const char **ids = h19_malloc(sizeof(char *) * (size_t)S->n);
            if (!ids) rc = H19_ENOMEM;
            for (int i = 0; !rc && i < S->n; i++) ids[i] = a->d.id[S->row[i]];
            int64_t pf = dist_rank() == 0 ? 0 : S->n, pc = dist_rank() == 0 ? S->n : 0;
            snprintf(ds, sizeof ds, "%s/patient_id", g);
            if (!rc) rc = h5_write_strings(&f, ds, S->n, pf, pc, ids);
            free(ids);
            snprintf(ds, sizeof ds, "%s/label", g);
            if (!rc) rc = h5_write_i32_1d(&f, ds, S->n, pf, pc, S->y);
            for (int k = 0; !rc && k < S->K; k++) {
                char an[32];
                snprintf(an, sizeof an, "class_%d", k);
                rc = h5_attr_str(&f, g, an, o->class_name[k]);
            }
            if (!pass && !rc) {
                int64_t dims[2] = {R, S->n};
                snprintf(ds, sizeof ds, "%s/fold", g);
                rc = h5_write(&f, ds, H5T_NATIVE_INT32, 2, dims, first, nr, run->fold[s] + first * S->n, 0);
            }
            for (int m = 0; m < run->M && !rc; m++) {
                int64_t dims[3] = {R, S->n, S->K};
                snprintf(ds, sizeof ds, "%s/%s/score", g, models[m]);
                const double *sc = (pass ? run->vscore[s] : run->score[s]) + (size_t)m * (size_t)R * (size_t)S->n * (size_t)S->K;
                rc = h5_write(&f, ds, H5T_NATIVE_DOUBLE, 3, dims, first, nr, sc + first * S->n * S->K, 1);
                if (rc) break;
                snprintf(ds, sizeof ds, "%s/%s/threshold", g, models[m]);
                if (!pass) {
                    int64_t td[4] = {R, run->F, S->K, 2};
                    rc = h5_write(&f, ds, H5T_NATIVE_DOUBLE, 4, td, first, nr,
                                  run->thr[s] + ((size_t)m * (size_t)R + (size_t)first) * (size_t)run->F * (size_t)S->K * 2, 0);
                } else {
                    int64_t td[3] = {R, S->K, 2};
                    rc = h5_write(&f, ds, H5T_NATIVE_DOUBLE, 3, td, first, nr,
                                  run->vthr[s] + ((size_t)m * (size_t)R + (size_t)first) * (size_t)S->K * 2, 0);
                }
            }
        }
    }
    rc = dist_agree(rc);
    if (rc) {
        h5_abort(&f);
        return rc;
    }
    return h5_commit(&f);
}

int cv_write_results(const h19_job *job, const cf_archive *a, const cv_run *run)
{
    int rc = write_h5(job, a, run);
    if (rc) return rc;
    if (dist_rank() == 0) {
        if (run->nsets) rc = write_metrics_csv(job, run, 0, "metrics.csv", "metrics-detail.csv");
        if (!rc && run->nval) rc = write_metrics_csv(job, run, 1, "validate.csv", "validate-detail.csv");
        if (!rc) rc = write_html(job, run);
    }
    return dist_agree(rc);
}
