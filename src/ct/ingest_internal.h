/* ingest_internal.h — helpers shared by the CT ingest files (src/ct/ingest_*.c); not public. */
#ifndef HUST19_INGEST_INTERNAL_H
#define HUST19_INGEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *s;
    size_t n, cap;
} ig_buf;

int ig_put(ig_buf *b, const void *p, size_t n);
int ig_printf(ig_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ig_free(ig_buf *b);

/* malloc'd; NULL on ENOMEM (message recorded) */
char *ig_join(const char *dir, const char *name);
char *ig_dirname(const char *path);
char *ig_normalise(const char *path, int absolute);

typedef struct {
    char *name;
    int64_t size, mtime_s, mtime_ns;
} ig_entry;

/* Entries of dir (regular files, or directories when want_dirs), sorted by name (strcmp), without
 * hidden names and writers' temporaries (*.tmp*). */
int ig_list_dir(const char *dir, int want_dirs, ig_entry **out, int *n);
void ig_free_entries(ig_entry *e, int n);

/* lowercase hex of nbytes into out (2*nbytes+1 bytes) */
void ig_hex(const uint8_t *h, int nbytes, char *out);

#endif
