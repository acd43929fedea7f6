/* dicom.h — CT slices in DICOM (through DCMTK), series ordering, windowing, de-identification.
 *
 * The implementation is the one C++ file of the project, src/io/dicom_shim.cpp, a small shim over
 * DCMTK (dcmdata, dcmjpeg, dcmjpls) behind this C header. Every function returns a status
 * (include/hust19/err.h) and records a message naming the file and the reason on failure.
 *
 * Worked example:
 *
 *     dcm_ct_meta m;
 *     dcm_meta_init(&m);                  // CT defaults: modality "CT", slope 1, intercept -1024
 *     m.rows = m.cols = 512; ...          // fill what you know, "" for absent strings
 *     dcm_uid_generate(m.sop_uid, "1.2.826.0.1.3680043.10.1");   // or your own UID scheme
 *     if (dcm_write_ct("s0001.dcm", &m, pixels)) fail(h19_errmsg());
 *
 *     float *hu; dcm_ct_meta r;
 *     if (dcm_read_ct("s0001.dcm", &r, &hu)) fail(h19_errmsg());
 *     uint8_t *u8 = malloc(r.rows * r.cols);
 *     dcm_window_u8(hu, r.rows * r.cols, DCM_LUNG_CENTER, DCM_LUNG_WIDTH, u8);
 *     free(hu);
 *
 * Thread safety: DCMTK's data dictionary is global but read-only after the first call; the codec
 * registration is done once (guarded). The error message is per thread.
 */
#ifndef HUST19_DICOM_H
#define HUST19_DICOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Lung window (HU) used by the paper's preprocessing: centre -600, width 1500. */
#define DCM_LUNG_CENTER (-600.0)
#define DCM_LUNG_WIDTH 1500.0

typedef struct {            /* metadata of one CT slice (strings NUL-terminated, "" = absent) */
    char patient_name[64], patient_id[64], other_patient_id[64], birth_date[16], sex[8];
    char study_date[16], study_time[16], institution[64], referring_physician[64], accession[32];
    char study_uid[80], series_uid[80], sop_uid[80], frame_of_ref_uid[80];
    char modality[8];          /* "CT" */
    int rows, cols;
    double pixel_spacing[2];   /* row, col spacing mm */
    double slice_thickness;
    double position[3];        /* ImagePositionPatient */
    double orientation[6];     /* ImageOrientationPatient */
    int instance_number;
    double rescale_slope, rescale_intercept;
    double window_center, window_width;
    /* Set by dcm_read_ct (ignored by the writer): which optional geometry was present. */
    int has_position, has_orientation, has_instance_number;
    char transfer_syntax[80];  /* read: the file's transfer syntax UID */
} dcm_ct_meta;

/* Defaults for a writer: modality "CT", rows = cols = 0, spacing 1 mm, thickness 1 mm, position 0,
 * orientation (1,0,0,0,1,0), instance 1, slope 1, intercept -1024, lung window, strings "". */
void dcm_meta_init(dcm_ct_meta *meta);

/* Write a CT Image Storage file (Explicit VR Little Endian, 16-bit signed stored values) atomically.
   pixels: rows*cols stored values (HU = value*slope + intercept). Borrowed. Empty UIDs are
   generated (study/series/frame-of-reference UIDs then differ per call: set them for a series). */
int dcm_write_ct(const char *path, const dcm_ct_meta *meta, const int16_t *pixels);

/* Read one slice: metadata and HU values as float (rows*cols, malloc'd, caller frees).
 * Transfer syntaxes: Implicit/Explicit VR Little Endian, Explicit VR Big Endian, Deflated, JPEG
 * baseline/extended/lossless (dcmjpeg), JPEG-LS (dcmjpls), RLE. JPEG 2000 -> H19_EUNSUP.
 * Non-CT modality, missing or short pixel data, truncated file -> H19_EFORMAT. On failure *hu is
 * NULL. hu may be NULL to read only the metadata (pixel data is then not decoded). */
int dcm_read_ct(const char *path, dcm_ct_meta *meta, float **hu);

/* ---- extra elements for synthetic files (tests of de-identification) ------------------------- */

/* One extra element to write. tag = (group << 16) | element. For a sequence (vr "SQ") `items`
 * holds nitems items, each a list of nelem elements (item_nelem[i]) — built with the helpers below.
 * Value strings are DICOM string values ("\\"-separated multiplicity). For a private tag (odd
 * group) the creator element (gggg,0010) must be given too, as an LO element, before it. */
typedef struct dcm_elem dcm_elem;
struct dcm_elem {
    uint32_t tag;
    char vr[3];               /* "LO", "PN", "DA", "UI", "SH", "CS", "SQ", "OB", "US", ...;
                                 "" = the data dictionary's VR (standard tags) */
    const char *value;        /* string value (NULL for SQ); for OB/UN the bytes of value */
    size_t value_len;         /* for OB/UN: byte count; otherwise ignored (strlen(value)) */
    const dcm_elem *const *items; /* SQ: items[i] points at item_nelem[i] elements */
    const int *item_nelem;
    int nitems;
};

