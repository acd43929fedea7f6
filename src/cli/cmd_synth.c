/* cmd_synth.c — `hust19 synth JOB.yaml`: write a synthetic consortium CT archive (docs/synth.md).
 *
 * Every rank builds the same cohort from the job (it is deterministic), rank 0 writes the tables,
 * then patients are tasks of the dynamic queue (dist_queue_next): a patient's slices depend only
 * on (seed, patient, slice), so the archive is byte-identical whatever the rank count. */
#include "commands.h"
#include "hust19/cfg.h"
#include "hust19/cli.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/log.h"
#include "hust19/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *HELP =
    "usage: hust19 synth JOB.yaml [--force] [--dry-run] [--set synth.key=value]\n"
    "       hust19 synth [JOB.yaml] --contact-sheet OUT.jpg\n\n"
    "Writes a synthetic consortium CT archive under synth.out: dicom/P<id>/S01/IM<k>.dcm (CT Image\n"
    "Storage, HU + 1024 with RescaleIntercept -1024, fake PHI), cf.csv (iCTCF columns), manifest.csv,\n"
    "slice_labels.csv (NiCT / pCT / nCT of the labelled patients) and synth.yaml. Resumable: a patient\n"
    "whose series is complete is skipped. Parallel over MPI ranks (patients are tasks).\n"
    "--force rewrites every patient; --dry-run renders and labels every slice but writes nothing\n"
    "(a benchmark of the phantom alone); --contact-sheet renders example slices (lung window) to a\n"
    "JPEG instead.\n\n"
    "keys under synth: (docs/synth.md): out, seed, patients, cf_table, ct_fraction, slices {mean, sd,\n"
    "min, max} (or a number), image_size, fov_mm, noise_hu [min, max], labelled_patients,\n"
    "classes {control, cap, type1, type2}, thresholds {nict_lung_mm2, pct_lesion_mm2, lesion_hu, faint_hu, label_in_mask},\n"
    "control_minor, lesions {type1|type2|critical|cap: {count, radius_mm, hu, consolidation, crazy_paving}}.\n";

/* A [min, max] pair of numbers. */
static int range2(cfg_doc *d, cfg_node *map, const char *key, double *lo, double *hi)
{
    int rc;
    cfg_node *s = cfg_seq(d, map, key, 0, &rc);
    if (rc || !s) return rc;
    if (s->n != 2) return cfg_error(d, s, "'%s' must be a list of two numbers [min, max]", s->path);
    H19_TRY(cfg_node_double(d, s->items[0], lo));
    H19_TRY(cfg_node_double(d, s->items[1], hi));
    if (*hi < *lo) return cfg_error(d, s, "'%s': max %g is below min %g", s->path, *hi, *lo);
    return H19_OK;
}

static int lesion_keys(cfg_doc *d, cfg_node *les, const char *name, ct_synth_lesion_params *l)
{
    int rc;
    cfg_node *m = cfg_map(d, les, name, 0, &rc);
    if (rc || !m) return rc;
    double lo = l->count_min, hi = l->count_max;
    H19_TRY(range2(d, m, "count", &lo, &hi));
    if (lo < 0 || hi > 200 || lo != (int)lo || hi != (int)hi)
        return cfg_error(d, cfg_peek(m, "count"), "'%s.count' must be two integers in [0, 200]", m->path);
    l->count_min = (int)lo;
    l->count_max = (int)hi;
    H19_TRY(range2(d, m, "radius_mm", &l->radius_min, &l->radius_max));
    H19_TRY(range2(d, m, "hu", &l->hu_min, &l->hu_max));
    H19_TRY(cfg_double(d, m, "consolidation", l->consolidation, 0, 1, &l->consolidation));
    H19_TRY(cfg_double(d, m, "crazy_paving", l->crazy_paving, 0, 1, &l->crazy_paving));
    return H19_OK;
}

/* Read the synth: section into job (strict: unknown keys are errors). Other top-level sections
 * belong to other stages and are left to them. */
