#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "train.h"
#include "backward.h"
#include "checkpoint.h"
#include "data.h"
#include "dist.h"
#include "fileio.h"
#include "kernels.h"
#include "model.h"
#include "plot.h"
#include "progress.h"
#include "tokenizer.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

void u2_train_defaults(u2_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->config = "mini";
    o->steps = 1000;
    o->seed = 1;
    o->bp = 16;
    o->bt = 16;
    o->bi = 8;
    o->accum = 1;
    o->use_pairs = o->use_texts = o->use_images = 1;
    o->mask_pairs = 0.30f;
    o->mask_texts = 0.15f;
    o->whole_word = 1;
    u2_optim_default(&o->optim);
    o->optim.warmup = -1; /* derived from steps */
    o->ckpt_every = 200;
    o->log_every = 10;
}

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static int path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* The trainer's state saved in a checkpoint: what makes a resumed run the same run. */
static char *state_json(const u2_train_opts *o, int64_t step)
{
    json_t *j = json_object();
    json_object_set_new(j, "version", json_integer(1));
    json_object_set_new(j, "step", json_integer(step));
    json_object_set_new(j, "steps", json_integer(o->steps));
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    json_object_set_new(j, "seed", json_string(seed));
    json_object_set_new(j, "bp", json_integer(o->bp));
    json_object_set_new(j, "bt", json_integer(o->bt));
    json_object_set_new(j, "bi", json_integer(o->bi));
    json_object_set_new(j, "accum", json_integer(o->accum));
    /* a step is accum x ranks micro-batches: any split of that product resumes the run */
    json_object_set_new(j, "ranks", json_integer(u2_dist_size()));
    json_object_set_new(j, "use_pairs", json_integer(o->use_pairs));
    json_object_set_new(j, "use_texts", json_integer(o->use_texts));
    json_object_set_new(j, "use_images", json_integer(o->use_images));
    json_object_set_new(j, "mask_pairs", json_real(o->mask_pairs));
    json_object_set_new(j, "mask_texts", json_real(o->mask_texts));
    json_object_set_new(j, "whole_word", json_integer(o->whole_word));
    json_object_set_new(j, "lr", json_real(o->optim.lr));
    json_object_set_new(j, "lr_min_ratio", json_real(o->optim.lr_min_ratio));
    json_object_set_new(j, "warmup", json_integer(o->optim.warmup));
    json_object_set_new(j, "schedule", json_integer(o->optim.schedule));
    json_object_set_new(j, "weight_decay", json_real(o->optim.weight_decay));
    json_object_set_new(j, "clip", json_real(o->optim.clip));
    json_object_set_new(j, "data_position", json_integer(step)); /* batches are f(seed, step) */
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(j);
    char *r = u2_strdup(s);
    free(s);
    return r;
}

static int state_parse(const char *js, const char *path, u2_train_opts *o, int64_t *step,
                       int *ranks)
{
    json_error_t je;
    json_t *j = json_loads(js, 0, &je);
    if (!j) return u2_fail(path, "corrupt trainer state in the checkpoint: %s", je.text);
    int ok = json_integer_value(json_object_get(j, "version")) == 1;
    *step = json_integer_value(json_object_get(j, "step"));
    const char *seed = json_string_value(json_object_get(j, "seed"));
    if (!ok || !seed) {
        json_decref(j);
        return u2_fail(path, "unsupported trainer state (version) in the checkpoint");
    }
    o->seed = strtoull(seed, NULL, 10);
#define GI(k) o->k = (int)json_integer_value(json_object_get(j, #k))
#define GF(k, dst) dst = (float)json_number_value(json_object_get(j, k))
    GI(bp);
    GI(bt);
    GI(bi);
    GI(accum);
    if (o->accum < 1) o->accum = 1;
    json_t *jr = json_object_get(j, "ranks"); /* absent before data-parallel training: 1 */
    *ranks = jr && json_integer_value(jr) > 0 ? (int)json_integer_value(jr) : 1;
    GI(use_pairs);
    GI(use_texts);
    GI(use_images);
    GI(whole_word);
    GF("mask_pairs", o->mask_pairs);
    GF("mask_texts", o->mask_texts);
    GF("lr", o->optim.lr);
    GF("lr_min_ratio", o->optim.lr_min_ratio);
    GF("weight_decay", o->optim.weight_decay);
    GF("clip", o->optim.clip);
    o->optim.warmup = json_integer_value(json_object_get(j, "warmup"));
    o->optim.schedule = (u2_schedule)json_integer_value(json_object_get(j, "schedule"));
#undef GI
#undef GF
    json_decref(j);
    return 0;
}

