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


/* ---- confusion matrices, inputs and the CT / CF / fused comparison ------------------------------ */

static int model_index(const cv_run *run, int kind)
{
    for (int m = 0; m < run->M; m++)
        if (run->model[m] == kind) return m;
    return -1;
}

/* The model the figures show: the hybrid if run, else cf-fused, else the last. */
static int primary_model(const cv_run *run)
{
    int m = model_index(run, MODEL_HYBRID);
    if (m < 0) m = model_index(run, MODEL_CF_FUSED);
    return m >= 0 ? m : run->M - 1;
}

/* Confusion matrix cm [K][K] of model m, repeat 0, at the sensitive thresholds of each patient's
 * fold (the paper's Fig. 3e-h): binary outcomes p >= t; three classes argmax_k (p_k - t_k)
 * (ev_confusion_thresholds). Patients the model did not score are left out. */
static int confusion_of(const cv_run *run, int is_val, int s, int m, long *cm)
{
    const cv_set *S = is_val ? &run->vtest[s] : &run->sets[s];
    int n = S->n, K = S->K, R = is_val ? run->VR : run->R;
    size_t Ks = (size_t)K;
    memset(cm, 0, sizeof(long) * Ks * Ks);
    const double *sc = (is_val ? run->vscore[s] : run->score[s]) + (size_t)m * (size_t)R * (size_t)n * Ks;
    for (int i = 0; i < n; i++) {
        const double *p = sc + (size_t)i * Ks;
        if (isnan(p[0])) continue;
        const double *th = is_val ? run->vthr[s] + (size_t)m * (size_t)R * Ks * 2
                                  : run->thr[s] + (((size_t)m * (size_t)R) * (size_t)run->F +
                                                   (size_t)run->fold[s][i]) * Ks * 2;
        int pred;
        if (K == 2)
            pred = p[1] >= th[2 * 1 + 1];
        else {
            double t[16];
            long c1[256];
            for (int k = 0; k < K; k++) t[k] = th[2 * k + 1];
            H19_TRY(ev_confusion_thresholds(p, &S->y[i], 1, K, t, c1));
            pred = 0;
            for (int k = 0; k < K; k++)
                if (c1[(size_t)S->y[i] * Ks + (size_t)k]) pred = k;
        }
        cm[(size_t)S->y[i] * Ks + (size_t)pred]++;
    }
    return H19_OK;
}

/* Patients of a set by inputs: [0] CT and CFs, [1] CFs only, [2] CT only, [3] neither. */
static void input_counts(const cv_run *run, const cv_set *S, int *cnt)
{
    memset(cnt, 0, sizeof(int) * 4);
    for (int i = 0; i < S->n; i++) {
        int cf = run->has_cf ? run->has_cf[S->row[i]] : 1, ct = run->has_ct ? run->has_ct[S->row[i]] : 0;
        cnt[cf && ct ? 0 : cf ? 1 : ct ? 2 : 3]++;
    }
}

/* Mean over repeats of the AUC of model m for class k on the patients every model in mods scores. */
static int subset_auc(const cv_run *run, int is_val, int s, const int *mods, int nm, int m, int k, double *mean,
                      int *nsub)
{
    const cv_set *S = is_val ? &run->vtest[s] : &run->sets[s];
    int n = S->n, K = S->K, R = is_val ? run->VR : run->R;
    size_t Ks = (size_t)K;
    double *v = h19_malloc(sizeof(double) * (size_t)(n + 1)), *a = h19_malloc(sizeof(double) * (size_t)(R + 1));
    int *b = h19_malloc(sizeof(int) * (size_t)(n + 1));
    if (!v || !a || !b) { free(v); free(a); free(b); return H19_ENOMEM; }
    int rc = H19_OK, na = 0;
    *nsub = 0;
    for (int r = 0; r < R && !rc; r++) {
        const double *base = is_val ? run->vscore[s] : run->score[s];
        int ns = 0, npos = 0;
        for (int i = 0; i < n; i++) {
            int all = 1;
            for (int q = 0; q < nm; q++)
                all &= !isnan(base[(((size_t)mods[q] * (size_t)R + (size_t)r) * (size_t)n + (size_t)i) * Ks]);
            if (!all) continue;
            v[ns] = base[(((size_t)m * (size_t)R + (size_t)r) * (size_t)n + (size_t)i) * Ks + (size_t)k];
            b[ns] = S->y[i] == k;
            npos += b[ns++];
        }
        *nsub = ns;
        if (npos < 1 || npos == ns) continue;
        rc = ev_auc(v, b, ns, &a[na++]);
    }
    double sd;
    if (!rc) {
        if (na) rc = ev_mean_sd(a, na, mean, &sd);
        else *mean = NAN;
    }
    free(v);
    free(a);
    free(b);
    return rc;
}