static int parse_job(cfg_doc *d, ct_synth_job *job, int need_out)
{
    int rc;
    cfg_node *s = cfg_map(d, d->root, "synth", need_out, &rc);
    if (rc) return rc;
    /* the job's seed (job.seed) is the default synth seed */
    long seed = 2020;
    cfg_node *jobsec = cfg_peek(d->root, "job");
    if (jobsec && jobsec->kind == CFG_MAP && cfg_peek(jobsec, "seed")) {
        cfg_node *sn = cfg_peek(jobsec, "seed");
        if (sn->kind == CFG_SCALAR && !sn->quoted) seed = strtol(sn->value, NULL, 10);
    }
    for (int i = 0; i < d->root->n; i++)
        if (strcmp(d->root->keys[i], "synth")) {
            d->root->used[i] = 1;
            cfg_mark_all(d->root->items[i]);
        }
    if (!s) return need_out ? cfg_error(d, d->root, "the 'synth' section is empty") : H19_OK;
    const char *out = NULL, *table = NULL;
    H19_TRY(cfg_str(d, s, "out", NULL, need_out, &out));
    if (out && !*out) return cfg_error(d, cfg_peek(s, "out"), "'synth.out' must not be empty");
    H19_TRY(cfg_int(d, s, "seed", seed, 0, 0x7fffffffffffffffL, &seed));
    job->seed = (uint64_t)seed;
    long v;
    H19_TRY(cfg_int(d, s, "patients", job->patients, 1, 1000000, &v));
    job->patients = (int)v;
    H19_TRY(cfg_str(d, s, "cf_table", NULL, 0, &table));
    if (table && cfg_peek(s, "patients"))
        return cfg_error(d, cfg_peek(s, "patients"), "'synth.patients' and 'synth.cf_table' exclude each other: "
                         "with a table, the patients are the table's rows");
    H19_TRY(cfg_double(d, s, "ct_fraction", job->ct_fraction, 0, 1, &job->ct_fraction));
    cfg_node *sl = cfg_find(s, "slices");
    if (sl && sl->kind == CFG_SCALAR) {
        H19_TRY(cfg_node_double(d, sl, &job->slices_mean));
        job->slices_sd = 0;
        if (job->slices_mean < 1 || job->slices_mean > 9999)
            return cfg_error(d, sl, "'synth.slices' = %g is out of range [1, 9999]", job->slices_mean);
        job->slices_min = 1;
    } else if (sl) {
        if (sl->kind != CFG_MAP) return cfg_error(d, sl, "'synth.slices' must be a number or {mean, sd, min, max}");
        H19_TRY(cfg_double(d, sl, "mean", job->slices_mean, 1, 9999, &job->slices_mean));
        H19_TRY(cfg_double(d, sl, "sd", job->slices_sd, 0, 5000, &job->slices_sd));
        H19_TRY(cfg_int(d, sl, "min", job->slices_min, 1, 9999, &v));
        job->slices_min = (int)v;
        H19_TRY(cfg_int(d, sl, "max", job->slices_max, 1, 9999, &v));
        job->slices_max = (int)v;
        if (job->slices_max < job->slices_min)
            return cfg_error(d, sl, "'synth.slices': max %d is below min %d", job->slices_max, job->slices_min);
    }
    ct_synth_params *p = &job->prm;
    H19_TRY(cfg_int(d, s, "image_size", p->size, 64, 2048, &v));
    p->size = (int)v;
    H19_TRY(cfg_double(d, s, "fov_mm", p->fov_mm, 200, 600, &p->fov_mm));
    H19_TRY(range2(d, s, "noise_hu", &p->noise_min, &p->noise_max));
    H19_TRY(cfg_int(d, s, "labelled_patients", job->labelled_patients, 0, 1000000, &v));
    job->labelled_patients = (int)v;
    cfg_node *cl = cfg_map(d, s, "classes", 0, &rc);
    if (rc) return rc;
    if (cl) {
        static const char *const names[] = {"control", "cap", "type1", "type2"};
        double tot = 0;
        for (int c = 0; c < CT_SYNTH_NCLASS; c++) {
            H19_TRY(cfg_double(d, cl, names[c], 0, 0, 1e9, &job->class_weights[c]));
            tot += job->class_weights[c];
        }
        if (!(tot > 0)) return cfg_error(d, cl, "'synth.classes' weights must not all be 0");
    }
    cfg_node *th = cfg_map(d, s, "thresholds", 0, &rc);
    if (rc) return rc;
    H19_TRY(cfg_double(d, th, "nict_lung_mm2", p->nict_lung_mm2, 0, 1e6, &p->nict_lung_mm2));
    H19_TRY(cfg_double(d, th, "pct_lesion_mm2", p->pct_lesion_mm2, 0, 1e6, &p->pct_lesion_mm2));
    H19_TRY(cfg_double(d, th, "lesion_hu", p->lesion_hu, 0, 2000, &p->lesion_hu));
    H19_TRY(cfg_double(d, th, "faint_hu", p->faint_hu, 0, 2000, &p->faint_hu));
    bool in_mask = p->label_in_mask != 0;
    H19_TRY(cfg_bool(d, th, "label_in_mask", in_mask, &in_mask));
    p->label_in_mask = in_mask;
    H19_TRY(cfg_double(d, s, "control_minor", p->control_minor, 0, 1, &p->control_minor));
    cfg_node *les = cfg_map(d, s, "lesions", 0, &rc);
    if (rc) return rc;
    H19_TRY(lesion_keys(d, les, "type1", &p->type1));
    H19_TRY(lesion_keys(d, les, "type2", &p->type2));
    H19_TRY(lesion_keys(d, les, "cap", &p->cap));
    H19_TRY(lesion_keys(d, les, "critical", &p->critical));
    H19_TRY(cfg_check_unused(d));
    rc = ct_synth_params_check(p);
    if (rc) return h19_fail_ctx(H19_ECONFIG, "%s: ", d->file);
    if (out && !(job->out = strdup(out))) return h19_fail(H19_ENOMEM, "out of memory");
    if (table && !(job->cf_table = strdup(table))) return h19_fail(H19_ENOMEM, "out of memory");
    return H19_OK;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int run(const cli_args *a, ct_synth_job *job)
{
    ct_synth_entry *e = NULL;
    int n = 0;
    int rc = ct_synth_cohort(job, &e, &n);
    rc = dist_agree(rc);
    if (rc) return rc;
    if (dist_rank() == 0 && !job->dry_run) rc = ct_synth_write_tables(job, e, n);
    rc = dist_agree(rc);
    if (rc) {
        free(e);
        return rc;
    }
    int *task = malloc(sizeof *task * (size_t)(n ? n : 1));
    if (!task) {
        free(e);
        return h19_fail(H19_ENOMEM, "out of memory");
    }
    int ntask = 0;
    long total_slices = 0;
    for (int i = 0; i < n; i++)
        if (e[i].has_ct) task[ntask++] = i, total_slices += e[i].nslices;
    LOG_INFO("synth: %d patients (%d with CT, %ld slices of %dx%d) -> %s", n, ntask, total_slices, job->prm.size,
             job->prm.size, job->out);
    dist_queue q;
    rc = dist_queue_create(&q, ntask);
    if (rc) {
        free(task);
        free(e);
        return rc;
    }
    h19_progress prog;
    h19_progress_begin(&prog, "synth patients", ntask);
    double t0 = h19_now(), c0 = cpu_seconds();
    long written = 0, skipped = 0;
    int64_t t;
    while (!rc && !dist_stop_signalled() && (t = dist_queue_next(&q)) >= 0) {
        int sk = 0;
        long nw = 0;
        rc = ct_synth_write_patient(job, &e[task[t]], &sk, &nw);
        written += nw;
        skipped += sk;
        h19_progress_update(&prog, t + 1);
    }
    double dt = h19_now() - t0, dc = cpu_seconds() - c0;
    rc = dist_agree(rc);
    dist_queue_free(&q);
    if (!rc && dist_stop_requested()) rc = h19_fail(H19_ESTOP, "stopped by a signal; completed patients are kept: rerun to resume");
    if (!rc) {
        h19_progress_end(&prog, ntask);
        long tot[2] = {written, skipped}, sum[2];
        MPI_Allreduce(tot, sum, 2, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
        double dmax = dt, csum = dc;
        MPI_Allreduce(&dt, &dmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(&dc, &csum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        h19_log_all(H19_LOG_DEBUG, "synth: this rank wrote %ld slices in %.2f s (%.1f slices/s)", written, dt,
                    dt > 0 ? written / dt : 0.0);
        LOG_INFO("synth: wrote %ld slices (%ld patients skipped as complete) in %.2f s on %d ranks: %.1f slices/s, "
                 "%.1f slices/s per rank", sum[0], sum[1], dmax, dist_size(), dmax > 0 ? sum[0] / dmax : 0.0,
                 dmax > 0 ? sum[0] / dmax / dist_size() : 0.0);
        /* CPU time is what a loaded machine does not distort: slices per CPU-second of the ranks */
        LOG_INFO("synth: %.1f slices per CPU-second (%.1f ms CPU per slice)", csum > 0 ? sum[0] / csum : 0.0,
                 sum[0] > 0 ? 1000 * csum / sum[0] : 0.0);
        if (dist_rank() == 0 && !job->dry_run) rc = ct_synth_write_labels(job, e, n);
        rc = dist_agree(rc);
    }
    (void)a;
    free(task);
    free(e);
    return rc;
}

int cmd_synth(int argc, char **argv)
{
    static const char *const vopts[] = {"--contact-sheet", NULL};
    static const char *const flags[] = {"--force", "--dry-run", NULL};
    cli_args a;
    int rc = cli_parse(argc, argv, vopts, flags, &a);
    if (rc) return cli_report("synth", rc);
    if (a.help) {
        fputs(HELP, stdout);
        return H19_EXIT_OK;
    }
    const char *sheet = cli_opt(&a, "--contact-sheet");
    if (a.npos > 1 || (a.npos == 0 && !sheet)) {
        fputs(HELP, stderr);
        return cli_report("synth", h19_fail(H19_EARG, "expected one job file"));
    }
    ct_synth_job job;
    ct_synth_job_default(&job);
    job.force = cli_flag(&a, "--force");
    job.dry_run = cli_flag(&a, "--dry-run");
    if (a.npos == 1) {
        cfg_doc doc;
        rc = cli_load_job(&a, a.pos[0], &doc);
        if (!rc) {
            rc = parse_job(&doc, &job, !sheet);
            cfg_free(&doc);
        }
    }
    if (!rc && sheet) {
        rc = dist_rank() == 0 ? ct_synth_contact_sheet(&job.prm, job.seed, 64, job.prm.size >= 512 ? 384 : 128, sheet)
                              : H19_OK;
        rc = dist_agree(rc);
        if (!rc) LOG_INFO("synth: contact sheet -> %s", sheet);
    } else if (!rc) {
        rc = run(&a, &job);
    }
    ct_synth_job_free(&job);
    return cli_report("synth", rc);
}
