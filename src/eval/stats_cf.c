/* stats_cf.c — `hust19 stats`: the paper's clinical-feature comparisons (Ning et al. 2020,
 * Methods "Statistical analysis", Fig. 1d, Supplementary Fig. 1 and Data 3).
 *
 * For each comparison (group 1 vs group 2: COVID-19 = type I + II vs control; type II vs type I;
 * deceased vs cured) and each numeric CF: n, mean and SD per group; Shapiro–Wilk per group
 * (p < alpha_normal ⇒ not normal); the two-sided unpaired t-test when both groups are normal,
 * otherwise the two-sided Mann–Whitney U test; Benjamini–Hochberg over the CFs tested in that
 * comparison; direction from the test's own statistic (t > 0, or U1 > n1 n2 / 2 ⇒ higher in
 * group 1). A CF is significant when p < p_raw (paper 1e-4) and the adjusted p < p_adj (1e-3).
 * Underlying diseases: the 2×2 χ² test (with / without × group 1 / group 2), no correction.
 */
#include "hust19/cf.h"
#include "hust19/csv.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/log.h"
#include "hust19/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NCMP = 3 };
static const char *const k_cmp_name[NCMP] = {"covid_vs_control", "typeII_vs_typeI", "deceased_vs_cured"};
static const char *const k_cmp_g1[NCMP] = {"COVID-19 (type I + II)", "type II", "deceased"};
static const char *const k_cmp_g2[NCMP] = {"control", "type I", "cured"};
/* The paper's counts of CFs significantly higher / lower in group 1 (Results, Fig. 1d). */
static const int k_paper_higher[NCMP] = {4, 24, 16}, k_paper_lower[NCMP] = {14, 14, 8};

typedef struct {
    int ncohorts, cohorts[8];
    st_sw_mode sw_mode;
    int pooled_normality; /* 0: SW on each group (default); 1: SW on both groups pooled */
    int censored_exclude; /* 0: "<x" / ">x" count as x; 1: left out */
    double alpha_normal, p_raw, p_adj;
    long boxplots;
} st_opts;

typedef struct {
    int feature;                 /* catalog index */
    int n[2];
    double mean[2], sd[2];
    st_result sw[2];             /* per group, or sw[0] pooled */
    int normal[2];
    int use_t;                   /* 1 t-test, 0 Mann–Whitney */
    st_result test;
    double q;                    /* BH-adjusted p (tested rows only) */
    int direction;               /* +1 higher in group 1, −1 lower, 0 none */
    int significant;
} st_row;

static int parse_opts(h19_job *job, st_opts *o)
{
    cfg_doc *d = &job->doc;
    cfg_node *s = cfg_peek(d->root, "stats");
    static const char *const known[] = {"cohorts", "sw_mode", "normality", "censored", "alpha_normal",
                                        "p_raw", "p_adj", "boxplots", NULL};
    if (s && s->kind != CFG_MAP) return cfg_error(d, s, "'stats' must be a map");
    for (int i = 0; s && i < s->n; i++) {
        int ok = 0;
        for (int k = 0; known[k]; k++) ok |= !strcmp(s->keys[i], known[k]);
        if (!ok)
            return h19_fail(H19_ECONFIG, "%s:%d:%d: unknown key '%s' in 'stats' (known: cohorts, sw_mode, normality, "
                            "censored, alpha_normal, p_raw, p_adj, boxplots)", d->file, s->key_line[i], s->key_col[i],
                            s->keys[i]);
    }
    o->ncohorts = 2;
    o->cohorts[0] = 1;
    o->cohorts[1] = 2;
    int rc;
    cfg_node *c = cfg_seq(d, s, "cohorts", 0, &rc);
    if (rc) return rc;
    if (c) {
        if (c->n < 1 || c->n > 8) return cfg_error(d, c, "stats.cohorts: 1 to 8 cohort numbers");
        o->ncohorts = c->n;
        for (int i = 0; i < c->n; i++) {
            long v;
            H19_TRY(cfg_node_int(d, c->items[i], &v));
            if (v < 1 || v > 99) return cfg_error(d, c->items[i], "cohort %ld out of range 1..99", v);
            o->cohorts[i] = (int)v;
        }
    }
    static const char *const modes[] = {"scipy", "double", NULL};
    static const char *const norms[] = {"per-group", "pooled", NULL};
    static const char *const cens[] = {"bound", "exclude", NULL};
    int m;
    H19_TRY(cfg_enum(d, s, "sw_mode", modes, 0, &m));
    o->sw_mode = m ? ST_SW_DOUBLE : ST_SW_SCIPY;
    H19_TRY(cfg_enum(d, s, "normality", norms, 0, &o->pooled_normality));
    H19_TRY(cfg_enum(d, s, "censored", cens, 0, &o->censored_exclude));
    H19_TRY(cfg_double(d, s, "alpha_normal", 0.05, 1e-12, 0.5, &o->alpha_normal));
    H19_TRY(cfg_double(d, s, "p_raw", 1e-4, 0, 1, &o->p_raw));
    H19_TRY(cfg_double(d, s, "p_adj", 1e-3, 0, 1, &o->p_adj));
    H19_TRY(cfg_int(d, s, "boxplots", 6, 0, 40, &o->boxplots));
    return H19_OK;
}