/* dst += w * src for the loss values, counts summed (micro-batches of a step) */
static void losses_add(u2_losses *dst, const u2_losses *src, double w)
{
    dst->mlm_pairs += w * src->mlm_pairs;
    dst->mlm_texts += w * src->mlm_texts;
    dst->itm += w * src->itm;
    dst->cmcl += w * src->cmcl;
    dst->vcl += w * src->vcl;
    dst->ground_pairs += w * src->ground_pairs;
    dst->ground_texts += w * src->ground_texts;
    dst->ground_images += w * src->ground_images;
    dst->pairs += w * src->pairs;
    dst->texts += w * src->texts;
    dst->images += w * src->images;
    dst->total += w * src->total;
    dst->mlm_pairs_n += src->mlm_pairs_n;
    dst->mlm_texts_n += src->mlm_texts_n;
    dst->mlm_pairs_ok += src->mlm_pairs_ok;
    dst->mlm_texts_ok += src->mlm_texts_ok;
    dst->itm_ok += src->itm_ok;
    dst->itm_n += src->itm_n;
}

static const char *csv_header =
    "step,lr,loss,mlm_pairs,mlm_texts,itm,cmcl,vcl,ground_pairs,ground_texts,ground_images,"
    "mlm_acc,itm_acc,grad_norm,tau,temp,samples_per_s,elapsed_s\n";

/* Keep the rows of a log up to `step` (a resumed run rewrites what came after). */
static int csv_truncate(const char *path, int64_t step)
{
    size_t len;
    char *buf = u2_read_file(path, &len);
    if (!buf) {
        u2_clear_error();
        return u2_write_file_atomic(path, csv_header, strlen(csv_header), 0);
    }
    u2_afile *a = u2_atomic_open(path);
    if (!a) {
        free(buf);
        return -1;
    }
    char *save = NULL;
    int first = 1;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!first && strtoll(line, NULL, 10) > step) break;
        u2_atomic_printf(a, "%s\n", line);
        first = 0;
    }
    free(buf);
    return u2_atomic_commit(a);
}

/* Loss curves of the CSV log as an SVG next to it. */
static int plot_log(const char *csv, const char *svg)
{
    size_t len;
    char *buf = u2_read_file(csv, &len);
    if (!buf) return -1;
    enum { NS = 9 };
    const char *names[NS] = {"total", "MLM (pairs)", "MLM (texts)", "ITM", "CMCL", "VCL",
                             "ground (pairs)", "ground (texts)", "ground (images)"};
    int cap = 1024, n = 0;
    double *x = u2_malloc(sizeof(double) * (size_t)cap), *y[NS];
    for (int s = 0; s < NS; s++) y[s] = u2_malloc(sizeof(double) * (size_t)cap);
    char *save = NULL;
    int header = 1;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (header) {
            header = 0;
            continue;
        }
        double v[18];
        char *p = line;
        int k = 0;
        for (; k < 18 && *p; k++) {
            v[k] = strtod(p, &p);
            if (*p == ',') p++;
        }
        if (k < 11) continue;
        if (n == cap) {
            cap *= 2;
            x = u2_realloc(x, sizeof(double) * (size_t)cap);
            for (int s = 0; s < NS; s++) y[s] = u2_realloc(y[s], sizeof(double) * (size_t)cap);
        }
        x[n] = v[0];
        for (int s = 0; s < NS; s++) y[s][n] = v[2 + s] > 0 ? v[2 + s] : NAN;
        n++;
    }
    free(buf);
    u2_series ser[NS];
    int ns = 0;
    for (int s = 0; s < NS; s++) {
        int any = 0;
        for (int i = 0; i < n; i++) any |= isfinite(y[s][i]);
        if (any) ser[ns++] = (u2_series){names[s], x, y[s], n};
    }
    int rc = u2_plot_lines(svg, "unimo2 training losses", "step", "loss", ser, ns, 1);
    free(x);
    for (int s = 0; s < NS; s++) free(y[s]);
    return rc;
}

