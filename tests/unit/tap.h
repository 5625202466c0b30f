/*
 * tap.h: a tiny TAP producer for the C unit tests. Each test program includes
 * it once, calls the checks, and returns tap_done() from main. The runner
 * (run.sh) adds up the results of all programs.
 */
#ifndef TERN_TESTS_TAP_H
#define TERN_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 5, 6))) static int tap_ok(int cond, const char *file, int line,
                                                        const char *expr, const char *fmt, ...)
{
    tap_n++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        tap_failed++;
        printf("#   failed at %s:%d: %s\n", file, line, expr);
    }
    return cond;
}

/** ok(cond, "description", ...): one check. */
#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

/** is_int(got, want, "description"): integer equality, both values shown on failure. */
#define is_int(got, want, ...)                                                                     \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        if (!ok(g_ == w_, __VA_ARGS__))                                                            \
            printf("#   got %lld, want %lld\n", g_, w_);                                           \
    } while (0)

/** is_str(got, want, "description"): string equality (NULL-aware). */
#define is_str(got, want, ...)                                                                     \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        int eq_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_;                                     \
        if (!ok(eq_, __VA_ARGS__))                                                                 \
            printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)");       \
    } while (0)

/** Prints the plan and returns the exit status for main. */
static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