static int class_of(const cf_outcome *o, const char *name)
{
    for (int k = 0; k < o->nclass; k++)
        if (!strcmp(o->class_name[k], name)) return k;
    return -1;
}

/* Group membership per comparison: grp[c*n + i] = 1 or 2, 0 when patient i is in neither. */
static int build_groups(h19_job *job, const csv_table *t, const cf_data *d, const int *cohort, const int *cset,
                        int ncset, int *grp)
{
    int om = job_outcome_index(job, "morbidity"), ot = job_outcome_index(job, "mortality");
    if (om < 0 || ot < 0)
        return h19_fail(H19_ECONFIG, "%s: stats needs the outcomes 'morbidity' and 'mortality' (see docs/stats.md)",
                        job->file);
    const cf_outcome *mo = &job->outcomes[om], *mt = &job->outcomes[ot];
    int ctl = class_of(mo, "control"), t1 = class_of(mo, "type_I"), t2 = class_of(mo, "type_II");
    int cur = class_of(mt, "cured"), dec = class_of(mt, "deceased");
    if (ctl < 0 || t1 < 0 || t2 < 0)
        return h19_fail(H19_ECONFIG, "%s: outcome 'morbidity' needs classes control, type_I, type_II", job->file);
    if (cur < 0 || dec < 0)
        return h19_fail(H19_ECONFIG, "%s: outcome 'mortality' needs classes cured, deceased", job->file);
    int *ym = h19_malloc(sizeof(int) * (size_t)(d->n ? d->n : 1)), *yt = h19_malloc(sizeof(int) * (size_t)(d->n ? d->n : 1));
    int rc = (!ym || !yt) ? H19_ENOMEM : H19_OK;
    if (!rc) rc = cf_labels_build(t, mo, job->file, ym);
    if (!rc) rc = cf_labels_build(t, mt, job->file, yt);
    for (int i = 0; !rc && i < d->n; i++) {
        int in = 0;
        for (int k = 0; k < ncset; k++) in |= cohort[i] == cset[k];
        int a = in ? ym[i] : -1, b = in ? yt[i] : -1;
        grp[0 * d->n + i] = a == t1 || a == t2 ? 1 : (a == ctl ? 2 : 0);
        grp[1 * d->n + i] = a == t2 ? 1 : (a == t1 ? 2 : 0);
        grp[2 * d->n + i] = b == dec ? 1 : (b == cur ? 2 : 0);
    }
    free(ym);
    free(yt);
    return rc;
}

/* Values of feature f for the patients of group g (1/2) of one comparison. */
static int collect(const cf_data *d, const int *grp, int g, int f, int cens_exclude, double *buf)
{
    int k = 0;
    for (int i = 0; i < d->n; i++) {
        if (grp[i] != g) continue;
        size_t at = (size_t)i * (size_t)d->p + (size_t)f;
        uint8_t st = d->state[at];
        if (st == CF_MISSING) continue;
        if (cens_exclude && (st == CF_BELOW || st == CF_ABOVE)) continue;
        buf[k++] = d->x[at];
    }
    return k;
}

