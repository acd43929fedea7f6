/* test_ev_svg.c — SVG writers: one <path class="roc"> per curve, the legend text with AUC and CI,
 * XML escaping, atomic write (no temporary left, an unwritable path is an error, not a crash).
 * Well-formedness is checked by a real XML parser in tests/integration/test_ev_svg.sh. */
#include "check.h"
#include "hust19/err.h"
#include "hust19/ev.h"

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

int main(void)
{
    char dir[] = "/tmp/h19_svg_XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("no temporary directory");
    char path[512];
    snprintf(path, sizeof path, "%s/roc.svg", dir);
    double f1[3] = {0, 0.2, 1}, t1[3] = {0, 0.8, 1}, f2[4] = {0, 0.1, 0.5, 1}, t2[4] = {0, 0.5, 0.9, 1};
    ev_roc_curve cv[2] = {{"CT & CF <fused>", f1, t1, 3, 0.912, 0.88, 0.94},
                          {"CF", f2, t2, 4, 0.8, NAN, NAN}};
    CHECK_OK(ev_svg_roc(path, cv, 2, "Type II \"vs\" rest"));
    char *s = slurp(path);
    CHECK(s != NULL);
    if (s) {
        CHECK(count(s, "<path class=\"roc\"") == 2);
        CHECK(count(s, "<path") == 2);
        CHECK(strstr(s, "CT &amp; CF &lt;fused&gt; AUC 0.912 (0.880\xe2\x80\x93" "0.940)") != NULL);
        CHECK(strstr(s, ">CF AUC 0.800</text>") != NULL); /* no CI when lo/hi are NaN */
        CHECK(strstr(s, "Type II &quot;vs&quot; rest") != NULL);
        CHECK(strstr(s, "class=\"chance\"") != NULL);
        /* first curve: M at (fpr 0, tpr 0) = (80, 470), last point (1,1) = (500, 50) */
        CHECK(strstr(s, "d=\"M80.00 470.00 L164.00 134.00 L500.00 50.00\"") != NULL);
        free(s);
    }
    /* No curves is still a valid plot (axes only). */
    CHECK_OK(ev_svg_roc(path, NULL, 0, "empty"));
    s = slurp(path);
    CHECK(s && count(s, "<path") == 0);
    free(s);

    long cm[4] = {8, 2, 1, 9};
    const char *labels[2] = {"Control", "COVID<19>"};
    snprintf(path, sizeof path, "%s/cm.svg", dir);
    CHECK_OK(ev_svg_confusion(path, cm, 2, labels, "cm"));
    s = slurp(path);
    CHECK(s != NULL);
    if (s) {
        CHECK(count(s, "class=\"cell\"") == 4);
        CHECK(strstr(s, ">80.0%</text>") != NULL && strstr(s, ">90.0%</text>") != NULL);
        CHECK(strstr(s, "COVID&lt;19&gt;") != NULL);
        free(s);
    }
    long bad[4] = {1, -1, 0, 0};
    CHECK(ev_svg_confusion(path, bad, 2, labels, "x") == H19_EARG);

    /* Only the two outputs remain: no temporary files. */
    DIR *d = opendir(dir);
    int nfiles = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            nfiles++;
            CHECK_MSG(strstr(e->d_name, ".tmp.") == NULL, "left %s", e->d_name);
        }
    if (d) closedir(d);
    CHECK(nfiles == 2);
    CHECK(ev_svg_roc("/nonexistent_dir_h19/roc.svg", cv, 2, "x") == H19_EIO);
    snprintf(path, sizeof path, "%s/roc.svg", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/cm.svg", dir);
    unlink(path);
    rmdir(dir);
    CHECK_DONE();
}
