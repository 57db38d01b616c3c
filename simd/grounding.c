/* Grounding search (SPEC §1.3): sigmoid scores of tokens against the
 * dictionary, their column sums, and the top-K entries. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void u2_gd_scores(const float *X, int64_t T, int64_t ldx, const float *E, int64_t C,
                  int64_t D, float tau, float *s, int64_t lds, float *S)
{
    if (T <= 0 || C <= 0) return;
    float *tmp = NULL;
    if (!s) { /* caller only wants the sums: score into a scratch matrix */
        tmp = malloc((size_t)T * (size_t)C * sizeof(float));
        if (!tmp) {
            fprintf(stderr, "unimo2: out of memory in the grounding search\n");
            abort();
        }
        s = tmp;
        lds = C;
    }
    u2_epilogue epi = {.act = U2_ACT_SIGMOID_COLSUM, .colsum = S};
    u2_sgemm(0, 1, T, C, D, tau, X, ldx, E, D, 0.0f, s, lds, &epi);
    free(tmp);
}

/* a ranks before b: larger score first, ties (and NaN) resolved deterministically */
static int before(const float *S, int32_t a, int32_t b)
{
    float x = S[a], y = S[b];
    int xn = isnan(x), yn = isnan(y);
    if (xn != yn) return yn; /* NaN ranks last */
    if (!xn && x != y) return x > y;
    return a < b;
}

void u2_topk(const float *S, int64_t C, int K, int32_t *idx)
{
    if (K > C) K = (int)C;
    int n = 0;
    for (int32_t c = 0; c < (int32_t)C; c++) {
        if (n == K && !before(S, c, idx[K - 1])) continue;
        int pos = n < K ? n++ : K - 1;
        while (pos > 0 && before(S, c, idx[pos - 1])) {
            idx[pos] = idx[pos - 1];
            pos--;
        }
        idx[pos] = c;
    }
}