static int analyse_feature(const cf_data *d, const int *grp, int f, const st_opts *o, double *b1, double *b2,
                           double *pool, st_row *r)
{
    memset(r, 0, sizeof *r);
    r->feature = f;
    int n1 = collect(d, grp, 1, f, o->censored_exclude, b1), n2 = collect(d, grp, 2, f, o->censored_exclude, b2);
    r->n[0] = n1;
    r->n[1] = n2;
    st_mean_sd(b1, (size_t)n1, &r->mean[0], &r->sd[0]);
    st_mean_sd(b2, (size_t)n2, &r->mean[1], &r->sd[1]);
    if (o->pooled_normality) {
        memcpy(pool, b1, sizeof(double) * (size_t)n1);
        memcpy(pool + n1, b2, sizeof(double) * (size_t)n2);
        H19_TRY(st_shapiro(pool, (size_t)(n1 + n2), o->sw_mode, &r->sw[0]));
        r->sw[1] = r->sw[0];
    } else {
        H19_TRY(st_shapiro(b1, (size_t)n1, o->sw_mode, &r->sw[0]));
        H19_TRY(st_shapiro(b2, (size_t)n2, o->sw_mode, &r->sw[1]));
    }
    /* A group that cannot be tested for normality (constant) is not treated as normal. */
    for (int g = 0; g < 2; g++) r->normal[g] = r->sw[g].verdict == ST_TESTED && r->sw[g].p >= o->alpha_normal;
    r->use_t = r->normal[0] && r->normal[1];
    if (r->use_t)
        H19_TRY(st_ttest_ind(b1, (size_t)n1, b2, (size_t)n2, &r->test));
    else
        H19_TRY(st_mannwhitney(b1, (size_t)n1, b2, (size_t)n2, &r->test));
    if (r->test.verdict == ST_TESTED) {
        double centre = r->use_t ? 0.0 : (double)n1 * n2 / 2.0;
        r->direction = r->test.stat > centre ? 1 : (r->test.stat < centre ? -1 : 0);
    }
    return H19_OK;
}

static int run_comparison(const cf_data *d, const cf_catalog *cat, const int *grp, const st_opts *o, st_row *rows,
                          int *nrows)
{
    double *b1 = h19_malloc(sizeof(double) * (size_t)(d->n + 1)), *b2 = h19_malloc(sizeof(double) * (size_t)(d->n + 1));
    double *pool = h19_malloc(sizeof(double) * (size_t)(2 * d->n + 2));
    double *p = h19_malloc(sizeof(double) * (size_t)(cat->n + 1));
    int *idx = h19_malloc(sizeof(int) * (size_t)(cat->n + 1));
    int rc = (!b1 || !b2 || !pool || !p || !idx) ? H19_ENOMEM : H19_OK;
    int nr = 0, nt = 0;
    for (int f = 0; !rc && f < cat->n; f++) {
        if (cat->f[f].kind != CF_NUMERIC) continue;
        rc = analyse_feature(d, grp, f, o, b1, b2, pool, &rows[nr]);
        if (!rc && rows[nr].test.verdict == ST_TESTED) {
            p[nt] = rows[nr].test.p;
            idx[nt++] = nr;
        }
        nr++;
    }
    if (!rc) rc = st_bh(p, (size_t)nt, p);
    for (int k = 0; !rc && k < nt; k++) {
        st_row *r = &rows[idx[k]];
        r->q = p[k];
        r->significant = r->test.p < o->p_raw && r->q < o->p_adj && r->direction != 0;
    }
    *nrows = nr;
    free(b1);
    free(b2);
    free(pool);
    free(p);
    free(idx);
    return rc;
}

static void csv_num(FILE *f, double v) { fprintf(f, ",%.10g", v); }

static const char *verdict_text(const st_row *r, char *buf, size_t n)
{
    if (r->test.verdict == ST_TESTED) return "tested";
    snprintf(buf, n, "not tested: %s", st_verdict_reason(r->test.verdict));
    return buf;
}

