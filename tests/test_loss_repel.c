/* The loss's repel column (ALGORITHM.md §19, CNS_LOSS_REPEL): values and
 * gradients against an independent float64 reference that spells out the
 * column of weight n, for every layout the term uses (no synth, diverse
 * synth, identical synth rows, n = 1, both shifts); its equivalence with
 * the direction mode (§16) through a real sampler of the same seed; the
 * direction setter's checks. */
#include <float.h>
#include <stdint.h>

#include "loss_internal.h"
#include "loss_ref.h"
#include "testutil.h"

#define MAXN LREF_MAXN
#define MAXD LREF_MAXD

/* ---- fixtures ------------------------------------------------------------- */

/* The reference (with its repel column) and its fixtures are
 * tests/loss_ref.h. */
static void fill(lref_fixture *f, size_t n, size_t d, uint64_t seed, int same_h) {
    lref_fill(f, n, d, seed, 1.0f, same_h);
}

static void to_ref(const lref_fixture *f, lref_case *c, int has_h, double s, double tau,
                   double gamma) {
    lref_from(f, c, has_h, 1, s, tau, gamma);
}

static cns_loss *make_loss(int dim, uint64_t seed) { return lref_loss(dim, seed); }

/* Central differences of k x the reference's total (k = 1: the batch mean;
 * k = n: the batch sum of the per-row form). */
static void check_grad_k(lref_case *c, double k, double *var, const float *g, const char *what,
                         const char *cas) {
    lref_check_grad(c, lref_total, k, var, g, what, cas);
}

static void check_grad(lref_case *c, double *var, const float *g, const char *what,
                       const char *cas) {
    check_grad_k(c, 1.0, var, g, what, cas);
}

/* ---- values and gradients ------------------------------------------------- */

/* Every layout of the term with the repel column: no synth, diverse synth
 * (mixed into BPR by the given lambdas), identical synth rows (the
 * collapsed h next to r), a single row; at tau = 0.7 (shift 1/tau) and
 * tau = 0.02 (the max shift). Value to 1e-6 relative, the three gradients
 * against central differences of the float64 reference. */
START_TEST(test_repel_value_and_grads) {
    static const struct {
        const char *name;
        size_t n;
        int has_h, same_h;
    } cases[] = {
        {"no synth", 5, 0, 0},  {"diverse synth", 5, 1, 0}, {"identical synth", 5, 1, 1},
        {"one row, synth", 1, 1, 1}, {"one row, no synth", 1, 0, 0},
    };
    const double taus[2] = {0.7, 0.02};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ++ci)
        for (int t = 0; t < 2; ++t) {
            lref_fixture f;
            fill(&f, cases[ci].n, 4, 31 + ci * 7 + (uint64_t)t, cases[ci].same_h);
            cns_loss *l = make_loss(4, 1);
            ck_assert_status(cns_loss_set_int(l, CNS_LOSS_REPEL, 1), CNS_OK);
            ck_assert_status(cns_loss_set_repel_direction(l, f.r, 4), CNS_OK);
            ck_assert_status(cns_loss_set_double(l, CNS_LOSS_TEMPERATURE, taus[t]), CNS_OK);
            ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 0.6), CNS_OK);
            ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.3), CNS_OK);
            cns__loss_fix_noise(l, f.eps);
            double loss = 0.0;
            ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, cases[ci].has_h ? f.h : NULL,
                                              f.lam, f.n, f.gu, f.gp, f.gn, &loss),
                             CNS_OK);
            lref_case c;
            to_ref(&f, &c, cases[ci].has_h, 0.3, taus[t], 0.6);
            ck_assert_msg(fabs(loss - lref_total(&c)) <= 1e-6 * fabs(lref_total(&c)) + 1e-7 / taus[t],
                          "%s, tau %g: loss %.12g, reference %.12g", cases[ci].name, taus[t], loss,
                          lref_total(&c));
            /* float cosines carry ~1e-7, amplified by 1/tau */
            ck_assert_close(cns_loss_term_value(l, CNS_TERM_CL), lref_cl(&c), 1e-6,
                            1e-7 / taus[t]);
            check_grad(&c, c.u, f.gu, "u", cases[ci].name);
            check_grad(&c, c.pos, f.gp, "pos", cases[ci].name);
            check_grad(&c, c.neg, f.gn, "neg", cases[ci].name);
            ck_assert_int_eq(cns__loss_last_collapsed(l), cases[ci].same_h && cases[ci].has_h);
            cns_loss_free(l);
        }
}
END_TEST

