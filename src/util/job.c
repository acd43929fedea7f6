/* job.c — strict parse of a job file (see include/hust19/job.h, docs/jobs.md). */
#include "hust19/job.h"
#include "hust19/dist.h"
#include "hust19/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const job_model_names[] = {"cf-lr", "cf-dnn", "cf-fused", "ct-cnn", "hybrid", NULL};

/* Sections parsed by other stages when they run (each strict in its own parser). */
static const char *const other_sections[] = {"synth", "ct", "slice_cnn", "stats",
                                             "report", "slurm", "hybrid", NULL};

int h19_mkdir_p(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST)
                return h19_fail(H19_EIO, "%s: cannot create directory: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return H19_OK;
}

int h19_file_exists(const char *path) { return access(path, F_OK) == 0; }

int h19_write_atomic(const char *path, const void *data, size_t n)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return h19_fail(H19_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = n;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return h19_fail(H19_EIO, "%s: write failed: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) || close(fd)) {
        unlink(tmp);
        return h19_fail(H19_EIO, "%s: cannot flush: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return h19_fail(H19_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(e));
    }
    return H19_OK;
}

int h19_read_file(const char *path, char **data, size_t *n)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return h19_fail(H19_EIO, "%s: cannot open: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    if (sz < 0) { fclose(f); return h19_fail(H19_EIO, "%s: cannot size", path); }
    char *buf = h19_malloc((size_t)sz + 1);
    if (!buf) { fclose(f); return H19_ENOMEM; }
    size_t got = fread(buf, 1, (size_t)sz, f);
    fclose(f);
    if (got != (size_t)sz) { free(buf); return h19_fail(H19_EIO, "%s: short read", path); }
    buf[sz] = 0;
    *data = buf;
    if (n) *n = (size_t)sz;
    return H19_OK;
}

int job_outcome_index(const h19_job *j, const char *name)
{
    for (int i = 0; i < j->noutcomes; i++)
        if (!strcmp(j->outcomes[i].name, name)) return i;
    return -1;
}

static int outcome_list(h19_job *j, cfg_node *map, const char *key, int *out, int *nout, int all)
{
    int rc;
    cfg_node *s = cfg_seq(&j->doc, map, key, 0, &rc);
    if (rc) return rc;
    *nout = 0;
    if (!s) {
        if (all)
            for (int i = 0; i < j->noutcomes; i++) out[(*nout)++] = i;
        return H19_OK;
    }
    for (int i = 0; i < s->n && i < JOB_MAX_OUTCOMES; i++) {
        const char *name;
        H19_TRY(cfg_node_str(&j->doc, s->items[i], &name));
        int k = job_outcome_index(j, name);
        if (k < 0) return cfg_error(&j->doc, s->items[i], "'%s' is not an outcome defined under 'outcomes'", name);
        out[(*nout)++] = k;
    }
    return H19_OK;
}

static int int_list(h19_job *j, cfg_node *map, const char *key, int *out, int *nout, int max)
{
    int rc;
    cfg_node *s = cfg_seq(&j->doc, map, key, 0, &rc);
    if (rc || !s) return rc;
    if (s->n > max) return cfg_error(&j->doc, s, "at most %d values", max);
    *nout = 0;
    for (int i = 0; i < s->n; i++) {
        long v;
        H19_TRY(cfg_node_int(&j->doc, s->items[i], &v));
        out[(*nout)++] = (int)v;
    }
    return H19_OK;
}

static int parse_norm(cfg_doc *d, cfg_node *norm, const cf_norm_opts *def, cf_norm_opts *o)
{
    int rc;
    *o = *def;
    H19_TRY(cfg_double(d, norm, "missing", def->missing, -10, 10, &o->missing));
    cfg_node *clip = cfg_seq(d, norm, "clip", 0, &rc);
    if (rc) return rc;
    if (clip) {
        if (clip->n != 2) return cfg_error(d, clip, "'clip' must be [lo, hi]");
        H19_TRY(cfg_node_double(d, clip->items[0], &o->clip_lo));
        H19_TRY(cfg_node_double(d, clip->items[1], &o->clip_hi));
        if (!(o->clip_lo < o->clip_hi)) return cfg_error(d, clip, "'clip' needs lo < hi");
    }
    bool mi = def->missing_indicators;
    H19_TRY(cfg_bool(d, norm, "missing_indicators", mi, &mi));
    o->missing_indicators = mi;
    static const char *const ranges[] = {"normal", "data", NULL};
    H19_TRY(cfg_enum(d, norm, "range", ranges, def->data_range, &o->data_range));
    return H19_OK;
}

/* The training keys of nn_hyper_read, in the order of the bits of ohyper_set. */
static const char *const hyper_keys[] = {"epochs", "batch", "micro_batch", "lr", "decay", "beta1", "beta2",
                                         "eps", "l2", "dropout", "patience", "fixed_bits", "early_stop",
                                         "class_weight", "average_from", NULL};

static void hyper_copy_key(nn_hyper *dst, const nn_hyper *src, int k)
{
    switch (k) {
    case 0: dst->epochs = src->epochs; break;
    case 1: dst->batch = src->batch; break;
    case 2: dst->micro_batch = src->micro_batch; break;
    case 3: dst->lr = src->lr; break;
    case 4: dst->decay = src->decay; break;
    case 5: dst->beta1 = src->beta1; break;
    case 6: dst->beta2 = src->beta2; break;
    case 7: dst->eps = src->eps; break;
    case 8: dst->l2 = src->l2; break;
    case 9: dst->dropout = src->dropout; break;
    case 10: dst->patience = src->patience; break;
    case 11: dst->fixed_bits = src->fixed_bits; break;
    case 12: dst->early_stop = src->early_stop; break;
    case 13: dst->class_weight = src->class_weight; break;
    case 14: dst->average_from = src->average_from; break;
    default: break;
    }
}

/* outcomes.<o>.cf_dnn: val_fraction, ensemble, features, balance (defaults: the cf_dnn section's) and the
 * training keys (strict, as in cf_dnn; which ones are given is recorded in ohyper_set). */
static int parse_outcome_dnn(h19_job *j, int o)
{
    cfg_doc *d = &j->doc;
    cfg_node *m = j->ocf_dnn_node[o];
    H19_TRY(cfg_double(d, m, "val_fraction", j->val_fraction, 0.0, 0.5, &j->oval_fraction[o]));
    H19_TRY(cfg_int(d, m, "ensemble", j->ensemble, 1, 64, &j->oensemble[o]));
    H19_TRY(cfg_int(d, m, "features", j->features, 0, 1000000, &j->ofeatures[o]));
    bool bal = j->balance;
    H19_TRY(cfg_bool(d, m, "balance", bal, &bal));
    j->obalance[o] = bal;
    j->ohyper[o] = nn_hyper_default();
    j->ohyper_set[o] = 0;
    if (!m) return H19_OK;
    if (cfg_peek(m, "model"))
        return cfg_error(d, cfg_peek(m, "model"), "outcomes.%s.cf_dnn: the model file is one per job (cf_dnn.model)",
                         j->outcomes[o].name);
    H19_TRY(nn_hyper_read(d, m, &j->ohyper[o]));
    for (int k = 0; hyper_keys[k]; k++)
        if (cfg_peek(m, hyper_keys[k])) j->ohyper_set[o] |= 1u << k;
    return H19_OK;
}

void job_cf_hyper_outcome(const h19_job *j, int o, const nn_hyper *base, nn_hyper *out)
{
    *out = *base;
    if (o < 0 || o >= j->noutcomes) return;
    for (int k = 0; hyper_keys[k]; k++)
        if (j->ohyper_set[o] & (1u << k)) hyper_copy_key(out, &j->ohyper[o], k);
}

static int parse(h19_job *j)
{
    cfg_doc *d = &j->doc;
    int rc;
    cfg_node *job = cfg_map(d, d->root, "job", 1, &rc);
    if (rc) return rc;
    if (!job) return cfg_error(d, d->root, "the 'job' section is empty");
    H19_TRY(cfg_str(d, job, "name", NULL, 1, &j->name));
    for (const char *p = j->name; *p; p++)
        if (!(((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
               *p == '_' || *p == '.')))
            return cfg_error(d, cfg_peek(job, "name"), "job name '%s' may only hold letters, digits, '-', '_' and '.'",
                             j->name);
    long seed;
    H19_TRY(cfg_int(d, job, "seed", 2020, 0, 0x7fffffffffffffffL, &seed));
    j->seed = (uint64_t)seed;
    H19_TRY(cfg_str(d, job, "results", "results", 0, &j->results_root));
    snprintf(j->outdir, sizeof j->outdir, "%s/%s", j->results_root, j->name);

    cfg_node *data = cfg_map(d, d->root, "data", 1, &rc);
    if (rc) return rc;
    H19_TRY(cfg_str(d, data, "cf_table", NULL, 1, &j->cf_table));
    H19_TRY(cfg_str(d, data, "id_column", "", 0, &j->id_column));
    H19_TRY(cfg_str(d, data, "catalog", "configs/cf_catalog.yaml", 0, &j->catalog));
    const char *arch = NULL;
    H19_TRY(cfg_str(d, data, "archive", NULL, 0, &arch));
    if (arch)
        snprintf(j->archive, sizeof j->archive, "%s", arch);
    else
        snprintf(j->archive, sizeof j->archive, "%s/archive.h5", j->outdir);
    cfg_node *coh = cfg_map(d, data, "cohorts", 0, &rc);
    if (rc) return rc;
    if (coh) H19_TRY(cf_cohorts_parse(d, coh, &j->cohorts));

    cfg_node *norm = cfg_map(d, d->root, "normalise", 0, &rc);
    if (rc) return rc;
    cf_norm_opts paper = {0.5, 0, 0, 0, 0};
    H19_TRY(parse_norm(d, norm, &paper, &j->norm));
    cfg_node *lr = cfg_map(d, d->root, "cf_lr", 0, &rc);
    if (rc) return rc;
    H19_TRY(cfg_double(d, lr, "C", 0.1, 1e-8, 1e8, &j->lr_C));

    cfg_node *outs = cfg_map(d, d->root, "outcomes", 1, &rc);
    if (rc) return rc;
    if (!outs || outs->n == 0) return cfg_error(d, d->root, "'outcomes' must define at least one outcome");
    if (outs->n > JOB_MAX_OUTCOMES) return cfg_error(d, outs, "at most %d outcomes", JOB_MAX_OUTCOMES);
    for (int i = 0; i < outs->n; i++) {
        outs->used[i] = 1;
        if (outs->items[i]->kind != CFG_MAP) return cfg_error(d, outs->items[i], "outcome '%s' must be a mapping", outs->keys[i]);
        /* per-outcome overrides of the normalisation and the LR's C (read before the outcome's own
         * keys, which cf_outcome_parse reads) */
        cfg_node *on = cfg_map(d, outs->items[i], "normalise", 0, &rc);
        if (rc) return rc;
        H19_TRY(parse_norm(d, on, &j->norm, &j->onorm[i]));
        cfg_node *ol = cfg_map(d, outs->items[i], "cf_lr", 0, &rc);
        if (rc) return rc;
        H19_TRY(cfg_double(d, ol, "C", j->lr_C, 1e-8, 1e8, &j->olr_C[i]));
        j->ocf_dnn_node[i] = cfg_map(d, outs->items[i], "cf_dnn", 0, &rc); /* read after cf_dnn below */
        if (rc) return rc;
        j->oplr_node[i] = cfg_map(d, outs->items[i], "plr", 0, &rc); /* read after plr below */
        if (rc) return rc;
        H19_TRY(cf_outcome_parse(d, outs->items[i], outs->keys[i], &j->outcomes[i]));
        j->noutcomes = i + 1;
    }

    cfg_node *dnn = cfg_map(d, d->root, "cf_dnn", 0, &rc);
    if (rc) return rc;
    H19_TRY(cfg_str(d, dnn, "model", "configs/models/cf_dnn.yaml", 0, &j->cf_dnn_model));
    H19_TRY(cfg_double(d, dnn, "val_fraction", 0.1, 0.0, 0.5, &j->val_fraction));
    H19_TRY(cfg_int(d, dnn, "ensemble", 1, 1, 64, &j->ensemble));
    H19_TRY(cfg_int(d, dnn, "features", 0, 0, 1000000, &j->features));
    bool bal = true;
    H19_TRY(cfg_bool(d, dnn, "balance", true, &bal));
    j->balance = bal;
    j->cf_dnn_node = dnn;
    /* the training keys are checked here, so that every stage rejects a misspelt one; the stage
     * that trains applies them over the model file's defaults (job_cf_hyper) */
    j->cf_hyper = nn_hyper_default();
    H19_TRY(nn_hyper_read(d, dnn, &j->cf_hyper));
    for (int i = 0; i < j->noutcomes; i++) H19_TRY(parse_outcome_dnn(j, i));

    cfg_node *pc = cfg_map(d, d->root, "patient_cnn", 0, &rc);
    if (rc) return rc;
    H19_TRY(cfg_str(d, pc, "model", "configs/models/patient_cnn.yaml", 0, &j->pcnn_model));
    H19_TRY(cfg_double(d, pc, "val_fraction", 0.15, 0.0, 0.5, &j->pcnn_val_fraction));
    bool pbal = true;
    H19_TRY(cfg_bool(d, pc, "balance", true, &pbal));
    j->pcnn_balance = pbal;
    const char *scores = NULL;
    H19_TRY(cfg_str(d, pc, "scores", NULL, 0, &scores));
    if (scores) snprintf(j->pcnn_scores, sizeof j->pcnn_scores, "%s", scores);
    else snprintf(j->pcnn_scores, sizeof j->pcnn_scores, "%s/slice_scores.h5", j->outdir);
    j->pcnn_node = pc;
    j->pcnn_hyper = nn_hyper_default();
    H19_TRY(nn_hyper_read(d, pc, &j->pcnn_hyper));

    cfg_node *plr = cfg_map(d, d->root, "plr", 0, &rc);
    if (rc) return rc;
    H19_TRY(cfg_double(d, plr, "C", 1.0, 1e-8, 1e8, &j->plr_C));
    H19_TRY(cfg_int(d, plr, "inner_folds", 5, 2, 20, &j->inner_folds));
    static const char *const feats[] = {"probability", "logit", NULL};
    H19_TRY(cfg_enum(d, plr, "features", feats, 0, &j->plr_logit));
    bool sel = false;
    H19_TRY(cfg_bool(d, plr, "select", false, &sel));
    j->plr_select = sel;
    for (int i = 0; i < j->noutcomes; i++) {
        bool os = sel;
        H19_TRY(cfg_bool(d, j->oplr_node[i], "select", sel, &os));
        j->oplr_select[i] = os;
    }
    static const char *const rules[] = {"min", "one_se", NULL};
    H19_TRY(cfg_enum(d, plr, "select_rule", rules, 0, &j->plr_select_rule));
    static const char *const tests[] = {"inner", "refit", NULL};
    int tsc = 0;
    H19_TRY(cfg_enum(d, plr, "test_scores", tests, 0, &tsc));
    j->plr_test_inner = tsc == 0;

    cfg_node *cv = cfg_map(d, d->root, "cv", 0, &rc);
    if (rc) return rc;
    H19_TRY(cfg_int(d, cv, "repeats", 10, 1, 1000, &j->cv_repeats));
    H19_TRY(cfg_int(d, cv, "folds", 10, 2, 100, &j->cv_folds));
    H19_TRY(outcome_list(j, cv, "outcomes", j->cv_outcome, &j->cv_noutcomes, 1));
    H19_TRY(cfg_double(d, cv, "sensitive_target", 0.95, 0.5, 1.0, &j->sensitive_target));
    cfg_node *models = cfg_seq(d, cv, "models", 0, &rc);
    if (rc) return rc;
    if (!models) {
        j->cv_nmodels = 3;
        for (int i = 0; i < 3; i++) j->cv_model[i] = i;
    } else {
        if (models->n < 1 || models->n > JOB_MAX_MODELS) return cfg_error(d, models, "1 to %d models", JOB_MAX_MODELS);
        for (int i = 0; i < models->n; i++) {
            const char *s;
            H19_TRY(cfg_node_str(d, models->items[i], &s));
            int k = -1;
            for (int m = 0; job_model_names[m]; m++)
                if (!strcmp(s, job_model_names[m])) k = m;
            if (k < 0) return cfg_error(d, models->items[i], "unknown model '%s' (known: cf-lr, cf-dnn, cf-fused, ct-cnn, hybrid)", s);
            j->cv_model[j->cv_nmodels++] = k;
        }
    }

    cfg_node *val = cfg_map(d, d->root, "validate", 0, &rc);
    if (rc) return rc;
    H19_TRY(outcome_list(j, val, "outcomes", j->val_outcome, &j->val_noutcomes, 0));
    j->train_cohorts[0] = 1;
    j->ntrain_cohorts = 1;
    j->test_cohorts[0] = 2;
    j->ntest_cohorts = 1;
    H19_TRY(int_list(j, val, "train_cohorts", j->train_cohorts, &j->ntrain_cohorts, 8));
    H19_TRY(int_list(j, val, "test_cohorts", j->test_cohorts, &j->ntest_cohorts, 8));
    H19_TRY(cfg_int(d, val, "repeats", 1, 1, 100, &j->val_repeats));

    cfg_node *pr = cfg_map(d, d->root, "predict", 0, &rc);
    if (rc) return rc;
    const char *po = NULL;
    H19_TRY(cfg_str(d, pr, "outcome", j->noutcomes ? j->outcomes[0].name : "", 0, &po));
    j->pred_outcome = job_outcome_index(j, po);
    if (pr && j->pred_outcome < 0) return cfg_error(d, pr, "predict.outcome '%s' is not an outcome defined under 'outcomes'", po);
    const char *pm = NULL;
    H19_TRY(cfg_str(d, pr, "model", job_needs_ct(j) ? "hybrid" : "cf-fused", 0, &pm));
    j->pred_model = -1;
    for (int m = 0; job_model_names[m]; m++)
        if (!strcmp(pm, job_model_names[m])) j->pred_model = m;
    if (j->pred_model < 0) return cfg_error(d, pr, "predict.model '%s': known models are cf-lr, cf-dnn, cf-fused, ct-cnn, hybrid", pm);
    cfg_node *sus = cfg_seq(d, pr, "suspected", 0, &rc);
    if (rc) return rc;
    if (!sus) {
        j->pred_suspected[0] = "Suspected";
        j->pred_suspected[1] = "Suspected (COVID-19-confirmed later)";
        j->pred_nsuspected = 2;
    } else {
        if (sus->n > 8) return cfg_error(d, sus, "at most 8 values");
        for (int i = 0; i < sus->n; i++) H19_TRY(cfg_node_str(d, sus->items[i], &j->pred_suspected[j->pred_nsuspected++]));
    }
    j->pred_ncohorts = 0;
    if (j->pred_outcome >= 0) {
        const cf_outcome *o = &j->outcomes[j->pred_outcome];
        for (int i = 0; i < o->ncohorts; i++) j->pred_cohorts[j->pred_ncohorts++] = o->cohorts[i];
    }
    H19_TRY(int_list(j, pr, "train_cohorts", j->pred_cohorts, &j->pred_ncohorts, 8));
    cfg_node *ts = cfg_map(d, pr, "tsne", 0, &rc);
    if (rc) return rc;
    H19_TRY(cfg_double(d, ts, "perplexity", 30.0, 1.0, 1000.0, &j->tsne_perplexity));

    for (int i = 0; other_sections[i]; i++) cfg_mark_all(cfg_find(d->root, other_sections[i]));
    return H19_OK;
}

/* A model file's train: section, then the job section's training keys. */
static int model_hyper(h19_job *j, const char *model, int input, cfg_node *node, nn_hyper *h)
{
    nn_layer_spec *spec = NULL;
    int nspec = 0, C, H, W;
    *h = nn_hyper_default();
    int rc = nn_model_load(model, input, 3, &C, &H, &W, &spec, &nspec, h);
    free(spec);
    if (rc) return rc;
    return nn_hyper_read(&j->doc, node, h);
}

int job_cf_hyper(h19_job *j, nn_hyper *h) { return model_hyper(j, j->cf_dnn_model, 1, j->cf_dnn_node, h); }

int job_pcnn_hyper(h19_job *j, nn_hyper *h) { return model_hyper(j, j->pcnn_model, 0, j->pcnn_node, h); }

int job_needs_ct(const h19_job *j)
{
    for (int m = 0; m < j->cv_nmodels; m++)
        if (j->cv_model[m] == MODEL_CT_CNN || j->cv_model[m] == MODEL_HYBRID) return 1;
    return 0;
}

int job_load(h19_job *j, const cli_args *a, const char *path)
{
    memset(j, 0, sizeof *j);
    H19_TRY(cli_load_job(a, path, &j->doc));
    j->file = j->doc.file;
    int rc = parse(j);
    if (rc) job_free(j);
    return rc;
}

/* The cf_dnn training keys are read later by the stage (nn_hyper_read); callers check unused keys
 * after that with cfg_check_unused(&j->doc). */

void job_free(h19_job *j)
{
    for (int i = 0; i < j->noutcomes; i++) cf_outcome_free(&j->outcomes[i]);
    cf_cohorts_free(&j->cohorts);
    cfg_free(&j->doc);
    memset(j, 0, sizeof *j);
}

int job_make_outdir(const h19_job *j)
{
    int rc = H19_OK;
    if (dist_rank() == 0) rc = h19_mkdir_p(j->outdir);
    return dist_agree(rc);
}
