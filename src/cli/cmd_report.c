/* cmd_report.c — `hust19 report JOB.yaml`: one self-contained results/<job>/report.html (opens
 * offline: every figure is inline SVG) from what the stages wrote: the cohort summary (the paper's
 * Table 1 / Fig. 1 counts) from the archive, the CV and validation tables and ROC curves (cv.html),
 * the confusion matrices and the CT / CF / fused comparison (cv.html), the suspected cases and the
 * t-SNE map (predict.html), the CF statistics with box plots (stats.html), and the slice CNN's page. */
#include "commands.h"
#include "hust19/archive.h"
#include "hust19/cli.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/job.h"
#include "hust19/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: hust19 report JOB.yaml [--set key=value]\n\n"
    "Writes results/<job>/report.html (self-contained: inline SVG) from the archive and the outputs\n"
    "of the stages that have run (cv, validate, stats). Run 'hust19 cv' first.\n";

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

/* The part of an HTML file between <body> and </body> (or all of a fragment), with
 * <img src="X.svg" ...> replaced by the SVG file's content (so the report is self-contained). */
static int include_html(FILE *out, const char *dir, const char *name, int skip_h1)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!h19_file_exists(path)) return 0;
    char *text = NULL;
    size_t n;
    if (h19_read_file(path, &text, &n)) return -1;
    char *p = strstr(text, "<body>");
    p = p ? p + 6 : text;
    char *end = strstr(p, "</body>");
    if (end) *end = 0;
    if (skip_h1) {
        char *h = strstr(p, "<h1>"), *he = h ? strstr(h, "</h1>") : NULL;
        if (h && he) {
            fwrite(p, 1, (size_t)(h - p), out);
            p = he + 5;
        }
    }
    for (;;) {
        char *img = strstr(p, "<img src=\"");
        if (!img) break;
        char *q = img + 10, *qe = strchr(q, '"'), *tag_end = qe ? strchr(qe, '>') : NULL;
        if (!qe || !tag_end || qe - q < 5 || strncmp(qe - 4, ".svg", 4)) {
            fwrite(p, 1, (size_t)(img + 1 - p), out);
            p = img + 1;
            continue;
        }
        fwrite(p, 1, (size_t)(img - p), out);
        char svg[1300];
        snprintf(svg, sizeof svg, "%s/%.*s", dir, (int)(qe - q), q);
        char *s = NULL;
        size_t sn;
        if (!h19_read_file(svg, &s, &sn)) {
            char *start = strstr(s, "<svg");
            fputs(start ? start : s, out);
            free(s);
        }
        p = tag_end + 1;
    }
    fputs(p, out);
    free(text);
    return 1;
}

static int cohort_summary(FILE *f, const h19_job *job, const cf_archive *a)
{
    fputs("<h2>Cohorts</h2>\n<table><tr><th>outcome</th><th>class</th>", f);
    int coh[8], nc = 0;
    for (int i = 0; i < a->d.n; i++) {
        int c = a->cohort[i], seen = 0;
        for (int k = 0; k < nc; k++) seen |= coh[k] == c;
        if (!seen && nc < 8) coh[nc++] = c;
    }
    for (int i = 0; i < nc; i++)
        for (int j = i + 1; j < nc; j++)
            if (coh[j] < coh[i]) { int t = coh[i]; coh[i] = coh[j]; coh[j] = t; }
    for (int k = 0; k < nc; k++) fprintf(f, "<th>cohort %d</th>", coh[k]);
    fputs("<th>all</th></tr>\n", f);
    int *y = h19_malloc(sizeof(int) * (size_t)a->d.n);
    if (!y) return H19_ENOMEM;
    for (int o = 0; o < job->noutcomes; o++) {
        const cf_outcome *oc = &job->outcomes[o];
        int rc = cf_archive_labels(a, oc, job->file, y);
        if (rc) { free(y); return rc; }
        for (int cls = -1; cls < oc->nclass; cls++) {
            fprintf(f, "<tr><td>%s</td><td>", oc->name);
            esc(f, cls < 0 ? "excluded" : oc->class_name[cls]);
            fputs("</td>", f);
            int all = 0;
            for (int k = 0; k < nc; k++) {
                int cnt = 0;
                for (int i = 0; i < a->d.n; i++) cnt += a->cohort[i] == coh[k] && y[i] == cls;
                all += cnt;
                fprintf(f, "<td>%d</td>", cnt);
            }
            fprintf(f, "<td>%d</td></tr>\n", all);
        }
    }
    free(y);
    fprintf(f, "<tr><td>patients</td><td>all</td>");
    for (int k = 0; k < nc; k++) {
        int cnt = 0;
        for (int i = 0; i < a->d.n; i++) cnt += a->cohort[i] == coh[k];
        fprintf(f, "<td>%d</td>", cnt);
    }
    fprintf(f, "<td>%d</td></tr>\n</table>\n<p>%d clinical features per patient (catalog <code>", a->d.n, a->d.p);
    esc(f, job->catalog);
    long measured = 0;
    for (size_t i = 0; i < (size_t)a->d.n * (size_t)a->d.p; i++) measured += a->d.state[i] != CF_MISSING;
    fprintf(f, "</code>); %.1f%% of the values are measured.</p>\n",
            100.0 * (double)measured / ((double)a->d.n * (double)a->d.p));
    return H19_OK;
}

