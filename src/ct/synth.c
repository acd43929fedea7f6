/* synth.c — the chest CT phantom (see include/hust19/synth.h).
 *
 * A slice is drawn in three passes on a float image:
 *   1. anatomy, pixel by pixel in the patient's body frame (rotated and shifted per patient):
 *      air, couch, skin, subcutaneous fat, muscle, ribs/costal cartilage, sternum, spine, then
 *      inside the thoracic cavity the mediastinum (heart, aorta, pulmonary trunk, trachea or main
 *      bronchi, oesophagus, fat), the lungs, and below the diaphragm domes liver, stomach, spleen;
 *   2. lesions and vessels over their bounding boxes, only where pass 1 marked lung: ground glass
 *      first, then vessels (they stay visible through GGO, a hallmark of GGO), then consolidation
 *      (it hides vessels but keeps air bronchograms);
 *   3. white Gaussian noise added, then one separable [1 2 1]/4 blur of the whole image, which
 *      gives the grain of reconstructed CT noise and a little partial-volume softening of edges.
 * Attenuations are textbook values (air −1000, fat −100, soft tissue 30–60, lung −850, bone
 * cortex 700–900); lesion HU ranges follow the radiology literature on COVID-19 pneumonia (GGO
 * −700…−300 HU, consolidation 0…50 HU).
 */
#include "hust19/synth.h"
#include "hust19/ct.h"
#include "hust19/dicom.h"
#include "hust19/err.h"
#include "hust19/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Sub-streams of H19_RNG_SYNTH (the rng "repeat" field); the patient key is "fold", the slice
 * "epoch". Append only: changing them changes every archive. */
enum { ST_ANATOMY = 1, ST_LESION = 2, ST_VESSEL = 3, ST_NOISE = 4 };

enum { LES_GGO = 0, LES_CAP = 1, LES_GRANULOMA = 2 };

typedef struct {
    double a[3], b[3]; /* end points (body frame x, y; z) mm */
    double r;          /* radius mm */
} vseg;

typedef struct {
    double c[3];        /* centre */
    double rx, ry, rz;  /* semi-axes */
    double cs, sn;      /* in-plane rotation of the rx axis */
    double hu, hu_core; /* rim (GGO) and core HU; core used where q < core */
    double core;        /* 0 = no core; else normalised radius of the consolidation core */
    double paving;      /* crazy-paving septal contrast HU (0 = none) */
    double edge;        /* soft edge width (normalised) */
    int kind;
    uint64_t tex;       /* texture hash key */
} lesion;

struct ct_synth_patient {
    ct_synth_params prm;
    uint64_t seed;
    uint32_t key;
    int cls, critical, nslices;
    double px, dz, z_top, length; /* pixel spacing, slice spacing, z of slice 0, coverage */
    /* body frame */
    double rot_c, rot_s, shift_x, shift_y;
    double body_a, body_ba, body_bp; /* lateral, anterior, posterior semi-axes */
    double fat, muscle, rib_t;       /* wall layers mm */
    double rib_phase, rib_pitch;
    double t_apex, t_base;           /* normalised z (0 top .. 1 bottom) of lung apex and base */
    double lung_scale_x, lung_scale_y;
    double heart_scale, vb_r;
    double dependent;                /* dependent-atelectasis band (mm, 0 = none) */
    double fissure_z[2];             /* z where each oblique fissure crosses y = 0 */
    double noise;
    int nseg;
    vseg *seg;
    int nles, nles_main;
    lesion *les;
};

/* ---- small helpers ---------------------------------------------------------------------------- */

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }
static double smooth01(double e) /* smoothstep on [0,1] */
{
    e = clampd(e, 0, 1);
    return e * e * (3 - 2 * e);
}
static double unif(h19_rng *r, double lo, double hi) { return lo + (hi - lo) * h19_rng_uniform(r); }
static int unif_int(h19_rng *r, int lo, int hi)
{
    return hi <= lo ? lo : lo + (int)h19_rng_below(r, (uint32_t)(hi - lo + 1));
}

/* Value noise in [0,1): trilinear interpolation of hashed lattice values (lattice `cell` mm).
 * Deterministic in (key, position), so lesion texture is continuous across slices. */
static double hash01(uint64_t key, long i, long j, long k)
{
    uint64_t h = h19_mix64(key ^ h19_mix64((uint64_t)i * 0x9E3779B97F4A7C15ull ^
                                           h19_mix64((uint64_t)j * 0xC2B2AE3D27D4EB4Full ^
                                                     (uint64_t)k * 0x165667B19E3779F9ull)));
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}
static double value_noise(uint64_t key, double x, double y, double z, double cell)
{
    x /= cell, y /= cell, z /= cell;
    double fx = floor(x), fy = floor(y), fz = floor(z);
    long i = (long)fx, j = (long)fy, k = (long)fz;
    double u = smooth01(x - fx), v = smooth01(y - fy), w = smooth01(z - fz);
    double c00 = hash01(key, i, j, k) * (1 - u) + hash01(key, i + 1, j, k) * u;
    double c10 = hash01(key, i, j + 1, k) * (1 - u) + hash01(key, i + 1, j + 1, k) * u;
    double c01 = hash01(key, i, j, k + 1) * (1 - u) + hash01(key, i + 1, j, k + 1) * u;
    double c11 = hash01(key, i, j + 1, k + 1) * (1 - u) + hash01(key, i + 1, j + 1, k + 1) * u;
    return (c00 * (1 - v) + c10 * v) * (1 - w) + (c01 * (1 - v) + c11 * v) * w;
}

/* ---- names ------------------------------------------------------------------------------------ */

static const char *const k_class_names[] = {"control", "cap", "type1", "type2"};
static const char *const k_label_names[] = {"NiCT", "pCT", "nCT", "uncertain"};

const char *ct_synth_class_name(int cls)
{
    return cls >= 0 && cls < CT_SYNTH_NCLASS ? k_class_names[cls] : "?";
}
const char *ct_synth_label_name(int label) { return label >= 0 && label < 4 ? k_label_names[label] : "?"; }
int ct_synth_class_parse(const char *s)
{
    for (int i = 0; i < CT_SYNTH_NCLASS; i++)
        if (!strcmp(s, k_class_names[i])) return i;
    return -1;
}

/* ---- parameters ------------------------------------------------------------------------------- */

