/* The noise schedule (ALGORITHM.md §4), the time embedding (§5) and the
 * fast noise sources of the diffusion loops. */
#include "diffusion.h"

#include <math.h>
#include <string.h>

#include "cnsdiff/sampler.h"
#include "error.h"

#define SCHED_DOUBLES 10
#define SCHED_FLOATS 5

cns_status cns__schedule_init(cns__schedule *s, int32_t T, const cns__alloc *al) {
    memset(s, 0, sizeof *s);
    if (T < 2) return CNS_E_ARG;
    size_t nd = (size_t)T * SCHED_DOUBLES, nf = (size_t)T * SCHED_FLOATS;
    double *d = cns__calloc(al, nd * sizeof(double) + nf * sizeof(float), 1);
    if (d == NULL) return CNS_E_NOMEM;
    s->block = d;
    s->T = T;
    double **dp[SCHED_DOUBLES] = {&s->beta,     &s->alpha, &s->alpha_bar, &s->alpha_bar_prev,
                                  &s->post_var, &s->post_logvar, &s->c1, &s->c2,
                                  &s->snr,      &s->weight};
    for (int k = 0; k < SCHED_DOUBLES; ++k) *dp[k] = d + (size_t)k * (size_t)T;
    float *f = (float *)(d + nd);
    float **fp[SCHED_FLOATS] = {&s->sqrt_ab, &s->sqrt_1mab, &s->c1f, &s->c2f, &s->sigma};
    for (int k = 0; k < SCHED_FLOATS; ++k) *fp[k] = f + (size_t)k * (size_t)T;
    return CNS_OK;
}

void cns__schedule_destroy(cns__schedule *s, const cns__alloc *al) {
    cns__free(al, s->block);
    memset(s, 0, sizeof *s);
}

/* numpy.linspace(a, b, T)[i], endpoint exact. */
static double linspace_at(double a, double b, int32_t T, int32_t i) {
    return i == T - 1 ? b : a + (b - a) * ((double)i / (double)(T - 1));
}

/* beta_t of §4; the two schedules differ only here. linear-var takes the
 * ratio of consecutive 1 - v (not of the running product, which differs
 * once a beta is clipped). */
static double beta_at(int kind, double a, double b, int32_t T, int32_t t) {
    double v = linspace_at(a, b, T, t);
    if (kind == CNS_SCHEDULE_LINEAR || t == 0) return v;
    double beta = 1.0 - (1.0 - v) / (1.0 - linspace_at(a, b, T, t - 1));
    return beta < 0.999 ? beta : 0.999;
}

cns_status cns__schedule_check(int32_t T, int kind, double scale, double noise_min,
                               double noise_max, char *msg) {
    if (kind != CNS_SCHEDULE_LINEAR && kind != CNS_SCHEDULE_LINEAR_VAR)
        return cns__msg(msg, CNS_E_ARG, "noise schedule %d is not linear (0) or linear-var (1)", kind);
    const double a = scale * noise_min, b = scale * noise_max;
    double abar = 1.0;
    for (int32_t t = 0; t < T; ++t) {
        double beta = beta_at(kind, a, b, T, t);
        if (!(beta > 0.0 && beta < 1.0) || !isfinite(beta))
            return cns__msg(msg, CNS_E_ARG,
                            "degenerate noise schedule: beta_%d = %g (schedule %d, scale %g, "
                            "min %g, max %g); need 0 < beta < 1 (linear-var needs min < max)",
                            (int)t, beta, kind, scale, noise_min, noise_max);
        abar *= 1.0 - beta;
        if (!(abar > 0.0 && abar < 1.0))
            return cns__msg(msg, CNS_E_ARG, "degenerate noise schedule: alpha_bar_%d = %g",
                            (int)t, abar);
    }
    return CNS_OK;
}

cns_status cns__schedule_compute(cns__schedule *s, int kind, double scale, double noise_min,
                                 double noise_max, char *msg) {
    const int32_t T = s->T;
    /* Validate first, so a rejected setting leaves the schedule as it was. */
    cns_status st = cns__schedule_check(T, kind, scale, noise_min, noise_max, msg);
    if (st != CNS_OK) return st;
    const double a = scale * noise_min, b = scale * noise_max;
    double abar = 1.0;
    for (int32_t t = 0; t < T; ++t) {
        double beta = beta_at(kind, a, b, T, t);
        double prev = abar;
        abar *= 1.0 - beta;
        s->beta[t] = beta;
        s->alpha[t] = 1.0 - beta;
        s->alpha_bar[t] = abar;
        s->alpha_bar_prev[t] = prev;
        s->post_var[t] = beta * (1.0 - prev) / (1.0 - abar);
        s->c1[t] = beta * sqrt(prev) / (1.0 - abar);
        s->c2[t] = (1.0 - prev) * sqrt(1.0 - beta) / (1.0 - abar);
        s->snr[t] = abar / (1.0 - abar);
    }
    for (int32_t t = 0; t < T; ++t) {
        /* post_var_0 = 0: its log is clipped to the next step's (§4) */
        s->post_logvar[t] = log(s->post_var[t == 0 ? 1 : t]);
        s->weight[t] = t == 0 ? 1.0 : s->snr[t - 1] - s->snr[t];
        s->sqrt_ab[t] = (float)sqrt(s->alpha_bar[t]);
        s->sqrt_1mab[t] = (float)sqrt(1.0 - s->alpha_bar[t]);
        s->c1f[t] = (float)s->c1[t];
        s->c2f[t] = (float)s->c2[t];
        s->sigma[t] = (float)exp(0.5 * s->post_logvar[t]);
    }
    return CNS_OK;
}

