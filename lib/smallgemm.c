/* A register-blocked single-thread GEMM for the loss's and the
 * denoiser's products (see smallgemm.h for why not OpenBLAS). */
#include "smallgemm.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* Wide vectors where the CPU has them (the library is built for generic
 * x86-64); O3 and FMA contraction (-std=c11 turns it off) for this kernel
 * only: a reassociation within one code path, so results do not depend
 * on any thread count. */
#define CNS__BLOCK_KERNEL                                                                     \
    __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3", "fp-contract=fast")))
#else
#define CNS__BLOCK_KERNEL
#endif

/* Every product is "C row += a scalar x B row" with B rows contiguous:
 * 4 rows x 64 columns of C held in 16 vectors. */
#if defined(__GNUC__)
typedef float cns__v16 __attribute__((vector_size(64), aligned(4), may_alias));
#define GEMM_VEC 16
#define VLOAD(p) (*(const cns__v16 *)(const void *)(p))
#define VSTORE(p, v) (*(cns__v16 *)(void *)(p) = (v))
#endif

/* C (M x N, ldc) = alpha op(A) B + beta C, B (K x N, ldb) row-major;
 * op(A)[i][k] = a[i lda + k] (trans 0) or a[k lda + i] (trans 1).
 * beta is 0 or 1. */
