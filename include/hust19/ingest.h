/* ingest.h — the parallel CT ingest (`hust19 ingest` with a `ct:` job section) and the readers of
 * the archive's /ct part (schema: docs/archive.md).
 *
 * The ingest turns a consortium's imaging (DICOM series or iCTCF-style JPEG trees) into
 * preprocessed 200x200 slices in the archive. One series is one task of the dynamic queue
 * (dist_queue_next); each finished series is saved as a shard file
 * (<outdir>/ingest-shards/s<task>.shard, format "H19CTSHD" version 1, docs/archive.md) so a killed
 * job resumes where it stopped; the archive is then assembled from the shards in a fixed order
 * (CF-table row of the patient, then manifest order), so its content does not depend on the rank
 * count or on which rank processed what. Bad input (truncated or hostile files, non-CT modality,
 * unsupported transfer syntax, inconsistent geometry) is listed in <outdir>/ingest-report.csv and
 * skipped, unless strict.
 *
 * Readers for the later stages:
 *
 *     ct_archive_meta m;
 *     if (ct_archive_read_meta(&f, &m)) ...            // per-slice patient/series/label arrays
 *     uint8_t *buf = malloc((size_t)64 * CT_OUT * CT_OUT);
 *     ct_archive_read_slices(&f, first, 64, buf);       // slices [first, first+64)
 *     ct_archive_meta_free(&m);
 */
#ifndef HUST19_INGEST_H
#define HUST19_INGEST_H

#include "hust19/cfg.h"
#include "hust19/h5io.h"
#include "hust19/job.h"

#include <stdint.h>

/* Slice labels of /ct/label (the paper's three slice classes). */
enum { CT_LABEL_NONE = -1, CT_LABEL_NICT = 0, CT_LABEL_PCT = 1, CT_LABEL_NCT = 2 };

#define CT_SHARD_MAGIC "H19CTSHD"
#define CT_SHARD_VERSION 1

/* The `ct:` job section (docs/archive.md lists the keys). Strings are borrowed from the job doc. */
typedef struct {
    int present;              /* the job has a ct: section */
    const char *manifest;     /* CSV: patient_id, series_dir (or series), paths relative to its dir */
    const char *dicom_root;   /* <root>/<patient id>/<series>/<files> when no manifest */
    const char *jpeg_root;    /* <root>/<patient id>/<n>.jpg (iCTCF layout) */
    const char *labels;       /* slice_labels.csv: patient_id, label and file (or instance) */
    double center, width;     /* lung window (HU) */
    const char *deid_secret;  /* de-identification key (NULL: no de-identified copies) */
    const char *deid_out;     /* directory for de-identified DICOM copies (NULL: none) */
    int strict;               /* bad input is fatal */
} ct_ingest_opts;

/* Parse the ct: section of a job document strictly (an unknown key is an error naming it and the
 * known keys; exactly one of manifest, dicom_root, jpeg_root). No section: o->present = 0. */
int ct_ingest_parse(cfg_doc *doc, ct_ingest_opts *o);

/* The hook of `hust19 ingest` (src/cli/cmd_ingest.c): parse the job's ct: section and, when
 * present, run ct_ingest_run into the archive being created. Collective. */
int ct_ingest_stage(h19_job *job, h5_file *f);

/* The ingest proper, into an archive being created whose /patients/id is already written.
 * workdir receives ingest-shards/ and ingest-report.csv. Collective over f->comm (= the world).
 * Returns H19_ESTOP when SIGUSR1/SIGTERM arrived (finished series are saved; re-run to resume). */
int ct_ingest_run(const ct_ingest_opts *o, const char *workdir, h5_file *f);

/* Per-slice and per-series metadata of an archive's /ct part (every array malloc'd; free with
 * ct_archive_meta_free). An archive without /ct reads as n = nseries = 0 (npatients still set). */
typedef struct {
    int64_t n;                 /* slices */
    int32_t *patient;          /* [n] row in /patients */
    int32_t *series;           /* [n] row in /ct/series_table */
    int32_t *instance;         /* [n] InstanceNumber (JPEG: n of <n>.jpg) */
    int8_t *label;             /* [n] CT_LABEL_* */
    double *z;                 /* [n] position along the slice normal (mm), or the instance */
    int64_t nseries;
    int32_t *series_patient;   /* [nseries] */
    int64_t *series_first;     /* [nseries] first slice */
    int32_t *series_count;     /* [nseries] slices (0: the series was rejected) */
    int64_t npatients;
    int64_t *ct_first;         /* [npatients] first slice of the patient (0 when none) */
    int32_t *ct_count;         /* [npatients] */
} ct_archive_meta;

int ct_archive_read_meta(h5_file *f, ct_archive_meta *m);
void ct_archive_meta_free(ct_archive_meta *m);

/* Read slices [first, first + n) of /ct/slices (a hyperslab: only those chunks are decompressed)
 * into out (n * CT_OUT * CT_OUT bytes, the caller's). Independent (any rank, any time). */
int ct_archive_read_slices(h5_file *f, int64_t first, int64_t n, uint8_t *out);

#endif