int report_stage(h19_job *job)
{
    h5_file hf;
    int rc = h5_open(&hf, job->archive, MPI_COMM_SELF, H19_ARCHIVE_KIND, H19_ARCHIVE_VERSION);
    if (rc == H19_EIO) return h19_fail(H19_ESTATE, "%s: no archive: run 'hust19 ingest %s' first", job->archive, job->file);
    if (rc) return rc;
    cf_archive a;
    rc = cf_archive_read(&hf, &a);
    h5_close(&hf);
    if (rc) return rc;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) { cf_archive_free(&a); return h19_fail(H19_ENOMEM, "open_memstream failed"); }
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>hust19 report: ", f);
    esc(f, job->name);
    fputs("</title>\n<style>body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}"
          "table{border-collapse:collapse;font-size:13px;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;"
          "text-align:right}th{background:#f0f0f0}.figs{display:flex;flex-wrap:wrap;gap:12px}"
          ".figs svg{width:360px;height:auto}svg{max-width:100%;height:auto}</style></head><body>\n", f);
    fputs("<h1>hust19 report — ", f);
    esc(f, job->name);
    fputs("</h1>\n<p>HUST-19 / iCTCF (Ning et al. 2020, <i>Nat. Biomed. Eng.</i>) re-run by hust19 " HUST19_VERSION
          ". Job file <code>", f);
    esc(f, job->file);
    fprintf(f, "</code>, seed %llu.</p>\n", (unsigned long long)job->seed);
    rc = cohort_summary(f, job, &a);
    int got = 0;
    if (!rc) {
        int r1 = include_html(f, job->outdir, "slice_cnn.html", 1);
        int r2 = include_html(f, job->outdir, "cv.html", 1);
        int r4 = include_html(f, job->outdir, "predict.html", 1);
        int r3 = include_html(f, job->outdir, "stats.html", 0);
        if (r1 < 0 || r2 < 0 || r3 < 0 || r4 < 0) rc = H19_EIO;
        got = r2 > 0;
    }
    fputs("</body></html>\n", f);
    fclose(f);
    if (!rc && !got)
        rc = h19_fail(H19_ESTATE, "%s/cv.html is missing: run 'hust19 cv %s' first", job->outdir, job->file);
    char path[1200];
    snprintf(path, sizeof path, "%s/report.html", job->outdir);
    if (!rc) rc = h19_write_atomic(path, buf, n);
    if (!rc) LOG_INFO("report: %s", path);
    free(buf);
    cf_archive_free(&a);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(argc, argv, NULL, NULL, &a);
    if (rc) return cli_report("report", rc);
    if (a.help) {
        fputs(HELP, stdout);
        return H19_EXIT_OK;
    }
    if (a.npos != 1) return cli_report("report", h19_fail(H19_EARG, "expected one job file (see --help)"));
    h19_job job;
    rc = job_load(&job, &a, a.pos[0]);
    if (rc) return cli_report("report", rc);
    rc = cfg_check_unused(&job.doc);
    if (!rc) rc = dist_rank() == 0 ? report_stage(&job) : H19_OK;
    rc = dist_agree(rc);
    job_free(&job);
    return cli_report("report", rc);
}