static u2_tokenizer *get_tokenizer(const u2_train_opts *o, int vocab, int *trained)
{
    char p[4096];
    *trained = 0;
    if (o->tokenizer) return u2_tok_load_dir(o->tokenizer);
    snprintf(p, sizeof p, "%s/vocab.json", o->out_dir);
    if (path_exists(p)) return u2_tok_load_dir(o->out_dir);
    snprintf(p, sizeof p, "%s/tokenizer/vocab.json", o->data_dir);
    if (path_exists(p)) {
        snprintf(p, sizeof p, "%s/tokenizer", o->data_dir);
        return u2_tok_load_dir(p);
    }
    /* learn one from the data's texts and captions */
    char texts[4096], caps[4096];
    snprintf(texts, sizeof texts, "%s/texts.txt", o->data_dir);
    snprintf(caps, sizeof caps, "%s/captions.txt", o->data_dir);
    const char *files[2];
    int nf = 0;
    if (path_exists(texts)) files[nf++] = texts;
    if (path_exists(caps)) files[nf++] = caps;
    if (!nf) {
        u2_fail(o->data_dir, "no tokenizer given (--tokenizer DIR) and no texts.txt to learn one from");
        return NULL;
    }
    if (!o->quiet)
        fprintf(stderr, "unimo2: no tokenizer given: learning a %d-token vocabulary from %s\n",
                vocab, texts);
    u2_tok_train_opts to = {.vocab_size = vocab, .min_frequency = 2};
    u2_tokenizer *t = u2_tok_train(files, nf, &to, NULL);
    if (t) *trained = 1;
    return t;
}

static int train_run(u2_train_opts *op);

int u2_train(const u2_train_opts *oin)
{
    u2_train_opts o = *oin;
    /* from the start: a signal during set-up must not kill the process half-way */
    stop_signal = 0;
    struct sigaction sa, old_int, old_term, old_usr1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* mpirun forwards SIGUSR1 to every rank (SIGTERM it follows with SIGKILL after a second) */
    const int usr1 = u2_dist_size() > 1;
    if (usr1) sigaction(SIGUSR1, &sa, &old_usr1);
    int rc_all = train_run(&o);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (usr1) sigaction(SIGUSR1, &old_usr1, NULL);
    return rc_all;
}

/* After a set-up phase every rank ran: 0 when all succeeded, else what this
 * rank returns.  The first failing rank reports its own error, rank 0 says
 * which rank failed, the others stop quietly (3).  One process: 0 or 1. */
static int agree(int failed, const char *what)
{
    if (u2_dist_size() < 2) return failed ? 1 : 0;
    const int who = u2_dist_first(failed), me = u2_dist_rank();
    if (who < 0) return 0;
    if (me == who) return 1;
    if (me == 0) return u2_fail(NULL, "rank %d failed %s; all ranks stopped", who, what), 1;
    return 3;
}

/* The weights and moments: data-parallel ranks must hold the same ones. */
static uint64_t state_hash(const u2_model *m, const u2_optim *opt)
{
    const size_t n = sizeof(float) * (size_t)m->L.total;
    uint64_t h = XXH3_64bits(m->params, n);
    h = XXH3_64bits_withSeed(opt->m, n, h);
    return XXH3_64bits_withSeed(opt->v, n, h);
}

/* --inject-rank-failure: this rank dies (or hangs) before computing a step. */
static void inject_rank_failure(const u2_train_opts *o, int64_t step)
{
    fprintf(stderr, "unimo2: rank %d: --inject-rank-failure: %s before step %lld (test hook)\n",
            u2_dist_rank(), o->inject_fail_hang ? "hanging" : "exiting", (long long)step);
    fflush(stderr);
    if (!o->inject_fail_hang) _exit(1);
    for (;;) pause();
}

/* The model and optimiser: a new run, or the one in the checkpoint (every rank
 * reads it).  0 or -1 (error recorded). */
