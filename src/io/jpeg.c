/* jpeg.c — grey JPEG read/write through the TurboJPEG API (libjpeg-turbo 2.x), contact sheets.
 * See include/hust19/jpeg.h. */
#include "hust19/jpeg.h"
#include "hust19/err.h"
#include "hust19/job.h"

#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* Refuse absurd dimensions before allocating (a hostile header can claim 65535 x 65535). */
#define JPG_MAX_PIXELS (1LL << 28)

int jpg_encode_gray(const uint8_t *px, int w, int h, int quality, uint8_t **buf, size_t *len)
{
    if (buf) *buf = NULL;
    if (len) *len = 0;
    if (!px || !buf || !len || w <= 0 || h <= 0 || (long long)w * h > JPG_MAX_PIXELS)
        return h19_fail(H19_EARG, "jpg_encode_gray: bad arguments (%d x %d)", w, h);
    if (quality < 1 || quality > 100) return h19_fail(H19_EARG, "jpg_encode_gray: quality %d not in 1..100", quality);
    tjhandle t = tjInitCompress();
    if (!t) return h19_fail(H19_ENOMEM, "TurboJPEG: cannot initialise the compressor: %s", tjGetErrorStr2(NULL));
    unsigned char *jb = NULL;
    unsigned long jn = 0;
    /* TurboJPEG does not write through the source pointer; its API is not const-correct. */
    int rc = tjCompress2(t, (unsigned char *)(uintptr_t)px, w, w, h, TJPF_GRAY, &jb, &jn, TJSAMP_GRAY, quality,
                         TJFLAG_ACCURATEDCT);
    if (rc != 0) {
        int e = h19_fail(H19_EFORMAT, "TurboJPEG: cannot encode %d x %d: %s", w, h, tjGetErrorStr2(t));
        tjFree(jb);
        tjDestroy(t);
        return e;
    }
    tjDestroy(t);
    uint8_t *copy = h19_malloc(jn);
    if (!copy) {
        tjFree(jb);
        return H19_ENOMEM;
    }
    memcpy(copy, jb, jn);
    tjFree(jb);
    *buf = copy;
    *len = jn;
    return H19_OK;
}

int jpg_write_gray(const char *path, const uint8_t *px, int w, int h, int quality)
{
    if (!path) return h19_fail(H19_EARG, "jpg_write_gray: NULL path");
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = jpg_encode_gray(px, w, h, quality, &b, &n);
    if (rc) return h19_fail_ctx(rc, "%s", path);
    rc = h19_write_atomic(path, b, n);
    free(b);
    return rc;
}

int jpg_decode_gray(const uint8_t *buf, size_t len, const char *name, uint8_t **px, int *w, int *h)
{
    if (px) *px = NULL;
    if (!name) name = "(memory)";
    if (!buf || !px || !w || !h) return h19_fail(H19_EARG, "jpg_decode_gray: NULL argument");
    if (len < 4 || buf[0] != 0xFF || buf[1] != 0xD8)
        return h19_fail(H19_EFORMAT, "%s: not a JPEG file (no SOI marker)", name);
    tjhandle t = tjInitDecompress();
    if (!t) return h19_fail(H19_ENOMEM, "TurboJPEG: cannot initialise the decompressor: %s", tjGetErrorStr2(NULL));
    int ww = 0, hh = 0, sub = 0, cs = 0;
    if (tjDecompressHeader3(t, buf, (unsigned long)len, &ww, &hh, &sub, &cs) != 0) {
        int e = h19_fail(H19_EFORMAT, "%s: invalid JPEG header: %s", name, tjGetErrorStr2(t));
        tjDestroy(t);
        return e;
    }
    if (ww <= 0 || hh <= 0 || (long long)ww * hh > JPG_MAX_PIXELS) {
        tjDestroy(t);
        return h19_fail(H19_EFORMAT, "%s: implausible JPEG size %d x %d", name, ww, hh);
    }
    if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
        tjDestroy(t);
        return h19_fail(H19_EUNSUP, "%s: CMYK/YCCK JPEG cannot be converted to grey", name);
    }
    uint8_t *out = h19_malloc((size_t)ww * (size_t)hh);
    if (!out) {
        tjDestroy(t);
        return H19_ENOMEM;
    }
    /* STOPONWARNING: a truncated file ("premature end of data") is an error, not grey padding. */
    if (tjDecompress2(t, buf, (unsigned long)len, out, ww, ww, hh, TJPF_GRAY,
                      TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING) != 0) {
        int e = h19_fail(H19_EFORMAT, "%s: corrupt or truncated JPEG data: %s", name, tjGetErrorStr2(t));
        free(out);
        tjDestroy(t);
        return e;
    }
    tjDestroy(t);
    *px = out;
    *w = ww;
    *h = hh;
    return H19_OK;
}

int jpg_read_gray(const char *path, uint8_t **px, int *w, int *h)
{
    if (px) *px = NULL;
    if (!path) return h19_fail(H19_EARG, "jpg_read_gray: NULL path");
    char *data = NULL;
    size_t n = 0;
    H19_TRY(h19_read_file(path, &data, &n));
    int rc = jpg_decode_gray((const uint8_t *)data, n, path, px, w, h);
    free(data);
    return rc;
}

int jpg_tile_gray(const uint8_t *const *imgs, int n, int w, int h, int ncols, int gap, uint8_t background,
                  uint8_t **out, int *ow, int *oh)
{
    if (out) *out = NULL;
    if (!imgs || !out || !ow || !oh || n <= 0 || w <= 0 || h <= 0 || ncols <= 0 || gap < 0)
        return h19_fail(H19_EARG, "jpg_tile_gray: bad arguments (n %d, %d x %d, %d columns, gap %d)", n, w, h,
                        ncols, gap);
    if (ncols > n) ncols = n;
    int nrows = (n + ncols - 1) / ncols;
    long long W = (long long)ncols * w + (long long)(ncols + 1) * gap;
    long long H = (long long)nrows * h + (long long)(nrows + 1) * gap;
    if (W * H > JPG_MAX_PIXELS || W > 65500 || H > 65500) /* 65500: JPEG's dimension limit */
        return h19_fail(H19_EARG, "jpg_tile_gray: sheet of %lld x %lld is too large", W, H);
    uint8_t *s = h19_malloc((size_t)(W * H));
    if (!s) return H19_ENOMEM;
    memset(s, background, (size_t)(W * H));
    for (int i = 0; i < n; i++) {
        if (!imgs[i]) {
            free(s);
            return h19_fail(H19_EARG, "jpg_tile_gray: image %d is NULL", i);
        }
        long long x0 = gap + (long long)(i % ncols) * (w + gap), y0 = gap + (long long)(i / ncols) * (h + gap);
        for (int y = 0; y < h; y++) memcpy(s + (y0 + y) * W + x0, imgs[i] + (size_t)y * w, (size_t)w);
    }
    *out = s;
    *ow = (int)W;
    *oh = (int)H;
    return H19_OK;
}

int jpg_contact_sheet(const char *path, const uint8_t *const *imgs, int n, int w, int h, int ncols, int gap,
                      uint8_t background, int quality)
{
    uint8_t *s = NULL;
    int W = 0, H = 0;
    H19_TRY(jpg_tile_gray(imgs, n, w, h, ncols, gap, background, &s, &W, &H));
    int rc = jpg_write_gray(path, s, W, H, quality);
    free(s);
    return rc;
}
