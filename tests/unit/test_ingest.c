/* test_ingest.c — the CT ingest on hand-made series (one process): slice order by position,
 * per-slice content equal to dcm_read_ct -> dcm_window_u8 -> ct_preprocess of the same file,
 * labels by file and by instance, patient mapping, per-series and per-patient tables; every kind
 * of bad input (truncated file, hostile element length, MR modality, unknown transfer syntax,
 * inconsistent geometry, unknown patient, a stray file in a JPEG tree) reported and skipped;
 * ct.strict making them fatal; a re-run reusing the shards gives the same content; a stop request
 * returns H19_ESTOP; JPEG trees ordered by n; reader bounds. */
#include "check.h"

#include "hust19/ct.h"
#include "hust19/dicom.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/h5io.h"
#include "hust19/ingest.h"
#include "hust19/jpeg.h"
#include "hust19/archive.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];

static const char *p(const char *fmt, ...)
{
    static char buf[8][1024];
    static int k = 0;
    char rel[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, rel);
    return buf[k];
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) len = 0;
    if (b) b[len] = 0;
    fclose(f);
    if (n) *n = (size_t)len;
    return b;
}

static void spit(const char *path, const char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(b, 1, n, f) == n);
    fclose(f);
}

/* A chest-like phantom slice: air, a body ellipse (40 HU), two lungs (-850 HU) whose size varies
 * with k, so every slice differs. */
static void phantom(int16_t *px, int rows, int cols, int k)
{
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < cols; x++) {
            double u = (x - cols / 2.0) / (cols * 0.45), v = (y - rows / 2.0) / (rows * 0.35);
            int hu = -1000;
            if (u * u + v * v < 1) hu = 40;
            double r = 0.18 + 0.02 * k;
            for (int s = -1; s <= 1; s += 2) {
                double lu = (x - cols / 2.0 - s * cols * 0.2) / (cols * r), lv = (y - rows / 2.0) / (rows * 0.25);
                if (lu * lu + lv * lv < 1) hu = -850 + 7 * ((x * 3 + y * 5 + k) % 11);
            }
            px[y * cols + x] = (int16_t)(hu + 1024);
        }
}

static void write_slice(const char *path, int rows, int cols, int k, double z, int instance, const char *uid,
                        const char *modality)
{
    dcm_ct_meta m;
    dcm_meta_init(&m);
    m.rows = rows;
    m.cols = cols;
    m.pixel_spacing[0] = m.pixel_spacing[1] = 0.7;
    m.position[0] = -20;
    m.position[1] = -20;
    m.position[2] = z;
    m.instance_number = instance;
    snprintf(m.patient_name, sizeof m.patient_name, "DOE^JANE");
    snprintf(m.patient_id, sizeof m.patient_id, "MRN-555");
    snprintf(m.series_uid, sizeof m.series_uid, "%s", uid);
    snprintf(m.study_uid, sizeof m.study_uid, "1.2.3.4.1");
    snprintf(m.frame_of_ref_uid, sizeof m.frame_of_ref_uid, "1.2.3.4.2");
    snprintf(m.sop_uid, sizeof m.sop_uid, "1.2.3.4.3.%d.%d", instance, k);
    if (modality) snprintf(m.modality, sizeof m.modality, "%s", modality);
    int16_t *px = malloc(sizeof *px * (size_t)rows * cols);
    phantom(px, rows, cols, k);
    CHECK(dcm_write_ct(path, &m, px) == 0);
    free(px);
}

/* find a byte pattern in the first lim bytes */
static long find(const char *b, size_t n, const char *pat, size_t pn)
{
    for (size_t i = 0; i + pn <= n; i++)
        if (!memcmp(b + i, pat, pn)) return (long)i;
    return -1;
}

/* the reference pipeline for one file: dcm_read_ct -> dcm_window_u8 -> ct_preprocess */
static void reference(const char *path, uint8_t out[CT_OUT * CT_OUT])
{
    dcm_ct_meta m;
    float *hu = NULL;
    CHECK(dcm_read_ct(path, &m, &hu) == 0);
    if (!hu) return;
    uint8_t *u8 = malloc((size_t)m.rows * m.cols);
    dcm_window_u8(hu, m.rows * m.cols, DCM_LUNG_CENTER, DCM_LUNG_WIDTH, u8);
    ct_prep *c;
    CHECK(ct_prep_create(&c, m.cols, m.rows) == 0);
    CHECK(ct_preprocess(c, u8, m.cols, m.rows, out, NULL) == 0);
    ct_prep_free(c);
    free(u8);
    free(hu);
}

