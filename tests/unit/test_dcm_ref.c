/* test_dcm_ref.c — dcm_read_ct against pydicom on the real CT_small.dcm (shared/data/dicom) and on
 * transcoded variants made with DCMTK's tools: Implicit VR LE (dcmconv +ti), Explicit VR BE (+tb),
 * Deflated (+td), JPEG lossless SV1 and process 14 (dcmcjpeg, +el), JPEG-LS lossless (dcmcjpls),
 * RLE (dcmcrle), JPEG lossy extended 12-bit (+ee) and baseline 8-bit (+eb), and a JPEG 2000 file
 * (tests/ref/dcm_ref.py j2k, OpenCV's OpenJPEG) that must fail as unsupported.
 *
 * Reference: pydicom 2.3 `pixel_array * RescaleSlope + RescaleIntercept` of the original file
 * (tests/ref/dcm_ref.py hu). Lossless variants must match it exactly (tolerance 0: integer HU in
 * float32). Lossy variants are compared with a stated error bound: DCMTK rescales 16-bit data to
 * the codec's 12 or 8 bits and records the new slope, so baseline carries a quantisation step of
 * ~16 HU plus the JPEG error at quality 90. Skips (77) when the data, Python or the tools are absent.
 */
#include "check.h"
#include "hust19/dicom.h"
#include "hust19/err.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static char g_dir[600], g_src[600], g_py[300], g_ref[800];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

static float *load_f32(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *v = malloc(n * sizeof *v);
    size_t got = v ? fread(v, sizeof *v, n, f) : 0;
    fclose(f);
    if (got != n) {
        free(v);
        return NULL;
    }
    return v;
}

typedef struct {
    const char *name, *cmd; /* cmd: printf with %s (in) and %s (out) */
    double max_err, mean_err; /* against pydicom on the original */
    int self_ref;             /* 1: pydicom (numpy/Pillow handlers) decodes this variant too: exact */
} variant;

