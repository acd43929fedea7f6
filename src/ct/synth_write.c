/* synth_write.c — one patient's DICOM series and done marker; slice_labels.csv.
 *
 * A patient's series is complete when its done marker <out>/.synth/done/P<id>.csv exists: it is
 * written last (atomically), after every slice, and holds the per-slice ground truth, so a re-run
 * skips the patient and slice_labels.csv is assembled from the markers without re-rendering. The
 * markers live outside dicom/ so that a walk of the DICOM tree sees only DICOM files. */
#include "hust19/dicom.h"
#include "hust19/err.h"
#include "hust19/job.h"
#include "hust19/nn.h"
#include "hust19/rng.h"
#include "hust19/synth.h"
#include "synth_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sub-stream of H19_RNG_SYNTH for the fake PHI (synth.c uses 1..4, synth_cohort.c 5..7). */
enum { ST_PHI = 8 };

/* Slices [k0, k0 + n) of a patient, one per part of nn_par (ct_synth_render is thread-safe on a const
 * patient and keyed by (seed, patient, slice), so the bytes do not depend on the thread count):
 * slice k0 + i into hu + i * npx, its ground truth into info[i]. */
typedef struct {
    const ct_synth_patient *p;
    int k0;
    size_t npx;
    int16_t *hu;
    ct_synth_slice_info *info;
    int rc[64];
} render_job;

static void render_part(void *ctx, long lo, long hi, int part)
{
    render_job *j = ctx;
    j->rc[part] = H19_OK;
    for (long i = lo; i < hi && !j->rc[part]; i++)
        j->rc[part] = ct_synth_render(j->p, j->k0 + (int)i, j->hu + (size_t)i * j->npx, &j->info[i]);
}

/* "2.25.<39 decimal digits>": a UUID-derived UID (PS3.5 B.2) from two hashes of (seed, patient,
 * what, slice); the leading 1 keeps it below 2^128 and without a leading zero. */
static void make_uid(char *out, size_t cap, uint64_t seed, int id, int what, int slice)
{
    uint64_t k = h19_mix64(seed ^ 0x5D1C0FFEEull);
    uint64_t a = h19_mix64(k ^ h19_mix64(((uint64_t)(uint32_t)id << 32) | (uint32_t)what));
    uint64_t b = h19_mix64(a ^ h19_mix64((uint64_t)(uint32_t)slice + 0x9E3779B97F4A7C15ull));
    snprintf(out, cap, "2.25.1%019llu%019llu", (unsigned long long)(a % 10000000000000000000ull),
             (unsigned long long)(b % 10000000000000000000ull));
}

static void done_path(const ct_synth_job *job, const ct_synth_entry *e, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/.synth/done/P%04d.csv", job->out, e->id);
}

/* Fake but plausible PHI, all derived from the seed and the patient, so de-identification can be
 * tested on it: name, id (also in OtherPatientIDsSequence), birth date, study date and time,
 * institution, referring physician, accession number, and a private tag holding the name. */
