/* test_dcm_io.c — the CT writer and reader round trip, extra (private, nested) elements, hostile
 * inputs (truncated, garbage, wrong modality, pixel data length mismatch, missing file), windowing
 * and series ordering. Self-contained: files go to a scratch directory under the build tree. */
#include "check.h"
#include "hust19/dicom.h"
#include "hust19/err.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[512];

static const char *p(const char *name)
{
    static char buf[4][700];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void make_meta(dcm_ct_meta *m, int rows, int cols)
{
    dcm_meta_init(m);
    m->rows = rows;
    m->cols = cols;
    snprintf(m->patient_name, sizeof m->patient_name, "Doe^Jane");
    snprintf(m->patient_id, sizeof m->patient_id, "P-000123");
    snprintf(m->other_patient_id, sizeof m->other_patient_id, "HOSP-42");
    snprintf(m->birth_date, sizeof m->birth_date, "19600102");
    snprintf(m->sex, sizeof m->sex, "F");
    snprintf(m->study_date, sizeof m->study_date, "20200214");
    snprintf(m->study_time, sizeof m->study_time, "101500");
    snprintf(m->institution, sizeof m->institution, "Union Hospital");
    snprintf(m->referring_physician, sizeof m->referring_physician, "House^Gregory");
    snprintf(m->accession, sizeof m->accession, "ACC-9");
    snprintf(m->study_uid, sizeof m->study_uid, "1.2.826.0.1.3680043.10.1.1");
    snprintf(m->series_uid, sizeof m->series_uid, "1.2.826.0.1.3680043.10.1.1.2");
    snprintf(m->sop_uid, sizeof m->sop_uid, "1.2.826.0.1.3680043.10.1.1.2.3");
    snprintf(m->frame_of_ref_uid, sizeof m->frame_of_ref_uid, "1.2.826.0.1.3680043.10.1.1.4");
    m->pixel_spacing[0] = 0.703125;
    m->pixel_spacing[1] = 0.68;
    m->slice_thickness = 1.25;
    m->position[0] = -180.5;
    m->position[1] = -170.25;
    m->position[2] = -412.375;
    m->instance_number = 7;
    m->rescale_slope = 1;
    m->rescale_intercept = -1024;
}

static void test_round_trip(void)
{
    enum { R = 48, C = 64 };
    int16_t px[R * C];
    for (int i = 0; i < R * C; i++) px[i] = (int16_t)((i * 37) % 4096 - 1000); /* negative values too */
    dcm_ct_meta m, r;
    make_meta(&m, R, C);
    CHECK_OK(dcm_write_ct(p("rt.dcm"), &m, px));
    float *hu = NULL;
    CHECK_OK(dcm_read_ct(p("rt.dcm"), &r, &hu));
    CHECK(hu != NULL);
    if (!hu) return;
    int bad = 0;
    for (int i = 0; i < R * C; i++)
        if (hu[i] != (float)(px[i] - 1024)) bad++;
    CHECK_MSG(bad == 0, "%d of %d HU values differ", bad, R * C);
    free(hu);
    CHECK(r.rows == R && r.cols == C);
    CHECK(!strcmp(r.patient_name, "Doe^Jane"));
    CHECK(!strcmp(r.patient_id, "P-000123"));
    CHECK(!strcmp(r.other_patient_id, "HOSP-42"));
    CHECK(!strcmp(r.birth_date, "19600102"));
    CHECK(!strcmp(r.sex, "F"));
    CHECK(!strcmp(r.study_date, "20200214"));
    CHECK(!strcmp(r.institution, "Union Hospital"));
    CHECK(!strcmp(r.referring_physician, "House^Gregory"));
    CHECK(!strcmp(r.accession, "ACC-9"));
    CHECK(!strcmp(r.study_uid, m.study_uid));
    CHECK(!strcmp(r.series_uid, m.series_uid));
    CHECK(!strcmp(r.sop_uid, m.sop_uid));
    CHECK(!strcmp(r.frame_of_ref_uid, m.frame_of_ref_uid));
    CHECK(!strcmp(r.modality, "CT"));
    CHECK(!strcmp(r.transfer_syntax, "1.2.840.10008.1.2.1"));
    CHECK_NEAR(r.pixel_spacing[0], 0.703125, 1e-12);
    CHECK_NEAR(r.pixel_spacing[1], 0.68, 1e-12);
    CHECK_NEAR(r.slice_thickness, 1.25, 1e-12);
    for (int k = 0; k < 3; k++) CHECK_NEAR(r.position[k], m.position[k], 1e-9);
    for (int k = 0; k < 6; k++) CHECK_NEAR(r.orientation[k], m.orientation[k], 1e-12);
    CHECK(r.has_position && r.has_orientation && r.has_instance_number);
    CHECK(r.instance_number == 7);
    CHECK_NEAR(r.rescale_intercept, -1024, 0);
    CHECK_NEAR(r.window_center, DCM_LUNG_CENTER, 0);
    CHECK_NEAR(r.window_width, DCM_LUNG_WIDTH, 0);

    /* A non-unit slope and fractional intercept, and the metadata-only read. */
    m.rescale_slope = 2.5;
    m.rescale_intercept = -1000.5;
    CHECK_OK(dcm_write_ct(p("slope.dcm"), &m, px));
    CHECK_OK(dcm_read_ct(p("slope.dcm"), &r, &hu));
    if (hu) {
        double worst = 0;
        for (int i = 0; i < R * C; i++) {
            double d = fabs(hu[i] - (px[i] * 2.5 - 1000.5));
            if (d > worst) worst = d;
        }
        CHECK_NEAR(worst, 0, 1e-3); /* float32 rounding of values up to ~9000 */
        free(hu);
    }
    CHECK_OK(dcm_read_ct(p("slope.dcm"), &r, NULL));
    CHECK_NEAR(r.rescale_slope, 2.5, 0);

    /* With every UID given, the bytes are a function of the input (synthetic archives are
     * reproducible from their seed). */
    CHECK_OK(dcm_write_ct(p("det1.dcm"), &m, px));
    CHECK_OK(dcm_write_ct(p("det2.dcm"), &m, px));
    {
        FILE *f1 = fopen(p("det1.dcm"), "rb"), *f2 = fopen(p("det2.dcm"), "rb");
        CHECK(f1 && f2);
        int same = f1 && f2, c1 = 0, c2 = 0;
        while (same && (c1 = fgetc(f1)) != EOF) {
            c2 = fgetc(f2);
            if (c1 != c2) same = 0;
        }
        if (same && f2 && fgetc(f2) != EOF) same = 0;
        CHECK_MSG(same, "two writes of the same slice differ");
        if (f1) fclose(f1);
        if (f2) fclose(f2);
    }

    /* Empty UIDs are generated; an atomic write leaves no temporary file behind. */
    m.sop_uid[0] = m.study_uid[0] = 0;
    CHECK_OK(dcm_write_ct(p("gen.dcm"), &m, px));
    CHECK_OK(dcm_read_ct(p("gen.dcm"), &r, NULL));
    CHECK(strlen(r.sop_uid) > 10 && strlen(r.sop_uid) <= 64);
    CHECK(strlen(r.study_uid) > 10 && strcmp(r.study_uid, r.sop_uid) != 0);
    DIR *d = opendir(g_dir);
    int tmp = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) tmp++;
    if (d) closedir(d);
    CHECK(tmp == 0);
    /* Writing into a missing directory is an I/O error naming the path. */
    CHECK(dcm_write_ct(p("no/such/dir/x.dcm"), &m, px) == H19_EIO);
    CHECK(strstr(h19_errmsg(), "no/such/dir/x.dcm") != NULL);
}

