/* synth_maps.c — per-slice label evidence of one synthetic patient, for analysing the slice CNN's
 * errors (docs/training.md). Renders the patient exactly as `hust19 synth` does (default phantom
 * parameters; the demo jobs change only the image size), windows each slice as ingest does
 * (dcm_window_u8, -600/1500) and runs ct_preprocess with mask_out. Writes OUT.bin:
 *   raise f32 [n,S,S] (HU added by the COVID opacities), lung u8 [n,S,S] (phantom lung 0/1/2),
 *   mask u8 [n,S,S] (the preprocessing mask, 0/255), pre u8 [n,200,200] (the preprocessed slice)
 * and prints one CSV row per slice: k,label,lung_mm2,lesion_mm2,lesion_in_mask_mm2,... plus a
 * header comment with the patient's dependent band and lesions.
 *   synth_maps SEED SIZE PATIENT_ID CLASS NSLICES OUT      (CLASS: control|cap|type1|type2|critical;
 *   critical = type2 with the "Critically ill" lesions)
 * Build: cmake --build BUILD --target synth_maps (not built by default, not part of CTest). */
#include "hust19/ct.h"
#include "hust19/dicom.h"
#include "hust19/err.h"
#include "hust19/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: synth_maps SEED SIZE PATIENT_ID CLASS NSLICES OUT\n");
        return 2;
    }
    ct_synth_params prm;
    ct_synth_params_default(&prm);
    uint64_t seed = strtoull(argv[1], NULL, 10);
    prm.size = atoi(argv[2]);
    int critical = !strcmp(argv[4], "critical");
    int id = atoi(argv[3]), cls = critical ? CT_SYNTH_TYPE2 : ct_synth_class_parse(argv[4]), n = atoi(argv[5]);
    ct_synth_patient *p;
    if (ct_synth_patient_make(&prm, seed, (uint32_t)id, cls, critical, n, &p)) {
        fprintf(stderr, "%s\n", h19_errmsg());
        return 1;
    }
    int S = prm.size;
    size_t np = (size_t)S * S;
    int16_t *hu = malloc(np * sizeof *hu);
    float *fhu = malloc(np * sizeof *fhu), *raise = malloc(np * sizeof *raise);
    uint8_t *lung = malloc(np), *u8 = malloc(np), *mask = malloc(np), pre[CT_OUT * CT_OUT];
    ct_prep *ctx;
    if (!hu || !fhu || !raise || !lung || !u8 || !mask || ct_prep_create(&ctx, S, S)) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s.bin", argv[6]);
    FILE *fr = fopen(path, "wb");
    if (!fr) return 1;
    double px = ct_synth_pixel_spacing(p), a = px * px;
    printf("# patient %d class %s dependent_mm %.2f px_mm %.4f nlesions %d\n", id, argv[4],
           ct_synth_dependent_mm(p), px, ct_synth_nlesions(p));
    for (int i = 0; i < ct_synth_nlesions(p); i++) {
        double c[3], r[3], lh[2], core, pav;
        ct_synth_lesion_get(p, i, c, r, lh, &core, &pav);
        printf("# lesion %d c %.1f %.1f %.1f r %.1f %.1f %.1f hu %.0f core %.2f core_hu %.0f paving %.0f\n", i, c[0],
               c[1], c[2], r[0], r[1], r[2], lh[0], core, lh[1], pav);
    }
    printf("k,label,z,lung_mm2,lesion_mm2,lesion_in_mask_mm2,lesion_out_mask_mm2,faint_mm2,lung_out_mask_mm2,"
           "mean_raise_lesion,max_raise,lesion_cy_mm\n");
    float *ras = malloc((size_t)n * np * sizeof *ras);
    uint8_t *lu = malloc((size_t)n * np), *ma = malloc((size_t)n * np), *pr = malloc((size_t)n * CT_OUT * CT_OUT);
    if (!ras || !lu || !ma || !pr) return 1;
    for (int k = 0; k < n; k++) {
        ct_synth_slice_info info;
        if (ct_synth_render_maps(p, k, hu, &info, raise, lung)) {
            fprintf(stderr, "%s\n", h19_errmsg());
            return 1;
        }
        for (size_t o = 0; o < np; o++) fhu[o] = hu[o];
        dcm_window_u8(fhu, (int)np, -600, 1500, u8);
        if (ct_preprocess(ctx, u8, S, S, pre, mask)) return 1;
        long les = 0, in = 0, faint = 0, lout = 0;
        double sr = 0, mx = 0, sy = 0;
        for (size_t o = 0; o < np; o++) {
            if (!lung[o]) continue;
            if (!mask[o]) lout++;
            if (raise[o] >= prm.faint_hu) faint++;
            if (raise[o] > mx) mx = raise[o];
            if (raise[o] >= prm.lesion_hu) {
                les++;
                in += mask[o] != 0;
                sr += raise[o];
                sy += (double)(o / (size_t)S);
            }
        }
        printf("%d,%s,%.2f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n", k, ct_synth_label_name(info.label), info.z,
               info.lung_mm2, les * a, in * a, (les - in) * a, faint * a, lout * a, les ? sr / les : 0, mx,
               les ? (sy / les - S * 0.5) * px : 0);
        memcpy(ras + (size_t)k * np, raise, np * sizeof *raise);
        memcpy(lu + (size_t)k * np, lung, np);
        memcpy(ma + (size_t)k * np, mask, np);
        memcpy(pr + (size_t)k * CT_OUT * CT_OUT, pre, CT_OUT * CT_OUT);
    }
    fwrite(ras, sizeof *ras, (size_t)n * np, fr);
    fwrite(lu, 1, (size_t)n * np, fr);
    fwrite(ma, 1, (size_t)n * np, fr);
    fwrite(pr, 1, (size_t)n * CT_OUT * CT_OUT, fr);
    fclose(fr);
    ct_prep_free(ctx);
    ct_synth_patient_free(p);
    free(hu), free(fhu), free(raise), free(lung), free(u8), free(mask), free(ras), free(lu), free(ma), free(pr);
    return 0;
}
