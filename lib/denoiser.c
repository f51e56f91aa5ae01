/* The denoiser MLP (ALGORITHM.md §5): init, batched forward and backward. */
#include "denoiser.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "diffusion.h"
#include "parallel.h"
#include "smallgemm.h"

size_t cns__denoiser_param_count(int32_t d, int32_t td, int32_t hid) {
    size_t D = (size_t)d, Td = (size_t)td, H = (size_t)hid;
    return Td * Td + Td + H * (D + Td) + H + D * H + D;
}

/* Points the six views at their slices of a flat array. */
static void set_views(const cns__denoiser *m, float *base, float **Wt, float **bt, float **W1,
                      float **b1, float **W2, float **b2) {
    size_t D = (size_t)m->d, Td = (size_t)m->td, H = (size_t)m->hid;
    *Wt = base;
    *bt = *Wt + Td * Td;
    *W1 = *bt + Td;
    *b1 = *W1 + H * (D + Td);
    *W2 = *b1 + H;
    *b2 = *W2 + D * H;
}

static void fill_normal(cns__rng *r, float *p, size_t n, double std) {
    for (size_t i = 0; i < n; ++i) p[i] = (float)(cns__rng_normal(r) * std);
}

cns_status cns__denoiser_init(cns__denoiser *m, int32_t d, int32_t td, int32_t hid, int32_t T,
                              uint64_t seed, const cns__alloc *al) {
    memset(m, 0, sizeof *m);
    m->d = d;
    m->td = td;
    m->hid = hid;
    m->T = T;
    m->threads = 1;
    m->n_params = cns__denoiser_param_count(d, td, hid);
    size_t Tn = (size_t)T;
    m->params = cns__malloc(al, m->n_params * sizeof(float));
    m->grads = cns__calloc(al, m->n_params, sizeof(float));
    m->tau = cns__malloc(al, Tn * (size_t)td * sizeof(float));
    m->et = cns__malloc(al, Tn * (size_t)td * sizeof(float));
    m->gt = cns__malloc(al, Tn * (size_t)hid * sizeof(float));
    m->st = cns__malloc(al, Tn * (size_t)hid * sizeof(float));
    m->t_used = cns__calloc(al, Tn, 1);
    m->de = cns__malloc(al, (size_t)td * sizeof(float));
    double *tmp = cns__malloc(al, (size_t)td * sizeof(double));
    if (!m->params || !m->grads || !m->tau || !m->et || !m->gt || !m->st || !m->t_used || !m->de || !tmp) {
        cns__free(al, tmp);
        cns__denoiser_destroy(m, al);
        return CNS_E_NOMEM;
    }
    set_views(m, m->params, &m->Wt, &m->bt, &m->W1, &m->b1, &m->W2, &m->b2);
    set_views(m, m->grads, &m->gWt, &m->gbt, &m->gW1, &m->gb1, &m->gW2, &m->gb2);
    for (int32_t t = 0; t < T; ++t) {
        cns__time_embedding(t, td, tmp);
        for (int32_t k = 0; k < td; ++k) m->tau[(size_t)t * (size_t)td + (size_t)k] = (float)tmp[k];
    }
    cns__free(al, tmp);

    /* §5 init, in parameter order, from the denoiser's own stream. */
    cns__rng r;
    cns__rng_seed(&r, seed, 0x64656e6f69736572ull /* "denoiser" */);
    size_t D = (size_t)d, Td = (size_t)td, H = (size_t)hid;
    fill_normal(&r, m->Wt, Td * Td, sqrt(2.0 / (double)(Td + Td)));
    fill_normal(&r, m->bt, Td, 0.001);
    fill_normal(&r, m->W1, H * (D + Td), sqrt(2.0 / (double)(D + Td + H)));
    fill_normal(&r, m->b1, H, 0.001);
    fill_normal(&r, m->W2, D * H, sqrt(2.0 / (double)(H + D)));
    fill_normal(&r, m->b2, D, 0.001);
    return CNS_OK;
}

