/* err.h — status codes and the per-thread error message.
 *
 * Library functions return a status (0 = H19_OK) and never exit. On failure they call
 * h19_fail(), which records one message naming the file, the place in it and what was
 * expected, and returns the code, so the idiom is
 *
 *     if (bad) return h19_fail(H19_EFORMAT, "%s:%d: expected a number, got '%s'", path, line, s);
 *
 * Only main (the subcommand driver) reports the message and chooses the exit code.
 */
#ifndef HUST19_ERR_H
#define HUST19_ERR_H

#include <stddef.h>

typedef enum {
    H19_OK = 0,
    H19_EIO = 1,      /* a file could not be opened, read or written */
    H19_EFORMAT = 2,  /* input is malformed (CSV, DICOM, HDF5, JPEG) */
    H19_ECONFIG = 3,  /* job or model YAML is invalid */
    H19_ENOMEM = 4,   /* allocation failed */
    H19_EARG = 5,     /* bad command-line argument or API misuse */
    H19_EMPI = 6,     /* an MPI call failed */
    H19_EUNSUP = 7,   /* valid input that this build does not support */
    H19_ESTATE = 8,   /* a stage's inputs are missing: run an earlier stage first */
    H19_ESTOP = 9,    /* stopped by SIGUSR1/SIGTERM after writing a checkpoint */
} h19_status;

/* Process exit codes (documented in docs/cli.md). */
enum {
    H19_EXIT_OK = 0,
    H19_EXIT_ERROR = 1,
    H19_EXIT_USAGE = 2,
    H19_EXIT_REQUEUE = 75, /* EX_TEMPFAIL: checkpoint written, re-run (requeue) to resume */
};

/* Record a message (printf format) and return code. The message stays until the next h19_fail. */
int h19_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepend context ("while reading X: ") to the current message; returns code. */
int h19_fail_ctx(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last recorded message; never NULL. Borrowed: do not free. */
const char *h19_errmsg(void);
/* Name of a status code ("format error", ...). */
const char *h19_strstatus(int code);

/* Checked allocation helpers: on failure they record H19_ENOMEM and return NULL. */
void *h19_malloc(size_t n);
void *h19_calloc(size_t n, size_t size);
void *h19_realloc(void *p, size_t n);
char *h19_strdup(const char *s);

/* Propagate a non-zero status. */
#define H19_TRY(expr)              \
    do {                           \
        int h19_try_rc_ = (expr);  \
        if (h19_try_rc_) return h19_try_rc_; \
    } while (0)

#endif
