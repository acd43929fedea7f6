/* test_svg_fig.c — the scatter-plot writer (src/eval/svg_fig.c) and, for the figures of the
 * report, the confusion heatmap of svg.c with an empty class:
 *  - one <circle class="pt c<k>"> per point, hollow classes as rings (fill="none"), every marker
 *    inside the frame, a legend entry with the count for every class (an empty one shows 0),
 *    escaped title and labels, tick labels, n = 0 allowed;
 *  - bad class index, non-finite points and an unwritable path are errors; no temporary left.
 * With a directory argument it writes example figures for tests/integration/test_svg_fig.sh,
 * which parses them with python's xml.etree. */
#include "check.h"
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/rng.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static int count(const char *s, const char *needle)
{
    int c = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) c++;
    return c;
}

enum { NPT = 90, NCLS = 5 };
static const ev_svg_class classes[NCLS] = {
    {"Control", -1, 0}, {"Type I", -1, 0}, {"Type II", -1, 0}, {"Suspected <unlabelled>", 4, 1},
    {"Empty & unused", -1, 0}};

/* Three blobs of labelled points plus suspected points scattered among them. */
static void make_points(double *xy, int *cls)
{
    h19_rng r;
    h19_rng_init(&r, 4, H19_RNG_STATS, 0, 0, 0, 0);
    for (int i = 0; i < NPT; i++) {
        cls[i] = i < 60 ? i % 3 : 3;
        int blob = i < 60 ? cls[i] : i % 3;
        xy[2 * i] = 10.0 * blob - 12.0 + h19_rng_normal(&r);
        xy[2 * i + 1] = (blob == 1 ? 8.0 : -3.0) + h19_rng_normal(&r);
    }
}

static int write_examples(const char *dir)
{
    double xy[2 * NPT];
    int cls[NPT];
    make_points(xy, cls);
    char path[512];
    snprintf(path, sizeof path, "%s/scatter.svg", dir);
    int rc = ev_svg_scatter(path, xy, cls, NPT, classes, NCLS, "t-SNE of the six scores", "t-SNE 1",
                            "t-SNE 2");
    snprintf(path, sizeof path, "%s/scatter_empty.svg", dir);
    if (!rc) rc = ev_svg_scatter(path, NULL, NULL, 0, classes, NCLS, "no points", NULL, NULL);
    long cm[9] = {20, 3, 1, 0, 0, 0, 2, 5, 30}; /* the middle class has no true cases */
    const char *labels[3] = {"Control", "Type I", "Type II"};
    snprintf(path, sizeof path, "%s/cm.svg", dir);
    if (!rc) rc = ev_svg_confusion(path, cm, 3, labels, "Morbidity, cohort 1");
    if (rc) fprintf(stderr, "test_svg_fig: %s\n", h19_errmsg());
    return rc ? 1 : 0;
}