static void free_rows(cns__denoiser *m, const cns__alloc *al) {
    cns__free(al, m->xin);
    cns__free(al, m->mask);
    cns__free(al, m->inv_norm);
    cns__free(al, m->h);
    cns__free(al, m->dh);
    m->xin = m->mask = m->inv_norm = m->h = m->dh = NULL;
    m->cap = 0;
}

void cns__denoiser_destroy(cns__denoiser *m, const cns__alloc *al) {
    free_rows(m, al);
    cns__free(al, m->params);
    cns__free(al, m->grads);
    cns__free(al, m->tau);
    cns__free(al, m->et);
    cns__free(al, m->gt);
    cns__free(al, m->st);
    cns__free(al, m->t_used);
    cns__free(al, m->de);
    memset(m, 0, sizeof *m);
}

cns_status cns__denoiser_reserve(cns__denoiser *m, size_t n, const cns__alloc *al) {
    if (n <= m->cap) return CNS_OK;
    size_t nd, nh;
    if (!cns__mul_ok(n, (size_t)m->d * sizeof(float), &nd) ||
        !cns__mul_ok(n, (size_t)m->hid * sizeof(float), &nh))
        return CNS_E_NOMEM;
    float *xin = cns__malloc(al, nd), *mask = cns__malloc(al, nd);
    float *inv = cns__malloc(al, n * sizeof(float));
    float *h = cns__malloc(al, nh), *dh = cns__malloc(al, nh);
    if (!xin || !mask || !inv || !h || !dh) {
        cns__free(al, xin);
        cns__free(al, mask);
        cns__free(al, inv);
        cns__free(al, h);
        cns__free(al, dh);
        return CNS_E_NOMEM;
    }
    free_rows(m, al);
    m->xin = xin;
    m->mask = mask;
    m->inv_norm = inv;
    m->h = h;
    m->dh = dh;
    m->cap = n;
    return CNS_OK;
}

/* ---- kernels ------------------------------------------------------------ */

/* Branch-free tanh: |a| clamped to 9 (on the bits, so it vectorizes), then
 * tanh(x) ~ x P(x^2) / Q(x^2), a [13/6] rational fitted offline to tanh on
 * [0, 9] by iteratively reweighted least squares on the relative error
 * (max relative error 3e-7 evaluated in float). */
#define TANH_BODY(a, out)                                                                      \
    do {                                                                                       \
        union { float f; uint32_t u; } ab_;                                                    \
        ab_.f = (a);                                                                           \
        uint32_t bits_ = ab_.u & 0x7fffffffu;                                                  \
        bits_ = bits_ < 0x41100000u ? bits_ : 0x41100000u; /* |a| clamped to 9 (NaN too) */    \
        ab_.u = bits_;                                                                         \
        float x_ = ab_.f, u_ = x_ * x_;                                                        \
        float p_ = -8.712674849056389e-14f;                                                    \
        p_ = p_ * u_ + 5.372094437139669e-11f;                                                 \
        p_ = p_ * u_ - 2.043503465429141e-08f;                                                 \
        p_ = p_ * u_ + 1.1209017886138377e-05f;                                                \
        p_ = p_ * u_ + 0.003109366964212979f;                                                  \
        p_ = p_ * u_ + 0.13088909652857944f;                                                   \
        p_ = p_ * u_ + 0.9999999979518157f;                                                    \
        float q_ = 0.0002553916100988614f;                                                     \
        q_ = q_ * u_ + 0.024516899423320377f;                                                  \
        q_ = q_ * u_ + 0.46422239269744775f;                                                   \
        q_ = q_ * u_ + 1.0f;                                                                   \
        union { float f; uint32_t u; } th_;                                                    \
        th_.f = x_ * p_ / q_;                                                                  \
        th_.u = th_.u < 0x3f800000u ? th_.u : 0x3f800000u; /* at most 1 */                    \
        /* copysign, and a - a is NaN for a non-finite input: keep it visible */              \
        (out) = copysignf(th_.f, (a)) + ((a) - (a));                                           \
    } while (0)