void ct_synth_params_default(ct_synth_params *p)
{
    memset(p, 0, sizeof *p);
    p->size = 512;
    p->fov_mm = 358.4; /* 0.7 mm pixels at 512, a typical adult chest reconstruction */
    p->noise_min = 15;
    p->noise_max = 25;
    p->nict_lung_mm2 = 300;  /* ~ a 2 cm disc: below it the slice shows no usable lung */
    p->pct_lesion_mm2 = 30;  /* ~ a 6 mm opacity: the smallest a reader would mark */
    p->lesion_hu = 100;      /* a lesion pixel: raised >= 100 HU (4-7 noise SDs, 17 grey levels) */
    p->faint_hu = 30;        /* nCT only if no COVID lesion raises any lung pixel by this much */
    /* Lung involvement as CT severity scoring reports it (percentage of lung volume opacified;
     * Pan et al., Radiology 2020; Chinese guideline v7: severe = > 50% progression in 24-48 h):
     * mild/regular a few percent, severe/critical a third or more. The previous defaults (type I
     * 2-5 lesions of 10-24 mm, type II 7-14 of 16-38 mm) opacified only ~1% and ~12% once the
     * subpleural ellipsoids were clipped by the pleura, too little for a CNN on ~70 demo patients
     * to tell the classes apart (docs/synth.md). */
    /* Type I (mild/regular): a few peripheral GGOs, ~3-4% of the lung (demo archive). */
    p->type1 = (ct_synth_lesion_params){3, 8, 14, 32, -650, -400, 0.1, 0.05};
    /* Type II (severe/critical): many, larger, denser, bilateral and confluent, often with
     * consolidation and paving: ~30% of the lung. */
    p->type2 = (ct_synth_lesion_params){14, 26, 22, 46, -520, -260, 0.6, 0.4};
    /* CAP: one or two lobar/segmental consolidations in one lung. */
    p->cap = (ct_synth_lesion_params){1, 2, 40, 65, 10, 40, 1.0, 0.0};
    /* Critically ill (the worse half of type II): CT severity scores are higher in critical than
     * in severe disease and predict death (Francone et al., Eur Radiol 2020; Yang et al.,
     * Radiol Cardiothorac Imaging 2020): more and larger lesions, mostly consolidated. */
    p->critical = (ct_synth_lesion_params){22, 34, 26, 52, -480, -220, 0.85, 0.5};
    p->control_minor = 0.3;
}

static int check_lp(const char *name, const ct_synth_lesion_params *l)
{
    if (l->count_min < 0 || l->count_max < l->count_min || l->count_max > 200)
        return h19_fail(H19_EARG, "synth lesions.%s: count [%d, %d] must satisfy 0 <= min <= max <= 200",
                        name, l->count_min, l->count_max);
    if (!(l->radius_min > 0 && l->radius_max >= l->radius_min && l->radius_max <= 150))
        return h19_fail(H19_EARG, "synth lesions.%s: radius_mm [%g, %g] must satisfy 0 < min <= max <= 150",
                        name, l->radius_min, l->radius_max);
    if (!(l->hu_min >= -1000 && l->hu_max >= l->hu_min && l->hu_max <= 200))
        return h19_fail(H19_EARG, "synth lesions.%s: hu [%g, %g] must satisfy -1000 <= min <= max <= 200",
                        name, l->hu_min, l->hu_max);
    if (!(l->consolidation >= 0 && l->consolidation <= 1 && l->crazy_paving >= 0 && l->crazy_paving <= 1))
        return h19_fail(H19_EARG, "synth lesions.%s: consolidation and crazy_paving are probabilities in [0, 1]",
                        name);
    return H19_OK;
}

int ct_synth_params_check(const ct_synth_params *p)
{
    if (p->size < 64 || p->size > 2048)
        return h19_fail(H19_EARG, "synth image_size %d is out of range [64, 2048]", p->size);
    if (!(p->fov_mm >= 200 && p->fov_mm <= 600))
        return h19_fail(H19_EARG, "synth fov_mm %g is out of range [200, 600]", p->fov_mm);
    if (!(p->noise_min >= 0 && p->noise_max >= p->noise_min && p->noise_max <= 200))
        return h19_fail(H19_EARG, "synth noise_hu [%g, %g] must satisfy 0 <= min <= max <= 200",
                        p->noise_min, p->noise_max);
    if (!(p->nict_lung_mm2 >= 0 && p->pct_lesion_mm2 >= 0))
        return h19_fail(H19_EARG, "synth thresholds must be >= 0");
    if (!(p->faint_hu > 0 && p->lesion_hu >= p->faint_hu && p->lesion_hu <= 2000))
        return h19_fail(H19_EARG, "synth thresholds: need 0 < faint_hu (%g) <= lesion_hu (%g) <= 2000",
                        p->faint_hu, p->lesion_hu);
    if (!(p->control_minor >= 0 && p->control_minor <= 1))
        return h19_fail(H19_EARG, "synth control_minor %g is not a probability", p->control_minor);
    H19_TRY(check_lp("type1", &p->type1));
    H19_TRY(check_lp("type2", &p->type2));
    H19_TRY(check_lp("cap", &p->cap));
    H19_TRY(check_lp("critical", &p->critical));
    return H19_OK;
}

/* ---- per-slice geometry ----------------------------------------------------------------------- */

typedef struct {
    double t, z;
    double lung_cx[2], lung_cy[2], lung_ax[2], lung_ay[2];
    int lung_on[2];
    double heart_s, heart_cx, heart_cy, heart_ax, heart_ay;
    double vb_y, vb_r, canal_y, canal_r;
    double trachea_y;
    int trachea, bronchi, asc_aorta, arch, pulm_trunk, desc_aorta, great_vessels, sternum;
    double bronchi_dx;
    double liver_x;  /* liver where x < liver_x (−inf: none) */
    int stomach, spleen;
    double disc;     /* 1 at an intervertebral disc level */
} sgeom;

/* Lung cross-section scale along the lung's own normalised height u (0 apex .. 1 base): a rounded
 * apex, widest at u ~ 0.55, then the diaphragm dome closes it from below and in front. */
static double lung_profile(double u)
{
    if (u <= 0 || u >= 1) return 0;
    if (u < 0.55) return pow(u / 0.55, 0.55);
    return pow((1 - u) / 0.45, 0.4);
}

static void slice_geom(const ct_synth_patient *p, double z, sgeom *g)
{
    memset(g, 0, sizeof *g);
    g->z = z;
    g->t = (p->z_top - z) / p->length;
    double t = g->t;
    double span = p->t_base - p->t_apex;
    double cav_a = p->body_a - p->fat - p->muscle - p->rib_t;
    double cav_b = p->body_ba - p->fat - p->muscle - p->rib_t;
    for (int s = 0; s < 2; s++) {
        /* the right dome (liver) sits higher than the left: the right lung ends ~4% earlier */
        double base = s == 0 ? p->t_base - 0.04 * span : p->t_base;
        double u = (t - p->t_apex) / (base - p->t_apex);
        double sc = lung_profile(u);
        g->lung_on[s] = sc > 0.02;
        double sign = s == 0 ? -1 : 1;
        double ax0 = 0.5 * (cav_a - 18) * p->lung_scale_x * 1.25;
        double ay0 = cav_b * p->lung_scale_y * 1.25;
        /* below the widest level the lung retreats backwards (lower lobes are posterior) */
        double back = u > 0.55 ? (u - 0.55) / 0.45 : 0;
        double apex_in = u < 0.3 ? (0.3 - u) / 0.3 : 0; /* apices sit medial and posterior */
        g->lung_cx[s] = sign * (18 + 0.5 * (cav_a - 18)) * (1 - 0.25 * apex_in);
        g->lung_cy[s] = 0.05 * cav_b + back * 0.75 * ay0 + apex_in * 0.25 * cav_b;
        g->lung_ax[s] = ax0 * sc * (1 - 0.25 * back);
        g->lung_ay[s] = ay0 * sc;
    }
    double u = (t - p->t_apex) / span;
    g->vb_r = p->vb_r;
    g->vb_y = p->body_bp - p->fat - 58 - p->vb_r;
    g->canal_r = 7.5;
    g->canal_y = g->vb_y + p->vb_r + 9;
    g->trachea_y = g->vb_y - p->vb_r - 14;
    g->disc = fmod(fabs(z) + 1000.0 * 27.0, 27.0) < 5.0; /* ~27 mm vertebral pitch, 5 mm discs */
    g->trachea = u < 0.36;
    g->bronchi = u >= 0.36 && u < 0.48;
    g->bronchi_dx = 8 + 120 * (u - 0.36);
    g->great_vessels = u > -0.05 && u < 0.27;
    g->arch = u >= 0.27 && u < 0.34;
    g->asc_aorta = u >= 0.34 && u < 0.6;
    g->pulm_trunk = u >= 0.37 && u < 0.5;
    g->desc_aorta = u >= 0.3;
    g->sternum = u > 0.05 && u < 0.85;
    double hs = u > 0.42 && u < 1.08 ? sin(M_PI * (u - 0.42) / 0.66) : 0;
    g->heart_s = hs > 0 ? pow(hs, 0.5) * p->heart_scale : 0;
    g->heart_cx = 0.12 * cav_a;
    g->heart_cy = -0.22 * cav_b;
    g->heart_ax = 0.42 * cav_a * g->heart_s;
    g->heart_ay = 0.52 * cav_b * g->heart_s;
    g->liver_x = u > 0.68 ? -0.9 * cav_a + (cav_a * 1.1) * clampd((u - 0.68) / 0.4, 0, 1) : -1e9;
    g->stomach = u > 0.88;
    g->spleen = u > 0.93;
}

