/* Random numbers: determinism, stream independence and moments against
 * theory (tolerances are ~5 standard errors of the estimate). */
#include "rng.h"
#include "testutil.h"

#define N 200000

START_TEST(test_same_key_same_sequence) {
    cns__rng a, b, c;
    cns__rng_seed(&a, 42, 7);
    cns__rng_seed(&b, 42, 7);
    cns__rng_seed(&c, 42, 8);
    int differ = 0;
    for (int i = 0; i < 1000; ++i) {
        uint64_t x = cns__rng_u64(&a);
        ck_assert_uint_eq(x, cns__rng_u64(&b));
        differ += x != cns__rng_u64(&c);
    }
    ck_assert_int_ge(differ, 999);
}
END_TEST

START_TEST(test_streams_uncorrelated) {
    cns__rng a, b;
    cns__rng_seed(&a, 1, 0);
    cns__rng_seed(&b, 1, 1);
    double sab = 0, sa = 0, sb = 0, saa = 0, sbb = 0;
    for (int i = 0; i < N; ++i) {
        double x = cns__rng_uniform(&a), y = cns__rng_uniform(&b);
        sa += x; sb += y; sab += x * y; saa += x * x; sbb += y * y;
    }
    double cov = sab / N - (sa / N) * (sb / N);
    double corr = cov / sqrt((saa / N - sa * sa / N / N) * (sbb / N - sb * sb / N / N));
    ck_assert_double_lt(fabs(corr), 5.0 / sqrt(N));
}
END_TEST

START_TEST(test_uniform_moments) {
    cns__rng r;
    cns__rng_seed(&r, 3, 0);
    double s = 0, s2 = 0;
    for (int i = 0; i < N; ++i) {
        double x = cns__rng_uniform(&r);
        ck_assert(x >= 0.0 && x < 1.0);
        s += x; s2 += x * x;
    }
    ck_assert_close(s / N, 0.5, 0, 5 * sqrt(1.0 / 12 / N));
    ck_assert_close(s2 / N - (s / N) * (s / N), 1.0 / 12, 0, 0.002);
}
END_TEST

START_TEST(test_below_unbiased) {
    /* n = 3 * 2^30 is where a plain modulo would be visibly biased. */
    cns__rng r;
    cns__rng_seed(&r, 5, 0);
    const uint32_t n = 3u << 30;
    long third[3] = {0, 0, 0};
    for (int i = 0; i < N; ++i) {
        uint32_t x = cns__rng_below(&r, n);
        ck_assert_uint_lt(x, n);
        third[x / (1u << 30)]++;
    }
    for (int k = 0; k < 3; ++k) ck_assert_close(third[k] / (double)N, 1.0 / 3, 0, 5 * sqrt(2.0 / 9 / N));
    /* chi-square over 7 buckets */
    long cnt[7] = {0};
    for (int i = 0; i < N; ++i) cnt[cns__rng_below(&r, 7)]++;
    double chi = 0;
    for (int k = 0; k < 7; ++k) chi += pow(cnt[k] - N / 7.0, 2) / (N / 7.0);
    ck_assert_double_lt(chi, 22.5); /* p = 0.001 at 6 degrees of freedom */
    ck_assert_uint_eq(cns__rng_below(&r, 1), 0);
}
END_TEST

START_TEST(test_normal_moments) {
    cns__rng r;
    cns__rng_seed(&r, 9, 0);
    double s = 0, s2 = 0, s3 = 0, s4 = 0;
    for (int i = 0; i < N; ++i) {
        double x = cns__rng_normal(&r);
        s += x; s2 += x * x; s3 += x * x * x; s4 += x * x * x * x;
    }
    ck_assert_close(s / N, 0, 0, 5 / sqrt(N));
    ck_assert_close(s2 / N, 1, 0, 5 * sqrt(2.0 / N));
    ck_assert_close(s3 / N, 0, 0, 5 * sqrt(15.0 / N));
    ck_assert_close(s4 / N, 3, 0, 5 * sqrt(96.0 / N));
}
END_TEST

static void check_gamma(double shape) {
    cns__rng r;
    cns__rng_seed(&r, 11, (uint64_t)(shape * 1000));
    double s = 0, s2 = 0;
    for (int i = 0; i < N; ++i) {
        double x = cns__rng_gamma(&r, shape);
        ck_assert(x >= 0.0 && isfinite(x));
        s += x; s2 += x * x;
    }
    double mean = s / N, var = s2 / N - mean * mean;
    ck_assert_close(mean, shape, 0, 5 * sqrt(shape / N));
    /* Var of the sample variance: (mu4 - sigma^4)/N with mu4 = 3k^2 + 6k for Gamma(k). */
    ck_assert_close(var, shape, 0, 5 * sqrt((3 * shape * shape + 6 * shape - shape * shape) / N));
}

START_TEST(test_gamma_moments) {
    check_gamma(0.3);
    check_gamma(1.0);
    check_gamma(2.5);
    check_gamma(9.0);
}
END_TEST

START_TEST(test_beta_moments) {
    const double shapes[][2] = {{1, 9}, {9, 1}, {5, 5}, {0.5, 0.5}, {2, 3}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; ++k) {
        double a = shapes[k][0], b = shapes[k][1];
        cns__rng r;
        cns__rng_seed(&r, 13, k);
        double s = 0, s2 = 0;
        for (int i = 0; i < N; ++i) {
            double x = cns__rng_beta(&r, a, b);
            ck_assert(x >= 0.0 && x <= 1.0);
            s += x; s2 += x * x;
        }
        double mean = a / (a + b), var = a * b / ((a + b) * (a + b) * (a + b + 1));
        ck_assert_close(s / N, mean, 0, 5 * sqrt(var / N));
        ck_assert_close(s2 / N - (s / N) * (s / N), var, 0.03, 0);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("rng");
    tcase_add_test(tc, test_same_key_same_sequence);
    tcase_add_test(tc, test_streams_uncorrelated);
    tcase_add_test(tc, test_uniform_moments);
    tcase_add_test(tc, test_below_unbiased);
    tcase_add_test(tc, test_normal_moments);
    tcase_add_test(tc, test_gamma_moments);
    tcase_add_test(tc, test_beta_moments);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