CNS__HOT void cns__tanh_inplace(float *x, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        float a = x[i], y;
        TANH_BODY(a, y);
        x[i] = y;
    }
}

/* h[r] = tanh(h[r]) over n rows of width hid (the bias is in h already),
 * and out[r] = b2: the second GEMM accumulates onto it. */
CNS__HOT static void tanh_rows_fill(float *restrict h, size_t n, size_t hid, float *restrict out,
                                    const float *restrict b2, size_t d) {
    for (size_t r = 0; r < n; ++r) {
        float *restrict row = h + r * hid;
        for (size_t j = 0; j < hid; ++j) {
            float a = row[j], y;
            TANH_BODY(a, y);
            row[j] = y;
        }
        float *restrict o = out + r * d;
        for (size_t j = 0; j < d; ++j) o[j] = b2[j];
    }
}

/* 1/max(|x|, 1e-12): the forward and the draw get the same bits. */
static inline __attribute__((always_inline)) float row_inv_norm(const float *restrict xr,
                                                                size_t d) {
    const float nrm = sqrtf(cns__dot16(xr, xr, d));
    return 1.0f / (nrm > 1e-12f ? nrm : 1e-12f);
}

/* xin = x * inv_norm (and * mask); inv_norm = 1/max(|x|, 1e-12) or 1;
 * h[r] = g_{t_r}: the first GEMM accumulates onto it (saves OpenBLAS's
 * zeroing of C and a bias pass). */
CNS__HOT static void normalise_rows(const float *restrict x, float *restrict xin,
                                    float *restrict inv, const float *restrict mask, size_t n,
                                    size_t d, int norm, float *restrict h, size_t hid,
                                    const float *restrict gt, const int32_t *t_rows,
                                    int32_t t_all) {
    for (size_t r = 0; r < n; ++r) {
        const float *restrict xr = x + r * d;
        const float s = norm ? row_inv_norm(xr, d) : 1.0f;
        inv[r] = s;
        float *restrict out = xin + r * d;
        if (mask) {
            const float *restrict mr = mask + r * d;
            for (size_t j = 0; j < d; ++j) out[j] = xr[j] * s * mr[j];
        } else {
            for (size_t j = 0; j < d; ++j) out[j] = xr[j] * s;
        }
        const float *restrict g = gt + (size_t)(t_rows ? t_rows[r] : t_all) * hid;
        float *restrict hr = h + r * hid;
        for (size_t j = 0; j < hid; ++j) hr[j] = g[j];
    }
}

/* inv[r] = 1/max(|x_r|, 1e-12) (or 1): the draw's path, where the GEMM
 * reads x itself and the scale is applied after it (no copy of x). */
CNS__HOT void cns__inv_norms(const float *restrict x, float *restrict inv, size_t n, size_t d,
                             int norm) {
    for (size_t r = 0; r < n; ++r) {
        const float *restrict xr = x + r * d;
        const float s = norm ? row_inv_norm(xr, d) : 1.0f;
        inv[r] = s;
    }
}

