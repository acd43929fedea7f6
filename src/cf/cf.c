/* cf.c — the CF catalog, cell parsing and the patient × CF matrix (see include/hust19/cf.h). */
#include "hust19/cf.h"
#include "hust19/err.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const cf_categories[] = {"basic",       "routine_blood", "inflammation",
                                     "coagulation", "biochemical",   "immune_cell",
                                     "cytokine",    "autoimmune",    "urine",
                                     NULL};

/* ---- catalog ---------------------------------------------------------------------------------- */

void cf_catalog_free(cf_catalog *cat)
{
    if (!cat) return;
    for (int i = 0; i < cat->n; i++) {
        cf_feature *f = &cat->f[i];
        free(f->column);
        free(f->abbr);
        free(f->name);
        free(f->category);
        free(f->unit);
        for (int k = 0; k < f->nlevels; k++) free(f->level_text[k]);
        free(f->level_text);
        free(f->level_value);
    }
    free(cat->f);
    free(cat->path);
    memset(cat, 0, sizeof *cat);
}

int cf_catalog_find(const cf_catalog *cat, const char *column)
{
    for (int i = 0; i < cat->n; i++)
        if (strcmp(cat->f[i].column, column) == 0) return i;
    return -1;
}

static int dup_str(cfg_doc *d, cfg_node *m, const char *key, const char *def, int req, char **out)
{
    const char *s = NULL;
    H19_TRY(cfg_str(d, m, key, def, req, &s));
    *out = h19_strdup(s ? s : "");
    return *out ? H19_OK : H19_ENOMEM;
}

static int parse_feature(cfg_doc *d, cfg_node *m, cf_feature *f)
{
    if (m->kind != CFG_MAP) return cfg_error(d, m, "each feature must be a mapping");
    H19_TRY(dup_str(d, m, "column", NULL, 1, &f->column));
    H19_TRY(dup_str(d, m, "abbr", NULL, 1, &f->abbr));
    H19_TRY(dup_str(d, m, "name", f->column, 0, &f->name));
    H19_TRY(dup_str(d, m, "unit", "", 0, &f->unit));
    int cat_idx = 0;
    H19_TRY(cfg_enum(d, m, "category", cf_categories, -1, &cat_idx));
    if (cat_idx < 0) return cfg_error(d, m, "feature '%s' needs a category", f->column);
    f->category = h19_strdup(cf_categories[cat_idx]);
    static const char *const kinds[] = {"numeric", "binary", NULL};
    int kind = 0;
    H19_TRY(cfg_enum(d, m, "kind", kinds, 0, &kind));
    f->kind = (cf_kind)kind;
    int rc;
    cfg_node *normal = cfg_seq(d, m, "normal", 0, &rc);
    if (rc) return rc;
    if (normal) {
        if (normal->n != 2) return cfg_error(d, normal, "'normal' must be [min, max]");
        H19_TRY(cfg_node_double(d, normal->items[0], &f->normal_lo));
        H19_TRY(cfg_node_double(d, normal->items[1], &f->normal_hi));
        if (!(f->normal_lo < f->normal_hi))
            return cfg_error(d, normal, "feature '%s': normal range needs min < max", f->column);
        f->has_normal = 1;
    }
    cfg_node *levels = cfg_map(d, m, "levels", 0, &rc);
    if (rc) return rc;
    cfg_node *other = cfg_find(m, "other");
    if (f->kind == CF_BINARY) {
        if (!levels) return cfg_error(d, m, "binary feature '%s' needs 'levels'", f->column);
        f->nlevels = levels->n;
        f->level_text = h19_calloc((size_t)levels->n, sizeof(char *));
        f->level_value = h19_calloc((size_t)levels->n, sizeof(int));
        if (!f->level_text || !f->level_value) return H19_ENOMEM;
        for (int i = 0; i < levels->n; i++) {
            long v;
            levels->used[i] = 1;
            H19_TRY(cfg_node_int(d, levels->items[i], &v));
            if (v != 0 && v != 1) return cfg_error(d, levels->items[i], "levels map to 0 or 1");
            f->level_text[i] = h19_strdup(levels->keys[i]);
            if (!f->level_text[i]) return H19_ENOMEM;
            f->level_value[i] = (int)v;
        }
        if (other) {
            long v;
            H19_TRY(cfg_node_int(d, other, &v));
            if (v != 0 && v != 1) return cfg_error(d, other, "'other' must be 0 or 1");
            f->has_other = 1;
            f->other_value = (int)v;
        }
    } else {
        if (levels) return cfg_error(d, levels, "'levels' is only for binary features");
        if (other) return cfg_error(d, other, "'other' is only for binary features");
    }
    return H19_OK;
}

