/* log.c — see include/hust19/log.h. */
#include "hust19/log.h"
#include "hust19/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_rank = 0, g_size = 1;
static h19_log_level g_level = H19_LOG_INFO;
static int g_level_set = 0;

static const char *level_name(h19_log_level l)
{
    switch (l) {
    case H19_LOG_ERROR: return "ERROR";
    case H19_LOG_WARN: return "WARN";
    case H19_LOG_INFO: return "INFO";
    default: return "DEBUG";
    }
}

int h19_log_parse_level(const char *s, h19_log_level *out)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (h19_log_level)i;
            return H19_OK;
        }
    return h19_fail(H19_EARG, "unknown log level '%s' (expected error, warn, info or debug)", s);
}

void h19_log_init(int rank, int size)
{
    g_rank = rank;
    g_size = size;
    const char *env = getenv("HUST19_LOG");
    h19_log_level l = H19_LOG_INFO;
    if (!g_level_set && env && h19_log_parse_level(env, &l) == H19_OK) g_level = l;
}

void h19_log_set_level(h19_log_level level)
{
    g_level = level;
    g_level_set = 1;
}

h19_log_level h19_log_get_level(void) { return g_level; }

static void vlog(h19_log_level level, const char *fmt, va_list ap)
{
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fprintf(stderr, "[hust19 r%d/%d %s] %s\n", g_rank, g_size, level_name(level), buf);
    fflush(stderr);
}

void h19_log(h19_log_level level, const char *fmt, ...)
{
    if (level > g_level) return;
    if (level >= H19_LOG_INFO && g_rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void h19_log_all(h19_log_level level, const char *fmt, ...)
{
    if (level > g_level) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

double h19_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_hms(char *out, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7) {
        snprintf(out, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

static void progress_print(h19_progress *p, int64_t done, double now)
{
    double el = now - p->t_start;
    double rate = el > 0 ? (double)done / el : 0.0;
    char eta[32], elapsed[32];
    fmt_hms(eta, sizeof eta, rate > 0 ? (double)(p->total - done) / rate : -1.0);
    fmt_hms(elapsed, sizeof elapsed, el);
    double pct = p->total > 0 ? 100.0 * (double)done / (double)p->total : 100.0;
    if (done >= p->total)
        h19_log(H19_LOG_INFO, "%s: %lld/%lld (100%%)  %.1f/s  in %s", p->label, (long long)done,
                (long long)p->total, rate, elapsed);
    else
        h19_log(H19_LOG_INFO, "%s: %lld/%lld (%.1f%%)  %.1f/s  ETA %s", p->label, (long long)done,
                (long long)p->total, pct, rate, eta);
}

void h19_progress_begin(h19_progress *p, const char *label, int64_t total)
{
    p->label = label;
    p->total = total;
    p->t_start = p->t_last = h19_now();
    p->finished = 0;
}

void h19_progress_update(h19_progress *p, int64_t done)
{
    if (g_rank != 0 || p->finished) return;
    double now = h19_now();
    if (now - p->t_last < 1.0 && done < p->total) return;
    p->t_last = now;
    progress_print(p, done, now);
    if (done >= p->total) p->finished = 1;
}

void h19_progress_end(h19_progress *p, int64_t done)
{
    if (g_rank != 0 || p->finished) return;
    p->finished = 1;
    if (done > p->total) p->total = done;
    progress_print(p, done, h19_now());
}
