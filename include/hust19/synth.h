/* synth.h — synthetic chest CT phantoms and the synthetic consortium archive (`hust19 synth`).
 *
 * No iCTCF image can be had here, so the pipeline runs on phantoms: per patient a series of axial
 * slices (HU, int16) with body, subcutaneous fat, chest-wall muscle, ribs, sternum, spine,
 * mediastinum (heart, aorta, trachea, oesophagus), two lungs whose cross-section follows z (zero
 * above the apex and below the bases: the NiCT slices), a vessel tree, upper-abdominal organs below
 * the diaphragm, a couch and correlated noise. Lesions follow the class (DESIGN.md "Synthetic CT"):
 * COVID-19 type I/II get peripheral, bilateral, subpleural ground-glass opacities (GGO), more,
 * larger and denser for type II (consolidation cores, crazy paving); community-acquired pneumonia
 * (CAP) gets a unilateral lobar consolidation with air bronchograms; controls get clean lungs
 * (at most a calcified granuloma or dependent atelectasis, which are not COVID lesions).
 *
 * Every random choice comes from include/hust19/rng.h, purpose H19_RNG_SYNTH, keyed by (seed,
 * stream, patient key, slice): a slice is a pure function of (params, seed, patient key, class,
 * slice count, slice index), whatever rank renders it and in whatever order.
 *
 *     ct_synth_params prm;
 *     ct_synth_params_default(&prm);                 // 512×512, 0.7 mm pixels, paper-like lesions
 *     ct_synth_patient *p;
 *     if (ct_synth_patient_make(&prm, seed, 42, CT_SYNTH_TYPE2, 240, &p)) fail(h19_errmsg());
 *     int16_t *hu = malloc(sizeof *hu * prm.size * prm.size);
 *     ct_synth_slice_info info;
 *     for (int k = 0; k < ct_synth_nslices(p); k++) {
 *         if (ct_synth_render(p, k, hu, &info)) fail(h19_errmsg());
 *         ... info.label is CT_SYNTH_NICT / CT_SYNTH_PCT / CT_SYNTH_NCT
 *     }
 *     ct_synth_patient_free(p);
 *
 * Coordinates are DICOM patient coordinates (LPS, mm): x to the patient's left (image right), y
 * posterior (image down), z superior; slice 0 is the most superior, the series runs feet-wards.
 */
#ifndef HUST19_SYNTH_H
#define HUST19_SYNTH_H

#include <stddef.h>
#include <stdint.h>

/* Patient classes of the phantom (the morbidity outcome of the CF table maps onto these). */
typedef enum {
    CT_SYNTH_CONTROL = 0, /* Control */
    CT_SYNTH_CAP = 1,     /* Control (Community-acquired pneumonia) */
    CT_SYNTH_TYPE1 = 2,   /* COVID-19 Mild + Regular */
    CT_SYNTH_TYPE2 = 3,   /* COVID-19 Severe + Critically ill */
    CT_SYNTH_NCLASS = 4
} ct_synth_class;

/* Per-slice ground truth, in the order of the slice CNN's softmax (DESIGN.md: NiCT, pCT, nCT). */
/* CT_SYNTH_UNSURE: a COVID opacity too faint or too small to call (not in slice_labels.csv). */
typedef enum { CT_SYNTH_NICT = 0, CT_SYNTH_PCT = 1, CT_SYNTH_NCT = 2, CT_SYNTH_UNSURE = 3 } ct_synth_label;

/* Short names: "control", "cap", "type1", "type2" / "NiCT", "pCT", "nCT". Static strings. */
const char *ct_synth_class_name(int cls);
const char *ct_synth_label_name(int label);
/* Parse a class name as above; -1 if unknown. */
int ct_synth_class_parse(const char *s);

/* Lesion parameters of one class. Counts and ranges are drawn uniformly per lesion. */
typedef struct {
    int count_min, count_max;          /* lesions per patient */
    double radius_min, radius_max;     /* mm, in-plane semi-axis before elongation */
    double hu_min, hu_max;             /* HU of the opacity (GGO, or consolidation for CAP) */
    double consolidation;              /* probability a COVID lesion has a consolidation core */
    double crazy_paving;               /* probability a COVID lesion shows crazy paving */
} ct_synth_lesion_params;

