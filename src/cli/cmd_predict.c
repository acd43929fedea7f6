/* cmd_predict.c — `hust19 predict JOB.yaml`: the paper's Fig. 4. The job's model (predict.model,
 * default the hybrid) is trained on every labelled patient of the training cohorts and scores the
 * suspected cases (predict.suspected: label-column texts); the six intermediate scores (the patient
 * CNN's three and the CF DNN's three; two and two for a binary outcome) of all patients — out of fold
 * for the labelled ones (inner cross-fitting), from the full model for the suspected — are embedded
 * in 2-D by exact t-SNE (perplexity predict.tsne.perplexity, include/hust19/tsne.h).
 *
 * Outputs (results/<job>/, each written atomically): predictions.csv (one row per suspected case),
 * predict-summary.csv (predicted classes per label text), tsne.csv and tsne.svg. */
#include "commands.h"
#include "hust19/archive.h"
#include "hust19/cli.h"
#include "hust19/csv.h"
#include "hust19/cv.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/job.h"
#include "hust19/log.h"
#include "hust19/tsne.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: hust19 predict JOB.yaml [--set key=value]\n"
    "       mpirun -np N hust19 predict JOB.yaml\n\n"
    "Trains the job's predict.model (default: hybrid, HUST-19) on every labelled patient of\n"
    "predict.train_cohorts for predict.outcome, scores the suspected cases (patients whose label text is\n"
    "in predict.suspected) and embeds the intermediate scores of all patients with exact t-SNE\n"
    "(perplexity predict.tsne.perplexity, default 30). Needs the archive (hust19 ingest) and, for the\n"
    "CT models, the slice scores (hust19 train slice-cnn, hust19 infer). Writes results/<job>/\n"
    "predictions.csv, predict-summary.csv, tsne.csv and tsne.svg. The base models are saved in\n"
    "results/<job>/predict-tasks/, so an interrupted run resumes (SIGUSR1/SIGTERM: exit 75).\n";

static int in_list(int v, const int *l, int n)
{
    for (int i = 0; i < n; i++)
        if (l[i] == v) return 1;
    return 0;
}

static int write_mem(const char *dir, const char *name, char *buf, size_t n)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = h19_write_atomic(path, buf, n);
    free(buf);
    return rc;
}

