/* `cnsdiff bench mechanism` (examples/cnsdiff/bench_mechanism.c): the
 * effective rank and the Jacobi eigenvalues behind it, against matrices
 * whose singular values are known by construction. */
#include <math.h>

#include "testutil.h"

#include "../examples/cnsdiff/bench_mechanism.c"

/* E = diag(s) H, H = I - 2 v v^T / |v|^2 (orthogonal): E's singular values
 * are |s|, and E^T E = H diag(s^2) H is far from diagonal. */
static void make_rotated(const double *s, size_t d, float *e) {
    double v[16], vv = 0.0;
    for (size_t k = 0; k < d; ++k) {
        v[k] = 1.0 + 0.37 * (double)k - 0.05 * (double)(k * k);
        vv += v[k] * v[k];
    }
    for (size_t i = 0; i < d; ++i)
        for (size_t k = 0; k < d; ++k)
            e[i * d + k] = (float)(s[i] * ((i == k ? 1.0 : 0.0) - 2.0 * v[i] * v[k] / vv));
}

static double expected_rank(const double *s, size_t d) {
    double sum = 0.0, h = 0.0;
    for (size_t k = 0; k < d; ++k) sum += fabs(s[k]);
    for (size_t k = 0; k < d; ++k)
        if (s[k] != 0.0) h -= fabs(s[k]) / sum * log(fabs(s[k]) / sum);
    return exp(h);
}

START_TEST(test_effective_rank_known) {
    enum { D = 12 };
    const double cases[3][D] = {
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},         /* rank 12 */
        {5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},         /* rank 1 */
        {9, 4, 2.5, 2, 1, 0.5, 0.25, 0.1, 0, 0, 0, 3}, /* in between */
    };
    const double want_exact[2] = {12.0, 1.0};
    float e[D * D];
    for (int c = 0; c < 3; ++c) {
        make_rotated(cases[c], D, e);
        const double got = effective_rank(e, D, D);
        ck_assert_close(got, expected_rank(cases[c], D), 1e-4, 1e-4);
        if (c < 2) ck_assert_close(got, want_exact[c], 1e-4, 1e-4);
    }
}
END_TEST

START_TEST(test_jacobi_eigenvalues) {
    enum { D = 6 };
    const double s[D] = {3, -2, 1.5, 0.5, 0.25, 4};
    float e[D * D];
    make_rotated(s, D, e);
    double g[D * D] = {0}, w[D];
    for (size_t i = 0; i < D; ++i)
        for (size_t p = 0; p < D; ++p)
            for (size_t q = 0; q < D; ++q) g[p * D + q] += (double)e[i * D + p] * e[i * D + q];
    jacobi_eigen(g, D, w);
    /* each s^2 appears among the eigenvalues, and their sum is the trace */
    double sum = 0.0;
    for (size_t k = 0; k < D; ++k) {
        int found = 0;
        for (size_t j = 0; j < D; ++j) found |= fabs(w[j] - s[k] * s[k]) < 1e-4;
        ck_assert_msg(found, "s^2 = %g not among the eigenvalues", s[k] * s[k]);
        sum += w[k];
    }
    ck_assert_close(sum, 9 + 4 + 2.25 + 0.25 + 0.0625 + 16, 1e-5, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("mechanism");
    TCase *tc = tcase_create("mechanism");
    tcase_add_test(tc, test_effective_rank_known);
    tcase_add_test(tc, test_jacobi_eigenvalues);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
