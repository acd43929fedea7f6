/* train_slice_internal.h — helpers shared by train_slice.c and infer_slice.c (not a public API). */
#ifndef HUST19_TRAIN_SLICE_INTERNAL_H
#define HUST19_TRAIN_SLICE_INTERNAL_H

#include "hust19/h5io.h"
#include "hust19/ingest.h"
#include "hust19/stage_cnn.h"

/* Open the job's archive on this rank alone and read its /ct metadata (no slices: H19_ESTATE). */
int sc_meta_open(h19_job *job, h5_file *f, ct_archive_meta *m);
/* Slices idx[0..n) (ascending) -> normalised floats [n][H*W] (input: SC_INPUT_U8 or SC_INPUT_LUNG). */
int sc_load_slices(h5_file *f, const int64_t *idx, int64_t n, int H, int W, int input, float *X);
void sc_append_mirrors(float *X, int *y, int n, int H, int W);
/* nn_predict of n slices X [n][H*W] into prob [n][SC_NCLASS]; with flip, the mean of the slices'
 * and their left-right mirrors' probabilities (test-time augmentation matching `flip` training). */
int sc_predict(nn_net *net, const float *X, int n, int H, int W, bool flip, float *prob, MPI_Comm comm);
/* The trained parameters of o->model_out into net (same architecture, same model text). */
int sc_model_read(const sc_opts *o, nn_net *net);
uint64_t sc_params_hash(const nn_net *net);
double sc_cpu_seconds(void);
double sc_wall_seconds(void);

#endif