/* compare.csv: CT-only (ct-cnn) vs CF-only (cf-dnn) vs fused (hybrid) AUC on the patients with both
 * inputs (the paper's Supplementary Fig. 3), with fused_ge_best = 1 where the fused model is at
 * least the better of the two. Also the HTML table. Nothing when the three models were not run. */
static int write_compare(const h19_job *job, const cv_run *run, FILE *html)
{
    int mct = model_index(run, MODEL_CT_CNN), mcf = model_index(run, MODEL_CF_DNN), mfu = model_index(run, MODEL_HYBRID);
    if (mct < 0 || mcf < 0 || mfu < 0) return H19_OK;
    char *b = NULL;
    size_t bn = 0;
    FILE *f = open_memstream(&b, &bn);
    if (!f) return h19_fail(H19_ENOMEM, "open_memstream failed");
    fprintf(f, "split,outcome,class,n,ct_only,cf_only,fused,fused_ge_best\n");
    fputs("<h3>CT only vs CF only vs fused (Supplementary Fig. 3)</h3>\n<p>Mean AUC over repeats on the patients "
          "with both CT and clinical features (every model scores them).</p>\n<table><tr><th>split</th><th>outcome</th>"
          "<th>class</th><th>n</th><th>CT only (ct-cnn)</th><th>CF only (cf-dnn)</th><th>fused (hybrid)</th>"
          "<th>fused &ge; best</th></tr>\n",
          html);
    int mods[3] = {mct, mcf, mfu}, rc = H19_OK;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        int nsets = pass ? run->nval : run->nsets;
        for (int s = 0; s < nsets && !rc; s++) {
            const cv_set *S = pass ? &run->vtest[s] : &run->sets[s];
            const cf_outcome *o = &job->outcomes[S->outcome];
            for (int k = S->K == 2 ? 1 : 0; k < S->K && !rc; k++) {
                double a[3];
                int ns = 0;
                for (int q = 0; q < 3 && !rc; q++) rc = subset_auc(run, pass, s, mods, 3, mods[q], k, &a[q], &ns);
                if (rc) break;
                int ge = !isnan(a[2]) && a[2] >= (isnan(a[0]) ? -1 : a[0]) && a[2] >= (isnan(a[1]) ? -1 : a[1]);
                const char *split = pass ? "validation" : "cv";
                fprintf(f, "%s,%s,%s,%d", split, o->name, o->class_name[k], ns);
                fprintf(html, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%d</td>", split, o->name, o->class_name[k], ns);
                for (int q = 0; q < 3; q++) {
                    char v[32];
                    fmt(v, sizeof v, a[q]);
                    fprintf(f, ",%s", v);
                    fprintf(html, "<td>%s</td>", v);
                }
                fprintf(f, ",%d\n", ge);
                fprintf(html, "<td>%s</td></tr>\n", ge ? "yes" : "no");
            }
        }
    }
    fputs("</table>\n", html);
    fclose(f);
    char path[1200];
    snprintf(path, sizeof path, "%s/compare.csv", job->outdir);
    if (!rc) rc = h19_write_atomic(path, b, bn);
    free(b);
    return rc;
}

/* The inputs table and the confusion matrices of the primary model (HTML; confusion.csv). */
static int write_confusions(const h19_job *job, const cv_run *run, FILE *html)
{
    int m = primary_model(run);
    char *b = NULL;
    size_t bn = 0;
    FILE *f = open_memstream(&b, &bn);
    if (!f) return h19_fail(H19_ENOMEM, "open_memstream failed");
    fprintf(f, "split,outcome,model,true,predicted,count\n");
    fputs("<h3>Inputs</h3>\n<p>Patients by the inputs they have: the hybrid scores a patient without CT with its "
          "CF-only PLR and one without clinical features with its CT-only PLR; ct-cnn scores only patients with CT, the "
          "CF models only patients with clinical features.</p>\n<table><tr><th>split</th><th>outcome</th><th>CT and CF</th>"
          "<th>CF only</th><th>CT only</th><th>neither (not scored)</th></tr>\n",
          html);
    for (int pass = 0; pass < 2; pass++) {
        int nsets = pass ? run->nval : run->nsets;
        for (int s = 0; s < nsets; s++) {
            const cv_set *S = pass ? &run->vtest[s] : &run->sets[s];
            int c[4];
            input_counts(run, S, c);
            fprintf(html, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td></tr>\n",
                    pass ? "validation" : "cv", job->outcomes[S->outcome].name, c[0], c[1], c[2], c[3]);
        }
    }
    fprintf(html, "</table>\n<h3>Confusion matrices (Fig. 3e&ndash;h)</h3>\n<p>Model <b>%s</b>, %s threshold "
                  "(sensitivity &ge; %.2f on each fold's training scores), repeat 1 of the CV and the validation cohort; "
                  "rows are the true class.</p>\n<div class=\"figs\">\n",
            job_model_names[run->model[m]], "sensitive", job->sensitive_target);
    int rc = H19_OK;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        int nsets = pass ? run->nval : run->nsets;
        for (int s = 0; s < nsets && !rc; s++) {
            const cv_set *S = pass ? &run->vtest[s] : &run->sets[s];
            const cf_outcome *o = &job->outcomes[S->outcome];
            long cm[256];
            rc = confusion_of(run, pass, s, m, cm);
            if (rc) break;
            for (int t = 0; t < S->K; t++)
                for (int p = 0; p < S->K; p++)
                    fprintf(f, "%s,%s,%s,%s,%s,%ld\n", pass ? "validation" : "cv", o->name, job_model_names[run->model[m]],
                            o->class_name[t], o->class_name[p], cm[(size_t)t * (size_t)S->K + (size_t)p]);
            char title[256];
            snprintf(title, sizeof title, "%s%s, %s", o->name, pass ? " (validation cohort)" : " (CV)",
                     job_model_names[run->model[m]]);
            rc = ev_svg_confusion_fp(html, cm, S->K, (const char *const *)o->class_name, title);
        }
    }
    fputs("</div>\n", html);
    fclose(f);
    char path[1200];
    snprintf(path, sizeof path, "%s/confusion.csv", job->outdir);
    if (!rc) rc = h19_write_atomic(path, b, bn);
    free(b);
    return rc;
}