int cf_catalog_load(const char *path, cf_catalog *cat)
{
    memset(cat, 0, sizeof *cat);
    cfg_doc d;
    H19_TRY(cfg_load(&d, path));
    long version = 0;
    int rc = cfg_int(&d, d.root, "version", 0, 1, 1, &version);
    cfg_node *feats = NULL;
    if (!rc && version != 1) rc = cfg_error(&d, d.root, "missing 'version: 1'");
    if (!rc) feats = cfg_seq(&d, d.root, "features", 1, &rc);
    if (!rc) {
        cat->version = (int)version;
        cat->path = h19_strdup(path);
        cat->f = h19_calloc((size_t)feats->n, sizeof(cf_feature));
        if (!cat->f || !cat->path) rc = H19_ENOMEM;
    }
    for (int i = 0; !rc && i < feats->n; i++) {
        rc = parse_feature(&d, feats->items[i], &cat->f[i]);
        cat->n = i + 1;
        for (int j = 0; !rc && j < i; j++) {
            if (!strcmp(cat->f[j].column, cat->f[i].column))
                rc = cfg_error(&d, feats->items[i], "column '%s' is listed twice", cat->f[i].column);
            else if (!strcmp(cat->f[j].abbr, cat->f[i].abbr))
                rc = cfg_error(&d, feats->items[i], "abbreviation '%s' is used twice", cat->f[i].abbr);
        }
    }
    if (!rc) rc = cfg_check_unused(&d);
    cfg_free(&d);
    if (rc) cf_catalog_free(cat);
    return rc;
}

/* ---- cells -------------------------------------------------------------------------------------- */

int cf_parse_cell(const char *cell, double *value, uint8_t *state, int8_t *flag)
{
    const char *s = cell;
    while (*s == ' ' || *s == '\t') s++;
    *flag = 0;
    if (!*s) {
        *value = NAN;
        *state = CF_MISSING;
        return H19_OK;
    }
    uint8_t st = CF_EXACT;
    if (*s == '<') { st = CF_BELOW; s++; }
    else if (*s == '>') { st = CF_ABOVE; s++; }
    while (*s == ' ') s++;
    /* strtod would accept "inf", "nan" and hex; allow only decimal numbers */
    const char *q = s;
    if (*q == '+' || *q == '-') q++;
    if (!isdigit((unsigned char)*q) && !(*q == '.' && isdigit((unsigned char)q[1]))) return H19_EFORMAT;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v)) return H19_EFORMAT;
    if (end > s && (end[-1] == 'x' || end[-1] == 'X')) return H19_EFORMAT;
    const char *r = end;
    while (*r == ' ') r++;
    /* flags: ↑ U+2191 (E2 86 91), ↓ U+2193 (E2 86 93) */
    if ((unsigned char)r[0] == 0xE2 && (unsigned char)r[1] == 0x86 &&
        ((unsigned char)r[2] == 0x91 || (unsigned char)r[2] == 0x93)) {
        *flag = (unsigned char)r[2] == 0x91 ? 1 : -1;
        r += 3;
        while (*r == ' ') r++;
    }
    /* the rest may only be a unit: letters, °, %, /, ^, digits after a letter, µ etc. */
    if (*r) {
        if (isdigit((unsigned char)*r) || *r == '.' || *r == ',' || *r == '-' || *r == '+')
            return H19_EFORMAT;
        for (const char *u = r; *u; u++)
            if (*u == '<' || *u == '>' || (unsigned char)*u < 0x20) return H19_EFORMAT;
    }
    *value = v;
    *state = st;
    return H19_OK;
}

/* ---- matrix ------------------------------------------------------------------------------------- */

void cf_data_free(cf_data *d)
{
    if (!d) return;
    for (int i = 0; i < d->n; i++) free(d->id[i]);
    free(d->id);
    free(d->line);
    free(d->x);
    free(d->state);
    free(d->flag);
    free(d->source);
    memset(d, 0, sizeof *d);
}

