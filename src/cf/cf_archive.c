/* cf_archive.c — the clinical-feature part of the archive (see include/hust19/archive.h). */
#include "hust19/archive.h"
#include "hust19/dist.h"
#include "hust19/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void block_of(int64_t n, int64_t *first, int64_t *count)
{
    int r = dist_rank(), s = dist_size();
    *first = n * r / s;
    *count = n * (r + 1) / s - *first;
}

int cf_archive_write(h5_file *f, const csv_table *t, const cf_catalog *cat, const cf_data *d,
                     const int *cohort)
{
    int64_t n = d->n, p = d->p, first, cnt;
    block_of(n, &first, &cnt);
    H19_TRY(h5_write_strings(f, "/patients/id", n, first, cnt, (const char *const *)d->id + first));
    H19_TRY(h5_write_i32_1d(f, "/patients/line", n, first, cnt, d->line + first));
    H19_TRY(h5_write_i32_1d(f, "/patients/cohort", n, first, cnt, cohort + first));
    /* raw text of every column that is not a feature */
    int k = 0;
    const char **col = h19_malloc(sizeof(char *) * (size_t)(n ? n : 1));
    if (!col) return H19_ENOMEM;
    int rc = H19_OK;
    for (int c = 0; c < t->nfields[0] && !rc; c++) {
        const char *name = csv_cell(t, 0, c);
        if (cf_catalog_find(cat, name) >= 0) continue;
        for (int64_t i = 0; i < n; i++) col[i] = csv_cell(t, (int)i + 1, c);
        char ds[64];
        snprintf(ds, sizeof ds, "/patients/columns/%03d", k++);
        rc = h5_write_strings(f, ds, n, first, cnt, col + first);
        if (!rc) rc = h5_attr_str(f, ds, "column", name);
    }
    free(col);
    if (rc) return rc;
    const char **s = h19_malloc(sizeof(char *) * (size_t)(p ? p : 1));
    int32_t *kind = h19_malloc(sizeof(int32_t) * (size_t)(p ? p : 1));
    double *normal = h19_malloc(sizeof(double) * 2 * (size_t)(p ? p : 1));
    if (!s || !kind || !normal) { free(s); free(kind); free(normal); return H19_ENOMEM; }
    int64_t pf, pc;
    block_of(p, &pf, &pc);
    int64_t dims2[2] = {p, 2};
    for (int j = 0; j < p; j++) {
        kind[j] = cat->f[j].kind;
        normal[2 * j] = cat->f[j].has_normal ? cat->f[j].normal_lo : NAN;
        normal[2 * j + 1] = cat->f[j].has_normal ? cat->f[j].normal_hi : NAN;
    }
    const size_t offs[] = {offsetof(cf_feature, column), offsetof(cf_feature, abbr), offsetof(cf_feature, name),
                           offsetof(cf_feature, category), offsetof(cf_feature, unit)};
    const char *names[] = {"/cf/column", "/cf/abbr", "/cf/name", "/cf/category", "/cf/unit"};
    for (int q = 0; q < 5 && !rc; q++) {
        for (int j = 0; j < p; j++) s[j] = *(char *const *)((const char *)&cat->f[j] + offs[q]);
        rc = h5_write_strings(f, names[q], p, pf, pc, s + pf);
    }
    if (!rc) rc = h5_write(f, "/cf/kind", H5T_NATIVE_INT32, 1, &p, pf, pc, kind + pf, 0);
    if (!rc) rc = h5_write(f, "/cf/normal", H5T_NATIVE_DOUBLE, 2, dims2, pf, pc, normal + 2 * pf, 0);
    free(s);
    free(kind);
    free(normal);
    if (rc) return rc;
    int64_t dims[2] = {n, p};
    H19_TRY(h5_write(f, "/cf/values", H5T_NATIVE_DOUBLE, 2, dims, first, cnt, d->x + first * p, 1));
    H19_TRY(h5_write(f, "/cf/state", H5T_NATIVE_UINT8, 2, dims, first, cnt, d->state + first * p, 1));
    H19_TRY(h5_write(f, "/cf/flag", H5T_NATIVE_INT8, 2, dims, first, cnt, d->flag + first * p, 1));
    H19_TRY(h5_attr_str(f, "/cf", "source_table", d->source));
    H19_TRY(h5_attr_str(f, "/cf", "catalog", cat->path));
    return H19_OK;
}

void cf_archive_free(cf_archive *a)
{
    if (!a) return;
    /* ids are owned by one block from h5_read_strings: free via the block, not per string */
    if (a->d.id) {
        free(a->d.id);
        a->d.id = NULL;
        a->d.n = 0;
    }
    cf_data_free(&a->d);
    cf_catalog_free(&a->cat);
    free(a->cohort);
    for (int k = 0; k < a->ntext; k++) free(a->text_block[k]);
    free(a->text_block);
    free(a->text);
    for (int k = 0; k < a->ntext; k++) free(a->text_name[k]);
    free(a->text_name);
    memset(a, 0, sizeof *a);
}