/* h[r] = tanh(inv[r] h[r] + g) for one shared t, and out[r] = b2. */
CNS__HOT static void scale_tanh_fill(float *restrict h, const float *restrict inv, size_t n,
                                     size_t hid, const float *restrict g, float *restrict out,
                                     const float *restrict b2, size_t d) {
    for (size_t r = 0; r < n; ++r) {
        float *restrict row = h + r * hid;
        const float sr = inv[r];
        for (size_t j = 0; j < hid; ++j) {
            float a = sr * row[j] + g[j], y;
            TANH_BODY(a, y);
            row[j] = y;
        }
        float *restrict o = out + r * d;
        for (size_t j = 0; j < d; ++j) o[j] = b2[j];
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* scale_tanh_fill for AVX-512 with the rational's division done as a
 * reciprocal estimate (14 bits) and one Newton step (relative error
 * ~2^-28, below float rounding): vdivps costs about as much as the rest of
 * the tanh together. q >= 1 everywhere, so the estimate is always safe.
 * The polynomials use FMA too, so results differ from scale_tanh_fill by
 * rounding (<= 5e-7 on the draw's candidates). Called where hid and d are
 * multiples of 16. The draw's chain spends a fifth of its time here. */
__attribute__((target("avx512f"))) static void scale_tanh_fill_avx512(
    float *restrict h, const float *restrict inv, size_t n, size_t hid, const float *restrict g,
    float *restrict out, const float *restrict b2, size_t d) {
    const __m512i absmask = _mm512_set1_epi32(0x7fffffff), nine = _mm512_set1_epi32(0x41100000),
                  one = _mm512_set1_epi32(0x3f800000);
    const __m512 two = _mm512_set1_ps(2.0f);
    for (size_t r = 0; r < n; ++r) {
        float *restrict row = h + r * hid;
        const __m512 sr = _mm512_set1_ps(inv[r]);
        for (size_t j = 0; j < hid; j += 16) {
            const __m512 a = _mm512_add_ps(_mm512_mul_ps(sr, _mm512_loadu_ps(row + j)),
                                           _mm512_loadu_ps(g + j));
            const __m512i ai = _mm512_castps_si512(a);
            const __m512 x = _mm512_castsi512_ps(_mm512_min_epu32(_mm512_and_si512(ai, absmask), nine));
            const __m512 u = _mm512_mul_ps(x, x);
            __m512 p = _mm512_set1_ps(-8.712674849056389e-14f);
            p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(5.372094437139669e-11f));
            p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(-2.043503465429141e-08f));
            p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(1.1209017886138377e-05f));
            p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(0.003109366964212979f));
            p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(0.13088909652857944f));
            p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(0.9999999979518157f));
            __m512 q = _mm512_set1_ps(0.0002553916100988614f);
            q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(0.024516899423320377f));
            q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(0.46422239269744775f));
            q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(1.0f));
            __m512 rq = _mm512_rcp14_ps(q);
            rq = _mm512_mul_ps(rq, _mm512_fnmadd_ps(q, rq, two));
            const __m512i th = _mm512_min_epu32(
                _mm512_castps_si512(_mm512_mul_ps(_mm512_mul_ps(x, p), rq)), one);
            /* copysign, and a - a is NaN for a non-finite input */
            const __m512i sgn = _mm512_andnot_si512(absmask, ai);
            const __m512 t = _mm512_castsi512_ps(_mm512_or_si512(th, sgn));
            _mm512_storeu_ps(row + j, _mm512_add_ps(t, _mm512_sub_ps(a, a)));
        }
        float *restrict o = out + r * d;
        for (size_t j = 0; j < d; j += 16) _mm512_storeu_ps(o + j, _mm512_loadu_ps(b2 + j));
    }
}
#define CNS__AVX512_KERNELS 1
#endif

/* scale_tanh_fill through the AVX-512 kernel where the CPU and the widths
 * allow it. */
static void scale_tanh_rows(int fast, float *h, const float *inv, size_t n, size_t hid,
                            const float *g, float *out, const float *b2, size_t d) {
#ifdef CNS__AVX512_KERNELS
    if (fast) {
        scale_tanh_fill_avx512(h, inv, n, hid, g, out, b2, d);
        return;
    }
#else
    (void)fast;
#endif
    scale_tanh_fill(h, inv, n, hid, g, out, b2, d);
}

static int avx512_ok(void) {
#ifdef CNS__AVX512_KERNELS
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return 0;
#endif
}

static int tanh_fast_ok(size_t hid, size_t d) {
    return avx512_ok() && hid % 16 == 0 && d % 16 == 0;
}