static void fill_meta(const ct_synth_job *job, const ct_synth_entry *e, const ct_synth_patient *p,
                      dcm_ct_meta *m)
{
    dcm_meta_init(m);
    h19_rng r;
    h19_rng_init(&r, job->seed, H19_RNG_SYNTH, ST_PHI, (uint32_t)e->id, 0, 0);
    int day = (int)h19_rng_below(&r, 60); /* study between 2020-01-20 and 2020-03-19 */
    static const int mdays[] = {31, 29, 31};
    int mon = 0, d = 19 + day;
    while (d >= mdays[mon]) d -= mdays[mon], mon++;
    snprintf(m->patient_name, sizeof m->patient_name, "SYNTH^PATIENT%04d", e->id);
    snprintf(m->patient_id, sizeof m->patient_id, "P%04d", e->id);
    snprintf(m->other_patient_id, sizeof m->other_patient_id, "%s%08u", e->hospital ? "LH" : "UH",
             (unsigned)(h19_rng_u32(&r) % 100000000u));
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04d%02d%02d", 2020 - e->age, 1 + (int)h19_rng_below(&r, 12),
             1 + (int)h19_rng_below(&r, 28));
    memcpy(m->birth_date, tmp, 9);
    snprintf(m->sex, sizeof m->sex, "%s", e->male ? "M" : "F");
    snprintf(tmp, sizeof tmp, "2020%02d%02d", mon + 1, d + 1);
    memcpy(m->study_date, tmp, 9);
    snprintf(tmp, sizeof tmp, "%02d%02d%02d", 8 + (int)h19_rng_below(&r, 10), (int)h19_rng_below(&r, 60),
             (int)h19_rng_below(&r, 60));
    memcpy(m->study_time, tmp, 7);
    snprintf(m->institution, sizeof m->institution, "%s", e->hospital ? "HUST-LH" : "HUST-UH");
    snprintf(m->referring_physician, sizeof m->referring_physician, "DOCTOR^SYNTH%02u", (unsigned)h19_rng_below(&r, 40));
    snprintf(m->accession, sizeof m->accession, "A%010u", (unsigned)(h19_rng_u32(&r) % 1000000000u));
    make_uid(m->study_uid, sizeof m->study_uid, job->seed, e->id, 1, 0);
    make_uid(m->series_uid, sizeof m->series_uid, job->seed, e->id, 2, 0);
    make_uid(m->frame_of_ref_uid, sizeof m->frame_of_ref_uid, job->seed, e->id, 3, 0);
    int S = job->prm.size;
    double px = ct_synth_pixel_spacing(p);
    m->rows = m->cols = S;
    m->pixel_spacing[0] = m->pixel_spacing[1] = px;
    m->slice_thickness = ct_synth_slice_spacing(p);
    /* ImagePositionPatient is the centre of the first pixel; rows run +x (patient left), columns +y */
    m->position[0] = (0.5 - 0.5 * S) * px;
    m->position[1] = (0.5 - 0.5 * S) * px;
    m->rescale_slope = 1;
    m->rescale_intercept = -1024;
    m->window_center = -600;
    m->window_width = 1500;
}

int ct_synth_write_patient(const ct_synth_job *job, const ct_synth_entry *e, int *skipped, long *nwritten)
{
    *skipped = 0;
    *nwritten = 0;
    if (!e->has_ct) {
        *skipped = 1;
        return H19_OK;
    }
    char done[4096], dir[4096], rel[64];
    done_path(job, e, done, sizeof done);
    if (!job->force && !job->dry_run && h19_file_exists(done)) {
        *skipped = 1;
        return H19_OK;
    }
    ct_synth_series_rel(e, rel, sizeof rel);
    snprintf(dir, sizeof dir, "%s/%s", job->out, rel);
    if (!job->dry_run) H19_TRY(ct_synth_mkdirs(dir));
    ct_synth_patient *p;
    H19_TRY(ct_synth_patient_make(&job->prm, job->seed, (uint32_t)e->id, e->cls, ct_synth_is_critical(e), e->nslices, &p));
    size_t npx = (size_t)job->prm.size * job->prm.size;
    /* the rank's cores render a block of slices at a time (one per thread), then one thread writes
     * them in order: the DICOM files and the marker are as from one thread */
    int nt = nn_threads() < 64 ? nn_threads() : 64;
    int16_t *hus = h19_malloc(sizeof *hus * npx * (size_t)nt);
    ct_synth_slice_info *infos = h19_calloc((size_t)nt, sizeof *infos);
    int16_t *hu = hus;
    sbuf b = {0};
    int rc = hus && infos ? H19_OK : H19_ENOMEM;
    dcm_ct_meta m;
    fill_meta(job, e, p, &m);
    /* a private block (PS3.5 7.8) carrying the patient's name: de-identification must drop it */
    char priv_name[80];
    snprintf(priv_name, sizeof priv_name, "%s", m.patient_name);
    dcm_elem extra[2] = {
        {.tag = 0x00090010u, .vr = "LO", .value = "HUST19 SYNTH"},
        {.tag = 0x00091001u, .vr = "LO", .value = priv_name},
    };
    sb_printf(&b, "file,label,lung_mm2,lesion_mm2,cap_px\n");
    render_job rj = {.p = p, .npx = npx, .hu = hus, .info = infos};
    for (int k = 0; !rc && k < e->nslices; k++) {
        if (k % nt == 0) { /* the next block: a slice per thread */
            int n = e->nslices - k < nt ? e->nslices - k : nt;
            rj.k0 = k;
            nn_par(n, n, render_part, &rj);
            for (int t = 0; t < n && !rc; t++) rc = rj.rc[t];
            if (rc) break;
        }
        hu = hus + (size_t)(k % nt) * npx;
        ct_synth_slice_info info = infos[k % nt];
        for (size_t i = 0; i < npx; i++) hu[i] = (int16_t)(hu[i] + 1024); /* stored = HU + 1024 */
        m.instance_number = k + 1;
        m.position[2] = ct_synth_slice_z(p, k);
        make_uid(m.sop_uid, sizeof m.sop_uid, job->seed, e->id, 4, k);
        char path[4200];
        snprintf(path, sizeof path, "%s/IM%04d.dcm", dir, k + 1);
        if (!job->dry_run) rc = dcm_write_ct_ex(path, &m, hu, extra, 2);
        sb_printf(&b, "IM%04d.dcm,%s,%.1f,%.1f,%ld\n", k + 1, ct_synth_label_name(info.label), info.lung_mm2,
                  info.lesion_mm2, info.cap_px);
        if (!rc) ++*nwritten;
    }
    if (!rc && b.oom) rc = h19_fail(H19_ENOMEM, "%s: out of memory", done);
    if (!rc && !job->dry_run) {
        char ddir[4096];
        snprintf(ddir, sizeof ddir, "%s/.synth/done", job->out);
        rc = ct_synth_mkdirs(ddir);
    }
    if (!rc && !job->dry_run) rc = ct_synth_atomic_write(done, b.s, b.n);
    if (rc) h19_fail_ctx(rc, "synth patient %d", e->id);
    sb_free(&b);
    free(hus);
    free(infos);
    ct_synth_patient_free(p);
    return rc;
}