/* The per-row form (cns_loss_compute_rows, per_row = 1) with the repel
 * column, rows at a stride of d + 3 with NaN padding: the loss is still
 * the batch mean (float64 reference), the gradients are those of the batch
 * sum (central differences of n x the reference) and n x the mean form of
 * cns_loss_compute, for no synth, diverse synth and identical synth rows
 * (the collapsed h compared through the stride); and with two threads
 * bit for bit what one computes. */
START_TEST(test_repel_per_row) {
    enum { N = 5, D = 4, S = D + 3 };
    static const struct {
        const char *name;
        int has_h, same_h;
    } cases[] = {{"no synth", 0, 0}, {"diverse synth", 1, 0}, {"identical synth", 1, 1}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ++ci) {
        lref_fixture f;
        fill(&f, N, D, 77 + ci, cases[ci].same_h);
        cns_loss *l = make_loss(D, 1);
        ck_assert_status(cns_loss_set_int(l, CNS_LOSS_REPEL, 1), CNS_OK);
        ck_assert_status(cns_loss_set_repel_direction(l, f.r, D), CNS_OK);
        ck_assert_status(cns_loss_set_double(l, CNS_LOSS_TEMPERATURE, 0.4), CNS_OK);
        ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 0.6), CNS_OK);
        ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.3), CNS_OK);
        cns__loss_fix_noise(l, f.eps);
        float t[7][N * S];
        const float *src[4] = {f.u, f.pos, f.neg, f.h};
        for (int a = 0; a < 7; ++a)
            for (size_t i = 0; i < N * S; ++i) t[a][i] = NAN;
        for (int a = 0; a < 4; ++a)
            for (size_t b = 0; b < N; ++b) memcpy(t[a] + b * S, src[a] + b * D, D * sizeof(float));
        cns_loss_rows r;
        cns_loss_rows_init(&r);
        r.dim = D;
        r.n = N;
        r.per_row = 1;
        r.u = t[0], r.pos = t[1], r.neg = t[2], r.synth = cases[ci].has_h ? t[3] : NULL;
        r.lambda = cases[ci].has_h ? f.lam : NULL;
        r.grad_u = t[4], r.grad_pos = t[5], r.grad_neg = t[6];
        r.u_stride = r.pos_stride = r.neg_stride = r.synth_stride = S;
        r.grad_u_stride = r.grad_pos_stride = r.grad_neg_stride = S;
        double loss = 0.0;
        ck_assert_status(cns_loss_compute_rows(l, &r, &loss), CNS_OK);
        ck_assert_int_eq(cns__loss_last_collapsed(l), cases[ci].same_h);
        float g[3][N * D];
        for (int a = 0; a < 3; ++a)
            for (size_t b = 0; b < N; ++b) {
                memcpy(g[a] + b * D, t[4 + a] + b * S, D * sizeof(float));
                for (size_t k = D; k < S; ++k) ck_assert(isnan(t[4 + a][b * S + k]));
            }
        lref_case c;
        to_ref(&f, &c, cases[ci].has_h, 0.3, 0.4, 0.6);
        ck_assert_close(loss, lref_total(&c), 1e-6, 1e-7);
        check_grad_k(&c, N, c.u, g[0], "u", cases[ci].name);
        check_grad_k(&c, N, c.pos, g[1], "pos", cases[ci].name);
        check_grad_k(&c, N, c.neg, g[2], "neg", cases[ci].name);
        ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, cases[ci].has_h ? f.h : NULL,
                                          cases[ci].has_h ? f.lam : NULL, N, f.gu, f.gp, f.gn,
                                          NULL),
                         CNS_OK);
        for (size_t i = 0; i < N * D; ++i) {
            ck_assert_close(g[0][i], N * f.gu[i], 1e-5, 1e-7);
            ck_assert_close(g[1][i], N * f.gp[i], 1e-5, 1e-7);
            ck_assert_close(g[2][i], N * f.gn[i], 1e-5, 1e-7);
        }
        /* Two threads (one per half of the anchors): bit for bit the same. */
        ck_assert_status(cns_loss_set_int(l, CNS_LOSS_THREADS, 2), CNS_OK);
        double loss2 = 0.0;
        ck_assert_status(cns_loss_compute_rows(l, &r, &loss2), CNS_OK);
        ck_assert(memcmp(&loss, &loss2, sizeof loss) == 0);
        for (int a = 0; a < 3; ++a)
            for (size_t b = 0; b < N; ++b)
                ck_assert(memcmp(g[a] + b * D, t[4 + a] + b * S, D * sizeof(float)) == 0);
        cns_loss_free(l);
    }
}
END_TEST