/* Which lung (0 right, 1 left) contains body-frame point (x, y), or -1. Also used to keep vessels
 * and lesions inside the lungs when they are drawn. */
static int lung_at(const ct_synth_patient *p, const sgeom *g, double x, double y)
{
    int s = x < 0 ? 0 : 1;
    if (!g->lung_on[s]) return -1;
    double dx = (x - g->lung_cx[s]) / g->lung_ax[s], dy = (y - g->lung_cy[s]) / g->lung_ay[s];
    if (dx * dx + dy * dy >= 1) return -1;
    /* inside the thoracic cavity */
    double b = y > 0 ? p->body_bp : p->body_ba;
    double bn = sqrt((x / p->body_a) * (x / p->body_a) + (y / b) * (y / b));
    double rr = bn > 1e-9 ? sqrt(x * x + y * y) / bn : p->body_a;
    double depth = (1 - bn) * rr;
    double wall = p->fat * (1 + 0.25 * (x * x) / (rr * rr + 1e-9)) + p->muscle + p->rib_t;
    if (y > 0) wall += 4 * y / p->body_bp; /* thicker posterior wall */
    if (depth < wall) return -1;
    /* mediastinum: a central band, widest at the heart level */
    double mw = 13 + 6 * (y < 0 ? -y / p->body_ba : 0);
    if (fabs(x) < mw) return -1;
    if (g->heart_s > 0) {
        double hx = (x - g->heart_cx) / (g->heart_ax + 3), hy = (y - g->heart_cy) / (g->heart_ay + 3);
        if (hx * hx + hy * hy < 1) return -1;
    }
    /* spine and paravertebral tissue */
    double sx = x / (g->vb_r + 10), sy = (y - g->vb_y) / (g->vb_r + 8);
    if (sx * sx + sy * sy < 1) return -1;
    /* paraspinal muscles behind the transverse processes; lateral to them the lungs reach back
     * into the costovertebral gutters */
    if (y > g->canal_y - 6 && fabs(x) < 34 + 0.3 * (y - g->canal_y)) return -1;
    if (y > g->vb_y - g->vb_r && fabs(x) < g->vb_r + 7) return -1;
    if (g->desc_aorta) {
        double ax = x - (g->vb_r + 6), ay = y - (g->vb_y - g->vb_r + 2);
        if (ax * ax + ay * ay < 15 * 15) return -1;
    }
    if (g->asc_aorta || g->arch) {
        double ax = x - 4, ay = y - (-0.45 * p->body_ba);
        if (ax * ax + ay * ay < 19 * 19) return -1;
    }
    return s;
}

/* ---- patient ---------------------------------------------------------------------------------- */

static int push_seg(ct_synth_patient *p, int *cap, const double *a, const double *b, double r)
{
    if (p->nseg == *cap) {
        int nc = *cap ? 2 * *cap : 512;
        vseg *ns = h19_realloc(p->seg, sizeof *ns * (size_t)nc);
        if (!ns) return H19_ENOMEM;
        p->seg = ns;
        *cap = nc;
    }
    vseg *s = &p->seg[p->nseg++];
    memcpy(s->a, a, sizeof s->a);
    memcpy(s->b, b, sizeof s->b);
    s->r = r;
    return H19_OK;
}

/* Grow a vessel branch: a segment, then two children turned by 20–45° (a bifurcating tree as
 * in Murray's-law-style vascular models; radii shrink ~0.72 per generation). A branch stops when
 * it leaves the lung. */
static int grow(ct_synth_patient *p, int *cap, h19_rng *r, const double *a, const double *dir0,
                double len, double rad, int depth)
{
    /* If the branch would leave the lung, try a few other directions and a shorter length
     * before giving up: the tree then fills the lung instead of dying at the first wall. */
    double dir[3] = {dir0[0], dir0[1], dir0[2]}, b[3];
    int inside = 0;
    for (int tries = 0; tries < 6 && !inside; tries++) {
        if (tries) {
            double l2 = tries >= 3 ? 0.5 : 1.0;
            for (int i = 0; i < 3; i++) dir[i] = dir0[i] + 0.8 * h19_rng_normal(r);
            double n = sqrt(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
            for (int i = 0; i < 3; i++) dir[i] /= n > 1e-9 ? n : 1;
            len *= l2;
        }
        for (int i = 0; i < 3; i++) b[i] = a[i] + dir[i] * len;
        sgeom g;
        slice_geom(p, b[2], &g);
        inside = lung_at(p, &g, b[0], b[1]) >= 0;
    }
    if (!inside) return H19_OK;
    H19_TRY(push_seg(p, cap, a, b, rad));
    if (depth == 0) return H19_OK;
    for (int c = 0; c < 2; c++) {
        double nd[3];
        double ang = unif(r, 0.35, 0.8) * (c ? 1 : -1);
        /* rotate dir about a random axis perpendicular to it */
        double q[3] = {h19_rng_normal(r), h19_rng_normal(r), h19_rng_normal(r)};
        double dq = q[0] * dir[0] + q[1] * dir[1] + q[2] * dir[2];
        for (int i = 0; i < 3; i++) q[i] -= dq * dir[i];
        double qn = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]);
        if (qn < 1e-9) qn = 1, q[0] = 1;
        for (int i = 0; i < 3; i++) nd[i] = cos(ang) * dir[i] + sin(ang) * q[i] / qn;
        H19_TRY(grow(p, cap, r, b, nd, len * unif(r, 0.72, 0.88), rad * 0.76, depth - 1));
    }
    return H19_OK;
}

