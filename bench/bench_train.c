/* unimo2-bench train: the real training step (forward with saved activations,
 * backward, AdamW with clipping, as in train.c) on synthetic batches of a
 * config's shapes, against a batched PyTorch implementation of the same step
 * (bench/torch_peer.py) run as a subprocess and timed interleaved with ours.
 * Also the memory model: parameters, gradients and AdamW moments plus the
 * activation arenas, against the peak resident set size. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "bench.h"
#include "backward.h"
#include "data.h"
#include "kernels.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef U2_BENCH_SRCDIR
#define U2_BENCH_SRCDIR "."
#endif
#ifndef U2_BENCH_DATADIR
#define U2_BENCH_DATADIR "/usr/local/share/unimo2/bench"
#endif

typedef struct {
    const char *config, *peer_script, *python;
    int batch, steps, warmup, no_peer, mix_all, verbose;
    uint64_t seed;
} train_args;

static int train_extra(const char *opt, const char *val, void *ctx)
{
    train_args *t = ctx;
    if (!strcmp(opt, "--no-peer")) return t->no_peer = 1, 1;
    if (!strcmp(opt, "--verbose")) return t->verbose = 1, 1;
    if (!val) return 0;
    if (!strcmp(opt, "--config")) return t->config = val, 2;
    if (!strcmp(opt, "--peer-script")) return t->peer_script = val, 2;
    if (!strcmp(opt, "--python")) return t->python = val, 2;
    if (!strcmp(opt, "--mix")) {
        if (strcmp(val, "pairs") && strcmp(val, "all")) return 0;
        t->mix_all = !strcmp(val, "all");
        return 2;
    }
    char *end;
    long v = strtol(val, &end, 10);
    if (*end || v < 0) return 0;
    if (!strcmp(opt, "--batch") && v >= 2 && v <= 4096) return t->batch = (int)v, 2;
    if (!strcmp(opt, "--steps") && v >= 1) return t->steps = (int)v, 2;
    if (!strcmp(opt, "--warmup")) return t->warmup = (int)v, 2;
    if (!strcmp(opt, "--seed")) return t->seed = (uint64_t)v, 2;
    return 0;
}

static const char usage_text[] =
    "usage: unimo2-bench train [options]\n"
    "Times the real training step (forward with saved activations, backward, AdamW\n"
    "with clipping) on synthetic batches of a config's shapes: pixels U(-1,1), random\n"
    "token ids of a COCO-like length mix padded to the longest, MLM masks at 0.30 on\n"
    "captions (0.15 text-only), ITM hard negatives sampled in the step as in training.\n"
    "samples/s = samples per step / median step time after the warm-up steps.\n"
    "The PyTorch peer (bench/torch_peer.py, /usr/bin/python3 with torch) runs the same\n"
    "step on the same shapes in a subprocess per thread count, one step of each in\n"
    "turn (ours T=1, peer T=1, ours T=2, peer T=2, repeated).  Memory: peak RSS of\n"
    "this process against the model: 4 x params x 4 B (weights, gradients, AdamW\n"
    "m and v) + the forward arena's peak (saved activations) + the backward\n"
    "scratch arena's peak.\n"
    "  --config NAME   model config (default small)\n"
    "  --batch B       image-caption pairs per step (default 32)\n"
    "  --mix M         pairs (default): B pairs; all: B pairs, B text-only captions\n"
    "                  and B/2 images as two views each (the trainer's proportions)\n"
    "  --steps N       timed steps per thread count (default: --reps, 5)\n"
    "  --warmup W      untimed steps per thread count, after one step that sizes\n"
    "                  the arenas (default 2)\n"
    "  --seed S        batch and initialisation seed (default 1)\n"
    "  --no-peer       skip PyTorch\n"
    "  --python PATH   interpreter for the peer (default /usr/bin/python3)\n"
    "  --verbose       each step on stderr (ours: time, page faults, loss, arenas;\n"
    "                  the peer's: time, loss)\n"
    "  --peer-script F the peer (default: bench/torch_peer.py of the source tree,\n"
    "                  else the installed " U2_BENCH_DATADIR "/torch_peer.py)\n"
    "Kernels: UNIMO2_ISA chooses them (--isa is ignored here).\n";

/* ------------------------------------------------------------ the batch */

