/* cv_ct.c — the patient CNN's inputs for cross-validation (include/hust19/cv.h, cv_ct_load): each
 * patient's ten most probable pCT slices (the /top10 of `hust19 infer`'s scores file, most probable
 * first, the last repeated when a patient has fewer) stacked as the channels of one 10 x H x W input
 * (DESIGN.md "The model": Patient CNN), x / 255 and block-averaged to the model's H x W as the slice
 * CNN's inputs are (sc_normalise). Patients without slices get no input (slot -1). */
#include "hust19/archive.h"
#include "hust19/cv.h"
#include "hust19/dist.h"
#include "hust19/ct.h"
#include "hust19/err.h"
#include "hust19/ingest.h"
#include "hust19/log.h"
#include "hust19/rng.h"
#include "hust19/stage_cnn.h"

#include <stdlib.h>
#include <string.h>

void cv_ct_free(cv_ct *ct)
{
    free(ct->spec);
    free(ct->slot);
    free(ct->X);
    memset(ct, 0, sizeof *ct);
}

int cv_ct_load(h19_job *job, int npatients, cv_ct *ct)
{
    memset(ct, 0, sizeof *ct);
    int rc = nn_model_load(job->pcnn_model, 0, 3, &ct->C, &ct->H, &ct->W, &ct->spec, &ct->nspec, NULL);
    if (rc) return rc;
    if (ct->C != SC_TOPK || ct->H < 1 || ct->W < 1 || CT_OUT % ct->H || CT_OUT % ct->W) {
        rc = h19_fail(H19_ECONFIG, "%s: the patient CNN's input must be [%d, H, W] with %d divisible by H and W (got [%d, %d, %d])",
                      job->pcnn_model, SC_TOPK, CT_OUT, ct->C, ct->H, ct->W);
        cv_ct_free(ct);
        return rc;
    }
    if (!rc) rc = job_pcnn_hyper(job, &ct->hyper);
    if (!rc && (ct->nspec < 2 || ct->spec[ct->nspec - 2].kind != NN_DENSE)) {
        rc = h19_fail(H19_ECONFIG, "%s: the patient CNN must end with a dense output layer", job->pcnn_model);
    }
    if (rc) {
        cv_ct_free(ct);
        return rc;
    }
    /* the top-10 slice indexes */
    h5_file sf;
    rc = h5_open(&sf, job->pcnn_scores, MPI_COMM_SELF, SC_SCORES_KIND, SC_SCORES_VERSION);
    if (rc == H19_EIO)
        rc = h19_fail(H19_ESTATE, "%s: no slice scores: the ct-cnn and hybrid models need the slice CNN's top-10 pCT "
                                  "slices; run 'hust19 train slice-cnn %s' and 'hust19 infer %s' first",
                      job->pcnn_scores, job->file, job->file);
    if (rc) {
        cv_ct_free(ct);
        return rc;
    }
    int nd = 0;
    int64_t dims[4];
    int64_t *top = NULL;
    rc = h5_read(&sf, "/top10", H5T_NATIVE_INT64, &nd, dims, (void **)&top);
    h5_close(&sf);
    if (!rc && (nd != 2 || dims[0] != npatients || dims[1] != SC_TOPK))
        rc = h19_fail(H19_ESTATE, "%s: /top10 is [%lld, %lld] but the archive has %d patients: the scores are of another "
                                  "archive; re-run 'hust19 infer %s'",
                      job->pcnn_scores, (long long)(nd > 0 ? dims[0] : 0), (long long)(nd > 1 ? dims[1] : 0), npatients,
                      job->file);
    h5_file af;
    if (!rc) rc = h5_open(&af, job->archive, MPI_COMM_SELF, "hust19-archive", 1);
    if (rc) {
        free(top);
        cv_ct_free(ct);
        return rc;
    }
    ct_archive_meta m;
    rc = ct_archive_read_meta(&af, &m);
    ct->slot = rc ? NULL : h19_malloc(sizeof(int) * (size_t)(npatients ? npatients : 1));
    if (!rc && !ct->slot) rc = H19_ENOMEM;
    for (int p = 0; !rc && p < npatients; p++) {
        int has = top[(size_t)p * SC_TOPK] >= 0;
        for (int k = 0; has && k < SC_TOPK; k++) {
            int64_t i = top[(size_t)p * SC_TOPK + (size_t)k];
            if (i < 0 || i >= m.n || m.patient[i] != p)
                rc = h19_fail(H19_ESTATE, "%s: /top10 row %d names slice %lld, which is not that patient's in %s: re-run "
                                          "'hust19 infer %s'",
                              job->pcnn_scores, p, (long long)i, job->archive, job->file);
        }
        ct->slot[p] = has ? ct->nct++ : -1;
    }
    size_t per = (size_t)SC_TOPK * (size_t)ct->H * (size_t)ct->W;
    ct->X = rc ? NULL : h19_malloc(sizeof(float) * per * (size_t)(ct->nct ? ct->nct : 1));
    uint8_t *buf = rc ? NULL : h19_malloc((size_t)CT_OUT * CT_OUT);
    if (!rc && (!ct->X || !buf)) rc = H19_ENOMEM;
    uint64_t hash = h19_mix64((uint64_t)ct->H * 1000003u + (uint64_t)ct->W);
    for (int p = 0; !rc && p < npatients; p++) {
        if (ct->slot[p] < 0) continue;
        float *x = ct->X + (size_t)ct->slot[p] * per;
        for (int k = 0; !rc && k < SC_TOPK; k++) {
            int64_t i = top[(size_t)p * SC_TOPK + (size_t)k];
            hash = h19_mix64(hash ^ (uint64_t)i ^ ((uint64_t)p << 40));
            rc = ct_archive_read_slices(&af, i, 1, buf);
            /* the content too, so a re-ingested archive invalidates saved patient-CNN tasks */
            for (size_t q = 0; !rc && q + 8 <= (size_t)CT_OUT * CT_OUT; q += 8) {
                uint64_t wv;
                memcpy(&wv, buf + q, 8);
                hash = hash * 0x100000001b3ull + wv;
            }
            if (!rc) sc_normalise(x + (size_t)k * (size_t)ct->H * (size_t)ct->W, buf, 1, ct->H, ct->W);
        }
    }
    free(buf);
    free(top);
    ct_archive_meta_free(&m);
    h5_close(&af);
    if (rc) {
        cv_ct_free(ct);
        return rc;
    }
    ct->hash = hash;
    LOG_INFO("cv: patient CNN inputs %d x %d x %d for %d of %d patients (the others have no CT)", SC_TOPK, ct->H, ct->W,
             ct->nct, npatients);
    return H19_OK;
}

int cv_inputs_load(h19_job *job, int with_ct, cf_archive *a, cv_ct *ct)
{
    memset(ct, 0, sizeof *ct);
    h5_file f;
    int rc = h5_open(&f, job->archive, MPI_COMM_SELF, H19_ARCHIVE_KIND, H19_ARCHIVE_VERSION);
    if (rc == H19_EIO) rc = h19_fail(H19_ESTATE, "%s: no archive: run 'hust19 ingest %s' first", job->archive, job->file);
    int have_a = 0;
    if (!rc) {
        rc = cf_archive_read(&f, a);
        have_a = !rc;
        h5_close(&f);
    }
    rc = dist_agree(rc);
    if (!rc && with_ct) rc = dist_agree(cv_ct_load(job, a->d.n, ct));
    if (rc) {
        cv_ct_free(ct); /* safe on a zeroed or failed load */
        if (have_a) cf_archive_free(a);
    }
    return rc;
}
