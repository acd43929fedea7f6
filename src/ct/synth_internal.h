/* synth_internal.h — helpers shared by the src/ct/synth*.c files (not a public API). */
#ifndef HUST19_SYNTH_INTERNAL_H
#define HUST19_SYNTH_INTERNAL_H

#include <stddef.h>

/* Write n bytes to path atomically: "<path>.tmp.<pid>", fsync, rename. H19_EIO names the path. */
int ct_synth_atomic_write(const char *path, const void *data, size_t n);
/* mkdir -p (mode 0777 & umask). */
int ct_synth_mkdirs(const char *path);

/* A growable text buffer for CSV/YAML output. */
typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_put(sbuf *b, const char *s, size_t n);
void sb_free(sbuf *b);

/* synth.yaml: the archive's format, version and every parameter (deterministic in job). */
#include "hust19/synth.h"
int ct_synth_describe(const ct_synth_job *job, const ct_synth_entry *e, int n, sbuf *b);

#endif