static void test_extra_elements(void)
{
    enum { R = 8, C = 8 };
    int16_t px[R * C] = {0};
    dcm_ct_meta m;
    make_meta(&m, R, C);
    /* A private block (creator + two elements), and a nested sequence two levels deep. */
    const dcm_elem inner[] = {{0x00100020, "LO", "NESTED-ID", 0, NULL, NULL, 0}};
    const dcm_elem *inner_items[] = {inner};
    const int inner_n[] = {1};
    const dcm_elem item0[] = {{0x00081150, "UI", "1.2.840.10008.5.1.4.1.1.2", 0, NULL, NULL, 0},
                              {0x00081155, "UI", "1.2.3.4.5", 0, NULL, NULL, 0},
                              {0x00101002, "SQ", NULL, 0, inner_items, inner_n, 1}};
    const dcm_elem *items[] = {item0};
    const int item_n[] = {3};
    const dcm_elem extra[] = {
        {0x00090010, "LO", "ACME_PRIVATE", 0, NULL, NULL, 0},
        {0x00091001, "LO", "private-value", 0, NULL, NULL, 0},
        {0x00091002, "OB", "\x01\x02\x03\x04", 4, NULL, NULL, 0},
        {0x00081140, "SQ", NULL, 0, items, item_n, 1},
        {0x00081010, "", "STATION-7", 0, NULL, NULL, 0}, /* VR from the dictionary (SH) */
    };
    CHECK_OK(dcm_write_ct_ex(p("extra.dcm"), &m, px, extra, 5));
    char s[128];
    int found = 0;
    uint32_t t1[] = {0x00091001};
    CHECK_OK(dcm_get_string(p("extra.dcm"), t1, 1, s, sizeof s, &found));
    CHECK(found && !strcmp(s, "private-value"));
    uint32_t t2[] = {0x00081140, 0x00101002, 0x00100020};
    CHECK_OK(dcm_get_string(p("extra.dcm"), t2, 3, s, sizeof s, &found));
    CHECK(found && !strcmp(s, "NESTED-ID"));
    uint32_t t3[] = {0x00081010};
    CHECK_OK(dcm_get_string(p("extra.dcm"), t3, 1, s, sizeof s, &found));
    CHECK(found && !strcmp(s, "STATION-7"));
    uint32_t t4[] = {0x00081030};
    CHECK_OK(dcm_get_string(p("extra.dcm"), t4, 1, s, sizeof s, &found));
    CHECK(!found);
    const dcm_elem badvr[] = {{0x00091001, "QQ", "x", 0, NULL, NULL, 0}};
    CHECK(dcm_write_ct_ex(p("badvr.dcm"), &m, px, badvr, 1) == H19_EARG);
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(b, 1, n, f) == n);
    fclose(f);
}

