/* test_jpg.c — grey JPEG round trip (within JPEG tolerance), agreement with OpenCV's decoder
 * (cv2.imread IMREAD_GRAYSCALE, skipped without Python/OpenCV), colour-to-grey conversion, errors
 * on truncated/invalid files, and tiling into a contact sheet. */
#include "check.h"
#include "hust19/err.h"
#include "hust19/jpeg.h"

#include <string.h>
#include <turbojpeg.h>
#include <unistd.h>

static char g_dir[600];

static const char *p(const char *name)
{
    static char buf[4][700];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void errors_of(const uint8_t *a, const uint8_t *b, int n, double *maxe, double *meane)
{
    double m = 0, s = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m) m = d;
        s += d;
    }
    *maxe = m;
    *meane = s / n;
}

static void test_round_trip(void)
{
    enum { W = 97, H = 61 }; /* not multiples of 8: partial MCUs */
    uint8_t img[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) /* a smooth ramp plus a soft blob, like a windowed slice */
            img[y * W + x] = (uint8_t)(40 + 1.2 * x + 0.8 * y + 60 * exp(-((x - 50) * (x - 50) + (y - 30) * (y - 30)) / 200.0));
    CHECK_OK(jpg_write_gray(p("rt95.jpg"), img, W, H, 95));
    uint8_t *px = NULL;
    int w = 0, h = 0;
    CHECK_OK(jpg_read_gray(p("rt95.jpg"), &px, &w, &h));
    CHECK(w == W && h == H);
    if (px) {
        double mx, mn;
        errors_of(img, px, W * H, &mx, &mn);
        fprintf(stderr, "q95: max error %.0f, mean %.3f\n", mx, mn);
        CHECK(mx <= 4 && mn <= 1.0); /* quality 95 on smooth content: a few grey levels at most */
        free(px);
    }
    CHECK_OK(jpg_write_gray(p("rt50.jpg"), img, W, H, 50));
    CHECK_OK(jpg_read_gray(p("rt50.jpg"), &px, &w, &h));
    if (px) {
        double mx, mn;
        errors_of(img, px, W * H, &mx, &mn);
        fprintf(stderr, "q50: max error %.0f, mean %.3f\n", mx, mn);
        CHECK(mx <= 12 && mn <= 3.0);
        free(px);
    }
    /* OpenCV's decoder on our file: the same pixels (both are libjpeg-family islow IDCTs). */
    const char *py = getenv("PYTHON");
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "'%s' -c \"import cv2,sys; a=cv2.imread(sys.argv[1], cv2.IMREAD_GRAYSCALE); a.tofile(sys.argv[2])\" '%s' '%s' "
             "2>/dev/null",
             py ? py : "/usr/bin/python3", p("rt95.jpg"), p("rt95.cv2"));
    if (system(cmd) == 0) {
        FILE *f = fopen(p("rt95.cv2"), "rb");
        uint8_t ref[W * H];
        CHECK(f && fread(ref, 1, sizeof ref, f) == sizeof ref);
        if (f) fclose(f);
        CHECK_OK(jpg_read_gray(p("rt95.jpg"), &px, &w, &h));
        if (px) {
            double mx, mn;
            errors_of(ref, px, W * H, &mx, &mn);
            fprintf(stderr, "vs OpenCV: max difference %.0f\n", mx);
            CHECK(mx <= 1); /* tolerance 1 grey level: IDCT rounding may differ between builds */
            free(px);
        }
    } else {
        fprintf(stderr, "note: OpenCV reference skipped\n");
    }
    CHECK(jpg_write_gray(p("bad.jpg"), img, W, H, 0) == H19_EARG);
    CHECK(jpg_write_gray(p("no/dir/x.jpg"), img, W, H, 90) == H19_EIO);
}

static void test_colour(void)
{
    /* Four flat colour quadrants, encoded as YCbCr 4:4:4 at quality 100. */
    enum { W = 32, H = 32 };
    const uint8_t col[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {200, 150, 100}};
    uint8_t rgb[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int q = (y >= H / 2) * 2 + (x >= W / 2);
            memcpy(rgb + 3 * (y * W + x), col[q], 3);
        }
    tjhandle t = tjInitCompress();
    unsigned char *jb = NULL;
    unsigned long jn = 0;
    CHECK(t && tjCompress2(t, rgb, W, 0, H, TJPF_RGB, &jb, &jn, TJSAMP_444, 100, TJFLAG_ACCURATEDCT) == 0);
    FILE *f = fopen(p("colour.jpg"), "wb");
    CHECK(f && fwrite(jb, 1, jn, f) == jn);
    if (f) fclose(f);
    tjFree(jb);
    tjDestroy(t);
    uint8_t *px = NULL;
    int w, h;
    CHECK_OK(jpg_read_gray(p("colour.jpg"), &px, &w, &h));
    if (!px) return;
    for (int q = 0; q < 4; q++) {
        int x = (q & 1) ? 3 * W / 4 : W / 4, y = (q & 2) ? 3 * H / 4 : H / 4;
        /* JFIF luma (ITU-R BT.601): Y = 0.299 R + 0.587 G + 0.114 B */
        double want = 0.299 * col[q][0] + 0.587 * col[q][1] + 0.114 * col[q][2];
        CHECK_NEAR(px[y * W + x], want, 2.0);
    }
    free(px);
}