static int binary_value(const cf_feature *f, const char *cell, double *v)
{
    const char *s = cell;
    while (*s == ' ') s++;
    if (!*s) {
        *v = NAN;
        return H19_OK;
    }
    for (int k = 0; k < f->nlevels; k++)
        if (strcmp(f->level_text[k], s) == 0) {
            *v = f->level_value[k];
            return H19_OK;
        }
    if (f->has_other) {
        *v = f->other_value;
        return H19_OK;
    }
    return H19_EFORMAT;
}

int cf_data_build(const csv_table *t, const cf_catalog *cat, const char *id_column, cf_data *d)
{
    memset(d, 0, sizeof *d);
    int idc = csv_column(t, id_column);
    if (idc < 0)
        return h19_fail(H19_EFORMAT, "%s:%d: no id column '%s' in the header", t->path, t->line[0],
                        id_column);
    int p = cat->n, n = t->nrows - 1;
    int *col = h19_malloc(sizeof(int) * (size_t)(p ? p : 1));
    if (!col) return H19_ENOMEM;
    for (int j = 0; j < p; j++) {
        col[j] = csv_column(t, cat->f[j].column);
        if (col[j] < 0) {
            int rc = h19_fail(H19_EFORMAT, "%s:%d: the catalog's column '%s' (%s) is not in the header",
                              t->path, t->line[0], cat->f[j].column, cat->path);
            free(col);
            return rc;
        }
    }
    d->n = n;
    d->p = p;
    d->source = h19_strdup(t->path);
    d->id = h19_calloc((size_t)(n ? n : 1), sizeof(char *));
    d->line = h19_calloc((size_t)(n ? n : 1), sizeof(int));
    d->x = h19_calloc((size_t)n * (size_t)p + 1, sizeof(double));
    d->state = h19_calloc((size_t)n * (size_t)p + 1, 1);
    d->flag = h19_calloc((size_t)n * (size_t)p + 1, 1);
    int rc = (!d->source || !d->id || !d->line || !d->x || !d->state || !d->flag) ? H19_ENOMEM : H19_OK;
    for (int i = 0; !rc && i < n; i++) {
        int r = i + 1;
        const char *id = csv_cell(t, r, idc);
        if (!*id) {
            rc = h19_fail(H19_EFORMAT, "%s:%d: empty patient id (column '%s')", t->path, t->line[r], id_column);
            break;
        }
        for (int k = 0; k < i && !rc; k++)
            if (!strcmp(d->id[k], id))
                rc = h19_fail(H19_EFORMAT, "%s:%d: patient id '%s' repeats line %d", t->path, t->line[r], id,
                              d->line[k]);
        if (rc) break;
        d->id[i] = h19_strdup(id);
        d->line[i] = t->line[r];
        if (!d->id[i]) { rc = H19_ENOMEM; break; }
        for (int j = 0; j < p; j++) {
            const cf_feature *f = &cat->f[j];
            const char *cell = csv_cell(t, r, col[j]);
            size_t k = (size_t)i * (size_t)p + (size_t)j;
            if (f->kind == CF_BINARY) {
                double v;
                if (binary_value(f, cell, &v)) {
                    rc = h19_fail(H19_EFORMAT, "%s:%d: column '%s': '%s' is not one of the catalog's levels",
                                  t->path, t->line[r], f->column, cell);
                    break;
                }
                d->x[k] = v;
                d->state[k] = isnan(v) ? CF_MISSING : CF_EXACT;
            } else if (cf_parse_cell(cell, &d->x[k], &d->state[k], &d->flag[k])) {
                rc = h19_fail(H19_EFORMAT, "%s:%d: column '%s': expected a number (like 3.5, '35.80 ↓', "
                                           "'<0.13' or empty), found '%s'",
                              t->path, t->line[r], f->column, cell);
                break;
            }
        }
    }
    free(col);
    if (rc) cf_data_free(d);
    return rc;
}

/* ---- outcomes and cohorts ---------------------------------------------------------------------- */

void cf_outcome_free(cf_outcome *o)
{
    if (!o) return;
    free(o->name);
    free(o->label_column);
    for (int i = 0; i < o->nclass; i++) free(o->class_name[i]);
    free(o->class_name);
    for (int i = 0; i < o->nmap; i++) free(o->map_text[i]);
    free(o->map_text);
    free(o->map_class);
    memset(o, 0, sizeof *o);
}