static void truncate_copy(const char *src, const char *dst, long keep)
{
    FILE *f = fopen(src, "rb");
    CHECK(f != NULL);
    if (!f) return;
    char *b = malloc((size_t)keep);
    size_t n = fread(b, 1, (size_t)keep, f);
    fclose(f);
    write_bytes(dst, b, n);
    free(b);
}

static void expect_fail(const char *path, int code, const char *needle)
{
    dcm_ct_meta r;
    float *hu = (float *)&r; /* must be reset to NULL */
    int rc = dcm_read_ct(path, &r, &hu);
    CHECK_MSG(rc == code, "%s: rc %d, want %d (%s)", path, rc, code, h19_errmsg());
    CHECK(hu == NULL);
    CHECK_MSG(strstr(h19_errmsg(), path) != NULL, "message does not name the file: %s", h19_errmsg());
    CHECK_MSG(strstr(h19_errmsg(), needle) != NULL, "message lacks '%s': %s", needle, h19_errmsg());
}

static void test_hostile(void)
{
    enum { R = 32, C = 32 };
    int16_t px[R * C];
    for (int i = 0; i < R * C; i++) px[i] = (int16_t)i;
    dcm_ct_meta m;
    make_meta(&m, R, C);
    CHECK_OK(dcm_write_ct(p("ok.dcm"), &m, px));
    struct stat st;
    CHECK(stat(p("ok.dcm"), &st) == 0);
    truncate_copy(p("ok.dcm"), p("trunc.dcm"), (long)st.st_size - 600); /* inside the pixel data */
    expect_fail(p("trunc.dcm"), H19_EFORMAT, "truncated or corrupt");
    truncate_copy(p("ok.dcm"), p("trunc2.dcm"), 200); /* inside the meta header */
    expect_fail(p("trunc2.dcm"), H19_EFORMAT, "DICOM");
    char garbage[1000];
    for (int i = 0; i < 1000; i++) garbage[i] = (char)(i * 7919 % 251);
    write_bytes(p("garbage.dcm"), garbage, sizeof garbage);
    {
        dcm_ct_meta r;
        float *hu = NULL;
        CHECK(dcm_read_ct(p("garbage.dcm"), &r, &hu) != 0);
        CHECK(hu == NULL);
    }
    expect_fail(p("missing.dcm"), H19_EIO, "cannot open");

    dcm_ct_meta mr = m;
    snprintf(mr.modality, sizeof mr.modality, "MR");
    CHECK_OK(dcm_write_ct(p("mr.dcm"), &mr, px));
    expect_fail(p("mr.dcm"), H19_EFORMAT, "modality is 'MR'");

    /* Rows claims more than the pixel data holds, and fewer. */
    const dcm_elem big_rows[] = {{0x00280010, "US", "64", 0, NULL, NULL, 0}};
    CHECK_OK(dcm_write_ct_ex(p("rows.dcm"), &m, px, big_rows, 1));
    expect_fail(p("rows.dcm"), H19_EFORMAT, "pixel data has 2048 bytes");
    const dcm_elem small_rows[] = {{0x00280010, "US", "16", 0, NULL, NULL, 0}};
    CHECK_OK(dcm_write_ct_ex(p("rows2.dcm"), &m, px, small_rows, 1));
    expect_fail(p("rows2.dcm"), H19_EFORMAT, "pixel data has 2048 bytes");
    const dcm_elem rgb[] = {{0x00280002, "US", "3", 0, NULL, NULL, 0}};
    CHECK_OK(dcm_write_ct_ex(p("rgb.dcm"), &m, px, rgb, 1));
    expect_fail(p("rgb.dcm"), H19_EUNSUP, "SamplesPerPixel");
    const dcm_elem zero_slope[] = {{0x00281053, "DS", "0", 0, NULL, NULL, 0}};
    CHECK_OK(dcm_write_ct_ex(p("slope0.dcm"), &m, px, zero_slope, 1));
    expect_fail(p("slope0.dcm"), H19_EFORMAT, "RescaleSlope");

    /* 12 bits stored, signed, in 16 allocated: the sign bit is bit 11. */
    const dcm_elem b12[] = {{0x00280101, "US", "12", 0, NULL, NULL, 0}, {0x00280102, "US", "11", 0, NULL, NULL, 0}};
    int16_t p12[R * C];
    for (int i = 0; i < R * C; i++) p12[i] = (int16_t)((i % 2) ? 0x0fff : 0x0801); /* -1, -2047 */
    m.rescale_intercept = 0;
    CHECK_OK(dcm_write_ct_ex(p("b12.dcm"), &m, p12, b12, 2));
    dcm_ct_meta r;
    float *hu = NULL;
    CHECK_OK(dcm_read_ct(p("b12.dcm"), &r, &hu));
    if (hu) {
        CHECK_NEAR(hu[0], -2047, 0);
        CHECK_NEAR(hu[1], -1, 0);
        free(hu);
    }
}