typedef struct fwd_job {
    cns__denoiser *m;
    const float *x;
    const int32_t *t_rows;
    int32_t t_all;
    int norm, drop, keep;
    const float *inv_in;
    float *out;
    cns__rows_fn epilogue;
    void *epilogue_arg;
} fwd_job;

/* Rows per chunk: the chunk's activations stay in cache between the
 * fused phases; the sampler's own workers split the rows. */
#define CHUNK_ROWS 64
/* Weights up to this many floats per matrix are transposed onto the
 * worker's stack for cns__small_gemm (B row-major); larger ones go
 * through OpenBLAS (each chunk's call stays on the calling thread). */
#define PACK_MAX 8192

/* out = x W^T (k x N) from x (k x K) and W (N x K, ld ldw): through the
 * packed W^T when there is one. */
static void rows_times_wt(size_t k, size_t N, size_t K, const float *x, const float *w,
                          size_t ldw, const float *wt, float beta, float *out) {
    if (wt != NULL)
        cns__small_gemm(0, k, N, K, 1.0f, x, K, wt, N, beta, out, N);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)k, (int)N, (int)K, 1.0f, x,
                    (int)K, w, (int)ldw, beta, out, (int)N);
}

static void transpose(const float *restrict w, size_t rows, size_t cols, size_t ld,
                      float *restrict wt) {
    for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c) wt[c * rows + r] = w[r * ld + c];
}

static void fwd_range(void *arg, size_t b, size_t e, int worker) {
    (void)worker;
    fwd_job *j = arg;
    cns__denoiser *m = j->m;
    const size_t D = (size_t)m->d, H = (size_t)m->hid, Td = (size_t)m->td;
    /* W1x^T (D x H) and W2^T (H x D), once per worker and call */
    float w1t[PACK_MAX], w2t[PACK_MAX];
    const int packed = D * H <= PACK_MAX;
    if (packed) {
        transpose(m->W1, H, D, D + Td, w1t);
        transpose(m->W2, D, H, H, w2t);
    }
    const float *p1 = packed ? w1t : NULL, *p2 = packed ? w2t : NULL;
    for (size_t c = b; c < e; c += CHUNK_ROWS) {
        size_t k = e - c < CHUNK_ROWS ? e - c : CHUNK_ROWS;
        float *h = m->h + c * H, *out = j->out + c * D, *xin = m->xin + c * D;
        if (!j->keep && !j->drop && !j->t_rows) {
            /* nothing to keep for a backward: W1x (s x) = s (W1x x) */
            const float *inv = j->inv_in ? j->inv_in + c : m->inv_norm + c;
            if (!j->inv_in) cns__inv_norms(j->x + c * D, m->inv_norm + c, k, D, j->norm);
            rows_times_wt(k, H, D, j->x + c * D, m->W1, D + Td, p1, 0.0f, h);
            scale_tanh_fill(h, inv, k, H, m->gt + (size_t)j->t_all * H, out, m->b2, D);
            rows_times_wt(k, D, H, h, m->W2, H, p2, 1.0f, out);
            if (j->epilogue) j->epilogue(j->epilogue_arg, c, c + k);
            continue;
        }
        normalise_rows(j->x + c * D, xin, m->inv_norm + c, j->drop ? m->mask + c * D : NULL, k, D,
                       j->norm, h, H, m->gt, j->t_rows ? j->t_rows + c : NULL, j->t_all);
        /* h = tanh(g_t + xin W1x^T) */
        rows_times_wt(k, H, D, xin, m->W1, D + Td, p1, 1.0f, h);
        tanh_rows_fill(h, k, H, out, m->b2, D);
        /* x̂0 = b2 + h W2^T */
        rows_times_wt(k, D, H, h, m->W2, H, p2, 1.0f, out);
        if (j->epilogue) j->epilogue(j->epilogue_arg, c, c + k);
    }
}