static int make_archive(const char *path, const ct_ingest_opts *o, const char *work, h5_file *f)
{
    const char *ids[] = {"7", "8", "9"};
    const int32_t line[] = {2, 3, 4};
    CHECK(h5_create(f, path, MPI_COMM_WORLD, H19_ARCHIVE_KIND, H19_ARCHIVE_VERSION) == 0);
    CHECK(h5_write_strings(f, "/patients/id", 3, 0, 3, ids) == 0);
    CHECK(h5_write_i32_1d(f, "/patients/line", 3, 0, 3, line) == 0);
    return ct_ingest_run(o, work, f);
}

typedef struct {
    ct_archive_meta m;
    uint8_t *px;
} content;

static void read_content(const char *path, content *c)
{
    h5_file f;
    memset(c, 0, sizeof *c);
    CHECK(h5_open(&f, path, MPI_COMM_SELF, H19_ARCHIVE_KIND, H19_ARCHIVE_VERSION) == 0);
    CHECK(ct_archive_read_meta(&f, &c->m) == 0);
    c->px = malloc((size_t)(c->m.n + 1) * CT_OUT * CT_OUT);
    CHECK(ct_archive_read_slices(&f, 0, c->m.n, c->px) == 0);
    uint8_t one[CT_OUT * CT_OUT];
    CHECK(ct_archive_read_slices(&f, c->m.n, 1, one) == H19_EARG); /* beyond the end */
    h5_close(&f);
}

static void free_content(content *c)
{
    ct_archive_meta_free(&c->m);
    free(c->px);
}

static int same_content(const content *a, const content *b)
{
    if (a->m.n != b->m.n || a->m.nseries != b->m.nseries) return 0;
    size_t n = (size_t)a->m.n;
    return !memcmp(a->px, b->px, n * CT_OUT * CT_OUT) && !memcmp(a->m.z, b->m.z, n * 8) &&
           !memcmp(a->m.label, b->m.label, n) && !memcmp(a->m.instance, b->m.instance, n * 4) &&
           !memcmp(a->m.series_count, b->m.series_count, (size_t)a->m.nseries * 4);
}