static void write_rows(FILE *f, int c, const cf_catalog *cat, st_row *rows, int nr)
{
    for (int k = 0; k < nr; k++) {
        const st_row *r = &rows[k];
        const cf_feature *ft = &cat->f[r->feature];
        char vb[96];
        fprintf(f, "%s,", k_cmp_name[c]);
        csv_write_field(f, k_cmp_g1[c]);
        fputc(',', f);
        csv_write_field(f, k_cmp_g2[c]);
        fputc(',', f);
        csv_write_field(f, ft->column);
        fputc(',', f);
        csv_write_field(f, ft->abbr);
        for (int g = 0; g < 2; g++) {
            fprintf(f, ",%d", r->n[g]);
            csv_num(f, r->mean[g]);
            csv_num(f, r->sd[g]);
        }
        for (int g = 0; g < 2; g++) {
            if (r->sw[g].verdict == ST_TESTED) {
                csv_num(f, r->sw[g].stat);
                csv_num(f, r->sw[g].p);
                fprintf(f, ",%s", r->normal[g] ? "normal" : "not normal");
            } else {
                fprintf(f, ",,,not tested: %s", st_verdict_reason(r->sw[g].verdict));
            }
        }
        if (r->test.verdict == ST_TESTED) {
            fprintf(f, ",%s", r->use_t ? "t-test" : (r->test.method == ST_METHOD_EXACT ? "Mann-Whitney (exact)" : "Mann-Whitney"));
            csv_num(f, r->test.stat);
            csv_num(f, r->test.p);
            csv_num(f, r->q);
            fprintf(f, ",%s,%s", r->direction > 0 ? "higher" : (r->direction < 0 ? "lower" : "equal"),
                    r->significant ? "yes" : "no");
        } else {
            fprintf(f, ",,,,,,");
        }
        fprintf(f, ",%s\n", verdict_text(r, vb, sizeof vb));
    }
}

/* ---- box plots (Supplementary Fig. 1 style) -------------------------------------------------- */

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear-interpolation quantile of sorted v (numpy's default, Hyndman & Fan type 7). */
static double quantile(const double *v, int n, double q)
{
    double h = (n - 1) * q;
    int lo = (int)floor(h);
    if (lo >= n - 1) return v[n - 1];
    return v[lo] + (h - lo) * (v[lo + 1] - v[lo]);
}

static void svg_esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* One SVG with a panel per feature: group 1 and group 2 boxes (median, quartiles, Tukey whiskers at
 * 1.5 IQR, points beyond as outliers), each panel on its own axis as in Supplementary Fig. 1. */
static int write_boxplot(const char *path, int c, int dir, const cf_data *d, const cf_catalog *cat, const int *grp,
                         const st_opts *o, const st_row *rows, const int *pick, int npick)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return h19_fail(H19_ENOMEM, "open_memstream failed");
    double *v[2] = {h19_malloc(sizeof(double) * (size_t)(d->n + 1)), h19_malloc(sizeof(double) * (size_t)(d->n + 1))};
    if (!v[0] || !v[1]) {
        fclose(f);
        free(buf);
        free(v[0]);
        free(v[1]);
        return H19_ENOMEM;
    }
    const int pw = 170, ph = 260, top = 40, cols = npick < 3 ? (npick ? npick : 1) : 3;
    int nrow = (npick + cols - 1) / cols;
    int W = cols * pw + 20, H = top + (nrow ? nrow : 1) * ph + 10;
    static const char *const colour[2] = {"#d62728", "#1f77b4"};
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", W, H);
    fprintf(f, "<text x=\"10\" y=\"18\" font-size=\"14\">CFs %s in %s than %s</text>\n", dir > 0 ? "higher" : "lower",
            k_cmp_g1[c], k_cmp_g2[c]);
    fprintf(f, "<rect x=\"10\" y=\"26\" width=\"10\" height=\"8\" fill=\"%s\"/><text x=\"24\" y=\"34\">%s</text>", colour[0], k_cmp_g1[c]);
    fprintf(f, "<rect x=\"190\" y=\"26\" width=\"10\" height=\"8\" fill=\"%s\"/><text x=\"204\" y=\"34\">%s</text>\n", colour[1], k_cmp_g2[c]);
    if (!npick) fprintf(f, "<text x=\"10\" y=\"70\">no CF with p &lt; %g and adjusted p &lt; %g in this direction</text>\n", o->p_raw, o->p_adj);
    for (int k = 0; k < npick; k++) {
        const st_row *r = &rows[pick[k]];
        int n[2];
        for (int g = 0; g < 2; g++) {
            n[g] = collect(d, grp, g + 1, r->feature, o->censored_exclude, v[g]);
            qsort(v[g], (size_t)n[g], sizeof(double), cmp_dbl);
        }
        double lo = fmin(v[0][0], v[1][0]), hi = fmax(v[0][n[0] - 1], v[1][n[1] - 1]);
        if (!(hi > lo)) hi = lo + 1;
        int x0 = 10 + (k % cols) * pw, y0 = top + (k / cols) * ph;
        int py0 = y0 + 30, py1 = y0 + ph - 30; /* plot area */
#define YPIX(val) (py1 - (double)(py1 - py0) * ((val) - lo) / (hi - lo))
        fprintf(f, "<g>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-weight=\"bold\">", x0 + pw / 2, y0 + 14);
        svg_esc(f, cat->f[r->feature].abbr);
        fprintf(f, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">P = %.2g</text>\n", x0 + pw / 2, y0 + 26, r->test.p);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n", x0 + 45, py0, x0 + 45, py1);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", x0 + 42, (double)py0 + 4, hi);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", x0 + 42, (double)py1 + 4, lo);
        for (int g = 0; g < 2; g++) {
            double q1 = quantile(v[g], n[g], 0.25), q2 = quantile(v[g], n[g], 0.5), q3 = quantile(v[g], n[g], 0.75);
            double iqr = q3 - q1, wl = q1, wh = q3;
            for (int i = 0; i < n[g]; i++)
                if (v[g][i] >= q1 - 1.5 * iqr) {
                    wl = v[g][i];
                    break;
                }
            for (int i = n[g] - 1; i >= 0; i--)
                if (v[g][i] <= q3 + 1.5 * iqr) {
                    wh = v[g][i];
                    break;
                }
            int bx = x0 + 60 + g * 50, bw = 34, cx = bx + bw / 2;
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>\n", cx, YPIX(wl), cx, YPIX(wh), colour[g]);
            fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\" fill-opacity=\"0.35\" stroke=\"%s\"/>\n", bx,
                    YPIX(q3), bw, YPIX(q1) - YPIX(q3), colour[g], colour[g]);
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", bx, YPIX(q2), bx + bw,
                    YPIX(q2), colour[g]);
            for (int i = 0; i < n[g]; i++)
                if (v[g][i] < wl || v[g][i] > wh)
                    fprintf(f, "<circle cx=\"%d\" cy=\"%.1f\" r=\"1.5\" fill=\"none\" stroke=\"%s\"/>\n", cx, YPIX(v[g][i]), colour[g]);
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">n=%d</text>\n", cx, py1 + 16, n[g]);
        }