/* As dcm_write_ct, plus extra elements inserted into the main data set (replacing any the
 * writer set with the same tag). extra may be NULL when nextra is 0. */
int dcm_write_ct_ex(const char *path, const dcm_ct_meta *meta, const int16_t *pixels,
                    const dcm_elem *extra, int nextra);

/* Read a string element anywhere on a tag path, for tests: path is n tags, sequences entered at
 * their first item ("(0010,1002)/(0010,0020)"). Copies at most cap-1 bytes to out. Returns 0 and
 * sets *found = 0 when absent. */
int dcm_get_string(const char *path, const uint32_t *tags, int ntags, char *out, size_t cap,
                   int *found);

/* The data dictionary's VR of a standard tag ("UN" when unknown) into vr (3 bytes), and its
 * keyword (borrowed, static; "Unknown" when unknown) as the return value. */
const char *dcm_dict_vr(uint32_t tag, char vr[3]);

/* A fresh UID "<root>.<digits>" (at most 64 chars) into out (>= 65 bytes) from DCMTK's generator
 * (host id, process id, time, counter): unique, not reproducible. A NULL root uses DCMTK's site
 * root; a synthetic archive that must be reproducible should derive its UIDs itself. */
int dcm_uid_generate(char *out, const char *root);

/* ---- windowing --------------------------------------------------------------------------------- */

/* HU -> 8-bit: out = round(255 * clamp((hu - (center - width/2)) / width, 0, 1)), NaN -> 0.
 * The linear window of the ingest stage (DESIGN.md: HU -> lung window -600/1500 -> 8-bit); width > 0. */
void dcm_window_u8(const float *hu, int n, double center, double width, uint8_t *out);

/* ---- series ordering --------------------------------------------------------------------------- */

/* Order n slices of one series: order[k] = index into metas of the k-th slice, by increasing
 * projection of ImagePositionPatient on the slice normal (row x col direction cosines); when a
 * slice lacks position/orientation, by InstanceNumber. Rejects a series whose slices differ in
 * rows, cols, orientation or pixel spacing (H19_EFORMAT, naming the two slice indices), and
 * duplicate positions. spacing_out (may be NULL) receives the median slice gap (mm, 0 if n < 2). */
int dcm_series_order(const dcm_ct_meta *metas, int n, int *order, double *spacing_out);

/* Read the n slices of one series (paths borrowed), order them with dcm_series_order and stack
 * their HU: *volume = n*rows*cols floats (malloc'd, caller frees), slice k being the k-th in order.
 * metas (n entries, caller's) receive each file's metadata in input order; order[k] is the input
 * index of slice k; gap (may be NULL) the median slice gap. Slices of different
 * SeriesInstanceUID are an error (H19_EFORMAT naming both files). */
int dcm_read_series(const char *const *paths, int n, dcm_ct_meta *metas, int *order, float **volume,
                    double *gap);

/* ---- de-identification (PS3.15 Annex E, Basic Application Level Confidentiality Profile) ------- */

typedef struct {
    const char *secret;       /* key for the UID hash; required, non-empty */
    size_t secret_len;        /* 0 = strlen(secret) */
    const char *patient_id;   /* pseudonym for PatientID (0010,0020); NULL/"" = derived from the
                                 hash of the original PatientID */
    const char *patient_name; /* replacement PatientName; NULL = same as the pseudonym */
    int keep_private;         /* 0 (profile): remove all private tags */
} dcm_deid_opts;

/* De-identify one file into out (atomic write; in == out allowed). Applies the profile table
 * (docs/dicom.md): X remove, Z empty, D dummy, U UID remap, recursively in sequences; removes
 * private tags (also inside sequences), curves (50xx) and overlay data/comments (60xx,3000/4000);
 * replaces any other person name and every non-standard UID; sets PatientIdentityRemoved
 * (0012,0062) = YES, DeidentificationMethod (0012,0063) and its code sequence. Pixel data is
 * copied unchanged (in its transfer syntax). UIDs map to "2.25.<decimal of the first 128 bits of
 * HMAC-SHA256(secret, uid) as a UUIDv8>" (dcm_deid_uid), so the same UID maps to the same new UID
 * under the same secret, in any file, job or rank. */
int dcm_deid_file(const char *in, const char *out, const dcm_deid_opts *opts);

/* The UID mapping itself (out >= 65 bytes): exposed for tests and for consistent references. */
int dcm_deid_uid(const char *uid, const char *secret, size_t secret_len, char *out);

/* One row of the profile table, for docs and tests: tag, action ('X','Z','D','U'), name. dcm_deid_table returns the rows and their count; borrowed, static. */
typedef struct {
    uint32_t tag;
    char action;
    const char *name;
} dcm_deid_rule;
const dcm_deid_rule *dcm_deid_table(int *n);

/* ---- SHA-256 / HMAC (FIPS 180-4, RFC 2104): small, used for UID and pseudonym derivation ---- */
void dcm_sha256(const void *data, size_t n, uint8_t out[32]);
void dcm_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32]);

#ifdef __cplusplus
}
#endif
#endif