/* Computes e_t and g_t = W1t e_t + b1 for every t flagged in t_used. */
static void prepare_used(cns__denoiser *m) {
    const int32_t td = m->td, hid = m->hid, D = m->d;
    for (int32_t t = 0; t < m->T; ++t) {
        if (!m->t_used[t]) continue;
        float *e = m->et + (size_t)t * (size_t)td;
        float *g = m->gt + (size_t)t * (size_t)hid;
        memcpy(e, m->bt, (size_t)td * sizeof(float));
        cblas_sgemv(CblasRowMajor, CblasNoTrans, td, td, 1.0f, m->Wt, td,
                    m->tau + (size_t)t * (size_t)td, 1, 1.0f, e, 1);
        memcpy(g, m->b1, (size_t)hid * sizeof(float));
        cblas_sgemv(CblasRowMajor, CblasNoTrans, hid, td, 1.0f, m->W1 + D, D + td, e, 1, 1.0f, g, 1);
    }
}

static void prepare_t(cns__denoiser *m, size_t n, const int32_t *t_rows, int32_t t_all) {
    memset(m->t_used, 0, (size_t)m->T);
    if (t_rows) {
        for (size_t r = 0; r < n; ++r) m->t_used[t_rows[r]] = 1;
    } else {
        m->t_used[t_all] = 1;
    }
    prepare_used(m);
}

typedef struct chain_job {
    cns__denoiser *m;
    const cns__chain *c;
    float *x, *xhat;
    int fast_tanh; /* the AVX-512 tanh (not when c->exact) */
    int fast_mask; /* AVX-512 mask expansion (same bits either way) */
} chain_job;

/* mask[i] = keep or 0 from bits [at, at + len) of a packed mask: 16
 * entries per mask register on AVX-512 where the run starts on a 16-bit
 * boundary, one at a time otherwise. */
#ifdef CNS__AVX512_KERNELS
__attribute__((target("avx512f"))) static size_t unpack_mask_avx512(const uint64_t *restrict bits,
                                                                    size_t at, size_t len,
                                                                    float keep,
                                                                    float *restrict mask) {
    const __m512 kv = _mm512_set1_ps(keep);
    size_t i = 0;
    for (; i + 16 <= len; i += 16, at += 16) {
        const __mmask16 k16 = (__mmask16)(bits[at / 64] >> (at % 64));
        _mm512_storeu_ps(mask + i, _mm512_maskz_mov_ps(k16, kv));
    }
    return i;
}
#endif

static void unpack_mask(int fast, const uint64_t *restrict bits, size_t at, size_t len, float keep,
                        float *restrict mask) {
    size_t i = 0;
#ifdef CNS__AVX512_KERNELS
    if (fast && at % 16 == 0) i = unpack_mask_avx512(bits, at, len, keep, mask);
#else
    (void)fast;
#endif
    for (at += i; i < len; ++i, ++at) mask[i] = (bits[at / 64] >> (at % 64)) & 1u ? keep : 0.0f;
}

/* Rows [b, e) of every block through their whole chain, one chunk at a
 * time: the chunk's latents, activations and the packed weights stay in
 * L1/L2 for all of its steps. The same kernels as one
 * cns__denoiser_forward_ex per step (with dropout exactly its path), but
 * for the AVX-512 tanh where the caller allows it (j->fast_tanh). */