/* A batch larger than a similarity block (n = 300, dim 16), diverse synth
 * with the repel column: the contrastive value against the float64 sum over
 * all 2n + 1 columns, and the repel column's share of it: switching it off
 * must change the value by the reference's difference. */
START_TEST(test_repel_many_blocks_value) {
    enum { N = 300, D = 16 };
    float *buf = calloc((size_t)N * D * 7, sizeof(float));
    ck_assert_ptr_nonnull(buf);
    float *u = buf, *pos = u + N * D, *neg = pos + N * D, *h = neg + N * D, *g = h + N * D;
    uint64_t s = 777;
    for (int i = 0; i < N * D; ++i) {
        u[i] = lref_next(&s);
        pos[i] = lref_next(&s);
        neg[i] = lref_next(&s);
        h[i] = lref_next(&s);
    }
    float r[D];
    for (int k = 0; k < D; ++k) r[k] = lref_next(&s);
    double ref[2] = {0.0, 0.0}; /* without, with the column */
    double ru[D], a[D], x[D];
    for (int k = 0; k < D; ++k) x[k] = r[k];
    lref_unit(x, ru, D);
    for (int b = 0; b < N; ++b) {
        for (int k = 0; k < D; ++k) x[k] = pos[b * D + k];
        lref_unit(x, a, D);
        double z = 0.0, ar = 0.0;
        for (int j = 0; j < N; ++j) {
            for (int k = 0; k < D; ++k) x[k] = h[j * D + k];
            z += exp(lref_cosine(a, x, D) / 2.0);
            for (int k = 0; k < D; ++k) x[k] = neg[j * D + k];
            z += exp(lref_cosine(a, x, D) / 2.0);
        }
        for (int k = 0; k < D; ++k) ar += a[k] * ru[k];
        ref[0] += log(z) - 0.5;
        ref[1] += log(z + N * exp(ar / 2.0)) - 0.5;
    }
    for (int on = 0; on <= 1; ++on) {
        cns_loss *l = make_loss(D, 5);
        ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.0), CNS_OK);
        ck_assert_status(cns_loss_set_int(l, CNS_LOSS_THREADS, 2), CNS_OK);
        ck_assert_status(cns_loss_set_int(l, CNS_LOSS_REPEL, on), CNS_OK);
        ck_assert_status(cns_loss_set_repel_direction(l, r, D), CNS_OK);
        ck_assert_status(cns_loss_compute(l, u, pos, neg, h, NULL, N, g, g + N * D, g + 2 * N * D,
                                          NULL),
                         CNS_OK);
        ck_assert_close(cns_loss_term_value(l, CNS_TERM_CL), ref[on] / N, 1e-6, 0);
        cns_loss_free(l);
    }
    ck_assert(fabs(ref[1] - ref[0]) / N > 1e-3); /* the column is not negligible here */
    free(buf);
}
END_TEST

/* ---- the direction mode, reproduced ----------------------------------------- */

/* "Repel on, no synth" against the direction mode of §16 with the same
 * seed: a real sampler draws h = 3.9 d for every row, a loss without the
 * column takes it as synth (mixing 0); a second loss of the same seed takes
 * synth NULL with the column on, its seeded r̂. Loss values to 1e-6
 * relative, every gradient to 1e-5 of the largest, over two computes (the
 * noise draws must line up too), on n = 300 (more than one block). */