static int make_vessels(ct_synth_patient *p)
{
    h19_rng r;
    h19_rng_init(&r, p->seed, H19_RNG_SYNTH, ST_VESSEL, p->key, 0, 0);
    int cap = 0;
    /* three hilar levels per lung (upper, middle, lower lobe arteries), five trunks from each,
     * pointing outwards (lateral bias) and up or down: the tree then fills the whole lung */
    static const double levels[3] = {0.33, 0.45, 0.57};
    for (int s = 0; s < 2; s++) {
        double sign = s ? 1 : -1;
        for (int lv = 0; lv < 3; lv++) {
            double zh = p->z_top - p->length * (p->t_apex + levels[lv] * (p->t_base - p->t_apex));
            sgeom g;
            slice_geom(p, zh, &g);
            if (!g.lung_on[s]) continue;
            double h[3] = {g.lung_cx[s] - sign * 0.4 * g.lung_ax[s], g.lung_cy[s] - 0.1 * g.lung_ay[s], zh};
            for (int k = 0; k < 5; k++) {
                double up = lv == 0 ? 0.8 : lv == 2 ? -0.8 : 0;
                double d[3] = {sign * (0.6 + 0.5 * fabs(h19_rng_normal(&r))), 0.7 * h19_rng_normal(&r),
                               up + 0.7 * h19_rng_normal(&r)};
                double n = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
                for (int i = 0; i < 3; i++) d[i] /= n;
                H19_TRY(grow(p, &cap, &r, h, d, unif(&r, 24, 34), unif(&r, 3.0, 4.2), 6));
            }
        }
    }
    /* peripheral twigs: short thin segments scattered through the lungs, pointing away from the
     * hilum, for the many small vessel dots of a real lung (below the tree's last generation) */
    double zc = p->z_top - p->length * (p->t_apex + 0.45 * (p->t_base - p->t_apex));
    for (int k = 0, tries = 0; k < 1600 && tries < 20000; tries++) {
        double t = p->t_apex + h19_rng_uniform(&r) * (p->t_base - p->t_apex);
        double z = p->z_top - p->length * t;
        double x = unif(&r, -p->body_a, p->body_a), y = unif(&r, -p->body_ba, p->body_bp);
        sgeom g;
        slice_geom(p, z, &g);
        int s = lung_at(p, &g, x, y);
        if (s < 0) continue;
        double hx = g.lung_cx[s] - (s ? 1 : -1) * 0.4 * g.lung_ax[s];
        double d[3] = {x - hx, y - g.lung_cy[s], (z - zc) * 0.6};
        double n = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
        if (n < 1e-6) continue;
        double len = unif(&r, 6, 14);
        for (int i = 0; i < 3; i++) d[i] = d[i] / n + 0.4 * h19_rng_normal(&r);
        n = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
        double a[3] = {x, y, z}, b[3] = {x + len * d[0] / n, y + len * d[1] / n, z + len * d[2] / n};
        H19_TRY(push_seg(p, &cap, a, b, unif(&r, 0.5, 1.1)));
        k++;
    }
    return H19_OK;
}

/* A point near the pleura of lung s at height z: march from the lung centre along angle th until
 * leaving the lung. Returns the distance marched (0 if the lung is absent there). */
static double pleura_point(const ct_synth_patient *p, const sgeom *g, int s, double th, double *px,
                           double *py)
{
    double cx = g->lung_cx[s], cy = g->lung_cy[s];
    if (!g->lung_on[s] || lung_at(p, g, cx, cy) != s) return 0;
    double d = 0;
    for (; d < 300; d += 1.0)
        if (lung_at(p, g, cx + d * cos(th), cy + d * sin(th)) != s) break;
    *px = cx + (d - 1) * cos(th);
    *py = cy + (d - 1) * sin(th);
    return d;
}

static int push_lesion(ct_synth_patient *p, int *cap, const lesion *l)
{
    if (p->nles == *cap) {
        int nc = *cap ? 2 * *cap : 16;
        lesion *nl = h19_realloc(p->les, sizeof *nl * (size_t)nc);
        if (!nl) return H19_ENOMEM;
        p->les = nl;
        *cap = nc;
    }
    p->les[p->nles++] = *l;
    return H19_OK;
}

static int make_lesions(ct_synth_patient *p)
{
    h19_rng r;
    h19_rng_init(&r, p->seed, H19_RNG_SYNTH, ST_LESION, p->key, 0, 0);
    int cap = 0;
    const ct_synth_lesion_params *lp = p->cls == CT_SYNTH_TYPE1   ? &p->prm.type1
                                       : p->cls == CT_SYNTH_TYPE2 ? (p->critical ? &p->prm.critical : &p->prm.type2)
                                       : p->cls == CT_SYNTH_CAP   ? &p->prm.cap
                                                                  : NULL;
    double span = p->t_base - p->t_apex;
    if (lp) {
        int count = unif_int(&r, lp->count_min, lp->count_max);
        int cap_side = (int)h19_rng_below(&r, 2);
        for (int i = 0; i < count; i++) {
            lesion l;
            memset(&l, 0, sizeof l);
            int covid = p->cls != CT_SYNTH_CAP;
            /* COVID: bilateral (alternate lungs), lower-zone predominant; CAP: one lung, a lobe */
            int s = covid ? (i + cap_side) % 2 : cap_side;
            double placed = 0, cx = 0, cy = 0, z = 0, th = 0;
            for (int tries = 0; tries < 40 && placed < 8; tries++) {
                double uu = covid ? 1 - pow(1 - unif(&r, 0.12, 0.97), 1.3) : unif(&r, 0.25, 0.85);
                z = p->z_top - p->length * (p->t_apex + uu * span);
                sgeom g;
                slice_geom(p, z, &g);
                /* angles in the body frame: lateral and posterior (dependent) regions preferred */
                double lat = s == 0 ? M_PI : 0;
                th = lat + (s == 0 ? -1 : 1) * unif(&r, -0.9, 1.6);
                placed = pleura_point(p, &g, s, th, &cx, &cy);
            }
            if (placed < 8) continue;
            double rad = unif(&r, lp->radius_min, lp->radius_max);
            double inward = covid ? unif(&r, 0.3, 0.7) : unif(&r, 0.6, 0.9);
            l.c[0] = cx - cos(th) * inward * rad;
            l.c[1] = cy - sin(th) * inward * rad;
            l.c[2] = z;
            /* elongated along the pleura (tangent), thinner across it: subpleural bands */
            l.rx = rad * unif(&r, 1.0, 1.5);
            l.ry = rad * unif(&r, 0.6, 0.9);
            l.rz = rad * unif(&r, 0.7, 1.3);
            l.cs = cos(th + M_PI / 2);
            l.sn = sin(th + M_PI / 2);
            l.hu = unif(&r, lp->hu_min, lp->hu_max);
            l.edge = covid ? unif(&r, 0.35, 0.6) : 0.15;
            l.kind = covid ? LES_GGO : LES_CAP;
            l.tex = h19_rng_u64(&r);
            if (covid && h19_rng_uniform(&r) < lp->consolidation) {
                l.core = unif(&r, 0.3, 0.6);
                l.hu_core = unif(&r, -60, 40);
            }
            if (covid && h19_rng_uniform(&r) < lp->crazy_paving) l.paving = unif(&r, 120, 220);
            if (!covid) l.hu_core = l.hu;
            H19_TRY(push_lesion(p, &cap, &l));
        }
    }
    p->nles_main = p->nles;
    /* Minor, non-COVID findings of controls: a calcified granuloma (small, ~200 HU) */
    if (p->cls == CT_SYNTH_CONTROL && h19_rng_uniform(&r) < p->prm.control_minor) {
        lesion l;
        memset(&l, 0, sizeof l);
        int s = (int)h19_rng_below(&r, 2);
        double z = p->z_top - p->length * (p->t_apex + unif(&r, 0.3, 0.8) * span);
        sgeom g;
        slice_geom(p, z, &g);
        double cx, cy;
        if (pleura_point(p, &g, s, unif(&r, 0, 2 * M_PI), &cx, &cy) > 20) {
            l.c[0] = 0.5 * (cx + g.lung_cx[s]);
            l.c[1] = 0.5 * (cy + g.lung_cy[s]);
            l.c[2] = z;
            l.rx = l.ry = l.rz = unif(&r, 2, 3.5);
            l.cs = 1;
            l.hu = l.hu_core = unif(&r, 150, 400);
            l.edge = 0.2;
            l.kind = LES_GRANULOMA;
            H19_TRY(push_lesion(p, &cap, &l));
        }
    }
    return H19_OK;
}