int cf_archive_read(h5_file *f, cf_archive *a)
{
    memset(a, 0, sizeof *a);
    int64_t n = 0, p = 0, dims[4];
    int nd;
    int rc = h5_read_strings(f, "/patients/id", &n, &a->d.id);
    if (rc) return h19_fail_ctx(rc, "%s has no clinical features: run 'hust19 ingest' first", f->path);
    a->d.n = (int)n;
    void *buf = NULL;
    if ((rc = h5_read(f, "/patients/line", H5T_NATIVE_INT32, &nd, dims, &buf))) goto fail;
    a->d.line = buf;
    if ((rc = h5_read(f, "/patients/cohort", H5T_NATIVE_INT32, &nd, dims, &buf))) goto fail;
    a->cohort = buf;
    char **cols[5] = {0};
    const char *names[] = {"/cf/column", "/cf/abbr", "/cf/name", "/cf/category", "/cf/unit"};
    for (int q = 0; q < 5; q++)
        if ((rc = h5_read_strings(f, names[q], &p, &cols[q]))) {
            for (int r = 0; r < q; r++) free(cols[r]);
            goto fail;
        }
    a->d.p = (int)p;
    a->cat.n = (int)p;
    a->cat.version = 1;
    a->cat.path = h19_strdup(f->path);
    a->cat.f = h19_calloc((size_t)(p ? p : 1), sizeof(cf_feature));
    int32_t *kind = NULL;
    double *normal = NULL;
    rc = h5_read(f, "/cf/kind", H5T_NATIVE_INT32, &nd, dims, (void **)&kind);
    if (!rc) rc = h5_read(f, "/cf/normal", H5T_NATIVE_DOUBLE, &nd, dims, (void **)&normal);
    if (!rc && !a->cat.f) rc = H19_ENOMEM;
    for (int j = 0; !rc && j < p; j++) {
        cf_feature *ft = &a->cat.f[j];
        ft->column = h19_strdup(cols[0][j]);
        ft->abbr = h19_strdup(cols[1][j]);
        ft->name = h19_strdup(cols[2][j]);
        ft->category = h19_strdup(cols[3][j]);
        ft->unit = h19_strdup(cols[4][j]);
        ft->kind = (cf_kind)kind[j];
        ft->has_normal = !isnan(normal[2 * j]);
        ft->normal_lo = normal[2 * j];
        ft->normal_hi = normal[2 * j + 1];
    }
    for (int q = 0; q < 5; q++) free(cols[q]);
    free(kind);
    free(normal);
    if (rc) goto fail;
    if ((rc = h5_read(f, "/cf/values", H5T_NATIVE_DOUBLE, &nd, dims, &buf))) goto fail;
    a->d.x = buf;
    if (dims[0] != n || dims[1] != p) { rc = h19_fail(H19_EFORMAT, "%s: /cf/values has the wrong shape", f->path); goto fail; }
    if ((rc = h5_read(f, "/cf/state", H5T_NATIVE_UINT8, &nd, dims, &buf))) goto fail;
    a->d.state = buf;
    if ((rc = h5_read(f, "/cf/flag", H5T_NATIVE_INT8, &nd, dims, &buf))) goto fail;
    a->d.flag = buf;
    a->d.source = h19_strdup(f->path);
    /* text columns */
    for (int k = 0;; k++) {
        char ds[64];
        snprintf(ds, sizeof ds, "/patients/columns/%03d", k);
        if (!h5_exists(f, ds)) break;
        char **tx = h19_realloc(a->text_name, sizeof(char *) * (size_t)(k + 1));
        if (!tx) { rc = H19_ENOMEM; goto fail; }
        a->text_name = tx;
        char ***tt = h19_realloc(a->text, sizeof(char **) * (size_t)(k + 1));
        if (!tt) { rc = H19_ENOMEM; goto fail; }
        a->text = tt;
        char **tb = h19_realloc(a->text_block, sizeof(char *) * (size_t)(k + 1));
        if (!tb) { rc = H19_ENOMEM; goto fail; }
        a->text_block = tb;
        int64_t m;
        char **vals;
        if ((rc = h5_read_strings(f, ds, &m, &vals))) goto fail;
        char *cname = NULL;
        if ((rc = h5_read_attr_str(f, ds, "column", &cname))) { free(vals); goto fail; }
        a->text_name[k] = cname;
        a->text[k] = vals;
        a->text_block[k] = (char *)vals;
        a->ntext = k + 1;
    }
    return H19_OK;
fail:
    /* features not yet copied: make free safe */
    cf_archive_free(a);
    return rc;
}

char *const *cf_archive_column(const cf_archive *a, const char *name)
{
    for (int k = 0; k < a->ntext; k++)
        if (!strcmp(a->text_name[k], name)) return a->text[k];
    return NULL;
}

int cf_archive_labels(const cf_archive *a, const cf_outcome *o, const char *job_file, int *y)
{
    char *const *col = cf_archive_column(a, o->label_column);
    if (!col)
        return h19_fail(H19_EFORMAT, "%s: no label column '%s' (outcome '%s' in %s)", a->d.source, o->label_column,
                        o->name, job_file);
    for (int i = 0; i < a->d.n; i++) {
        int cls = -2;
        for (int k = 0; k < o->nmap; k++)
            if (!strcmp(o->map_text[k], col[i])) cls = o->map_class[k];
        if (cls == -2)
            return h19_fail(H19_EFORMAT, "patient '%s' (table line %d): column '%s': label '%s' is not in the class "
                                         "map of outcome '%s' (%s)",
                            a->d.id[i], a->d.line[i], o->label_column, col[i], o->name, job_file);
        y[i] = cls;
    }
    return H19_OK;
}
