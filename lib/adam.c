/* Adam with bias correction (ALGORITHM.md §2). Two passes: the first only
 * checks that the update stays finite, so a NaN gradient, an overflowing
 * moment or a runaway learning rate never reaches the weights or the
 * moments. When bounds from the last step prove that no entry can
 * overflow, the first pass is skipped (see cns__adam_step_mt). */
#include "adam.h"

#include "parallel.h"

#include <math.h>
#include <string.h>

#include <stdint.h>

cns_status cns__adam_init(cns__adam *a, size_t n, const cns__alloc *al) {
    a->m = cns__calloc(al, n ? n : 1, sizeof(float));
    a->v = cns__calloc(al, n ? n : 1, sizeof(float));
    if (a->m == NULL || a->v == NULL) {
        cns__adam_destroy(a, al);
        return CNS_E_NOMEM;
    }
    a->n = n;
    a->t = 0;
    a->lr = 0.01;
    a->beta1 = 0.9;
    a->beta2 = 0.999;
    a->eps = 1e-8;
    a->track_bounds = 0;
    a->bounded = 0;
    return CNS_OK;
}

void cns__adam_destroy(cns__adam *a, const cns__alloc *al) {
    cns__free(al, a->m);
    cns__free(al, a->v);
    a->m = a->v = NULL;
    a->n = 0;
}

typedef struct adam_consts {
    float b1, one_b1, b2, one_b2, step, inv_c2, eps;
} adam_consts;

/* The element update, written once for every path. */
static inline float adam_elem(const adam_consts *k, float p, float g, float m, float v, float *mo,
                              float *vo) {
    const float mi = k->b1 * m + k->one_b1 * g;
    const float vi = k->b2 * v + k->one_b2 * g * g;
    *mo = mi;
    *vo = vi;
    return p - k->step * mi / (sqrtf(vi * k->inv_c2) + k->eps);
}


typedef struct adam_job {
    adam_consts k;
    float *params;
    const float *grads;
    float *m, *v;
    size_t n;
    /* Per worker (each takes one range of every pass; unused slots stay
     * zero). The maxima are float bit patterns of absolute values: the
     * integer order of non-negative floats is their order, so they are
     * integer reductions, exact, and they vectorize. */
    unsigned char bad[CNS__ADAM_MAX_THREADS]; /* pass 1 */
    uint32_t max_g[CNS__ADAM_MAX_THREADS];    /* the bound pass: max |g| */
    uint32_t apply[CNS__ADAM_MAX_THREADS][4]; /* pass 2: APPLY_* below */
} adam_job;

/* What the apply pass reports per worker. */
enum { APPLY_MAX_P, APPLY_MAX_M, APPLY_MAX_V, APPLY_NEG_V /* a v with its sign bit set */ };

/* Pass 1 over [begin, end): would every new weight and moment be finite?
 * A moment that overflows (g*g beyond FLT_MAX) leaves the weight finite
 * but freezes it for good, and a checkpoint would carry the infinity:
 * refuse it too. */
/* The two passes as plain loops, vectorized at O3 for the widest unit the
 * CPU has (16 lanes with AVX-512 instead of SSE2's 4; sqrt and division
 * dominate). -fno-math-errno (CMakeLists.txt) lets sqrtf vectorize; no
 * contraction, so each lane does the scalar formula's operations in the
 * same order and the results stay bit-identical to it. Non-finite values
 * are found on the exponent bits: integer ops, so the loop vectorizes. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define ADAM_KERNEL __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3")))
#else
#define ADAM_KERNEL
#endif

static inline uint32_t nonfinite_bits(float x) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
}

ADAM_KERNEL
static int adam_check_range(const adam_consts *k, const float *restrict params,
                            const float *restrict grads, const float *restrict m,
                            const float *restrict v, size_t n) {
    const float b1 = k->b1, one_b1 = k->one_b1, b2 = k->b2, one_b2 = k->one_b2;
    const float step = k->step, inv_c2 = k->inv_c2, eps = k->eps;
    uint32_t bad = 0;
    for (size_t i = 0; i < n; ++i) {
        const float g = grads[i];
        const float mi = b1 * m[i] + one_b1 * g;
        const float vi = b2 * v[i] + one_b2 * g * g;
        const float w = params[i] - step * mi / (sqrtf(vi * inv_c2) + eps);
        bad |= nonfinite_bits(w) | nonfinite_bits(mi) | nonfinite_bits(vi);
    }
    return bad != 0;
}

static inline uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

static inline uint32_t abs_bits(float x) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b & 0x7fffffffu;
}

ADAM_KERNEL
static uint32_t max_abs_range(const float *restrict x, size_t n) {
    uint32_t mx = 0;
    for (size_t i = 0; i < n; ++i) mx = max_u32(mx, abs_bits(x[i]));
    return mx;
}

/* Pass 2: the update, and the maxima of the new values (used only with
 * track_bounds; taking them costs little beside the square root). */
