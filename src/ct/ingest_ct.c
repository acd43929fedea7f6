/* ingest_ct.c — the parallel CT ingest (include/hust19/ingest.h; schema in docs/archive.md).
 *
 * Phase 1 (dynamic): every series is a task of dist_queue_next. A task lists its directory, derives
 * a key (SHA-256 of the parameters, the patient, and every file's name, size and mtime) and, when a
 * shard with that key exists, reuses it; otherwise it reads each slice (dcm_read_ct or
 * jpg_read_gray), windows it (dcm_window_u8), preprocesses it (ct_preprocess, one context per rank),
 * orders the series (dcm_series_order), labels it, writes de-identified copies if asked, and saves
 * everything as one shard (atomic). Bad files are recorded in the shard's report section.
 * Phase 2 (static): series are ordered by (CF row of the patient, manifest order); each rank takes a
 * contiguous block of that order (balanced by slice count), reads its shards and writes its block of
 * rows with the collective h5io writes. Nothing depends on which rank processed which task. */
#include "hust19/ingest.h"

#include "hust19/ct.h"
#include "hust19/csv.h"
#include "hust19/dicom.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/jpeg.h"
#include "hust19/log.h"
#include "ingest_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define PX (CT_OUT * CT_OUT)
#define SHARD_HEADER 128
#define SHARD_SLICE_REC 16

/* ---- job keys ------------------------------------------------------------------------------------ */

static int check_keys(cfg_doc *d, cfg_node *map, const char *const *known)
{
    if (!map) return H19_OK;
    for (int i = 0; i < map->n; i++) {
        int ok = 0;
        for (int k = 0; known[k] && !ok; k++) ok = !strcmp(map->keys[i], known[k]);
        if (ok) continue;
        char list[256] = "";
        for (int k = 0; known[k]; k++) {
            if (k) strncat(list, ", ", sizeof list - strlen(list) - 1);
            strncat(list, known[k], sizeof list - strlen(list) - 1);
        }
        return cfg_error(d, map->items[i], "unknown key '%s' in '%s' (known: %s)", map->keys[i], map->path,
                         list);
    }
    return H19_OK;
}

int ct_ingest_parse(cfg_doc *d, ct_ingest_opts *o)
{
    memset(o, 0, sizeof *o);
    o->center = DCM_LUNG_CENTER;
    o->width = DCM_LUNG_WIDTH;
    int rc = H19_OK;
    if (!cfg_peek(d->root, "ct")) return H19_OK;
    cfg_node *ct = cfg_map(d, d->root, "ct", 0, &rc);
    if (rc) return rc;
    o->present = 1;
    static const char *const keys[] = {"manifest", "dicom_root", "jpeg_root", "labels", "window", "deid", "strict", NULL};
    static const char *const wkeys[] = {"center", "width", NULL};
    static const char *const dkeys[] = {"secret", "out", NULL};
    H19_TRY(check_keys(d, ct, keys));
    H19_TRY(cfg_str(d, ct, "manifest", NULL, 0, &o->manifest));
    H19_TRY(cfg_str(d, ct, "dicom_root", NULL, 0, &o->dicom_root));
    H19_TRY(cfg_str(d, ct, "jpeg_root", NULL, 0, &o->jpeg_root));
    H19_TRY(cfg_str(d, ct, "labels", NULL, 0, &o->labels));
    bool strict = false;
    H19_TRY(cfg_bool(d, ct, "strict", false, &strict));
    o->strict = strict;
    cfg_node *w = cfg_map(d, ct, "window", 0, &rc);
    if (rc) return rc;
    H19_TRY(check_keys(d, w, wkeys));
    if (w) {
        H19_TRY(cfg_double(d, w, "center", DCM_LUNG_CENTER, -4096, 4096, &o->center));
        H19_TRY(cfg_double(d, w, "width", DCM_LUNG_WIDTH, 1, 8192, &o->width));
    }
    cfg_node *di = cfg_map(d, ct, "deid", 0, &rc);
    if (rc) return rc;
    H19_TRY(check_keys(d, di, dkeys));
    if (di) {
        H19_TRY(cfg_str(d, di, "secret", NULL, 1, &o->deid_secret));
        H19_TRY(cfg_str(d, di, "out", NULL, 0, &o->deid_out));
        if (!*o->deid_secret) return cfg_error(d, di, "'ct.deid.secret' must not be empty");
    }
    int nsrc = !!o->manifest + !!o->dicom_root + !!o->jpeg_root;
    if (nsrc != 1)
        return cfg_error(d, ct, "'ct' needs exactly one of manifest, dicom_root, jpeg_root (found %d)", nsrc);
    if (o->jpeg_root && o->deid_out)
        return cfg_error(d, di, "'ct.deid.out' writes DICOM copies: not available with jpeg_root");
    return H19_OK;
}

int ct_ingest_stage(h19_job *job, h5_file *f)
{
    ct_ingest_opts o;
    int rc = ct_ingest_parse(&job->doc, &o);
    rc = dist_agree(rc);
    if (rc || !o.present) return rc;
    return ct_ingest_run(&o, job->outdir, f);
}

/* ---- tasks, patients, labels -------------------------------------------------------------------- */

typedef struct {
    char *dir;     /* series directory (as joined from the job's paths, lexically normalised) */
    int row;       /* patient row in /patients */
    int jpeg;      /* a <n>.jpg tree */
    int order;     /* discovery order (manifest row, walk order) */
    int seq;       /* 1-based series number within the patient (for de-identified copies) */
} task;

typedef struct {
    char *file, *reason;
} report_row;

typedef struct {
    report_row *r;
    int n, cap;
} report;

static int report_add(report *rp, const char *file, const char *reason)
{
    if (rp->n == rp->cap) {
        int cap = rp->cap ? 2 * rp->cap : 16;
        report_row *q = h19_realloc(rp->r, sizeof *q * (size_t)cap);
        if (!q) return H19_ENOMEM;
        rp->r = q;
        rp->cap = cap;
    }
    rp->r[rp->n].file = h19_strdup(file);
    rp->r[rp->n].reason = h19_strdup(reason);
    if (!rp->r[rp->n].file || !rp->r[rp->n].reason) {
        free(rp->r[rp->n].file);
        free(rp->r[rp->n].reason);
        return H19_ENOMEM;
    }
    rp->n++;
    return H19_OK;
}

static void report_free(report *rp)
{
    for (int i = 0; i < rp->n; i++) {
        free(rp->r[i].file);
        free(rp->r[i].reason);
    }
    free(rp->r);
    memset(rp, 0, sizeof *rp);
}

typedef struct {
    char *key;    /* "F<normalised absolute path>" or "I<patient row>:<instance>" */
    int8_t label;
} label_row;

typedef struct {
    const ct_ingest_opts *o;
    int64_t npat;
    char **ids;          /* /patients/id */
    int *by_id;          /* rows sorted by id */
    task *t;
    int nt;
    report pre;          /* problems found before the tasks (manifest rows, walk) */
    label_row *lab;
    int nlab;
    char labels_hash[65];
    char secret_tag[65]; /* HMAC(secret, "shard-key"): the secret's identity without the secret */
    /* per-rank processing state */
    ct_prep *prep;
    int pw, ph;
    uint8_t *u8;
    size_t u8cap;
} ingest;

static const char *const *g_ids; /* for qsort/bsearch on ids */

static int cmp_row_by_id(const void *a, const void *b)
{
    return strcmp(g_ids[*(const int *)a], g_ids[*(const int *)b]);
}

