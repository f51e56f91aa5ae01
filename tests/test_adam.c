/* Adam's bounded steps (lib/adam.c): with track_bounds set, a step may
 * skip its checking pass when the last step's maxima prove that nothing
 * can overflow. The results must be those of the always-checked step, bit
 * for bit, and every refusal must still happen with nothing written. */
#include "adam.h"
#include "testutil.h"

#define N 1000

static cns__alloc heap(void) {
    cns__alloc al;
    ck_assert_status(cns__alloc_init(&al, NULL), CNS_OK);
    return al;
}

static void init_pair(cns__adam *plain, cns__adam *tracked) {
    const cns__alloc al = heap();
    ck_assert_status(cns__adam_init(plain, N, &al), CNS_OK);
    ck_assert_status(cns__adam_init(tracked, N, &al), CNS_OK);
    tracked->track_bounds = 1;
}

/* Reproducible gradients of varied scale and sign. */
static void fill_grads(float *g, int step) {
    for (size_t i = 0; i < N; ++i)
        g[i] = (float)(sin(0.37 * (double)i + 1.3 * step) * pow(10.0, (double)(i % 7) - 4.0));
}

/* Weights 1 and one step with zero gradients: the maxima are recorded
 * (weights 1, moments 0) and the weights unchanged. */
static void start_bounded(cns__adam *b, float *p, float *g) {
    for (size_t i = 0; i < N; ++i) {
        p[i] = 1.0f;
        g[i] = 0.0f;
    }
    ck_assert_status(cns__adam_step_mt(b, p, g, NULL, 1), CNS_OK);
    ck_assert(b->bounded);
}

static void free_pair(cns__adam *a, cns__adam *b) {
    const cns__alloc al = heap();
    cns__adam_destroy(a, &al);
    cns__adam_destroy(b, &al);
}

/* Twenty steps at 1 and 3 threads: the tracked Adam skips its check from
 * the second step on (its maxima are known and small) and must end with
 * the same weights and moments as the plain one; the maxima it records
 * are the true maxima. */
