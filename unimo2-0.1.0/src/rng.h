/* Deterministic random numbers: xoshiro256** seeded through splitmix64.
 * The state is four words, so it can be saved in a checkpoint and restored
 * exactly.  Independent streams come from u2_rng_stream(seed, id). */
#ifndef UNIMO2_RNG_H
#define UNIMO2_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} u2_rng;

void u2_rng_seed(u2_rng *r, uint64_t seed);
/* A generator for stream `id` of `seed`: different ids give unrelated sequences. */
u2_rng u2_rng_stream(uint64_t seed, uint64_t id);
uint64_t u2_rng_next(u2_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float u2_rng_uniform(u2_rng *r);
/* Uniform integer in [0, n), without modulo bias. n > 0. */
uint64_t u2_rng_below(u2_rng *r, uint64_t n);
/* Standard normal (Box-Muller, one value per call). */
float u2_rng_normal(u2_rng *r);
/* Fisher-Yates shuffle of n int32 values. */
void u2_rng_shuffle_i32(u2_rng *r, int32_t *v, int64_t n);

#endif