int main(void)
{
    const char *shared = getenv("HUST19_SHARED"), *build = getenv("HUST19_BUILD"), *src = getenv("HUST19_SRC");
    const char *py = getenv("PYTHON");
    if (!shared || !build || !src) TEST_SKIP("HUST19_SHARED/HUST19_BUILD/HUST19_SRC not set (run through ctest)");
    snprintf(g_src, sizeof g_src, "%s/data/dicom/CT_small.dcm", shared);
    if (access(g_src, R_OK) != 0) TEST_SKIP("shared/data/dicom/CT_small.dcm not found");
    snprintf(g_py, sizeof g_py, "%s", py ? py : "/usr/bin/python3");
    snprintf(g_ref, sizeof g_ref, "%s/tests/ref/dcm_ref.py", src);
    if (run("%s -c 'import pydicom, numpy' 2>/dev/null", g_py) != 0) TEST_SKIP("python with pydicom not available");
    if (run("command -v dcmconv >/dev/null && command -v dcmcjpeg >/dev/null && command -v dcmcjpls >/dev/null") != 0)
        TEST_SKIP("DCMTK command-line tools (package dcmtk) not installed");
    snprintf(g_dir, sizeof g_dir, "%s/scratch/dcm_ref", build);
    if (run("rm -rf '%s' && mkdir -p '%s'", g_dir, g_dir) != 0) TEST_SKIP("cannot make scratch directory");

    char ref_path[700];
    snprintf(ref_path, sizeof ref_path, "%s/ref.f32", g_dir);
    CHECK(run("'%s' '%s' hu '%s' '%s'", g_py, g_ref, g_src, ref_path) == 0);

    dcm_ct_meta m;
    float *hu = NULL;
    CHECK_OK(dcm_read_ct(g_src, &m, &hu));
    if (!hu) CHECK_DONE();
    size_t n = (size_t)m.rows * m.cols;
    float *ref = load_f32(ref_path, n);
    CHECK(ref != NULL);
    if (!ref) CHECK_DONE();
    free(hu);
    /* Metadata of CT_small.dcm as dcmdump shows it. */
    CHECK(m.rows == 128 && m.cols == 128);
    CHECK(!strcmp(m.patient_name, "CompressedSamples^CT1"));
    CHECK(!strcmp(m.patient_id, "1CT1"));
    CHECK(!strcmp(m.other_patient_id, "ABCD1234"));
    CHECK(!strcmp(m.study_date, "20040119"));
    CHECK(!strcmp(m.study_uid, "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"));
    CHECK_NEAR(m.position[2], -75.699997, 1e-9);
    CHECK_NEAR(m.pixel_spacing[0], 0.661468, 1e-12);
    CHECK_NEAR(m.rescale_intercept, -1024, 0);
    CHECK(m.instance_number == 1);

    const variant vs[] = {
        {"orig", "cp '%s' '%s'", 0, 0, 1},
        {"implicit", "dcmconv +ti '%s' '%s'", 0, 0, 1},
        {"bigendian", "dcmconv +tb '%s' '%s'", 0, 0, 1},
        {"deflated", "dcmconv +td '%s' '%s'", 0, 0, 1},
        {"jpeg-sv1", "dcmcjpeg '%s' '%s'", 0, 0, 0},
        {"jpeg-p14", "dcmcjpeg +el '%s' '%s'", 0, 0, 0},
        {"jpeg-ls", "dcmcjpls '%s' '%s'", 0, 0, 0},
        {"rle", "dcmcrle '%s' '%s'", 0, 0, 1},
        /* Lossy, against the original: sanity bounds above what this build measures (12-bit
         * extended: max 14, mean 2.6 HU; 8-bit baseline: max 96, mean 15 HU — DCMTK's encoder maps
         * 16-bit values to 8 bits with a 16-HU step and truncates, a bias of half a step). The
         * baseline file is also decoded by pydicom's Pillow handler, which must agree exactly. */
        {"jpeg-ext12", "dcmcjpeg +ee '%s' '%s'", 20, 4, 0},
        {"jpeg-base8", "dcmcjpeg +eb '%s' '%s'", 120, 20, 1},
    };
    for (size_t v = 0; v < sizeof vs / sizeof vs[0]; v++) {
        char out[700];
        snprintf(out, sizeof out, "%s/%s.dcm", g_dir, vs[v].name);
        char cmd[2000];
        snprintf(cmd, sizeof cmd, vs[v].cmd, g_src, out);
        if (run("%s", cmd) != 0) {
            CHECK_MSG(0, "could not make variant %s", vs[v].name);
            continue;
        }
        dcm_ct_meta mv;
        float *h = NULL;
        int rc = dcm_read_ct(out, &mv, &h);
        CHECK_MSG(rc == 0, "%s: %s", vs[v].name, h19_errmsg());
        if (rc) continue;
        CHECK(mv.rows == 128 && mv.cols == 128);
        double worst = 0, sum = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)h[i] - (double)ref[i]);
            if (d > worst) worst = d;
            sum += d;
        }
        if (vs[v].self_ref) {
            /* pydicom's own decoding of this very file: must match exactly */
            char sref[720];
            snprintf(sref, sizeof sref, "%s/%s.f32", g_dir, vs[v].name);
            CHECK(run("'%s' '%s' hu '%s' '%s'", g_py, g_ref, out, sref) == 0);
            float *r2 = load_f32(sref, n);
            CHECK(r2 != NULL);
            double w2 = 0;
            for (size_t i = 0; r2 && i < n; i++) w2 = fmax(w2, fabs((double)h[i] - (double)r2[i]));
            CHECK_MSG(w2 == 0, "%s: differs from pydicom's decoding of the same file by up to %g HU", vs[v].name, w2);
            free(r2);
        }
        free(h);
        fprintf(stderr, "%-11s %-24s max |HU - pydicom| = %.3f, mean = %.4f\n", vs[v].name, mv.transfer_syntax,
                worst, sum / (double)n);
        CHECK_MSG(worst <= vs[v].max_err, "%s: max error %g > %g", vs[v].name, worst, vs[v].max_err);
        CHECK_MSG(sum / (double)n <= vs[v].mean_err + 1e-12, "%s: mean error %g > %g", vs[v].name, sum / (double)n,
                  vs[v].mean_err);
    }

    /* JPEG 2000: DCMTK has no decoder; the error must name the file, the UID and "JPEG 2000". */
    char j2k[700];
    snprintf(j2k, sizeof j2k, "%s/j2k.dcm", g_dir);
    if (run("'%s' '%s' j2k '%s' '%s'", g_py, g_ref, g_src, j2k) == 0) {
        float *h = NULL;
        CHECK(dcm_read_ct(j2k, &m, &h) == H19_EUNSUP);
        CHECK(h == NULL);
        const char *e = h19_errmsg();
        CHECK_MSG(strstr(e, j2k) && strstr(e, "1.2.840.10008.1.2.4.90") && strstr(e, "(JPEG 2000)"), "%s", e);
    } else {
        CHECK_MSG(0, "could not make the JPEG 2000 file");
    }

    /* The meta header forged to claim JPEG 2000 over uncompressed data (DCMTK cannot parse it):
     * still the JPEG 2000 message; and a transfer syntax nobody knows. */
    const char *forged[][2] = {{"1.2.840.10008.1.2.4.91", "(JPEG 2000)"}, {"1.2.3.4.5.6", "unsupported transfer syntax"}};
    for (int k = 0; k < 2; k++) {
        char out[700];
        snprintf(out, sizeof out, "%s/forged%d.dcm", g_dir, k);
        if (run("'%s' '%s' forge '%s' '%s' '%s'", g_py, g_ref, g_src, out, forged[k][0]) != 0) {
            CHECK_MSG(0, "could not forge %s", forged[k][0]);
            continue;
        }
        float *h = NULL;
        CHECK(dcm_read_ct(out, &m, &h) == H19_EUNSUP);
        CHECK(h == NULL);
        CHECK_MSG(strstr(h19_errmsg(), out) && strstr(h19_errmsg(), forged[k][0]) && strstr(h19_errmsg(), forged[k][1]),
                  "%s", h19_errmsg());
    }

    /* Hostile variants of the real file, made with DCMTK's dcmodify and head. */
    struct {
        const char *name, *cmd, *needle;
        int code;
    } bad[] = {
        {"trunc", "head -c 20000 '%s' > '%s'", "truncated or corrupt", H19_EFORMAT},
        {"rows", "cp '%s' '%s' && dcmodify -nb -m Rows=256 '%s'", "pixel data has 32768 bytes", H19_EFORMAT},
        {"mr", "cp '%s' '%s' && dcmodify -nb -m Modality=MR '%s'", "expected CT", H19_EFORMAT},
        {"nopixels", "cp '%s' '%s' && dcmodify -nb -ea '(7fe0,0010)' '%s'", "no pixel data", H19_EFORMAT},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char out[700], cmd[3000];
        snprintf(out, sizeof out, "%s/bad-%s.dcm", g_dir, bad[k].name);
        snprintf(cmd, sizeof cmd, bad[k].cmd, g_src, out, out);
        if (run("%s", cmd) != 0) {
            CHECK_MSG(0, "could not make %s", bad[k].name);
            continue;
        }
        float *h = NULL;
        int rc = dcm_read_ct(out, &m, &h);
        CHECK_MSG(rc == bad[k].code, "%s: rc %d (%s)", bad[k].name, rc, h19_errmsg());
        CHECK(h == NULL);
        CHECK_MSG(strstr(h19_errmsg(), out) && strstr(h19_errmsg(), bad[k].needle), "%s: %s", bad[k].name,
                  h19_errmsg());
    }
    free(ref);
    CHECK_DONE();
}
