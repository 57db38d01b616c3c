/* unimo2-bench: benchmarks of the kernels and (later) the model.
 * One subcommand per file; this file holds the command table, the options
 * every subcommand shares and the timing helpers of bench.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "bench.h"
#include "gemm_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"gemm", bench_gemm, "u2_sgemm on the model's shapes vs the FMA peak and OpenBLAS"},
    {"grounding", bench_grounding, "the fused grounding search vs GEMM + separate passes"},
    {"forward", bench_forward, "native inference vs onnxruntime on our exported graphs"},
    {"ablation", bench_ablation, "Table 4: train and evaluate each ablation switch (long)"},
    {"train", bench_train, "the training step (samples/s, memory) vs a PyTorch peer"},
    /* forward: later, its own file */
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: unimo2-bench COMMAND [--json] [--threads T] [--isa NAME] [--reps N]\n"
               "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "'unimo2-bench COMMAND --help' for a command's options.\n");
}

/* Settings that libraries read when they load, before main, so the bench
 * runs itself again with them fixed:
 *  - OpenBLAS reads OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: a forced core type
 *    would misrepresent the peer, so they are removed;
 *  - libgomp reads OMP_WAIT_POLICY: its default spins between parallel
 *    regions, and with OpenBLAS's own pool in the same process (and other
 *    users on the machine) spinning threads steal the cores the measured
 *    code needs, so the bench sets PASSIVE unless the caller chose. */
static void reexec_with_fixed_env(char **argv)
{
    int again = 0;
#ifdef HAVE_OPENBLAS
    if (getenv("OPENBLAS_CORETYPE") || getenv("OPENBLAS_L2_SIZE")) {
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv("OPENBLAS_L2_SIZE");
        again = 1;
    }
#endif
#ifdef _OPENMP
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        again = 1;
    }
#endif
    if (again) {
        execv("/proc/self/exe", argv);
        perror("unimo2-bench: re-exec with the benchmark environment");
        /* go on as we are */
    }
}

int main(int argc, char **argv)
{
    reexec_with_fixed_env(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "unimo2-bench: %s: unknown command (try --help)\n", argv[1]);
    return 2;
}

/* ------------------------------------------------------------ timing */
int bench_use_best;
int bench_use_cpu_clock;

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(bench_use_cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static long size_batch(void (*fn)(void *), void *ctx, double min_sample_s)
{
    /* warm-up: caches, page faults, thread pools; then size the batch */
    double t0 = bench_now();
    fn(ctx);
    double one = bench_now() - t0;
    if (one >= min_sample_s) return 1;
    t0 = bench_now();
    fn(ctx);
    one = bench_now() - t0;
    return one > 0 ? (long)(min_sample_s / one) + 1 : 1000;
}

void bench_time_multi(int n, void (*const *fns)(void *), void *const *ctxs, int reps,
                      double min_sample_s, double *sec)
{
    if (reps < 1) reps = 1;
    long *batch = malloc(sizeof(long) * (size_t)n);
    double *v = malloc(sizeof(double) * (size_t)(reps * n));
    for (int i = 0; i < n; i++) batch[i] = size_batch(fns[i], ctxs[i], min_sample_s);
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++) {
            double t0 = bench_now();
            for (long b = 0; b < batch[i]; b++) fns[i](ctxs[i]);
            v[i * reps + r] = (bench_now() - t0) / (double)batch[i];
        }
    }
    for (int i = 0; i < n; i++) {
        sec[i] = bench_median(v + i * reps, reps);
        if (bench_use_best) sec[i] = v[i * reps]; /* sorted by bench_median */
    }
    free(v);
    free(batch);
}

double bench_time(void (*fn)(void *), void *ctx, int reps, double min_sample_s)
{
    double s;
    void *const ctxs[1] = {ctx};
    void (*const fns[1])(void *) = {fn};
    bench_time_multi(1, fns, ctxs, reps, min_sample_s, &s);
    return s;
}

long bench_peak_rss_kib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static volatile float peak_sink;

int bench_peak_init(bench_peak_ctx *c, u2_isa isa, int threads)
{
    u2_gemm_extras x;
    if (u2_gemm_extras_isa(isa, &x) || !u2_kern_isa(isa)) return -1;
    c->isa = isa;
    c->threads = threads;
    c->flops = x.burn_flops;
    c->burn = x.burn;
    /* size the loop to ~20 ms */
    int64_t iters = 1 << 20;
    double t0 = bench_now();
    peak_sink = x.burn(iters);
    double dt = bench_now() - t0;
    c->iters = dt > 0 ? (int64_t)((double)iters * 0.02 / dt) + 1 : iters;
    return 0;
}