/* The paper's Tables 2 and 3: mean ± SD over repeats of every metric at the Youden threshold (and
 * n, the patients the model scored). */
static int table_mean_sd(FILE *f, const h19_job *job, const cv_run *run, int is_val)
{
    fputs("<table><tr><th>outcome</th><th>model</th><th>class</th><th>n</th>", f);
    for (int q = 0; q < NMET; q++)
        if (q != MET_LO && q != MET_HI) fprintf(f, "<th>%s</th>", q == MET_AUC ? "AUC (95% CI)" : met_names[q]);
    fputs("</tr>\n", f);
    int nsets = is_val ? run->nval : run->nsets, rc = H19_OK;
    for (int s = 0; s < nsets && !rc; s++) {
        const cv_set *S = is_val ? &run->vtest[s] : &run->sets[s];
        const cf_outcome *o = &job->outcomes[S->outcome];
        int R = is_val ? run->VR : run->R;
        for (int m = 0; m < run->M && !rc; m++) {
            const double *sc = (is_val ? run->vscore[s] : run->score[s]) + (size_t)m * (size_t)R * (size_t)S->n * (size_t)S->K;
            int scored = 0;
            for (int i = 0; i < S->n; i++) scored += !isnan(sc[(size_t)i * (size_t)S->K]);
            for (int k = S->K == 2 ? 1 : 0; k < S->K && !rc; k++) {
                summary sm;
                rc = summarise(run, is_val, s, m, k, &sm);
                if (rc) break;
                fprintf(f, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%d</td>", o->name, job_model_names[run->model[m]],
                        o->class_name[k], scored);
                for (int q = 0; q < NMET; q++) {
                    if (q == MET_LO || q == MET_HI) continue;
                    double v = sm.mean[0][q], sd = sm.sd[0][q];
                    if (isnan(v)) fputs("<td></td>", f);
                    else if (q == MET_AUC)
                        fprintf(f, "<td>%.3f (%.3f&ndash;%.3f)</td>", v, sm.mean[0][MET_LO], sm.mean[0][MET_HI]);
                    else if (isnan(sd)) fprintf(f, "<td>%.3f</td>", v);
                    else fprintf(f, "<td>%.3f &plusmn; %.3f</td>", v, sd);
                }
                fputs("</tr>\n", f);
            }
        }
    }
    fputs("</table>\n", f);
    return rc;
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
        fputs("<p>Table 2: mean &plusmn; SD over repeats at the Youden threshold (<code>metrics.csv</code>, "
              "<code>metrics-detail.csv</code>).</p>\n", f);
        rc = table_mean_sd(f, job, run, 0);
        for (int s = 0; s < run->nsets && !rc; s++) {
            fputs("<div class=\"figs\">\n", f);
            for (int k = run->sets[s].K == 2 ? 1 : 0; k < run->sets[s].K && !rc; k++) rc = svg_for(job, run, 0, s, k, f);
            fputs("</div>\n", f);
        }
    }
    if (run->nval && !rc) {
        fputs("<h2>Validation on the held-out cohort</h2>\n", f);
        fputs("<p>Table 3: the validation cohort (<code>validate.csv</code>).</p>\n", f);
        rc = table_mean_sd(f, job, run, 1);
        for (int s = 0; s < run->nval && !rc; s++) {
            fputs("<div class=\"figs\">\n", f);
            for (int k = run->vtest[s].K == 2 ? 1 : 0; k < run->vtest[s].K && !rc; k++) rc = svg_for(job, run, 1, s, k, f);
            fputs("</div>\n", f);
        }
    }
    if (!rc) rc = write_confusions(job, run, f);
    if (!rc) rc = write_compare(job, run, f);
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
