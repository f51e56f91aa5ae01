/* The register-blocked GEMM of lib/smallgemm.c: against a float64
 * product, and a row's bits independent of where the call's rows start
 * (the callers' chunk boundaries move with the thread count). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "smallgemm.h"
#include "testutil.h"

static void fill(float *x, size_t n, uint64_t seed) {
    cns__rng r;
    cns__rng_seed(&r, seed, 7);
    for (size_t i = 0; i < n; ++i) x[i] = (float)(cns__rng_normal(&r));
}

/* op(A)[i][k]: row-major M x K, or stored transposed (K x M). */
static double a_at(const float *a, int trans, size_t M, size_t K, size_t i, size_t k) {
    return trans ? a[k * M + i] : a[i * K + k];
}

/* Shapes cover the 6-row and 4-row tiles and the last rows, 64- and
 * 16-wide column blocks and the column tail, and K over one panel (256). */
static void check_against_double(int trans, float beta, size_t M, size_t N, size_t K) {
    float *a = malloc(M * K * sizeof *a), *b = malloc(K * N * sizeof *b);
    float *c = malloc(M * N * sizeof *c), *c0 = malloc(M * N * sizeof *c0);
    fill(a, M * K, 1);
    fill(b, K * N, 2);
    fill(c0, M * N, 3);
    memcpy(c, c0, M * N * sizeof *c);
    const float alpha = 0.75f;
    cns__small_gemm(trans, M, N, K, alpha, a, trans ? M : K, b, N, beta, c, N);
    for (size_t i = 0; i < M; ++i)
        for (size_t j = 0; j < N; ++j) {
            double s = 0.0, mag = 0.0;
            for (size_t k = 0; k < K; ++k) {
                const double t = a_at(a, trans, M, K, i, k) * (double)b[k * N + j];
                s += t;
                mag += fabs(t);
            }
            const double want = (beta != 0.0f ? (double)c0[i * N + j] : 0.0) + alpha * s;
            /* float sums of K terms: error well under K ulp of the magnitudes */
            ck_assert_close(c[i * N + j], want, 0.0, 1e-6 * (double)K * (mag + 1.0));
        }
    free(a);
    free(b);
    free(c);
    free(c0);
}

START_TEST(test_against_double) {
    const size_t shapes[][3] = {{13, 64, 64}, {11, 83, 300}, {3, 16, 5}, {22, 128, 17}, {1, 7, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
        for (int trans = 0; trans <= 1; ++trans)
            for (int beta = 0; beta <= 1; ++beta)
                check_against_double(trans, (float)beta, shapes[s][0], shapes[s][1], shapes[s][2]);
}
END_TEST

/* Rows [r0, M) computed by a call that starts at r0 must equal the same
 * rows of the whole call bit for bit: a row lands in a 6-row tile, a
 * 4-row tile or the last rows depending on r0. */
START_TEST(test_rows_independent_of_start) {
    enum { M = 23, K = 70 };
    const size_t widths[] = {64, 80};
    for (size_t w = 0; w < 2; ++w)
        for (int trans = 0; trans <= 1; ++trans)
            for (int beta = 0; beta <= 1; ++beta) {
                const size_t N = widths[w];
                float a[M * K], b[K * 80], c0[M * 80], whole[M * 80], part[M * 80];
                fill(a, M * K, 4);
                fill(b, K * N, 5);
                fill(c0, M * N, 6);
                memcpy(whole, c0, sizeof whole);
                const size_t lda = trans ? M : K;
                cns__small_gemm(trans, M, N, K, 1.0f, a, lda, b, N, (float)beta, whole, N);
                for (size_t r0 = 1; r0 < M; ++r0) {
                    memcpy(part, c0, sizeof part);
                    const float *ar = trans ? a + r0 : a + r0 * K;
                    cns__small_gemm(trans, M - r0, N, K, 1.0f, ar, lda, b, N, (float)beta,
                                    part + r0 * N, N);
                    ck_assert_msg(memcmp(part + r0 * N, whole + r0 * N,
                                         (M - r0) * N * sizeof(float)) == 0,
                                  "N %zu trans %d beta %d: rows from %zu differ", N, trans, beta,
                                  r0);
                }
            }
}
END_TEST

int main(void) {
    Suite *s = suite_create("smallgemm");
    TCase *tc = tcase_create("smallgemm");
    tcase_add_test(tc, test_against_double);
    tcase_add_test(tc, test_rows_independent_of_start);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