#undef YPIX
        fprintf(f, "</g>\n");
    }
    fprintf(f, "</svg>\n");
    free(v[0]);
    free(v[1]);
    if (fclose(f)) {
        free(buf);
        return h19_fail(H19_EIO, "%s: cannot format", path);
    }
    int rc = h19_write_atomic(path, buf, len);
    free(buf);
    return rc;
}

/* The top `k` rows of one direction, significant first then by p (ties by catalog order). */
static int pick_top(const st_row *rows, int nr, int dir, long k, int *pick)
{
    int np = 0;
    for (int i = 0; i < nr; i++) {
        if (!rows[i].significant || rows[i].direction != dir) continue;
        int j = np++;
        while (j > 0 && rows[pick[j - 1]].test.p > rows[i].test.p) {
            pick[j] = pick[j - 1];
            j--;
        }
        pick[j] = i;
    }
    return np < k ? np : (int)k;
}

/* ---- the stage ---------------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    char *buf;
    size_t len;
} membuf;

static int mb_open(membuf *m)
{
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    return m->f ? H19_OK : h19_fail(H19_ENOMEM, "open_memstream failed");
}

static int mb_commit(membuf *m, const char *dir, const char *name)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = fclose(m->f) ? h19_fail(H19_EIO, "%s: cannot format", path) : H19_OK;
    if (!rc) rc = h19_write_atomic(path, m->buf, m->len);
    free(m->buf);
    m->f = NULL;
    m->buf = NULL;
    return rc;
}

/* Mean of a feature over group g of comparison c, for the cohorts in cset (stats-vs-paper). */
static double group_mean(const cf_data *d, const int *grp, int g, int f, int cens_exclude, double *buf, int *n)
{
    double m, s;
    *n = collect(d, grp, g, f, cens_exclude, buf);
    st_mean_sd(buf, (size_t)*n, &m, &s);
    return m;
}

