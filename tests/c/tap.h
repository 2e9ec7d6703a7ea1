/*
 * tap.h: a minimal TAP producer for the C unit tests in tests/c/. Each test
 * program calls ok()/is_int()/is_str() and ends with `return done_testing();`
 * which prints the plan and returns non-zero if anything failed, so both
 * prove and make see failures.
 */
#ifndef MPOD_TEST_TAP_H
#define MPOD_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count, tap_failed;

static int ok_at(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), unused));
static int ok_at(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tap_count++;
    printf("%sok %d - ", cond ? "" : "not ", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        tap_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

#define ok(cond, ...) ok_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...) do {                                        \
    long long g_ = (long long)(got), w_ = (long long)(want);             \
    if (!ok(g_ == w_, __VA_ARGS__))                                        \
        printf("#   got %lld, expected %lld\n", g_, w_);                   \
} while (0)

#define is_str(got, want, ...) do {                                        \
    const char *g_ = (got), *w_ = (want);                                  \
    int same_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_;               \
    if (!ok(same_, __VA_ARGS__))                                           \
        printf("#   got \"%s\"\n#   expected \"%s\"\n",                   \
               g_ ? g_ : "(null)", w_ ? w_ : "(null)");                    \
} while (0)

static int done_testing(void) __attribute__((unused));
static int done_testing(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif
