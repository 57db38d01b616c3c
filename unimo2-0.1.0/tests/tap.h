/* Minimal TAP producer for the C tests (automake's tap-driver reads it).
 * Header-only so every test program is one file. */
#ifndef UNIMO2_TESTS_TAP_H
#define UNIMO2_TESTS_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static __attribute__((unused)) void tap_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static __attribute__((unused)) int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (!cond) tap_failed++;
    return cond;
}

static __attribute__((unused)) void tap_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("ok %d - # SKIP ", ++tap_n);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static __attribute__((unused)) int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

/* Deterministic test data: splitmix64 -> uniform floats in [lo, hi). */
static unsigned long long tap_rng_state = 0x9e3779b97f4a7c15ULL;
static __attribute__((unused)) void tap_seed(unsigned long long s) { tap_rng_state = s; }
static __attribute__((unused)) unsigned long long tap_next(void)
{
    unsigned long long z = (tap_rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static __attribute__((unused)) float tap_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)((tap_next() >> 40) * (1.0 / 16777216.0));
}
static __attribute__((unused)) void tap_fill(float *x, long n, float lo, float hi)
{
    for (long i = 0; i < n; i++) x[i] = tap_uniform(lo, hi);
}

#endif
