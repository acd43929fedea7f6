/* log.h — levelled logging with a rank prefix, and progress lines with rate and ETA.
 *
 * Every line goes to stderr as "[hust19 r<rank>/<size> LEVEL] message". INFO and above are
 * printed by rank 0 only unless h19_log_all() is used (warnings and errors from any rank are
 * always printed). The level comes from --log-level or HUST19_LOG (error, warn, info, debug).
 */
#ifndef HUST19_LOG_H
#define HUST19_LOG_H

#include <stdint.h>

typedef enum { H19_LOG_ERROR = 0, H19_LOG_WARN = 1, H19_LOG_INFO = 2, H19_LOG_DEBUG = 3 } h19_log_level;

void h19_log_init(int rank, int size);
void h19_log_set_level(h19_log_level level);
int h19_log_parse_level(const char *s, h19_log_level *out); /* 0 ok, else H19_EARG */
h19_log_level h19_log_get_level(void);

/* Rank 0 only for INFO/DEBUG; any rank for WARN/ERROR. */
void h19_log(h19_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Any rank, any level (for per-rank diagnostics). */
void h19_log_all(h19_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_ERROR(...) h19_log(H19_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) h19_log(H19_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) h19_log(H19_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) h19_log(H19_LOG_DEBUG, __VA_ARGS__)

/* Progress of a long loop, printed by rank 0 at most once a second and once at the end:
 * "label: 120/1000 (12.0%)  45.3 items/s  ETA 0:19". `done` is the global count the caller
 * knows on rank 0 (other ranks may call; they print nothing). */
typedef struct {
    const char *label;
    int64_t total;
    double t_start, t_last;
    int finished;
} h19_progress;

void h19_progress_begin(h19_progress *p, const char *label, int64_t total);
void h19_progress_update(h19_progress *p, int64_t done);
void h19_progress_end(h19_progress *p, int64_t done);

/* Monotonic wall clock in seconds. */
double h19_now(void);

#endif