int ct_synth_patient_make(const ct_synth_params *prm, uint64_t seed, uint32_t key, int cls,
                          int critical, int nslices, ct_synth_patient **out)
{
    *out = NULL;
    if (cls < 0 || cls >= CT_SYNTH_NCLASS)
        return h19_fail(H19_EARG, "ct_synth_patient_make: class %d is not 0..3", cls);
    if (nslices < 1 || nslices > 100000)
        return h19_fail(H19_EARG, "ct_synth_patient_make: %d slices is out of range [1, 100000]", nslices);
    H19_TRY(ct_synth_params_check(prm));
    ct_synth_patient *p = h19_calloc(1, sizeof *p);
    if (!p) return H19_ENOMEM;
    p->prm = *prm;
    p->seed = seed;
    p->key = key;
    p->cls = cls;
    p->critical = cls == CT_SYNTH_TYPE2 && critical;
    p->nslices = nslices;
    p->px = prm->fov_mm / prm->size;

    h19_rng r;
    h19_rng_init(&r, seed, H19_RNG_SYNTH, ST_ANATOMY, key, 0, 0);
    double size = unif(&r, 0.88, 1.12); /* overall body size */
    p->body_a = 158 * size * unif(&r, 0.95, 1.05);
    p->body_ba = 108 * size * unif(&r, 0.93, 1.07);
    p->body_bp = p->body_ba * unif(&r, 0.95, 1.05);
    p->fat = unif(&r, 6, 22) * size;
    p->muscle = unif(&r, 7, 12);
    p->rib_t = 7;
    p->rib_phase = h19_rng_uniform(&r);
    p->rib_pitch = unif(&r, 32, 40);
    double ang = unif(&r, -4, 4) * M_PI / 180; /* slight rotation on the couch */
    p->rot_c = cos(ang);
    p->rot_s = sin(ang);
    p->shift_x = unif(&r, -8, 8);
    p->shift_y = unif(&r, -10, 6);
    /* coverage: from above the apex to below the posterior costophrenic recesses */
    p->length = unif(&r, 290, 340) * size;
    p->t_apex = unif(&r, 0.07, 0.12);
    p->t_base = unif(&r, 0.84, 0.9);
    p->lung_scale_x = unif(&r, 0.92, 1.05);
    p->lung_scale_y = unif(&r, 0.92, 1.05);
    p->heart_scale = unif(&r, 0.9, 1.1);
    p->vb_r = unif(&r, 15, 19);
    p->dependent = h19_rng_uniform(&r) < 0.25 ? unif(&r, 3, 8) : 0;
    p->noise = unif(&r, prm->noise_min, prm->noise_max);
    p->dz = p->length / nslices;
    p->z_top = 0.5 * p->length - 0.5 * p->dz; /* slice centres span [-L/2, L/2] */
    for (int s = 0; s < 2; s++) /* the fissure meets the mid-coronal plane at ~60% of lung height */
        p->fissure_z[s] = p->z_top - p->length * (p->t_apex + unif(&r, 0.5, 0.65) * (p->t_base - p->t_apex));

    int rc = make_vessels(p);
    if (!rc) rc = make_lesions(p);
    if (rc) {
        ct_synth_patient_free(p);
        return rc;
    }
    *out = p;
    return H19_OK;
}

void ct_synth_patient_free(ct_synth_patient *p)
{
    if (!p) return;
    free(p->seg);
    free(p->les);
    free(p);
}

int ct_synth_nslices(const ct_synth_patient *p) { return p->nslices; }
int ct_synth_class_of(const ct_synth_patient *p) { return p->cls; }
double ct_synth_slice_spacing(const ct_synth_patient *p) { return p->dz; }
double ct_synth_pixel_spacing(const ct_synth_patient *p) { return p->px; }
double ct_synth_slice_z(const ct_synth_patient *p, int k) { return p->z_top - k * p->dz; }
int ct_synth_nlesions(const ct_synth_patient *p) { return p->nles_main; }
int ct_synth_nvessels(const ct_synth_patient *p) { return p->nseg; }
double ct_synth_dependent_mm(const ct_synth_patient *p) { return p->dependent; }
int ct_synth_lesion_get(const ct_synth_patient *p, int i, double c[3], double r[3], double hu[2],
                        double *core, double *paving)
{
    if (i < 0 || i >= p->nles_main) return h19_fail(H19_EARG, "ct_synth_lesion_get: %d of %d", i, p->nles_main);
    const lesion *l = &p->les[i];
    memcpy(c, l->c, sizeof l->c);
    r[0] = l->rx, r[1] = l->ry, r[2] = l->rz;
    hu[0] = l->hu, hu[1] = l->hu_core;
    *core = l->core;
    *paving = l->paving;
    return H19_OK;
}

/* ---- rendering -------------------------------------------------------------------------------- */

/* Attenuation of a bone cross-section: bright cortex near the edge, cancellous marrow inside. */
static double bone(double edge_dist, double cortex, double marrow)
{
    return edge_dist < 1.6 ? cortex : marrow;
}