void cns__time_embedding(int32_t t, int32_t time_dim, double *out) {
    const int32_t half = time_dim / 2;
    for (int32_t k = 0; k < half; ++k) {
        double freq = exp(-log(10000.0) * (double)k / (double)half);
        out[k] = cos((double)t * freq);
        out[half + k] = sin((double)t * freq);
    }
}

/* ---- fast noise --------------------------------------------------------- */

#define PAIRS 128

/* Box–Muller over one block: bits[k] gives u1 in (0, 1) and u2 in [0, 1);
 * writes radius*cos to c[k] and radius*sin to s[k]. ln via the atanh series
 * on a mantissa in [sqrt(1/2), sqrt(2)); sin/cos by quadrant and
 * polynomials on [-pi/4, pi/4] (the angle is 2 pi u2 - pi/4: any fixed
 * rotation of a uniform angle is uniform). */
CNS__HOT static void box_muller(const uint64_t *restrict bits, float *restrict c, float *restrict s,
                                size_t n, float scale) {
    for (size_t k = 0; k < n; ++k) {
        uint32_t hi = (uint32_t)(bits[k] >> 32), lo = (uint32_t)bits[k];
        float u1 = ((float)(hi >> 8) + 0.5f) * 0x1.0p-24f; /* strictly inside (0, 1) */
        float u2 = (float)(lo >> 8) * 0x1.0p-24f;
        /* ln u1 */
        union { float f; uint32_t u; } m;
        m.f = u1;
        int32_t e = (int32_t)(m.u >> 23) - 127;
        m.u = (m.u & 0x007fffffu) | 0x3f800000u; /* [1, 2) */
        uint32_t big = 0u - (uint32_t)(m.u > 0x3fb504f3u); /* mantissa > sqrt(2) */
        float mf;
        CNS__BLENDF(big, 0.5f * m.f, m.f, mf);
        float ef = (float)(e + (int32_t)(big & 1u));
        float z = (mf - 1.0f) / (mf + 1.0f), z2 = z * z;
        float lnm = 2.0f * z * (1.0f + z2 * (1.0f / 3 + z2 * (1.0f / 5 + z2 * (1.0f / 7 + z2 * (1.0f / 9)))));
        float ln = lnm + ef * 0.69314718056f;
        /* sqrt(v) = v / sqrt(v) by Newton from the bit-trick guess (sqrtf
         * would not vectorize: it may set errno); v >= 6e-8 here */
        float v = -2.0f * ln;
        union { float f; uint32_t u; } g;
        g.f = v;
        g.u = 0x5f3759dfu - (g.u >> 1);
        float q0 = g.f;
        q0 = q0 * (1.5f - 0.5f * v * q0 * q0);
        q0 = q0 * (1.5f - 0.5f * v * q0 * q0);
        q0 = q0 * (1.5f - 0.5f * v * q0 * q0);
        float r = v * q0 * scale;
        /* quadrant and the angle inside it */
        float q = u2 * 4.0f;
        int32_t j = (int32_t)q;
        float psi = (q - (float)j - 0.5f) * 1.57079632679f;
        float p2 = psi * psi;
        float sn = psi * (1.0f - p2 * (1.0f / 6 - p2 * (1.0f / 120 - p2 * (1.0f / 5040 - p2 * (1.0f / 362880)))));
        float cs = 1.0f - p2 * (0.5f - p2 * (1.0f / 24 - p2 * (1.0f / 720 - p2 * (1.0f / 40320 - p2 * (1.0f / 3628800)))));
        /* rotate (cs, sn) by j quarter turns */
        uint32_t odd = 0u - (uint32_t)(j & 1);
        float x, y;
        CNS__BLENDF(odd, -sn, cs, x);
        CNS__BLENDF(odd, cs, sn, y);
        float sg = 1.0f - (float)(j & 2); /* j & 2 is 0 or 2 */
        c[k] = sg * x * r;
        s[k] = sg * y * r;
    }
}

CNS__HOT void cns__posterior_step(float *restrict x, const float *restrict xhat,
                                  const float *restrict z, size_t n, float c1, float c2) {
    if (z) {
        for (size_t i = 0; i < n; ++i) x[i] = c1 * xhat[i] + c2 * x[i] + z[i];
    } else {
        for (size_t i = 0; i < n; ++i) x[i] = c1 * xhat[i] + c2 * x[i];
    }
}

