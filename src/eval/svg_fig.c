/* svg_fig.c — an SVG scatter plot of 2-D points coloured by class (the t-SNE map of the six
 * intermediate scores, the paper's Fig. 4b: labelled classes filled, suspected cases hollow).
 * Same conventions as svg.c: plain SVG 1.1, no scripts or external resources, text escaped for
 * XML, files written atomically; the confusion-matrix heatmap of Fig. 3e-h is ev_svg_confusion
 * in svg.c. Declarations in include/hust19/ev.h.
 */
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/job.h" /* h19_write_atomic */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The palette of svg.c (Okabe & Ito 2008, colour-blind safe), so figures match. */
static const char *const fig_palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                          "#E69F00", "#56B4E9", "#F0E442", "#000000"};
enum { FIG_NPAL = (int)(sizeof fig_palette / sizeof *fig_palette) };

/* XML text: the five special characters escaped, control characters (not allowed in XML 1.0)
 * dropped. */
static void fig_esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n') fputc(*s, f);
        }
    }
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about 5 intervals over `range`
 * (Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990). */
static double nice_step(double range)
{
    double raw = range / 5.0;
    double mag = pow(10.0, floor(log10(raw)));
    double r = raw / mag;
    return (r < 1.5 ? 1.0 : r < 3.0 ? 2.0 : r < 7.0 ? 5.0 : 10.0) * mag;
}

/* Data range [lo, hi] of column c padded by 5%; a single value gets +-0.5; no points, [0, 1]. */
static void axis_range(const double *xy, int n, int c, double *lo, double *hi)
{
    if (n == 0) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    double a = xy[c], b = xy[c];
    for (int i = 1; i < n; i++) {
        a = fmin(a, xy[2 * i + c]);
        b = fmax(b, xy[2 * i + c]);
    }
    double pad = b > a ? 0.05 * (b - a) : 0.5;
    *lo = a - pad;
    *hi = b + pad;
}

/* Plot area: a PSIDE square at (FX0, FY0); the legend sits to its right. */
enum { FX0 = 70, FY0 = 50, FSIDE = 420 };

typedef struct {
    double lo, hi;
} span;

static double px(span s, double v) { return FX0 + (v - s.lo) / (s.hi - s.lo) * FSIDE; }
static double py(span s, double v) { return FY0 + (1.0 - (v - s.lo) / (s.hi - s.lo)) * FSIDE; }

/* Ticks and labels of one axis (vertical = 0: x axis along the bottom). */
static void fig_ticks(FILE *f, span s, int vertical)
{
    double step = nice_step(s.hi - s.lo);
    int dec = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    for (double k = ceil(s.lo / step); k * step <= s.hi + 1e-12 * step; k += 1.0) {
        double v = k * step;
        if (fabs(v) < 1e-9 * step) v = 0.0; /* no "-0" */
        if (!vertical) {
            double x = px(s, v);
            fprintf(f, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" stroke=\"#000000\"/>\n", x,
                    FY0 + FSIDE, x, FY0 + FSIDE + 5);
            fprintf(f, "<text x=\"%.2f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%.*f</text>\n",
                    x, FY0 + FSIDE + 18, dec, v);
        } else {
            double y = py(s, v);
            fprintf(f, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#000000\"/>\n", FX0 - 5,
                    y, FX0, y);
            fprintf(f, "<text x=\"%d\" y=\"%.2f\" font-size=\"11\" text-anchor=\"end\">%.*f</text>\n",
                    FX0 - 8, y + 4, dec, v);
        }
    }
}

/* One marker: a filled disc, or a ring for hollow classes. */
static void fig_marker(FILE *f, const char *cls, double x, double y, double r, const char *col,
                       int hollow)
{
    if (hollow)
        fprintf(f, "<circle class=\"%s\" cx=\"%.2f\" cy=\"%.2f\" r=\"%.1f\" fill=\"none\" stroke=\"%s\" "
                   "stroke-width=\"1.3\"/>\n", cls, x, y, r, col);
    else
        fprintf(f, "<circle class=\"%s\" cx=\"%.2f\" cy=\"%.2f\" r=\"%.1f\" fill=\"%s\" "
                   "fill-opacity=\"0.8\"/>\n", cls, x, y, r, col);
}