void bench_peak_run(void *ctx)
{
    const bench_peak_ctx *c = ctx;
    const u2_fma_burn_fn burn = c->burn;
#ifdef _OPENMP
#pragma omp parallel num_threads(c->threads)
#endif
    {
        float s = burn(c->iters);
        if (s == 12345.678f) peak_sink = s;
    }
}

double bench_peak_gflops(const bench_peak_ctx *c, double sec)
{
    return (double)c->threads * (double)c->iters * c->flops / sec * 1e-9;
}

double bench_fma_peak(u2_isa isa, int threads, int reps)
{
    bench_peak_ctx c;
    if (bench_peak_init(&c, isa, threads)) return 0.0;
    return bench_peak_gflops(&c, bench_time(bench_peak_run, &c, reps, 0.0));
}

float *bench_matrix(size_t n, unsigned seed)
{
    float *p = NULL;
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (posix_memalign((void **)&p, 64, bytes ? bytes : 64)) {
        fprintf(stderr, "unimo2-bench: out of memory\n");
        exit(1);
    }
    uint64_t s = 0x9e3779b97f4a7c15ULL * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = (float)((double)(s >> 40) / 8388608.0 - 1.0);
    }
    return p;
}

/* ------------------------------------------------------------ options */
static int add_threads(bench_opts *o, const char *v)
{
    char *end;
    for (const char *s = v; *s;) {
        long t = strtol(s, &end, 10);
        if (end == s || t < 1 || t > 1024 || o->nthreads == BENCH_MAX_THREADS) return -1;
        o->threads[o->nthreads++] = (int)t;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return 0;
}

int bench_parse(int argc, char **argv, bench_opts *o, const char *usage_text,
                int (*extra)(const char *opt, const char *val, void *ctx), void *ctx)
{
    memset(o, 0, sizeof *o);
    o->reps = 5;
    int isa_all = 0, isa_set = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            fputs(BENCH_COMMON_USAGE, stdout);
            return 1;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--best")) {
            bench_use_best = 1;
        } else if (!strcmp(a, "--cpu-clock")) {
            bench_use_cpu_clock = 1;
        } else if (!strcmp(a, "--threads") && v) {
            if (add_threads(o, v)) {
                fprintf(stderr, "unimo2-bench: --threads %s: want counts like 1 or 1,2\n", v);
                return -1;
            }
            i++;
        } else if (!strcmp(a, "--reps") && v) {
            o->reps = atoi(v);
            if (o->reps < 1) {
                fprintf(stderr, "unimo2-bench: --reps %s: want a count >= 1\n", v);
                return -1;
            }
            i++;
        } else if (!strcmp(a, "--isa") && v) {
            isa_set = 1;
            if (!strcmp(v, "all")) {
                isa_all = 1;
            } else {
                int isa = u2_isa_from_name(v);
                if (isa < 0) {
                    fprintf(stderr, "unimo2-bench: --isa %s: unknown (scalar, avx2, avx512, "
                                    "neon, all)\n", v);
                    return -1;
                }
                if (!u2_kern_isa((u2_isa)isa)) {
                    fprintf(stderr, "unimo2-bench: --isa %s: not built or not supported by "
                                    "this CPU\n", v);
                    return -1;
                }
                if (o->nisa < U2_ISA_COUNT) o->isa[o->nisa++] = isa;
            }
            i++;
        } else {
            int used = extra ? extra(a, v, ctx) : 0;
            if (used <= 0) {
                fprintf(stderr, "unimo2-bench: %s: unknown option or missing value (try "
                                "--help)\n", a);
                return -1;
            }
            i += used - 1;
        }
    }
    if (!o->nthreads) o->threads[o->nthreads++] = 1, o->threads[o->nthreads++] = 2;
    if (!isa_set || isa_all) {
        o->nisa = 0;
        for (int i = U2_ISA_COUNT - 1; i >= 0; i--) /* best first */
            if (u2_kern_isa((u2_isa)i) && (isa_all || i != U2_ISA_SCALAR))
                o->isa[o->nisa++] = i;
        if (!o->nisa) o->isa[o->nisa++] = U2_ISA_SCALAR;
    }
    return 0;
}