START_TEST(test_repel_reproduces_direction_mode) {
    enum { N = 300, D = 16 };
    const uint64_t seed = 11;
    float *buf = calloc((size_t)N * D * 10, sizeof(float));
    ck_assert_ptr_nonnull(buf);
    float *u = buf, *pos = u + N * D, *neg = pos + N * D, *h = neg + N * D;
    float *g1 = h + N * D, *g2 = g1 + 3 * N * D;
    uint64_t s = 99;
    for (int i = 0; i < N * D; ++i) {
        u[i] = lref_next(&s);
        pos[i] = lref_next(&s);
        neg[i] = lref_next(&s);
    }
    cns_sampler_desc sd;
    cns_sampler_desc_init(&sd);
    sd.dim = D;
    sd.seed = seed;
    cns_sampler *smp = NULL;
    cns_error err;
    ck_assert_status(cns_sampler_create(&sd, NULL, &smp, &err), CNS_OK);
    ck_assert_status(cns_preset_apply(CNS_PRESET_DIRECTION_CONTROL, NULL, smp, NULL, &err), CNS_OK);
    ck_assert_status(cns_sampler_draw(smp, u, pos, N, h), CNS_OK);
    cns_sampler_free(smp);

    cns_loss *ld = make_loss(D, seed), *lr = make_loss(D, seed);
    ck_assert_status(cns_preset_apply(CNS_PRESET_DIRECTION_CONTROL, NULL, NULL, ld, &err), CNS_OK);
    ck_assert_status(cns_preset_apply(CNS_PRESET_DIRECTION_CONTROL, NULL, NULL, lr, &err), CNS_OK);
    ck_assert_status(cns_loss_set_int(lr, CNS_LOSS_REPEL, 1), CNS_OK);
    /* the seeded r̂ is the sampler's direction: h / |h| */
    float rd[D];
    ck_assert_status(cns_loss_get_repel_direction(lr, rd, D), CNS_OK);
    double hn = 0.0;
    for (int k = 0; k < D; ++k) hn += (double)h[k] * h[k];
    ck_assert_close(sqrt(hn), 3.9, 1e-6, 0);
    for (int k = 0; k < D; ++k) ck_assert_close(rd[k], h[k] / sqrt(hn), 1e-6, 1e-7);
    for (int call = 0; call < 2; ++call) {
        double L1 = 0.0, L2 = 0.0;
        ck_assert_status(cns_loss_compute(ld, u, pos, neg, h, NULL, N, g1, g1 + N * D,
                                          g1 + 2 * N * D, &L1),
                         CNS_OK);
        ck_assert_int_eq(cns__loss_last_collapsed(ld), 1);
        ck_assert_status(cns_loss_compute(lr, u, pos, neg, NULL, NULL, N, g2, g2 + N * D,
                                          g2 + 2 * N * D, &L2),
                         CNS_OK);
        ck_assert_close(L2, L1, 1e-6, 0);
        ck_assert_close(cns_loss_term_value(lr, CNS_TERM_CL), cns_loss_term_value(ld, CNS_TERM_CL),
                        1e-6, 0);
        ck_assert(cns_loss_term_value(lr, CNS_TERM_CL) > 0.0);
        float gmax = 0.0f;
        for (int i = 0; i < 3 * N * D; ++i) gmax = fabsf(g1[i]) > gmax ? fabsf(g1[i]) : gmax;
        ck_assert(gmax > 0.0f);
        for (int i = 0; i < 3 * N * D; ++i)
            ck_assert_msg(fabsf(g1[i] - g2[i]) <= 1e-5f * gmax, "call %d, gradient %d: %g vs %g",
                          call, i, (double)g1[i], (double)g2[i]);
    }
    cns_loss_free(ld);
    cns_loss_free(lr);
    free(buf);
}
END_TEST

/* Off by default: with synth NULL the loss is plain BPR and CL stays 0;
 * with cl_weight 0 the column is not computed either. */
START_TEST(test_repel_off_and_zero_weight) {
    lref_fixture f;
    fill(&f, 4, 4, 5, 0);
    cns_loss *l = make_loss(4, 1);
    int64_t v = -1;
    ck_assert_status(cns_loss_get_int(l, CNS_LOSS_REPEL, &v), CNS_OK);
    ck_assert_int_eq(v, 0);
    double L0 = 0.0, L1 = 0.0;
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, NULL, NULL, 4, f.gu, f.gp, f.gn, &L0),
                     CNS_OK);
    lref_case c;
    to_ref(&f, &c, 0, 0.0, 2.0, 0.0);
    ck_assert_close(L0, lref_total(&c), 1e-6, 0);
    ck_assert(cns_loss_term_value(l, CNS_TERM_CL) == 0.0);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_REPEL, 1), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 0.0), CNS_OK);
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, NULL, NULL, 4, f.gu, f.gp, f.gn, &L1),
                     CNS_OK);
    ck_assert(L1 == L0);
    ck_assert(cns_loss_term_value(l, CNS_TERM_CL) == 0.0);
    ck_assert(cns_loss_term_value(l, CNS_TERM_LAMBDA) == 0.0);
    cns_loss_free(l);
}
END_TEST

