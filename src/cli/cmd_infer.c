/* cmd_infer.c — `hust19 infer JOB.yaml`: score every slice of the archive with the trained slice CNN
 * (include/hust19/stage_cnn.h, docs/training.md). */
#include "commands.h"
#include "hust19/cli.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/job.h"
#include "hust19/stage_cnn.h"

#include <stdio.h>
#include <string.h>

static const char *HELP_INFER =
    "usage: hust19 infer JOB.yaml [--set key=value]\n"
    "       mpirun -np N hust19 infer JOB.yaml\n\n"
    "Scores every CT slice of the job's archive with the slice CNN trained by 'hust19 train slice-cnn'.\n"
    "Chunks of slice_cnn.infer_chunk slices (default 64) are handed out over the ranks. Writes\n"
    "results/<job>/slice_scores.h5 (/prob [N,3] NiCT/pCT/nCT probabilities, /patient [N], /top10\n"
    "[patients,10]: each patient's ten most probable pCT slices); the archive is not modified.\n"
    "SIGUSR1/SIGTERM: finished chunks are kept in results/<job>/infer-chunks/, exit 75; re-run to resume.\n";

int cmd_infer(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(argc, argv, NULL, NULL, &a);
    if (rc) return cli_report("infer", rc);
    if (a.help) {
        fputs(HELP_INFER, stdout);
        return H19_EXIT_OK;
    }
    if (a.npos != 1) return cli_report("infer", h19_fail(H19_EARG, "expected one job file (see --help)"));
    h19_job job;
    rc = job_load(&job, &a, a.pos[0]);
    if (rc) return cli_report("infer", rc);
    rc = dist_check_slurm();
    sc_opts o;
    memset(&o, 0, sizeof o);
    if (!rc) rc = sc_opts_parse(&job, &o);
    sc_infer_result r;
    if (!rc) rc = sc_infer(&job, &o, &r);
    sc_opts_free(&o);
    job_free(&job);
    return cli_report("infer", rc);
}
