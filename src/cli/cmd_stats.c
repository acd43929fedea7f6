/* cmd_stats.c — `hust19 stats JOB.yaml`: the clinical-feature statistics of the paper
 * (include/hust19/stats.h, st_stage; docs/stats.md). */
#include "commands.h"
#include "hust19/cli.h"
#include "hust19/err.h"
#include "hust19/job.h"
#include "hust19/stats.h"

#include <stdio.h>

static const char *HELP =
    "usage: hust19 stats JOB.yaml [--set key=value]\n\n"
    "Clinical-feature statistics as in Ning et al. 2020 (Statistical analysis): for each numeric CF and\n"
    "each comparison (COVID-19 vs control, type II vs type I, deceased vs cured) n, mean, SD, Shapiro-Wilk\n"
    "per group, t-test or Mann-Whitney U, Benjamini-Hochberg; chi-squared 2x2 for underlying diseases.\n"
    "Reads data.cf_table and data.catalog directly (no archive needed). Options in the job's 'stats:'\n"
    "section: cohorts [1, 2], sw_mode scipy|double, normality per-group|pooled, censored bound|exclude,\n"
    "alpha_normal 0.05, p_raw 1e-4, p_adj 1e-3, boxplots 6. Writes results/<job>/stats.csv,\n"
    "stats-udis.csv, stats-summary.csv, stats-vs-paper.csv, stats.html and stats-box-*.svg, and prints\n"
    "our values beside the paper's.\n";

int cmd_stats(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(argc, argv, NULL, NULL, &a);
    if (rc) return cli_report("stats", rc);
    if (a.help) {
        fputs(HELP, stdout);
        return H19_EXIT_OK;
    }
    if (a.npos != 1) return cli_report("stats", h19_fail(H19_EARG, "expected one job file (see --help)"));
    h19_job job;
    rc = job_load(&job, &a, a.pos[0]);
    if (rc) return cli_report("stats", rc);
    cfg_mark_all(job.cf_dnn_node); /* training keys: checked by the training stages */
    rc = cfg_check_unused(&job.doc);
    if (!rc) rc = st_stage(&job);
    job_free(&job);
    return cli_report("stats", rc);
}