static int load_or_create(u2_train_opts *o, const char *ckpt, u2_model *m, u2_optim *opt,
                          int64_t *step0)
{
    const int64_t steps_asked = o->steps;
    if (!o->resume) {
        u2_config cfg;
        if (u2_config_load(o->config, &cfg) != 0) return -1;
        if (o->grounding) {
            if (!strcmp(o->grounding, "topk")) cfg.grounding = U2_GROUND_TOPK;
            else if (!strcmp(o->grounding, "nearest")) cfg.grounding = U2_GROUND_NEAREST;
            else if (!strcmp(o->grounding, "none")) cfg.grounding = U2_GROUND_NONE;
            else return u2_fail("--grounding", "must be topk, nearest or none");
        }
        if (o->fusion) {
            if (!strcmp(o->fusion, "grounded")) cfg.fusion = U2_FUSION_GROUNDED;
            else if (!strcmp(o->fusion, "full")) cfg.fusion = U2_FUSION_FULL;
            else return u2_fail("--fusion", "must be grounded or full");
        }
        if (u2_model_create(m, &cfg) != 0) return -1;
        u2_params_init(&m->L, m->params, o->seed);
        if (o->optim.warmup < 0) o->optim.warmup = o->steps / 20;
        o->optim.total = o->steps;
        u2_optim_init(opt, &o->optim, m->L.total);
        return 0;
    }
    if (!path_exists(ckpt))
        return u2_fail(ckpt, "no checkpoint to resume from (run without --resume first)");
    char *sj = NULL;
    opt->cfg = o->optim;
    if (u2_ckpt_load(ckpt, m, opt, &sj) != 0) return -1;
    int ranks = 1;
    int rc = state_parse(sj, ckpt, o, step0, &ranks);
    free(sj);
    if (rc) return -1;
    /* the step's micro-batches (accum x ranks) define the run; these ranks share them */
    const int R = u2_dist_size(), G = o->accum * ranks;
    if (G % R)
        return u2_fail(ckpt, "the run takes %d micro-batches per step (--accum %d on %d rank%s); "
                             "%d ranks cannot share them: use a number of ranks that divides %d",
                       G, o->accum, ranks, ranks > 1 ? "s" : "", R, G);
    o->accum = G / R;
    o->optim.total = o->steps = steps_asked;
    opt->cfg = o->optim;
    opt->step = *step0;
    if (!o->quiet)
        fprintf(stderr, "unimo2: resuming %s at step %lld of %lld\n", ckpt, (long long)*step0,
                (long long)o->steps);
    return 0;
}

/* The tokenizer: checked against the model, saved in OUT when `save`.  0 or -1. */
static int setup_tokenizer(const u2_train_opts *o, u2_model *m, const char *ckpt, int save,
                           u2_tokenizer **out)
{
    const u2_config *c = &m->L.cfg;
    int trained = 0;
    u2_tokenizer *tok = get_tokenizer(o, c->vocab_size, &trained);
    if (!tok) return -1;
    *out = tok;
    if (u2_tok_vocab_size(tok) > c->vocab_size)
        return u2_fail(o->tokenizer ? o->tokenizer : o->out_dir,
                       "the tokenizer has %d tokens but the config's vocab_size is %d",
                       u2_tok_vocab_size(tok), c->vocab_size);
    char fp[17];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)u2_tok_fingerprint(tok));
    if (o->resume && m->tokenizer_fp[0] && strcmp(fp, m->tokenizer_fp) != 0)
        return u2_fail(ckpt, "was trained with another tokenizer (fingerprint %s, now %s)",
                       m->tokenizer_fp, fp);
    memcpy(m->tokenizer_fp, fp, sizeof fp);
    return save ? u2_tok_save(tok, o->out_dir) : 0;
}

/* The gradients of a step: micro-batch 0 straight into `sum`, each later one
 * into `mb` (zeroed) and then added, so that the step's sum is
 * ((g0 + g1) + g2) + ..., a sum of whole micro-batch gradients as the ranks
 * form it: two ranks reproduce --accum 2 bit for bit, and any N within the
 * bound of reordering N summands (doc/scaling.md). */