/* Anatomy of one pixel at body-frame (x, y); sets *lung to 1 + side when it is lung. */
static double anatomy(const ct_synth_patient *p, const sgeom *g, double x, double y, uint8_t *lung)
{
    *lung = 0;
    double b = y > 0 ? p->body_bp : p->body_ba;
    double bn = sqrt((x / p->body_a) * (x / p->body_a) + (y / b) * (y / b));
    if (bn >= 1) return -1000;
    double rr = bn > 1e-9 ? sqrt(x * x + y * y) / bn : p->body_a;
    double depth = (1 - bn) * rr; /* mm from the skin along the ray from the centre */
    double lat = (x * x) / (rr * rr + 1e-9);
    double fat = p->fat * (1 + 0.25 * lat);
    double muscle = p->muscle + (y > 0 ? 4 * y / p->body_bp : 0);

    /* spine: vertebral body, canal, posterior elements (checked before the wall layers, since
     * the spinous process reaches through the posterior muscles) */
    double vx = x, vy = y - g->vb_y;
    double vd = sqrt(vx * vx + vy * vy);
    if (vd < g->vb_r) return g->disc ? 85 : bone(g->vb_r - vd, 650, 230);
    double cy = y - g->canal_y, cd = sqrt(x * x + cy * cy);
    if (cd < g->canal_r) return 22;                     /* cord and CSF */
    if (cd < g->canal_r + 3.5 && y > g->canal_y - 3) return 600; /* lamina / pedicles ring */
    double sp_end = p->body_bp - p->fat - 12;
    if (fabs(x) < 4 && y > g->canal_y && y < sp_end) return 550; /* spinous process */
    {
        /* transverse processes: short bars running back and out from the pedicles (~25°) */
        double ax = fabs(x) - g->canal_r, ay = y - (g->canal_y - 4);
        double along = ax * 0.906 + ay * 0.423, across = -ax * 0.423 + ay * 0.906;
        if (ax > 0 && along < 24 && fabs(across) < 4) return 520;
    }

    if (depth < 1.5) return 35;          /* skin */
    if (depth < fat) return -105;        /* subcutaneous fat */
    double wall_in = fat + muscle;
    if (depth < wall_in) {
        /* scapulae: thin bony plates in the posterolateral muscles of the upper thorax */
        double u = (g->t - p->t_apex) / (p->t_base - p->t_apex);
        double ax = fabs(x) / p->body_a;
        if (u < 0.5 && y > 0 && ax > 0.35 && ax < 0.75 && fabs(depth - (fat + 0.45 * muscle)) < 1.8)
            return 480;
        return 48;                       /* chest-wall and paraspinal muscle */
    }
    if (depth < wall_in + p->rib_t) {
        double th = atan2(y, x);
        double rel = depth - wall_in, edge = fmin(rel, p->rib_t - rel);
        if (g->sternum && fabs(x) < 15 && y < 0) return bone(fmin(edge, 15 - fabs(x)), 620, 200);
        if (fabs(x) < 22 && y < 0) return 45;          /* no ribs at the anterior midline */
        if (y > 0 && fabs(x) < 40) return 48;          /* paraspinal */
        double ph = (th + M_PI) / (2 * M_PI) * 13 + g->z / p->rib_pitch + p->rib_phase;
        double f = ph - floor(ph);
        /* an axial slice cuts the oblique ribs in long arcs behind and short ovals in front */
        double duty = 0.28 + 0.22 * clampd(0.5 + 0.5 * y / rr, 0, 1);
        if (f < duty) {
            double anterior = y < 0 ? -y / rr : 0;
            if (anterior > 0.75) return 150;            /* costal cartilage */
            return bone(fmin(edge, fmin(f, duty - f) * 2 * M_PI * rr / 13), 820, 260);
        }
        return 45;                                       /* intercostal muscle */
    }

    /* thoracic cavity */
    int s = lung_at(p, g, x, y);
    if (s >= 0) {
        *lung = (uint8_t)(1 + s);
        /* dependent (posterior) lung is denser: gravity-dependent perfusion */
        double post = clampd((y + p->body_ba) / (p->body_ba + p->body_bp), 0, 1);
        double v = -875 + 75 * post;
        /* the oblique fissure: a plane descending from posterior-superior to anterior-inferior,
         * tilted laterally, seen in an axial slice as a thin oblique line (~1 mm of pleura) */
        double sg = s ? 1 : -1;
        double fd = 0.30 * sg * (x - g->lung_cx[s]) + 0.70 * y - 0.65 * (g->z - p->fissure_z[s]);
        if (fabs(fd) < 0.5) v = -640;
        if (p->dependent > 0) {
            /* a thin posterior band of dependent atelectasis: march a little further back */
            if (lung_at(p, g, x, y + p->dependent) < 0 && y > 0) v = -560;
        }
        return v;
    }
    /* mediastinum and below-diaphragm organs */
    if (g->trachea) {
        double dx = x, dy = y - g->trachea_y, d = sqrt(dx * dx + dy * dy);
        if (d < 8.5) return -990;
        if (d < 10.5) return 60;
    }
    if (g->bronchi) {
        for (int k = -1; k <= 1; k += 2) {
            double dx = x - k * g->bronchi_dx, dy = y - (g->trachea_y + 4), d = sqrt(dx * dx + dy * dy);
            if (d < 5.5) return -990;
            if (d < 7.5) return 60;
        }
    }
    {
        double dx = x - 9, dy = y - (g->vb_y - g->vb_r - 4), d = sqrt(dx * dx + dy * dy);
        if (d < 6.5) return d < 1.5 ? -900 : 42; /* oesophagus with a little air */
    }
    if (g->desc_aorta) {
        double dx = x - (g->vb_r + 6), dy = y - (g->vb_y - g->vb_r + 2);
        if (dx * dx + dy * dy < 12 * 12) return 42;
    }
    if (g->asc_aorta) {
        double dx = x - 4, dy = y - (-0.45 * p->body_ba);
        if (dx * dx + dy * dy < 15 * 15) return 42;
    }
    if (g->arch) {
        /* the arch runs from front-right to back-left: a capsule */
        double ax = 4, ay = -0.45 * p->body_ba, bx = g->vb_r + 6, by = g->vb_y - g->vb_r + 2;
        double ux = bx - ax, uy = by - ay, L2 = ux * ux + uy * uy;
        double tt = clampd(((x - ax) * ux + (y - ay) * uy) / L2, 0, 1);
        double dx = x - (ax + tt * ux), dy = y - (ay + tt * uy);
        if (dx * dx + dy * dy < 13 * 13) return 42;
    }
    if (g->pulm_trunk) {
        double dx = x - 22, dy = y - (-0.4 * p->body_ba), d2 = dx * dx + dy * dy;
        if (d2 < 13 * 13) return 38;
    }
    if (g->great_vessels) {
        static const double gv[4][3] = {{-14, -0.38, 7.5}, {0, -0.42, 5}, {14, -0.36, 6}, {-28, -0.3, 7}};
        for (int k = 0; k < 4; k++) {
            double dx = x - gv[k][0], dy = y - gv[k][1] * p->body_ba;
            if (dx * dx + dy * dy < gv[k][2] * gv[k][2]) return 40;
        }
    }
    if (g->heart_s > 0) {
        double hx = (x - g->heart_cx) / g->heart_ax, hy = (y - g->heart_cy) / g->heart_ay;
        double h2 = hx * hx + hy * hy;
        if (h2 < 1) return h2 > 0.88 ? -85 : 40; /* myocardium/blood, epicardial fat rim */
    }
    if (x < g->liver_x) return 58; /* liver (right, under the right dome) */
    if (g->spleen) {
        double dx = (x - 0.55 * p->body_a) / 28, dy = (y - 0.35 * p->body_bp) / 42;
        if (dx * dx + dy * dy < 1) return 46;
    }
    if (g->stomach) {
        double dx = (x - 0.35 * p->body_a) / 42, dy = (y + 0.25 * p->body_ba) / 32;
        if (dx * dx + dy * dy < 1) return dy < -0.35 ? -995 : 18; /* gas cap over fluid */
    }
    if (g->t > p->t_base) return 28;      /* abdomen: bowel and soft tissue */
    {
        /* mediastinal fat: an ellipse between sternum and spine; other soft tissue elsewhere */
        double fx = x / 42, fy = (y + 0.15 * p->body_ba) / (0.75 * p->body_ba);
        return fx * fx + fy * fy < 1 ? -80 : 30;
    }
}

/* Distance from (x, y, z) to segment s. */
static double seg_dist(const vseg *s, double x, double y, double z)
{
    double u[3] = {s->b[0] - s->a[0], s->b[1] - s->a[1], s->b[2] - s->a[2]};
    double w[3] = {x - s->a[0], y - s->a[1], z - s->a[2]};
    double L2 = u[0] * u[0] + u[1] * u[1] + u[2] * u[2];
    double t = L2 > 0 ? clampd((w[0] * u[0] + w[1] * u[1] + w[2] * u[2]) / L2, 0, 1) : 0;
    double d0 = w[0] - t * u[0], d1 = w[1] - t * u[1], d2 = w[2] - t * u[2];
    return sqrt(d0 * d0 + d1 * d1 + d2 * d2);
}

