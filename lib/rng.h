/* Internal: seeded random numbers with independent streams.
 *
 * A generator is keyed by (seed, stream): the same key always gives the
 * same sequence, and different streams are statistically independent, so
 * work split across threads draws from per-chunk streams and the results
 * never depend on scheduling. xoshiro256** seeded through splitmix64. */
#ifndef CNS_RNG_H
#define CNS_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct cns__rng {
    uint64_t s[4];
    double spare;   /* second normal of the polar method */
    int has_spare;
} cns__rng;

/* Mixes several words into one stream id (e.g. purpose, epoch, batch). */
uint64_t cns__rng_key(uint64_t a, uint64_t b, uint64_t c);

void cns__rng_seed(cns__rng *r, uint64_t seed, uint64_t stream);
uint64_t cns__rng_u64(cns__rng *r);
/* Unbiased integer in [0, n), n >= 1 (Lemire's multiply-and-reject). */
uint32_t cns__rng_below(cns__rng *r, uint32_t n);
/* Uniform double in [0, 1) with 53 random bits; float in [0, 1). */
double cns__rng_uniform(cns__rng *r);
float cns__rng_uniformf(cns__rng *r);
/* Standard normal N(0, 1). */
double cns__rng_normal(cns__rng *r);
/* n normals times scale into out (float). */
void cns__rng_normal_fill(cns__rng *r, float *out, size_t n, float scale);
/* Gamma(shape, 1), shape > 0 (Marsaglia–Tsang; shape < 1 by boosting). */
double cns__rng_gamma(cns__rng *r, double shape);
/* Beta(a, b), a, b > 0, from two Gammas. */
double cns__rng_beta(cns__rng *r, double a, double b);

#endif
