/* unimo2 train: pretrain on the three corpora of a data directory. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "dist.h"
#include "kernels.h"
#include "progress.h"
#include "train.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: unimo2 train --config NAME|FILE.json --data DIR --steps N --out DIR [options]\n\n"
           "Pretrain UNIMO-2 on the pairs, texts and images of DIR (unimo2 gen-data makes one).\n"
           "OUT receives model.safetensors, config.json, vocab.json, merges.txt,\n"
           "checkpoint.safetensors, train.csv and loss.svg.\n\n"
           "  --config NAME|FILE     tiny, mini, small, base, or a JSON config (default mini)\n"
           "  --data DIR             data directory (pairs.jsonl, images.jsonl, texts.txt)\n"
           "  --steps N              total optimisation steps of the run\n"
           "  --out DIR              output directory\n"
           "  --resume               continue the run saved in OUT/checkpoint.safetensors\n"
           "  --tokenizer DIR        vocab.json + merges.txt (default: OUT's, DATA/tokenizer, or\n"
           "                         learn one from DATA/texts.txt)\n"
           "  --threads T            threads (default UNIMO2_THREADS or all cores)\n"
           "  --seed S               seed of initialisation, data order and masking (default 1)\n"
           "  --pairs-batch B        image-text pairs per step (default 16)\n"
           "  --texts-batch B        unpaired texts per step (default 16)\n"
           "  --images-batch B       unpaired images per step, two views each (default 8)\n"
           "  --accum N              micro-batches of the sizes above per step (default 1)\n"
           "  --no-pairs, --no-texts, --no-images   leave a corpus out (ablations)\n"
           "  --grounding topk|nearest|none, --fusion grounded|full   ablation switches\n"
           "  --lr X                 peak learning rate (default 3e-4)\n"
           "  --warmup N             warm-up steps (default steps/20)\n"
           "  --schedule cosine|linear|constant   decay after warm-up (default cosine)\n"
           "  --weight-decay X       AdamW decay of matrices (default 0.01)\n"
           "  --clip X               global gradient-norm clip (default 1.0; 0 disables)\n"
           "  --mask-pairs X, --mask-texts X      MLM ratios (default 0.30, 0.15)\n"
           "  --no-whole-word        mask single tokens instead of whole words\n"
           "  --checkpoint-every N   steps between checkpoints (default 200)\n"
           "  --json                 one JSON line per logged step on stdout\n"
           "  --log-every N          steps between JSON lines (default 10)\n"
           "  --quiet                no progress line\n"
           "  -h, --help             this text\n\n"
           "SIGINT/SIGTERM write a checkpoint and stop; --resume continues bit-exactly\n"
           "(with the same thread count).\n\n"
           "Data-parallel (a build with ./configure --with-mpi):  mpirun -np N unimo2 train ...\n"
           "N ranks share a step: rank r computes micro-batch s*N + r of the data order, the\n"
           "gradients are averaged, so N ranks compute what --accum N computes in one process\n"
           "(doc/scaling.md).  Rank 0 writes OUT; a signal to any rank stops all of them at the\n"
           "same step (SIGUSR1 to mpirun reaches them all); --resume takes any rank count\n"
           "that divides the run's accum x ranks.\n"
           "  --dist-timeout S       seconds a rank waits for the others before the job is\n"
           "                         declared broken (default 600, or UNIMO2_DIST_TIMEOUT)\n");
}

static int parse_float(const char *opt, const char *s, float lo, float hi, float *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return u2_fail(opt, "expected a number in [%g, %g], not \"%s\"", lo, hi, s);
    *out = (float)v;
    return 0;
}

/* --inject-rank-failure RANK:STEP[:hang] (testing) */
static int parse_rank_failure(const char *s, u2_train_opts *o)
{
    char *end;
    long r = strtol(s, &end, 10);
    long long st = *end == ':' ? strtoll(end + 1, &end, 10) : 0;
    int hang = 0;
    if (*end == ':' && !strcmp(end + 1, "hang")) hang = 1, end += strlen(end);
    if (*end || r < 0 || st < 1)
        return u2_fail("--inject-rank-failure", "expected RANK:STEP or RANK:STEP:hang, not \"%s\"", s);
    o->inject_fail_rank = (int)r;
    o->inject_fail_step = st;
    o->inject_fail_hang = hang;
    return 0;
}