typedef struct {
    const ct_synth_patient *p;
    int S;
    float *img;
    uint8_t *lung, *mark, *bronch;
    float *raise; /* HU added by COVID lesions (GGO and cores), before vessels: the label's evidence */
} canvas;

/* Pixel bounding box of a body-frame disc (cx, cy, R). Returns 0 if empty. */
static int bbox(const canvas *cv, double cx, double cy, double R, int *i0, int *i1, int *j0, int *j1)
{
    const ct_synth_patient *p = cv->p;
    double bx = cx + p->shift_x, by = cy + p->shift_y;
    double X = p->rot_c * bx - p->rot_s * by, Y = p->rot_s * bx + p->rot_c * by; /* image frame */
    double half = cv->S * 0.5;
    *j0 = (int)floor((X - R) / p->px + half - 0.5);
    *j1 = (int)ceil((X + R) / p->px + half - 0.5);
    *i0 = (int)floor((Y - R) / p->px + half - 0.5);
    *i1 = (int)ceil((Y + R) / p->px + half - 0.5);
    if (*j0 < 0) *j0 = 0;
    if (*i0 < 0) *i0 = 0;
    if (*j1 > cv->S - 1) *j1 = cv->S - 1;
    if (*i1 > cv->S - 1) *i1 = cv->S - 1;
    return *i0 <= *i1 && *j0 <= *j1;
}

static void to_body(const ct_synth_patient *p, int S, int i, int j, double *x, double *y)
{
    double X = (j + 0.5 - S * 0.5) * p->px, Y = (i + 0.5 - S * 0.5) * p->px;
    *x = p->rot_c * X + p->rot_s * Y - p->shift_x;
    *y = -p->rot_s * X + p->rot_c * Y - p->shift_y;
}

/* Weight of lesion l at (x, y, z): 1 inside, soft edge to 0 at the ellipsoid surface. */
static double lesion_weight(const lesion *l, double x, double y, double z, double *q_out)
{
    double dx = x - l->c[0], dy = y - l->c[1], dz = z - l->c[2];
    double u = (dx * l->cs + dy * l->sn) / l->rx, v = (-dx * l->sn + dy * l->cs) / l->ry, w = dz / l->rz;
    double q = sqrt(u * u + v * v + w * w);
    *q_out = q;
    if (q >= 1) return 0;
    return smooth01((1 - q) / l->edge);
}

static void draw_lesions(canvas *cv, double z, int pass)
{
    const ct_synth_patient *p = cv->p;
    for (int li = 0; li < p->nles; li++) {
        const lesion *l = &p->les[li];
        /* pass 0: ground glass (without consolidation); pass 1: CAP, granuloma, GGO cores */
        if (fabs(z - l->c[2]) >= l->rz) continue;
        double R = fmax(l->rx, l->ry);
        int i0, i1, j0, j1;
        if (!bbox(cv, l->c[0], l->c[1], R, &i0, &i1, &j0, &j1)) continue;
        for (int i = i0; i <= i1; i++)
            for (int j = j0; j <= j1; j++) {
                size_t o = (size_t)i * cv->S + j;
                if (!cv->lung[o]) continue;
                double x, y, q;
                to_body(p, cv->S, i, j, &x, &y);
                double w = lesion_weight(l, x, y, z, &q);
                if (w <= 0) continue;
                double bg = cv->img[o];
                if (pass == 0 && l->kind == LES_GGO) {
                    /* patchy density: value noise modulates the opacity */
                    double tex = value_noise(l->tex, x, y, z, 6.0);
                    double wt = w * (0.55 + 0.6 * tex);
                    if (wt > 1) wt = 1;
                    double target = l->hu;
                    if (l->paving > 0) {
                        /* crazy paving: thickened interlobular septa, a ~8 mm polygonal grid */
                        double gx = (x + 4 * value_noise(l->tex ^ 1, x, y, z, 10)) / 8.0;
                        double gy = (y + 4 * value_noise(l->tex ^ 2, x, y, z, 10)) / 8.0;
                        double fx = fabs(gx - floor(gx) - 0.5), fy = fabs(gy - floor(gy) - 0.5);
                        if (fx > 0.42 || fy > 0.42) target += l->paving;
                    }
                    cv->img[o] = (float)(bg + (target - bg) * wt);
                    cv->raise[o] += (float)((target - bg) * wt);
                } else if (pass == 1 && l->kind == LES_GGO && l->core > 0 && q < l->core) {
                    double wc = smooth01((l->core - q) / (0.5 * l->core));
                    cv->img[o] = (float)(bg + (l->hu_core - bg) * wc);
                    cv->raise[o] += (float)((l->hu_core - bg) * wc);
                } else if (pass == 1 && l->kind != LES_GGO) {
                    double target = l->hu;
                    /* air bronchograms: bronchi stay aerated inside lobar consolidation */
                    if (l->kind == LES_CAP && cv->bronch[o]) target = -870;
                    else if (l->kind == LES_CAP) target += 20 * (value_noise(l->tex, x, y, z, 5) - 0.5);
                    cv->img[o] = (float)(bg + (target - bg) * w);
                    if (l->kind == LES_CAP && w >= 0.5) cv->mark[o] = 2;
                }
            }
    }
}

static void draw_vessels(canvas *cv, double z)
{
    const ct_synth_patient *p = cv->p;
    for (int si = 0; si < p->nseg; si++) {
        const vseg *s = &p->seg[si];
        double r = s->r;
        double zlo = fmin(s->a[2], s->b[2]) - r, zhi = fmax(s->a[2], s->b[2]) + r;
        if (z < zlo || z > zhi) continue;
        /* the part of the segment within r of the slice plane bounds the pixels it can touch */
        double dzs = s->b[2] - s->a[2];
        double t0 = 0, t1 = 1;
        if (fabs(dzs) > 1e-9) {
            double ta = (z - r - s->a[2]) / dzs, tb = (z + r - s->a[2]) / dzs;
            t0 = clampd(fmin(ta, tb), 0, 1);
            t1 = clampd(fmax(ta, tb), 0, 1);
        }
        double ax = s->a[0] + t0 * (s->b[0] - s->a[0]), ay = s->a[1] + t0 * (s->b[1] - s->a[1]);
        double bx = s->a[0] + t1 * (s->b[0] - s->a[0]), by = s->a[1] + t1 * (s->b[1] - s->a[1]);
        double cx = 0.5 * (ax + bx), cy = 0.5 * (ay + by);
        double R = 0.5 * sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay)) + r + p->px;
        int i0, i1, j0, j1;
        if (!bbox(cv, cx, cy, R, &i0, &i1, &j0, &j1)) continue;
        for (int i = i0; i <= i1; i++)
            for (int j = j0; j <= j1; j++) {
                size_t o = (size_t)i * cv->S + j;
                if (!cv->lung[o]) continue;
                double x, y;
                to_body(p, cv->S, i, j, &x, &y);
                double d = seg_dist(s, x, y, z);
                double w = clampd((r - d) / p->px + 0.5, 0, 1); /* ~1-pixel partial volume */
                if (w <= 0) continue;
                double v = 40;
                if (cv->img[o] < v) cv->img[o] = (float)(cv->img[o] + (v - cv->img[o]) * w);
                if (r >= 1.2 && w > 0.5) cv->bronch[o] = 1;
            }
    }
}

int ct_synth_render(const ct_synth_patient *p, int k, int16_t *hu, ct_synth_slice_info *info)
{
    return ct_synth_render_maps(p, k, hu, info, NULL, NULL);
}