CNS__BLOCK_KERNEL
static void small_gemm_panel(int trans, size_t M, size_t N, size_t K, float alpha,
                       const float *restrict a, size_t lda, const float *restrict b, size_t ldb,
                       float beta, float *restrict c, size_t ldc) {
    const size_t sa_i = trans ? 1 : lda, sa_k = trans ? lda : 1;
    size_t i = 0;
#if defined(__GNUC__)
    /* 6 x 64 tiles (24 accumulators, 4 B vectors: 28 of 32 registers) where
     * the columns come in 64s; the 4-row code below takes the rest. */
    if (N % (4 * GEMM_VEC) == 0)
        for (; i + 6 <= M; i += 6) {
            const float *ar[6];
            for (size_t r = 0; r < 6; ++r) ar[r] = a + (i + r) * sa_i;
            for (size_t j = 0; j < N; j += 4 * GEMM_VEC) {
                cns__v16 acc[6][4];
                for (size_t r = 0; r < 6; ++r)
                    for (size_t q = 0; q < 4; ++q) acc[r][q] = (cns__v16){0};
                for (size_t k = 0; k < K; ++k) {
                    const float *bk = b + k * ldb + j;
                    const cns__v16 b0 = VLOAD(bk), b1 = VLOAD(bk + GEMM_VEC),
                                   b2 = VLOAD(bk + 2 * GEMM_VEC), b3 = VLOAD(bk + 3 * GEMM_VEC);
                    for (size_t r = 0; r < 6; ++r) {
                        const float x = ar[r][k * sa_k];
                        acc[r][0] += x * b0;
                        acc[r][1] += x * b1;
                        acc[r][2] += x * b2;
                        acc[r][3] += x * b3;
                    }
                }
                for (size_t r = 0; r < 6; ++r)
                    for (size_t q = 0; q < 4; ++q) {
                        float *cp = c + (i + r) * ldc + j + q * GEMM_VEC;
                        VSTORE(cp, beta != 0.0f ? VLOAD(cp) + alpha * acc[r][q] : alpha * acc[r][q]);
                    }
            }
        }
    for (; i + 4 <= M; i += 4) {
        const float *a0 = a + i * sa_i, *a1 = a0 + sa_i, *a2 = a1 + sa_i, *a3 = a2 + sa_i;
        size_t j = 0;
        for (; j + 4 * GEMM_VEC <= N; j += 4 * GEMM_VEC) {
            cns__v16 c00 = {0}, c01 = {0}, c02 = {0}, c03 = {0}, c10 = {0}, c11 = {0}, c12 = {0},
                     c13 = {0}, c20 = {0}, c21 = {0}, c22 = {0}, c23 = {0}, c30 = {0}, c31 = {0},
                     c32 = {0}, c33 = {0};
            for (size_t k = 0; k < K; ++k) {
                const float *bk = b + k * ldb + j;
                const cns__v16 b0 = VLOAD(bk), b1 = VLOAD(bk + GEMM_VEC),
                               b2 = VLOAD(bk + 2 * GEMM_VEC), b3 = VLOAD(bk + 3 * GEMM_VEC);
                const float x0 = a0[k * sa_k], x1 = a1[k * sa_k], x2 = a2[k * sa_k],
                            x3 = a3[k * sa_k];
                c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
                c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
                c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
                c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
            }
#define GEMM_PUT(r, v, q)                                                                  \
    do {                                                                                   \
        float *cp_ = c + (i + (r)) * ldc + j + (q) * GEMM_VEC;                             \
        VSTORE(cp_, beta != 0.0f ? VLOAD(cp_) + alpha * (v) : alpha * (v));                \
    } while (0)
            GEMM_PUT(0, c00, 0); GEMM_PUT(0, c01, 1); GEMM_PUT(0, c02, 2); GEMM_PUT(0, c03, 3);
            GEMM_PUT(1, c10, 0); GEMM_PUT(1, c11, 1); GEMM_PUT(1, c12, 2); GEMM_PUT(1, c13, 3);
            GEMM_PUT(2, c20, 0); GEMM_PUT(2, c21, 1); GEMM_PUT(2, c22, 2); GEMM_PUT(2, c23, 3);
            GEMM_PUT(3, c30, 0); GEMM_PUT(3, c31, 1); GEMM_PUT(3, c32, 2); GEMM_PUT(3, c33, 3);
#undef GEMM_PUT
        }
        for (; j + GEMM_VEC <= N; j += GEMM_VEC) {
            cns__v16 c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
            for (size_t k = 0; k < K; ++k) {
                const cns__v16 bv = VLOAD(b + k * ldb + j);
                c0 += a0[k * sa_k] * bv;
                c1 += a1[k * sa_k] * bv;
                c2 += a2[k * sa_k] * bv;
                c3 += a3[k * sa_k] * bv;
            }
            const cns__v16 cv[4] = {c0, c1, c2, c3};
            for (size_t r = 0; r < 4; ++r) {
                float *cp = c + (i + r) * ldc + j;
                VSTORE(cp, beta != 0.0f ? VLOAD(cp) + alpha * cv[r] : alpha * cv[r]);
            }
        }
        for (; j < N; ++j)
            for (size_t r = 0; r < 4; ++r) {
                const float *ar = a + (i + r) * sa_i;
                float acc = 0.0f;
                for (size_t k = 0; k < K; ++k) acc += ar[k * sa_k] * b[k * ldb + j];
                float *cp = c + (i + r) * ldc + j;
                *cp = beta != 0.0f ? *cp + alpha * acc : alpha * acc;
            }
    }
#endif
    /* The last rows (and the whole product without vector extensions), as
     * the tiles do it: each element summed from zero in k order, then
     * alpha acc (+ C). A row's bits must not depend on whether it fell in
     * a tile or here: where a chunk ends depends on the thread count. */
    for (; i < M; ++i) {
        const float *ar = a + i * sa_i;
        float *cr = c + i * ldc;
        size_t j = 0;
#if defined(__GNUC__)
        for (; j + GEMM_VEC <= N; j += GEMM_VEC) {
            cns__v16 acc = {0};
            for (size_t k = 0; k < K; ++k) acc += ar[k * sa_k] * VLOAD(b + k * ldb + j);
            VSTORE(cr + j, beta != 0.0f ? VLOAD(cr + j) + alpha * acc : alpha * acc);
        }
#endif
        for (; j < N; ++j) {
            float acc = 0.0f;
            for (size_t k = 0; k < K; ++k) acc += ar[k * sa_k] * b[k * ldb + j];
            cr[j] = beta != 0.0f ? cr[j] + alpha * acc : alpha * acc;
        }
    }
}

/* K in panels of GEMM_KC: each panel of A and B stays in L2 while every
 * row tile of C passes over it. */
#define GEMM_KC 256
void cns__small_gemm(int trans, size_t M, size_t N, size_t K, float alpha,
                       const float *a, size_t lda, const float *b, size_t ldb, float beta,
                       float *c, size_t ldc) {
    const size_t sa_k = trans ? lda : 1;
    for (size_t k0 = 0; k0 < K; k0 += GEMM_KC) {
        const size_t kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        small_gemm_panel(trans, M, N, kc, alpha, a + k0 * sa_k, lda, b + k0 * ldb, ldb,
                         k0 == 0 ? beta : 1.0f, c, ldc);
    }
}