static void test_errors(void)
{
    uint8_t img[64 * 64];
    for (int i = 0; i < 64 * 64; i++) img[i] = (uint8_t)(i * 13);
    CHECK_OK(jpg_write_gray(p("full.jpg"), img, 64, 64, 90));
    char *data = NULL;
    size_t n = 0;
    FILE *f = fopen(p("full.jpg"), "rb");
    CHECK(f != NULL);
    if (!f) return;
    data = malloc(100000);
    n = fread(data, 1, 100000, f);
    fclose(f);
    f = fopen(p("trunc.jpg"), "wb");
    CHECK(f && fwrite(data, 1, n / 2, f) == n / 2);
    if (f) fclose(f);
    uint8_t *px = (uint8_t *)data;
    int w, h;
    CHECK(jpg_read_gray(p("trunc.jpg"), &px, &w, &h) == H19_EFORMAT);
    CHECK(px == NULL);
    CHECK(strstr(h19_errmsg(), "trunc.jpg") && strstr(h19_errmsg(), "truncated"));
    f = fopen(p("hdr.jpg"), "wb"); /* SOI and a few bytes only */
    CHECK(f && fwrite(data, 1, 20, f) == 20);
    if (f) fclose(f);
    CHECK(jpg_read_gray(p("hdr.jpg"), &px, &w, &h) == H19_EFORMAT);
    f = fopen(p("text.jpg"), "wb");
    CHECK(f && fputs("this is not a JPEG file at all", f) >= 0);
    if (f) fclose(f);
    CHECK(jpg_read_gray(p("text.jpg"), &px, &w, &h) == H19_EFORMAT);
    CHECK(strstr(h19_errmsg(), "not a JPEG"));
    f = fopen(p("empty.jpg"), "wb");
    if (f) fclose(f);
    CHECK(jpg_read_gray(p("empty.jpg"), &px, &w, &h) == H19_EFORMAT);
    CHECK(jpg_read_gray(p("missing.jpg"), &px, &w, &h) == H19_EIO);
    free(data);
}

static void test_sheet(void)
{
    enum { W = 3, H = 2, N = 5 };
    uint8_t im[N][W * H];
    const uint8_t *ptrs[N];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < W * H; k++) im[i][k] = (uint8_t)(100 + 10 * i + k);
        ptrs[i] = im[i];
    }
    uint8_t *s = NULL;
    int sw = 0, sh = 0;
    CHECK_OK(jpg_tile_gray(ptrs, N, W, H, 2, 1, 7, &s, &sw, &sh));
    CHECK(sw == 2 * W + 3 && sh == 3 * H + 4);
    if (s) {
        /* image i at x0 = 1 + (i % 2) * 4, y0 = 1 + (i / 2) * 3 */
        int bad = 0;
        for (int i = 0; i < N; i++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    if (s[(1 + (i / 2) * 3 + y) * sw + 1 + (i % 2) * 4 + x] != im[i][y * W + x]) bad++;
        CHECK(bad == 0);
        CHECK(s[0] == 7 && s[4] == 7 && s[3 * sw + 5] == 7); /* border and gaps */
        CHECK(s[(1 + 2 * 3) * sw + 5] == 7);                 /* the empty sixth cell */
        free(s);
    }
    enum { TW = 64, TH = 48 };
    static uint8_t big[4][TW * TH];
    const uint8_t *bp[4];
    for (int i = 0; i < 4; i++) {
        memset(big[i], 40 + 50 * i, sizeof big[i]);
        bp[i] = big[i];
    }
    CHECK_OK(jpg_contact_sheet(p("sheet.jpg"), bp, 4, TW, TH, 2, 4, 0, 90));
    uint8_t *px = NULL;
    int w, h;
    CHECK_OK(jpg_read_gray(p("sheet.jpg"), &px, &w, &h));
    CHECK(w == 2 * TW + 3 * 4 && h == 2 * TH + 3 * 4);
    if (px) {
        CHECK_NEAR(px[(4 + TH / 2) * w + 4 + TW / 2], 40, 2);
        CHECK_NEAR(px[(8 + TH + TH / 2) * w + 8 + TW + TW / 2], 190, 2);
        free(px);
    }
    CHECK(jpg_tile_gray(ptrs, 0, W, H, 2, 1, 0, &s, &sw, &sh) == H19_EARG);
}

int main(void)
{
    const char *b = getenv("HUST19_BUILD");
    snprintf(g_dir, sizeof g_dir, "%s/scratch/jpg", b ? b : ".");
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", g_dir, g_dir);
    if (system(cmd) != 0) TEST_SKIP("cannot make scratch directory");
    test_round_trip();
    test_colour();
    test_errors();
    test_sheet();
    CHECK_DONE();
}