/* Every "cx=" / "cy=" of a pt circle inside the frame [70, 490] x [50, 470]. */
static int markers_inside(const char *s)
{
    int bad = 0;
    for (const char *p = s; (p = strstr(p, "class=\"pt ")); p++) {
        double cx, cy;
        const char *q = strstr(p, "cx=\"");
        if (!q || sscanf(q, "cx=\"%lf\" cy=\"%lf\"", &cx, &cy) != 2) return 0;
        if (cx < 70 || cx > 490 || cy < 50 || cy > 470) bad++;
    }
    return bad == 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2) return write_examples(argv[1]);
    char dir[] = "/tmp/h19_svgfig_XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("no temporary directory");
    CHECK(write_examples(dir) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/scatter.svg", dir);
    char *s = slurp(path);
    CHECK(s != NULL);
    if (s) {
        CHECK(count(s, "class=\"pt c0\"") == 20);
        CHECK(count(s, "class=\"pt c1\"") == 20);
        CHECK(count(s, "class=\"pt c2\"") == 20);
        CHECK(count(s, "class=\"pt c3\"") == 30);
        CHECK(count(s, "class=\"pt c4\"") == 0);
        CHECK(count(s, "<circle class=\"pt ") == NPT);
        /* suspected: rings in palette colour 4 */
        CHECK(count(s, "fill=\"none\" stroke=\"#E69F00\"") == 30 + 1); /* + its legend key */
        CHECK(strstr(s, ">Suspected &lt;unlabelled&gt; (30)</text>") != NULL);
        CHECK(strstr(s, ">Type I (20)</text>") != NULL);
        CHECK(strstr(s, ">Empty &amp; unused (0)</text>") != NULL);
        CHECK(count(s, "class=\"key c") == NCLS);
        CHECK(strstr(s, ">t-SNE of the six scores</text>") != NULL);
        CHECK(strstr(s, "class=\"frame\"") != NULL);
        CHECK(strstr(s, ">t-SNE 1</text>") != NULL && strstr(s, ">t-SNE 2</text>") != NULL);
        CHECK(strstr(s, ">0</text>") != NULL); /* x runs from about -15 to 20: a tick at 0 */
        CHECK(strstr(s, ">-10</text>") != NULL && strstr(s, ">10</text>") != NULL);
        CHECK(markers_inside(s));
        CHECK(strstr(s, "</svg>\n") != NULL);
        free(s);
    }
    snprintf(path, sizeof path, "%s/scatter_empty.svg", dir);
    s = slurp(path);
    CHECK(s && count(s, "<circle class=\"pt ") == 0 && count(s, "class=\"key c") == NCLS);
    CHECK(s && strstr(s, ">Control (0)</text>") != NULL);
    CHECK(s && strstr(s, ">0.2</text>") != NULL); /* default [0,1] axes, step 0.2 */
    free(s);
    snprintf(path, sizeof path, "%s/cm.svg", dir);
    s = slurp(path);
    CHECK(s != NULL);
    if (s) {
        CHECK(count(s, "class=\"cell\"") == 9);
        CHECK(strstr(s, ">20</text>") && strstr(s, ">83.3%</text>") && strstr(s, ">81.1%</text>"));
        CHECK(count(s, ">0.0%</text>") == 3); /* the empty row: 0%, not NaN */
        CHECK(strstr(s, "nan") == NULL && strstr(s, "NaN") == NULL);
        CHECK(strstr(s, ">Morbidity, cohort 1</text>") != NULL);
        free(s);
    }
    /* Errors. */
    double xy[4] = {0, 0, 1, 1};
    int cls[2] = {0, 5};
    snprintf(path, sizeof path, "%s/bad.svg", dir);
    CHECK(ev_svg_scatter(path, xy, cls, 2, classes, NCLS, "x", NULL, NULL) == H19_EARG);
    cls[1] = -1;
    CHECK(ev_svg_scatter(path, xy, cls, 2, classes, NCLS, "x", NULL, NULL) == H19_EARG);
    cls[1] = 1;
    xy[3] = NAN;
    CHECK(ev_svg_scatter(path, xy, cls, 2, classes, NCLS, "x", NULL, NULL) == H19_EARG);
    xy[3] = 1;
    CHECK(ev_svg_scatter(path, xy, cls, 2, classes, 0, "x", NULL, NULL) == H19_EARG);
    CHECK(ev_svg_scatter("/nonexistent_dir_h19/s.svg", xy, cls, 2, classes, NCLS, "x", NULL, NULL) ==
          H19_EIO);
    /* A single point (zero range) still gets a frame and finite coordinates. */
    CHECK_OK(ev_svg_scatter(path, xy, cls, 1, classes, NCLS, NULL, NULL, NULL));
    s = slurp(path);
    CHECK(s && markers_inside(s) && count(s, "<circle class=\"pt ") == 1 && !strstr(s, "nan"));
    free(s);

    /* Only our outputs remain: no temporaries. */
    DIR *d = opendir(dir);
    struct dirent *e;
    int nfiles = 0;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            nfiles++;
            CHECK_MSG(strstr(e->d_name, ".tmp") == NULL, "left %s", e->d_name);
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d) closedir(d);
    CHECK(nfiles == 4);
    rmdir(dir);
    CHECK_DONE();
}