/* Caption length including [CLS] and [SEP]: content tokens drawn from
 * N(0.35 (L-2), 0.15 (L-2)), clipped to [3, L-2] (COCO-like: about 16 content
 * tokens at L = 48, the longest of 32 near 30). */
static int draw_length(u2_rng *r, int L)
{
    double c = 0.35 * (L - 2) + 0.15 * (L - 2) * (double)u2_rng_normal(r);
    int n = (int)lround(c), lo = L - 2 < 3 ? L - 2 : 3;
    if (n < lo) n = lo;
    if (n > L - 2) n = L - 2;
    return n + 2;
}

typedef struct {
    int bp, bt, bi; /* pairs, text-only captions, images (two views each) */
    int n_txt, n_img, tl;
    int *len, *masked;
    float *pixels;
    int32_t *ids, *attn, *labels;
    u2_batch b;
} syn_batch;

static void batch_make(syn_batch *s, const u2_config *c, int bp, int mix_all, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->bp = bp;
    s->bt = mix_all ? bp : 0;
    s->bi = mix_all ? bp / 2 : 0;
    s->n_txt = s->bp + s->bt;
    s->n_img = s->bp + 2 * s->bi;
    const int L = c->max_text_len, V = c->vocab_size, S = c->image_size;
    u2_rng r = u2_rng_stream(seed, 0x74726169ULL);
    s->len = u2_malloc(sizeof(int) * (size_t)s->n_txt);
    s->masked = u2_malloc(sizeof(int) * (size_t)s->n_txt);
    s->tl = 2;
    for (int i = 0; i < s->n_txt; i++) {
        s->len[i] = draw_length(&r, L);
        if (s->len[i] > s->tl) s->tl = s->len[i];
    }
    const size_t nt = (size_t)s->n_txt * (size_t)s->tl;
    s->ids = u2_malloc(sizeof(int32_t) * nt);
    s->attn = u2_malloc(sizeof(int32_t) * nt);
    s->labels = u2_malloc(sizeof(int32_t) * nt);
    uint8_t *ws = u2_malloc((size_t)s->tl);
    memset(ws, 1, (size_t)s->tl);
    for (int i = 0; i < s->n_txt; i++) {
        int32_t *ids = s->ids + (size_t)i * s->tl;
        for (int j = 0; j < s->tl; j++) {
            ids[j] = j == 0 ? 0 /* [CLS] */
                     : j == s->len[i] - 1 ? 2 /* [SEP] */
                     : j < s->len[i] ? 4 + (int32_t)u2_rng_below(&r, (uint64_t)(V - 5))
                                     : 1; /* [PAD] */
            s->attn[(size_t)i * s->tl + j] = j < s->len[i];
        }
        /* token-level masking (random ids have no words); [MASK] = V-1 */
        int32_t *lab = s->labels + (size_t)i * s->tl;
        u2_mlm_mask(ids, ws, s->len[i], i < bp ? 0.30f : 0.15f, 0, V - 1, V, &r, lab);
        for (int j = s->len[i]; j < s->tl; j++) lab[j] = -1;
        s->masked[i] = 0;
        for (int j = 0; j < s->tl; j++) s->masked[i] += lab[j] >= 0;
    }
    free(ws);
    const size_t np = (size_t)s->n_img * 3 * (size_t)S * (size_t)S;
    s->pixels = u2_malloc(sizeof(float) * np);
    for (size_t i = 0; i < np; i++) s->pixels[i] = 2.0f * u2_rng_uniform(&r) - 1.0f;
    s->b = (u2_batch){.n_img = s->n_img, .n_txt = s->n_txt, .tl = s->tl, .pixels = s->pixels,
                      .ids = s->ids, .attn = s->attn, .mlm_labels = s->labels, .bp = s->bp,
                      .bt = s->bt, .bi = 2 * s->bi};
}

static void batch_free(syn_batch *s)
{
    free(s->len);
    free(s->masked);
    free(s->pixels);
    free(s->ids);
    free(s->attn);
    free(s->labels);
}

/* ------------------------------------------------------------ our step */