typedef struct {
    float *sum, *mb;
    int add;  /* the pass writes mb: add each finished range to sum */
    int dist; /* then start averaging it over the ranks */
} step_grads;

static void grads_ready(void *ctx, int64_t begin, int64_t end)
{
    step_grads *sg = ctx;
    if (sg->add) u2_kern()->add(sg->sum + begin, sg->sum + begin, sg->mb + begin, end - begin);
    if (sg->dist) u2_dist_grad_ready(sg->sum, begin, end);
}

/* Per-step figures summed over the ranks in one reduction. */
enum {
    ST_MLM_P, ST_MLM_T, ST_ITM, ST_CMCL, ST_VCL, ST_GP, ST_GT, ST_GI, ST_PAIRS, ST_TEXTS, ST_IMAGES,
    ST_TOTAL, ST_MLM_PN, ST_MLM_TN, ST_MLM_POK, ST_MLM_TOK, ST_ITM_OK, ST_ITM_N, ST_SAMPLES,
    ST_BAD, ST_STOP, ST_COMPUTE, ST_WAIT, NSTAT
};

static void stats_pack(double *v, const u2_losses *L, int samples, int bad, int stop,
                       double compute_s, double wait_s)
{
    const double x[NSTAT] = {L->mlm_pairs, L->mlm_texts, L->itm, L->cmcl, L->vcl, L->ground_pairs,
                             L->ground_texts, L->ground_images, L->pairs, L->texts, L->images,
                             L->total, L->mlm_pairs_n, L->mlm_texts_n, L->mlm_pairs_ok,
                             L->mlm_texts_ok, L->itm_ok, L->itm_n, samples, bad, stop, compute_s,
                             wait_s};
    memcpy(v, x, sizeof x);
}

static void stats_unpack(const double *v, u2_losses *L, int *samples)
{
    L->mlm_pairs = v[ST_MLM_P];
    L->mlm_texts = v[ST_MLM_T];
    L->itm = v[ST_ITM];
    L->cmcl = v[ST_CMCL];
    L->vcl = v[ST_VCL];
    L->ground_pairs = v[ST_GP];
    L->ground_texts = v[ST_GT];
    L->ground_images = v[ST_GI];
    L->pairs = v[ST_PAIRS];
    L->texts = v[ST_TEXTS];
    L->images = v[ST_IMAGES];
    L->total = v[ST_TOTAL];
    L->mlm_pairs_n = (int)v[ST_MLM_PN];
    L->mlm_texts_n = (int)v[ST_MLM_TN];
    L->mlm_pairs_ok = (int)v[ST_MLM_POK];
    L->mlm_texts_ok = (int)v[ST_MLM_TOK];
    L->itm_ok = (int)v[ST_ITM_OK];
    L->itm_n = (int)v[ST_ITM_N];
    *samples = (int)v[ST_SAMPLES];
}