ADAM_KERNEL
static void adam_apply_range(const adam_consts *k, float *restrict params,
                             const float *restrict grads, float *restrict m, float *restrict v,
                             size_t n, uint32_t out[4]) {
    const float b1 = k->b1, one_b1 = k->one_b1, b2 = k->b2, one_b2 = k->one_b2;
    const float step = k->step, inv_c2 = k->inv_c2, eps = k->eps;
    uint32_t mp = 0, mm = 0, mv = 0, neg = 0;
    for (size_t i = 0; i < n; ++i) {
        const float g = grads[i];
        const float mi = b1 * m[i] + one_b1 * g;
        const float vi = b2 * v[i] + one_b2 * g * g;
        m[i] = mi;
        v[i] = vi;
        const float w = params[i] - step * mi / (sqrtf(vi * inv_c2) + eps);
        params[i] = w;
        uint32_t sv;
        memcpy(&sv, &vi, sizeof sv);
        mp = max_u32(mp, abs_bits(w));
        mm = max_u32(mm, abs_bits(mi));
        mv = max_u32(mv, abs_bits(vi));
        neg |= sv >> 31;
    }
    out[APPLY_MAX_P] = mp;
    out[APPLY_MAX_M] = mm;
    out[APPLY_MAX_V] = mv;
    out[APPLY_NEG_V] = neg;
}

static void adam_check(void *arg, size_t begin, size_t end, int worker) {
    adam_job *j = arg;
    j->bad[worker] = (unsigned char)adam_check_range(&j->k, j->params + begin, j->grads + begin,
                                                     j->m + begin, j->v + begin, end - begin);
}

static void adam_apply(void *arg, size_t begin, size_t end, int worker) {
    adam_job *j = arg;
    adam_apply_range(&j->k, j->params + begin, j->grads + begin, j->m + begin, j->v + begin,
                     end - begin, j->apply[worker]);
}

static void max_grad(void *arg, size_t begin, size_t end, int worker) {
    adam_job *j = arg;
    j->max_g[worker] = max_abs_range(j->grads + begin, end - begin);
}

static float bits_float(uint32_t b) {
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}



/* Whether the step with these constants keeps every weight and moment
 * finite, from max |g| = G and the last step's maxima alone. In exact
 * arithmetic |m'| <= b1 M + (1 - b1) G and v' <= b2 V + (1 - b2) G^2; the
 * float code computes step m' and divides it by a denominator of at least
 * eps, so neither quotient nor dividend exceeds step |m'| max(1, 1/eps).
 * Each float operation adds a relative error of at most 2^-24 (a subnormal
 * result an absolute one below 1e-45); the factor 1.001 and the distance
 * from 1e37 to FLT_MAX (3.4e38) cover both many times over. v' >= 0 keeps
 * the square root real, and v' / c2 overflowing would only make the
 * update 0. NaN and infinity compare false below, so they never pass. */
static int provably_finite(const cns__adam *a, const adam_consts *k, float max_g) {
    const double G = max_g, M = a->max_m, V = a->max_v, P = a->max_param;
    const double m1 = ((double)k->b1 * M + (double)k->one_b1 * G) * 1.001;
    const double v1 = ((double)k->b2 * V + (double)k->one_b2 * G * G) * 1.001;
    const double inv_eps = 1.0 / (double)k->eps;
    const double upd = (double)k->step * m1 * (inv_eps > 1.0 ? inv_eps : 1.0) * 1.001;
    return m1 < 1e37 && v1 < 1e37 && P + upd < 1e37;
}

