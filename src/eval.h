/* Zero-shot evaluation (SPEC §3): image-text retrieval, classification from
 * label prompts, and a linear probe on frozen image features. */
#ifndef UNIMO2_EVAL_H
#define UNIMO2_EVAL_H

#include <stdint.h>

typedef struct {
    int n;                  /* pairs evaluated */
    double i2t[3], t2i[3];  /* R@1, R@5, R@10 (fractions) */
    double seconds;
} u2_retrieval;

typedef struct {
    u2_retrieval exact;     /* ITM + 0.3 CMCL over every pair (first exact_n pairs) */
    u2_retrieval shortlist; /* CMCL shortlist of k, re-ranked by the exact score (all pairs) */
    u2_retrieval cmcl;      /* CMCL cosine alone (all pairs) */
    int k;
} u2_retrieval_report;

typedef struct {
    const char *model, *data;
    int limit;        /* evaluate at most this many pairs / images (0: all) */
    int exact_limit;  /* pairs for the exact all-pairs score (0: all) */
    int shortlist;    /* k of the CMCL shortlist */
    int quiet;
} u2_eval_opts;

void u2_eval_defaults(u2_eval_opts *o);
int u2_eval_retrieval(const u2_eval_opts *o, u2_retrieval_report *r);

typedef struct {
    int n, nlabels;
    double acc;       /* exact score over the label prompts */
    double acc_cmcl;  /* cosine only */
    double chance;
    double seconds;
    char prompt[128];
} u2_classify_report;
int u2_eval_classify(const u2_eval_opts *o, u2_classify_report *r);

typedef struct {
    int ntrain, ntest, nlabels;
    double acc, chance, seconds;
} u2_probe_report;
int u2_eval_probe(const u2_eval_opts *o, u2_probe_report *r);

/* Masked-token accuracy on the held-out captions with their images (the pair
 * path, 15% of the content tokens masked with a fixed seed, [MASK] only). */
typedef struct {
    int n_masked;
    double acc, seconds;
} u2_mlm_report;
int u2_eval_mlm(const u2_eval_opts *o, u2_mlm_report *r);

#endif
