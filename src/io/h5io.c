/* h5io.c — see include/hust19/h5io.h. */
#include "hust19/h5io.h"
#include "hust19/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *cat2(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = h19_malloc(na + nb + 1);
    if (!p) return NULL;
    memcpy(p, a, na);
    memcpy(p + na, b, nb + 1);
    return p;
}

static void silence_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static hid_t fapl_for(MPI_Comm comm)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    int size = 1;
    MPI_Comm_size(comm, &size);
    if (size > 1 || comm != MPI_COMM_SELF) H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    return fapl;
}

int h5_create(h5_file *f, const char *path, MPI_Comm comm, const char *kind, int version)
{
    silence_hdf5();
    memset(f, 0, sizeof *f);
    f->fid = -1;
    f->comm = comm;
    f->path = h19_strdup(path);
    f->tmp_path = cat2(path, ".tmp");
    f->kind = h19_strdup(kind);
    f->version = version;
    if (!f->path || !f->tmp_path || !f->kind) return H19_ENOMEM;
    hid_t fapl = fapl_for(comm);
    f->fid = H5Fcreate(f->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f->fid < 0) return h19_fail(H19_EIO, "%s: cannot create HDF5 file", f->tmp_path);
    H19_TRY(h5_attr_str(f, "", "hust19_format", kind));
    H19_TRY(h5_attr_i64(f, "", "hust19_version", version));
    return H19_OK;
}

static void h5_file_free(h5_file *f)
{
    free(f->path);
    free(f->tmp_path);
    free(f->kind);
    f->path = f->tmp_path = f->kind = NULL;
}

int h5_commit(h5_file *f)
{
    int rank = 0, rc = H19_OK;
    MPI_Comm_rank(f->comm, &rank);
    if (f->fid >= 0 && H5Fclose(f->fid) < 0) rc = h19_fail(H19_EIO, "%s: closing failed", f->tmp_path);
    f->fid = -1;
    MPI_Barrier(f->comm);
    if (rank == 0 && !rc) {
        int fd = open(f->tmp_path, O_RDONLY);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        if (rename(f->tmp_path, f->path))
            rc = h19_fail(H19_EIO, "%s: cannot rename to %s: %s", f->tmp_path, f->path, strerror(errno));
    }
    int any = rc;
    MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, f->comm);
    if (any && !rc) rc = h19_fail(H19_EIO, "%s: commit failed on rank 0", f->path);
    h5_file_free(f);
    return rc;
}

void h5_abort(h5_file *f)
{
    int rank = 0;
    MPI_Comm_rank(f->comm, &rank);
    if (f->fid >= 0) H5Fclose(f->fid);
    f->fid = -1;
    MPI_Barrier(f->comm);
    if (rank == 0 && f->tmp_path) unlink(f->tmp_path);
    h5_file_free(f);
}

int h5_open(h5_file *f, const char *path, MPI_Comm comm, const char *kind, int version)
{
    silence_hdf5();
    memset(f, 0, sizeof *f);
    f->fid = -1;
    f->comm = comm;
    if (access(path, R_OK))
        return h19_fail(H19_EIO, "%s: cannot open: %s", path, strerror(errno));
    hid_t fapl = fapl_for(comm);
    f->fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f->fid < 0) return h19_fail(H19_EFORMAT, "%s: not an HDF5 file (or damaged)", path);
    f->path = h19_strdup(path);
    char *k = NULL;
    int64_t v = -1;
    if (h5_read_attr_str(f, "", "hust19_format", &k) || h5_read_attr_i64(f, "", "hust19_version", &v)) {
        free(k);
        h5_close(f);
        return h19_fail(H19_EFORMAT, "%s: not a hust19 file (no hust19_format/hust19_version attributes)",
                        path);
    }
    if (strcmp(k, kind) != 0) {
        int rc = h19_fail(H19_EFORMAT, "%s: is a '%s' file, expected '%s'", path, k, kind);
        free(k);
        h5_close(f);
        return rc;
    }
    f->kind = k;
    f->version = (int)v;
    if (v != version) {
        int rc = h19_fail(H19_EFORMAT, "%s: %s version %lld, this build reads version %d: rerun the "
                                       "stage that writes it (e.g. 'hust19 ingest') with this build",
                          path, kind, (long long)v, version);
        h5_close(f);
        return rc;
    }
    return H19_OK;
}