int cf_outcome_parse(cfg_doc *d, cfg_node *node, const char *name, cf_outcome *o)
{
    memset(o, 0, sizeof *o);
    int rc = H19_OK;
    o->name = h19_strdup(name);
    const char *col = NULL;
    if ((rc = cfg_str(d, node, "label_column", NULL, 1, &col))) goto fail;
    o->label_column = h19_strdup(col);
    cfg_node *classes = cfg_seq(d, node, "classes", 1, &rc);
    if (rc) goto fail;
    if (classes->n < 2 || classes->n > 16) {
        rc = cfg_error(d, classes, "'%s.classes' needs 2 to 16 classes", name);
        goto fail;
    }
    o->nclass = classes->n;
    o->class_name = h19_calloc((size_t)o->nclass, sizeof(char *));
    if (!o->class_name) { rc = H19_ENOMEM; goto fail; }
    for (int i = 0; i < o->nclass; i++) {
        const char *s;
        if ((rc = cfg_node_str(d, classes->items[i], &s))) goto fail;
        o->class_name[i] = h19_strdup(s);
    }
    cfg_node *map = cfg_map(d, node, "map", 1, &rc);
    if (rc) goto fail;
    if (!map) { rc = cfg_error(d, node, "'%s.map' must not be empty", name); goto fail; }
    o->nmap = map->n;
    o->map_text = h19_calloc((size_t)map->n, sizeof(char *));
    o->map_class = h19_calloc((size_t)map->n, sizeof(int));
    if (!o->map_text || !o->map_class) { rc = H19_ENOMEM; goto fail; }
    for (int i = 0; i < map->n; i++) {
        map->used[i] = 1;
        const char *s;
        if ((rc = cfg_node_str(d, map->items[i], &s))) goto fail;
        int cls = -2;
        if (!strcmp(s, "exclude")) cls = -1;
        for (int k = 0; k < o->nclass; k++)
            if (!strcmp(s, o->class_name[k])) cls = k;
        if (cls == -2) {
            rc = cfg_error(d, map->items[i], "'%s' maps to '%s', which is neither a class of '%s' nor 'exclude'",
                           map->keys[i], s, name);
            goto fail;
        }
        o->map_text[i] = h19_strdup(map->keys[i]);
        o->map_class[i] = cls;
    }
    cfg_node *coh = cfg_seq(d, node, "cohorts", 0, &rc);
    if (rc) goto fail;
    if (coh) {
        if (coh->n > 8) { rc = cfg_error(d, coh, "at most 8 cohorts"); goto fail; }
        for (int i = 0; i < coh->n; i++) {
            long v;
            if ((rc = cfg_node_int(d, coh->items[i], &v))) goto fail;
            o->cohorts[o->ncohorts++] = (int)v;
        }
    }
    return H19_OK;
fail:
    cf_outcome_free(o);
    return rc;
}

int cf_labels_build(const csv_table *t, const cf_outcome *o, const char *job_file, int *y)
{
    int c = csv_column(t, o->label_column);
    if (c < 0)
        return h19_fail(H19_EFORMAT, "%s:%d: no label column '%s' (outcome '%s' in %s)", t->path, t->line[0],
                        o->label_column, o->name, job_file);
    for (int r = 1; r < t->nrows; r++) {
        const char *s = csv_cell(t, r, c);
        int cls = -2;
        for (int k = 0; k < o->nmap; k++)
            if (!strcmp(o->map_text[k], s)) cls = o->map_class[k];
        if (cls == -2)
            return h19_fail(H19_EFORMAT, "%s:%d: column '%s': label '%s' is not in the class map of outcome "
                                         "'%s' (%s)",
                            t->path, t->line[r], o->label_column, s, o->name, job_file);
        y[r - 1] = cls;
    }
    return H19_OK;
}

void cf_cohorts_free(cf_cohorts *c)
{
    if (!c) return;
    free(c->column);
    memset(c, 0, sizeof *c);
}