static void chain_range(void *arg, size_t b, size_t e, int worker) {
    (void)worker;
    const chain_job *j = arg;
    const cns__chain *ch = j->c;
    cns__denoiser *m = j->m;
    const size_t D = (size_t)m->d, H = (size_t)m->hid, Td = (size_t)m->td;
    const size_t step_bits = (size_t)ch->blocks * ch->n * D;
    float w1t[PACK_MAX], w2t[PACK_MAX], inv[CHUNK_ROWS];
    const int packed = D * H <= PACK_MAX;
    if (packed) {
        transpose(m->W1, H, D, D + Td, w1t);
        transpose(m->W2, D, H, H, w2t);
    }
    const float *p1 = packed ? w1t : NULL, *p2 = packed ? w2t : NULL;
    for (int32_t blk = 0; blk < ch->blocks; ++blk)
        for (size_t c = b; c < e; c += CHUNK_ROWS) {
            const size_t k = e - c < CHUNK_ROWS ? e - c : CHUNK_ROWS;
            const size_t row = (size_t)blk * ch->n + c;
            float *x = j->x + row * D, *out = j->xhat + row * D, *h = m->h + row * H;
            const int32_t top = ch->t_from >= 0 ? ch->t_from : ch->levels[blk] - 1;
            if (ch->drop == NULL) cns__inv_norms(x, inv, k, D, ch->norm);
            for (int32_t t = top; t >= 0; --t) {
                if (ch->drop != NULL) {
                    /* h = g_t + (x / |x| * mask) W1x^T, as forward_ex does it */
                    float *xin = m->xin + row * D, *mask = m->mask + row * D;
                    unpack_mask(j->fast_mask, ch->drop, (size_t)(top - t) * step_bits + row * D,
                                k * D, ch->keep, mask);
                    normalise_rows(x, xin, inv, mask, k, D, ch->norm, h, H, m->gt, NULL, t);
                    rows_times_wt(k, H, D, xin, m->W1, D + Td, p1, 1.0f, h);
                    tanh_rows_fill(h, k, H, out, m->b2, D);
                } else {
                    rows_times_wt(k, H, D, x, m->W1, D + Td, p1, 0.0f, h);
                    scale_tanh_rows(j->fast_tanh, h, inv, k, H, m->gt + (size_t)t * H, out, m->b2, D);
                }
                rows_times_wt(k, D, H, h, m->W2, H, p2, 1.0f, out);
                cns__posterior_step(x, out, NULL, k * D, ch->c1[t], ch->c2[t]);
                if (t > 0 && ch->drop == NULL) cns__inv_norms(x, inv, k, D, ch->norm);
            }
        }
}

void cns__denoiser_forward_ex(cns__denoiser *m, const float *x, size_t n, const int32_t *t_rows,
                              int32_t t_all, int norm, double dropout, cns__rng *rng, float *out,
                              int keep, const float *inv_in, cns__rows_fn epilogue,
                              void *epilogue_arg) {
    const size_t D = (size_t)m->d;
    prepare_t(m, n, t_rows, t_all);
    const int drop = dropout > 0.0 && rng != NULL;
    /* drawn in row order before the split: the same draws for any thread count */
    if (drop) cns__dropout_mask(rng, m->mask, n * D, dropout);
    fwd_job job = {m, x, t_rows, t_all, norm, drop, keep, inv_in, out, epilogue, epilogue_arg};
    cns__parallel_for(m->threads, n, 4 * CHUNK_ROWS, fwd_range, &job);
    m->last_norm = norm;
    m->last_dropout = drop;
}

void cns__denoiser_chain(cns__denoiser *m, const cns__chain *c, float *x, float *xhat) {
    int32_t t_top = c->t_from;
    if (t_top < 0)
        for (int32_t blk = 0; blk < c->blocks; ++blk)
            t_top = c->levels[blk] - 1 > t_top ? c->levels[blk] - 1 : t_top;
    memset(m->t_used, 0, (size_t)m->T);
    memset(m->t_used, 1, (size_t)t_top + 1);
    prepare_used(m);
    chain_job job = {m, c, x, xhat, !c->exact && tanh_fast_ok((size_t)m->hid, (size_t)m->d),
                     avx512_ok()};
    cns__parallel_for(m->threads, c->n, CHUNK_ROWS, chain_range, &job);
    m->last_norm = c->norm;
    m->last_dropout = c->drop != NULL;
}

