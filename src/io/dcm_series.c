/* dcm_series.c — windowing HU to 8 bits and ordering the slices of a series (include/hust19/dicom.h).
 *
 * Slice order follows the usual geometric rule (PS3.3 C.7.6.2.1.1, Image Plane Module): the slice
 * normal is the cross product of the row and column direction cosines of ImageOrientationPatient,
 * and a slice's location along the stack is the projection of ImagePositionPatient on that normal.
 * SliceLocation (0020,1041) is not used: it is optional and vendors disagree on its sign.
 */
#include "hust19/dicom.h"
#include "hust19/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dcm_window_u8(const float *hu, int n, double center, double width, uint8_t *out)
{
    /* Linear window: [center - width/2, center + width/2] -> [0, 255]. */
    double lo = center - width / 2.0;
    double scale = width > 0 ? 255.0 / width : 0.0;
    for (int i = 0; i < n; i++) {
        double v = ((double)hu[i] - lo) * scale;
        if (!(v > 0)) v = 0; /* also maps NaN to 0 */
        if (v > 255) v = 255;
        out[i] = (uint8_t)lrint(v);
    }
}

typedef struct {
    double key;
    int idx;
} sort_key;

static int cmp_key(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    if (x->key < y->key) return -1;
    if (x->key > y->key) return 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Direction cosines and spacings are written with limited precision (DS is at most 16 chars), so
 * equality is within a tolerance. */
#define ORIENT_TOL 1e-4
#define SPACING_TOL 1e-4  /* relative */
#define POSITION_TOL 1e-3 /* mm: two slices closer than this are duplicates */

int dcm_series_order(const dcm_ct_meta *metas, int n, int *order, double *spacing_out)
{
    if (spacing_out) *spacing_out = 0;
    if (n < 0 || (n > 0 && (!metas || !order)))
        return h19_fail(H19_EARG, "dcm_series_order: bad arguments (n = %d)", n);
    if (n == 0) return H19_OK;
    const dcm_ct_meta *m0 = &metas[0];
    int geometric = 1, by_instance = 1;
    for (int i = 0; i < n; i++) {
        const dcm_ct_meta *m = &metas[i];
        if (m->rows != m0->rows || m->cols != m0->cols)
            return h19_fail(H19_EFORMAT, "series geometry: slice %d is %dx%d, slice 0 is %dx%d", i, m->rows,
                            m->cols, m0->rows, m0->cols);
        for (int k = 0; k < 2; k++)
            if (fabs(m->pixel_spacing[k] - m0->pixel_spacing[k]) >
                SPACING_TOL * fmax(fabs(m0->pixel_spacing[k]), 1.0))
                return h19_fail(H19_EFORMAT, "series geometry: slice %d pixel spacing %g\\%g, slice 0 %g\\%g", i,
                                m->pixel_spacing[0], m->pixel_spacing[1], m0->pixel_spacing[0],
                                m0->pixel_spacing[1]);
        if (m->has_orientation && m0->has_orientation)
            for (int k = 0; k < 6; k++)
                if (fabs(m->orientation[k] - m0->orientation[k]) > ORIENT_TOL)
                    return h19_fail(H19_EFORMAT,
                                    "series geometry: slice %d orientation differs from slice 0 (component %d: %g vs %g)",
                                    i, k, m->orientation[k], m0->orientation[k]);
        if (!m->has_position || !m->has_orientation) geometric = 0;
        if (!m->has_instance_number) by_instance = 0;
    }
    sort_key *keys = h19_malloc((size_t)n * sizeof *keys);
    if (!keys) return H19_ENOMEM;
    double nrm[3] = {0, 0, 0};
    if (geometric) {
        const double *r = m0->orientation, *c = m0->orientation + 3;
        nrm[0] = r[1] * c[2] - r[2] * c[1];
        nrm[1] = r[2] * c[0] - r[0] * c[2];
        nrm[2] = r[0] * c[1] - r[1] * c[0];
        double len = sqrt(nrm[0] * nrm[0] + nrm[1] * nrm[1] + nrm[2] * nrm[2]);
        if (!(len > 0.5)) {
            free(keys);
            return h19_fail(H19_EFORMAT, "series geometry: ImageOrientationPatient row and column vectors are parallel or zero");
        }
        for (int k = 0; k < 3; k++) nrm[k] /= len;
    } else if (!by_instance) {
        free(keys);
        return h19_fail(H19_EFORMAT, "series: cannot order slices: neither ImagePositionPatient+ImageOrientationPatient "
                                     "nor InstanceNumber present in every slice");
    }
    for (int i = 0; i < n; i++) {
        const dcm_ct_meta *m = &metas[i];
        keys[i].idx = i;
        keys[i].key = geometric ? m->position[0] * nrm[0] + m->position[1] * nrm[1] + m->position[2] * nrm[2]
                                : (double)m->instance_number;
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_key);
    for (int i = 1; i < n; i++)
        if (keys[i].key - keys[i - 1].key < (geometric ? POSITION_TOL : 0.5)) {
            int a = keys[i - 1].idx, b = keys[i].idx;
            free(keys);
            return h19_fail(H19_EFORMAT, "series: slices %d and %d have the same %s", a, b,
                            geometric ? "position along the slice normal" : "InstanceNumber");
        }
    for (int i = 0; i < n; i++) order[i] = keys[i].idx;
    if (spacing_out && n >= 2) {
        if (geometric) {
            double *gaps = h19_malloc((size_t)(n - 1) * sizeof *gaps);
            if (!gaps) {
                free(keys);
                return H19_ENOMEM;
            }
            for (int i = 1; i < n; i++) gaps[i - 1] = keys[i].key - keys[i - 1].key;
            qsort(gaps, (size_t)(n - 1), sizeof *gaps, cmp_double);
            *spacing_out = (n - 1) % 2 ? gaps[(n - 1) / 2] : 0.5 * (gaps[(n - 1) / 2 - 1] + gaps[(n - 1) / 2]);
            free(gaps);
        } else {
            /* Without positions the gap is unknown; the slice thickness is the best guess. */
            *spacing_out = m0->slice_thickness;
        }
    }
    free(keys);
    return H19_OK;
}

int dcm_read_series(const char *const *paths, int n, dcm_ct_meta *metas, int *order, float **volume,
                    double *gap)
{
    if (volume) *volume = NULL;
    if (n <= 0 || !paths || !metas || !order || !volume)
        return h19_fail(H19_EARG, "dcm_read_series: bad arguments (n = %d)", n);
    /* Metadata first: a series with inconsistent geometry fails before any pixel is decoded. */
    for (int i = 0; i < n; i++) {
        H19_TRY(dcm_read_ct(paths[i], &metas[i], NULL));
        if (strcmp(metas[i].series_uid, metas[0].series_uid) != 0)
            return h19_fail(H19_EFORMAT, "%s and %s: different SeriesInstanceUID (%s vs %s)", paths[0], paths[i],
                            metas[0].series_uid, metas[i].series_uid);
    }
    int rc = dcm_series_order(metas, n, order, gap);
    if (rc) return h19_fail_ctx(rc, "series of %s (%d files)", paths[0], n);
    size_t plane = (size_t)metas[0].rows * (size_t)metas[0].cols;
    float *vol = h19_malloc(plane * (size_t)n * sizeof *vol);
    if (!vol) return H19_ENOMEM;
    for (int k = 0; k < n; k++) {
        const char *path = paths[order[k]];
        dcm_ct_meta m;
        float *hu = NULL;
        rc = dcm_read_ct(path, &m, &hu);
        if (!rc && (m.rows != metas[0].rows || m.cols != metas[0].cols))
            rc = h19_fail(H19_EFORMAT, "%s: changed while reading (now %dx%d)", path, m.rows, m.cols);
        if (rc) {
            free(hu);
            free(vol);
            return rc;
        }
        memcpy(vol + plane * (size_t)k, hu, plane * sizeof *vol);
        free(hu);
    }
    *volume = vol;
    return H19_OK;
}