/* Corrupted copies of a valid file (deterministic byte flips and truncations, a hand-rolled LCG):
 * the reader must return a status — never crash, hang or read out of bounds (run under ASan in
 * CI) — and on success give rows*cols values of a size that matches the metadata. */
static void test_corrupt(void)
{
    enum { R = 16, C = 16 };
    int16_t px[R * C];
    for (int i = 0; i < R * C; i++) px[i] = (int16_t)(i * 5);
    dcm_ct_meta m;
    make_meta(&m, R, C);
    CHECK_OK(dcm_write_ct(p("fz.dcm"), &m, px));
    FILE *f = fopen(p("fz.dcm"), "rb");
    CHECK(f != NULL);
    if (!f) return;
    unsigned char orig[8192];
    size_t n = fread(orig, 1, sizeof orig, f);
    fclose(f);
    CHECK(n > 600 && n < sizeof orig);
    uint32_t s = 12345;
    int ok = 0, failed = 0;
    for (int it = 0; it < 150; it++) {
        unsigned char b[8192];
        memcpy(b, orig, n);
        size_t len = n;
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            s = s * 1664525u + 1013904223u;
            size_t at = 132 + (s >> 8) % (len - 132); /* past the preamble */
            s = s * 1664525u + 1013904223u;
            b[at] = (unsigned char)(s >> 24);
        }
        if (it % 5 == 4) {
            s = s * 1664525u + 1013904223u;
            len = 132 + (s >> 8) % (len - 132);
        }
        write_bytes(p("fz-bad.dcm"), b, len);
        dcm_ct_meta r;
        float *hu = NULL;
        int rc = dcm_read_ct(p("fz-bad.dcm"), &r, &hu);
        if (rc == 0) {
            CHECK(hu != NULL && r.rows > 0 && r.cols > 0);
            if (hu) {
                volatile float sink = hu[(size_t)r.rows * r.cols - 1]; /* ASan: the buffer is that long */
                (void)sink;
            }
            ok++;
        } else {
            CHECK(hu == NULL);
            CHECK(strstr(h19_errmsg(), "fz-bad.dcm") != NULL);
            failed++;
        }
        free(hu);
    }
    fprintf(stderr, "corrupted copies: %d read, %d rejected\n", ok, failed);
    CHECK(failed > 0);
}