START_TEST(test_bounded_steps_match_checked_steps) {
    for (int threads = 1; threads <= 3; threads += 2) {
        cns__adam a, b;
        init_pair(&a, &b);
        float pa[N], pb[N], g[N];
        for (size_t i = 0; i < N; ++i) pa[i] = pb[i] = (float)cos(0.1 * (double)i);
        for (int s = 0; s < 20; ++s) {
            fill_grads(g, s);
            size_t bad = 7;
            ck_assert_status(cns__adam_step_mt(&a, pa, g, &bad, threads), CNS_OK);
            ck_assert_status(cns__adam_step_mt(&b, pb, g, &bad, threads), CNS_OK);
            ck_assert(b.bounded);
        }
        ck_assert_int_eq(memcmp(pa, pb, sizeof pa), 0);
        ck_assert_int_eq(memcmp(a.m, b.m, N * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(a.v, b.v, N * sizeof(float)), 0);
        ck_assert(!a.bounded); /* never tracked */
        float mp = 0, mm = 0, mv = 0;
        for (size_t i = 0; i < N; ++i) {
            mp = fmaxf(mp, fabsf(pb[i]));
            mm = fmaxf(mm, fabsf(b.m[i]));
            mv = fmaxf(mv, b.v[i]);
        }
        ck_assert_float_eq(b.max_param, mp);
        ck_assert_float_eq(b.max_m, mm);
        ck_assert_float_eq(b.max_v, mv);
        free_pair(&a, &b);
    }
}
END_TEST

/* After bounded steps, a NaN, an infinite or a huge finite gradient (its
 * square overflows v) is still refused, naming the entry, with weights
 * and moments untouched. */
START_TEST(test_bounded_steps_still_refuse) {
    const float poison[3] = {NAN, -INFINITY, 1e21f};
    for (int k = 0; k < 3; ++k) {
        cns__adam a, b;
        init_pair(&a, &b);
        float p[N], g[N];
        for (size_t i = 0; i < N; ++i) p[i] = 0.5f;
        for (int s = 0; s < 3; ++s) {
            fill_grads(g, s);
            ck_assert_status(cns__adam_step_mt(&b, p, g, NULL, 2), CNS_OK);
        }
        ck_assert(b.bounded);
        float keep_p[N], keep_m[N], keep_v[N];
        memcpy(keep_p, p, sizeof p);
        memcpy(keep_m, b.m, sizeof keep_m);
        memcpy(keep_v, b.v, sizeof keep_v);
        g[611] = poison[k];
        size_t bad = 0;
        ck_assert_status(cns__adam_step_mt(&b, p, g, &bad, 2), CNS_E_NUMERIC);
        ck_assert_uint_eq(bad, 611);
        ck_assert_int_eq(memcmp(keep_p, p, sizeof p), 0);
        ck_assert_int_eq(memcmp(keep_m, b.m, sizeof keep_m), 0);
        ck_assert_int_eq(memcmp(keep_v, b.v, sizeof keep_v), 0);
        ck_assert_uint_eq(b.t, 3);
        free_pair(&a, &b);
    }
}
END_TEST

/* The bounds are about the arrays as the last step left them: a weight
 * written from outside must be forgotten, or a step the bounds call safe
 * could overflow it. The set-up makes the update provably small against
 * the recorded maxima but about 1e32 in fact (v underflows to 0, so the
 * denominator is eps = 1e-30), while the weight written is FLT_MAX. */
START_TEST(test_forgotten_bounds_are_checked_again) {
    for (int forget = 0; forget <= 1; ++forget) {
        cns__adam a, b;
        init_pair(&a, &b);
        float p[N], g[N];
        b.eps = 1e-30;
        start_bounded(&b, p, g);
        p[3] = FLT_MAX;
        if (forget) cns__adam_forget_bounds(&b);
        for (size_t i = 0; i < N; ++i) g[i] = -1e-25f;
        b.lr = 2e27; /* step = lr / (1 - 0.9^2) ~ 1e28; m' = 1e-26; update ~ 1e28 * 1e-26 / 1e-30 */
        size_t bad = 0;
        const cns_status st = cns__adam_step_mt(&b, p, g, &bad, 1);
        if (forget) {
            ck_assert_status(st, CNS_E_NUMERIC);
            ck_assert_uint_eq(bad, 3);
            ck_assert_float_eq(p[3], FLT_MAX);
        } else {
            /* Without the forget call the check is skipped and the
             * overflow gets through: proof that the set-up above reaches
             * the skip, so the refusal with forget is the check's doing. */
            ck_assert_status(st, CNS_OK);
            ck_assert(isinf(p[3]));
        }
        free_pair(&a, &b);
    }
}
END_TEST

/* The bound's two ends in eps. With v underflowed to 0 a tiny eps turns
 * a modest step * m' into an update past FLT_MAX (1e29 * 1e-26 / 1e-40);
 * with eps above 1 the float code's step * m' is the larger term and
 * overflows before the division (1e31 * 1e8). The maxima are small and
 * true in both, yet each step must be checked and refused. */
START_TEST(test_extreme_eps_is_checked) {
    const struct {
        double eps, lr;
        float g;
    } cases[2] = {{1e-40, 2e28, -1e-25f}, {1000.0, 1e30, 1e9f}};
    for (int c = 0; c < 2; ++c) {
        cns__adam a, b;
        init_pair(&a, &b);
        float p[N], g[N];
        start_bounded(&b, p, g);
        b.eps = cases[c].eps;
        b.lr = cases[c].lr;
        for (size_t i = 0; i < N; ++i) g[i] = cases[c].g;
        size_t bad = 7;
        ck_assert_status(cns__adam_step_mt(&b, p, g, &bad, 1), CNS_E_NUMERIC);
        ck_assert_uint_eq(bad, 0);
        ck_assert_float_eq(p[0], 1.0f);
        free_pair(&a, &b);
    }
}
END_TEST

/* ---- the lazy (row-sparse) step ------------------------------------------ */

#define ROWS 6
#define WIDTH 5

/* Lazy Adam in float64, written from ALGORITHM.md §17 alone: a listed row
 * takes the Adam update with the global step count t; any other row keeps
 * its weights and moments. */
static void lazy_reference(double *p, double *m, double *v, const float *g, const int32_t *rows,
                           size_t n_rows, uint64_t t, double lr) {
    /* The moments decay by the betas as floats (0.999f is 1 - 0.00099998713:
     * 1.3e-5 off in 1 - beta2); the bias corrections use them in double. */
    const double b1 = (double)0.9f, b2 = (double)0.999f, eps = 1e-8;
    const double c1 = 1.0 - pow(0.9, (double)t), c2 = 1.0 - pow(0.999, (double)t);
    for (size_t q = 0; q < n_rows; ++q)
        for (size_t k = 0; k < WIDTH; ++k) {
            const size_t i = (size_t)rows[q] * WIDTH + k;
            m[i] = b1 * m[i] + (1.0 - b1) * (double)g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * (double)g[i] * (double)g[i];
            p[i] -= lr * (m[i] / c1) / (sqrt(v[i] / c2) + eps);
        }
}

/* Eight steps over 6 rows of 5, listing rows in any order (one step lists
 * none, row 3 waits until the seventh): touched rows follow the float64
 * reference, untouched rows keep their bits although their gradient rows
 * hold NaN (never read), and t counts every step. Tracked, the maxima
 * stay true upper bounds over every entry. */
START_TEST(test_rows_step_matches_lazy_reference) {
    static const int32_t lists[8][3] = {{0, 2}, {5, 2}, {1}, {4, 0, 2}, {2, 5}, {0}, {3}, {0, 3, 1}};
    static const size_t counts[8] = {2, 2, 1, 3, 2, 0, 1, 3};
    for (int tracked = 0; tracked <= 1; ++tracked) {
        const cns__alloc al = heap();
        cns__adam a;
        ck_assert_status(cns__adam_init(&a, ROWS * WIDTH, &al), CNS_OK);
        a.lr = 0.05;
        float p[ROWS * WIDTH], g[ROWS * WIDTH];
        double rp[ROWS * WIDTH], rm[ROWS * WIDTH] = {0}, rv[ROWS * WIDTH] = {0};
        for (size_t i = 0; i < ROWS * WIDTH; ++i) rp[i] = p[i] = (float)cos(0.7 * (double)i);
        uint64_t t = 0;
        if (tracked) { /* a dense step of zeros records the maxima and moves nothing */
            a.track_bounds = 1;
            for (size_t i = 0; i < ROWS * WIDTH; ++i) g[i] = 0.0f;
            ck_assert_status(cns__adam_step_mt(&a, p, g, NULL, 1), CNS_OK);
            ck_assert(a.bounded);
            t = 1;
        }
        for (int s = 0; s < 8; ++s) {
            for (size_t i = 0; i < ROWS * WIDTH; ++i) g[i] = NAN;
            for (size_t q = 0; q < counts[s]; ++q)
                for (size_t k = 0; k < WIDTH; ++k)
                    g[(size_t)lists[s][q] * WIDTH + k] =
                        (float)(sin(1.1 * (double)(s * 7 + lists[s][q] * WIDTH + (int)k)) *
                                pow(10.0, (double)(k % 3) - 1.0));
            float p0[ROWS * WIDTH], m0[ROWS * WIDTH], v0[ROWS * WIDTH];
            memcpy(p0, p, sizeof p);
            memcpy(m0, a.m, sizeof m0);
            memcpy(v0, a.v, sizeof v0);
            size_t bad = 99;
            ck_assert_status(cns__adam_step_rows(&a, p, g, WIDTH, lists[s], counts[s], &bad), CNS_OK);
            ++t;
            ck_assert_uint_eq(a.t, t);
            lazy_reference(rp, rm, rv, g, lists[s], counts[s], t, 0.05);
            for (size_t r = 0; r < ROWS; ++r) {
                int touched = 0;
                for (size_t q = 0; q < counts[s]; ++q) touched |= (size_t)lists[s][q] == r;
                for (size_t k = 0; k < WIDTH; ++k) {
                    const size_t i = r * WIDTH + k;
                    if (touched) {
                        ck_assert_msg(fabs((double)p[i] - rp[i]) <= 1e-6 + 1e-5 * fabs(rp[i]),
                                      "step %d row %zu: %.9g vs %.9g", s, r, (double)p[i], rp[i]);
                        ck_assert(fabs((double)a.m[i] - rm[i]) <= 1e-7 + 1e-5 * fabs(rm[i]));
                        ck_assert_msg(fabs((double)a.v[i] - rv[i]) <= 1e-9 + 1e-5 * fabs(rv[i]), "v %.9g vs %.9g", (double)a.v[i], rv[i]);
                    } else {
                        ck_assert_msg(memcmp(&p[i], &p0[i], sizeof(float)) == 0 &&
                                          memcmp(&a.m[i], &m0[i], sizeof(float)) == 0 &&
                                          memcmp(&a.v[i], &v0[i], sizeof(float)) == 0,
                                      "step %d: untouched row %zu moved", s, r);
                    }
                }
            }
            if (tracked) {
                ck_assert(a.bounded);
                for (size_t i = 0; i < ROWS * WIDTH; ++i) {
                    ck_assert(fabsf(p[i]) <= a.max_param);
                    ck_assert(fabsf(a.m[i]) <= a.max_m);
                    ck_assert(a.v[i] <= a.max_v);
                }
            }
        }
        cns__adam_destroy(&a, &al);
    }
}
END_TEST

/* Listing every row is the dense step, bit for bit (one element formula). */
START_TEST(test_rows_step_over_all_rows_is_dense) {
    const cns__alloc al = heap();
    cns__adam a, b;
    ck_assert_status(cns__adam_init(&a, ROWS * WIDTH, &al), CNS_OK);
    ck_assert_status(cns__adam_init(&b, ROWS * WIDTH, &al), CNS_OK);
    float pa[ROWS * WIDTH], pb[ROWS * WIDTH], g[ROWS * WIDTH];
    const int32_t all[ROWS] = {0, 1, 2, 3, 4, 5};
    for (size_t i = 0; i < ROWS * WIDTH; ++i) pa[i] = pb[i] = (float)sin(0.3 * (double)i);
    for (int s = 0; s < 5; ++s) {
        for (size_t i = 0; i < ROWS * WIDTH; ++i) g[i] = (float)cos(0.9 * (double)(i + 31 * s));
        ck_assert_status(cns__adam_step_mt(&a, pa, g, NULL, 1), CNS_OK);
        ck_assert_status(cns__adam_step_rows(&b, pb, g, WIDTH, all, ROWS, NULL), CNS_OK);
    }
    ck_assert_int_eq(memcmp(pa, pb, sizeof pa), 0);
    ck_assert_int_eq(memcmp(a.m, b.m, sizeof pa), 0);
    ck_assert_int_eq(memcmp(a.v, b.v, sizeof pa), 0);
    cns__adam_destroy(&a, &al);
    cns__adam_destroy(&b, &al);
}
END_TEST

/* A non-finite gradient in a listed row, or an update that overflows, is
 * refused with nothing written and the flat index of the first bad entry;
 * bounds known or not. */
START_TEST(test_rows_step_refuses) {
    for (int tracked = 0; tracked <= 1; ++tracked) {
        const cns__alloc al = heap();
        cns__adam a;
        ck_assert_status(cns__adam_init(&a, ROWS * WIDTH, &al), CNS_OK);
        float p[ROWS * WIDTH], g[ROWS * WIDTH];
        for (size_t i = 0; i < ROWS * WIDTH; ++i) {
            p[i] = 1.0f;
            g[i] = 0.0f;
        }
        if (tracked) {
            a.track_bounds = 1;
            ck_assert_status(cns__adam_step_mt(&a, p, g, NULL, 1), CNS_OK);
        }
        const uint64_t t0 = a.t;
        const int32_t rows[2] = {4, 1};
        g[1 * WIDTH + 3] = INFINITY; /* the second listed row */
        size_t bad = 0;
        ck_assert_status(cns__adam_step_rows(&a, p, g, WIDTH, rows, 2, &bad), CNS_E_NUMERIC);
        ck_assert_uint_eq(bad, 1 * WIDTH + 3);
        ck_assert_uint_eq(a.t, t0);
        for (size_t i = 0; i < ROWS * WIDTH; ++i) ck_assert(p[i] == 1.0f && a.m[i] == 0.0f && a.v[i] == 0.0f);
        g[1 * WIDTH + 3] = 0.0f;
        g[4 * WIDTH + 2] = 1e30f; /* g^2 overflows the second moment */
        ck_assert_status(cns__adam_step_rows(&a, p, g, WIDTH, rows, 2, &bad), CNS_E_NUMERIC);
        ck_assert_uint_eq(bad, 4 * WIDTH + 2);
        for (size_t i = 0; i < ROWS * WIDTH; ++i) ck_assert(p[i] == 1.0f && a.m[i] == 0.0f && a.v[i] == 0.0f);
        cns__adam_destroy(&a, &al);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("adam");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bounded_steps_match_checked_steps);
    tcase_add_test(tc, test_bounded_steps_still_refuse);
    tcase_add_test(tc, test_forgotten_bounds_are_checked_again);
    tcase_add_test(tc, test_extreme_eps_is_checked);
    tcase_add_test(tc, test_rows_step_matches_lazy_reference);
    tcase_add_test(tc, test_rows_step_over_all_rows_is_dense);
    tcase_add_test(tc, test_rows_step_refuses);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
