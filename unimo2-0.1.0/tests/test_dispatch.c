/* Dispatcher and top-K: exact, known-answer tests. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "kernels.h"
#include "tap.h"

#include <string.h>

static int same(const int32_t *a, const int32_t *b, int n)
{
    return memcmp(a, b, (size_t)n * sizeof(int32_t)) == 0;
}

int main(void)
{
    const u2_kernels *k = u2_kern();
    tap_ok(k != NULL, "a kernel table is chosen (%s)", k ? k->name : "none");
    tap_ok(u2_kern_isa(U2_ISA_SCALAR) != NULL, "the scalar reference is always available");
    for (int i = 0; i < U2_ISA_COUNT; i++) {
        tap_ok(u2_isa_from_name(u2_isa_name((u2_isa)i)) == i, "ISA name round trip: %s",
               u2_isa_name((u2_isa)i));
        const u2_kernels *t = u2_kern_isa((u2_isa)i);
        if (t) tap_ok(t->isa == (u2_isa)i && t->gemm.ukr && t->softmax_rows && t->adamw,
                      "table %s is complete", t->name);
        else tap_skip("%s: not built or not supported by this CPU", u2_isa_name((u2_isa)i));
    }
    tap_ok(u2_isa_from_name("sse9") == -1 && u2_isa_from_name(NULL) == -1,
           "unknown ISA names are rejected");

    /* top-K: descending, ties to the lower index, NaN last */
    float s1[8] = {0.5f, 2.0f, 2.0f, -1.0f, 3.0f, 2.0f, NAN, 0.5f};
    int32_t idx[8];
    u2_topk(s1, 8, 4, idx);
    int32_t want1[4] = {4, 1, 2, 5};
    tap_ok(same(idx, want1, 4), "top-4 with ties: %d %d %d %d", idx[0], idx[1], idx[2], idx[3]);
    u2_topk(s1, 8, 8, idx);
    int32_t want2[8] = {4, 1, 2, 5, 0, 7, 3, 6};
    tap_ok(same(idx, want2, 8), "top-8 orders everything, NaN last");
    u2_topk(s1, 8, 20, idx);
    tap_ok(same(idx, want2, 8), "K > C is clamped to C");
    float flat[5] = {1, 1, 1, 1, 1};
    u2_topk(flat, 5, 3, idx);
    int32_t want3[3] = {0, 1, 2};
    tap_ok(same(idx, want3, 3), "all ties: lowest indices first");
    /* against a brute-force selection on random data with many ties */
    enum { C = 2048, K = 100 };
    static float S[C];
    int32_t got[K], ref[K];
    tap_seed(7);
    for (int i = 0; i < C; i++) S[i] = (float)(int)tap_uniform(0, 50); /* heavy ties */
    u2_topk(S, C, K, got);
    static char used[C];
    memset(used, 0, sizeof used);
    for (int r = 0; r < K; r++) {
        int best = -1;
        for (int c = 0; c < C; c++)
            if (!used[c] && (best < 0 || S[c] > S[best])) best = c;
        used[best] = 1;
        ref[r] = best;
    }
    tap_ok(same(got, ref, K), "top-100 of 2048 with heavy ties matches brute force");
    return tap_done();
}
