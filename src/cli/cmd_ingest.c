/* cmd_ingest.c — `hust19 ingest JOB.yaml`: the clinical-feature table (and, when the job has a `ct`
 * section, the CT archive) into the versioned HDF5 archive. Idempotent: an archive that exists and
 * is complete is left alone unless --force. */
#include "commands.h"
#include "hust19/archive.h"
#include "hust19/cli.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/job.h"
#include "hust19/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The imaging ingest, when built (src/ct/ingest_ct.c): adds /ct to the archive being written. */
int ct_ingest_stage(h19_job *job, h5_file *f) __attribute__((weak));

static const char *HELP =
    "usage: hust19 ingest JOB.yaml [--force] [--set key=value]\n\n"
    "Reads the job's clinical-feature table (data.cf_table) with the CF catalog (data.catalog),\n"
    "parses values as the iCTCF resource prints them (units, ↑/↓ flags, <x / >x censoring, empty =\n"
    "missing), assigns cohorts, and writes the archive (data.archive, default\n"
    "results/<job>/archive.h5) atomically. An existing archive is kept unless --force.\n"
    "With a ct: section (docs/archive.md) it also ingests the CT series: de-identified, windowed,\n"
    "preprocessed to 200x200, written with collective parallel-HDF5 writes; bad files are listed in\n"
    "results/<job>/ingest-report.csv and skipped; finished series are kept in ingest-shards/ so a\n"
    "killed ingest resumes.\n";

int ingest_cf(h19_job *job, int force)
{
    if (!force && h19_file_exists(job->archive)) {
        h5_file f;
        int rc = h5_open(&f, job->archive, MPI_COMM_SELF, H19_ARCHIVE_KIND, H19_ARCHIVE_VERSION);
        rc = dist_agree(rc);
        if (!rc) {
            h5_close(&f);
            LOG_INFO("ingest: %s exists; nothing to do (--force rebuilds it)", job->archive);
            return H19_OK;
        }
        return h19_fail_ctx(rc, "existing archive unusable (rerun with --force to rebuild)");
    }
    csv_table t;
    cf_catalog cat;
    cf_data d;
    memset(&t, 0, sizeof t);
    memset(&cat, 0, sizeof cat);
    memset(&d, 0, sizeof d);
    int *cohort = NULL;
    int rc = csv_read(job->cf_table, 1, &t);
    if (!rc) rc = cf_catalog_load(job->catalog, &cat);
    if (!rc) rc = cf_data_build(&t, &cat, job->id_column, &d);
    if (!rc) {
        cohort = h19_calloc((size_t)(d.n ? d.n : 1), sizeof(int));
        if (!cohort) rc = H19_ENOMEM;
    }
    if (!rc) rc = cf_cohorts_assign(&t, &d, &job->cohorts, cohort);
    /* every outcome's labels must map (a label outside the mapping is an error now, not later) */
    int *y = rc ? NULL : h19_malloc(sizeof(int) * (size_t)(d.n ? d.n : 1));
    if (!rc && !y) rc = H19_ENOMEM;
    for (int o = 0; !rc && o < job->noutcomes; o++) rc = cf_labels_build(&t, &job->outcomes[o], job->file, y);
    free(y);
    rc = dist_agree(rc);
    if (!rc) rc = job_make_outdir(job);
    if (!rc) {
        h5_file f;
        rc = h5_create(&f, job->archive, MPI_COMM_WORLD, H19_ARCHIVE_KIND, H19_ARCHIVE_VERSION);
        if (!rc) rc = cf_archive_write(&f, &t, &cat, &d, cohort);
        if (!rc) rc = h5_attr_str(&f, "", "job", job->name);
        if (!rc && ct_ingest_stage) rc = ct_ingest_stage(job, &f);
        rc = dist_agree(rc);
        if (!rc)
            rc = h5_commit(&f);
        else
            h5_abort(&f);
    }
    if (!rc) {
        int nc[8] = {0};
        for (int i = 0; i < d.n; i++)
            if (cohort[i] >= 0 && cohort[i] < 8) nc[cohort[i]]++;
        LOG_INFO("ingest: %d patients x %d clinical features from %s -> %s (cohort 1: %d, cohort 2: %d, none: %d)",
                 d.n, d.p, job->cf_table, job->archive, nc[1], nc[2], nc[0]);
    }
    free(cohort);
    cf_data_free(&d);
    cf_catalog_free(&cat);
    csv_free(&t);
    return rc;
}

int cmd_ingest(int argc, char **argv)
{
    static const char *const flags[] = {"--force", NULL};
    cli_args a;
    int rc = cli_parse(argc, argv, NULL, flags, &a);
    if (rc) return cli_report("ingest", rc);
    if (a.help) {
        fputs(HELP, stdout);
        return H19_EXIT_OK;
    }
    if (a.npos != 1) return cli_report("ingest", h19_fail(H19_EARG, "expected one job file (see --help)"));
    h19_job job;
    rc = job_load(&job, &a, a.pos[0]);
    if (!rc) rc = cfg_check_unused(&job.doc);
    if (!rc) rc = ingest_cf(&job, cli_flag(&a, "--force"));
    if (!job.file) return cli_report("ingest", rc);
    job_free(&job);
    return cli_report("ingest", rc);
}