void cns__denoiser_forward(cns__denoiser *m, const float *x, size_t n, const int32_t *t_rows,
                           int32_t t_all, int norm, double dropout, cns__rng *rng, float *out) {
    cns__denoiser_forward_ex(m, x, n, t_rows, t_all, norm, dropout, rng, out, 1, NULL, NULL, NULL);
}

/* dpre = dh * (1 - h^2) in place. */
CNS__HOT static void tanh_backward(float *restrict dh, const float *restrict h, size_t n) {
    for (size_t i = 0; i < n; ++i) dh[i] *= 1.0f - h[i] * h[i];
}

/* acc[j] += sum_r a[r][j] (a: n x w). */
CNS__HOT static void col_sums(const float *restrict a, size_t n, size_t w, float *restrict acc) {
    for (size_t r = 0; r < n; ++r)
        for (size_t j = 0; j < w; ++j) acc[j] += a[r * w + j];
}

void cns__denoiser_backward(cns__denoiser *m, const float *x, const float *dout, size_t n,
                            const int32_t *t_rows, int32_t t_all, float *dx) {
    const size_t D = (size_t)m->d, H = (size_t)m->hid, Td = (size_t)m->td;
    memset(m->grads, 0, m->n_params * sizeof(float));
    /* output layer */
    /* the products through cns__small_gemm: OpenBLAS would start its
     * spinning workers for n = 2048 rows (smallgemm.h) */
    cns__small_gemm(1, D, H, n, 1.0f, dout, D, m->h, H, 0.0f, m->gW2, H);
    col_sums(dout, n, D, m->gb2);
    cns__small_gemm(0, n, H, D, 1.0f, dout, D, m->W2, H, 0.0f, m->dh, H);
    tanh_backward(m->dh, m->h, n * H);
    /* hidden layer, input block */
    cns__small_gemm(1, H, D, n, 1.0f, m->dh, H, m->xin, D, 0.0f, m->gW1, D + Td);
    col_sums(m->dh, n, H, m->gb1);
    /* time block: per distinct t, from the summed dpre of its rows */
    memset(m->st, 0, (size_t)m->T * H * sizeof(float));
    if (t_rows) {
        for (size_t r = 0; r < n; ++r) col_sums(m->dh + r * H, 1, H, m->st + (size_t)t_rows[r] * H);
    } else {
        col_sums(m->dh, n, H, m->st + (size_t)t_all * H);
    }
    float *de = m->de;
    for (int32_t t = 0; t < m->T; ++t) {
        if (!m->t_used[t]) continue;
        const float *s = m->st + (size_t)t * H, *e = m->et + (size_t)t * Td;
        cblas_sger(CblasRowMajor, (int)H, (int)Td, 1.0f, s, 1, e, 1, m->gW1 + D, (int)(D + Td));
        /* de = W1t^T s */
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)H, (int)Td, 1.0f, m->W1 + D, (int)(D + Td), s,
                    1, 0.0f, de, 1);
        cblas_sger(CblasRowMajor, (int)Td, (int)Td, 1.0f, de, 1, m->tau + (size_t)t * Td, 1, m->gWt,
                   (int)Td);
        for (size_t k = 0; k < Td; ++k) m->gbt[k] += de[k];
    }
    if (dx == NULL) return;
    /* input: through W1x, the dropout mask and the normalisation */
    cns__small_gemm(0, n, D, H, 1.0f, m->dh, H, m->W1, D + Td, 0.0f, dx, D);
    for (size_t r = 0; r < n; ++r) {
        float *g = dx + r * D;
        const float *xr = x + r * D;
        const float s = m->inv_norm[r];
        if (m->last_dropout)
            for (size_t j = 0; j < D; ++j) g[j] *= m->mask[r * D + j];
        if (m->last_norm) {
            /* y = x s: dx = (g - y (y . g)) s */
            float yg = 0.0f;
            for (size_t j = 0; j < D; ++j) yg += xr[j] * s * g[j];
            for (size_t j = 0; j < D; ++j) g[j] = (g[j] - xr[j] * s * yg) * s;
        }
    }
}