int ct_synth_write_labels(const ct_synth_job *job, const ct_synth_entry *e, int n)
{
    sbuf b = {0};
    sb_printf(&b, "patient_id,series,instance,file,label\n");
    int rc = H19_OK;
    for (int i = 0; !rc && i < n; i++) {
        if (!e[i].labelled) continue;
        char done[4096], rel[64];
        done_path(job, &e[i], done, sizeof done);
        ct_synth_series_rel(&e[i], rel, sizeof rel);
        char *text = NULL;
        size_t len = 0;
        if (!h19_file_exists(done)) {
            rc = h19_fail(H19_ESTATE, "%s: missing: patient %d's series is not complete; rerun hust19 synth", done,
                          e[i].id);
            break;
        }
        rc = h19_read_file(done, &text, &len);
        if (rc) break;
        /* skip the header; each line "IMkkkk.dcm,label,..." */
        char *line = strchr(text, '\n');
        int k = 0;
        while (line && *++line) {
            char *nl = strchr(line, '\n');
            char *c1 = strchr(line, ',');
            char *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
            if (!nl || !c1 || !c2 || c1 - line != 10) {
                rc = h19_fail(H19_EFORMAT, "%s: line %d is malformed", done, k + 2);
                break;
            }
            k++;
            /* a slice too faint or small to call is left out, as a reader leaves it unlabelled */
            const char *un = ct_synth_label_name(CT_SYNTH_UNSURE);
            if (!((size_t)(c2 - c1 - 1) == strlen(un) && !strncmp(c1 + 1, un, strlen(un))))
                sb_printf(&b, "%d,%s,%d,%s/%.*s,%.*s\n", e[i].id, rel, k, rel, (int)(c1 - line), line,
                          (int)(c2 - c1 - 1), c1 + 1);
            line = nl;
        }
        if (!rc && k != e[i].nslices)
            rc = h19_fail(H19_EFORMAT, "%s: %d slices listed, the manifest says %d", done, k, e[i].nslices);
        free(text);
    }
    if (!rc && b.oom) rc = h19_fail(H19_ENOMEM, "slice_labels.csv: out of memory");
    if (!rc) {
        char path[4096];
        snprintf(path, sizeof path, "%s/slice_labels.csv", job->out);
        rc = ct_synth_atomic_write(path, b.s ? b.s : "", b.n);
    }
    sb_free(&b);
    return rc;
}
