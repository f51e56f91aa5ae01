/* Internal: C = alpha op(A) B + beta C for the library's mid-sized
 * products, on the calling thread.
 *
 * OpenBLAS runs a product above ~262144 multiply-adds on its own workers,
 * which then spin (sched_yield) for about 0.1 s after every call and take
 * the cores from the library's own threads (the sampler's, the model's).
 * The loss and the denoiser call this instead and split rows themselves.
 * B is K x N row-major (ldb); op(A)[i][k] is a[i lda + k] (trans 0) or
 * a[k lda + i] (trans 1); C is M x N row-major (ldc). beta is 0 or 1. */
#ifndef CNS_SMALLGEMM_H
#define CNS_SMALLGEMM_H

#include <stddef.h>

void cns__small_gemm(int trans, size_t M, size_t N, size_t K, float alpha, const float *a,
                     size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc);

#endif