static int predict_stage(h19_job *job)
{
    if (job->pred_outcome < 0) return h19_fail(H19_ECONFIG, "%s: predict needs an outcome under 'outcomes'", job->file);
    nn_hyper h, ph;
    int rc = job_cf_hyper(job, &h);
    if (!rc) rc = job_pcnn_hyper(job, &ph);
    if (!rc) rc = cfg_check_unused(&job->doc);
    if (rc) return rc;
    int model = job->pred_model, with_ct = model == MODEL_CT_CNN || model == MODEL_HYBRID;
    cf_archive a;
    cv_ct ct;
    rc = cv_inputs_load(job, with_ct, &a, &ct);
    if (rc) return rc;
    const cf_outcome *o = &job->outcomes[job->pred_outcome];
    int K = o->nclass, n = a.d.n;
    size_t Ks = (size_t)K;
    int *y = h19_malloc(sizeof(int) * (size_t)(n + 1)), *tr = h19_malloc(sizeof(int) * (size_t)(n + 1));
    int *ytr = h19_malloc(sizeof(int) * (size_t)(n + 1)), *te = h19_malloc(sizeof(int) * (size_t)(n + 1));
    int *tegrp = h19_malloc(sizeof(int) * (size_t)(n + 1));
    if (!y || !tr || !ytr || !te || !tegrp) rc = H19_ENOMEM;
    if (!rc) rc = cf_archive_labels(&a, o, job->file, y);
    char *const *text = rc ? NULL : cf_archive_column(&a, o->label_column);
    if (!rc && !text) rc = h19_fail(H19_EFORMAT, "%s: the archive has no column '%s'", job->archive, o->label_column);
    int ntr = 0, nte = 0;
    for (int i = 0; !rc && i < n; i++) {
        int g = -1;
        for (int q = 0; q < job->pred_nsuspected; q++)
            if (!strcmp(text[i], job->pred_suspected[q])) g = q;
        if (g >= 0) {
            te[nte] = i;
            tegrp[nte++] = g;
        } else if (y[i] >= 0 && (job->pred_ncohorts == 0 || in_list(a.cohort[i], job->pred_cohorts, job->pred_ncohorts))) {
            tr[ntr] = i;
            ytr[ntr++] = y[i];
        }
    }
    if (!rc && nte == 0)
        LOG_WARN("predict: no patient's '%s' is one of predict.suspected; only the t-SNE of the labelled patients is made",
                 o->label_column);
    LOG_INFO("predict: %s trained on %d labelled patients (%s), scoring %d suspected cases", job_model_names[model], ntr,
             o->name, nte);
    double *out = rc ? NULL : h19_malloc(sizeof(double) * ((size_t)nte * Ks + 1));
    double thr[32];
    double *ite = rc ? NULL : h19_malloc(sizeof(double) * ((size_t)nte * 2 * Ks + 1));
    double *ioof = rc ? NULL : h19_malloc(sizeof(double) * ((size_t)ntr * 2 * Ks + 1));
    if (!rc && (!out || !ite || !ioof)) rc = H19_ENOMEM;
    if (!rc && K > 16) rc = h19_fail(H19_EARG, "predict: at most 16 classes");
    if (!rc) rc = cv_predict(job, &a, &h, with_ct ? &ct : NULL, job->pred_outcome, tr, ytr, ntr, te, nte, model, out, thr, ite, ioof);
    rc = dist_agree(rc);
    /* the t-SNE points: every patient whose intermediate scores are all there (the CNN's need CT) */
    int dims = with_ct ? 2 * K : K, off = with_ct ? 0 : K;
    int np = 0;
    double *X = NULL, *Y = NULL;
    int *cls = NULL, *who = NULL;
    if (!rc) {
        X = h19_malloc(sizeof(double) * (size_t)(ntr + nte + 1) * (size_t)dims);
        Y = h19_malloc(sizeof(double) * (size_t)(ntr + nte + 1) * 2);
        cls = h19_malloc(sizeof(int) * (size_t)(ntr + nte + 1));
        who = h19_malloc(sizeof(int) * (size_t)(ntr + nte + 1));
        if (!X || !Y || !cls || !who) rc = H19_ENOMEM;
    }
    for (int pass = 0; !rc && pass < 2; pass++) {
        int m = pass ? nte : ntr;
        const double *src = pass ? ite : ioof;
        for (int i = 0; i < m; i++) {
            const double *v = src + (size_t)i * 2 * Ks + (size_t)off;
            int ok = 1;
            for (int d = 0; d < dims; d++) ok &= !isnan(v[d]);
            if (!ok) continue;
            memcpy(X + (size_t)np * (size_t)dims, v, sizeof(double) * (size_t)dims);
            cls[np] = pass ? K : ytr[i];
            who[np++] = pass ? te[i] : tr[i];
        }
    }
    ev_tsne_info info;
    memset(&info, 0, sizeof info);
    double trust = NAN;
    if (!rc && np >= 4) {
        ev_tsne_opts to;
        ev_tsne_defaults(&to);
        to.perplexity = job->tsne_perplexity;
        if (to.perplexity > (np - 1) / 3.0) {
            to.perplexity = (np - 1) / 3.0 < 1 ? 1 : (np - 1) / 3.0;
            LOG_WARN("predict: %d points: t-SNE perplexity lowered to %.1f", np, to.perplexity);
        }
        /* every rank computes the same embedding (deterministic, serial); rank 0 writes it */
        if (dist_rank() == 0) {
            LOG_INFO("predict: exact t-SNE of %d patients x %d intermediate scores (perplexity %.1f)", np, dims,
                     to.perplexity);
            rc = ev_tsne(X, np, dims, &to, Y, &info);
            if (!rc && np > 10) rc = ev_trustworthiness(X, np, dims, Y, 2, 5, &trust);
        }
    }
    rc = dist_agree(rc);
    if (!rc && dist_rank() == 0) {
        /* predictions.csv */
        char *b = NULL;
        size_t bn = 0;
        FILE *fp = open_memstream(&b, &bn);
        if (!fp) rc = h19_fail(H19_ENOMEM, "open_memstream failed");
        long summary[8][17];
        memset(summary, 0, sizeof summary);
        if (!rc) {
            fprintf(fp, "patient_id,label_text,cohort,has_ct,has_cf");
            for (int k = 0; k < K; k++) fprintf(fp, ",p_%s", o->class_name[k]);
            fprintf(fp, ",predicted");
            for (int k = K == 2 ? 1 : 0; k < K; k++) fprintf(fp, ",%s_at_sensitive", o->class_name[k]);
            fputc('\n', fp);
            for (int i = 0; i < nte; i++) {
                const double *p = out + (size_t)i * Ks;
                int am = -1;
                for (int k = 0; k < K; k++)
                    if (!isnan(p[k]) && (am < 0 || p[k] > p[am])) am = k;
                summary[tegrp[i]][am < 0 ? 16 : am]++;
                csv_write_field(fp, a.d.id[te[i]]);
                fputc(',', fp);
                csv_write_field(fp, text[te[i]]);
                int hc = with_ct && ct.slot[te[i]] >= 0, hf = cv_has_cf(&a, te[i]);
                fprintf(fp, ",%d,%d,%d", a.cohort[te[i]], hc, hf);
                for (int k = 0; k < K; k++) isnan(p[k]) ? fprintf(fp, ",") : fprintf(fp, ",%.6f", p[k]);
                fprintf(fp, ",%s", am < 0 ? "" : o->class_name[am]);
                for (int k = K == 2 ? 1 : 0; k < K; k++)
                    fprintf(fp, ",%s", isnan(p[k]) || isnan(thr[2 * k + 1]) ? "" : p[k] >= thr[2 * k + 1] ? "1" : "0");
                fputc('\n', fp);
            }
            fclose(fp);
            rc = write_mem(job->outdir, "predictions.csv", b, bn);
        }
        /* predict-summary.csv: predicted class counts per label text (the paper's Fig. 4a) */
        if (!rc) {
            b = NULL;
            fp = open_memstream(&b, &bn);
            if (!fp) rc = h19_fail(H19_ENOMEM, "open_memstream failed");
        }
        if (!rc) {
            fprintf(fp, "label_text,n");
            for (int k = 0; k < K; k++) fprintf(fp, ",predicted_%s", o->class_name[k]);
            fprintf(fp, ",not_scored\n");
            for (int g = 0; g < job->pred_nsuspected; g++) {
                long tot = summary[g][16];
                for (int k = 0; k < K; k++) tot += summary[g][k];
                csv_write_field(fp, job->pred_suspected[g]);
                fprintf(fp, ",%ld", tot);
                for (int k = 0; k < K; k++) fprintf(fp, ",%ld", summary[g][k]);
                fprintf(fp, ",%ld\n", summary[g][16]);
            }
            fclose(fp);
            rc = write_mem(job->outdir, "predict-summary.csv", b, bn);
        }
        /* tsne.csv and tsne.svg */
        if (!rc) {
            b = NULL;
            fp = open_memstream(&b, &bn);
            if (!fp) rc = h19_fail(H19_ENOMEM, "open_memstream failed");
        }
        if (!rc) {
            fprintf(fp, "patient_id,group,x,y\n");
            for (int i = 0; i < np && np >= 4; i++) {
                csv_write_field(fp, a.d.id[who[i]]);
                fprintf(fp, ",%s,%.6f,%.6f\n", cls[i] < K ? o->class_name[cls[i]] : "suspected", Y[2 * i], Y[2 * i + 1]);
            }
            fclose(fp);
            rc = write_mem(job->outdir, "tsne.csv", b, bn);
        }
        if (!rc) {
            ev_svg_class classes[17];
            for (int k = 0; k < K; k++) classes[k] = (ev_svg_class){o->class_name[k], k, 0};
            classes[K] = (ev_svg_class){"suspected", K, 1};
            char title[256], path[1200];
            snprintf(title, sizeof title, "t-SNE of the %d intermediate scores (%s, %s), trustworthiness %.3f", dims,
                     job_model_names[model], o->name, trust);
            snprintf(path, sizeof path, "%s/tsne.svg", job->outdir);
            rc = ev_svg_scatter(path, Y, cls, np >= 4 ? np : 0, classes, K + 1, title, "t-SNE 1", "t-SNE 2");
        }
        /* predict.html: the summary and the map (included by hust19 report) */
        if (!rc) {
            b = NULL;
            fp = open_memstream(&b, &bn);
            if (!fp) rc = h19_fail(H19_ENOMEM, "open_memstream failed");
        }
        if (!rc) {
            fprintf(fp, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>hust19 predict</title></head><body>\n"
                        "<h1>Predictions</h1>\n<h2>Suspected cases and the t-SNE map (Fig. 4)</h2>\n<p>Model <b>%s</b> trained "
                        "on %d labelled patients (%s); %d suspected cases scored (<code>predictions.csv</code>). Predicted "
                        "class (the most probable):</p>\n<table><tr><th>label</th><th>n</th>",
                    job_model_names[model], ntr, o->name, nte);
            for (int k = 0; k < K; k++) fprintf(fp, "<th>%s</th>", o->class_name[k]);
            fprintf(fp, "<th>not scored</th></tr>\n");
            for (int g = 0; g < job->pred_nsuspected; g++) {
                long tot = summary[g][16];
                for (int k = 0; k < K; k++) tot += summary[g][k];
                fputs("<tr><td>", fp);
                for (const char *c = job->pred_suspected[g]; *c; c++)
                    *c == '<' ? fputs("&lt;", fp) : *c == '&' ? fputs("&amp;", fp) : fputc(*c, fp);
                fprintf(fp, "</td><td>%ld</td>", tot);
                for (int k = 0; k < K; k++) fprintf(fp, "<td>%ld</td>", summary[g][k]);
                fprintf(fp, "<td>%ld</td></tr>\n", summary[g][16]);
            }
            fprintf(fp, "</table>\n<p>Exact t-SNE (perplexity %.1f) of the %d intermediate scores of the %d patients that "
                        "have all of them: out of fold (inner cross-fitting) for the labelled patients, from the trained "
                        "model for the suspected; KL %.4f, trustworthiness (5 neighbours) %.4f "
                        "(<code>tsne.csv</code>).</p>\n<img src=\"tsne.svg\">\n</body></html>\n",
                    job->tsne_perplexity, dims, np, info.kl, trust);
            fclose(fp);
            rc = write_mem(job->outdir, "predict.html", b, bn);
        }
        if (!rc)
            LOG_INFO("predict: %d suspected cases scored; t-SNE of %d patients (KL %.4f, trustworthiness %.4f) in %s/ "
                     "(predictions.csv, predict-summary.csv, tsne.csv, tsne.svg)",
                     nte, np, info.kl, trust, job->outdir);
    }
    rc = dist_agree(rc);
    free(y);
    free(tr);
    free(ytr);
    free(te);
    free(tegrp);
    free(out);
    free(ite);
    free(ioof);
    free(X);
    free(Y);
    free(cls);
    free(who);
    if (with_ct) cv_ct_free(&ct);
    cf_archive_free(&a);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(argc, argv, NULL, NULL, &a);
    if (rc) return cli_report("predict", rc);
    if (a.help) {
        fputs(HELP, stdout);
        return H19_EXIT_OK;
    }
    if (a.npos != 1) return cli_report("predict", h19_fail(H19_EARG, "expected one job file (see --help)"));
    h19_job job;
    rc = job_load(&job, &a, a.pos[0]);
    if (rc) return cli_report("predict", rc);
    rc = dist_check_slurm();
    if (!rc) rc = job_make_outdir(&job);
    if (!rc) rc = predict_stage(&job);
    job_free(&job);
    return cli_report("predict", rc);
}