static int patient_row(const ingest *g, const char *id)
{
    int lo = 0, hi = (int)g->npat - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(g->ids[g->by_id[mid]], id);
        if (!c) return g->by_id[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static int add_task(ingest *g, int *cap, char *dir, int row, int jpeg)
{
    if (!dir) return H19_ENOMEM;
    if (g->nt == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        task *q = h19_realloc(g->t, sizeof *q * (size_t)*cap);
        if (!q) {
            free(dir);
            return H19_ENOMEM;
        }
        g->t = q;
    }
    g->t[g->nt] = (task){dir, row, jpeg, g->nt, 0};
    g->nt++;
    return H19_OK;
}

/* A problem with the input that is skipped (reported), or fatal under strict. */
static int bad_input(const ingest *g, report *rp, const char *file, const char *reason)
{
    char why[2048]; /* reason may be h19_errmsg() itself: copy before recording a new message */
    snprintf(why, sizeof why, "%s", reason);
    if (g->o->strict) return h19_fail(H19_EFORMAT, "%s: %s (ct.strict: true)", file, why);
    return report_add(rp, file, why);
}

static int cmp_task(const void *a, const void *b)
{
    const task *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static int build_tasks_manifest(ingest *g)
{
    const ct_ingest_opts *o = g->o;
    csv_table t;
    H19_TRY(csv_read(o->manifest, 1, &t));
    int cp = csv_column(&t, "patient_id");
    int cs = csv_column(&t, "series_dir");
    if (cs < 0) cs = csv_column(&t, "series");
    int rc = H19_OK, cap = 0;
    if (cp < 0 || cs < 0)
        rc = h19_fail(H19_EFORMAT, "%s:%d: the manifest needs columns patient_id and series_dir (or series)",
                      o->manifest, t.line[0]);
    char *base = rc ? NULL : ig_dirname(o->manifest);
    if (!rc && !base) rc = H19_ENOMEM;
    for (int r = 1; !rc && r < t.nrows; r++) {
        const char *pid = csv_cell(&t, r, cp), *sd = csv_cell(&t, r, cs);
        if (!*sd) continue; /* a patient without CT */
        int row = patient_row(g, pid);
        if (row < 0) {
            char where[1200], why[300];
            snprintf(where, sizeof where, "%s:%d", o->manifest, t.line[r]);
            snprintf(why, sizeof why, "patient id '%.200s' is not in the clinical-feature table", pid);
            rc = bad_input(g, &g->pre, where, why);
            continue;
        }
        rc = add_task(g, &cap, ig_join(base, sd), row, 0);
    }
    free(base);
    csv_free(&t);
    return rc;
}

static int build_tasks_walk(ingest *g, const char *root, int jpeg)
{
    ig_entry *pe = NULL;
    int np = 0, cap = 0;
    H19_TRY(ig_list_dir(root, 1, &pe, &np));
    int rc = H19_OK;
    for (int i = 0; !rc && i < np; i++) {
        char *pdir = ig_join(root, pe[i].name);
        if (!pdir) {
            rc = H19_ENOMEM;
            break;
        }
        int row = patient_row(g, pe[i].name);
        if (row < 0) {
            rc = bad_input(g, &g->pre, pdir, "directory name is not a patient id of the clinical-feature table");
        } else if (jpeg) {
            rc = add_task(g, &cap, h19_strdup(pdir), row, 1);
        } else {
            ig_entry *se = NULL;
            int ns = 0;
            rc = ig_list_dir(pdir, 1, &se, &ns);
            for (int k = 0; !rc && k < ns; k++) rc = add_task(g, &cap, ig_join(pdir, se[k].name), row, 0);
            if (!rc && ns == 0) rc = bad_input(g, &g->pre, pdir, "no series directory");
            ig_free_entries(se, ns);
        }
        free(pdir);
    }
    ig_free_entries(pe, np);
    return rc;
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const label_row *)a)->key, ((const label_row *)b)->key);
}

static int parse_label(const char *s, int8_t *out)
{
    if (!strcmp(s, "NiCT")) *out = CT_LABEL_NICT;
    else if (!strcmp(s, "pCT")) *out = CT_LABEL_PCT;
    else if (!strcmp(s, "nCT")) *out = CT_LABEL_NCT;
    else return 0;
    return 1;
}

static int load_labels(ingest *g)
{
    const char *path = g->o->labels;
    strcpy(g->labels_hash, "none");
    if (!path) return H19_OK;
    char *text = NULL;
    size_t len = 0;
    H19_TRY(h19_read_file(path, &text, &len));
    uint8_t h[32];
    dcm_sha256(text, len, h);
    ig_hex(h, 32, g->labels_hash);
    csv_table t;
    int rc = csv_parse(path, text, len, 1, &t);
    free(text);
    if (rc) return rc;
    int cf = csv_column(&t, "file"), ci = csv_column(&t, "instance"), cp = csv_column(&t, "patient_id"),
        cl = csv_column(&t, "label");
    if (cl < 0 || (cf < 0 && (ci < 0 || cp < 0)))
        rc = h19_fail(H19_EFORMAT, "%s:%d: the labels need a label column and file (or patient_id and instance)",
                      path, t.line[0]);
    char *base = rc ? NULL : ig_dirname(path);
    if (!rc && !base) rc = H19_ENOMEM;
    g->lab = rc ? NULL : h19_calloc((size_t)t.nrows, sizeof *g->lab);
    if (!rc && !g->lab) rc = H19_ENOMEM;
    for (int r = 1; !rc && r < t.nrows; r++) {
        int8_t lv;
        const char *ls = csv_cell(&t, r, cl);
        if (!parse_label(ls, &lv)) {
            rc = h19_fail(H19_EFORMAT, "%s:%d: label '%s' is not NiCT, pCT or nCT", path, t.line[r], ls);
            break;
        }
        char *key = NULL;
        if (cf >= 0 && *csv_cell(&t, r, cf)) {
            char *j = ig_join(base, csv_cell(&t, r, cf));
            char *a = j ? ig_normalise(j, 1) : NULL;
            free(j);
            if (a) {
                size_t n = strlen(a) + 2;
                key = h19_malloc(n);
                if (key) snprintf(key, n, "F%s", a);
            }
            free(a);
        } else {
            int row = patient_row(g, csv_cell(&t, r, cp));
            if (row < 0) continue; /* a labelled patient not in this table */
            char *end;
            long inst = strtol(csv_cell(&t, r, ci), &end, 10);
            if (*end || end == csv_cell(&t, r, ci)) {
                rc = h19_fail(H19_EFORMAT, "%s:%d: instance '%s' is not an integer", path, t.line[r],
                              csv_cell(&t, r, ci));
                break;
            }
            key = h19_malloc(48);
            if (key) snprintf(key, 48, "I%d:%ld", row, inst);
        }
        if (!key) {
            rc = H19_ENOMEM;
            break;
        }
        g->lab[g->nlab++] = (label_row){key, lv};
    }
    free(base);
    csv_free(&t);
    if (rc) return rc;
    qsort(g->lab, (size_t)g->nlab, sizeof *g->lab, cmp_label);
    for (int i = 1; i < g->nlab; i++)
        if (!strcmp(g->lab[i].key, g->lab[i - 1].key) && g->lab[i].label != g->lab[i - 1].label)
            return h19_fail(H19_EFORMAT, "%s: slice %s is labelled twice, differently", path, g->lab[i].key + 1);
    return H19_OK;
}

