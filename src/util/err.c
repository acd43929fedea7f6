/* err.c — the per-thread error message (see include/hust19/err.h). */
#include "hust19/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char g_msg[2048] = "no error";

int h19_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return code;
}

int h19_fail_ctx(int code, const char *fmt, ...)
{
    char prefix[1024], old[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    size_t np = strlen(prefix);
    if (np > sizeof g_msg - 3) np = sizeof g_msg - 3;
    memcpy(g_msg, prefix, np);
    g_msg[np] = ':';
    g_msg[np + 1] = ' ';
    size_t room = sizeof g_msg - np - 3;
    size_t no = strlen(old);
    if (no > room) no = room;
    memcpy(g_msg + np + 2, old, no);
    g_msg[np + 2 + no] = 0;
    return code;
}

const char *h19_errmsg(void) { return g_msg; }

const char *h19_strstatus(int code)
{
    switch (code) {
    case H19_OK: return "ok";
    case H19_EIO: return "I/O error";
    case H19_EFORMAT: return "format error";
    case H19_ECONFIG: return "configuration error";
    case H19_ENOMEM: return "out of memory";
    case H19_EARG: return "bad argument";
    case H19_EMPI: return "MPI error";
    case H19_EUNSUP: return "unsupported";
    case H19_ESTATE: return "missing input";
    case H19_ESTOP: return "stopped";
    default: return "error";
    }
}

void *h19_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) h19_fail(H19_ENOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *h19_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) h19_fail(H19_ENOMEM, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *h19_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) h19_fail(H19_ENOMEM, "out of memory reallocating to %zu bytes", n);
    return q;
}

char *h19_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = h19_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}