void cns__normal_fill_fast(cns__rng *r, float *out, size_t n, float scale) {
    uint64_t bits[PAIRS];
    while (n >= 2) {
        size_t pairs = n / 2 < PAIRS ? n / 2 : PAIRS;
        for (size_t k = 0; k < pairs; ++k) bits[k] = cns__rng_u64(r);
        box_muller(bits, out, out + pairs, pairs, scale);
        out += 2 * pairs;
        n -= 2 * pairs;
    }
    if (n == 1) {
        float tmp[2];
        bits[0] = cns__rng_u64(r);
        box_muller(bits, tmp, tmp + 1, 1, scale);
        out[0] = tmp[0];
    }
}

CNS__HOT static void mask_from_bits(const uint16_t *restrict u, float *restrict mask, size_t n,
                                    uint32_t threshold, float keep) {
    for (size_t k = 0; k < n; ++k) mask[k] = (uint32_t)u[k] >= threshold ? keep : 0.0f;
}

/* The dropout masks' draws: one 16-bit uniform per entry, four per
 * generator step, for a chunk of up to DROP_CHUNK entries; the threshold
 * an entry must reach to be kept. cns__dropout_mask and
 * cns__dropout_bits_at both draw through these, which is what makes their
 * sequences interchangeable. */
#define DROP_CHUNK (4 * PAIRS)
static void draw_u16(cns__rng *r, uint16_t *u, size_t chunk) {
    for (size_t k = 0; k < (chunk + 3) / 4; ++k) {
        uint64_t w = cns__rng_u64(r);
        memcpy(&u[4 * k], &w, sizeof w);
    }
}

static uint32_t drop_threshold(double p) {
    const uint32_t t = (uint32_t)lround(p * 65536.0);
    return t > 65535u ? 65535u : t;
}

void cns__dropout_mask(cns__rng *r, float *mask, size_t n, double p) {
    if (p <= 0.0) {
        for (size_t k = 0; k < n; ++k) mask[k] = 1.0f;
        return;
    }
    const uint32_t threshold = drop_threshold(p);
    const float keep = (float)(1.0 / (1.0 - p));
    uint16_t u[DROP_CHUNK];
    while (n > 0) {
        size_t chunk = n < DROP_CHUNK ? n : DROP_CHUNK;
        draw_u16(r, u, chunk);
        mask_from_bits(u, mask, chunk, threshold, keep);
        mask += chunk;
        n -= chunk;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define CNS__BITS_AVX512 1
/* 64 words of draws -> 4 words of bits: AVX-512BW compares 32 16-bit
 * values into one mask register, bit k for entry k. */
__attribute__((target("avx512f,avx512bw"))) static void pack_words_avx512(
    const uint16_t *u, size_t words, uint16_t threshold, uint64_t *out) {
    const __m512i thr = _mm512_set1_epi16((short)threshold);
    for (size_t w = 0; w < words; ++w) {
        const __mmask32 lo = _mm512_cmpge_epu16_mask(_mm512_loadu_si512(u + 64 * w), thr);
        const __mmask32 hi = _mm512_cmpge_epu16_mask(_mm512_loadu_si512(u + 64 * w + 32), thr);
        out[w] = (uint64_t)lo | (uint64_t)hi << 32;
    }
}
#endif

/* The same, one entry at a time: bit k of each word is u[64 w + k] >= t. */
static void pack_words(const uint16_t *u, size_t words, uint16_t threshold, uint64_t *out) {
    for (size_t w = 0; w < words; ++w) {
        uint64_t word = 0;
        for (unsigned k = 0; k < 64; ++k) word |= (uint64_t)(u[64 * w + k] >= threshold) << k;
        out[w] = word;
    }
}

void cns__dropout_bits_at(cns__rng *r, uint64_t *bits, size_t at, size_t n, double p) {
    const uint32_t threshold = p > 0.0 ? drop_threshold(p) : 0;
    int wide = 0;
#ifdef CNS__BITS_AVX512
    __builtin_cpu_init();
    wide = __builtin_cpu_supports("avx512bw");
#endif
    uint16_t u[DROP_CHUNK];
    const size_t end = at + n;
    while (at < end) {
        const size_t chunk = end - at < DROP_CHUNK ? end - at : DROP_CHUNK;
        if (p > 0.0)
            draw_u16(r, u, chunk);
        else
            memset(u, 0, sizeof u); /* every entry >= threshold 0: kept */
        size_t k = 0;
        if (at % 64 == 0) { /* whole words straight from the draws */
            const size_t words = chunk / 64;
#ifdef CNS__BITS_AVX512
            if (wide)
                pack_words_avx512(u, words, (uint16_t)threshold, bits + at / 64);
            else
#endif
                pack_words(u, words, (uint16_t)threshold, bits + at / 64);
            k = 64 * words;
            at += k;
        }
        for (; k < chunk; ++k, ++at) {
            const uint64_t keep = (uint32_t)u[k] >= threshold;
            const uint64_t bit = 1ull << (at % 64);
            bits[at / 64] = (bits[at / 64] & ~bit) | (keep << (at % 64));
        }
    }
}