static int train_run(u2_train_opts *op)
{
    u2_train_opts o = *op;
    /* data-parallel: R ranks of o.accum micro-batches each, G micro-batches per step */
    const int R = u2_dist_size(), rank = u2_dist_rank(), dist = R > 1;
    char ckpt[4096], csv[4096], svg[4096], mpath[4096], cfgp[4096], note[4400];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", o.out_dir);
    snprintf(csv, sizeof csv, "%s/train.csv", o.out_dir);
    snprintf(svg, sizeof svg, "%s/loss.svg", o.out_dir);
    snprintf(mpath, sizeof mpath, "%s/model.safetensors", o.out_dir);
    snprintf(cfgp, sizeof cfgp, "%s/config.json", o.out_dir);

    u2_model m;
    u2_optim opt;
    u2_corpus corpus;
    memset(&m, 0, sizeof m);
    memset(&opt, 0, sizeof opt);
    memset(&corpus, 0, sizeof corpus);
    u2_tokenizer *tok = NULL;
    FILE *log = NULL;
    u2_prefetch *pf = NULL;
    float *grads = NULL, *mbgrads = NULL;
    int64_t step0 = 0;
    int st;

    /* only rank 0 writes OUT; every rank reads the checkpoint, then agrees it is the same */
    int failed = rank == 0 && u2_mkdir_p(o.out_dir) != 0;
    if (!failed) failed = load_or_create(&o, ckpt, &m, &opt, &step0) != 0;
    if ((st = agree(failed, "to set up the model"))) goto done;
    if (dist && !u2_dist_same(state_hash(&m, &opt))) {
        st = rank ? 3 : (u2_fail(ckpt, "the ranks start from different weights (is OUT on a "
                                       "filesystem every rank sees?)"), 1);
        goto done;
    }
    const u2_config *c = &m.L.cfg;
    const int64_t G = (int64_t)o.accum * R;

    /* rank 0 finds (or learns) the tokenizer and saves it in OUT, where the others find it */
    failed = rank == 0 && setup_tokenizer(&o, &m, ckpt, 1, &tok) != 0;
    if ((st = agree(failed, "to set up the tokenizer"))) goto done;
    failed = rank != 0 && setup_tokenizer(&o, &m, ckpt, 0, &tok) != 0;
    if ((st = agree(failed, "to load the tokenizer rank 0 saved"))) goto done;
    if (dist && !u2_dist_same(u2_tok_fingerprint(tok))) {
        st = rank ? 3 : (u2_fail(o.out_dir, "the ranks read different tokenizers (OUT and the "
                                            "data must be the same for every rank)"), 1);
        goto done;
    }

    u2_corpus_opts co = {.pairs = o.use_pairs, .texts = o.use_texts, .images = o.use_images,
                         .max_len = c->max_text_len, .validate_images = 1, .quiet = o.quiet};
    failed = u2_corpus_load(&corpus, o.data_dir, tok, &co) != 0;
    if (!failed && !o.quiet)
        fprintf(stderr, "unimo2: data %s: %d pairs, %d texts, %d images; model %s (%lld parameters), "
                        "kernels %s, %d threads\n",
                o.data_dir, corpus.npairs, corpus.ntexts, corpus.nimages, c->name,
                (long long)u2_model_count(&m), u2_kern()->name, u2_num_threads());
    if (!failed && dist && !o.quiet)
        fprintf(stderr, "unimo2: data-parallel: %d ranks x %d micro-batch%s = %lld per step; "
                        "%.1f MB of gradients all-reduced per step\n",
                R, o.accum, o.accum > 1 ? "es" : "", (long long)G, 4e-6 * (double)m.L.total);
    /* rank 0 keeps the log */
    if (!failed && rank == 0) {
        if (o.resume) failed = csv_truncate(csv, step0) != 0;
        else failed = u2_write_file_atomic(csv, csv_header, strlen(csv_header), 0) != 0;
        if (!failed && !(log = fopen(csv, "a"))) {
            u2_fail(csv, "cannot append to the log: %s", strerror(errno));
            failed = 1;
        }
        if (!failed) {
            char *cj = u2_config_to_json(c, 0);
            failed = u2_write_file_atomic(cfgp, cj, strlen(cj), 0) != 0;
            free(cj);
        }
    }
    if ((st = agree(failed, "to load the data"))) goto done;

    u2_batch_opts bo = {.bp = o.bp, .bt = o.bt, .bi = o.bi, .mask_pairs = o.mask_pairs,
                        .mask_texts = o.mask_texts, .whole_word = o.whole_word,
                        .image_size = c->image_size, .vocab = u2_tok_vocab_size(tok),
                        .mask_id = u2_tok_special_id(tok, U2_TOK_MASK), .seed = o.seed};
    u2_augment_defaults(&bo.aug);

    /* micro-batch a of rank r at step s is batch s*G + a*R + r of the data order: one
     * process with --accum G computes the same batches (doc/scaling.md) */
    pf = u2_prefetch_start(&corpus, &bo, step0 * G + rank, R);
    grads = u2_malloc(sizeof(float) * (size_t)m.L.total);
    if (o.accum > 1) mbgrads = u2_malloc(sizeof(float) * (size_t)m.L.total);
    u2_fwd f;
    u2_fwd_init(&f, &m, 1);
    u2_arena scratch;
    u2_arena_init(&scratch);
    u2_progress prog;
    u2_progress_start(&prog, "train", o.steps);
    double t0 = u2_now(), tlast = t0;
    int64_t step = step0, last_ckpt = step0;
    int status = 0, gstop = 0;
    double compute_mean = 0.0, wait_mean = 0.0;
    if (step0 > 0) {
        snprintf(note, sizeof note, "the last checkpoint (step %lld) stays in %s",
                 (long long)last_ckpt, ckpt);
        u2_dist_set_note(note);
    }
    if ((dist ? u2_dist_first(stop_signal != 0) >= 0 : stop_signal != 0) && step < o.steps) {
        if (rank == 0)
            fprintf(stderr, "unimo2: interrupted before step %lld; nothing new to save\n",
                    (long long)step + 1);
        status = 130;
    }
    while (status == 0 && step < o.steps) {
        u2_dist_begin_step(step + 1);
        if (o.inject_fail_step > 0 && step + 1 == o.inject_fail_step && rank == o.inject_fail_rank)
            inject_rank_failure(&o, step + 1);
        u2_losses L = {0};
        int samples = 0, bad = 0, started = 0;
        const double tc = u2_now();
        memset(grads, 0, sizeof(float) * (size_t)m.L.total);
        for (int mb = 0; mb < o.accum && !bad; mb++) {
            const u2_batch_buf *bb = pf ? u2_prefetch_next(pf) : NULL;
            if (!bb) {
                bad = 1;
                break;
            }
            if (o.inject_nan_at > 0 && step + 1 == o.inject_nan_at) m.w.cls[0] = NAN;
            u2_fwd_reset(&f);
            u2_forward_batch(&f, &bb->b);
            if (!isfinite(f.loss.total)) {
                u2_fail(o.out_dir,
                        "the loss became %g at step %lld (lower --lr?); training stopped, the last "
                        "good checkpoint (step %lld) is kept in %s",
                        f.loss.total, (long long)step + 1, (long long)last_ckpt, ckpt);
                bad = 1;
                break;
            }
            /* with ranks, the last micro-batch's backward starts averaging the gradients */
            step_grads sg = {grads, mbgrads, mb > 0, dist && mb == o.accum - 1};
            if (sg.add) memset(mbgrads, 0, sizeof(float) * (size_t)m.L.total);
            u2_backward_batch(&f, sg.add ? mbgrads : grads, &scratch,
                              sg.add || sg.dist ? grads_ready : NULL, &sg);
            started |= sg.dist;
            losses_add(&L, &f.loss, 1.0 / (double)G);
            samples += bb->b.bp + bb->b.bt + bb->b.bi;
        }
        if (dist) {
            /* a rank that failed still enters the same collectives, then all stop together */
            if (!started) u2_grad_ranges(&m.L, u2_dist_grad_ready, grads);
            const double compute_s = u2_now() - tc;
            u2_dist_grad_wait();
            double v[NSTAT];
            stats_pack(v, &L, samples, bad, stop_signal != 0, compute_s, u2_dist_take_wait_s());
            u2_dist_sum(v, NSTAT);
            stats_unpack(v, &L, &samples);
            if (v[ST_BAD] > 0) {
                const int who = u2_dist_first(bad);
                if (bad) status = 1;
                else if (rank == 0)
                    status = 1, u2_fail(NULL, "rank %d failed at step %lld; all ranks stopped, the last "
                                              "checkpoint (step %lld) stays in %s",
                                        who, (long long)step + 1, (long long)last_ckpt, ckpt);
                else status = 3;
                break;
            }
            gstop = v[ST_STOP] > 0;
            compute_mean = v[ST_COMPUTE] / R;
            wait_mean = v[ST_WAIT] / R;
        } else if (bad) {
            status = 1;
            break;
        }
        if (G > 1) u2_kern()->scale(grads, 1.0f / (float)G, m.L.total);
        float lr = u2_optim_lr(&opt.cfg, opt.step);
        double gnorm = u2_optim_step(&opt, &m, grads);
        step++;
        double now = u2_now();
        double sps = samples / fmax(now - tlast, 1e-9);
        tlast = now;
        double mlm_acc = (L.mlm_pairs_n + L.mlm_texts_n)
                             ? (double)(L.mlm_pairs_ok + L.mlm_texts_ok) / (L.mlm_pairs_n + L.mlm_texts_n)
                             : NAN;
        double itm_acc = L.itm_n ? (double)L.itm_ok / L.itm_n : NAN;
        if (log) {
            fprintf(log, "%lld,%.6g,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f,%.4f,%.5g,%.5g,%.5g,%.2f,%.2f\n",
                    (long long)step, lr, L.total, L.mlm_pairs, L.mlm_texts, L.itm, L.cmcl, L.vcl,
                    L.ground_pairs, L.ground_texts, L.ground_images, mlm_acc, itm_acc, gnorm,
                    m.w.gd_tau ? m.w.gd_tau[0] : 0.0f, m.w.cmcl_temp[0], sps, now - t0);
            fflush(log);
        }
        if (o.json && rank == 0 && (step % (o.log_every > 0 ? o.log_every : 1) == 0 || step == o.steps)) {
            printf("{\"step\":%lld,\"loss\":%.6f,\"mlm\":%.6f,\"itm\":%.6f,\"cmcl\":%.6f,\"vcl\":%.6f,"
                   "\"ground\":%.6f,\"lr\":%.6g,\"grad_norm\":%.5g,\"samples_per_s\":%.2f",
                   (long long)step, L.total, L.mlm_pairs + L.mlm_texts, L.itm, L.cmcl, L.vcl,
                   L.ground_pairs + L.ground_texts + L.ground_images, lr, gnorm, sps);
            /* seconds of this step, means over the ranks: forward + backward (the all-reduce
             * overlapping it included), then blocked waiting for the all-reduce to finish */
            if (dist)
                printf(",\"ranks\":%d,\"compute_s\":%.6f,\"allreduce_wait_s\":%.6f", R,
                       compute_mean, wait_mean);
            printf("}\n");
        }
        u2_progress_update(&prog, step, "loss %.3f (mlm %.2f itm %.2f cmcl %.2f vcl %.2f gd %.3f) %.1f samples/s",
                           L.total, L.mlm_pairs + L.mlm_texts, L.itm, L.cmcl, L.vcl,
                           L.ground_pairs + L.ground_texts + L.ground_images, sps);
        const int signalled = dist ? gstop : stop_signal != 0;
        int stopping = signalled || (o.stop_at > 0 && step >= o.stop_at);
        if (stopping || step == o.steps || (o.ckpt_every > 0 && step % o.ckpt_every == 0)) {
            if (dist && !u2_dist_same(state_hash(&m, &opt))) {
                status = rank ? 3 : (u2_fail(NULL, "the ranks' weights differ after step %lld",
                                             (long long)step), 1);
                break;
            }
            int rc = 0;
            if (rank == 0) {
                char *sj = state_json(&o, step);
                rc = u2_ckpt_save(ckpt, &m, &opt, sj);
                free(sj);
                if (!rc) plot_log(csv, svg);
            }
            if ((status = agree(rc != 0, "to write the checkpoint"))) break;
            last_ckpt = step;
            snprintf(note, sizeof note, "the last checkpoint (step %lld) stays in %s",
                     (long long)last_ckpt, ckpt);
            u2_dist_set_note(note);
        }
        if (stopping && step < o.steps) {
            u2_progress_end(&prog);
            if (rank == 0)
                fprintf(stderr, "unimo2: %s at step %lld; checkpoint saved in %s (continue with --resume)\n",
                        signalled ? "interrupted" : "stopped", (long long)step, ckpt);
            status = 130;
            break;
        }
    }
    if (status == 0) {
        u2_progress_end(&prog);
        /* the final checkpoint already holds these weights */
        int rc = rank == 0 && (u2_model_save(&m, mpath) != 0 || plot_log(csv, svg) != 0);
        status = agree(rc, "to write the model");
        if (!status && !o.quiet)
            fprintf(stderr, "unimo2: wrote %s, %s, %s (%.1f s)\n", mpath, csv, svg, u2_now() - t0);
    }
    u2_prefetch_stop(pf);
    u2_arena_free(&scratch);
    u2_fwd_free(&f);
    st = status;
done:
    free(grads);
    free(mbgrads);
    if (log) fclose(log);
    u2_corpus_free(&corpus);
    u2_tok_free(tok);
    u2_optim_free(&opt);
    u2_model_free(&m);
    return st;
}