typedef struct {
    u2_model m;
    u2_optim opt;
    u2_fwd f;
    u2_arena scratch;
    float *grads;
    syn_batch *sb;
    uint64_t seed;
    int64_t step;
    u2_losses first; /* the losses of the first step (at initialisation) */
    long faults;     /* minor page faults of the last step */
    int verbose;     /* each step on stderr */
} ours_ctx;

static long minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

/* One step as train.c runs it; returns its time in seconds (bench_now). */
static double ours_step(ours_ctx *o, int threads)
{
    u2_set_num_threads(threads);
    o->sb->b.neg_seed = o->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(o->step + 1));
    long f0 = minor_faults();
    double t0 = bench_now();
    memset(o->grads, 0, sizeof(float) * (size_t)o->m.L.total);
    u2_fwd_reset(&o->f);
    u2_forward_batch(&o->f, &o->sb->b);
    u2_backward_batch(&o->f, o->grads, &o->scratch, NULL, NULL);
    u2_optim_step(&o->opt, &o->m, o->grads);
    double dt = bench_now() - t0;
    o->faults = minor_faults() - f0;
    if (o->verbose)
        fprintf(stderr, "step %lld (%d thread%s): %.3f s, %ld minor faults, loss %.4f, arenas: "
                        "forward %.1f MB (peak %.1f), scratch %.1f MB (peak %.1f)\n",
                (long long)o->step + 1, threads, threads > 1 ? "s" : "", dt, o->faults,
                o->f.loss.total, u2_arena_bytes(&o->f.arena) / 1048576.0,
                o->f.arena.peak * 4.0 / 1048576.0, u2_arena_bytes(&o->scratch) / 1048576.0,
                o->scratch.peak * 4.0 / 1048576.0);
    if (o->step == 0) o->first = o->f.loss;
    if (!isfinite(o->f.loss.total))
        fprintf(stderr, "unimo2-bench: warning: our loss is %g at step %lld\n", o->f.loss.total,
                (long long)o->step + 1);
    o->step++;
    return dt;
}

/* One untimed step whose hard-negative captions are the longest ones (the
 * largest arenas any draw can need), then the arenas consolidated and their
 * pages touched, so that timed steps neither grow nor fault them. */
static void presize(ours_ctx *o, int threads)
{
    syn_batch *sb = o->sb;
    int bp = sb->bp, l1 = 0, l2 = 1;
    for (int i = 0; i < bp; i++)
        if (sb->len[i] > sb->len[l1]) l1 = i;
    if (l2 == l1) l2 = 0;
    for (int i = 0; i < bp; i++)
        if (i != l1 && sb->len[i] > sb->len[l2]) l2 = i;
    int32_t *ni = u2_malloc(sizeof(int32_t) * (size_t)bp), *nt = u2_malloc(sizeof(int32_t) * (size_t)bp);
    for (int i = 0; i < bp; i++) {
        ni[i] = (i + 1) % bp;
        nt[i] = i == l1 ? l2 : l1;
    }
    sb->b.itm_neg_img = ni;
    sb->b.itm_neg_txt = nt;
    ours_step(o, threads);
    sb->b.itm_neg_img = sb->b.itm_neg_txt = NULL;
    free(ni);
    free(nt);
    u2_arena *ar[2] = {&o->f.arena, &o->scratch};
    u2_fwd_reset(&o->f);
    for (int i = 0; i < 2; i++) {
        u2_arena_reset(ar[i]); /* one block of the peak size */
        size_t n = ar[i]->peak;
        if (n) memset(u2_arena_alloc(ar[i], n), 0, n * sizeof(float));
        u2_arena_reset(ar[i]);
    }
}

/* ------------------------------------------------------------ the peer */

typedef struct {
    int threads;
    pid_t pid;
    FILE *to, *from;
    int ok, verbose;
    double peak_rss_mb;
    json_t *ready, *first; /* the ready line, the first run's answer */
} peer;

static const char *find_script(const char *given)
{
    static const char *const cand[] = {U2_BENCH_SRCDIR "/bench/torch_peer.py",
                                       U2_BENCH_DATADIR "/torch_peer.py"};
    if (given) return given;
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++)
        if (access(cand[i], R_OK) == 0) return cand[i];
    return NULL;
}

static char *join_ints(const int *v, int n)
{
    char *s = u2_malloc((size_t)n * 12 + 1);
    size_t k = 0;
    for (int i = 0; i < n; i++) k += (size_t)sprintf(s + k, "%s%d", i ? "," : "", v[i]);
    s[k] = 0;
    return s;
}

