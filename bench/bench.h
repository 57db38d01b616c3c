/* unimo2-bench: shared pieces of the subcommands (one file per subcommand,
 * listed in the command table of bench.c). */
#ifndef UNIMO2_BENCH_H
#define UNIMO2_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "gemm_internal.h"

/* ------------------------------------------------------------ timing */
/* Monotonic clock, seconds. */
double bench_now(void);
/* Median of n values (reorders v). */
double bench_median(double *v, int n);
/* Seconds per call of fn(ctx): one warm-up sample that also sizes a batch of
 * calls lasting at least min_sample_s, then the median of `reps` batches. */
double bench_time(void (*fn)(void *), void *ctx, int reps, double min_sample_s);
/* The same for n functions measured side by side: after each one's warm-up,
 * every repetition times one batch of each in turn, so that a noisy machine
 * slows all of them alike.  sec[i] receives the median for fns[i]. */
void bench_time_multi(int n, void (*const *fns)(void *), void *const *ctxs, int reps,
                      double min_sample_s, double *sec);
/* An FMA-peak measurement usable with bench_time_multi: one call runs the
 * ISA's register-only FMA loop on `threads` threads at once, ~20 ms. */
typedef struct {
    u2_isa isa;
    int threads;
    int64_t iters;
    int flops;       /* per iteration and thread */
    u2_fma_burn_fn burn;
} bench_peak_ctx;
int bench_peak_init(bench_peak_ctx *c, u2_isa isa, int threads);
void bench_peak_run(void *ctx);
/* GFLOP/s of one bench_peak_run lasting sec seconds */
double bench_peak_gflops(const bench_peak_ctx *c, double sec);
/* Peak resident set size of this process, KiB. */
long bench_peak_rss_kib(void);
/* The measured FMA peak of an ISA at a thread count, GFLOP/s (register-only
 * loop from the ISA's GEMM file, all threads at once; median of reps); 0 when
 * the ISA is not built. */
double bench_fma_peak(u2_isa isa, int threads, int reps);

/* ------------------------------------------------------------ options */
#define BENCH_MAX_THREADS 8
typedef struct {
    int json;                         /* --json: one JSON object per result line */
    int threads[BENCH_MAX_THREADS];   /* --threads T (default: 1 and 2) */
    int nthreads;
    int isa[U2_ISA_COUNT];            /* --isa NAME|all (default: every SIMD ISA) */
    int nisa;
    int reps;                         /* --reps N: median of N batches (default 5) */
} bench_opts;

/* --best: report the fastest batch instead of the median (tuning on a busy
 * machine); global because every timer honours it. */
extern int bench_use_best;
/* --cpu-clock: time with this process's CPU time instead of the wall clock,
 * so that time slices lost to other processes do not count (tuning at one
 * thread on a shared machine; with T threads divide by T yourself). */
extern int bench_use_cpu_clock;

/* Parse the options every subcommand takes.  Unknown options are left for
 * the subcommand: `extra(opt, value, ctx)` returns how many arguments it used
 * (1 or 2), 0 for "not mine".  Returns 0, 1 after --help (usage printed), or
 * -1 on an error (message printed). */
int bench_parse(int argc, char **argv, bench_opts *o, const char *usage,
                int (*extra)(const char *opt, const char *val, void *ctx), void *ctx);
/* The common options, for the usage texts. */
#define BENCH_COMMON_USAGE \
    "  --json          one JSON object per result line, nothing else on stdout\n" \
    "  --threads T     thread count (default: 1 and 2; repeat or use 1,2)\n" \
    "  --isa NAME      scalar, avx2, avx512, neon or all (default: every SIMD ISA\n" \
    "                  this CPU runs; scalar only when asked, it is slow)\n" \
    "  --reps N        median of N timed batches after a warm-up (default 5)\n" \
    "  --best          report the fastest batch instead of the median (tuning)\n" \
    "  --cpu-clock     process CPU time instead of wall time (tuning at 1 thread)\n" \
    "  --help          this text\n"

/* ------------------------------------------------------------ subcommands */
int bench_gemm(int argc, char **argv);
int bench_grounding(int argc, char **argv);
int bench_ablation(int argc, char **argv);
int bench_forward(int argc, char **argv);
int bench_train(int argc, char **argv);

/* 64-byte aligned, pre-faulted buffer of n floats filled with U(-1, 1)
 * (deterministic); aborts when out of memory. */
float *bench_matrix(size_t n, unsigned seed);

#endif