int cf_cohorts_parse(cfg_doc *d, cfg_node *node, cf_cohorts *c)
{
    memset(c, 0, sizeof *c);
    const char *col = NULL;
    H19_TRY(cfg_str(d, node, "column", NULL, 0, &col));
    int rc;
    cfg_node *ranges = cfg_map(d, node, "id_ranges", 0, &rc);
    if (rc) return rc;
    if (!!col == !!ranges) return cfg_error(d, node, "cohorts need exactly one of 'column' or 'id_ranges'");
    if (col) {
        c->column = h19_strdup(col);
        return c->column ? H19_OK : H19_ENOMEM;
    }
    if (ranges->n > 16) return cfg_error(d, ranges, "at most 16 id ranges");
    for (int i = 0; i < ranges->n; i++) {
        ranges->used[i] = 1;
        cfg_node *r = ranges->items[i];
        char *end;
        long coh = strtol(ranges->keys[i], &end, 10);
        if (*end || coh < 1 || coh > 99) return cfg_error(d, r, "cohort key '%s' must be a number 1..99", ranges->keys[i]);
        if (r->kind != CFG_SEQ || r->n != 2) return cfg_error(d, r, "id range must be [first, last]");
        H19_TRY(cfg_node_int(d, r->items[0], &c->range_lo[i]));
        H19_TRY(cfg_node_int(d, r->items[1], &c->range_hi[i]));
        c->range_cohort[i] = (int)coh;
        c->nranges = i + 1;
    }
    return H19_OK;
}

int cf_cohorts_assign(const csv_table *t, const cf_data *dd, const cf_cohorts *c, int *cohort)
{
    int col = -1;
    if (c->column) {
        col = csv_column(t, c->column);
        if (col < 0) return h19_fail(H19_EFORMAT, "%s: no cohort column '%s'", t->path, c->column);
    }
    for (int i = 0; i < dd->n; i++) {
        cohort[i] = 0;
        if (col >= 0) {
            const char *s = csv_cell(t, i + 1, col);
            char *end;
            long v = strtol(s, &end, 10);
            if (*s && (*end || v < 0 || v > 99))
                return h19_fail(H19_EFORMAT, "%s:%d: cohort '%s' is not a number", t->path, dd->line[i], s);
            cohort[i] = *s ? (int)v : 0;
            continue;
        }
        char *end;
        long id = strtol(dd->id[i], &end, 10);
        if (*end) continue; /* non-numeric ids belong to no id range */
        for (int k = 0; k < c->nranges; k++)
            if (id >= c->range_lo[k] && id <= c->range_hi[k]) cohort[i] = c->range_cohort[k];
    }
    return H19_OK;
}

/* ---- normalisation (paper equation 9) ---------------------------------------------------------- */

int cf_norm_width(const cf_catalog *cat, const cf_norm_opts *o)
{
    int w = cat->n;
    if (o && o->missing_indicators)
        for (int j = 0; j < cat->n; j++) w += cat->f[j].kind == CF_NUMERIC;
    return w;
}

int cf_normalise(const cf_data *d, const cf_catalog *cat, const int *train_rows, int ntrain,
                 const int *rows, int nrows, const cf_norm_opts *o, float *out)
{
    int p = d->p, w = cf_norm_width(cat, o);
    int clip = o->clip_lo < o->clip_hi;
    for (int j = 0, ind = p; j < p; j++) {
        const cf_feature *f = &cat->f[j];
        double lo = f->normal_lo, hi = f->normal_hi;
        if (f->kind == CF_NUMERIC && (!f->has_normal || o->data_range)) {
            /* the training fold's observed range (never the rows being scored) */
            lo = INFINITY;
            hi = -INFINITY;
            for (int t = 0; t < ntrain; t++) {
                double v = d->x[(size_t)train_rows[t] * (size_t)p + (size_t)j];
                if (!isnan(v)) {
                    if (v < lo) lo = v;
                    if (v > hi) hi = v;
                }
            }
            if (!(lo < hi)) { /* unobserved or constant in training: no information */
                lo = 0;
                hi = 0;
            }
        }
        for (int r = 0; r < nrows; r++) {
            double v = d->x[(size_t)rows[r] * (size_t)p + (size_t)j];
            double F;
            if (isnan(v))
                F = o->missing;
            else if (f->kind == CF_BINARY)
                F = v;
            else if (hi > lo) {
                F = (v - lo) / (hi - lo);
                if (clip) F = F < o->clip_lo ? o->clip_lo : F > o->clip_hi ? o->clip_hi : F;
            } else
                F = o->missing;
            out[(size_t)r * (size_t)w + (size_t)j] = (float)F;
            if (o->missing_indicators && f->kind == CF_NUMERIC)
                out[(size_t)r * (size_t)w + (size_t)ind] = isnan(v) ? 0.0f : 1.0f;
        }
        if (o->missing_indicators && f->kind == CF_NUMERIC) ind++;
    }
    return H19_OK;
}