static int8_t lookup_label(const ingest *g, const char *path, int row, int instance)
{
    if (!g->nlab) return CT_LABEL_NONE;
    char ikey[48];
    snprintf(ikey, sizeof ikey, "I%d:%d", row, instance);
    label_row k = {ikey, 0};
    label_row *hit = bsearch(&k, g->lab, (size_t)g->nlab, sizeof *g->lab, cmp_label);
    if (hit) return hit->label;
    char *a = ig_normalise(path, 1);
    if (!a) return CT_LABEL_NONE;
    size_t n = strlen(a) + 2;
    char *fkey = h19_malloc(n);
    if (fkey) snprintf(fkey, n, "F%s", a);
    free(a);
    if (!fkey) return CT_LABEL_NONE;
    k.key = fkey;
    hit = bsearch(&k, g->lab, (size_t)g->nlab, sizeof *g->lab, cmp_label);
    free(fkey);
    return hit ? hit->label : CT_LABEL_NONE;
}

/* ---- one series ------------------------------------------------------------------------------- */

typedef struct {
    int32_t n, rows, cols;
    double spacing[3];   /* row, column pixel spacing; slice gap (mm); 0 when unknown (JPEG) */
    char hash[33];       /* source path hash (hex, 128 bits) */
    double *z;
    int32_t *inst;
    int8_t *label;
    uint8_t *px;
    report rep;
} series_out;

static void series_free(series_out *s)
{
    free(s->z);
    free(s->inst);
    free(s->label);
    free(s->px);
    report_free(&s->rep);
    memset(s, 0, sizeof *s);
}

static int ensure_work(ingest *g, int w, int h)
{
    size_t need = (size_t)w * (size_t)h;
    if (need > g->u8cap) {
        uint8_t *q = h19_realloc(g->u8, need);
        if (!q) return H19_ENOMEM;
        g->u8 = q;
        g->u8cap = need;
    }
    if (!g->prep || w > g->pw || h > g->ph) {
        int nw = w > g->pw ? w : g->pw, nh = h > g->ph ? h : g->ph;
        ct_prep_free(g->prep);
        g->prep = NULL;
        H19_TRY(ct_prep_create(&g->prep, nw, nh));
        g->pw = nw;
        g->ph = nh;
    }
    return H19_OK;
}

static int alloc_series(series_out *s, int n)
{
    size_t m = (size_t)(n ? n : 1);
    s->z = h19_calloc(m, sizeof *s->z);
    s->inst = h19_calloc(m, sizeof *s->inst);
    s->label = h19_calloc(m, sizeof *s->label);
    s->px = h19_malloc(m * PX);
    return (s->z && s->inst && s->label && s->px) ? H19_OK : H19_ENOMEM;
}

/* Errors from a reader that mean "this file is bad" (reported) rather than "the run is broken". */
static int is_input_error(int rc)
{
    return rc == H19_EFORMAT || rc == H19_EUNSUP || rc == H19_EIO || rc == H19_EARG;
}

static int deid_copies(ingest *g, const task *tk, char **paths, const int *order, int n)
{
    const ct_ingest_opts *o = g->o;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s/S%02d", o->deid_out, g->ids[tk->row], tk->seq);
    H19_TRY(h19_mkdir_p(dir));
    dcm_deid_opts d = {o->deid_secret, 0, g->ids[tk->row], NULL, 0};
    for (int k = 0; k < n; k++) {
        char out[4200];
        snprintf(out, sizeof out, "%s/IM%04d.dcm", dir, k + 1);
        H19_TRY(dcm_deid_file(paths[order[k]], out, &d));
    }
    return H19_OK;
}

static int process_dicom(ingest *g, const task *tk, const ig_entry *e, int nf, series_out *s)
{
    const ct_ingest_opts *o = g->o;
    dcm_ct_meta *meta = h19_calloc((size_t)(nf ? nf : 1), sizeof *meta);
    char **paths = h19_calloc((size_t)(nf ? nf : 1), sizeof *paths);
    int *order = h19_calloc((size_t)(nf ? nf : 1), sizeof *order);
    uint8_t *px = h19_malloc((size_t)(nf ? nf : 1) * PX);
    int rc = (meta && paths && order && px) ? H19_OK : H19_ENOMEM;
    int k = 0;
    for (int i = 0; !rc && i < nf; i++) {
        char *path = ig_join(tk->dir, e[i].name);
        if (!path) {
            rc = H19_ENOMEM;
            break;
        }
        float *hu = NULL;
        int r = dcm_read_ct(path, &meta[k], &hu);
        if (!r) r = ensure_work(g, meta[k].cols, meta[k].rows);
        if (!r) {
            dcm_window_u8(hu, meta[k].rows * meta[k].cols, o->center, o->width, g->u8);
            r = ct_preprocess(g->prep, g->u8, meta[k].cols, meta[k].rows, px + (size_t)k * PX, NULL);
        }
        free(hu);
        if (r && !is_input_error(r)) rc = r;
        else if (r) rc = bad_input(g, &s->rep, path, h19_errmsg());
        if (r) {
            free(path);
            continue;
        }
        paths[k++] = path;
    }
    /* one series per directory, consistent geometry: else the whole series is rejected */
    int whole = 0;
    char why[1200] = "";
    for (int j = 1; !rc && j < k && !whole; j++)
        if (strcmp(meta[j].series_uid, meta[0].series_uid)) {
            snprintf(why, sizeof why, "two series in one directory: %.300s and %.300s differ in SeriesInstanceUID",
                     paths[0], paths[j]);
            whole = 1;
        }
    double gap = 0;
    if (!rc && !whole && k > 0 && dcm_series_order(meta, k, order, &gap)) {
        snprintf(why, sizeof why, "inconsistent geometry: %s", h19_errmsg());
        whole = 1;
    }
    if (!rc && !whole && k == 0 && nf > 0) {
        snprintf(why, sizeof why, "no readable slice (%d files)", nf);
        whole = 1;
    }
    if (!rc && nf == 0) {
        snprintf(why, sizeof why, "no files");
        whole = 1;
    }
    if (!rc && whole) {
        rc = bad_input(g, &s->rep, tk->dir, why);
        k = 0;
    }
    if (!rc) rc = alloc_series(s, k);
    if (!rc) {
        s->n = k;
        if (k) {
            s->rows = meta[0].rows;
            s->cols = meta[0].cols;
            s->spacing[0] = meta[0].pixel_spacing[0];
            s->spacing[1] = meta[0].pixel_spacing[1];
            s->spacing[2] = gap;
        }
        for (int j = 0; j < k; j++) {
            const dcm_ct_meta *m = &meta[order[j]];
            if (m->has_position && m->has_orientation) {
                /* projection on the slice normal (row x column direction cosines), the order of
                   dcm_series_order */
                const double *a = m->orientation, *b = m->orientation + 3;
                double nx = a[1] * b[2] - a[2] * b[1], ny = a[2] * b[0] - a[0] * b[2], nz = a[0] * b[1] - a[1] * b[0];
                s->z[j] = nx * m->position[0] + ny * m->position[1] + nz * m->position[2];
            } else {
                s->z[j] = m->instance_number;
            }
            s->inst[j] = m->instance_number;
            s->label[j] = lookup_label(g, paths[order[j]], tk->row, m->instance_number);
            memcpy(s->px + (size_t)j * PX, px + (size_t)order[j] * PX, PX);
        }
        if (k && o->deid_out) rc = deid_copies(g, tk, paths, order, k);
    }
    for (int j = 0; j < nf && paths; j++) free(paths[j]);
    free(paths);
    free(meta);
    free(order);
    free(px);
    return rc;
}

typedef struct {
    long n;
    int idx;
} jpg_name;

static int cmp_jpg(const void *a, const void *b)
{
    const jpg_name *x = a, *y = b;
    return (x->n > y->n) - (x->n < y->n);
}

