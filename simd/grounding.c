/* Grounding search (SPEC §1.3): sigmoid scores of tokens against the
 * dictionary, their column sums, and the top-K entries.
 *
 * The scores come out of the GEMM's SIGMOID_COLSUM epilogue: each score is
 * computed in registers, written once, and added into the column sum from
 * the same registers, so the T x C score matrix is never read back. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One row of C floats per thread to discard scores into when the caller
 * wants only the sums. */
static _Thread_local float *sink;
static _Thread_local int64_t sink_cap;

void u2_gd_scores_k(const u2_kernels *k, int nthreads, const float *X, int64_t T, int64_t ldx,
                    const float *E, int64_t C, int64_t D, float tau, float *s, int64_t lds,
                    float *S)
{
    if (T <= 0 || C <= 0 || (!s && !S)) return;
    if (!s) {
        /* Scores not wanted: every tile row writes the same row (lds = 0).
         * Legal because the epilogue never reads C when beta == 0 and sums
         * the columns from registers, and with column sums the driver gives
         * each column panel to one thread. */
        if (C > sink_cap) {
            free(sink);
            /* 64-byte aligned, like any C the kernels write */
            sink = aligned_alloc(64, ((size_t)C * sizeof(float) + 63) & ~(size_t)63);
            if (!sink) {
                fprintf(stderr, "unimo2: out of memory in the grounding search\n");
                abort();
            }
            sink_cap = C;
        }
        s = sink;
        lds = 0;
    }
    u2_epilogue epi = {.act = U2_ACT_SIGMOID_COLSUM, .colsum = S};
    u2_sgemm_k(k, nthreads, 0, 1, T, C, D, tau, X, ldx, E, D, 0.0f, s, lds, &epi);
}

void u2_gd_scores(const float *X, int64_t T, int64_t ldx, const float *E, int64_t C,
                  int64_t D, float tau, float *s, int64_t lds, float *S)
{
    u2_gd_scores_k(u2_kern(), u2_gemm_threads(T, C, D), X, T, ldx, E, C, D, tau, s, lds, S);
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

/* A sorted list of the best K so far; a candidate is compared with the
 * current K-th first (most are rejected there), then placed by binary search. */
void u2_topk(const float *S, int64_t C, int K, int32_t *idx)
{
    if (K <= 0 || C <= 0) return;
    if (K > C) K = (int)C;
    int n = 0;
    for (int32_t c = 0; c < (int32_t)C; c++) {
        if (n == K && !before(S, c, idx[K - 1])) continue;
        int lo = 0, hi = n < K ? n : K - 1; /* c goes before idx[hi] (or at the end) */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (before(S, c, idx[mid])) hi = mid;
            else lo = mid + 1;
        }
        const int last = n < K ? n++ : K - 1; /* the old K-th drops out when full */
        memmove(idx + lo + 1, idx + lo, (size_t)(last - lo) * sizeof(int32_t));
        idx[lo] = c;
    }
}
