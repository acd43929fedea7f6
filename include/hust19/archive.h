/* archive.h — the hust19 archive (HDF5, kind "hust19-archive", schema in docs/archive.md).
 *
 * The clinical-feature part, written by `hust19 ingest` and read by every later stage:
 *   /patients/id [n] str, /patients/line [n] i32, /patients/cohort [n] i32,
 *   /patients/columns/<k> [n] str (raw text of every non-feature column; attribute "column")
 *   /cf/column, /cf/abbr, /cf/category, /cf/unit [p] str, /cf/kind [p] i32, /cf/normal [p,2] f64
 *   /cf/values [n,p] f64 (NaN = missing), /cf/state [n,p] u8, /cf/flag [n,p] i8
 * The CT part (/ct/...) is written by the imaging ingest (docs/archive.md).
 */
#ifndef HUST19_ARCHIVE_H
#define HUST19_ARCHIVE_H

#include "hust19/cf.h"
#include "hust19/csv.h"
#include "hust19/h5io.h"

#define H19_ARCHIVE_KIND "hust19-archive"
#define H19_ARCHIVE_VERSION 1
#define H19_RESULTS_KIND "hust19-results"
#define H19_RESULTS_VERSION 1

typedef struct {
    cf_data d;          /* values, states, flags, ids */
    cf_catalog cat;     /* the catalog as ingested (no binary levels: values are already 0/1) */
    int *cohort;        /* [n] */
    int ntext;
    char **text_name;   /* [ntext] column names */
    char ***text;       /* [ntext][n] raw cell text */
    char **text_block;  /* [ntext] allocation blocks of text[k] */
} cf_archive;

/* Write the CF part into an open (being created) archive. Collective; each rank writes a block of
 * rows. */
int cf_archive_write(h5_file *f, const csv_table *t, const cf_catalog *cat, const cf_data *d,
                     const int *cohort);
/* Read the CF part of an archive (every rank reads it all). */
int cf_archive_read(h5_file *f, cf_archive *a);
void cf_archive_free(cf_archive *a);
/* Raw text of a column for every patient, or NULL if the archive has no such column. Borrowed. */
char *const *cf_archive_column(const cf_archive *a, const char *name);
/* Labels of an outcome from the archived label column (same rules as cf_labels_build). */
int cf_archive_labels(const cf_archive *a, const cf_outcome *o, const char *job_file, int *y);

#endif