typedef struct {
    int size;                  /* image rows = cols (512; 256 for fast demos) */
    double fov_mm;             /* field of view: pixel spacing = fov_mm / size (358.4 → 0.7 mm) */
    double noise_min, noise_max; /* per-patient noise SD (HU), uniform in [min, max] */
    double nict_lung_mm2;      /* lung area below this → NiCT */
    double pct_lesion_mm2;     /* COVID lesion area at or above this → pCT */
    double lesion_hu;          /* a lung pixel is lesion when COVID opacities raised it >= this */
    double faint_hu;           /* nCT needs no lung pixel raised >= this (else "uncertain") */
    int label_in_mask;         /* 1: count lesion pixels for pCT only inside the preprocessing mask
                                  (ct_preprocess on the lung-windowed slice: what the slice CNN sees);
                                  a slice whose lesion the mask removes is "uncertain". Default 0 */
    ct_synth_lesion_params type1, type2, cap;
    ct_synth_lesion_params critical; /* type II patients graded "Critically ill" (more extensive) */
    double control_minor;      /* probability a control has a minor non-COVID finding */
} ct_synth_params;

/* The defaults described in docs/synth.md. */
void ct_synth_params_default(ct_synth_params *p);
/* Check ranges (size 64..2048, min <= max, probabilities in [0,1], ...). H19_EARG naming the field. */
int ct_synth_params_check(const ct_synth_params *p);

typedef struct ct_synth_patient ct_synth_patient; /* opaque: anatomy, vessels, lesions */

/* Draw one patient's anatomy and lesions. key identifies the patient within the seed (the CF id);
 * critical (type II only) draws the lesions from prm->critical instead of prm->type2: the CF
 * table's "Critically ill" grade, whose involvement CT severity scoring finds larger than in
 * "Severe" disease. nslices >= 1. *out is owned by the caller (ct_synth_patient_free). prm is
 * copied. */
int ct_synth_patient_make(const ct_synth_params *prm, uint64_t seed, uint32_t key, int cls,
                          int critical, int nslices, ct_synth_patient **out);
void ct_synth_patient_free(ct_synth_patient *p);

int ct_synth_nslices(const ct_synth_patient *p);
int ct_synth_class_of(const ct_synth_patient *p);
/* Series geometry: slice spacing = thickness (mm), pixel spacing (mm), z of slice k (mm). */
double ct_synth_slice_spacing(const ct_synth_patient *p);
double ct_synth_pixel_spacing(const ct_synth_patient *p);
double ct_synth_slice_z(const ct_synth_patient *p, int k);
/* Number of lesions drawn (COVID GGO/consolidation or CAP consolidation; minor findings excluded). */
int ct_synth_nlesions(const ct_synth_patient *p);
/* Analysis accessors: the dependent-atelectasis band (mm, 0 = none) and lesion i < nlesions:
 * centre (body frame, mm), semi-axes (mm), HU of the opacity and of its core, the core's normalised
 * radius (0 = none), the crazy-paving contrast (HU, 0 = none). */
double ct_synth_dependent_mm(const ct_synth_patient *p);
int ct_synth_lesion_get(const ct_synth_patient *p, int i, double c[3], double r[3], double hu[2],
                        double *core, double *paving);

typedef struct {
    int label;            /* ct_synth_label */
    long lung_px;         /* pixels of lung (parenchyma, vessels and lesions inside it) */
    long lesion_px;       /* lung pixels raised >= lesion_hu by COVID lesions; 0 for control and CAP */
    long cap_px;          /* pixels of CAP consolidation */
    long lesion_mask_px;  /* lesion pixels inside the preprocessing mask (only with label_in_mask, else -1) */
    double lung_mm2, lesion_mm2;
    double z;             /* mm */
} ct_synth_slice_info;

/* Render slice k (0 = most superior) into hu (size*size values, row-major, HU clamped to
 * [-1024, 3071]). hu is borrowed; info may be NULL. Thread-safe on a const patient. */