static int process_jpeg(ingest *g, const task *tk, const ig_entry *e, int nf, series_out *s)
{
    jpg_name *nm = h19_calloc((size_t)(nf ? nf : 1), sizeof *nm);
    uint8_t *px = h19_malloc((size_t)(nf ? nf : 1) * PX);
    int *num = h19_calloc((size_t)(nf ? nf : 1), sizeof *num);
    char **paths = h19_calloc((size_t)(nf ? nf : 1), sizeof *paths);
    int rc = (nm && px && num && paths) ? H19_OK : H19_ENOMEM;
    int m = 0;
    for (int i = 0; !rc && i < nf; i++) {
        char *end;
        long v = strtol(e[i].name, &end, 10);
        if (end == e[i].name || v < 0 || v > 1000000000L || (strcasecmp(end, ".jpg") && strcasecmp(end, ".jpeg"))) {
            char *path = ig_join(tk->dir, e[i].name);
            rc = path ? bad_input(g, &s->rep, path, "not a slice file named <n>.jpg") : H19_ENOMEM;
            free(path);
            continue;
        }
        nm[m++] = (jpg_name){v, i};
    }
    if (!rc) qsort(nm, (size_t)m, sizeof *nm, cmp_jpg);
    int whole = 0, k = 0, w0 = 0, h0 = 0;
    char why[1200] = "";
    for (int j = 1; !rc && j < m && !whole; j++)
        if (nm[j].n == nm[j - 1].n) {
            snprintf(why, sizeof why, "slice number %ld twice (%.200s, %.200s)", nm[j].n, e[nm[j - 1].idx].name,
                     e[nm[j].idx].name);
            whole = 1;
        }
    for (int j = 0; !rc && !whole && j < m; j++) {
        char *path = ig_join(tk->dir, e[nm[j].idx].name);
        if (!path) {
            rc = H19_ENOMEM;
            break;
        }
        uint8_t *img = NULL;
        int w = 0, h = 0;
        int r = jpg_read_gray(path, &img, &w, &h);
        if (!r && k == 0) {
            w0 = w;
            h0 = h;
        }
        if (!r && (w != w0 || h != h0)) {
            snprintf(why, sizeof why, "inconsistent geometry: %.300s is %dx%d, the series' first slice %dx%d", path,
                     w, h, w0, h0);
            whole = 1;
            free(img);
            free(path);
            break;
        }
        if (!r) r = ensure_work(g, w, h);
        if (!r) r = ct_preprocess(g->prep, img, w, h, px + (size_t)k * PX, NULL);
        free(img);
        if (r && !is_input_error(r)) rc = r;
        else if (r) rc = bad_input(g, &s->rep, path, h19_errmsg());
        if (r) {
            free(path);
            continue;
        }
        num[k] = (int)nm[j].n;
        paths[k++] = path;
    }
    if (!rc && !whole && k == 0) {
        snprintf(why, sizeof why, nf ? "no readable slice (%d files)" : "no files", nf);
        whole = 1;
    }
    if (!rc && whole) {
        rc = bad_input(g, &s->rep, tk->dir, why);
        k = 0;
    }
    if (!rc) rc = alloc_series(s, k);
    if (!rc) {
        s->n = k;
        s->rows = k ? h0 : 0;
        s->cols = k ? w0 : 0;
        for (int j = 0; j < k; j++) {
            s->z[j] = num[j];
            s->inst[j] = num[j];
            s->label[j] = lookup_label(g, paths[j], tk->row, num[j]);
        }
        memcpy(s->px, px, (size_t)k * PX);
    }
    for (int j = 0; j < nf && paths; j++) free(paths[j]);
    free(paths);
    free(nm);
    free(num);
    free(px);
    return rc;
}

/* ---- shards --------------------------------------------------------------------------------------
 * Layout (native byte order, little-endian on the supported platforms; docs/archive.md):
 *   0 magic "H19CTSHD", 8 u32 version, 12 u32 header bytes (128), 16 key[32],
 *   48 i32 task, 52 i32 patient row, 56 i32 n slices, 60 i32 n report rows,
 *   64 i32 rows, 68 i32 cols, 72 f64 spacing[3], 96 char hash[32] (hex);
 *   128 u64 report bytes, then per report row u32 len + file, u32 len + reason;
 *   n slice records of 16 bytes (f64 z, i32 instance, i8 label, 3 zero bytes); n * 200*200 pixels;
 *   SHA-256 of all the preceding bytes. */

static void shard_path(const char *workdir, int t, char *out, size_t cap)
{
    snprintf(out, cap, "%s/ingest-shards/s%06d.shard", workdir, t);
}

static int shard_key(const ingest *g, const task *tk, const ig_entry *e, int nf, uint8_t key[32])
{
    const ct_ingest_opts *o = g->o;
    ig_buf b = {0};
    int rc = ig_printf(&b, "hust19-ct-shard %d\nwindow %.17g %.17g\nstrict %d\nlabels %s\ndeid %s %s\n",
                       CT_SHARD_VERSION, o->center, o->width, o->strict, g->labels_hash, g->secret_tag,
                       o->deid_out ? o->deid_out : "-");
    if (!rc) rc = ig_printf(&b, "patient %s row %d seq %d\njpeg %d\ndir %s\n", g->ids[tk->row], tk->row, tk->seq,
                            tk->jpeg, tk->dir);
    for (int i = 0; !rc && i < nf; i++)
        rc = ig_printf(&b, "%s %lld %lld.%09lld\n", e[i].name, (long long)e[i].size, (long long)e[i].mtime_s,
                       (long long)e[i].mtime_ns);
    if (!rc) dcm_sha256(b.s, b.n, key);
    ig_free(&b);
    return rc;
}

static void put32(ig_buf *b, int *rc, uint32_t v)
{
    if (!*rc) *rc = ig_put(b, &v, 4);
}

static int shard_write(const char *path, const uint8_t key[32], int t, int row, const series_out *s)
{
    ig_buf b = {0};
    uint8_t hdr[SHARD_HEADER];
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, CT_SHARD_MAGIC, 8);
    uint32_t v = CT_SHARD_VERSION, hb = SHARD_HEADER;
    memcpy(hdr + 8, &v, 4);
    memcpy(hdr + 12, &hb, 4);
    memcpy(hdr + 16, key, 32);
    int32_t iv[6] = {t, row, s->n, s->rep.n, s->rows, s->cols};
    memcpy(hdr + 48, iv, sizeof iv);
    memcpy(hdr + 72, s->spacing, 24);
    memcpy(hdr + 96, s->hash, 32);
    int rc = ig_put(&b, hdr, sizeof hdr);
    ig_buf r = {0};
    for (int i = 0; !rc && i < s->rep.n; i++) {
        uint32_t lf = (uint32_t)strlen(s->rep.r[i].file), lr = (uint32_t)strlen(s->rep.r[i].reason);
        put32(&r, &rc, lf);
        if (!rc) rc = ig_put(&r, s->rep.r[i].file, lf);
        put32(&r, &rc, lr);
        if (!rc) rc = ig_put(&r, s->rep.r[i].reason, lr);
    }
    uint64_t rb = r.n;
    if (!rc) rc = ig_put(&b, &rb, 8);
    if (!rc && r.n) rc = ig_put(&b, r.s, r.n);
    ig_free(&r);
    for (int j = 0; !rc && j < s->n; j++) {
        uint8_t rec[SHARD_SLICE_REC] = {0};
        memcpy(rec, &s->z[j], 8);
        memcpy(rec + 8, &s->inst[j], 4);
        memcpy(rec + 12, &s->label[j], 1);
        rc = ig_put(&b, rec, sizeof rec);
    }
    if (!rc && s->n) rc = ig_put(&b, s->px, (size_t)s->n * PX);
    uint8_t h[32];
    if (!rc) {
        dcm_sha256(b.s, b.n, h);
        rc = ig_put(&b, h, 32);
    }
    if (!rc) rc = h19_write_atomic(path, b.s, b.n);
    ig_free(&b);
    return rc;
}