static void test_window(void)
{
    const float hu[] = {-2000, -1350, -1349, -600, -599.5f, 149, 150, 3000, NAN};
    uint8_t out[9];
    dcm_window_u8(hu, 9, DCM_LUNG_CENTER, DCM_LUNG_WIDTH, out);
    /* out = round(255 * (hu - (-1350)) / 1500), clamped: hand-computed */
    CHECK(out[0] == 0);
    CHECK(out[1] == 0);
    CHECK(out[2] == 0);   /* 0.17 */
    CHECK(out[3] == 128); /* 127.5, rounded to even */
    CHECK(out[4] == 128); /* 127.585 */
    CHECK(out[5] == 255); /* 254.83 */
    CHECK(out[6] == 255);
    CHECK(out[7] == 255);
    CHECK(out[8] == 0);
    const float h2[] = {30, 40, 50};
    dcm_window_u8(h2, 3, 40, 20, out); /* a narrow soft-tissue window */
    CHECK(out[0] == 0 && out[2] == 255);
    CHECK(out[1] == 128);
}

static void test_order(void)
{
    enum { N = 6 };
    dcm_ct_meta ms[N];
    /* An oblique stack: row (1,0,0), column (0, cos a, -sin a): normal (0, sin a, cos a). */
    double a = 0.3, nrm[3] = {0, sin(a), cos(a)};
    const double depth[N] = {5.0, -2.5, 0.0, 10.0, 2.5, 7.5}; /* spacing 2.5 mm */
    for (int i = 0; i < N; i++) {
        make_meta(&ms[i], 16, 16);
        const double o[6] = {1, 0, 0, 0, cos(a), -sin(a)};
        memcpy(ms[i].orientation, o, sizeof o);
        /* in-plane offsets must not change the order */
        for (int k = 0; k < 3; k++) ms[i].position[k] = depth[i] * nrm[k];
        ms[i].position[0] += 3.0 * i;
        ms[i].position[1] += 0.7 * i * cos(a);
        ms[i].position[2] += -0.7 * i * sin(a);
        ms[i].instance_number = 100 - i; /* deliberately not the geometric order */
    }
    int order[N];
    double gap = 0;
    CHECK_OK(dcm_series_order(ms, N, order, &gap));
    const int want[N] = {1, 2, 4, 0, 5, 3};
    for (int i = 0; i < N; i++) CHECK(order[i] == want[i]);
    CHECK_NEAR(gap, 2.5, 1e-9);
    /* Positions absent: InstanceNumber decides. */
    for (int i = 0; i < N; i++) ms[i].has_position = 0;
    CHECK_OK(dcm_series_order(ms, N, order, &gap));
    for (int i = 0; i < N; i++) CHECK(order[i] == N - 1 - i);
    for (int i = 0; i < N; i++) ms[i].has_position = 1;
    /* Inconsistent geometry. */
    ms[3].rows = 17;
    CHECK(dcm_series_order(ms, N, order, NULL) == H19_EFORMAT);
    CHECK(strstr(h19_errmsg(), "slice 3") != NULL);
    ms[3].rows = 16;
    ms[2].orientation[4] += 0.01;
    CHECK(dcm_series_order(ms, N, order, NULL) == H19_EFORMAT);
    ms[2].orientation[4] -= 0.01;
    ms[4].pixel_spacing[1] *= 1.01;
    CHECK(dcm_series_order(ms, N, order, NULL) == H19_EFORMAT);
    ms[4].pixel_spacing[1] = ms[0].pixel_spacing[1];
    /* Two slices at the same place. */
    memcpy(ms[5].position, ms[0].position, sizeof ms[0].position);
    CHECK(dcm_series_order(ms, N, order, NULL) == H19_EFORMAT);
    CHECK(strstr(h19_errmsg(), "same position") != NULL);
    /* Neither geometry nor instance numbers. */
    for (int i = 0; i < N; i++) ms[i].has_position = ms[i].has_instance_number = 0;
    CHECK(dcm_series_order(ms, N, order, NULL) == H19_EFORMAT);
    CHECK_OK(dcm_series_order(ms, 0, order, &gap));
}