static json_t *peer_read(peer *p)
{
    char *line = NULL;
    size_t cap = 0;
    json_t *j = NULL;
    if (getline(&line, &cap, p->from) > 0) j = json_loads(line, 0, NULL);
    free(line);
    if (!j || json_object_get(j, "error")) {
        if (j) fprintf(stderr, "unimo2-bench: peer: %s\n",
                       json_string_value(json_object_get(j, "error")));
        json_decref(j);
        p->ok = 0;
        return NULL;
    }
    return j;
}

static void peer_stop(peer *p)
{
    if (p->to) {
        if (p->ok) fprintf(p->to, "quit\n");
        fclose(p->to);
    }
    if (p->from) fclose(p->from);
    if (p->pid > 0) {
        int st;
        waitpid(p->pid, &st, 0);
    }
    json_decref(p->ready);
    json_decref(p->first);
    memset(p, 0, sizeof *p);
}

/* Start the peer for one thread count; it prints a "ready" line when built.
 * OpenBLAS reads OPENBLAS_NUM_THREADS (and a forced core type) when it loads,
 * so the environment is set in the child before exec. */
static int peer_start(peer *p, int threads, const train_args *a, const char *script,
                      const u2_config *c, const syn_batch *sb, int cpu_clock)
{
    memset(p, 0, sizeof *p);
    p->threads = threads;
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return -1;
    char *cj = u2_config_to_json(c, 1), *lens = join_ints(sb->len, sb->n_txt),
         *masked = join_ints(sb->masked, sb->n_txt);
    char tbuf[16], bbuf[16], wbuf[16], sbuf[32];
    snprintf(tbuf, sizeof tbuf, "%d", threads);
    snprintf(bbuf, sizeof bbuf, "%d", a->batch);
    snprintf(wbuf, sizeof wbuf, "%d", a->warmup);
    snprintf(sbuf, sizeof sbuf, "%llu", (unsigned long long)a->seed);
    const char *argv[32] = {a->python, script, "--serve", "--config", c->name, "--config-json", cj,
                            "--batch", bbuf, "--mix", a->mix_all ? "all" : "pairs", "--threads",
                            tbuf, "--seed", sbuf, "--lengths", lens, "--masked", masked};
    int n = 19;
    if (cpu_clock) argv[n++] = "--cpu-clock";
    argv[n] = NULL;
    /* the child's environment, built before fork (only exec-safe calls after) */
    extern char **environ;
    size_t ne = 0;
    while (environ[ne]) ne++;
    char **envp = u2_malloc(sizeof(char *) * (ne + 4));
    char ob[48], om[48];
    snprintf(ob, sizeof ob, "OPENBLAS_NUM_THREADS=%d", threads);
    snprintf(om, sizeof om, "OMP_NUM_THREADS=%d", threads);
    size_t k = 0;
    int have_wait = 0;
    for (size_t i = 0; i < ne; i++) {
        static const char *const drop[] = {"OPENBLAS_NUM_THREADS=", "OMP_NUM_THREADS=",
                                           "OPENBLAS_CORETYPE=", "OPENBLAS_L2_SIZE="};
        int keep = 1;
        for (size_t d = 0; d < sizeof drop / sizeof drop[0]; d++)
            if (!strncmp(environ[i], drop[d], strlen(drop[d]))) keep = 0;
        if (!strncmp(environ[i], "OMP_WAIT_POLICY=", 16)) have_wait = 1;
        if (keep) envp[k++] = environ[i];
    }
    envp[k++] = ob;
    envp[k++] = om;
    if (!have_wait) envp[k++] = "OMP_WAIT_POLICY=PASSIVE";
    envp[k] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execve(a->python, (char *const *)argv, envp);
        static const char msg[] = "unimo2-bench: cannot run the peer's interpreter\n";
        if (write(2, msg, sizeof msg - 1) < 0) _exit(127);
        _exit(127);
    }
    free(envp);
    free(cj);
    free(lens);
    free(masked);
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return -1;
    }
    p->pid = pid;
    p->to = fdopen(in[1], "w");
    p->from = fdopen(out[0], "r");
    p->ok = 1;
    return 0;
}

