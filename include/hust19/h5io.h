/* h5io.h — the project's HDF5 files over parallel HDF5 (MPI-IO), versioned and written atomically.
 *
 * Every file carries root attributes `hust19_format` (the kind: "hust19-archive", "hust19-results",
 * ...) and `hust19_version` (an integer schema version, see docs/archive.md); h5_open() refuses a
 * file of another kind or version with a hint ("rerun ingest").
 *
 * Writing is collective: every rank of comm calls each h5_write_* with the global shape and its own
 * block of rows [first, first + nlocal); a rank with nothing to write passes nlocal = 0 and still
 * joins. Offsets usually come from h5_exscan_rows(). A new file is created as PATH.tmp and becomes
 * PATH only in h5_commit(), so a job that dies leaves no half-written PATH.
 *
 * Reading (h5_read_*) is independent: each caller reads the whole dataset into a malloc'd buffer that
 * the caller frees.
 */
#ifndef HUST19_H5IO_H
#define HUST19_H5IO_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

typedef struct {
    hid_t fid;
    MPI_Comm comm;
    char *path;     /* final path */
    char *tmp_path; /* path being written (NULL when opened read-only) */
    char *kind;
    int version;
} h5_file;

/* Create PATH.tmp (truncating) collectively and stamp kind/version. */
int h5_create(h5_file *f, const char *path, MPI_Comm comm, const char *kind, int version);
/* Close and atomically rename PATH.tmp -> PATH (rank 0), then barrier. Collective. */
int h5_commit(h5_file *f);
/* Close without committing: removes PATH.tmp. Collective. */
void h5_abort(h5_file *f);
/* Open an existing file read-only (comm may be MPI_COMM_SELF for one rank). Checks kind/version. */
int h5_open(h5_file *f, const char *path, MPI_Comm comm, const char *kind, int version);
void h5_close(h5_file *f);

/* Exclusive scan: first row of this rank given its count; *total = sum over ranks. Collective. */
int h5_exscan_rows(MPI_Comm comm, int64_t nlocal, int64_t *first, int64_t *total);

/* Create groups along a path ("cv/morbidity") if missing. */
int h5_ensure_group(h5_file *f, const char *path);

/* Collective write of a dataset of `ndims` dims (dims[0] split in blocks of rows). memtype is an
 * HDF5 native type (H5T_NATIVE_DOUBLE, ...). Chunked and deflate-compressed when compress=1. */
int h5_write(h5_file *f, const char *name, hid_t memtype, int ndims, const int64_t *dims,
             int64_t first, int64_t nlocal, const void *data, int compress);
/* 1-D conveniences. */
int h5_write_f64_1d(h5_file *f, const char *name, int64_t n, int64_t first, int64_t nlocal, const double *x);
int h5_write_i32_1d(h5_file *f, const char *name, int64_t n, int64_t first, int64_t nlocal, const int32_t *x);
/* Fixed-length strings (width = longest over all ranks). */
int h5_write_strings(h5_file *f, const char *name, int64_t n, int64_t first, int64_t nlocal,
                     const char *const *s);
/* Attributes on the root or on a dataset/group path ("" = root). */
int h5_attr_str(h5_file *f, const char *obj, const char *name, const char *value);
int h5_attr_f64(h5_file *f, const char *obj, const char *name, double value);
int h5_attr_i64(h5_file *f, const char *obj, const char *name, int64_t value);

int h5_exists(h5_file *f, const char *name);
/* Read a whole dataset; *data malloc'd; dims (up to 4) returned. memtype as above. */
int h5_read(h5_file *f, const char *name, hid_t memtype, int *ndims, int64_t dims[4], void **data);
/* Read a string dataset: *s is an array of n malloc'd strings in one block (free(*s) frees all). */
int h5_read_strings(h5_file *f, const char *name, int64_t *n, char ***s);
int h5_read_attr_str(h5_file *f, const char *obj, const char *name, char **value);
int h5_read_attr_i64(h5_file *f, const char *obj, const char *name, int64_t *value);

#endif
