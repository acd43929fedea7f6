/* cmd_train.c — `hust19 train slice-cnn JOB.yaml`: train the slice CNN on the archive's labelled
 * slices, data-parallel over all MPI ranks (include/hust19/stage_cnn.h, docs/training.md). */
#include "commands.h"
#include "hust19/cli.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/job.h"
#include "hust19/log.h"
#include "hust19/stage_cnn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *HELP_TRAIN =
    "usage: hust19 train slice-cnn JOB.yaml [--set key=value]\n"
    "       mpirun -np N hust19 train slice-cnn JOB.yaml\n\n"
    "Trains the slice CNN (NiCT / pCT / nCT) on the labelled slices of the job's archive (written by\n"
    "'hust19 ingest' with a ct: section). The labelled patients are split into training and a held-out\n"
    "test set (slice_cnn.test_fraction, default 0.1: the paper's 9:1), whole patients in one part\n"
    "(split: patient, the default; split: slice draws slices per class, the paper's protocol), and\n"
    "val_fraction of the training part drives early stopping. All ranks train one model together (data\n"
    "parallel: the same model bytes on any rank count). Keys of the slice_cnn: section: model, split,\n"
    "test_fraction, val_fraction, max_train_slices, flip, flip_test, input (u8 | lung | lung_mask:\n"
    "the input encoding), init (he | uniform), checkpoint, model_out, scores_out, infer_chunk, and the\n"
    "training keys epochs, batch, micro_batch, lr, decay, beta1, beta2, eps, l2, dropout, patience,\n"
    "fixed_bits, early_stop, class_weight, average_from (keep the mean of the weights after epochs\n"
    "E..last).\n"
    "Writes results/<job>/slice_cnn.h5 and slice_cnn_metrics.csv (held-out AUC, confusion matrix).\n"
    "SIGUSR1/SIGTERM: checkpoint (results/<job>/slice_cnn.ckpt), exit 75; re-run to resume.\n"
    "A checkpoint of other training settings is refused: --restart deletes it and trains afresh.\n\n"
    "  hust19 train patient-cnn | cf-dnn | cf-lr | plr: these are trained inside 'hust19 cv'.\n";

int cmd_train(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(HELP_TRAIN, stdout);
        return H19_EXIT_OK;
    }
    if (argc < 2) return cli_report("train", h19_fail(H19_EARG, "expected 'slice-cnn JOB.yaml' (see --help)"));
    const char *what = argv[1];
    if (!strcmp(what, "patient-cnn") || !strcmp(what, "cf-dnn") || !strcmp(what, "cf-lr") || !strcmp(what, "plr")) {
        if (dist_rank() == 0)
            printf("hust19 train %s: this model is trained inside 'hust19 cv' (and 'hust19 validate')\n", what);
        return H19_EXIT_OK;
    }
    if (strcmp(what, "slice-cnn") != 0)
        return cli_report("train", h19_fail(H19_EARG, "unknown model '%s' (known: slice-cnn, patient-cnn, cf-dnn, "
                                                      "cf-lr, plr)", what));
    cli_args a;
    static const char *const flags[] = {"--restart", NULL};
    int rc = cli_parse(argc - 1, argv + 1, NULL, flags, &a);
    if (rc) return cli_report("train", rc);
    if (a.help) {
        fputs(HELP_TRAIN, stdout);
        return H19_EXIT_OK;
    }
    if (a.npos != 1) return cli_report("train", h19_fail(H19_EARG, "expected one job file (see --help)"));
    h19_job job;
    rc = job_load(&job, &a, a.pos[0]);
    if (rc) return cli_report("train", rc);
    rc = dist_check_slurm();
    sc_opts o;
    memset(&o, 0, sizeof o);
    if (!rc) rc = sc_opts_parse(&job, &o);
    if (!rc && cli_flag(&a, "--restart") && dist_rank() == 0 && unlink(o.ckpt) && errno != ENOENT)
        rc = h19_fail(H19_EIO, "%s: cannot delete: %s", o.ckpt, strerror(errno));
    if (!rc && cli_flag(&a, "--restart")) LOG_INFO("train: --restart: training from scratch");
    rc = dist_agree(rc);
    sc_train_result r;
    if (!rc) rc = sc_train(&job, &o, &r);
    sc_opts_free(&o);
    job_free(&job);
    return cli_report("train", rc);
}