static int peer_wait_ready(peer *p)
{
    if (!p->ok) return -1;
    p->ready = peer_read(p);
    if (!p->ready || !json_is_true(json_object_get(p->ready, "ready"))) {
        p->ok = 0;
        return -1;
    }
    return 0;
}

/* Run n steps in the peer; times[] receives them (NULL: discarded). */
static int peer_run(peer *p, int n, double *times)
{
    if (!p->ok) return -1;
    fprintf(p->to, "run %d\n", n);
    fflush(p->to);
    json_t *j = peer_read(p);
    json_t *st = j ? json_object_get(j, "step_s") : NULL;
    if (!st || (int)json_array_size(st) != n) {
        json_decref(j);
        p->ok = 0;
        return -1;
    }
    for (int i = 0; times && i < n; i++) times[i] = json_number_value(json_array_get(st, (size_t)i));
    if (p->verbose)
        for (int i = 0; i < n; i++)
            fprintf(stderr, "peer step (%d thread%s): %.3f s, loss %.4f\n", p->threads,
                    p->threads > 1 ? "s" : "", json_number_value(json_array_get(st, (size_t)i)),
                    json_number_value(json_array_get(json_object_get(j, "loss"), (size_t)i)));
    p->peak_rss_mb = json_number_value(json_object_get(j, "peak_rss_mb"));
    if (!p->first) p->first = j;
    else json_decref(j);
    return 0;
}

/* ------------------------------------------------------------ the bench */

static double median_of(double *v, int n)
{
    double m = bench_median(v, n);
    return bench_use_best ? v[0] : m;
}

static double peer_part(const peer *p, const char *key)
{
    json_t *parts = p->first ? json_object_get(p->first, "parts") : NULL;
    json_t *v = parts ? json_object_get(parts, key) : NULL;
    return v ? json_number_value(v) : NAN;
}