void h5_close(h5_file *f)
{
    if (f->fid >= 0) H5Fclose(f->fid);
    f->fid = -1;
    h5_file_free(f);
}

int h5_exscan_rows(MPI_Comm comm, int64_t nlocal, int64_t *first, int64_t *total)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    int64_t ex = 0;
    if (MPI_Exscan(&nlocal, &ex, 1, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
        return h19_fail(H19_EMPI, "MPI_Exscan failed");
    if (rank == 0) ex = 0; /* Exscan leaves rank 0's result undefined */
    *first = ex;
    if (MPI_Allreduce(&nlocal, total, 1, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
        return h19_fail(H19_EMPI, "MPI_Allreduce failed");
    return H19_OK;
}

int h5_ensure_group(h5_file *f, const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (*buf && H5Lexists(f->fid, buf, H5P_DEFAULT) <= 0) {
                hid_t g = H5Gcreate2(f->fid, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
                if (g < 0) return h19_fail(H19_EIO, "%s: cannot create group %s", f->path, buf);
                H5Gclose(g);
            }
            *p = c;
            if (!c) break;
        }
    }
    return H19_OK;
}

static int parent_groups(h5_file *f, const char *name)
{
    const char *slash = strrchr(name, '/');
    if (!slash || slash == name) return H19_OK;
    char buf[512];
    size_t n = (size_t)(slash - name);
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, name, n);
    buf[n] = 0;
    return h5_ensure_group(f, buf);
}

int h5_write(h5_file *f, const char *name, hid_t memtype, int ndims, const int64_t *dims,
             int64_t first, int64_t nlocal, const void *data, int compress)
{
    H19_TRY(parent_groups(f, name));
    hsize_t d[8] = {0}, c[8] = {0}, start[8] = {0}, count[8] = {0};
    hsize_t rowsize = 1;
    if (ndims < 1 || ndims > 8) return h19_fail(H19_EARG, "h5_write %s: %d dims", name, ndims);
    for (int i = 0; i < ndims; i++) {
        d[i] = (hsize_t)dims[i];
        if (i) rowsize *= d[i];
    }
    hid_t space = H5Screate_simple(ndims, d, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int total = 1;
    for (int i = 0; i < ndims; i++) total &= d[i] > 0;
    if (compress && total) {
        /* chunk: whole rows, about 1 MiB, independent of the rank count */
        size_t esz = H5Tget_size(memtype);
        hsize_t rows = (hsize_t)(1u << 20) / (rowsize * esz + 1) + 1;
        if (rows > d[0]) rows = d[0];
        c[0] = rows;
        for (int i = 1; i < ndims; i++) c[i] = d[i];
        H5Pset_chunk(dcpl, ndims, c);
        H5Pset_deflate(dcpl, 4);
    }
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t ds = H5Dcreate2(f->fid, name, memtype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    if (ds < 0) {
        H5Sclose(space);
        return h19_fail(H19_EIO, "%s: cannot create dataset %s", f->path, name);
    }
    for (int i = 0; i < ndims; i++) {
        start[i] = 0;
        count[i] = d[i];
    }
    start[0] = (hsize_t)first;
    count[0] = (hsize_t)nlocal;
    hid_t mspace;
    if (nlocal > 0) {
        H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
        mspace = H5Screate_simple(ndims, count, NULL);
    } else {
        H5Sselect_none(space);
        hsize_t one = 1;
        mspace = H5Screate_simple(1, &one, NULL);
        H5Sselect_none(mspace);
    }
    hid_t xfer = H5Pcreate(H5P_DATASET_XFER);
    int size = 1;
    MPI_Comm_size(f->comm, &size);
    if (size > 1 || f->comm != MPI_COMM_SELF) H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE);
    static const char zero[16] = {0};
    herr_t st = H5Dwrite(ds, memtype, mspace, space, xfer, nlocal > 0 ? data : (const void *)zero);
    H5Pclose(xfer);
    H5Sclose(mspace);
    H5Sclose(space);
    H5Dclose(ds);
    if (st < 0) return h19_fail(H19_EIO, "%s: writing dataset %s failed", f->path, name);
    return H19_OK;
}

int h5_write_f64_1d(h5_file *f, const char *name, int64_t n, int64_t first, int64_t nlocal, const double *x)
{
    return h5_write(f, name, H5T_NATIVE_DOUBLE, 1, &n, first, nlocal, x, 0);
}

int h5_write_i32_1d(h5_file *f, const char *name, int64_t n, int64_t first, int64_t nlocal, const int32_t *x)
{
    return h5_write(f, name, H5T_NATIVE_INT32, 1, &n, first, nlocal, x, 0);
}

int h5_write_strings(h5_file *f, const char *name, int64_t n, int64_t first, int64_t nlocal,
                     const char *const *s)
{
    int64_t w = 1;
    for (int64_t i = 0; i < nlocal; i++) {
        int64_t l = (int64_t)strlen(s[i]);
        if (l > w) w = l;
    }
    int64_t wmax = w;
    MPI_Allreduce(&w, &wmax, 1, MPI_INT64_T, MPI_MAX, f->comm);
    char *buf = h19_calloc((size_t)(nlocal ? nlocal : 1), (size_t)wmax);
    if (!buf) return H19_ENOMEM;
    for (int64_t i = 0; i < nlocal; i++) memcpy(buf + i * wmax, s[i], strlen(s[i]));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, (size_t)wmax);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = h5_write(f, name, t, 1, &n, first, nlocal, buf, 0);
    H5Tclose(t);
    free(buf);
    return rc;
}

static hid_t open_obj(h5_file *f, const char *obj)
{
    if (!obj || !*obj) return H5Oopen(f->fid, "/", H5P_DEFAULT);
    return H5Oopen(f->fid, obj, H5P_DEFAULT);
}

static int write_attr(h5_file *f, const char *obj, const char *name, hid_t type, const void *v)
{
    hid_t o = open_obj(f, obj);
    if (o < 0) return h19_fail(H19_EIO, "%s: no object '%s' for attribute %s", f->path, obj, name);
    if (H5Aexists(o, name) > 0) H5Adelete(o, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = a >= 0 ? H5Awrite(a, type, v) : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Oclose(o);
    if (st < 0) return h19_fail(H19_EIO, "%s: cannot write attribute %s", f->path, name);
    return H19_OK;
}

int h5_attr_str(h5_file *f, const char *obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = write_attr(f, obj, name, t, value);
    H5Tclose(t);
    return rc;
}

int h5_attr_f64(h5_file *f, const char *obj, const char *name, double value)
{
    return write_attr(f, obj, name, H5T_NATIVE_DOUBLE, &value);
}

int h5_attr_i64(h5_file *f, const char *obj, const char *name, int64_t value)
{
    return write_attr(f, obj, name, H5T_NATIVE_INT64, &value);
}

int h5_exists(h5_file *f, const char *name)
{
    /* check each path component so missing parents are not an error */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", name);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (H5Lexists(f->fid, buf, H5P_DEFAULT) <= 0) return 0;
            *p = c;
            if (!c) break;
        }
    }
    return 1;
}