cns_status cns__adam_step_mt(cns__adam *a, float *params, const float *grads, size_t *bad_index,
                             int threads) {
    const uint64_t t = a->t + 1;
    const float b1 = (float)a->beta1, b2 = (float)a->beta2;
    const float c1 = (float)(1.0 - pow(a->beta1, (double)t));
    const float c2 = (float)(1.0 - pow(a->beta2, (double)t));
    adam_job j;
    j.k = (adam_consts){b1, 1.0f - b1, b2, 1.0f - b2, (float)a->lr / c1, 1.0f / c2,
                        (float)a->eps};
    j.params = params;
    j.grads = grads;
    j.m = a->m;
    j.v = a->v;
    j.n = a->n;
    if (threads < 1) threads = 1;
    if (threads > CNS__ADAM_MAX_THREADS) threads = CNS__ADAM_MAX_THREADS;
    memset(j.bad, 0, sizeof j.bad);
    memset(j.max_g, 0, sizeof j.max_g);
    memset(j.apply, 0, sizeof j.apply);
    /* Chunks of at least 16k parameters: below that a thread costs more than it saves. */
    int skip_check = 0;
    if (a->track_bounds && a->bounded) {
        cns__parallel_for(threads, j.n, 16384, max_grad, &j);
        uint32_t g = 0;
        for (int w = 0; w < threads; ++w) g = max_u32(g, j.max_g[w]);
        skip_check = provably_finite(a, &j.k, bits_float(g));
    }
    if (!skip_check) cns__parallel_for(threads, j.n, 16384, adam_check, &j);
    int bad = 0;
    for (int w = 0; w < threads; ++w) bad |= j.bad[w];
    if (bad) {
        float mo, vo;
        for (size_t i = 0; i < j.n; ++i) {
            const float w = adam_elem(&j.k, params[i], grads[i], j.m[i], j.v[i], &mo, &vo);
            if (!isfinite(grads[i]) || !isfinite(w) || !isfinite(mo) || !isfinite(vo)) {
                if (bad_index) *bad_index = i;
                return CNS_E_NUMERIC;
            }
        }
        if (bad_index) *bad_index = 0;
        return CNS_E_NUMERIC;
    }
    cns__parallel_for(threads, j.n, 16384, adam_apply, &j);
    a->t = t;
    if (a->track_bounds) {
        uint32_t rep[4] = {0};
        for (int w = 0; w < threads; ++w)
            for (int q = 0; q < 4; ++q) rep[q] = max_u32(rep[q], j.apply[w][q]);
        a->max_param = bits_float(rep[APPLY_MAX_P]);
        a->max_m = bits_float(rep[APPLY_MAX_M]);
        a->max_v = bits_float(rep[APPLY_MAX_V]);
        a->bounded = rep[APPLY_NEG_V] == 0;
    }
    return CNS_OK;
}

cns_status cns__adam_step_rows(cns__adam *a, float *params, const float *grads, size_t width,
                               const int32_t *rows, size_t n_rows, size_t *bad_index) {
    const uint64_t t = a->t + 1;
    const float b1 = (float)a->beta1, b2 = (float)a->beta2;
    const float c1 = (float)(1.0 - pow(a->beta1, (double)t));
    const float c2 = (float)(1.0 - pow(a->beta2, (double)t));
    /* The same constants and element formula as the dense step, so a row
     * that is touched gets the bits a dense step would give it. */
    const adam_consts k = {b1, 1.0f - b1, b2, 1.0f - b2, (float)a->lr / c1, 1.0f / c2,
                           (float)a->eps};
    int skip_check = 0;
    if (a->track_bounds && a->bounded) {
        uint32_t g = 0;
        for (size_t q = 0; q < n_rows; ++q)
            g = max_u32(g, max_abs_range(grads + (size_t)rows[q] * width, width));
        skip_check = provably_finite(a, &k, bits_float(g));
    }
    if (!skip_check)
        for (size_t q = 0; q < n_rows; ++q) {
            const size_t o = (size_t)rows[q] * width;
            if (!adam_check_range(&k, params + o, grads + o, a->m + o, a->v + o, width)) continue;
            float mo, vo;
            for (size_t i = o; i < o + width; ++i) {
                const float w = adam_elem(&k, params[i], grads[i], a->m[i], a->v[i], &mo, &vo);
                if (!isfinite(grads[i]) || !isfinite(w) || !isfinite(mo) || !isfinite(vo)) {
                    if (bad_index) *bad_index = i;
                    return CNS_E_NUMERIC;
                }
            }
            if (bad_index) *bad_index = o; /* cannot happen: the check pass saw one */
            return CNS_E_NUMERIC;
        }
    uint32_t rep[4] = {0};
    for (size_t q = 0; q < n_rows; ++q) {
        const size_t o = (size_t)rows[q] * width;
        uint32_t r[4];
        adam_apply_range(&k, params + o, grads + o, a->m + o, a->v + o, width, r);
        for (int j = 0; j < 4; ++j) rep[j] = max_u32(rep[j], r[j]);
    }
    a->t = t;
    if (a->track_bounds && a->bounded) {
        /* Untouched rows keep values the old maxima bound. */
        a->max_param = bits_float(max_u32(abs_bits(a->max_param), rep[APPLY_MAX_P]));
        a->max_m = bits_float(max_u32(abs_bits(a->max_m), rep[APPLY_MAX_M]));
        a->max_v = bits_float(max_u32(abs_bits(a->max_v), rep[APPLY_MAX_V]));
        a->bounded = rep[APPLY_NEG_V] == 0;
    }
    return CNS_OK;
}

cns_status cns__adam_step(cns__adam *a, float *params, const float *grads, size_t *bad_index) {
    return cns__adam_step_mt(a, params, grads, bad_index, 1);
}
