/* ingest_util.c — small helpers of the CT ingest: growable byte buffer, lexical path
 * normalisation, sorted directory listings. Internal (src/ct/ingest_internal.h). */
#include "ingest_internal.h"

#include "hust19/err.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ig_put(ig_buf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = h19_realloc(b->s, cap);
        if (!q) return H19_ENOMEM;
        b->s = q;
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = 0;
    return H19_OK;
}

int ig_printf(ig_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return h19_fail(H19_EARG, "ig_printf: bad format");
    if ((size_t)k < sizeof tmp) return ig_put(b, tmp, (size_t)k);
    char *big = h19_malloc((size_t)k + 1);
    if (!big) return H19_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    int rc = ig_put(b, big, (size_t)k);
    free(big);
    return rc;
}

void ig_free(ig_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

char *ig_join(const char *dir, const char *name)
{
    if (!dir || !*dir || name[0] == '/') return ig_normalise(name, 0);
    size_t a = strlen(dir), c = strlen(name);
    char *p = h19_malloc(a + c + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, c + 1);
    char *q = ig_normalise(p, 0);
    free(p);
    return q;
}

char *ig_dirname(const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s) return h19_strdup(".");
    if (s == path) return h19_strdup("/");
    size_t n = (size_t)(s - path);
    char *p = h19_malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, path, n);
    p[n] = 0;
    return p;
}

/* Lexical normalisation: "." components and repeated slashes go, "x/.." cancels (a leading ".."
 * of a relative path stays). absolute=1 first prefixes the working directory. Two spellings of
 * one file ("a/./b.dcm", "a//b.dcm", "c/../a/b.dcm") then compare equal without touching the file
 * system (symbolic links are not resolved: both sides of a comparison must use the same tree). */
char *ig_normalise(const char *path, int absolute)
{
    char cwd[4096] = "";
    if (absolute && path[0] != '/') {
        if (!getcwd(cwd, sizeof cwd)) {
            h19_fail(H19_EIO, "getcwd failed: %s", strerror(errno));
            return NULL;
        }
    }
    size_t n = strlen(cwd) + strlen(path) + 3;
    char *src = h19_malloc(n), *out = h19_malloc(n);
    if (!src || !out) {
        free(src);
        free(out);
        return NULL;
    }
    snprintf(src, n, "%s%s%s", cwd, *cwd ? "/" : "", path);
    int abs_path = src[0] == '/';
    size_t o = 0;
    size_t nlead = 0; /* bytes of leading "../" kept in a relative path */
    char *save = NULL;
    if (abs_path) out[o++] = '/';
    for (char *tok = strtok_r(src, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (!strcmp(tok, ".")) continue;
        if (!strcmp(tok, "..")) {
            size_t base = abs_path ? 1 : nlead;
            if (o > base) { /* drop the last component */
                size_t k = o;
                if (k > base && out[k - 1] == '/') k--;
                while (k > base && out[k - 1] != '/') k--;
                o = k;
                continue;
            }
            if (abs_path) continue; /* "/.." is "/" */
            memcpy(out + o, "../", 3);
            o += 3;
            nlead = o;
            continue;
        }
        size_t l = strlen(tok);
        memcpy(out + o, tok, l);
        o += l;
        out[o++] = '/';
    }
    if (o > 1 && out[o - 1] == '/') o--;
    if (o == 0) out[o++] = '.';
    out[o] = 0;
    free(src);
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(((const ig_entry *)a)->name, ((const ig_entry *)b)->name);
}

int ig_list_dir(const char *dir, int want_dirs, ig_entry **out, int *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return h19_fail(H19_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    ig_entry *e = NULL;
    int k = 0, cap = 0, rc = H19_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;             /* hidden, ".", ".." */
        if (strstr(de->d_name, ".tmp")) continue;       /* a writer's temporary (X.tmp.<pid>) */
        char *path = ig_join(dir, de->d_name);
        if (!path) {
            rc = H19_ENOMEM;
            break;
        }
        struct stat st;
        int ok = stat(path, &st) == 0;
        free(path);
        if (!ok) continue; /* vanished or a dangling link */
        if (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) continue;
        if (k == cap) {
            cap = cap ? 2 * cap : 64;
            ig_entry *q = h19_realloc(e, sizeof *e * (size_t)cap);
            if (!q) {
                rc = H19_ENOMEM;
                break;
            }
            e = q;
        }
        e[k].name = h19_strdup(de->d_name);
        if (!e[k].name) {
            rc = H19_ENOMEM;
            break;
        }
        e[k].size = (int64_t)st.st_size;
        e[k].mtime_s = (int64_t)st.st_mtim.tv_sec;
        e[k].mtime_ns = (int64_t)st.st_mtim.tv_nsec;
        k++;
    }
    closedir(d);
    if (rc) {
        ig_free_entries(e, k);
        return rc;
    }
    if (k) qsort(e, (size_t)k, sizeof *e, cmp_str);
    *out = e;
    *n = k;
    return H19_OK;
}

void ig_free_entries(ig_entry *e, int n)
{
    for (int i = 0; i < n; i++) free(e[i].name);
    free(e);
}

void ig_hex(const uint8_t *h, int nbytes, char *out)
{
    static const char *hx = "0123456789abcdef";
    for (int i = 0; i < nbytes; i++) {
        out[2 * i] = hx[h[i] >> 4];
        out[2 * i + 1] = hx[h[i] & 15];
    }
    out[2 * nbytes] = 0;
}
