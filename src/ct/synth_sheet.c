/* synth_sheet.c — JPEG output and the contact sheet of example phantom slices. */
#include "hust19/err.h"
#include "hust19/synth.h"
#include "hust19/job.h"
#include "hust19/log.h"
#include "synth_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

/* ---- shared helpers --------------------------------------------------------------------------- */

/* The project's atomic write and mkdir -p (include/hust19/job.h), under synth's names. */
int ct_synth_atomic_write(const char *path, const void *data, size_t n) { return h19_write_atomic(path, data, n); }

int ct_synth_mkdirs(const char *path) { return h19_mkdir_p(path); }

void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)k < sizeof small) {
        sb_put(b, small, (size_t)k);
        return;
    }
    char *big = malloc((size_t)k + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)k);
    free(big);
}

void sb_free(sbuf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* ---- JPEG ------------------------------------------------------------------------------------- */

int ct_synth_write_jpeg(const char *path, const uint8_t *gray, int width, int height, int quality)
{
    if (width <= 0 || height <= 0 || quality < 1 || quality > 100)
        return h19_fail(H19_EARG, "%s: bad JPEG size %dx%d or quality %d", path, width, height, quality);
    tjhandle tj = tjInitCompress();
    if (!tj) return h19_fail(H19_EIO, "%s: tjInitCompress failed: %s", path, tjGetErrorStr());
    unsigned char *jpg = NULL;
    unsigned long len = 0;
    int rc = tjCompress2(tj, gray, width, 0, height, TJPF_GRAY, &jpg, &len, TJSAMP_GRAY, quality,
                         TJFLAG_ACCURATEDCT);
    if (rc != 0) {
        rc = h19_fail(H19_EIO, "%s: JPEG encoding failed: %s", path, tjGetErrorStr2(tj));
    } else {
        rc = ct_synth_atomic_write(path, jpg, len);
    }
    tjFree(jpg);
    tjDestroy(tj);
    return rc;
}

/* ---- contact sheet ---------------------------------------------------------------------------- */

/* Render every slice of a patient and keep the one maximising score (lesion, CAP or lung area,
 * or a NiCT end), downsampled by box averaging into a tile. */
typedef enum { PICK_TOP, PICK_BOTTOM, PICK_LUNG, PICK_LESION, PICK_CAP } pick_kind;

static int render_pick(const ct_synth_params *prm, uint64_t seed, uint32_t key, int cls, int nslices,
                       pick_kind pick, int tile, uint8_t *out, int *chosen, ct_synth_slice_info *ci)
{
    ct_synth_patient *p;
    H19_TRY(ct_synth_patient_make(prm, seed, key, cls, 0, nslices, &p));
    int S = prm->size;
    int16_t *hu = h19_malloc(sizeof *hu * (size_t)S * S);
    if (!hu) {
        ct_synth_patient_free(p);
        return H19_ENOMEM;
    }
    int best = -1;
    double best_score = -1;
    ct_synth_slice_info info;
    int rc = H19_OK;
    for (int k = 0; k < nslices && !rc; k++) {
        if (pick == PICK_TOP && k != 1) continue;
        if (pick == PICK_BOTTOM && k != nslices - 2) continue;
        rc = ct_synth_render(p, k, hu, &info);
        if (rc) break;
        double score = pick == PICK_LESION ? info.lesion_mm2 * (info.label == CT_SYNTH_PCT)
                       : pick == PICK_CAP  ? (double)info.cap_px
                       : pick == PICK_LUNG ? info.lung_mm2 * (k > nslices / 2) /* lower half */
                                           : 1;
        if (score > best_score) best_score = score, best = k, *ci = info;
    }
    if (!rc && best >= 0) {
        rc = ct_synth_render(p, best, hu, &info);
        if (!rc) {
            /* lung window, then box-average S×S down to tile×tile */
            uint8_t *u8 = h19_malloc((size_t)S * S);
            if (!u8) rc = H19_ENOMEM;
            else {
                ct_synth_lung_window(hu, (size_t)S * S, u8);
                for (int i = 0; i < tile; i++)
                    for (int j = 0; j < tile; j++) {
                        int a0 = i * S / tile, a1 = (i + 1) * S / tile, b0 = j * S / tile, b1 = (j + 1) * S / tile;
                        long sum = 0, cnt = 0;
                        for (int a = a0; a < a1; a++)
                            for (int b = b0; b < b1; b++) sum += u8[(size_t)a * S + b], cnt++;
                        out[(size_t)i * tile + j] = (uint8_t)((sum + cnt / 2) / (cnt ? cnt : 1));
                    }
                free(u8);
            }
        }
    }
    *chosen = best;
    free(hu);
    ct_synth_patient_free(p);
    return rc;
}

int ct_synth_contact_sheet(const ct_synth_params *prm, uint64_t seed, int nslices, int tile,
                           const char *path)
{
    if (tile < 32 || tile > 1024 || nslices < 8)
        return h19_fail(H19_EARG, "contact sheet: tile %d must be in [32, 1024] and slices %d >= 8", tile,
                        nslices);
    /* six tiles, 3 × 2: NiCT (above the apex), NiCT (below the bases), nCT control,
     * pCT type I, pCT type II, CAP consolidation (nCT) */
    static const struct {
        int cls;
        pick_kind pick;
        uint32_t key;
    } tiles[6] = {{CT_SYNTH_CONTROL, PICK_TOP, 1},   {CT_SYNTH_CONTROL, PICK_BOTTOM, 1},
                  {CT_SYNTH_CONTROL, PICK_LUNG, 1},  {CT_SYNTH_TYPE1, PICK_LESION, 2},
                  {CT_SYNTH_TYPE2, PICK_LESION, 3},  {CT_SYNTH_CAP, PICK_CAP, 4}};
    int W = 3 * tile, H = 2 * tile;
    uint8_t *sheet = h19_calloc((size_t)W * H, 1);
    uint8_t *t = h19_malloc((size_t)tile * tile);
    if (!sheet || !t) {
        free(sheet);
        free(t);
        return H19_ENOMEM;
    }
    int rc = H19_OK;
    for (int k = 0; k < 6 && !rc; k++) {
        int chosen = -1;
        ct_synth_slice_info info;
        memset(&info, 0, sizeof info);
        rc = render_pick(prm, seed, tiles[k].key, tiles[k].cls, nslices, tiles[k].pick, tile, t, &chosen, &info);
        if (rc) break;
        int r0 = (k / 3) * tile, c0 = (k % 3) * tile;
        for (int i = 0; i < tile; i++) memcpy(sheet + (size_t)(r0 + i) * W + c0, t + (size_t)i * tile, (size_t)tile);
        LOG_INFO("contact sheet tile %d: class %s slice %d/%d label %s lung %.0f mm2 lesion %.0f mm2", k,
                ct_synth_class_name(tiles[k].cls), chosen, nslices, ct_synth_label_name(info.label),
                info.lung_mm2, info.lesion_mm2);
    }
    if (!rc) rc = ct_synth_write_jpeg(path, sheet, W, H, 85);
    free(sheet);
    free(t);
    return rc;
}