static int stage_rank0(h19_job *job, const st_opts *o)
{
    csv_table t;
    cf_catalog cat;
    cf_data d;
    memset(&t, 0, sizeof t);
    memset(&cat, 0, sizeof cat);
    memset(&d, 0, sizeof d);
    int *cohort = NULL, *grp = NULL, *grp1 = NULL, *grp2 = NULL, *pick = NULL;
    st_row *rows[NCMP] = {NULL, NULL, NULL};
    int nrows[NCMP] = {0, 0, 0};
    double *buf = NULL;
    membuf mb = {0};
    int rc = csv_read(job->cf_table, 1, &t);
    if (!rc) rc = cf_catalog_load(job->catalog, &cat);
    if (!rc) rc = cf_data_build(&t, &cat, job->id_column, &d);
    size_t nn = (size_t)(d.n ? d.n : 1);
    if (!rc) {
        cohort = h19_calloc(nn, sizeof(int));
        grp = h19_calloc(NCMP * nn, sizeof(int));
        grp1 = h19_calloc(NCMP * nn, sizeof(int));
        grp2 = h19_calloc(NCMP * nn, sizeof(int));
        pick = h19_calloc((size_t)cat.n + 1, sizeof(int));
        buf = h19_calloc(nn + 1, sizeof(double));
        for (int c = 0; c < NCMP; c++) rows[c] = h19_calloc((size_t)cat.n + 1, sizeof(st_row));
        if (!cohort || !grp || !grp1 || !grp2 || !pick || !buf || !rows[0] || !rows[1] || !rows[2]) rc = H19_ENOMEM;
    }
    if (!rc) rc = cf_cohorts_assign(&t, &d, &job->cohorts, cohort);
    if (!rc) rc = build_groups(job, &t, &d, cohort, o->cohorts, o->ncohorts, grp);
    int one = 1, two = 2;
    if (!rc) rc = build_groups(job, &t, &d, cohort, &one, 1, grp1);
    if (!rc) rc = build_groups(job, &t, &d, cohort, &two, 1, grp2);
    for (int c = 0; !rc && c < NCMP; c++) rc = run_comparison(&d, &cat, grp + (size_t)c * nn, o, rows[c], &nrows[c]);
    if (!rc) rc = job_make_outdir(job);

    /* stats.csv */
    if (!rc && !(rc = mb_open(&mb))) {
        fprintf(mb.f, "comparison,group1,group2,feature,abbr,n1,mean1,sd1,n2,mean2,sd2,sw_w1,sw_p1,normal1,sw_w2,sw_p2,"
                      "normal2,test,statistic,p,p_bh,direction,significant,verdict\n");
        for (int c = 0; c < NCMP; c++) write_rows(mb.f, c, &cat, rows[c], nrows[c]);
        rc = mb_commit(&mb, job->outdir, "stats.csv");
    }
    /* stats-udis.csv: underlying diseases (catalog code 0 = with, 1 = without) */
    int fu = cf_catalog_find(&cat, "Underlying diseases");
    st_result chi[NCMP];
    double cnt[NCMP][4];
    memset(chi, 0, sizeof chi);
    memset(cnt, 0, sizeof cnt);
    if (!rc && fu >= 0) {
        for (int c = 0; c < NCMP; c++) {
            const int *g = grp + (size_t)c * nn;
            for (int i = 0; i < d.n; i++) {
                size_t at = (size_t)i * (size_t)d.p + (size_t)fu;
                if (!g[i] || d.state[at] == CF_MISSING) continue;
                cnt[c][(g[i] - 1) * 2 + (d.x[at] == 0 ? 0 : 1)] += 1;
            }
            if ((rc = st_chi2_2x2(cnt[c][0], cnt[c][1], cnt[c][2], cnt[c][3], &chi[c]))) break;
        }
        if (!rc && !(rc = mb_open(&mb))) {
            fprintf(mb.f, "comparison,group1,group2,with_udis1,without_udis1,with_udis2,without_udis2,prop_udis1,prop_udis2,"
                          "chi2,p,significant_p05,verdict\n");
            for (int c = 0; c < NCMP; c++) {
                fprintf(mb.f, "%s,%s,%s,%.0f,%.0f,%.0f,%.0f", k_cmp_name[c], k_cmp_g1[c], k_cmp_g2[c], cnt[c][0], cnt[c][1],
                        cnt[c][2], cnt[c][3]);
                csv_num(mb.f, cnt[c][0] / fmax(1, cnt[c][0] + cnt[c][1]));
                csv_num(mb.f, cnt[c][2] / fmax(1, cnt[c][2] + cnt[c][3]));
                if (chi[c].verdict == ST_TESTED) {
                    csv_num(mb.f, chi[c].stat);
                    csv_num(mb.f, chi[c].p);
                    fprintf(mb.f, ",%s,tested\n", chi[c].p < 0.05 ? "yes" : "no");
                } else {
                    fprintf(mb.f, ",,,,not tested: %s\n", st_verdict_reason(chi[c].verdict));
                }
            }
            rc = mb_commit(&mb, job->outdir, "stats-udis.csv");
        }
    } else if (!rc) {
        LOG_WARN("stats: the catalog has no 'Underlying diseases' feature: no chi-squared tables");
    }
    /* counts */
    int higher[NCMP] = {0}, lower[NCMP] = {0}, tested[NCMP] = {0}, nt_t[NCMP] = {0};
    for (int c = 0; c < NCMP; c++)
        for (int k = 0; k < nrows[c]; k++) {
            const st_row *r = &rows[c][k];
            tested[c] += r->test.verdict == ST_TESTED;
            nt_t[c] += r->test.verdict == ST_TESTED && r->use_t;
            higher[c] += r->significant && r->direction > 0;
            lower[c] += r->significant && r->direction < 0;
        }
    if (!rc && !(rc = mb_open(&mb))) {
        fprintf(mb.f, "comparison,group1,group2,n_group1,n_group2,cfs_tested,t_tests,higher,lower,paper_higher,paper_lower\n");
        for (int c = 0; c < NCMP; c++) {
            int n1 = 0, n2 = 0;
            for (int i = 0; i < d.n; i++) n1 += grp[(size_t)c * nn + i] == 1, n2 += grp[(size_t)c * nn + i] == 2;
            fprintf(mb.f, "%s,%s,%s,%d,%d,%d,%d,%d,%d,%d,%d\n", k_cmp_name[c], k_cmp_g1[c], k_cmp_g2[c], n1, n2, tested[c],
                    nt_t[c], higher[c], lower[c], k_paper_higher[c], k_paper_lower[c]);
        }
        rc = mb_commit(&mb, job->outdir, "stats-summary.csv");
    }
    /* stats-vs-paper.csv: the paper's quoted means and counts beside ours (all cohorts configured,
     * and cohort 1 and cohort 2 alone, to see which the paper used). */
    int fa = cf_catalog_find(&cat, "Age"), ftmp = cf_catalog_find(&cat, "Body temperature");
    if (!rc && !(rc = mb_open(&mb))) {
        struct {
            const char *what;
            int f, c, g;
            double paper;
        } q[] = {{"mean body temperature (C), COVID-19", ftmp, 0, 1, 37.9}, {"mean body temperature (C), control", ftmp, 0, 2, 37.1},
                 {"mean age (yr), COVID-19", fa, 0, 1, 56.6},             {"mean age (yr), control", fa, 0, 2, 51.1},
                 {"mean age (yr), type II", fa, 1, 1, 63.6},              {"mean age (yr), type I", fa, 1, 2, 53.1}};
        char cs[64] = "";
        for (int k = 0; k < o->ncohorts; k++) snprintf(cs + strlen(cs), sizeof cs - strlen(cs), "%s%d", k ? "+" : "", o->cohorts[k]);
        fprintf(mb.f, "quantity,ours,paper,ours_cohort1,ours_cohort2,n_ours\n");
        printf("stats vs paper (cohorts %s; cohort 1 alone; cohort 2 alone):\n", cs);
        printf("  %-40s %10s %8s %10s %10s\n", "quantity", "ours", "paper", "cohort 1", "cohort 2");
        for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
            if (q[k].f < 0) continue;
            int n, n1, n2;
            double m = group_mean(&d, grp + (size_t)q[k].c * nn, q[k].g, q[k].f, o->censored_exclude, buf, &n);
            double m1 = group_mean(&d, grp1 + (size_t)q[k].c * nn, q[k].g, q[k].f, o->censored_exclude, buf, &n1);
            double m2 = group_mean(&d, grp2 + (size_t)q[k].c * nn, q[k].g, q[k].f, o->censored_exclude, buf, &n2);
            fprintf(mb.f, "\"%s\",%.4g,%.4g,%.4g,%.4g,%d\n", q[k].what, m, q[k].paper, m1, m2, n);
            printf("  %-40s %10.2f %8.1f %10.2f %10.2f\n", q[k].what, m, q[k].paper, m1, m2);
        }
        for (int c = 0; c < NCMP; c++) {
            fprintf(mb.f, "\"CFs higher, %s vs %s\",%d,%d,,,\n", k_cmp_g1[c], k_cmp_g2[c], higher[c], k_paper_higher[c]);
            fprintf(mb.f, "\"CFs lower, %s vs %s\",%d,%d,,,\n", k_cmp_g1[c], k_cmp_g2[c], lower[c], k_paper_lower[c]);
            printf("  %-40s %10d %8d\n", k_cmp_name[c], higher[c], k_paper_higher[c]);
            printf("  %-40s %10d %8d   (higher, then lower; p < %g and BH < %g)\n", "", lower[c], k_paper_lower[c], o->p_raw,
                   o->p_adj);
        }
        for (int c = 0; c < NCMP && fu >= 0; c++)
            if (chi[c].verdict == ST_TESTED)
                fprintf(mb.f, "\"Udis chi2 p, %s vs %s\",%.4g,,,,\n", k_cmp_g1[c], k_cmp_g2[c], chi[c].p);
        fflush(stdout);
        rc = mb_commit(&mb, job->outdir, "stats-vs-paper.csv");
    }
    /* Box plots and the HTML fragment. */
    static const char *const dirname[2] = {"higher", "lower"};
    for (int c = 0; !rc && c < NCMP; c++)
        for (int k = 0; !rc && k < 2; k++) {
            int dir = k ? -1 : 1;
            int np = pick_top(rows[c], nrows[c], dir, o->boxplots, pick);
            char path[1400];
            snprintf(path, sizeof path, "%s/stats-box-%s-%s.svg", job->outdir, k_cmp_name[c], dirname[k]);
            rc = write_boxplot(path, c, dir, &d, &cat, grp + (size_t)c * nn, o, rows[c], pick, np);
        }
    if (!rc && !(rc = mb_open(&mb))) {
        FILE *f = mb.f;
        fprintf(f, "<section id=\"cf-statistics\">\n<h2>Clinical-feature statistics</h2>\n");
        fprintf(f, "<p>Shapiro&ndash;Wilk on each group (P &lt; %g: not normal); two-sided unpaired t-test when both groups are "
                   "normal, else two-sided Mann&ndash;Whitney U; Benjamini&ndash;Hochberg per comparison. Significant: P &lt; %g "
                   "and adjusted P &lt; %g (the paper's thresholds). Full table: <a href=\"stats.csv\">stats.csv</a>.</p>\n",
                o->alpha_normal, o->p_raw, o->p_adj);
        fprintf(f, "<table>\n<tr><th>comparison</th><th>CFs tested</th><th>higher (paper)</th><th>lower (paper)</th>"
                   "<th>Udis &chi;&sup2; P</th></tr>\n");
        for (int c = 0; c < NCMP; c++) {
            fprintf(f, "<tr><td>%s vs %s</td><td>%d</td><td>%d (%d)</td><td>%d (%d)</td><td>", k_cmp_g1[c], k_cmp_g2[c], tested[c],
                    higher[c], k_paper_higher[c], lower[c], k_paper_lower[c]);
            if (fu >= 0 && chi[c].verdict == ST_TESTED) fprintf(f, "%.3g", chi[c].p);
            else fprintf(f, "not tested");
            fprintf(f, "</td></tr>\n");
        }
        fprintf(f, "</table>\n");
        for (int c = 0; c < NCMP; c++)
            for (int k = 0; k < 2; k++)
                fprintf(f, "<figure><img src=\"stats-box-%s-%s.svg\" alt=\"CFs %s in %s\"><figcaption>CFs %s in %s than %s "
                           "(most significant first)</figcaption></figure>\n",
                        k_cmp_name[c], dirname[k], dirname[k], k_cmp_g1[c], dirname[k], k_cmp_g1[c], k_cmp_g2[c]);
        fprintf(f, "</section>\n");
        rc = mb_commit(&mb, job->outdir, "stats.html");
    }
    if (!rc)
        LOG_INFO("stats: %d/%d/%d CFs tested; results in %s/ (stats.csv, stats-udis.csv, stats-vs-paper.csv, stats.html)",
                 tested[0], tested[1], tested[2], job->outdir);
    if (mb.f) {
        fclose(mb.f);
        free(mb.buf);
    }
    for (int c = 0; c < NCMP; c++) free(rows[c]);
    free(cohort);
    free(grp);
    free(grp1);
    free(grp2);
    free(pick);
    free(buf);
    cf_data_free(&d);
    cf_catalog_free(&cat);
    csv_free(&t);
    return rc;
}

int st_stage(h19_job *job)
{
    st_opts o;
    int rc = parse_opts(job, &o);
    rc = dist_agree(rc);
    if (rc) return rc;
    if (dist_rank() == 0) rc = stage_rank0(job, &o);
    return dist_agree(rc);
}