int ct_synth_render(const ct_synth_patient *p, int k, int16_t *hu, ct_synth_slice_info *info);
/* The same, also exporting the label's evidence (debugging and analysis, tests/bench/synth_maps.c):
 * raise_out (size*size, may be NULL) the HU the COVID opacities (GGO and cores) added per pixel, the
 * label's evidence (before noise); lung_out (may be NULL) the lung mask (0, 1 right, 2 left). */
int ct_synth_render_maps(const ct_synth_patient *p, int k, int16_t *hu, ct_synth_slice_info *info,
                         float *raise_out, uint8_t *lung_out);

/* Lung window (centre -600, width 1500, as the paper's preprocessing) to 8 bits. */
void ct_synth_lung_window(const int16_t *hu, size_t n, uint8_t *out);

/* Encode an 8-bit grey image as baseline JPEG (TurboJPEG, quality 1..100) into path, atomically. */
int ct_synth_write_jpeg(const char *path, const uint8_t *gray, int width, int height, int quality);

/* ---- the archive ------------------------------------------------------------------------------- */

/* One patient of the archive. */
typedef struct {
    int id;                 /* CF table id (1-based) */
    int cls;                /* ct_synth_class */
    char morbidity[48];     /* the CF table's Morbidity outcome (or the drawn one) */
    char mortality[16];     /* Cured / Deceased / Unknown */
    int hospital;           /* 0 HUST-UH (Union), 1 HUST-LH (Liyuan) */
    int has_ct;             /* a series is written */
    int nslices;            /* 0 when !has_ct */
    int labelled;           /* slices go to slice_labels.csv */
    int age;                /* years (fake PHI: birth date = study year - age) */
    int male;               /* 1 male, 0 female */
} ct_synth_entry;

/* 1 if the morbidity outcome is the critical grade of type II ("Critically ill"), else 0. */
int ct_synth_is_critical(const ct_synth_entry *e);

typedef struct {
    char *out;              /* output directory (owned) */
    uint64_t seed;
    int patients;           /* standalone cohort size */
    char *cf_table;         /* NULL = standalone; else attach to this iCTCF CSV (owned) */
    double ct_fraction;     /* probability a patient has a CT series */
    double slices_mean, slices_sd;
    int slices_min, slices_max;
    int labelled_patients;  /* the paper labelled the slices of 104 patients */
    double class_weights[CT_SYNTH_NCLASS]; /* standalone cohort and Suspected cases */
    int force;              /* rewrite: ignore done markers and a differing synth.yaml */
    int dry_run;            /* render and label every slice but write nothing (benchmarks) */
    ct_synth_params prm;
} ct_synth_job;

void ct_synth_job_default(ct_synth_job *job);
void ct_synth_job_free(ct_synth_job *job);

/* Build the cohort (deterministic in job): standalone, or from job->cf_table. *entries owned by
 * the caller (free). Same result on every rank. */
int ct_synth_cohort(const ct_synth_job *job, ct_synth_entry **entries, int *n);

/* Paths: "<out>/dicom/P%04d/S01", relative to out (buf >= 64 bytes). */
void ct_synth_series_rel(const ct_synth_entry *e, char *buf, size_t cap);

/* Write cf.csv (standalone: iCTCF columns with class-correlated CFs; attached: a copy of the
 * table), manifest.csv and synth.yaml. Rank 0 only; atomic. */
int ct_synth_write_tables(const ct_synth_job *job, const ct_synth_entry *e, int n);

/* Write one patient's series (DICOM files, then the done marker with the slice labels). Skips
 * a patient whose done marker exists (*skipped = 1). *nwritten = slices rendered. */
int ct_synth_write_patient(const ct_synth_job *job, const ct_synth_entry *e, int *skipped,
                           long *nwritten);

/* Gather the done markers of labelled patients into slice_labels.csv (rank 0, after all ranks
 * finished). H19_ESTATE if a labelled patient's marker is missing. */
int ct_synth_write_labels(const ct_synth_job *job, const ct_synth_entry *e, int n);

/* Render a contact sheet (lung window) of example slices — NiCT, nCT, type I pCT, type II pCT,
 * CAP — into a JPEG at path (tiles of tile×tile pixels). */
int ct_synth_contact_sheet(const ct_synth_params *prm, uint64_t seed, int nslices, int tile,
                           const char *path);

#endif
