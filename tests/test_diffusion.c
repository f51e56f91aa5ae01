/* The noise schedule and time embedding (ALGORITHM.md §4, §5) against the
 * independent float64 vectors in shared/vectors, and the fast noise
 * sources against their distributions. */
#include "cnsdiff/sampler.h"
#include "diffusion.h"
#include "error.h"
#include "testutil.h"

#define MAXROWS 64
#define MAXCOLS 16

/* Reads a CSV of numbers: '#' comment lines and one header line skipped. */
static int read_csv(const char *rel, double rows[MAXROWS][MAXCOLS], int *ncols) {
    char path[1024];
    if (cns_test_shared_path(rel, path, sizeof path) == NULL) return -1;
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    int n = 0, header = 0;
    *ncols = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (!header) {
            header = 1;
            continue;
        }
        ck_assert_int_lt(n, MAXROWS);
        char *p = line, *end;
        int c = 0;
        for (;;) {
            double v = strtod(p, &end);
            if (end == p) break;
            ck_assert_int_lt(c, MAXCOLS);
            rows[n][c++] = v;
            p = end;
            if (*p == ',') ++p;
        }
        *ncols = c;
        ++n;
    }
    fclose(f);
    return n;
}

static void check_schedule(const char *rel, int kind) {
    double v[MAXROWS][MAXCOLS];
    int nc;
    int n = read_csv(rel, v, &nc);
    if (n < 0) {
        fprintf(stderr, "skip: %s absent\n", rel);
        return;
    }
    ck_assert_int_eq(n, 20);
    ck_assert_int_eq(nc, 8); /* t,beta,alpha_bar,post_var,post_logvar_clipped,c1,c2,snr */
    cns__alloc al;
    ck_assert_status(cns__alloc_init(&al, NULL), CNS_OK);
    cns__schedule s;
    char msg[CNS_ERROR_MESSAGE_SIZE];
    ck_assert_status(cns__schedule_init(&s, 20, &al), CNS_OK);
    ck_assert_status(cns__schedule_compute(&s, kind, 0.1, 1e-4, 0.02, msg), CNS_OK);
    for (int t = 0; t < 20; ++t) {
        ck_assert_int_eq((int)v[t][0], t);
        ck_assert_close(s.beta[t], v[t][1], 1e-9, 0.0);
        ck_assert_close(s.alpha[t], 1.0 - v[t][1], 1e-9, 0.0);
        ck_assert_close(s.alpha_bar[t], v[t][2], 1e-9, 0.0);
        ck_assert_close(s.alpha_bar_prev[t], t == 0 ? 1.0 : v[t - 1][2], 1e-9, 0.0);
        ck_assert_close(s.post_var[t], v[t][3], 1e-9, 1e-300);
        ck_assert_close(s.post_logvar[t], v[t][4], 1e-9, 0.0);
        ck_assert_close(s.c1[t], v[t][5], 1e-9, 0.0);
        ck_assert_close(s.c2[t], v[t][6], 1e-9, 1e-300);
        ck_assert_close(s.snr[t], v[t][7], 1e-9, 0.0);
        /* the float copies of the hot loops */
        ck_assert_close(s.sqrt_ab[t], sqrt(v[t][2]), 1e-7, 0.0);
        ck_assert_close(s.sqrt_1mab[t], sqrt(1.0 - v[t][2]), 1e-6, 0.0);
        ck_assert_close(s.c1f[t], v[t][5], 1e-7, 0.0);
        ck_assert_close(s.c2f[t], v[t][6], 1e-7, 1e-30);
        ck_assert_close(s.sigma[t], exp(0.5 * v[t][4]), 1e-6, 0.0);
    }
    cns__schedule_destroy(&s, &al);
}

START_TEST(test_schedule_linear_var) { check_schedule("vectors/schedule_linear-var.csv", CNS_SCHEDULE_LINEAR_VAR); }
END_TEST

START_TEST(test_schedule_linear) { check_schedule("vectors/schedule_linear.csv", CNS_SCHEDULE_LINEAR); }
END_TEST