/* ---- the parameter and the direction setter --------------------------------- */

START_TEST(test_repel_param_and_setter_misuse) {
    double lo = -1.0, hi = -1.0;
    ck_assert_status(cns_loss_param_bounds(CNS_LOSS_REPEL, &lo, &hi), CNS_OK);
    ck_assert(lo == 0.0 && hi == 1.0);
    cns_loss *l = make_loss(3, 8);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_REPEL, 2), CNS_E_ARG);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_REPEL, -1), CNS_E_ARG);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_REPEL, 1.0), CNS_E_PARAM);
    float seeded[3], got[3], bad[3] = {1.0f, NAN, 0.0f}, zero[3] = {0.0f, 0.0f, 0.0f};
    ck_assert_status(cns_loss_get_repel_direction(l, seeded, 3), CNS_OK);
    double ss = 0.0;
    for (int k = 0; k < 3; ++k) ss += (double)seeded[k] * seeded[k];
    ck_assert_close(ss, 1.0, 1e-6, 0);
    ck_assert_status(cns_loss_set_repel_direction(l, bad, 3), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_loss_last_error(l), "dir[1]"));
    ck_assert_status(cns_loss_set_repel_direction(l, zero, 3), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_loss_last_error(l), "non-zero"));
    ck_assert_status(cns_loss_set_repel_direction(l, seeded, 4), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_loss_last_error(l), "dim = 4"));
    ck_assert_status(cns_loss_set_repel_direction(l, NULL, 2), CNS_E_ARG);
    ck_assert_status(cns_loss_set_repel_direction(NULL, seeded, 3), CNS_E_ARG);
    ck_assert_status(cns_loss_get_repel_direction(l, got, 2), CNS_E_ARG);
    ck_assert_status(cns_loss_get_repel_direction(l, NULL, 3), CNS_E_ARG);
    ck_assert_status(cns_loss_get_repel_direction(NULL, got, 3), CNS_E_ARG);
    /* failures left it unchanged */
    ck_assert_status(cns_loss_get_repel_direction(l, got, 3), CNS_OK);
    ck_assert(memcmp(got, seeded, sizeof got) == 0);
    /* a host direction is stored at unit length */
    const float mine[3] = {0.0f, -4.0f, 3.0f};
    ck_assert_status(cns_loss_set_repel_direction(l, mine, 3), CNS_OK);
    ck_assert_status(cns_loss_get_repel_direction(l, got, 3), CNS_OK);
    ck_assert_close(got[0], 0.0, 0, 1e-7);
    ck_assert_close(got[1], -0.8, 1e-6, 0);
    ck_assert_close(got[2], 0.6, 1e-6, 0);
    /* NULL restores the seeded one; another seed gives another one */
    ck_assert_status(cns_loss_set_repel_direction(l, NULL, 0), CNS_OK);
    ck_assert_status(cns_loss_get_repel_direction(l, got, 3), CNS_OK);
    ck_assert(memcmp(got, seeded, sizeof got) == 0);
    cns_loss *l2 = make_loss(3, 9);
    ck_assert_status(cns_loss_get_repel_direction(l2, got, 3), CNS_OK);
    ck_assert(memcmp(got, seeded, sizeof got) != 0);
    cns_loss_free(l2);
    cns_loss_free(l);
}
END_TEST

int main(void) {
    Suite *s = suite_create("loss_repel");
    TCase *tg = tcase_create("repel");
    tcase_add_test(tg, test_repel_value_and_grads);
    tcase_add_test(tg, test_repel_per_row);
    tcase_add_test(tg, test_repel_many_blocks_value);
    tcase_add_test(tg, test_repel_reproduces_direction_mode);
    tcase_add_test(tg, test_repel_off_and_zero_weight);
    tcase_add_test(tg, test_repel_param_and_setter_misuse);
    suite_add_tcase(s, tg);
    return cns_test_run(s);
}
