/* Internal: the diffusion process on item embeddings (ALGORITHM.md §4):
 * the noise schedule in double precision, float copies for the hot loops,
 * the sinusoidal time embedding (§5) and the fast noise sources the
 * sampler's loops draw from. */
#ifndef CNS_DIFFUSION_H
#define CNS_DIFFUSION_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "cnsdiff/common.h"
#include "rng.h"

/* Hot elementwise kernels: vectorized at -O3 for the widest unit the CPU
 * has (the library itself is built for generic x86-64 at -O2, where GCC
 * does not vectorize these loops). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CNS__HOT \
    __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3")))
#else
#define CNS__HOT
#endif

/* <a, b> with sixteen running sums, the tail, then the sums in order:
 * vectorizes without -ffast-math, and every caller gets the same bits
 * (the denoiser's input norms, the draw's candidate scores). */
static inline __attribute__((always_inline)) float cns__dot16(const float *restrict a,
                                                              const float *restrict b, size_t d) {
    float acc[16] = {0};
    size_t j = 0;
    for (; j + 16 <= d; j += 16)
        for (size_t k = 0; k < 16; ++k) acc[k] += a[j + k] * b[j + k];
    float sum = 0.0f;
    for (; j < d; ++j) sum += a[j] * b[j];
    for (size_t k = 0; k < 16; ++k) sum += acc[k];
    return sum;
}

/* mask ? a : b for a mask of all ones or all zeros, on the bits: a float
 * select in a loop blocks GCC's if-conversion (both arms are FP ops that
 * may trap), an integer blend vectorizes on every target. A macro, not an
 * inline function: GCC does not inline across the optimize attribute. */
#define CNS__BLENDF(mask, a, b, out)                                   \
    do {                                                               \
        union { float f; uint32_t u; } bx_, by_;                       \
        bx_.f = (a);                                                   \
        by_.f = (b);                                                   \
        bx_.u = (bx_.u & (mask)) | (by_.u & ~(mask));                  \
        (out) = bx_.f;                                                 \
    } while (0)

/* Every array has T entries, index t = 0 .. T-1. */
typedef struct cns__schedule {
    int32_t T;
    /* float64, the values the formulas define */
    double *beta, *alpha, *alpha_bar, *alpha_bar_prev; /* alpha_bar_prev[0] = 1 */
    double *post_var;      /* beta_t (1 - abar_{t-1}) / (1 - abar_t); 0 at t = 0 */
    double *post_logvar;   /* log post_var, clipped: [0] := [1] */
    double *c1, *c2;       /* posterior mean coefficients */
    double *snr;           /* abar_t / (1 - abar_t) */
    double *weight;        /* §6 step weight: snr[t-1] - snr[t], weight[0] = 1 */
    /* float32 copies for the loops over rows */
    float *sqrt_ab, *sqrt_1mab; /* forward noising */
    float *c1f, *c2f;
    float *sigma;          /* exp(0.5 post_logvar): the sampling-noise scale */
    void *block;           /* one allocation behind every array */
} cns__schedule;

/* Allocates the arrays for T >= 2 steps (values zero until computed). */
cns_status cns__schedule_init(cns__schedule *s, int32_t T, const cns__alloc *al);
void cns__schedule_destroy(cns__schedule *s, const cns__alloc *al);

/* The checks of cns__schedule_compute for T steps, without computing:
 * CNS_E_ARG with the detail in msg when the schedule would be degenerate. */
cns_status cns__schedule_check(int32_t T, int kind, double scale, double noise_min,
                               double noise_max, char *msg);

/* Fills s for schedule kind (cns_noise_schedule), noise_scale and
 * noise_min/max. Returns CNS_E_ARG (detail in msg, CNS_ERROR_MESSAGE_SIZE
 * bytes) and leaves s untouched when the result would be degenerate:
 * a beta outside (0, 1) or a non-finite value (e.g. noise_min > noise_max
 * with linear-var, or noise_scale * noise_max >= 1). */
cns_status cns__schedule_compute(cns__schedule *s, int kind, double scale, double noise_min,
                                 double noise_max, char *msg);

/* tau(t) = [cos(t freq_k), sin(t freq_k)], freq_k = exp(-ln(1e4) k / half),
 * half = time_dim / 2 (time_dim even). out: time_dim doubles. */
void cns__time_embedding(int32_t t, int32_t time_dim, double *out);

/* n standard normals times scale (Box–Muller on 24-bit uniforms, written
 * to vectorize: ~1e-7 relative accuracy, tails truncated at 5.8 sigma).
 * Deterministic in the generator state; much faster than cns__rng_normal,
 * which the per-row loops of draw and train_step could not afford. */
void cns__normal_fill_fast(cns__rng *r, float *out, size_t n, float scale);

/* x = c1 x̂0 + c2 x (+ z, already scaled; z may be NULL): the posterior
 * mean step of §7, for the per-step draw and the one-pass chain alike.
 * Hidden explicitly: as a target_clones ifunc it would otherwise be
 * exported with its resolver. */
__attribute__((visibility("hidden"))) void cns__posterior_step(float *restrict x,
                                                               const float *restrict xhat,
                                                               const float *restrict z, size_t n,
                                                               float c1, float c2);

/* Inverted-dropout mask: n entries, 0 with probability p (16-bit
 * resolution) else 1 / (1 - p). p in [0, 1). */
void cns__dropout_mask(cns__rng *r, float *mask, size_t n, double p);

/* The same draws as cns__dropout_mask (the same generator steps, so the
 * two can stand in for each other in a sequence), packed: bit at + k of
 * the words at bits is set where entry k keeps its value, cleared where
 * it drops. Other bits are left alone. */
void cns__dropout_bits_at(cns__rng *r, uint64_t *bits, size_t at, size_t n, double p);

#endif