/* Read a shard. full = 0: header and report only (no integrity check of the slices); returns
 * H19_ESTATE when the file is absent, of another version or key (to be recomputed). */
static int shard_read(const char *path, const uint8_t *key, int full, int *row, series_out *s)
{
    memset(s, 0, sizeof *s);
    FILE *fp = fopen(path, "rb");
    if (!fp) return errno == ENOENT ? H19_ESTATE : h19_fail(H19_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t hdr[SHARD_HEADER + 8];
    int rc = H19_OK;
    if (fread(hdr, 1, sizeof hdr, fp) != sizeof hdr || memcmp(hdr, CT_SHARD_MAGIC, 8)) rc = H19_ESTATE;
    uint32_t v = 0, hb = 0;
    int32_t iv[6] = {0};
    uint64_t rb = 0;
    if (!rc) {
        memcpy(&v, hdr + 8, 4);
        memcpy(&hb, hdr + 12, 4);
        memcpy(iv, hdr + 48, sizeof iv);
        memcpy(&rb, hdr + SHARD_HEADER, 8);
        if (v != CT_SHARD_VERSION || hb != SHARD_HEADER || (key && memcmp(hdr + 16, key, 32))) rc = H19_ESTATE;
    }
    if (!rc && (iv[2] < 0 || iv[3] < 0 || rb > (1u << 30)))
        rc = h19_fail(H19_EFORMAT, "%s: damaged shard header (delete it to recompute the series)", path);
    struct stat st;
    if (!rc && fstat(fileno(fp), &st)) rc = h19_fail(H19_EIO, "%s: stat failed", path);
    uint64_t expect = SHARD_HEADER + 8 + rb + (uint64_t)iv[2] * (SHARD_SLICE_REC + PX) + 32;
    if (!rc && (uint64_t)st.st_size != expect) rc = H19_ESTATE; /* not ours: recompute */
    if (!rc) {
        *row = iv[1];
        s->n = iv[2];
        s->rows = iv[4];
        s->cols = iv[5];
        memcpy(s->spacing, hdr + 72, 24);
        memcpy(s->hash, hdr + 96, 32);
        s->hash[32] = 0;
    }
    char *rbuf = NULL;
    if (!rc && rb) {
        rbuf = h19_malloc(rb);
        if (!rbuf) rc = H19_ENOMEM;
        else if (fread(rbuf, 1, rb, fp) != rb) rc = h19_fail(H19_EIO, "%s: short read", path);
    }
    for (uint64_t off = 0; !rc && off < rb;) {
        uint32_t l[2] = {0, 0};
        const char *str[2] = {NULL, NULL};
        for (int q = 0; q < 2 && !rc; q++) {
            if (off + 4 > rb) {
                rc = h19_fail(H19_EFORMAT, "%s: damaged report section", path);
                break;
            }
            memcpy(&l[q], rbuf + off, 4);
            off += 4;
            if (off + l[q] > rb) rc = h19_fail(H19_EFORMAT, "%s: damaged report section", path);
            str[q] = rbuf + off;
            off += l[q];
        }
        if (rc) break;
        char *a = h19_malloc(l[0] + 1), *b = h19_malloc(l[1] + 1);
        if (!a || !b) {
            free(a);
            free(b);
            rc = H19_ENOMEM;
            break;
        }
        memcpy(a, str[0], l[0]);
        a[l[0]] = 0;
        memcpy(b, str[1], l[1]);
        b[l[1]] = 0;
        rc = report_add(&s->rep, a, b);
        free(a);
        free(b);
    }
    free(rbuf);
    if (!rc && full) {
        /* the whole file again, for the integrity check */
        char *all = NULL;
        size_t len = 0;
        fclose(fp);
        fp = NULL;
        rc = h19_read_file(path, &all, &len);
        if (!rc && len != expect) rc = h19_fail(H19_EFORMAT, "%s: changed while reading", path);
        uint8_t h[32];
        if (!rc) {
            dcm_sha256(all, len - 32, h);
            if (memcmp(h, all + len - 32, 32))
                rc = h19_fail(H19_EFORMAT, "%s: checksum mismatch (damaged shard: delete it and re-run)", path);
        }
        if (!rc) rc = alloc_series(s, s->n);
        if (!rc) {
            const char *p = all + SHARD_HEADER + 8 + rb;
            for (int j = 0; j < s->n; j++, p += SHARD_SLICE_REC) {
                memcpy(&s->z[j], p, 8);
                memcpy(&s->inst[j], p + 8, 4);
                memcpy(&s->label[j], p + 12, 1);
            }
            memcpy(s->px, p, (size_t)s->n * PX);
        }
        free(all);
    }
    if (fp) fclose(fp);
    if (rc) series_free(s);
    return rc;
}

/* One task: reuse its shard or compute and save it. */
static int run_task(ingest *g, const char *workdir, int t, series_out *s, int *reused)
{
    const task *tk = &g->t[t];
    ig_entry *e = NULL;
    int nf = 0;
    *reused = 0;
    memset(s, 0, sizeof *s);
    int lrc = ig_list_dir(tk->dir, 0, &e, &nf);
    if (lrc == H19_ENOMEM) return lrc;
    uint8_t key[32];
    int rc = shard_key(g, tk, e, nf, key);
    char path[4200];
    shard_path(workdir, t, path, sizeof path);
    if (!rc) {
        int row = -1;
        int r = shard_read(path, key, 0, &row, s);
        if (!r && row == tk->row) {
            *reused = 1;
            ig_free_entries(e, nf);
            return H19_OK;
        }
        series_free(s);
        if (r && r != H19_ESTATE) rc = r;
    }
    if (!rc) {
        /* source path hash: keyed with the de-identification secret when there is one, since a
           path may carry PHI (a name in a directory) */
        uint8_t h[32];
        if (g->o->deid_secret)
            dcm_hmac_sha256(g->o->deid_secret, strlen(g->o->deid_secret), tk->dir, strlen(tk->dir), h);
        else
            dcm_sha256(tk->dir, strlen(tk->dir), h);
        char hx[65];
        ig_hex(h, 16, hx);
        if (lrc) {
            rc = bad_input(g, &s->rep, tk->dir, h19_errmsg());
            if (!rc) rc = alloc_series(s, 0);
        } else if (tk->jpeg) {
            rc = process_jpeg(g, tk, e, nf, s);
        } else {
            rc = process_dicom(g, tk, e, nf, s);
        }
        memcpy(s->hash, hx, 33);
    }
    ig_free_entries(e, nf);
    if (!rc) rc = shard_write(path, key, t, tk->row, s);
    return rc;
}

/* ---- the run --------------------------------------------------------------------------------- */

/* CPU time of this process: on a shared machine the wall-clock rate says more about the load */
static double cpu_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)) return 0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void free_ingest(ingest *g)
{
    for (int i = 0; i < g->nt; i++) free(g->t[i].dir);
    free(g->t);
    free(g->ids);
    free(g->by_id);
    for (int i = 0; i < g->nlab; i++) free(g->lab[i].key);
    free(g->lab);
    report_free(&g->pre);
    ct_prep_free(g->prep);
    free(g->u8);
}

/* h5_write, except that a dataset with no rows is only created (HDF5 refuses a write of nothing
   into an empty dataspace). Collective either way. */
