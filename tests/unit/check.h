/* check.h — a tiny assertion kit for unit tests: every CHECK that fails prints file:line and the
 * expression and counts; the test exits non-zero if any failed. Exit 77 means skipped. */
#ifndef HUST19_TEST_CHECK_H
#define HUST19_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures = 0;
static int check_count = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        check_count++;                                                                \
        if (!(cond)) {                                                                \
            check_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define CHECK_MSG(cond, ...)                                                        \
    do {                                                                            \
        check_count++;                                                              \
        if (!(cond)) {                                                              \
            check_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                    \
        }                                                                           \
    } while (0)

/* |a-b| <= tol (absolute) */
#define CHECK_NEAR(a, b, tol)                                                                  \
    do {                                                                                       \
        double ca_ = (double)(a), cb_ = (double)(b);                                           \
        check_count++;                                                                         \
        if (!(fabs(ca_ - cb_) <= (tol))) {                                                     \
            check_failures++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.17g vs %s = %.17g (tol %g)\n", \
                    __FILE__, __LINE__, #a, ca_, #b, cb_, (double)(tol));                      \
        }                                                                                      \
    } while (0)

#define CHECK_OK(expr)                                                                       \
    do {                                                                                     \
        int crc_ = (expr);                                                                   \
        check_count++;                                                                       \
        if (crc_ != 0) {                                                                     \
            check_failures++;                                                                \
            fprintf(stderr, "%s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #expr, crc_, \
                    h19_errmsg());                                                           \
        }                                                                                    \
    } while (0)

#define CHECK_DONE()                                                                        \
    do {                                                                                    \
        fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);            \
        return check_failures ? 1 : 0;                                                      \
    } while (0)

#define TEST_SKIP(msg)                               \
    do {                                             \
        fprintf(stderr, "SKIPPED: %s\n", msg);       \
        exit(77);                                    \
    } while (0)

#endif