static void test_dicom(void)
{
    mkdir(p("A"), 0755);
    mkdir(p("B"), 0755);
    /* Series A: file names in the reverse order of position; the ingest must order by z. */
    const int R = 64, C = 64;
    for (int k = 0; k < 6; k++) write_slice(p("A/f%d.dcm", 5 - k), R, C, k, -10.0 + 2.5 * k, 6 - k, "1.2.3.9.1", NULL);
    /* bad files: truncated, hostile length, MR, unknown transfer syntax */
    size_t n;
    char *b = slurp(p("A/f0.dcm"), &n);
    CHECK(b != NULL);
    write_slice(p("A/g_mr.dcm"), R, C, 9, 30, 20, "1.2.3.9.1", "MR");
    if (b) {
        spit(p("A/g_trunc.dcm"), b, n - 700);
        char *h = malloc(n);
        memcpy(h, b, n);
        long at = find(h, n, "\xe0\x7f\x10\x00OW\0\0", 8);
        CHECK(at > 0);
        if (at > 0) {
            uint32_t big = 0x7ffffff0u;
            memcpy(h + at + 8, &big, 4);
        }
        spit(p("A/g_len.dcm"), h, n);
        memcpy(h, b, n);
        at = find(h, 400, "\x02\x00\x10\x00UI", 6);
        CHECK(at > 0);
        if (at > 0) {
            uint16_t len;
            memcpy(&len, h + at + 6, 2);
            CHECK(len == 20);
            memcpy(h + at + 8, "1.2.3.4.5.6.7.8.9.10", 20);
        }
        spit(p("A/g_ts.dcm"), h, n);
        free(h);
        free(b);
    }
    /* Series B: inconsistent geometry (64x64 then 48x48). */
    write_slice(p("B/a.dcm"), R, C, 0, 0, 1, "1.2.3.9.2", NULL);
    write_slice(p("B/b.dcm"), 48, 48, 1, 2.5, 2, "1.2.3.9.2", NULL);
    write_text(p("manifest.csv"), "patient_id,series_dir\n9,B\n7,./A\n99,C\n8,\n");
    /* labels by file: f5 (z = -10, first in order) pCT, f2 (z = -2.5) NiCT */
    write_text(p("labels.csv"), "patient_id,file,label\n7,A/f5.dcm,pCT\n7,A//f2.dcm,NiCT\n");

    ct_ingest_opts o;
    memset(&o, 0, sizeof o);
    o.present = 1;
    char man[512], lab[512];
    snprintf(man, sizeof man, "%s", p("manifest.csv"));
    snprintf(lab, sizeof lab, "%s", p("labels.csv"));
    o.manifest = man;
    o.labels = lab;
    o.center = DCM_LUNG_CENTER;
    o.width = DCM_LUNG_WIDTH;
    h5_file f;
    int rc = make_archive(p("a1.h5"), &o, g_dir, &f);
    CHECK_MSG(rc == 0, "%s", h19_errmsg());
    if (rc) {
        h5_abort(&f);
        return;
    }
    CHECK(h5_commit(&f) == 0);

    content c;
    read_content(p("a1.h5"), &c);
    CHECK(c.m.n == 6);
    CHECK(c.m.nseries == 2);
    CHECK(c.m.npatients == 3);
    if (c.m.n == 6 && c.m.nseries == 2) {
        for (int k = 0; k < 6; k++) {
            CHECK(c.m.patient[k] == 0);
            CHECK(c.m.series[k] == 0);
            CHECK_NEAR(c.m.z[k], -10.0 + 2.5 * k, 1e-9);
            CHECK(c.m.instance[k] == 6 - k);
            uint8_t ref[CT_OUT * CT_OUT];
            reference(p("A/f%d.dcm", 5 - k), ref);
            CHECK_MSG(!memcmp(ref, c.px + (size_t)k * CT_OUT * CT_OUT, sizeof ref), "slice %d", k);
        }
        CHECK(c.m.label[0] == CT_LABEL_PCT);
        CHECK(c.m.label[3] == CT_LABEL_NICT);
        CHECK(c.m.label[1] == CT_LABEL_NONE && c.m.label[5] == CT_LABEL_NONE);
        /* series in CF-row order: A (patient row 0) then B (row 2, rejected) */
        CHECK(c.m.series_patient[0] == 0 && c.m.series_count[0] == 6 && c.m.series_first[0] == 0);
        CHECK(c.m.series_patient[1] == 2 && c.m.series_count[1] == 0);
        CHECK(c.m.ct_first[0] == 0 && c.m.ct_count[0] == 6);
        CHECK(c.m.ct_count[1] == 0 && c.m.ct_first[1] == 0);
        CHECK(c.m.ct_count[2] == 0);
        /* a slice really holds lung: the mask keeps something and not everything */
        int nz = 0;
        for (int i = 0; i < CT_OUT * CT_OUT; i++) nz += c.px[2 * CT_OUT * CT_OUT + i] != 0;
        CHECK_MSG(nz > 1000 && nz < CT_OUT * CT_OUT * 3 / 4, "%d non-zero pixels", nz);
    }
    char *rep = slurp(p("ingest-report.csv"), NULL);
    CHECK(rep != NULL);
    if (rep) {
        CHECK(!strncmp(rep, "file,reason\n", 12));
        CHECK_MSG(strstr(rep, "manifest.csv:4,") && strstr(rep, "'99'"), "%s", rep);
        CHECK_MSG(strstr(rep, "A/g_trunc.dcm,"), "%s", rep);
        CHECK_MSG(strstr(rep, "A/g_len.dcm,"), "%s", rep);
        CHECK_MSG(strstr(rep, "A/g_mr.dcm,") && strstr(rep, "modality is 'MR'"), "%s", rep);
        CHECK_MSG(strstr(rep, "A/g_ts.dcm,") && strstr(rep, "transfer syntax"), "%s", rep);
        CHECK_MSG(strstr(rep, "/B,") && strstr(rep, "inconsistent geometry"), "%s", rep);
        CHECK_MSG(!strstr(rep, "f0.dcm") && !strstr(rep, "f3.dcm"), "%s", rep);
        /* the report order: the manifest's problems, then series A's files, then B */
        CHECK(strstr(rep, "manifest.csv:4") < strstr(rep, "g_len") && strstr(rep, "g_ts") < strstr(rep, "/B,"));
        free(rep);
    }
    /* no PHI in the archive: the DICOM patient name and id appear nowhere in the file */
    size_t an;
    char *arch = slurp(p("a1.h5"), &an);
    CHECK(arch && find(arch, an, "DOE^JANE", 8) < 0 && find(arch, an, "MRN-555", 7) < 0);
    free(arch);

    /* a re-run reuses every shard and gives the same content */
    struct stat st0, st1;
    CHECK(stat(p("ingest-shards/s000000.shard"), &st0) == 0);
    rc = make_archive(p("a2.h5"), &o, g_dir, &f);
    CHECK_MSG(rc == 0, "%s", h19_errmsg());
    if (!rc) CHECK(h5_commit(&f) == 0);
    else h5_abort(&f);
    CHECK(stat(p("ingest-shards/s000000.shard"), &st1) == 0);
    CHECK(st0.st_mtim.tv_sec == st1.st_mtim.tv_sec && st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec);
    content c2;
    read_content(p("a2.h5"), &c2);
    CHECK(same_content(&c, &c2));
    free_content(&c2);

    /* a changed input (a slice removed) invalidates that series' shard only */
    CHECK(unlink(p("A/f0.dcm")) == 0);
    rc = make_archive(p("a3.h5"), &o, g_dir, &f);
    CHECK_MSG(rc == 0, "%s", h19_errmsg());
    if (!rc) CHECK(h5_commit(&f) == 0);
    else h5_abort(&f);
    read_content(p("a3.h5"), &c2);
    CHECK(c2.m.n == 5);
    free_content(&c2);

    /* a damaged shard is a clear error, not silent garbage */
    {
        size_t sn;
        char *sb = slurp(p("ingest-shards/s000000.shard"), &sn);
        CHECK(sb && sn > 1000);
        if (sb) {
            sb[sn - 100] ^= 0x55;
            spit(p("ingest-shards/s000000.shard"), sb, sn);
            free(sb);
        }
        rc = make_archive(p("a4.h5"), &o, g_dir, &f);
        CHECK_MSG(rc == H19_EFORMAT && strstr(h19_errmsg(), "checksum"), "%d %s", rc, h19_errmsg());
        if (!rc) CHECK(h5_commit(&f) == 0);
        else h5_abort(&f);
        unlink(p("ingest-shards/s000000.shard"));
    }

    /* strict: the first bad input is fatal and names the file */
    o.strict = 1;
    rc = make_archive(p("s.h5"), &o, g_dir, &f);
    CHECK_MSG(rc == H19_EFORMAT && strstr(h19_errmsg(), "ct.strict"), "%d %s", rc, h19_errmsg());
    h5_abort(&f);
    CHECK(access(p("s.h5"), F_OK) != 0);
    o.strict = 0;

    /* a stop request: ESTOP, and the next run completes */
    dist_stop_raise();
    rc = make_archive(p("t.h5"), &o, p("stopwork"), &f);
    CHECK_MSG(rc == H19_ESTOP, "%d %s", rc, h19_errmsg());
    h5_abort(&f);
    free_content(&c);
}

