/* Data-parallel shards (doc/scaling.md): rank r of R, with a micro-batches
 * each, computes batch s*G + a*R + r of the data order at step s (G = R*a).
 * Across ranks and steps every batch index is computed exactly once, a step's
 * G batches are the ones one process with --accum G computes, and within an
 * epoch no sample appears twice, whichever rank reads it. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "data.h"
#include "tap.h"

#include <string.h>

enum { NTEXTS = 53, BT = 5 };

int main(void)
{
    /* text i is [CLS] (4+i) [SEP]: its id tells which sample a batch holds */
    u2_corpus c;
    memset(&c, 0, sizeof c);
    c.ntexts = NTEXTS;
    c.texts = calloc(NTEXTS, sizeof *c.texts);
    for (int i = 0; i < NTEXTS; i++) {
        c.texts[i].ids = malloc(3 * sizeof(int32_t));
        c.texts[i].ws = malloc(3);
        c.texts[i].ids[0] = 0;
        c.texts[i].ids[1] = 4 + i;
        c.texts[i].ids[2] = 2;
        memset(c.texts[i].ws, 1, 3);
        c.texts[i].len = 3;
    }
    u2_batch_opts o = {.bt = BT, .mask_texts = 0.15f, .image_size = 16, .vocab = 512,
                       .mask_id = 511, .seed = 7};
    u2_augment_defaults(&o.aug);
    u2_batch_buf bb;
    memset(&bb, 0, sizeof bb);
    const int per_epoch = NTEXTS / BT; /* batches wholly inside epoch 0 */
    for (int R = 2; R <= 4; R++)
        for (int A = 1; A <= 2; A++) {
            const int G = R * A, steps = per_epoch / G;
            int seen[NTEXTS], once = 1, repeat = 0, made = 0;
            int hit[64] = {0};
            for (int i = 0; i < NTEXTS; i++) seen[i] = -1;
            for (int s = 0; s < steps; s++)
                for (int r = 0; r < R; r++)
                    for (int a = 0; a < A; a++) {
                        const int64_t b = (int64_t)s * G + a * R + r;
                        once &= b >= (int64_t)s * G && b < (int64_t)(s + 1) * G && hit[b]++ == 0;
                        if (u2_batch_make(&c, &o, b, &bb) != 0) continue;
                        made++;
                        for (int j = 0; j < bb.b.n_txt; j++) {
                            /* the masked position keeps the original id in the labels */
                            int32_t id = bb.labels[j * bb.b.tl + 1] >= 0 ? bb.labels[j * bb.b.tl + 1]
                                                                         : bb.ids[j * bb.b.tl + 1];
                            int k = id - 4;
                            if (k < 0 || k >= NTEXTS || seen[k] >= 0) repeat++;
                            else seen[k] = r;
                        }
                    }
            tap_ok(once && made == steps * G,
                   "%d ranks x accum %d: each of the first %d batches computed once, in its own step",
                   R, A, steps * G);
            tap_ok(repeat == 0, "%d ranks x accum %d: no sample twice within the epoch (%d samples)",
                   R, A, steps * G * BT);
        }
    u2_batch_buf_free(&bb);
    u2_corpus_free(&c);
    return tap_done();
}