static int python_has_torch(const char *python)
{
    if (access(python, X_OK) != 0) return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(python, python, "-c", "import torch", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0) return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int bench_train(int argc, char **argv)
{
    bench_opts o;
    train_args a = {.config = "small", .python = "/usr/bin/python3", .batch = 32, .warmup = 2,
                    .seed = 1};
    int rc = bench_parse(argc, argv, &o, usage_text, train_extra, &a);
    if (rc) return rc > 0 ? 0 : 2;
    if (!a.steps) a.steps = o.reps;
    u2_config cfg;
    if (u2_config_load(a.config, &cfg) != 0) {
        fprintf(stderr, "unimo2-bench: %s\n", u2_errmsg());
        return 2;
    }
    if (cfg.grounding != U2_GROUND_TOPK && !a.no_peer) {
        fprintf(stderr, "unimo2-bench: the PyTorch peer implements grounding=topk only; no peer\n");
        a.no_peer = 1;
    }
    syn_batch sb;
    batch_make(&sb, &cfg, a.batch, a.mix_all, a.seed);
    const int samples = sb.bp + sb.bt + 2 * sb.bi;

    /* the peers first: they import torch while we build, and forking before
     * our arenas exist keeps the fork cheap */
    const char *script = a.no_peer ? NULL : find_script(a.peer_script);
    int use_peer = !a.no_peer && script && python_has_torch(a.python);
    if (!a.no_peer && !use_peer)
        fprintf(stderr, "unimo2-bench: no PyTorch peer (%s)\n",
                !script ? "torch_peer.py not found; use --peer-script"
                        : "the interpreter cannot import torch; see --python");
    peer peers[BENCH_MAX_THREADS];
    memset(peers, 0, sizeof peers);
    signal(SIGPIPE, SIG_IGN);
    for (int ti = 0; use_peer && ti < o.nthreads; ti++) {
        if (peer_start(&peers[ti], o.threads[ti], &a, script, &cfg, &sb, bench_use_cpu_clock))
            fprintf(stderr, "unimo2-bench: cannot start the peer: %s\n", strerror(errno));
        peers[ti].verbose = a.verbose;
    }

    ours_ctx us;
    memset(&us, 0, sizeof us);
    if (u2_model_create(&us.m, &cfg) != 0) {
        fprintf(stderr, "unimo2-bench: %s\n", u2_errmsg());
        return 2;
    }
    u2_params_init(&us.m.L, us.m.params, a.seed);
    u2_optim_cfg oc;
    u2_optim_default(&oc);
    oc.warmup = 0;
    oc.schedule = U2_SCHED_CONSTANT;
    u2_optim_init(&us.opt, &oc, us.m.L.total);
    us.grads = u2_calloc((size_t)us.m.L.total, sizeof(float));
    u2_fwd_init(&us.f, &us.m, 1);
    u2_arena_init(&us.scratch);
    us.sb = &sb;
    us.seed = a.seed;
    us.verbose = a.verbose;

    for (int ti = 0; use_peer && ti < o.nthreads; ti++) {
        peer *p = &peers[ti];
        if (p->ok && peer_wait_ready(p)) {
            fprintf(stderr, "unimo2-bench: the peer at %d thread%s did not start (see above)\n",
                    o.threads[ti], o.threads[ti] > 1 ? "s" : "");
            continue;
        }
        /* the same work: parameters, padded length, samples, MLM positions */
        long long pp = json_integer_value(json_object_get(p->ready, "params"));
        int ptl = (int)json_integer_value(json_object_get(p->ready, "tl"));
        int psm = (int)json_integer_value(json_object_get(p->ready, "samples"));
        int pmlm = (int)json_integer_value(json_object_get(p->ready, "mlm_n"));
        int mlm = 0;
        for (int i = 0; i < sb.bp; i++) mlm += sb.masked[i];
        if (p->ok && (pp != u2_model_count(&us.m) || ptl != sb.tl || psm != samples || pmlm != mlm))
            fprintf(stderr, "unimo2-bench: warning: the peer's step differs: %lld parameters, "
                            "length %d, %d samples, %d MLM positions (ours %lld, %d, %d, %d)\n",
                    pp, ptl, psm, pmlm, (long long)u2_model_count(&us.m), sb.tl, samples, mlm);
    }

    /* The arenas grow when a step needs more than any before: an item's
     * grounding buffers follow its caption's length, so a new draw of hard
     * negatives can spill, and the next reset then replaces the arena with a
     * fresh (page-faulting) block.  In a long run that stops once the
     * longest captions have been drawn as negatives; here one step with the
     * worst case sizes the arenas, and touching them once faults them in. */
    presize(&us, o.threads[0]);
    /* warm-up: thread pools, caches, the peer's allocator */
    for (int ti = 0; ti < o.nthreads; ti++) {
        for (int w = 0; w < a.warmup; w++) ours_step(&us, o.threads[ti]);
        if (a.warmup && peers[ti].ok) peer_run(&peers[ti], a.warmup, NULL);
    }
    /* timed: one step of each in turn, so a busy machine slows both alike */
    const int N = a.steps, NT = o.nthreads;
    double *ts = u2_calloc((size_t)(2 * NT * N), sizeof(double));
    long faults = 0;
    for (int s = 0; s < N; s++)
        for (int ti = 0; ti < NT; ti++) {
            ts[(2 * ti) * N + s] = ours_step(&us, o.threads[ti]);
            if (us.faults > faults) faults = us.faults;
            if (peers[ti].ok) peer_run(&peers[ti], 1, &ts[(2 * ti + 1) * N + s]);
        }

    const double mb = 1.0 / (1024.0 * 1024.0);
    const double params_mb = 4.0 * (double)us.m.L.total * sizeof(float) * mb;
    const double fwd_mb = (double)us.f.arena.peak * sizeof(float) * mb;
    const double bwd_mb = (double)us.scratch.peak * sizeof(float) * mb;
    const double model_mb = params_mb + fwd_mb + bwd_mb;
    const double rss_mb = (double)bench_peak_rss_kib() / 1024.0;
    if (!o.json) {
        const u2_losses *L = &us.first;
        printf("unimo2-bench train: config %s (%lld parameters), kernels %s, %s of %d steps "
               "after %d warm-up, %s\n",
               cfg.name, (long long)u2_model_count(&us.m), u2_kern()->name,
               bench_use_best ? "best" : "median", N, a.warmup,
               bench_use_cpu_clock ? "process CPU time" : "wall time");
        printf("batch: %d pairs", sb.bp);
        if (sb.bt) printf(", %d text-only captions, %d images x 2 views", sb.bt, sb.bi);
        printf(" = %d samples; captions padded to %d tokens; %d MLM positions; %d fusion items\n",
               samples, sb.tl, us.f.mlm_n, us.f.nitems);
        printf("loss at init, ours: %.4f (mlm %.4f itm %.4f cmcl %.4f ground %.4f", L->total,
               L->mlm_pairs, L->itm, L->cmcl, L->ground_pairs);
        if (sb.bt) printf(" | mlm_t %.4f ground_t %.4f | vcl %.4f ground_i %.4f", L->mlm_texts,
                          L->ground_texts, L->vcl, L->ground_images);
        printf(")\n");
        for (int ti = 0; ti < NT; ti++) {
            const peer *p = &peers[ti];
            if (!p->first) continue;
            json_t *l = json_object_get(p->first, "loss");
            printf("loss at init, peer: %.4f (mlm %.4f itm %.4f cmcl %.4f ground %.4f",
                   json_number_value(json_array_get(l, 0)), peer_part(p, "mlm_pairs"),
                   peer_part(p, "itm"), peer_part(p, "cmcl"), peer_part(p, "ground_pairs"));
            if (sb.bt) printf(" | mlm_t %.4f ground_t %.4f | vcl %.4f ground_i %.4f",
                              peer_part(p, "mlm_texts"), peer_part(p, "ground_texts"),
                              peer_part(p, "vcl"), peer_part(p, "ground_images"));
            printf(") [PyTorch %s, %d thread%s]\n",
                   json_string_value(json_object_get(p->ready, "torch")), p->threads,
                   p->threads > 1 ? "s" : "");
        }
        printf("memory model %.1f MB = params+grads+AdamW %.1f + saved activations %.1f + "
               "backward scratch %.1f; our timed steps took up to %ld minor page faults\n",
               model_mb, params_mb, fwd_mb, bwd_mb, faults);
        printf("\n%3s %10s %9s %9s %9s %6s %10s %9s %9s %7s\n", "thr", "samples/s", "ms/step",
               "RSS MB", "model MB", "ratio", "peer s/s", "peer ms", "peer RSS", "x peer");
    }
    for (int ti = 0; ti < NT; ti++) {
        const int T = o.threads[ti];
        const double ours_s = median_of(&ts[(2 * ti) * N], N);
        const peer *p = &peers[ti];
        const double peer_s = p->ok ? median_of(&ts[(2 * ti + 1) * N], N) : 0.0;
        const double sps = samples / ours_s, psps = p->ok ? samples / peer_s : 0.0;
        if (o.json) {
            printf("{\"bench\":\"train\",\"config\":\"%s\",\"batch\":%d,\"mix\":\"%s\","
                   "\"threads\":%d,\"samples_per_s\":%.3f,\"peak_rss_mb\":%.1f,"
                   "\"mem_model_mb\":%.1f,\"rss_ratio\":%.3f,",
                   cfg.name, a.batch, a.mix_all ? "all" : "pairs", T, sps, rss_mb, model_mb,
                   rss_mb / model_mb);
            if (p->ok)
                printf("\"peer\":\"pytorch\",\"peer_samples_per_s\":%.3f,\"peer_peak_rss_mb\":%.1f}\n",
                       psps, p->peak_rss_mb);
            else
                printf("\"peer\":null,\"peer_samples_per_s\":null,\"peer_peak_rss_mb\":null}\n");
        } else {
            printf("%3d %10.2f %9.1f %9.1f %9.1f %6.2f", T, sps, 1e3 * ours_s, rss_mb, model_mb,
                   rss_mb / model_mb);
            if (p->ok)
                printf(" %10.2f %9.1f %9.1f %7.2f", psps, 1e3 * peer_s, p->peak_rss_mb,
                       sps / psps);
            else
                printf(" %10s %9s %9s %7s", "-", "-", "-", "-");
            printf("\n");
        }
    }
    fflush(stdout);
    for (int ti = 0; ti < NT; ti++) peer_stop(&peers[ti]);
    free(ts);
    u2_arena_free(&us.scratch);
    u2_fwd_free(&us.f);
    free(us.grads);
    u2_optim_free(&us.opt);
    u2_model_free(&us.m);
    batch_free(&sb);
    return 0;
}
