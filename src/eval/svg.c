/* svg.c — self-contained SVG figures: ROC curves with DeLong CIs in the legend, and a
 * confusion-matrix heatmap (see include/hust19/ev.h). Plain SVG 1.1, no scripts, no external
 * fonts or styles, so the files open in any browser and embed in the HTML report. Files are
 * written atomically (X.tmp.<pid>, fsync, rename), as docs/developing.md requires.
 */
#include "hust19/ev.h"
#include "hust19/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Colour-blind-safe palette (Okabe & Ito 2008). */
static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                      "#E69F00", "#56B4E9", "#F0E442", "#000000"};

/* Write s with the five XML special characters escaped. */
static void put_esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            /* Control characters are not allowed in XML 1.0 text: drop them. */
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n') fputc(*s, f);
        }
    }
}

/* Plot geometry: a square plot area, 400 px, with margins for ticks and labels. */
enum { ROC_W = 540, ROC_H = 540, PX0 = 80, PY0 = 50, PSIDE = 420 };

static double sx(double v) { return PX0 + v * PSIDE; }
static double sy(double v) { return PY0 + (1.0 - v) * PSIDE; }

int ev_svg_roc_fp(FILE *f, const ev_roc_curve *curves, int ncurves, const char *title)
{
    if (!f || ncurves < 0 || (ncurves > 0 && !curves))
        return h19_fail(H19_EARG, "svg.c:ev_svg_roc: need a stream and ncurves >= 0 curves");
    for (int c = 0; c < ncurves; c++) {
        if (curves[c].n < 1 || !curves[c].fpr || !curves[c].tpr)
            return h19_fail(H19_EARG, "svg.c:ev_svg_roc: curve %d has no points", c);
        for (int i = 0; i < curves[c].n; i++)
            if (!isfinite(curves[c].fpr[i]) || !isfinite(curves[c].tpr[i]))
                return h19_fail(H19_EARG, "svg.c:ev_svg_roc: curve %d point %d is not finite", c, i);
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n",
            ROC_W, ROC_H, ROC_W, ROC_H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", ROC_W, ROC_H);
    fputs("<text x=\"290\" y=\"30\" font-size=\"16\" text-anchor=\"middle\">", f);
    put_esc(f, title ? title : "ROC");
    fputs("</text>\n", f);
    /* Grid, ticks and tick labels every 0.2. */
    fputs("<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n", f);
    for (int t = 1; t < 5; t++) {
        double v = t * 0.2;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", sx(v), sy(0), sx(v), sy(1));
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", sx(0), sy(v), sx(1), sy(v));
    }
    fputs("</g>\n<g stroke=\"#000000\" stroke-width=\"1\">\n", f);
    for (int t = 0; t <= 5; t++) {
        double v = t * 0.2;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", sx(v), sy(0), sx(v), sy(0) + 5);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", sx(0) - 5, sy(v), sx(0), sy(v));
    }
    fputs("</g>\n<g font-size=\"12\" fill=\"#000000\">\n", f);
    for (int t = 0; t <= 5; t++) {
        double v = t * 0.2;
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%.1f</text>\n", sx(v), sy(0) + 19, v);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%.1f</text>\n", sx(0) - 8, sy(v) + 4, v);
    }
    fputs("</g>\n", f);
    fprintf(f, "<text x=\"%.2f\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">1 \xe2\x88\x92 "
               "specificity (false positive rate)</text>\n", sx(0.5), ROC_H - 20);
    fprintf(f, "<text x=\"20\" y=\"%.2f\" font-size=\"13\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 20 %.2f)\">Sensitivity (true positive rate)</text>\n",
            sy(0.5), sy(0.5));
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#000000\"/>\n",
            PX0, PY0, PSIDE, PSIDE);
    fprintf(f, "<line class=\"chance\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#888888\" "
               "stroke-dasharray=\"5,4\"/>\n", sx(0), sy(0), sx(1), sy(1));
    /* Curves: a step-free polyline through the ROC points (as sklearn/pROC draw them). */
    for (int c = 0; c < ncurves; c++) {
        const ev_roc_curve *cv = &curves[c];
        fprintf(f, "<path class=\"roc\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"",
                palette[c % (int)(sizeof palette / sizeof *palette)]);
        for (int i = 0; i < cv->n; i++)
            fprintf(f, "%s%.2f %.2f", i ? " L" : "M", sx(cv->fpr[i]), sy(cv->tpr[i]));
        fputs("\"/>\n", f);
    }
    /* Legend, bottom right inside the plot; its left edge moves left for long labels (text
     * width estimated at 6.6 px per character of 12 px Helvetica; the CI part is ~22 chars). */
    size_t maxlen = 0;
    for (int c = 0; c < ncurves; c++) {
        size_t l = (curves[c].label ? strlen(curves[c].label) : 0) + 10 +
                   (isfinite(curves[c].lo) && isfinite(curves[c].hi) ? 16 : 0);
        maxlen = l > maxlen ? l : maxlen;
    }
    double tx = sx(1.0) - 10.0 - 6.6 * (double)maxlen;
    if (tx < sx(0.0) + 40.0) tx = sx(0.0) + 40.0;
    double ly = sy(0) - 14.0 - 18.0 * (ncurves - 1);
    for (int c = 0; c < ncurves; c++, ly += 18.0) {
        const ev_roc_curve *cv = &curves[c];
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"3\"/>\n",
                tx - 30, ly - 4, tx - 8, ly - 4, palette[c % (int)(sizeof palette / sizeof *palette)]);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"12\">", tx, ly);
        put_esc(f, cv->label ? cv->label : "");
        if (isfinite(cv->auc)) fprintf(f, " AUC %.3f", cv->auc);
        if (isfinite(cv->lo) && isfinite(cv->hi)) fprintf(f, " (%.3f\xe2\x80\x93%.3f)", cv->lo, cv->hi);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    if (ferror(f)) return h19_fail(H19_EIO, "svg.c:ev_svg_roc: write error");
    return H19_OK;
}