static void test_jpeg(void)
{
    mkdir(p("J"), 0755);
    mkdir(p("J/7"), 0755);
    mkdir(p("J/unknown"), 0755);
    const int W = 80, H = 72;
    uint8_t *img = malloc((size_t)W * H);
    const int nums[] = {3, 1, 10};
    for (int q = 0; q < 3; q++) {
        int16_t *px = malloc(sizeof *px * (size_t)W * H);
        phantom(px, H, W, q);
        float *hu = malloc(sizeof *hu * (size_t)W * H);
        for (int i = 0; i < W * H; i++) hu[i] = (float)(px[i] - 1024);
        dcm_window_u8(hu, W * H, DCM_LUNG_CENTER, DCM_LUNG_WIDTH, img);
        CHECK(jpg_write_gray(p("J/7/%d.jpg", nums[q]), img, W, H, 95) == 0);
        free(px);
        free(hu);
    }
    write_text(p("J/7/notes.txt"), "not a slice\n");
    write_text(p("jlabels.csv"), "patient_id,instance,label\n7,10,nCT\n7,1,NiCT\n");
    ct_ingest_opts o;
    memset(&o, 0, sizeof o);
    o.present = 1;
    char root[512], lab[512], work[512];
    snprintf(root, sizeof root, "%s", p("J"));
    snprintf(lab, sizeof lab, "%s", p("jlabels.csv"));
    snprintf(work, sizeof work, "%s", p("jwork"));
    o.jpeg_root = root;
    o.labels = lab;
    o.center = DCM_LUNG_CENTER;
    o.width = DCM_LUNG_WIDTH;
    h5_file f;
    int rc = make_archive(p("j.h5"), &o, work, &f);
    CHECK_MSG(rc == 0, "%s", h19_errmsg());
    if (rc) {
        h5_abort(&f);
        free(img);
        return;
    }
    CHECK(h5_commit(&f) == 0);
    content c;
    read_content(p("j.h5"), &c);
    CHECK(c.m.n == 3);
    if (c.m.n == 3) {
        const int want[] = {1, 3, 10};
        const int8_t wl[] = {CT_LABEL_NICT, CT_LABEL_NONE, CT_LABEL_NCT};
        for (int k = 0; k < 3; k++) {
            CHECK(c.m.instance[k] == want[k]);
            CHECK_NEAR(c.m.z[k], want[k], 0);
            CHECK(c.m.label[k] == wl[k]);
            uint8_t *px = NULL, ref[CT_OUT * CT_OUT];
            int w, h;
            CHECK(jpg_read_gray(p("J/7/%d.jpg", want[k]), &px, &w, &h) == 0);
            ct_prep *ctx;
            CHECK(ct_prep_create(&ctx, w, h) == 0);
            CHECK(ct_preprocess(ctx, px, w, h, ref, NULL) == 0);
            CHECK(!memcmp(ref, c.px + (size_t)k * CT_OUT * CT_OUT, sizeof ref));
            ct_prep_free(ctx);
            free(px);
        }
    }
    char *rep = slurp(p("jwork/ingest-report.csv"), NULL);
    CHECK(rep && strstr(rep, "notes.txt") && strstr(rep, "J/unknown,"));
    free(rep);
    free_content(&c);
    free(img);
}