START_TEST(test_step_weights) {
    double v[MAXROWS][MAXCOLS];
    int nc;
    int n = read_csv("vectors/step_weights_linear-var.csv", v, &nc);
    if (n < 0) return;
    ck_assert_int_eq(n, 20);
    cns__alloc al;
    ck_assert_status(cns__alloc_init(&al, NULL), CNS_OK);
    cns__schedule s;
    char msg[CNS_ERROR_MESSAGE_SIZE];
    ck_assert_status(cns__schedule_init(&s, 20, &al), CNS_OK);
    ck_assert_status(cns__schedule_compute(&s, CNS_SCHEDULE_LINEAR_VAR, 0.1, 1e-4, 0.02, msg), CNS_OK);
    for (int t = 0; t < 20; ++t) ck_assert_close(s.weight[t], v[t][1], 1e-9, 0.0);
    /* §6: w_1 ~ 9.1e4, w_19 ~ 28, w_0 = 1 */
    ck_assert_close(s.weight[1], 9.1e4, 0.01, 0.0);
    ck_assert_close(s.weight[19], 28.0, 0.05, 0.0);
    cns__schedule_destroy(&s, &al);
}
END_TEST

START_TEST(test_time_embedding) {
    double v[MAXROWS][MAXCOLS];
    int nc;
    int n = read_csv("vectors/time_embedding_dim8.csv", v, &nc);
    if (n < 0) return;
    ck_assert_int_ge(n, 3);
    ck_assert_int_eq(nc, 9);
    for (int r = 0; r < n; ++r) {
        double e[8];
        cns__time_embedding((int32_t)v[r][0], 8, e);
        for (int k = 0; k < 8; ++k) ck_assert_close(e[k], v[r][1 + k], 1e-12, 1e-15);
    }
}
END_TEST

START_TEST(test_degenerate_schedule_rejected) {
    cns__alloc al;
    ck_assert_status(cns__alloc_init(&al, NULL), CNS_OK);
    cns__schedule s;
    char msg[CNS_ERROR_MESSAGE_SIZE] = "";
    ck_assert_status(cns__schedule_init(&s, 20, &al), CNS_OK);
    ck_assert_status(cns__schedule_compute(&s, CNS_SCHEDULE_LINEAR_VAR, 0.1, 1e-4, 0.02, msg), CNS_OK);
    double b5 = s.beta[5];
    /* linear-var with min > max: alpha_bar would grow, beta < 0 */
    ck_assert_status(cns__schedule_compute(&s, CNS_SCHEDULE_LINEAR_VAR, 0.1, 0.02, 1e-4, msg), CNS_E_ARG);
    ck_assert_int_gt((int)strlen(msg), 10);
    /* scale * max >= 1: alpha_bar <= 0 */
    ck_assert_status(cns__schedule_compute(&s, CNS_SCHEDULE_LINEAR, 60.0, 1e-4, 0.02, msg), CNS_E_ARG);
    ck_assert_status(cns__schedule_compute(&s, 7, 0.1, 1e-4, 0.02, msg), CNS_E_ARG);
    ck_assert(s.beta[5] == b5);
    cns__schedule_destroy(&s, &al);
}
END_TEST

START_TEST(test_fast_normals) {
    enum { N = 400001 }; /* odd: exercises the tail */
    float *z = malloc(N * sizeof(float)), *z2 = malloc(N * sizeof(float));
    cns__rng r;
    cns__rng_seed(&r, 7, 1);
    cns__normal_fill_fast(&r, z, N, 1.0f);
    cns__rng_seed(&r, 7, 1);
    cns__normal_fill_fast(&r, z2, N, 1.0f);
    ck_assert_int_eq(memcmp(z, z2, N * sizeof(float)), 0);
    double m1 = 0, m2 = 0, m4 = 0, within1 = 0, within2 = 0;
    for (int i = 0; i < N; ++i) {
        double x = z[i];
        ck_assert(isfinite(x));
        m1 += x;
        m2 += x * x;
        m4 += x * x * x * x;
        within1 += fabs(x) < 1.0;
        within2 += fabs(x) < 2.0;
    }
    m1 /= N;
    m2 /= N;
    m4 /= N;
    /* N(0,1): mean 0 (se 0.0016), variance 1 (se 0.0022), 4th moment 3
     * (se 0.016), P(|z|<1) = 0.682689, P(|z|<2) = 0.954500 */
    ck_assert_close(m1, 0.0, 0.0, 0.008);
    ck_assert_close(m2, 1.0, 0.0, 0.011);
    ck_assert_close(m4, 3.0, 0.0, 0.08);
    ck_assert_close(within1 / N, 0.682689, 0.0, 0.004);
    ck_assert_close(within2 / N, 0.954500, 0.0, 0.002);
    /* the pairs' two halves must not be correlated */
    double c = 0;
    for (int i = 0; i + 256 <= N; i += 256)
        for (int k = 0; k < 128; ++k) c += (double)z[i + k] * z[i + 128 + k];
    ck_assert_close(c / (N / 2.0), 0.0, 0.0, 0.01);
    /* scale */
    cns__rng_seed(&r, 7, 1);
    cns__normal_fill_fast(&r, z2, N, 0.5f);
    for (int i = 0; i < 1000; ++i) ck_assert_close(z2[i], 0.5 * z[i], 1e-6, 1e-7);
    free(z);
    free(z2);
}
END_TEST

