/* bench_dcm.c — throughput of dcm_write_ct / dcm_read_ct / dcm_deid_file on 512 x 512 slices
 * (not run by CTest). Usage: bench_dcm DIR [N]. Prints slices/s for each. Build against a built tree:
 *   gcc -O2 -Iinclude -c tests/bench/bench_dcm.c -o /tmp/bench_dcm.o && g++ -o /tmp/bench_dcm /tmp/bench_dcm.o \
 *     build/libhust19core.a -lofstd -loflog -ldcmdata -ldcmimgle -ldcmimage -ldcmjpeg -lijg8 -lijg12 -lijg16 \
 *     -ldcmjpls -ldcmtkcharls -lm
 * Writes include an fsync per file (atomic outputs), which dominates on most disks. */
#include "hust19/dicom.h"
#include "hust19/err.h"
#include "hust19/log.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_dcm DIR [N]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 50;
    enum { R = 512, C = 512 };
    int16_t *px = malloc(sizeof(int16_t) * R * C);
    if (!px) return 1;
    for (int i = 0; i < R * C; i++) px[i] = (int16_t)((i * 7) % 3000);
    dcm_ct_meta m;
    dcm_meta_init(&m);
    m.rows = R;
    m.cols = C;
    snprintf(m.study_uid, sizeof m.study_uid, "1.2.3.4");
    snprintf(m.series_uid, sizeof m.series_uid, "1.2.3.4.5");
    snprintf(m.frame_of_ref_uid, sizeof m.frame_of_ref_uid, "1.2.3.4.6");
    char path[1024], out[1024];
    double t0 = h19_now();
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/s%04d.dcm", argv[1], i);
        m.instance_number = i + 1;
        m.position[2] = i * 1.25;
        m.sop_uid[0] = 0;
        if (dcm_write_ct(path, &m, px)) { fprintf(stderr, "%s\n", h19_errmsg()); return 1; }
    }
    double t1 = h19_now();
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/s%04d.dcm", argv[1], i);
        float *hu;
        dcm_ct_meta r;
        if (dcm_read_ct(path, &r, &hu)) { fprintf(stderr, "%s\n", h19_errmsg()); return 1; }
        free(hu);
    }
    double t2 = h19_now();
    dcm_deid_opts o = {.secret = "bench"};
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/s%04d.dcm", argv[1], i);
        snprintf(out, sizeof out, "%s/d%04d.dcm", argv[1], i);
        if (dcm_deid_file(path, out, &o)) { fprintf(stderr, "%s\n", h19_errmsg()); return 1; }
    }
    double t3 = h19_now();
    printf("512x512 slices, n = %d: write %.1f/s, read+decode %.1f/s, de-identify %.1f/s\n", n, n / (t1 - t0),
           n / (t2 - t1), n / (t3 - t2));
    free(px);
    return 0;
}