/* dcm_read_series: shuffled files come back as a volume in geometric order. */
static void test_read_series(void)
{
    enum { R = 4, C = 5, N = 4 };
    const double z[N] = {2.5, -5.0, 0.0, -2.5};
    char paths[N][64];
    const char *pp[N];
    for (int i = 0; i < N; i++) {
        dcm_ct_meta m;
        make_meta(&m, R, C);
        m.position[2] = z[i];
        m.instance_number = i + 1;
        snprintf(m.sop_uid, sizeof m.sop_uid, "1.2.826.0.1.3680043.10.1.1.2.%d", 10 + i);
        int16_t px[R * C];
        for (int k = 0; k < R * C; k++) px[k] = (int16_t)(1000 * i + k);
        snprintf(paths[i], sizeof paths[i], "ser%d.dcm", i);
        CHECK_OK(dcm_write_ct(p(paths[i]), &m, px));
    }
    char full[N][700];
    for (int i = 0; i < N; i++) {
        snprintf(full[i], sizeof full[i], "%s", p(paths[i]));
        pp[i] = full[i];
    }
    dcm_ct_meta metas[N];
    int order[N];
    float *vol = NULL;
    double gap = 0;
    CHECK_OK(dcm_read_series(pp, N, metas, order, &vol, &gap));
    const int want[N] = {1, 3, 2, 0}; /* z = -5, -2.5, 0, 2.5 */
    for (int k = 0; k < N; k++) CHECK(order[k] == want[k]);
    CHECK_NEAR(gap, 2.5, 1e-9);
    if (vol)
        for (int k = 0; k < N; k++) CHECK_NEAR(vol[(size_t)k * R * C + 3], 1000 * want[k] + 3 - 1024, 0);
    free(vol);
    /* a slice of another series */
    dcm_ct_meta m;
    make_meta(&m, R, C);
    snprintf(m.series_uid, sizeof m.series_uid, "1.2.826.0.1.3680043.10.9");
    int16_t px[R * C] = {0};
    CHECK_OK(dcm_write_ct(full[2], &m, px));
    CHECK(dcm_read_series(pp, N, metas, order, &vol, NULL) == H19_EFORMAT);
    CHECK(vol == NULL && strstr(h19_errmsg(), "SeriesInstanceUID"));
}

int main(void)
{
    const char *b = getenv("HUST19_BUILD");
    snprintf(g_dir, sizeof g_dir, "%s/scratch/dcm_io", b ? b : ".");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", g_dir, g_dir);
    if (system(cmd) != 0) TEST_SKIP("cannot make scratch directory");
    test_round_trip();
    test_extra_elements();
    test_hostile();
    test_corrupt();
    test_window();
    test_order();
    test_read_series();
    CHECK_DONE();
}