int cmd_train(int argc, char **argv)
{
    enum {
        O_CONFIG = 256, O_DATA, O_STEPS, O_OUT, O_RESUME, O_TOK, O_THREADS, O_SEED, O_BP, O_BT,
        O_BI, O_NOP, O_NOT, O_NOI, O_GROUND, O_FUSION, O_LR, O_WARM, O_SCHED, O_WD, O_CLIP,
        O_MP, O_MT, O_NOWW, O_CKPT, O_JSON, O_LOGE, O_QUIET, O_STOPAT, O_NANAT, O_ACCUM,
        O_RANKFAIL, O_DTIMEOUT
    };
    static const struct option opts[] = {
        {"config", required_argument, 0, O_CONFIG}, {"data", required_argument, 0, O_DATA},
        {"steps", required_argument, 0, O_STEPS}, {"out", required_argument, 0, O_OUT},
        {"resume", no_argument, 0, O_RESUME}, {"tokenizer", required_argument, 0, O_TOK},
        {"threads", required_argument, 0, O_THREADS}, {"seed", required_argument, 0, O_SEED},
        {"pairs-batch", required_argument, 0, O_BP}, {"texts-batch", required_argument, 0, O_BT},
        {"images-batch", required_argument, 0, O_BI}, {"no-pairs", no_argument, 0, O_NOP},
        {"no-texts", no_argument, 0, O_NOT}, {"no-images", no_argument, 0, O_NOI},
        {"grounding", required_argument, 0, O_GROUND}, {"fusion", required_argument, 0, O_FUSION},
        {"lr", required_argument, 0, O_LR}, {"warmup", required_argument, 0, O_WARM},
        {"schedule", required_argument, 0, O_SCHED}, {"weight-decay", required_argument, 0, O_WD},
        {"clip", required_argument, 0, O_CLIP}, {"mask-pairs", required_argument, 0, O_MP},
        {"mask-texts", required_argument, 0, O_MT}, {"no-whole-word", no_argument, 0, O_NOWW},
        {"checkpoint-every", required_argument, 0, O_CKPT}, {"json", no_argument, 0, O_JSON},
        {"log-every", required_argument, 0, O_LOGE}, {"quiet", no_argument, 0, O_QUIET},
        {"accum", required_argument, 0, O_ACCUM}, {"stop-at", required_argument, 0, O_STOPAT}, {"inject-nan-at", required_argument, 0, O_NANAT},
        {"inject-rank-failure", required_argument, 0, O_RANKFAIL},
        {"dist-timeout", required_argument, 0, O_DTIMEOUT},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    u2_train_opts o;
    u2_train_defaults(&o);
    int c, v, have_steps = 0, threads_given = 0;
    float dist_timeout = 0;
    unsigned long long u;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_CONFIG: o.config = optarg; break;
        case O_DATA: o.data_dir = optarg; break;
        case O_OUT: o.out_dir = optarg; break;
        case O_TOK: o.tokenizer = optarg; break;
        case O_RESUME: o.resume = 1; break;
        case O_STEPS: rc = cli_parse_u64("--steps", optarg, &u); o.steps = (int64_t)u; have_steps = 1; break;
        case O_THREADS: rc = cli_parse_int("--threads", optarg, 1, 1024, &v); u2_set_num_threads(v); threads_given = 1; break;
        case O_SEED: rc = cli_parse_u64("--seed", optarg, &u); o.seed = u; break;
        case O_BP: rc = cli_parse_int("--pairs-batch", optarg, 0, 1 << 16, &o.bp); break;
        case O_BT: rc = cli_parse_int("--texts-batch", optarg, 0, 1 << 16, &o.bt); break;
        case O_BI: rc = cli_parse_int("--images-batch", optarg, 0, 1 << 16, &o.bi); break;
        case O_NOP: o.use_pairs = 0; break;
        case O_NOT: o.use_texts = 0; break;
        case O_NOI: o.use_images = 0; break;
        case O_GROUND: o.grounding = optarg; break;
        case O_FUSION: o.fusion = optarg; break;
        case O_LR: rc = parse_float("--lr", optarg, 0, 10, &o.optim.lr); break;
        case O_WARM: rc = cli_parse_u64("--warmup", optarg, &u); o.optim.warmup = (int64_t)u; break;
        case O_SCHED:
            if (!strcmp(optarg, "cosine")) o.optim.schedule = U2_SCHED_COSINE;
            else if (!strcmp(optarg, "linear")) o.optim.schedule = U2_SCHED_LINEAR;
            else if (!strcmp(optarg, "constant")) o.optim.schedule = U2_SCHED_CONSTANT;
            else rc = u2_fail("--schedule", "must be cosine, linear or constant, not \"%s\"", optarg);
            break;
        case O_WD: rc = parse_float("--weight-decay", optarg, 0, 10, &o.optim.weight_decay); break;
        case O_CLIP: rc = parse_float("--clip", optarg, 0, 1e9f, &o.optim.clip); break;
        case O_MP: rc = parse_float("--mask-pairs", optarg, 0, 1, &o.mask_pairs); break;
        case O_MT: rc = parse_float("--mask-texts", optarg, 0, 1, &o.mask_texts); break;
        case O_NOWW: o.whole_word = 0; break;
        case O_CKPT: rc = cli_parse_u64("--checkpoint-every", optarg, &u); o.ckpt_every = (int64_t)u; break;
        case O_JSON: o.json = 1; break;
        case O_LOGE: rc = cli_parse_u64("--log-every", optarg, &u); o.log_every = (int64_t)u; break;
        case O_QUIET: o.quiet = 1; break;
        case O_STOPAT: rc = cli_parse_u64("--stop-at", optarg, &u); o.stop_at = (int64_t)u; break;
        case O_ACCUM: rc = cli_parse_int("--accum", optarg, 1, 1 << 16, &o.accum); break;
        case O_NANAT: rc = cli_parse_u64("--inject-nan-at", optarg, &u); o.inject_nan_at = (int64_t)u; break;
        case O_RANKFAIL: rc = parse_rank_failure(optarg, &o); break;
        case O_DTIMEOUT: rc = parse_float("--dist-timeout", optarg, 0.001f, 1e7f, &dist_timeout); break;
        case 'h': help(); return 0;
        default: return 2;
        }
        if (rc) return cli_error();
    }
    if (optind < argc) {
        fprintf(stderr, "unimo2 train: unexpected argument '%s' (unimo2 train --help)\n", argv[optind]);
        return 2;
    }
    if (!o.data_dir || !o.out_dir || !have_steps) {
        fprintf(stderr, "unimo2 train: --data, --out and --steps are required (unimo2 train --help)\n");
        return 2;
    }
    /* data-parallel when an MPI launcher started us (one rank otherwise) */
    if (u2_dist_init() != 0) return cli_error();
    const int ranks = u2_dist_size(), rank = u2_dist_rank();
    if (dist_timeout > 0) u2_dist_set_timeout(dist_timeout);
    if (rank != 0) o.quiet = 1; /* rank 0 speaks for the job */
    /* the ranks on one machine share its cores, unless told otherwise */
    if (u2_dist_local_size() > 1 && !threads_given && !getenv("UNIMO2_THREADS")) {
        int t = u2_num_threads() / u2_dist_local_size();
        u2_set_num_threads(t > 1 ? t : 1);
    }
    if (o.json || o.quiet) u2_progress_set_quiet(1);
    int rc = u2_train(&o);
    if (rc == 1) {
        if (ranks > 1) fprintf(stderr, "unimo2: rank %d: %s\n", rank, u2_errmsg());
        else cli_error();
    }
    if (rc == 3) rc = 1; /* stopped because another rank failed: that rank and rank 0 said why */
    u2_dist_finalize();
    return rc;
}