int ev_svg_scatter_fp(FILE *f, const double *xy, const int *cls, int n,
                      const ev_svg_class *classes, int K, const char *title, const char *xlabel,
                      const char *ylabel)
{
    if (!f || n < 0 || (n > 0 && (!xy || !cls)) || K < 1 || K > 64 || !classes)
        return h19_fail(H19_EARG, "svg_fig.c:ev_svg_scatter: need a stream, n >= 0 points with "
                                  "classes, and 1 <= K <= 64 class descriptions");
    for (int i = 0; i < n; i++) {
        if (cls[i] < 0 || cls[i] >= K)
            return h19_fail(H19_EARG, "svg_fig.c:ev_svg_scatter: point %d has class %d, not in [0, %d)",
                            i, cls[i], K);
        if (!isfinite(xy[2 * i]) || !isfinite(xy[2 * i + 1]))
            return h19_fail(H19_EARG, "svg_fig.c:ev_svg_scatter: point %d is not finite", i);
    }
    long *count = h19_calloc((size_t)K, sizeof *count);
    if (!count) return H19_ENOMEM;
    for (int i = 0; i < n; i++) count[cls[i]]++;
    /* Legend width from the longest "label (count)", at ~6.6 px per character of 12 px text
     * (the count taken as 6 digits; "class NN" for a missing label). */
    size_t maxlen = 0;
    for (int k = 0; k < K; k++) {
        size_t l = (classes[k].label ? strlen(classes[k].label) : 8) + 9;
        maxlen = l > maxlen ? l : maxlen;
    }
    int W = FX0 + FSIDE + 20 + 28 + (int)(6.6 * (double)maxlen) + 10, H = FY0 + FSIDE + 50;
    int legend_h = 18 * K + 10;
    if (FY0 + legend_h + 10 > H) H = FY0 + legend_h + 10;
    span sx, sy;
    axis_range(xy, n, 0, &sx.lo, &sx.hi);
    axis_range(xy, n, 1, &sy.lo, &sy.hi);

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n", W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
    fprintf(f, "<text class=\"title\" x=\"%d\" y=\"30\" font-size=\"16\" text-anchor=\"middle\">",
            FX0 + FSIDE / 2);
    fig_esc(f, title ? title : "");
    fputs("</text>\n", f);
    fprintf(f, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#000000\"/>\n", FX0, FY0, FSIDE, FSIDE);
    fig_ticks(f, sx, 0);
    fig_ticks(f, sy, 1);
    if (xlabel) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">", FX0 + FSIDE / 2,
                FY0 + FSIDE + 38);
        fig_esc(f, xlabel);
        fputs("</text>\n", f);
    }
    if (ylabel) {
        fprintf(f, "<text x=\"18\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\" "
                   "transform=\"rotate(-90 18 %d)\">", FY0 + FSIDE / 2, FY0 + FSIDE / 2);
        fig_esc(f, ylabel);
        fputs("</text>\n", f);
    }
    /* Points, one group per class in class order, so later classes (e.g. suspected) are on top. */
    char cname[32];
    for (int k = 0; k < K; k++) {
        if (!count[k]) continue;
        int ci = classes[k].colour >= 0 ? classes[k].colour : k;
        const char *col = fig_palette[ci % FIG_NPAL];
        fprintf(f, "<g class=\"points\">\n");
        snprintf(cname, sizeof cname, "pt c%d", k);
        for (int i = 0; i < n; i++)
            if (cls[i] == k)
                fig_marker(f, cname, px(sx, xy[2 * i]), py(sy, xy[2 * i + 1]), 3.2, col,
                           classes[k].hollow);
        fputs("</g>\n", f);
    }
    /* Legend: every class, also an empty one (its count says 0). */
    int lx = FX0 + FSIDE + 20;
    fprintf(f, "<g class=\"legend\" font-size=\"12\">\n");
    for (int k = 0; k < K; k++) {
        int ci = classes[k].colour >= 0 ? classes[k].colour : k;
        int ly = FY0 + 14 + 18 * k;
        snprintf(cname, sizeof cname, "key c%d", k);
        fig_marker(f, cname, lx + 8, ly - 4, 4.5, fig_palette[ci % FIG_NPAL], classes[k].hollow);
        fprintf(f, "<text x=\"%d\" y=\"%d\">", lx + 20, ly);
        if (classes[k].label) fig_esc(f, classes[k].label);
        else fprintf(f, "class %d", k);
        fprintf(f, " (%ld)</text>\n", count[k]);
    }
    fputs("</g>\n</svg>\n", f);
    free(count);
    if (ferror(f)) return h19_fail(H19_EIO, "svg_fig.c:ev_svg_scatter: write error");
    return H19_OK;
}

int ev_svg_scatter(const char *path, const double *xy, const int *cls, int n,
                   const ev_svg_class *classes, int K, const char *title, const char *xlabel,
                   const char *ylabel)
{
    if (!path) return h19_fail(H19_EARG, "svg_fig.c:ev_svg_scatter: output path is NULL");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return h19_fail(H19_ENOMEM, "svg_fig.c:ev_svg_scatter: cannot open a memory stream");
    int rc = ev_svg_scatter_fp(f, xy, cls, n, classes, K, title, xlabel, ylabel);
    if (fclose(f) != 0 && rc == H19_OK)
        rc = h19_fail(H19_ENOMEM, "svg_fig.c:ev_svg_scatter: memory stream failed");
    if (rc == H19_OK) rc = h19_write_atomic(path, buf, len);
    free(buf);
    return rc;
}