int ct_synth_render_maps(const ct_synth_patient *p, int k, int16_t *hu, ct_synth_slice_info *info,
                         float *raise_out, uint8_t *lung_out)
{
    if (k < 0 || k >= p->nslices)
        return h19_fail(H19_EARG, "ct_synth_render: slice %d is out of range [0, %d)", k, p->nslices);
    int S = p->prm.size;
    size_t n = (size_t)S * S;
    canvas cv = {p, S, NULL, NULL, NULL, NULL, NULL};
    cv.img = h19_calloc(n * 3, sizeof *cv.img);
    cv.lung = h19_calloc(n * 3, 1);
    if (!cv.img || !cv.lung) {
        free(cv.img);
        free(cv.lung);
        return H19_ENOMEM;
    }
    float *tmp = cv.img + n;
    cv.raise = cv.img + 2 * n;
    cv.mark = cv.lung + n;
    cv.bronch = cv.lung + 2 * n;
    double z = ct_synth_slice_z(p, k);
    sgeom g;
    slice_geom(p, z, &g);

    /* pass 1: anatomy, plus the couch in the scanner frame (it does not rotate with the patient) */
    double couch_y = p->shift_y + p->body_bp + 14;
    for (int i = 0; i < S; i++) {
        double Y = (i + 0.5 - S * 0.5) * p->px;
        for (int j = 0; j < S; j++) {
            double X = (j + 0.5 - S * 0.5) * p->px;
            size_t o = (size_t)i * S + j;
            double x = p->rot_c * X + p->rot_s * Y - p->shift_x;
            double y = -p->rot_s * X + p->rot_c * Y - p->shift_y;
            double v = anatomy(p, &g, x, y, &cv.lung[o]);
            if (v <= -1000 && fabs(X) < 150) {
                double cyv = couch_y - 0.0007 * X * X;
                if (Y > cyv && Y < cyv + 4) v = 90;
                else if (Y > cyv + 26 && Y < cyv + 29) v = 250;
                else if (Y > cyv + 4 && Y < cyv + 26) v = -950; /* foam core */
            }
            cv.img[o] = (float)v;
        }
    }
    /* pass 2: lesions and vessels, inside the lungs only */
    draw_lesions(&cv, z, 0);
    draw_vessels(&cv, z);
    draw_lesions(&cv, z, 1);

    /* What a reader sees decides the label, not the lesion's nominal outline: a pixel is lesion when
     * COVID opacities raised it by >= lesion_hu, and a slice is nCT only when none raised any lung
     * pixel by faint_hu. The soft edges reach well past the nominal outline (the cap of an ellipsoid
     * the plane cuts near its pole is a visible ~200 HU haze), so a slice with only a faint or small
     * opacity is "uncertain" and left out of slice_labels.csv, as a reader leaves such slices out. */
    long lung_px = 0, les_px = 0, faint_px = 0, cap_px = 0;
    for (size_t o = 0; o < n; o++) {
        lung_px += cv.lung[o] != 0;
        les_px += cv.lung[o] && cv.raise[o] >= p->prm.lesion_hu;
        faint_px += cv.lung[o] && cv.raise[o] >= p->prm.faint_hu;
        cap_px += cv.mark[o] == 2;
    }
    if (raise_out) memcpy(raise_out, cv.raise, n * sizeof *raise_out);
    if (lung_out) memcpy(lung_out, cv.lung, n);

    /* pass 3: white noise (keyed by patient and slice), then the [1 2 1]/4 blur along x and y.
     * The kernel's squared weights sum to 6/16 per axis, so the blur scales the noise SD by 6/16
     * in 2-D: draw SD noise / (6/16) to end at the patient's noise SD. */
    h19_rng r;
    h19_rng_init(&r, p->seed, H19_RNG_SYNTH, ST_NOISE, p->key, (uint32_t)k, 0);
    double sd = p->noise / (6.0 / 16.0);
    for (size_t o = 0; o < n; o++) cv.img[o] += (float)(sd * h19_rng_normal(&r));
    for (int i = 0; i < S; i++) {
        const float *row = cv.img + (size_t)i * S;
        float *t = tmp + (size_t)i * S;
        for (int j = 0; j < S; j++) {
            float a = row[j > 0 ? j - 1 : 0], b = row[j], c = row[j < S - 1 ? j + 1 : S - 1];
            t[j] = 0.25f * a + 0.5f * b + 0.25f * c;
        }
    }
    for (int i = 0; i < S; i++) {
        const float *up = tmp + (size_t)(i > 0 ? i - 1 : 0) * S, *mid = tmp + (size_t)i * S,
                    *dn = tmp + (size_t)(i < S - 1 ? i + 1 : S - 1) * S;
        int16_t *o = hu + (size_t)i * S;
        for (int j = 0; j < S; j++) {
            double v = 0.25 * up[j] + 0.5 * mid[j] + 0.25 * dn[j];
            v = clampd(v, -1024, 3071);
            o[j] = (int16_t)lrint(v);
        }
    }
    /* label_in_mask: the lesion pixels the paper's preprocessing keeps (ct_preprocess's mask of the
     * lung-windowed slice, as ingest computes it); dense subpleural or basal opacities that the
     * threshold counts as body fall outside it and cannot be seen by the slice CNN */
    long les_mask_px = -1;
    int rc = H19_OK;
    if (p->prm.label_in_mask) {
        ct_prep *ctx = NULL;
        float *fhu = tmp; /* the blur's scratch is free now */
        uint8_t *u8 = cv.mark, *mask = cv.bronch;
        rc = ct_prep_create(&ctx, S, S);
        if (!rc) {
            for (size_t o = 0; o < n; o++) fhu[o] = hu[o];
            dcm_window_u8(fhu, (int)n, -600, 1500, u8);
            uint8_t out[CT_OUT * CT_OUT];
            rc = ct_preprocess(ctx, u8, S, S, out, mask);
        }
        ct_prep_free(ctx);
        les_mask_px = 0;
        for (size_t o = 0; !rc && o < n; o++) les_mask_px += cv.lung[o] && mask[o] && cv.raise[o] >= p->prm.lesion_hu;
    }
    free(cv.img);
    free(cv.lung);
    if (rc) return rc;

    if (info) {
        double a = p->px * p->px;
        info->lung_px = lung_px;
        info->lesion_px = les_px;
        info->cap_px = cap_px;
        info->lesion_mask_px = les_mask_px;
        info->lung_mm2 = lung_px * a;
        info->lesion_mm2 = les_px * a;
        info->z = z;
        if (info->lung_mm2 < p->prm.nict_lung_mm2) info->label = CT_SYNTH_NICT;
        else if (les_px > 0 && info->lesion_mm2 >= p->prm.pct_lesion_mm2 &&
                 (les_mask_px < 0 || les_mask_px * a >= p->prm.pct_lesion_mm2))
            info->label = CT_SYNTH_PCT;
        else if (faint_px > 0) info->label = CT_SYNTH_UNSURE;
        else info->label = CT_SYNTH_NCT;
    }
    return H19_OK;
}

void ct_synth_lung_window(const int16_t *hu, size_t n, uint8_t *out)
{
    const double lo = -600 - 750, w = 1500;
    for (size_t i = 0; i < n; i++) {
        double v = (hu[i] - lo) / w;
        v = clampd(v, 0, 1);
        out[i] = (uint8_t)lrint(255 * v);
    }
}