/* dicom_root: <root>/<patient id>/<series>/..., series in name order within a patient */
static void test_walk(void)
{
    mkdir(p("W"), 0755);
    mkdir(p("W/9"), 0755);
    mkdir(p("W/9/s2"), 0755);
    mkdir(p("W/9/s1"), 0755);
    mkdir(p("W/7"), 0755);
    mkdir(p("W/7/x"), 0755);
    mkdir(p("W/P0042"), 0755);
    mkdir(p("W/P0042/s"), 0755);
    for (int k = 0; k < 3; k++) write_slice(p("W/9/s1/i%d.dcm", k), 40, 40, k, 5.0 * k, k + 1, "1.2.3.8.1", NULL);
    for (int k = 0; k < 2; k++) write_slice(p("W/9/s2/i%d.dcm", k), 40, 40, k, 5.0 * k, k + 1, "1.2.3.8.2", NULL);
    for (int k = 0; k < 2; k++) write_slice(p("W/7/x/i%d.dcm", k), 40, 40, k, -5.0 * k, k + 1, "1.2.3.8.3", NULL);
    write_slice(p("W/P0042/s/i.dcm"), 40, 40, 0, 0, 1, "1.2.3.8.4", NULL);
    ct_ingest_opts o;
    memset(&o, 0, sizeof o);
    o.present = 1;
    char root[512], work[512];
    snprintf(root, sizeof root, "%s", p("W"));
    snprintf(work, sizeof work, "%s", p("wwork"));
    o.dicom_root = root;
    o.center = DCM_LUNG_CENTER;
    o.width = DCM_LUNG_WIDTH;
    h5_file f;
    int rc = make_archive(p("w.h5"), &o, work, &f);
    CHECK_MSG(rc == 0, "%s", h19_errmsg());
    if (rc) {
        h5_abort(&f);
        return;
    }
    CHECK(h5_commit(&f) == 0);
    content c;
    read_content(p("w.h5"), &c);
    /* patient 7 (row 0) first, then 9 (row 2): s1 then s2 */
    CHECK(c.m.n == 7 && c.m.nseries == 3);
    if (c.m.n == 7 && c.m.nseries == 3) {
        CHECK(c.m.series_patient[0] == 0 && c.m.series_patient[1] == 2 && c.m.series_patient[2] == 2);
        CHECK(c.m.series_count[0] == 2 && c.m.series_count[1] == 3 && c.m.series_count[2] == 2);
        CHECK(c.m.series_first[1] == 2 && c.m.series_first[2] == 5);
        CHECK(c.m.z[0] == -5.0 && c.m.z[1] == 0.0 && c.m.instance[0] == 2);
        CHECK(c.m.ct_first[2] == 2 && c.m.ct_count[2] == 5 && c.m.ct_count[1] == 0);
        CHECK(c.m.series[4] == 1 && c.m.series[5] == 2);
    }
    char *rep = slurp(p("wwork/ingest-report.csv"), NULL);
    CHECK_MSG(rep && strstr(rep, "W/P0042,") && strstr(rep, "not a patient id"), "%s", rep ? rep : "(none)");
    free(rep);
    free_content(&c);
}