START_TEST(test_dropout_mask) {
    enum { N = 100000 };
    float *m = malloc(N * sizeof(float));
    cns__rng r;
    cns__rng_seed(&r, 3, 9);
    cns__dropout_mask(&r, m, N, 0.5);
    size_t zeros = 0;
    for (int i = 0; i < N; ++i) {
        ck_assert(m[i] == 0.0f || m[i] == 2.0f);
        zeros += m[i] == 0.0f;
    }
    ck_assert_close((double)zeros / N, 0.5, 0.0, 0.01);
    cns__dropout_mask(&r, m, N, 0.2);
    zeros = 0;
    for (int i = 0; i < N; ++i) {
        ck_assert(m[i] == 0.0f || fabsf(m[i] - 1.25f) < 1e-6f);
        zeros += m[i] == 0.0f;
    }
    ck_assert_close((double)zeros / N, 0.2, 0.0, 0.01);
    cns__dropout_mask(&r, m, 1000, 0.0);
    for (int i = 0; i < 1000; ++i) ck_assert(m[i] == 1.0f);
    free(m);
}
END_TEST

/* The packed masks are the float masks' draws: the same keep/drop pattern
 * from the same generator state, the generator left at the same place,
 * at word-aligned offsets (whole words at once) and others (bit by bit),
 * and the bits around the run untouched. */
START_TEST(test_dropout_bits_match_mask) {
    enum { N = 1237, WORDS = (128 + 2 * N + 63) / 64 + 1 };
    const double ps[] = {0.5, 0.2, 0.0};
    const size_t starts[] = {45, 64, 0};
    for (size_t q = 0; q < sizeof ps / sizeof ps[0]; ++q)
        for (size_t a0 = 0; a0 < sizeof starts / sizeof starts[0]; ++a0) {
            const size_t AT = starts[a0];
            float m[2 * N];
            uint64_t bits[WORDS];
            memset(bits, 0xA5, sizeof bits);
            cns__rng a, b;
            cns__rng_seed(&a, 11, 5);
            cns__rng_seed(&b, 11, 5);
            cns__dropout_mask(&a, m, N, ps[q]);
            cns__dropout_mask(&a, m + N, N, ps[q]); /* two runs back to back */
            cns__dropout_bits_at(&b, bits, AT, N, ps[q]);
            cns__dropout_bits_at(&b, bits, AT + N, N, ps[q]);
            ck_assert_uint_eq(cns__rng_u64(&a), cns__rng_u64(&b));
            size_t kept = 0;
            for (size_t i = 0; i < 2 * N; ++i) {
                const size_t at = AT + i;
                const int bit = (int)((bits[at / 64] >> (at % 64)) & 1u);
                ck_assert_int_eq(bit, m[i] != 0.0f);
                kept += (size_t)bit;
            }
            ck_assert_uint_gt(kept, 0);
            if (ps[q] > 0.0) ck_assert_uint_lt(kept, 2 * N);
            for (size_t at = 0; at < AT; ++at) /* the 0xA5 pattern before the run */
                ck_assert_int_eq((int)((bits[at / 64] >> (at % 64)) & 1u),
                                 (int)((0xA5u >> (at % 8)) & 1u));
            const size_t end = AT + 2 * N;
            for (size_t at = end; at < (end + 63) / 64 * 64; ++at) /* ... and after it */
                ck_assert_int_eq((int)((bits[at / 64] >> (at % 64)) & 1u),
                                 (int)((0xA5u >> (at % 8)) & 1u));
        }
}
END_TEST

int main(void) {
    Suite *s = suite_create("diffusion");
    TCase *tc = tcase_create("diffusion");
    tcase_add_test(tc, test_schedule_linear_var);
    tcase_add_test(tc, test_schedule_linear);
    tcase_add_test(tc, test_step_weights);
    tcase_add_test(tc, test_time_embedding);
    tcase_add_test(tc, test_degenerate_schedule_rejected);
    tcase_add_test(tc, test_fast_normals);
    tcase_add_test(tc, test_dropout_mask);
    tcase_add_test(tc, test_dropout_bits_match_mask);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