static int write_rows(h5_file *f, const char *name, hid_t type, int ndims, const int64_t *dims, int64_t first,
                      int64_t nlocal, const void *data, int compress)
{
    if (dims[0] > 0) return h5_write(f, name, type, ndims, dims, first, nlocal, data, compress);
    const char *slash = strrchr(name, '/');
    if (slash && slash != name) {
        char grp[256];
        snprintf(grp, sizeof grp, "%.*s", (int)(slash - name), name);
        H19_TRY(h5_ensure_group(f, grp));
    }
    hsize_t d[4] = {0, 0, 0, 0};
    for (int i = 0; i < ndims && i < 4; i++) d[i] = (hsize_t)dims[i];
    hid_t sp = H5Screate_simple(ndims, d, NULL);
    hid_t ds = sp >= 0 ? H5Dcreate2(f->fid, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (ds >= 0) H5Dclose(ds);
    if (sp >= 0) H5Sclose(sp);
    return ds >= 0 ? H19_OK : h19_fail(H19_EIO, "%s: cannot create dataset %s", f->path, name);
}

static void block_of(int64_t n, int64_t *first, int64_t *count)
{
    int r = dist_rank(), s = dist_size();
    *first = n * r / s;
    *count = n * (r + 1) / s - *first;
}

static int write_report(const ingest *g, const char *workdir, const int64_t *nslices /* stride 4 */)
{
    ig_buf b = {0};
    char *line = NULL;
    size_t llen = 0;
    int rc = ig_printf(&b, "file,reason\n");
    int nbad = 0;
    /* each row through csv_write_field (quoting) into a memory stream */
    for (int pass = 0; !rc && pass <= g->nt; pass++) {
        report local = {0};
        const report *rp = &g->pre;
        if (pass > 0) {
            char path[4200];
            int row;
            series_out s;
            shard_path(workdir, pass - 1, path, sizeof path);
            rc = shard_read(path, NULL, 0, &row, &s);
            if (rc == H19_ESTATE) rc = h19_fail(H19_ESTATE, "%s: shard missing or unreadable", path);
            if (rc) break;
            if (s.n != nslices[4 * (pass - 1)]) rc = h19_fail(H19_ESTATE, "%s: changed during the run", path);
            local = s.rep;
            s.rep = (report){0};
            series_free(&s);
            rp = &local;
        }
        for (int i = 0; !rc && i < rp->n; i++) {
            FILE *m = open_memstream(&line, &llen);
            if (!m) {
                rc = h19_fail(H19_ENOMEM, "open_memstream failed");
                break;
            }
            csv_write_field(m, rp->r[i].file);
            fputc(',', m);
            csv_write_field(m, rp->r[i].reason);
            fputc('\n', m);
            fclose(m);
            rc = ig_put(&b, line, llen);
            free(line);
            line = NULL;
            nbad++;
        }
        report_free(&local);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/ingest-report.csv", workdir);
    if (!rc) rc = h19_write_atomic(path, b.s, b.n);
    if (!rc && nbad) LOG_WARN("ingest ct: %d bad inputs skipped, listed in %s", nbad, path);
    ig_free(&b);
    return rc;
}

int ct_ingest_run(const ct_ingest_opts *o, const char *workdir, h5_file *f)
{
    ingest g;
    memset(&g, 0, sizeof g);
    g.o = o;
    strcpy(g.secret_tag, "none");
    if (o->deid_secret) {
        uint8_t h[32];
        dcm_hmac_sha256(o->deid_secret, strlen(o->deid_secret), "hust19 shard key", 16, h);
        ig_hex(h, 32, g.secret_tag);
    }
    double t0 = MPI_Wtime();
    /* patients of the CF part (already written into this archive) */
    int rc = h5_read_strings(f, "/patients/id", &g.npat, &g.ids);
    if (!rc) {
        g.by_id = h19_malloc(sizeof(int) * (size_t)(g.npat ? g.npat : 1));
        if (!g.by_id) rc = H19_ENOMEM;
    }
    if (!rc) {
        for (int i = 0; i < g.npat; i++) g.by_id[i] = i;
        g_ids = (const char *const *)g.ids;
        qsort(g.by_id, (size_t)g.npat, sizeof(int), cmp_row_by_id);
    }
    /* every rank builds the same task list (small files, read by all) */
    if (!rc) {
        if (o->manifest) rc = build_tasks_manifest(&g);
        else rc = build_tasks_walk(&g, o->dicom_root ? o->dicom_root : o->jpeg_root, o->jpeg_root != NULL);
    }
    if (!rc) {
        if (g.nt) qsort(g.t, (size_t)g.nt, sizeof *g.t, cmp_task);
        for (int i = 0; i < g.nt; i++) g.t[i].seq = (i > 0 && g.t[i - 1].row == g.t[i].row) ? g.t[i - 1].seq + 1 : 1;
    }
    if (!rc) rc = load_labels(&g);
    char sdir[4200];
    snprintf(sdir, sizeof sdir, "%s/ingest-shards", workdir);
    if (!rc) rc = h19_mkdir_p(sdir);
    rc = dist_agree(rc);
    if (rc) {
        free_ingest(&g);
        return rc;
    }
    int T = g.nt;
    size_t tn = (size_t)(T ? T : 1);
    int64_t *ti = h19_calloc(tn * 4, sizeof(int64_t)); /* n, rows, cols, reused */
    double *tsp = h19_calloc(tn * 3, sizeof(double));
    uint8_t *th = h19_calloc(tn * 33, 1);
    if (!ti || !tsp || !th) rc = H19_ENOMEM;
    rc = dist_agree(rc);

    /* phase 1: the dynamic queue */
    dist_queue q;
    int qok = !rc && !dist_queue_create(&q, T);
    if (!rc && !qok) rc = h19_fail(H19_EMPI, "ingest ct: cannot create the task queue");
    rc = dist_agree(rc);
    int stopped = 0;
    long done_slices = 0, done_series = 0;
    double tp0 = MPI_Wtime(), cpu0 = cpu_seconds();
    while (!rc) {
        if (dist_stop_signalled()) {
            stopped = 1;
            break;
        }
        int64_t t = dist_queue_next(&q);
        if (t < 0) break;
        series_out s;
        int reused = 0;
        rc = run_task(&g, workdir, (int)t, &s, &reused);
        if (rc) {
            h19_fail_ctx(rc, "ingest ct: series %s", g.t[t].dir);
            series_free(&s);
            break;
        }
        ti[4 * t] = s.n;
        ti[4 * t + 1] = s.rows;
        ti[4 * t + 2] = s.cols;
        ti[4 * t + 3] = reused;
        memcpy(tsp + 3 * t, s.spacing, 24);
        memcpy(th + 33 * t, s.hash, 32);
        if (!reused) {
            done_slices += s.n;
            done_series++;
        }
        series_free(&s);
    }
    double tp = MPI_Wtime() - tp0, cpu = cpu_seconds() - cpu0;
    if (qok) dist_queue_free(&q);
    rc = dist_agree(rc);
    if (!rc && dist_any(stopped)) {
        rc = h19_fail(H19_ESTOP, "ingest ct: stopped by a signal; finished series are saved in %s: re-run to resume",
                      sdir);
    }
    if (!rc && done_series)
        h19_log_all(H19_LOG_INFO,
                    "ingest ct: rank %d processed %ld slices of %ld series in %.2f s (%.1f slices/s; %.1f per CPU-second)",
                    dist_rank(), done_slices, done_series, tp, tp > 0 ? done_slices / tp : 0.0,
                    cpu > 0 ? done_slices / cpu : 0.0);
    if (!rc) rc = dist_merge_i64(ti, tn * 4);
    if (!rc) rc = dist_merge_f64(tsp, tn * 3);
    if (!rc) rc = dist_merge_u8(th, tn * 33);
    rc = dist_agree(rc);

    /* phase 2: contiguous blocks of the fixed series order, balanced by slice count */
    int64_t total = 0, reused_all = 0;
    for (int t = 0; t < T; t++) {
        total += ti[4 * t];
        reused_all += ti[4 * t + 3];
    }
    int rank = dist_rank(), size = dist_size();
    int a = 0, b = 0; /* this rank's series [a, b): owner(t) = floor(slices before t * size / total),
                         non-decreasing in t, so every rank's series are contiguous */
    {
        int64_t cum = 0;
        a = b = T;
        for (int t = 0; t < T; t++) {
            int owner = total ? (int)(cum * size / total) : 0;
            if (owner >= size) owner = size - 1;
            if (owner >= rank && a == T) a = t;
            if (owner <= rank) b = t + 1;
            cum += ti[4 * t];
        }
        if (b < a) b = a;
    }
    int64_t nloc = 0;
    for (int t = a; t < b; t++) nloc += ti[4 * t];
    size_t nl = (size_t)(nloc ? nloc : 1);
    uint8_t *px = rc ? NULL : h19_malloc(nl * PX);
    int32_t *pat = rc ? NULL : h19_malloc(nl * 4), *ser = rc ? NULL : h19_malloc(nl * 4),
            *ins = rc ? NULL : h19_malloc(nl * 4);
    int8_t *lab = rc ? NULL : h19_malloc(nl);
    double *z = rc ? NULL : h19_malloc(nl * 8);
    if (!rc && (!px || !pat || !ser || !ins || !lab || !z)) rc = H19_ENOMEM;
    int64_t k = 0;
    for (int t = a; !rc && t < b; t++) {
        char path[4200];
        int row = -1;
        series_out s;
        shard_path(workdir, t, path, sizeof path);
        rc = shard_read(path, NULL, 1, &row, &s);
        if (rc == H19_ESTATE) rc = h19_fail(H19_ESTATE, "%s: shard missing or unreadable", path);
        if (rc) break;
        if (s.n != ti[4 * t] || row != g.t[t].row) {
            rc = h19_fail(H19_ESTATE, "%s: changed during the run (another ingest in the same directory?)", path);
            series_free(&s);
            break;
        }
        for (int j = 0; j < s.n; j++, k++) {
            pat[k] = row;
            ser[k] = t;
            ins[k] = s.inst[j];
            lab[k] = s.label[j];
            z[k] = s.z[j];
        }
        memcpy(px + (size_t)(k - s.n) * PX, s.px, (size_t)s.n * PX);
        series_free(&s);
    }
    rc = dist_agree(rc);
    int64_t first = 0, tot = 0;
    if (!rc) rc = h5_exscan_rows(f->comm, nloc, &first, &tot);
    if (!rc && tot != total) rc = h19_fail(H19_EMPI, "ingest ct: %lld slices written, %lld expected", (long long)tot, (long long)total);
    rc = dist_agree(rc);
    int64_t dims[3] = {total, CT_OUT, CT_OUT};
    if (!rc) rc = write_rows(f, "/ct/slices", H5T_NATIVE_UINT8, 3, dims, first, nloc, px, 1);
    if (!rc) rc = write_rows(f, "/ct/patient", H5T_NATIVE_INT32, 1, dims, first, nloc, pat, 0);
    if (!rc) rc = write_rows(f, "/ct/series", H5T_NATIVE_INT32, 1, dims, first, nloc, ser, 0);
    if (!rc) rc = write_rows(f, "/ct/z", H5T_NATIVE_DOUBLE, 1, dims, first, nloc, z, 0);
    if (!rc) rc = write_rows(f, "/ct/instance", H5T_NATIVE_INT32, 1, dims, first, nloc, ins, 0);
    if (!rc) rc = write_rows(f, "/ct/label", H5T_NATIVE_INT8, 1, dims, first, nloc, lab, 0);
    long long nlab_loc = 0, nlab_all = 0;
    for (int64_t j = 0; !rc && j < nloc; j++) nlab_loc += lab[j] >= 0;
    rc = dist_agree(rc);
    if (!rc && MPI_Allreduce(&nlab_loc, &nlab_all, 1, MPI_LONG_LONG, MPI_SUM, f->comm) != MPI_SUCCESS)
        rc = h19_fail(H19_EMPI, "ingest ct: MPI_Allreduce of the labelled slices failed");
    if (!rc && rank == 0 && o->labels) {
        /* a labels file whose paths match nothing (they are relative to its own directory) is a
         * silent mistake otherwise: the slice CNN would later find no labelled slice */
        if (g.nlab && !nlab_all)
            LOG_WARN("ingest ct: none of the %d labels of %s matched a slice of the archive (file paths are "
                     "relative to the labels file's directory)", g.nlab, o->labels);
        else if (nlab_all < g.nlab)
            LOG_WARN("ingest ct: %lld of the %d labels of %s matched a slice of the archive", nlab_all, g.nlab,
                     o->labels);
        else
            LOG_INFO("ingest ct: %lld labelled slices (%s)", nlab_all, o->labels);
    }
    free(px);
    free(pat);
    free(ser);
    free(ins);
    free(lab);
    free(z);

    /* per-series table (every rank holds it all after the merge: rank r writes rows [a, b)) */
    int64_t ns = b - a, sfirst = 0, stot = 0;
    if (!rc) rc = h5_exscan_rows(f->comm, ns, &sfirst, &stot);
    if (!rc && (sfirst != a || stot != T)) rc = h19_fail(H19_EMPI, "ingest ct: series blocks are not contiguous");
    rc = dist_agree(rc);
    size_t sn = (size_t)(T ? T : 1);
    int32_t *sp = h19_malloc(sn * 4), *sc = h19_malloc(sn * 4), *sr = h19_malloc(sn * 4), *scol = h19_malloc(sn * 4);
    int64_t *sf = h19_malloc(sn * 8);
    char **sh = h19_malloc(sn * sizeof(char *));
    if (!rc && (!sp || !sc || !sr || !scol || !sf || !sh)) rc = H19_ENOMEM;
    if (!rc) {
        int64_t cum = 0;
        for (int t = 0; t < T; t++) {
            sp[t] = g.t[t].row;
            sc[t] = (int32_t)ti[4 * t];
            sr[t] = (int32_t)ti[4 * t + 1];
            scol[t] = (int32_t)ti[4 * t + 2];
            sf[t] = cum;
            cum += ti[4 * t];
            th[33 * t + 32] = 0;
            sh[t] = (char *)th + 33 * t;
        }
    }
    int64_t sdims[2] = {T, 3};
    if (!rc) rc = write_rows(f, "/ct/series_table/patient", H5T_NATIVE_INT32, 1, sdims, a, ns, sp + a, 0);
    if (!rc) rc = write_rows(f, "/ct/series_table/first", H5T_NATIVE_INT64, 1, sdims, a, ns, sf + a, 0);
    if (!rc) rc = write_rows(f, "/ct/series_table/n_slices", H5T_NATIVE_INT32, 1, sdims, a, ns, sc + a, 0);
    if (!rc) rc = write_rows(f, "/ct/series_table/rows", H5T_NATIVE_INT32, 1, sdims, a, ns, sr + a, 0);
    if (!rc) rc = write_rows(f, "/ct/series_table/cols", H5T_NATIVE_INT32, 1, sdims, a, ns, scol + a, 0);
    if (!rc) rc = write_rows(f, "/ct/series_table/spacing", H5T_NATIVE_DOUBLE, 2, sdims, a, ns, tsp + 3 * a, 0);
    if (!rc && T) rc = h5_write_strings(f, "/ct/series_table/source_hash", T, a, ns, (const char *const *)sh + a);
    if (!rc && !T) {
        hid_t st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, 1);
        rc = write_rows(f, "/ct/series_table/source_hash", st, 1, sdims, 0, 0, NULL, 0);
        H5Tclose(st);
    }
    /* per patient: first slice and count (series of a patient are consecutive: tasks are sorted by row) */
    int64_t *pf = h19_calloc((size_t)(g.npat ? g.npat : 1), 8);
    int32_t *pc = h19_calloc((size_t)(g.npat ? g.npat : 1), 4);
    if (!rc && (!pf || !pc)) rc = H19_ENOMEM;
    if (!rc) {
        for (int t = 0; t < T; t++) {
            int r = g.t[t].row;
            if (!ti[4 * t]) continue;
            if (!pc[r]) pf[r] = sf[t];
            pc[r] += (int32_t)ti[4 * t];
        }
        int64_t p0, pn, np = g.npat;
        block_of(np, &p0, &pn);
        rc = h5_write(f, "/patients/ct_first", H5T_NATIVE_INT64, 1, &np, p0, pn, pf + p0, 0);
        if (!rc) rc = h5_write(f, "/patients/ct_count", H5T_NATIVE_INT32, 1, &np, p0, pn, pc + p0, 0);
    }
    free(pf);
    free(pc);
    free(sp);
    free(sc);
    free(sr);
    free(scol);
    free(sf);
    free(sh);
    if (!rc) rc = h5_attr_f64(f, "/ct", "window_center", o->center);
    if (!rc) rc = h5_attr_f64(f, "/ct", "window_width", o->width);
    if (!rc) rc = h5_attr_str(f, "/ct", "source", o->manifest ? "manifest" : o->dicom_root ? "dicom_root" : "jpeg_root");
    if (!rc) rc = h5_attr_str(f, "/ct", "labels", "-1 unlabelled, 0 NiCT, 1 pCT, 2 nCT");
    if (!rc) rc = h5_attr_i64(f, "/ct", "n_slices", total);
    if (!rc) rc = h5_attr_i64(f, "/ct", "n_series", T);
    rc = dist_agree(rc);
    if (!rc && rank == 0) rc = write_report(&g, workdir, ti);
    rc = dist_agree(rc);
    if (!rc)
        LOG_INFO("ingest ct: %lld slices of %d series (%lld series reused from shards) in %.1f s", (long long)total, T,
                 (long long)reused_all, MPI_Wtime() - t0);
    free(ti);
    free(tsp);
    free(th);
    free_ingest(&g);
    return rc;
}

/* ---- readers ----------------------------------------------------------------------------------- */

void ct_archive_meta_free(ct_archive_meta *m)
{
    if (!m) return;
    free(m->patient);
    free(m->series);
    free(m->instance);
    free(m->label);
    free(m->z);
    free(m->series_patient);
    free(m->series_first);
    free(m->series_count);
    free(m->ct_first);
    free(m->ct_count);
    memset(m, 0, sizeof *m);
}

/* Read a 1-D dataset; expect >= 0: its length must be that; *len (may be NULL) = its length. */
static int read1(h5_file *f, const char *name, hid_t type, int64_t expect, void **out, int64_t *len)
{
    int nd = 0;
    int64_t dims[4] = {0};
    H19_TRY(h5_read(f, name, type, &nd, dims, out));
    if (nd != 1 || (expect >= 0 && dims[0] != expect)) {
        free(*out);
        *out = NULL;
        return h19_fail(H19_EFORMAT, "%s: %s has %lld rows, expected %lld", f->path, name, (long long)dims[0],
                        (long long)expect);
    }
    if (len) *len = dims[0];
    return H19_OK;
}

int ct_archive_read_meta(h5_file *f, ct_archive_meta *m)
{
    memset(m, 0, sizeof *m);
    void *tmp = NULL;
    H19_TRY(read1(f, "/patients/line", H5T_NATIVE_INT32, -1, &tmp, &m->npatients));
    free(tmp);
    int rc = H19_OK;
    if (!h5_exists(f, "/ct/slices")) {
        m->ct_first = h19_calloc((size_t)(m->npatients ? m->npatients : 1), 8);
        m->ct_count = h19_calloc((size_t)(m->npatients ? m->npatients : 1), 4);
        if (!m->ct_first || !m->ct_count) rc = H19_ENOMEM;
        if (rc) ct_archive_meta_free(m);
        return rc;
    }
    void *p[10] = {0};
    rc = read1(f, "/ct/patient", H5T_NATIVE_INT32, -1, &p[0], &m->n);
    if (!rc) rc = read1(f, "/ct/series", H5T_NATIVE_INT32, m->n, &p[1], NULL);
    if (!rc) rc = read1(f, "/ct/instance", H5T_NATIVE_INT32, m->n, &p[2], NULL);
    if (!rc) rc = read1(f, "/ct/label", H5T_NATIVE_INT8, m->n, &p[3], NULL);
    if (!rc) rc = read1(f, "/ct/z", H5T_NATIVE_DOUBLE, m->n, &p[4], NULL);
    if (!rc) rc = read1(f, "/ct/series_table/patient", H5T_NATIVE_INT32, -1, &p[5], &m->nseries);
    if (!rc) rc = read1(f, "/ct/series_table/n_slices", H5T_NATIVE_INT32, m->nseries, &p[6], NULL);
    if (!rc) rc = read1(f, "/ct/series_table/first", H5T_NATIVE_INT64, m->nseries, &p[7], NULL);
    if (!rc) rc = read1(f, "/patients/ct_first", H5T_NATIVE_INT64, m->npatients, &p[8], NULL);
    if (!rc) rc = read1(f, "/patients/ct_count", H5T_NATIVE_INT32, m->npatients, &p[9], NULL);
    m->patient = p[0];
    m->series = p[1];
    m->instance = p[2];
    m->label = p[3];
    m->z = p[4];
    m->series_patient = p[5];
    m->series_count = p[6];
    m->series_first = p[7];
    m->ct_first = p[8];
    m->ct_count = p[9];
    if (rc) ct_archive_meta_free(m);
    return rc;
}

int ct_archive_read_slices(h5_file *f, int64_t first, int64_t n, uint8_t *out)
{
    if (n < 0 || first < 0) return h19_fail(H19_EARG, "ct_archive_read_slices: first %lld, n %lld", (long long)first, (long long)n);
    hid_t ds = H5Dopen2(f->fid, "/ct/slices", H5P_DEFAULT);
    if (ds < 0) return h19_fail(H19_ESTATE, "%s: no /ct/slices (rerun hust19 ingest with a ct: section)", f->path);
    hid_t sp = H5Dget_space(ds);
    hsize_t d[3] = {0, 0, 0};
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (nd == 3) H5Sget_simple_extent_dims(sp, d, NULL);
    int rc = H19_OK;
    if (nd != 3 || d[1] != CT_OUT || d[2] != CT_OUT)
        rc = h19_fail(H19_EFORMAT, "%s: /ct/slices is not [N,%d,%d]", f->path, CT_OUT, CT_OUT);
    else if ((uint64_t)(first + n) > d[0])
        rc = h19_fail(H19_EARG, "%s: slices [%lld, %lld) beyond the %llu of /ct/slices", f->path, (long long)first,
                      (long long)(first + n), (unsigned long long)d[0]);
    if (!rc && n > 0) {
        hsize_t start[3] = {(hsize_t)first, 0, 0}, count[3] = {(hsize_t)n, CT_OUT, CT_OUT};
        H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
        hid_t ms = H5Screate_simple(3, count, NULL);
        if (H5Dread(ds, H5T_NATIVE_UINT8, ms, sp, H5P_DEFAULT, out) < 0)
            rc = h19_fail(H19_EIO, "%s: reading slices [%lld, %lld) failed", f->path, (long long)first,
                          (long long)(first + n));
        H5Sclose(ms);
    }
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return rc;
}