int h5_read(h5_file *f, const char *name, hid_t memtype, int *ndims, int64_t dims[4], void **data)
{
    *data = NULL;
    if (!h5_exists(f, name))
        return h19_fail(H19_EFORMAT, "%s: dataset '%s' is missing", f->path, name);
    hid_t ds = H5Dopen2(f->fid, name, H5P_DEFAULT);
    if (ds < 0) return h19_fail(H19_EFORMAT, "%s: cannot open dataset '%s'", f->path, name);
    hid_t sp = H5Dget_space(ds);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t d[8] = {0};
    if (nd < 0 || nd > 4) {
        H5Sclose(sp);
        H5Dclose(ds);
        return h19_fail(H19_EFORMAT, "%s: dataset '%s' has %d dimensions", f->path, name, nd);
    }
    H5Sget_simple_extent_dims(sp, d, NULL);
    size_t total = 1;
    for (int i = 0; i < nd; i++) {
        dims[i] = (int64_t)d[i];
        total *= d[i];
    }
    *ndims = nd;
    size_t esz = H5Tget_size(memtype);
    void *buf = h19_malloc(total * esz + 1);
    if (!buf) {
        H5Sclose(sp);
        H5Dclose(ds);
        return H19_ENOMEM;
    }
    herr_t st = total ? H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : 0;
    H5Sclose(sp);
    H5Dclose(ds);
    if (st < 0) {
        free(buf);
        return h19_fail(H19_EFORMAT, "%s: cannot read dataset '%s' (wrong type?)", f->path, name);
    }
    *data = buf;
    return H19_OK;
}