/* no series at all: empty /ct datasets, readers fine, every patient without CT */
static void test_empty(void)
{
    write_text(p("empty.csv"), "patient_id,series_dir\n7,\n8,\n");
    ct_ingest_opts o;
    memset(&o, 0, sizeof o);
    o.present = 1;
    char man[512], work[512];
    snprintf(man, sizeof man, "%s", p("empty.csv"));
    snprintf(work, sizeof work, "%s", p("ework"));
    o.manifest = man;
    o.center = DCM_LUNG_CENTER;
    o.width = DCM_LUNG_WIDTH;
    h5_file f;
    int rc = make_archive(p("e.h5"), &o, work, &f);
    CHECK_MSG(rc == 0, "%s", h19_errmsg());
    if (rc) {
        h5_abort(&f);
        return;
    }
    CHECK(h5_commit(&f) == 0);
    content c;
    read_content(p("e.h5"), &c);
    CHECK(c.m.n == 0 && c.m.nseries == 0 && c.m.npatients == 3);
    CHECK(c.m.ct_count && c.m.ct_count[0] == 0 && c.m.ct_count[2] == 0);
    free_content(&c);
}

static void test_parse(void)
{
    cfg_doc d;
    ct_ingest_opts o;
    CHECK(cfg_load_string(&d, "j.yaml", "ct:\n  manifest: m.csv\n  window: {center: -500, width: 1200}\n"
                                        "  deid: {secret: s3cret, out: d}\n  strict: true\n") == 0);
    CHECK(ct_ingest_parse(&d, &o) == 0);
    CHECK(o.present && !strcmp(o.manifest, "m.csv") && o.center == -500 && o.width == 1200 && o.strict);
    CHECK(o.deid_secret && !strcmp(o.deid_secret, "s3cret") && !strcmp(o.deid_out, "d"));
    cfg_free(&d);
    CHECK(cfg_load_string(&d, "j.yaml", "job: {name: x}\n") == 0);
    CHECK(ct_ingest_parse(&d, &o) == 0 && !o.present);
    cfg_free(&d);
    CHECK(cfg_load_string(&d, "j.yaml", "ct:\n  manifest: m.csv\n  windw: {center: 1}\n") == 0);
    CHECK(ct_ingest_parse(&d, &o) == H19_ECONFIG && strstr(h19_errmsg(), "unknown key 'windw'"));
    cfg_free(&d);
    CHECK(cfg_load_string(&d, "j.yaml", "ct:\n  manifest: m.csv\n  dicom_root: r\n") == 0);
    CHECK(ct_ingest_parse(&d, &o) == H19_ECONFIG && strstr(h19_errmsg(), "exactly one"));
    cfg_free(&d);
    CHECK(cfg_load_string(&d, "j.yaml", "ct:\n  manifest: m.csv\n  window: {width: 0}\n") == 0);
    CHECK(ct_ingest_parse(&d, &o) == H19_ECONFIG);
    cfg_free(&d);
    CHECK(cfg_load_string(&d, "j.yaml", "ct:\n  manifest: m.csv\n  deid: {out: d}\n") == 0);
    CHECK(ct_ingest_parse(&d, &o) == H19_ECONFIG && strstr(h19_errmsg(), "secret"));
    cfg_free(&d);
}

int main(int argc, char **argv)
{
    if (dist_init(&argc, &argv)) {
        fprintf(stderr, "dist_init: %s\n", h19_errmsg());
        return 1;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/h19_ingest_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    test_parse();
    test_jpeg();
    test_walk();
    test_empty();
    test_dicom(); /* last: it raises the stop flag */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (!check_failures && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    dist_finalize();
    CHECK_DONE();
}