/* Blend white -> #2166AC by t in [0,1]. */
static void shade(double t, int *r, int *g, int *b)
{
    t = t < 0 ? 0 : (t > 1 ? 1 : t);
    *r = (int)lround(255 + t * (0x21 - 255));
    *g = (int)lround(255 + t * (0x66 - 255));
    *b = (int)lround(255 + t * (0xAC - 255));
}

int ev_svg_confusion_fp(FILE *f, const long *cm, int K, const char *const *labels, const char *title)
{
    if (!f || !cm || K < 1 || K > 64)
        return h19_fail(H19_EARG, "svg.c:ev_svg_confusion: need a stream, cm and 1 <= K <= 64");
    for (int i = 0; i < K * K; i++)
        if (cm[i] < 0) return h19_fail(H19_EARG, "svg.c:ev_svg_confusion: cm[%d] = %ld < 0", i, cm[i]);
    const int cell = 90, x0 = 130, y0 = 70;
    int W = x0 + K * cell + 30, H = y0 + K * cell + 24;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n", W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"16\" text-anchor=\"middle\">", W / 2);
    put_esc(f, title ? title : "Confusion matrix");
    fputs("</text>\n", f);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">Predicted</text>\n",
            x0 + K * cell / 2, y0 - 22);
    fprintf(f, "<text x=\"24\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 24 %d)\">"
               "True</text>\n", y0 + K * cell / 2, y0 + K * cell / 2);
    for (int t = 0; t < K; t++) {
        long rs = 0;
        for (int p = 0; p < K; p++) rs += cm[t * K + p];
        for (int p = 0; p < K; p++) {
            long v = cm[t * K + p];
            double fr = rs > 0 ? (double)v / (double)rs : 0.0;
            int r, g, b;
            shade(fr, &r, &g, &b);
            int cx = x0 + p * cell, cy = y0 + t * cell;
            fprintf(f, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                       "fill=\"#%02X%02X%02X\" stroke=\"#ffffff\"/>\n", cx, cy, cell, cell, r, g, b);
            const char *tc = fr > 0.5 ? "#ffffff" : "#000000";
            fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"16\" text-anchor=\"middle\" fill=\"%s\">%ld</text>\n",
                    cx + cell / 2, cy + cell / 2, tc, v);
            fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\" fill=\"%s\">%.1f%%</text>\n",
                    cx + cell / 2, cy + cell / 2 + 18, tc, 100.0 * fr);
        }
    }
    for (int k = 0; k < K; k++) {
        char fallback[16];
        snprintf(fallback, sizeof fallback, "%d", k);
        const char *lab = labels && labels[k] ? labels[k] : fallback;
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">", x0 + k * cell + cell / 2, y0 - 6);
        put_esc(f, lab);
        fprintf(f, "</text>\n<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\">", x0 - 8,
                y0 + k * cell + cell / 2 + 4);
        put_esc(f, lab);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    if (ferror(f)) return h19_fail(H19_EIO, "svg.c:ev_svg_confusion: write error");
    return H19_OK;
}

/* Open path.tmp.<pid>, let emit() fill it, fsync, rename over path. */
static int write_atomic(const char *path, int (*emit)(FILE *, const void *), const void *ctx)
{
    if (!path) return h19_fail(H19_EARG, "svg.c: output path is NULL");
    size_t len = strlen(path) + 32;
    char *tmp = h19_malloc(len);
    if (!tmp) return H19_ENOMEM;
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int rc = h19_fail(H19_EIO, "svg.c: cannot create %s", tmp);
        free(tmp);
        return rc;
    }
    int rc = emit(f, ctx);
    if (rc == H19_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        rc = h19_fail(H19_EIO, "svg.c: cannot flush %s", tmp);
    if (fclose(f) != 0 && rc == H19_OK) rc = h19_fail(H19_EIO, "svg.c: cannot close %s", tmp);
    if (rc == H19_OK && rename(tmp, path) != 0)
        rc = h19_fail(H19_EIO, "svg.c: cannot rename %s to %s", tmp, path);
    if (rc != H19_OK) remove(tmp);
    free(tmp);
    return rc;
}

typedef struct {
    const ev_roc_curve *curves;
    int ncurves;
    const char *title;
} roc_ctx;
static int roc_writer(FILE *f, const void *p)
{
    const roc_ctx *c = p;
    return ev_svg_roc_fp(f, c->curves, c->ncurves, c->title);
}
int ev_svg_roc(const char *path, const ev_roc_curve *curves, int ncurves, const char *title)
{
    roc_ctx c = {curves, ncurves, title};
    return write_atomic(path, roc_writer, &c);
}

typedef struct {
    const long *cm;
    int K;
    const char *const *labels;
    const char *title;
} cm_ctx;
static int cm_writer(FILE *f, const void *p)
{
    const cm_ctx *c = p;
    return ev_svg_confusion_fp(f, c->cm, c->K, c->labels, c->title);
}
int ev_svg_confusion(const char *path, const long *cm, int K, const char *const *labels,
                     const char *title)
{
    cm_ctx c = {cm, K, labels, title};
    return write_atomic(path, cm_writer, &c);
}
