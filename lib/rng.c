/* Random numbers for every handle (ALGORITHM.md §3, §5, §6, §8 draw from
 * here). Pure functions of the generator state: no global state. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cns__rng_key(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t x = a;
    uint64_t h = splitmix64(&x);
    x = h ^ b;
    h = splitmix64(&x);
    x = h ^ c;
    return splitmix64(&x);
}

void cns__rng_seed(cns__rng *r, uint64_t seed, uint64_t stream) {
    /* Hash the key first so that nearby seeds and streams start far apart. */
    uint64_t x = cns__rng_key(seed, stream, 0x636e73646966ull);
    for (int i = 0; i < 4; ++i) r->s[i] = splitmix64(&x);
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 1; /* xoshiro's one bad state */
    r->has_spare = 0;
    r->spare = 0.0;
}

uint64_t cns__rng_u64(cns__rng *r) {
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

uint32_t cns__rng_below(cns__rng *r, uint32_t n) {
    uint32_t x = (uint32_t)(cns__rng_u64(r) >> 32);
    uint64_t m = (uint64_t)x * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            x = (uint32_t)(cns__rng_u64(r) >> 32);
            m = (uint64_t)x * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double cns__rng_uniform(cns__rng *r) { return (double)(cns__rng_u64(r) >> 11) * 0x1.0p-53; }

float cns__rng_uniformf(cns__rng *r) { return (float)(cns__rng_u64(r) >> 40) * 0x1.0p-24f; }

double cns__rng_normal(cns__rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * cns__rng_uniform(r) - 1.0;
        v = 2.0 * cns__rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

void cns__rng_normal_fill(cns__rng *r, float *out, size_t n, float scale) {
    for (size_t i = 0; i < n; ++i) out[i] = (float)cns__rng_normal(r) * scale;
}

double cns__rng_gamma(cns__rng *r, double shape) {
    if (shape < 1.0) {
        /* Gamma(a) = Gamma(a + 1) * U^(1/a). */
        double u = cns__rng_uniform(r);
        while (u == 0.0) u = cns__rng_uniform(r);
        return cns__rng_gamma(r, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0;
    double c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = cns__rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = cns__rng_uniform(r);
        if (u < 1.0 - 0.0331 * (x * x) * (x * x)) return d * v;
        if (u > 0.0 && log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

double cns__rng_beta(cns__rng *r, double a, double b) {
    double x = cns__rng_gamma(r, a);
    double y = cns__rng_gamma(r, b);
    double s = x + y;
    if (s <= 0.0) return a >= b ? 1.0 : 0.0; /* both underflowed: tiny shapes */
    return x / s;
}