int h5_read_strings(h5_file *f, const char *name, int64_t *n, char ***s)
{
    *s = NULL;
    if (!h5_exists(f, name))
        return h19_fail(H19_EFORMAT, "%s: dataset '%s' is missing", f->path, name);
    hid_t ds = H5Dopen2(f->fid, name, H5P_DEFAULT);
    hid_t ft = H5Dget_type(ds);
    if (H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) > 0) {
        H5Tclose(ft);
        H5Dclose(ds);
        return h19_fail(H19_EFORMAT, "%s: dataset '%s' is not a fixed-length string array", f->path, name);
    }
    size_t w = H5Tget_size(ft);
    hid_t sp = H5Dget_space(ds);
    hsize_t d = 0;
    H5Sget_simple_extent_dims(sp, &d, NULL);
    size_t cnt = (size_t)d;
    char *raw = h19_malloc(cnt * w + 1);
    char **out = raw ? h19_malloc(cnt * sizeof(char *) + cnt * (w + 1) + 1) : NULL;
    herr_t st = -1;
    if (out) {
        hid_t mt = H5Tcopy(ft);
        st = cnt ? H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) : 0;
        H5Tclose(mt);
    }
    H5Sclose(sp);
    H5Tclose(ft);
    H5Dclose(ds);
    if (st < 0) {
        free(raw);
        free(out);
        return h19_fail(H19_EFORMAT, "%s: cannot read strings '%s'", f->path, name);
    }
    char *pool = (char *)(out + cnt);
    for (size_t i = 0; i < cnt; i++) {
        out[i] = pool + i * (w + 1);
        memcpy(out[i], raw + i * w, w);
        out[i][w] = 0;
    }
    free(raw);
    *n = (int64_t)cnt;
    *s = out;
    return H19_OK;
}

int h5_read_attr_str(h5_file *f, const char *obj, const char *name, char **value)
{
    *value = NULL;
    hid_t o = open_obj(f, obj);
    if (o < 0) return h19_fail(H19_EFORMAT, "%s: no object '%s'", f->path, obj);
    if (H5Aexists(o, name) <= 0) {
        H5Oclose(o);
        return h19_fail(H19_EFORMAT, "%s: attribute '%s' missing", f->path, name);
    }
    hid_t a = H5Aopen(o, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    int rc = H19_OK;
    if (H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) > 0) {
        rc = h19_fail(H19_EFORMAT, "%s: attribute '%s' is not a fixed string", f->path, name);
    } else {
        size_t w = H5Tget_size(t);
        char *buf = h19_calloc(w + 1, 1);
        if (!buf) rc = H19_ENOMEM;
        else if (H5Aread(a, t, buf) < 0) {
            free(buf);
            rc = h19_fail(H19_EFORMAT, "%s: cannot read attribute '%s'", f->path, name);
        } else
            *value = buf;
    }
    H5Tclose(t);
    H5Aclose(a);
    H5Oclose(o);
    return rc;
}

int h5_read_attr_i64(h5_file *f, const char *obj, const char *name, int64_t *value)
{
    hid_t o = open_obj(f, obj);
    if (o < 0) return h19_fail(H19_EFORMAT, "%s: no object '%s'", f->path, obj);
    if (H5Aexists(o, name) <= 0) {
        H5Oclose(o);
        return h19_fail(H19_EFORMAT, "%s: attribute '%s' missing", f->path, name);
    }
    hid_t a = H5Aopen(o, name, H5P_DEFAULT);
    herr_t st = H5Aread(a, H5T_NATIVE_INT64, value);
    H5Aclose(a);
    H5Oclose(o);
    return st < 0 ? h19_fail(H19_EFORMAT, "%s: cannot read attribute '%s'", f->path, name) : H19_OK;
}
