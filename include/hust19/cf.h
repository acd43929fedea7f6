/* cf.h — clinical features: the catalog, cell parsing, the patient × CF matrix, labels, cohorts
 * and the paper's normalisation (equation 9).
 *
 * Cells are parsed as the iCTCF resource prints them:
 *   "38.5°C" / "7.2 mmol/L"  a number followed by a unit          -> CF_EXACT
 *   "35.80 ↓" / "22.00 ↑"    a number with the lab's low/high flag -> CF_EXACT, flag -1 / +1
 *   "<0.13" / ">8.00"        beyond the assay's range (censored)   -> CF_BELOW / CF_ABOVE, value x
 *   ""                       not measured                          -> CF_MISSING (value NaN)
 *
 * Typical use (every pointer in the structs is owned by the struct; *_free releases all):
 *     cf_catalog cat;  cf_catalog_load("configs/cf_catalog.yaml", &cat);
 *     csv_table t;     csv_read(path, 1, &t);
 *     cf_data d;       cf_data_build(&t, &cat, id_column, &d);
 *     cf_labels y;     cf_labels_build(&t, &d, &outcome_spec, &y);
 *     cf_normalise(&d, &cat, train_rows, ntrain, rows, nrows, opts, out);
 */
#ifndef HUST19_CF_H
#define HUST19_CF_H

#include "hust19/cfg.h"
#include "hust19/csv.h"

#include <stdint.h>

enum { CF_MISSING = 0, CF_EXACT = 1, CF_BELOW = 2, CF_ABOVE = 3 };
typedef enum { CF_NUMERIC = 0, CF_BINARY = 1 } cf_kind;

/* The paper's nine classes of clinical examinations. */
extern const char *const cf_categories[]; /* NULL-terminated */

typedef struct {
    char *column, *abbr, *name, *category, *unit;
    cf_kind kind;
    int has_normal;
    double normal_lo, normal_hi;
    /* binary: cell text -> 0/1; `other` applies to any other non-empty text when has_other */
    int nlevels;
    char **level_text;
    int *level_value;
    int has_other, other_value;
} cf_feature;

typedef struct {
    char *path;
    int version;
    int n;
    cf_feature *f;
} cf_catalog;

int cf_catalog_load(const char *path, cf_catalog *cat);
void cf_catalog_free(cf_catalog *cat);
int cf_catalog_find(const cf_catalog *cat, const char *column); /* index or -1 */

/* Parse one numeric cell. Returns H19_OK, or H19_EFORMAT without a message (the caller names the
 * place). */
int cf_parse_cell(const char *cell, double *value, uint8_t *state, int8_t *flag);

typedef struct {
    int n, p;            /* patients (table rows), features (catalog order) */
    char **id;           /* [n] patient ids (owned) */
    int *line;           /* [n] source line in the CSV */
    double *x;           /* [n*p] value (NaN when missing; binary 0/1) */
    uint8_t *state;      /* [n*p] CF_MISSING / CF_EXACT / CF_BELOW / CF_ABOVE */
    int8_t *flag;        /* [n*p] -1 low, +1 high, 0 none */
    char *source;        /* table path */
} cf_data;

/* Build the matrix for the catalog's features from a CSV table (row 0 = header). Every catalog
 * column must exist in the table; a cell that is not a number (numeric CF) or not a known level
 * (binary CF without `other`) is an error "file:line: column 'X': expected ..., found '...'". */
int cf_data_build(const csv_table *t, const cf_catalog *cat, const char *id_column, cf_data *d);
void cf_data_free(cf_data *d);

/* An outcome: which column holds the label, the classes and how cell texts map to them. */
typedef struct {
    char *name;          /* "morbidity" */
    char *label_column;
    int nclass;
    char **class_name;   /* [nclass] */
    int nmap;
    char **map_text;     /* cell text ... */
    int *map_class;      /* ... -> class index, or -1 = exclude from this outcome */
    int ncohorts;
    int cohorts[8];      /* cohorts included (ids from the job's cohort definition) */
} cf_outcome;

/* Parse an outcome section of a job file (see docs/jobs.md). */
int cf_outcome_parse(cfg_doc *d, cfg_node *node, const char *name, cf_outcome *o);
void cf_outcome_free(cf_outcome *o);
/* y[i] = class of patient i, or -1 when excluded. A label text that is not in the map is an error
 * naming the CSV line and the job file. */
int cf_labels_build(const csv_table *t, const cf_outcome *o, const char *job_file, int *y);

/* Cohorts: by id ranges ({"1": [1, 1170], "2": [1171, 1521]}) or by a column whose text is the
 * cohort number. cohort[i] = 0 when the patient is in no cohort. */
typedef struct {
    char *column;        /* NULL when by ranges */
    int nranges;
    int range_cohort[16];
    long range_lo[16], range_hi[16];
} cf_cohorts;
int cf_cohorts_parse(cfg_doc *d, cfg_node *node, cf_cohorts *c);
void cf_cohorts_free(cf_cohorts *c);
int cf_cohorts_assign(const csv_table *t, const cf_data *dd, const cf_cohorts *c, int *cohort);

/* Normalisation options. */
typedef struct {
    double missing;      /* value for a missing CF (paper: 0.5) */
    double clip_lo, clip_hi; /* clip F to [lo, hi] (no clipping when lo >= hi) */
    int missing_indicators;  /* append one 0/1 "measured" column per numeric CF */
    int data_range;          /* ignore the catalog's normal ranges: Min/Max of the training rows */
} cf_norm_opts;

/* Width of a normalised row. */
int cf_norm_width(const cf_catalog *cat, const cf_norm_opts *o);
/* F = (f - Min) / (Max - Min) with the catalog's normal range; for a CF without one, Min/Max are
 * taken over the observed values of the training rows only (never the rows being normalised unless
 * they are training rows). Binary CFs are 0/1. out: nrows × cf_norm_width, row-major (float). */
int cf_normalise(const cf_data *d, const cf_catalog *cat, const int *train_rows, int ntrain,
                 const int *rows, int nrows, const cf_norm_opts *o, float *out);

#endif
