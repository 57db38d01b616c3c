#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void u2_rng_seed(u2_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

u2_rng u2_rng_stream(uint64_t seed, uint64_t id)
{
    u2_rng r;
    uint64_t x = seed ^ (0xd1342543de82ef95ULL * (id + 1));
    u2_rng_seed(&r, splitmix64(&x) ^ id);
    return r;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t u2_rng_next(u2_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float u2_rng_uniform(u2_rng *r)
{
    return (float)(u2_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

uint64_t u2_rng_below(u2_rng *r, uint64_t n)
{
    uint64_t limit = -n % n; /* 2^64 mod n: reject the short last bucket */
    uint64_t x;
    do x = u2_rng_next(r);
    while (x < limit);
    return x % n;
}

float u2_rng_normal(u2_rng *r)
{
    double u1 = ((double)(u2_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(u2_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void u2_rng_shuffle_i32(u2_rng *r, int32_t *v, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)u2_rng_below(r, (uint64_t)i + 1);
        int32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}
