/* The loss (ALGORITHM.md §8, §9): values against hand and float64
 * references, gradients against central differences of an independent
 * double-precision reference, the curriculum's statistics, and misuse. */
#include <float.h>
#include <stdint.h>

#include "alloc.h"
#include "loss_internal.h"
#include "loss_ref.h"
#include "testutil.h"

#define MAXN LREF_MAXN
#define MAXD LREF_MAXD

/* ---- fixtures ---------------------------------------------------------- */

/* The reference and its fixtures are tests/loss_ref.h; these cases scale
 * the positive noise by 1.7 and draw distinct synthesized rows. */
static void fill(lref_fixture *f, size_t n, size_t d, uint64_t seed) {
    lref_fill(f, n, d, seed, 1.7f, 0);
}

/* §9 without the repel column. */
static void to_ref(const lref_fixture *f, lref_case *c, int has_h, double s, double tau,
                   double gamma) {
    lref_from(f, c, has_h, 0, s, tau, gamma);
}

static cns_loss *make_loss(int dim, uint64_t seed) {
    cns_loss *l = lref_loss(dim, seed);
    cns_error err;
    /* The §8 and §9 checks start from the paper's values (mixing on). */
    ck_assert_status(cns_preset_apply(CNS_PRESET_PAPER, NULL, NULL, l, &err), CNS_OK);
    return l;
}

static void check_grad(lref_case *c, double (*fn)(const lref_case *), double *var, const float *g,
                       const char *what) {
    lref_check_grad(c, fn, 1.0, var, g, what, "");
}

/* check_grad for u, pos and neg against the fixture's gradients. */
static void check_grads(lref_case *c, double (*fn)(const lref_case *), const lref_fixture *f) {
    check_grad(c, fn, c->u, f->gu, "u");
    check_grad(c, fn, c->pos, f->gp, "pos");
    check_grad(c, fn, c->neg, f->gn, "neg");
}

/* ---- values ------------------------------------------------------------ */

/* Expected values (float64, python3):
 *   import math
 *   sp = lambda z: max(z,0)+math.log1p(math.exp(-abs(z)))
 *   sig = lambda z: 1/(1+math.exp(-z))
 *   u=[(1,0),(0.5,-1)]; pos=[(2,1),(0,1)]; neg=[(1,3),(1,-1)]
 *   for b: diff=pos-neg; x=<u,diff>; L+=sp(-x)/2; c=-sig(-x)/2
 *          gu=c*diff; gp=c*u; gn=-c*u
 *   -> L = 1.4460757109053863, rows x = 1 and x = -2.5 */
START_TEST(test_bpr_hand_value) {
    cns_loss *l = make_loss(2, 1);
    const float u[] = {1, 0, 0.5f, -1}, pos[] = {2, 1, 0, 1}, neg[] = {1, 3, 1, -1};
    const double egu[] = {-0.13447071068499755, 0.2689414213699951, 0.4620709099893783,
                          -0.9241418199787566};
    const double egp[] = {-0.13447071068499755, 0.0, -0.23103545499468914, 0.4620709099893783};
    float gu[4], gp[4], gn[4];
    double loss = -1.0;
    ck_assert_status(cns_loss_compute(l, u, pos, neg, NULL, NULL, 2, gu, gp, gn, &loss), CNS_OK);
    ck_assert_close(loss, 1.4460757109053863, 1e-6, 0);
    ck_assert_close(cns_loss_term_value(l, CNS_TERM_BPR), 1.4460757109053863, 1e-6, 0);
    ck_assert_close(cns_loss_term_value(l, CNS_TERM_TOTAL), 1.4460757109053863, 1e-6, 0);
    ck_assert(cns_loss_term_value(l, CNS_TERM_CL) == 0.0);
    ck_assert(cns_loss_term_value(l, CNS_TERM_LAMBDA) == 0.0);
    for (int i = 0; i < 4; ++i) {
        ck_assert_close(gu[i], egu[i], 1e-6, 1e-9);
        ck_assert_close(gp[i], egp[i], 1e-6, 1e-9);
        ck_assert_close(gn[i], -egp[i], 1e-6, 1e-9);
    }
    cns_loss_free(l);
}
END_TEST

/* log σ at ±80 and ±1000: a naive log(1 + exp(-x)) gives inf at -1000
 * and 0 (losing the tail) at 80. Expected (python3):
 *   math.log1p(math.exp(-80)) = 1.8048513878454153e-35
 *   -80*sig(-80) = -1.4438811102763322e-33;  -sig(-80) = -1.8048513878454153e-35 */
START_TEST(test_log_sigmoid_extremes) {
    cns_loss *l = make_loss(1, 1);
    float u = 1.0f, zero = 0.0f, big = 80.0f, huge = 1000.0f, gu, gp, gn;
    double loss;
    /* x = <u, pos - neg> = 80 */
    ck_assert_status(cns_loss_compute(l, &u, &big, &zero, NULL, NULL, 1, &gu, &gp, &gn, &loss),
                     CNS_OK);
    ck_assert(isfinite(loss) && loss > 0.0);
    ck_assert_close(loss, 1.8048513878454153e-35, 1e-6, 0);
    ck_assert_close(gu, -1.4438811102763322e-33, 1e-5, 0);
    ck_assert_close(gp, -1.8048513878454153e-35, 1e-5, 0);
    ck_assert_close(gn, 1.8048513878454153e-35, 1e-5, 0);
    /* x = -80: loss = 80 + log1p(e^-80) = 80, dL/dx = -σ(80) ≈ -1 */
    ck_assert_status(cns_loss_compute(l, &u, &zero, &big, NULL, NULL, 1, &gu, &gp, &gn, &loss),
                     CNS_OK);
    ck_assert_close(loss, 80.0, 1e-12, 0);
    ck_assert_close(gu, 80.0, 1e-6, 0);
    ck_assert_close(gp, -1.0, 1e-6, 0);
    ck_assert_close(gn, 1.0, 1e-6, 0);
    /* x = ±1000 */
    ck_assert_status(cns_loss_compute(l, &u, &zero, &huge, NULL, NULL, 1, &gu, &gp, &gn, &loss),
                     CNS_OK);
    ck_assert_close(loss, 1000.0, 1e-12, 0);
    ck_assert_status(cns_loss_compute(l, &u, &huge, &zero, NULL, NULL, 1, &gu, &gp, &gn, &loss),
                     CNS_OK);
    ck_assert(loss >= 0.0 && loss < 1e-300);
    ck_assert(isfinite(gu) && isfinite(gp) && isfinite(gn));
    cns_loss_free(l);
}
END_TEST

/* L_cl on hand-set vectors, tau = 0.5, no positive noise. Expected (python3):
 *   nrm = lambda v: [x/math.sqrt(sum(y*y for y in v)) for x in v]
 *   pos=[(3,4),(1,0)]; h=[(0,2),(-1,-1)]; neg=[(4,3),(0,-5)]
 *   N=[nrm(v) for v in h+neg]
 *   for b: a=nrm(pos[b]); sims=[<a,Nk>/tau]; L += (-<a,a>/tau + logsumexp(sims))/2
 *   -> 0.23395271260547068 */
START_TEST(test_contrastive_hand_value) {
    cns_loss *l = make_loss(2, 1);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_TEMPERATURE, 0.5), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.0), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 1.0), CNS_OK);
    const float pos[] = {3, 4, 1, 0}, h[] = {0, 2, -1, -1}, neg[] = {4, 3, 0, -5};
    const float u[] = {0.1f, 0.2f, -0.3f, 0.4f}, lam[] = {0.25f, 0.75f};
    float gu[4], gp[4], gn[4];
    double loss;
    ck_assert_status(cns_loss_compute(l, u, pos, neg, h, lam, 2, gu, gp, gn, &loss), CNS_OK);
    ck_assert_close(cns_loss_term_value(l, CNS_TERM_CL), 0.23395271260547068, 1e-6, 0);
    ck_assert_close(loss,
                    cns_loss_term_value(l, CNS_TERM_BPR) + cns_loss_term_value(l, CNS_TERM_CL),
                    1e-12, 0);
    ck_assert_close(cns_loss_term_value(l, CNS_TERM_LAMBDA), 0.5, 1e-7, 0);
    cns_loss_free(l);
}
END_TEST

/* ---- gradients --------------------------------------------------------- */

START_TEST(test_grad_plain_bpr) {
    lref_fixture f;
    fill(&f, 4, 5, 11);
    cns_loss *l = make_loss(5, 1);
    double loss;
    ck_assert_status(
        cns_loss_compute(l, f.u, f.pos, f.neg, NULL, NULL, 4, f.gu, f.gp, f.gn, &loss), CNS_OK);
    lref_case c;
    to_ref(&f, &c, 0, 0, 2, 0);
    ck_assert_close(loss, lref_bpr(&c), 1e-6, 0);
    check_grads(&c, lref_bpr, &f);
    cns_loss_free(l);
}
END_TEST

START_TEST(test_grad_mixed_bpr) {
    lref_fixture f;
    fill(&f, 4, 5, 12);
    const float lam[4] = {0.2f, 0.5f, 0.9f, 0.0f};
    memcpy(f.lam, lam, sizeof lam);
    cns_loss *l = make_loss(5, 1);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 0.0), CNS_OK);
    double loss;
    ck_assert_status(
        cns_loss_compute(l, f.u, f.pos, f.neg, f.h, f.lam, 4, f.gu, f.gp, f.gn, &loss), CNS_OK);
    lref_case c;
    to_ref(&f, &c, 1, 0, 2, 0);
    ck_assert_close(loss, lref_bpr(&c), 1e-6, 0);
    ck_assert_close(cns_loss_term_value(l, CNS_TERM_LAMBDA), 0.4, 1e-6, 0);
    /* h is held fixed in the differences: grad_neg is only the (1 - λ) share. */
    check_grads(&c, lref_bpr, &f);

    /* λ = 1 everywhere: the negative is h alone, and since h gets no
     * gradient, grad_neg is exactly zero whatever h is, while grad_u does
     * follow h. */
    for (int b = 0; b < 4; ++b) f.lam[b] = 1.0f;
    float gu1[MAXN * MAXD];
    ck_assert_status(
        cns_loss_compute(l, f.u, f.pos, f.neg, f.h, f.lam, 4, f.gu, f.gp, f.gn, NULL), CNS_OK);
    memcpy(gu1, f.gu, sizeof gu1);
    for (size_t i = 0; i < 20; ++i) ck_assert(f.gn[i] == 0.0f);
    for (size_t i = 0; i < 20; ++i) f.h[i] += 0.5f;
    ck_assert_status(
        cns_loss_compute(l, f.u, f.pos, f.neg, f.h, f.lam, 4, f.gu, f.gp, f.gn, NULL), CNS_OK);
    for (size_t i = 0; i < 20; ++i) ck_assert(f.gn[i] == 0.0f);
    int differs = 0;
    for (size_t i = 0; i < 20; ++i) differs |= f.gu[i] != gu1[i];
    ck_assert(differs);
    cns_loss_free(l);
}
END_TEST

/* The contrastive term's own gradient: g(cl_weight = 1) - g(cl_weight = 0). */
static void contrastive_grads(cns_loss *l, lref_fixture *f, float *gp_cl, float *gn_cl) {
    float gp0[MAXN * MAXD], gn0[MAXN * MAXD];
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 0.0), CNS_OK);
    ck_assert_status(
        cns_loss_compute(l, f->u, f->pos, f->neg, f->h, f->lam, f->n, f->gu, gp0, gn0, NULL),
        CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 1.0), CNS_OK);
    ck_assert_status(
        cns_loss_compute(l, f->u, f->pos, f->neg, f->h, f->lam, f->n, f->gu, f->gp, f->gn, NULL),
        CNS_OK);
    for (size_t i = 0; i < f->n * f->d; ++i) {
        gp_cl[i] = f->gp[i] - gp0[i];
        gn_cl[i] = f->gn[i] - gn0[i];
    }
}

/* The contrastive term of l on f (positive noise s, temperature tau): its
 * value against lref_cl, and its own gradients for pos and neg against
 * central differences. */
static void check_contrastive(cns_loss *l, lref_fixture *f, double s, double tau) {
    float gp[MAXN * MAXD], gn[MAXN * MAXD];
    contrastive_grads(l, f, gp, gn);
    lref_case c;
    to_ref(f, &c, 1, s, tau, 1.0);
    ck_assert_close(cns_loss_term_value(l, CNS_TERM_CL), lref_cl(&c), 1e-6, 0);
    check_grad(&c, lref_cl, c.pos, gp, "pos");
    check_grad(&c, lref_cl, c.neg, gn, "neg");
}

START_TEST(test_grad_contrastive_no_noise) {
    lref_fixture f;
    fill(&f, 4, 5, 13);
    cns_loss *l = make_loss(5, 1);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.0), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_TEMPERATURE, 0.7), CNS_OK);
    check_contrastive(l, &f, 0.0, 0.7);
    cns_loss_free(l);
}
END_TEST

START_TEST(test_grad_contrastive_fixed_noise) {
    lref_fixture f;
    fill(&f, 4, 5, 14);
    cns_loss *l = make_loss(5, 1);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.4), CNS_OK);
    cns__loss_fix_noise(l, f.eps);
    check_contrastive(l, &f, 0.4, 2.0);
    cns_loss_free(l);
}
END_TEST

/* Everything at once with the default weights: total = bpr + 0.3 cl. */
START_TEST(test_grad_total_defaults) {
    lref_fixture f;
    fill(&f, 4, 5, 15);
    cns_loss *l = make_loss(5, 1);
    cns__loss_fix_noise(l, f.eps);
    double loss;
    ck_assert_status(
        cns_loss_compute(l, f.u, f.pos, f.neg, f.h, f.lam, 4, f.gu, f.gp, f.gn, &loss), CNS_OK);
    lref_case c;
    to_ref(&f, &c, 1, 0.01, 2.0, 0.3);
    ck_assert_close(loss, lref_total(&c), 1e-6, 0);
    check_grads(&c, lref_total, &f);
    cns_loss_free(l);
}
END_TEST

/* More rows than one similarity block (256), so the blocked sgemm path
 * and its accumulation into grad_neg are exercised: compared with the
 * reference via a directional derivative. */
START_TEST(test_contrastive_many_blocks) {
    enum { N = 300, D = 3 };
    float *buf = calloc((size_t)N * D * 8, sizeof(float));
    float *u = buf, *pos = u + N * D, *neg = pos + N * D, *h = neg + N * D;
    float *gu = h + N * D, *gp = gu + N * D, *gn = gp + N * D, *dir = gn + N * D;
    uint64_t s = 99;
    for (int i = 0; i < N * D; ++i) {
        u[i] = lref_next(&s);
        pos[i] = lref_next(&s);
        neg[i] = lref_next(&s);
        h[i] = lref_next(&s);
        dir[i] = lref_next(&s);
    }
    cns_loss *l = make_loss(D, 1);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.0), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 1.0), CNS_OK);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_MIXING, 0), CNS_OK);
    ck_assert_status(cns_loss_compute(l, u, pos, neg, h, NULL, N, gu, gp, gn, NULL), CNS_OK);
    /* d L_cl / d neg along dir, in double, from the formula. */
    double *N64 = calloc((size_t)2 * N * D, sizeof(double));
    double *A64 = calloc((size_t)N * D, sizeof(double));
    for (int j = 0; j < N; ++j) {
        double x[D];
        for (int k = 0; k < D; ++k) x[k] = pos[j * D + k];
        lref_unit(x, A64 + j * D, D);
    }
    double fd = 0.0;
    const double step = 1e-5;
    for (int sign = -1; sign <= 1; sign += 2) {
        for (int j = 0; j < 2 * N; ++j) {
            double x[D];
            for (int k = 0; k < D; ++k)
                x[k] = j < N ? h[j * D + k] : neg[(j - N) * D + k] + sign * step * dir[(j - N) * D + k];
            lref_unit(x, N64 + j * D, D);
        }
        double L = 0.0;
        for (int b = 0; b < N; ++b) {
            double z = 0.0;
            for (int j = 0; j < 2 * N; ++j) {
                double sim = 0.0;
                for (int k = 0; k < D; ++k) sim += A64[b * D + k] * N64[j * D + k];
                z += exp(sim / 2.0);
            }
            L += log(z) - 1.0 / 2.0; /* <a, a> = 1 without noise */
        }
        fd += sign * L / N / (2.0 * step);
    }
    /* The BPR part of grad_neg with λ = 0 is -(1/N) σ(-x) u: remove it. */
    double an = 0.0;
    for (int b = 0; b < N; ++b) {
        double x = 0.0;
        for (int k = 0; k < D; ++k) x += (double)u[b * D + k] * (pos[b * D + k] - neg[b * D + k]);
        double c = 1.0 / (1.0 + exp(x)) / N;
        for (int k = 0; k < D; ++k) an += ((double)gn[b * D + k] - c * u[b * D + k]) * dir[b * D + k];
    }
    ck_assert_close(an, fd, 1e-3, 1e-7);
    free(N64);
    free(A64);
    free(buf);
    cns_loss_free(l);
}
END_TEST

/* ---- identical synthesized rows (ALGORITHM.md §16) ------------------------ */

/* Every h row the same (what CNS_MODE_DIRECTION draws): the collapsed
 * path's value against the float64 reference, which sums all 2n columns,
 * and its gradients against central differences of that reference; at
 * tau = 0.7 (shift 1/tau) and tau = 0.02 (2/tau > 80: the max shift). */
START_TEST(test_collapsed_value_and_grads) {
    const double taus[2] = {0.7, 0.02};
    for (int t = 0; t < 2; ++t) {
        lref_fixture f;
        fill(&f, 6, 5, 21 + (uint64_t)t);
        for (size_t b = 1; b < f.n; ++b) memcpy(f.h + b * f.d, f.h, f.d * sizeof(float));
        cns_loss *l = make_loss(5, 1);
        ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.3), CNS_OK);
        ck_assert_status(cns_loss_set_double(l, CNS_LOSS_TEMPERATURE, taus[t]), CNS_OK);
        cns__loss_fix_noise(l, f.eps);
        check_contrastive(l, &f, 0.3, taus[t]);
        ck_assert_int_eq(cns__loss_last_collapsed(l), 1);
        cns_loss_free(l);
    }
}
END_TEST

/* Three paths on one batch larger than a similarity block (n = 300):
 * collapsed, forced general, and a float64 evaluation of the collapsed
 * formula log(n e^{<a,c>/tau} + sum_j e^{<a,n_j>/tau}) written here.
 * The loss agrees to 1e-6 relative, every gradient to 1e-5 of the
 * largest. A single h row that differs in one bit is not collapsed. */
START_TEST(test_collapsed_matches_general) {
    enum { N = 300, D = 16 };
    float *buf = calloc((size_t)N * D * 10, sizeof(float));
    float *u = buf, *pos = u + N * D, *neg = pos + N * D, *h = neg + N * D;
    float *g1 = h + N * D, *g2 = g1 + 3 * N * D;
    uint64_t s = 4242;
    for (int i = 0; i < N * D; ++i) {
        u[i] = lref_next(&s);
        pos[i] = lref_next(&s);
        neg[i] = lref_next(&s);
    }
    for (int k = 0; k < D; ++k) h[k] = 0.9f * lref_next(&s);
    for (int b = 1; b < N; ++b) memcpy(h + b * D, h, D * sizeof(float));
    double L1 = 0.0, L2 = 0.0;
    for (int general = 0; general <= 1; ++general) {
        cns_loss *l = make_loss(D, 3);
        ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 1.0), CNS_OK);
        ck_assert_status(cns_loss_set_int(l, CNS_LOSS_THREADS, 2), CNS_OK);
        cns__loss_force_general(l, general);
        float *g = general ? g2 : g1;
        ck_assert_status(cns_loss_compute(l, u, pos, neg, h, NULL, N, g, g + N * D, g + 2 * N * D,
                                          general ? &L2 : &L1),
                         CNS_OK);
        ck_assert_int_eq(cns__loss_last_collapsed(l), !general);
        if (!general) {
            /* the contrastive value against the collapsed formula in double
             * (no positive noise here, so <a, p> = 1) */
            ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.0), CNS_OK);
            ck_assert_status(cns_loss_compute(l, u, pos, neg, h, NULL, N, g, g + N * D,
                                              g + 2 * N * D, NULL),
                             CNS_OK);
            double c[D], a[D], nj[D], x[D], ref = 0.0;
            for (int k = 0; k < D; ++k) x[k] = h[k];
            lref_unit(x, c, D);
            for (int b = 0; b < N; ++b) {
                for (int k = 0; k < D; ++k) x[k] = pos[b * D + k];
                lref_unit(x, a, D);
                double ac = 0.0;
                for (int k = 0; k < D; ++k) ac += a[k] * c[k];
                double z = N * exp(ac / 2.0);
                for (int j = 0; j < N; ++j) {
                    for (int k = 0; k < D; ++k) x[k] = neg[j * D + k];
                    lref_unit(x, nj, D);
                    double sim = 0.0;
                    for (int k = 0; k < D; ++k) sim += a[k] * nj[k];
                    z += exp(sim / 2.0);
                }
                ref += log(z) - 1.0 / 2.0;
            }
            ck_assert_close(cns_loss_term_value(l, CNS_TERM_CL), ref / N, 1e-6, 0);
            /* restore the first compute's gradients for the comparison */
            ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.01), CNS_OK);
            ck_assert_status(cns_loss_set_epoch(l, 0), CNS_OK);
            ck_assert_status(cns_loss_compute(l, u, pos, neg, h, NULL, N, g, g + N * D,
                                              g + 2 * N * D, &L1),
                             CNS_OK);
        }
        cns_loss_free(l);
    }
    ck_assert_close(L1, L2, 1e-6, 0);
    float gmax = 0.0f;
    for (int i = 0; i < 3 * N * D; ++i) gmax = fabsf(g2[i]) > gmax ? fabsf(g2[i]) : gmax;
    ck_assert(gmax > 0.0f);
    for (int i = 0; i < 3 * N * D; ++i)
        ck_assert_msg(fabsf(g1[i] - g2[i]) <= 1e-5f * gmax, "gradient %d: %g vs %g", i,
                      (double)g1[i], (double)g2[i]);
    /* one bit off in the last row: the general path */
    uint32_t bits;
    memcpy(&bits, &h[(N - 1) * D + 3], sizeof bits);
    bits ^= 1u;
    memcpy(&h[(N - 1) * D + 3], &bits, sizeof bits);
    cns_loss *l = make_loss(D, 3);
    ck_assert_status(cns_loss_compute(l, u, pos, neg, h, NULL, N, g1, g1 + N * D, g1 + 2 * N * D,
                                      NULL),
                     CNS_OK);
    ck_assert_int_eq(cns__loss_last_collapsed(l), 0);
    cns_loss_free(l);
    free(buf);
}
END_TEST

/* ---- curriculum (§8) ----------------------------------------------------- */

enum { LAM_ROWS = 4000 };

typedef struct lam_stats {
    double mean, var, min;
} lam_stats;

/* Draws LAM_ROWS λ at epoch (d = 2, no contrastive term) and summarises them. */
static lam_stats draw_lambdas(cns_loss *l, int64_t epoch) {
    static float buf[7][LAM_ROWS * 2];
    for (int i = 0; i < LAM_ROWS * 2; ++i) {
        buf[0][i] = 0.1f * (float)(i % 7);
        buf[1][i] = 0.2f;
        buf[2][i] = -0.1f;
        buf[3][i] = 0.3f;
    }
    ck_assert_status(cns_loss_set_epoch(l, epoch), CNS_OK);
    ck_assert_status(cns_loss_compute(l, buf[0], buf[1], buf[2], buf[3], NULL, LAM_ROWS, buf[4],
                                      buf[5], buf[6], NULL),
                     CNS_OK);
    size_t n = 0;
    const float *lam = cns__loss_lambdas(l, &n);
    ck_assert_ptr_nonnull(lam);
    ck_assert_uint_eq(n, LAM_ROWS);
    lam_stats st = {0, 0, 1};
    for (size_t i = 0; i < n; ++i) {
        ck_assert(lam[i] >= 0.0f && lam[i] <= 1.0f);
        st.mean += lam[i];
        if (lam[i] < st.min) st.min = lam[i];
    }
    st.mean /= (double)n;
    for (size_t i = 0; i < n; ++i) st.var += (lam[i] - st.mean) * (lam[i] - st.mean);
    st.var /= (double)(n - 1);
    ck_assert_close(cns_loss_term_value(l, CNS_TERM_LAMBDA), st.mean, 1e-9, 0);
    return st;
}

/* Mean within 5 standard errors of Beta(a, b)'s, variance within 15%. */
static void expect_beta(lam_stats st, double a, double b, const char *what) {
    double mean = a / (a + b);
    double var = a * b / ((a + b) * (a + b) * (a + b + 1.0));
    double tol = 5.0 * sqrt(var / LAM_ROWS);
    ck_assert_msg(fabs(st.mean - mean) <= tol, "%s: mean lambda %.4f, expected %.4f +- %.4f", what,
                  st.mean, mean, tol);
    ck_assert_msg(fabs(st.var - var) <= 0.15 * var, "%s: var %.5f, expected %.5f", what, st.var,
                  var);
}

START_TEST(test_curriculum_schedule) {
    cns_loss *l = make_loss(2, 7);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 0.0), CNS_OK);
    expect_beta(draw_lambdas(l, 0), 1, 9, "epoch 0");        /* mean 0.1 */
    expect_beta(draw_lambdas(l, 60), 5, 5, "epoch 60/120");  /* mean 0.5 */
    expect_beta(draw_lambdas(l, 120), 9, 1, "epoch 120");    /* mean 0.9 */
    expect_beta(draw_lambdas(l, 5000), 9, 1, "epoch 5000");  /* p capped at 1 */
    /* The horizon is curriculum_epochs, not the run length: epoch 20 of the
     * default 120 has p = 1/6, alpha = 1 + 8/6, beta = 9 - 8/6 (mean 0.233). */
    expect_beta(draw_lambdas(l, 20), 1.0 + 8.0 / 6.0, 9.0 - 8.0 / 6.0, "epoch 20/120");
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_CURRICULUM_EPOCHS, 20), CNS_OK);
    expect_beta(draw_lambdas(l, 10), 5, 5, "epoch 10/20");
    expect_beta(draw_lambdas(l, 20), 9, 1, "epoch 20/20");
    cns_loss_free(l);
}
END_TEST

START_TEST(test_curriculum_min_mix_and_off) {
    cns_loss *l = make_loss(2, 7);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 0.0), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_MIN_MIX, 0.5), CNS_OK);
    lam_stats st = draw_lambdas(l, 0);
    /* λ = 0.5 + 0.5 Beta(1, 9): mean 0.55, variance 0.25 * 9/1100. */
    ck_assert_close(st.mean, 0.55, 0, 5.0 * sqrt(0.25 * 9.0 / 1100.0 / LAM_ROWS));
    ck_assert(st.min >= 0.5);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_MIN_MIX, 1.0), CNS_OK);
    st = draw_lambdas(l, 0);
    ck_assert(st.mean == 1.0 && st.min == 1.0);

    /* Mixing off: λ = 0 on every row, the term reports 0. */
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_MIN_MIX, 0.3), CNS_OK);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_MIXING, 0), CNS_OK);
    st = draw_lambdas(l, 50);
    ck_assert(st.mean == 0.0 && st.min == 0.0);
    ck_assert(cns_loss_term_value(l, CNS_TERM_LAMBDA) == 0.0);

    /* Caller's λ are used as given: min_mix and mixing shape only draws. */
    lref_fixture f;
    fill(&f, 4, 2, 21);
    ck_assert_status(
        cns_loss_compute(l, f.u, f.pos, f.neg, f.h, f.lam, 4, f.gu, f.gp, f.gn, NULL), CNS_OK);
    size_t n;
    const float *lam = cns__loss_lambdas(l, &n);
    ck_assert_uint_eq(n, 4);
    for (int b = 0; b < 4; ++b) ck_assert(lam[b] == f.lam[b]);
    cns_loss_free(l);
}
END_TEST

/* With mixing off the BPR part is plain BPR on neg while the contrastive
 * term still sees h. */
START_TEST(test_mixing_off_loss) {
    lref_fixture f;
    fill(&f, 4, 5, 31);
    cns_loss *l = make_loss(5, 1);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_MIXING, 0), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.0), CNS_OK);
    double loss;
    ck_assert_status(
        cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 4, f.gu, f.gp, f.gn, &loss), CNS_OK);
    lref_case c;
    to_ref(&f, &c, 0, 0.0, 2.0, 0.3);
    ck_assert_close(cns_loss_term_value(l, CNS_TERM_BPR), lref_bpr(&c), 1e-6, 0);
    c.has_h = 1;
    ck_assert_close(cns_loss_term_value(l, CNS_TERM_CL), lref_cl(&c), 1e-6, 0);
    ck_assert(cns_loss_term_value(l, CNS_TERM_CL) != 0.0);
    cns_loss_free(l);
}
END_TEST

/* Draws are keyed by (seed, epoch, batch): same key, same draws. */
START_TEST(test_draws_reproducible) {
    lref_fixture f;
    fill(&f, 6, 3, 41);
    cns_loss *a = make_loss(3, 5), *b = make_loss(3, 5), *c = make_loss(3, 6);
    cns_loss *hs[3] = {a, b, c};
    float lam[3][6];
    double loss[3];
    for (int i = 0; i < 3; ++i) {
        ck_assert_status(cns_loss_set_epoch(hs[i], 30), CNS_OK);
        ck_assert_status(cns_loss_compute(hs[i], f.u, f.pos, f.neg, f.h, NULL, 6,
                                          f.gu, f.gp, f.gn, &loss[i]),
                         CNS_OK);
        memcpy(lam[i], cns__loss_lambdas(hs[i], NULL), sizeof lam[i]);
    }
    ck_assert(memcmp(lam[0], lam[1], sizeof lam[0]) == 0);
    ck_assert(loss[0] == loss[1]);
    ck_assert(memcmp(lam[0], lam[2], sizeof lam[0]) != 0);
    /* The next batch draws fresh λ and fresh positive noise... */
    ck_assert_status(cns_loss_set_double(a, CNS_LOSS_POSITIVE_NOISE, 0.5), CNS_OK);
    ck_assert_status(cns_loss_set_epoch(a, 30), CNS_OK);
    double l1, l2, l3;
    ck_assert_status(cns_loss_compute(a, f.u, f.pos, f.neg, f.h, f.lam, 6, f.gu, f.gp, f.gn, &l1),
                     CNS_OK);
    ck_assert_status(cns_loss_compute(a, f.u, f.pos, f.neg, f.h, f.lam, 6, f.gu, f.gp, f.gn, &l2),
                     CNS_OK);
    ck_assert(l1 != l2);
    /* ...and setting the epoch again repeats the first batch. */
    ck_assert_status(cns_loss_set_epoch(a, 30), CNS_OK);
    ck_assert_status(cns_loss_compute(a, f.u, f.pos, f.neg, f.h, f.lam, 6, f.gu, f.gp, f.gn, &l3),
                     CNS_OK);
    ck_assert(l1 == l3);
    /* Without noise two batches of the same rows and λ give the same loss. */
    ck_assert_status(cns_loss_set_double(a, CNS_LOSS_POSITIVE_NOISE, 0.0), CNS_OK);
    ck_assert_status(cns_loss_compute(a, f.u, f.pos, f.neg, f.h, f.lam, 6, f.gu, f.gp, f.gn, &l1),
                     CNS_OK);
    ck_assert_status(cns_loss_compute(a, f.u, f.pos, f.neg, f.h, f.lam, 6, f.gu, f.gp, f.gn, &l2),
                     CNS_OK);
    ck_assert(l1 == l2);
    cns_loss_free(a);
    cns_loss_free(b);
    cns_loss_free(c);
}
END_TEST

/* ---- parameters, misuse, failures --------------------------------------- */

START_TEST(test_param_defaults_and_bounds) {
    cns_loss *l = NULL;
    ck_assert_status(cns_loss_create(NULL, NULL, &l, NULL), CNS_OK); /* NULL desc: defaults */
    const struct {
        int id;
        double def, min, max;
    } dbl[] = {{CNS_LOSS_CL_WEIGHT, 0.15, 0, 1e3},  {CNS_LOSS_TEMPERATURE, 2, 0, 1e3},
               {CNS_LOSS_POSITIVE_NOISE, 0.01, 0, 10}, {CNS_LOSS_ALPHA_START, 1, 0, 1e3},
               {CNS_LOSS_BETA_START, 9, 0, 1e3},    {CNS_LOSS_ALPHA_END, 9, 0, 1e3},
               {CNS_LOSS_BETA_END, 1, 0, 1e3},      {CNS_LOSS_MIN_MIX, 0, 0, 1}};
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; ++i) {
        double v, lo, hi;
        ck_assert_status(cns_loss_get_double(l, dbl[i].id, &v), CNS_OK);
        ck_assert(v == dbl[i].def);
        ck_assert_status(cns_loss_param_bounds(dbl[i].id, &lo, &hi), CNS_OK);
        ck_assert(lo == dbl[i].min && hi == dbl[i].max);
        /* Out of range, NaN and the wrong type leave the value alone. */
        ck_assert_status(cns_loss_set_double(l, dbl[i].id, hi * 1.5 + 1), CNS_E_ARG);
        ck_assert(strlen(cns_loss_last_error(l)) > 0);
        ck_assert_status(cns_loss_set_double(l, dbl[i].id, -0.001), CNS_E_ARG);
        ck_assert_status(cns_loss_set_double(l, dbl[i].id, NAN), CNS_E_ARG);
        ck_assert_status(cns_loss_set_int(l, dbl[i].id, 1), CNS_E_PARAM);
        ck_assert_status(cns_loss_get_double(l, dbl[i].id, &v), CNS_OK);
        ck_assert(v == dbl[i].def);
        ck_assert_status(cns_loss_set_double(l, dbl[i].id, hi), CNS_OK);
        ck_assert_status(cns_loss_get_double(l, dbl[i].id, &v), CNS_OK);
        ck_assert(v == hi);
    }
    /* Open lower bounds: tau and the Beta shapes must be > 0. */
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_TEMPERATURE, 0.0), CNS_E_ARG);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_ALPHA_START, 0.0), CNS_E_ARG);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_BETA_END, 0.0), CNS_E_ARG);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 0.0), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_MIN_MIX, 0.0), CNS_OK);

    int64_t iv;
    double lo, hi;
    ck_assert_status(cns_loss_get_int(l, CNS_LOSS_CURRICULUM_EPOCHS, &iv), CNS_OK);
    ck_assert_int_eq(iv, 120);
    ck_assert_status(cns_loss_param_bounds(CNS_LOSS_CURRICULUM_EPOCHS, &lo, &hi), CNS_OK);
    ck_assert(lo == 1 && hi == 1e6);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_CURRICULUM_EPOCHS, 0), CNS_E_ARG);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_CURRICULUM_EPOCHS, 1000001), CNS_E_ARG);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CURRICULUM_EPOCHS, 10.0), CNS_E_PARAM);
    ck_assert_status(cns_loss_get_int(l, CNS_LOSS_CURRICULUM_EPOCHS, &iv), CNS_OK);
    ck_assert_int_eq(iv, 120);
    ck_assert_status(cns_loss_get_int(l, CNS_LOSS_MIXING, &iv), CNS_OK);
    ck_assert_int_eq(iv, 0); /* the default preset's (ALGORITHM.md §15) */
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_MIXING, 2), CNS_E_ARG);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_MIXING, -1), CNS_E_ARG);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_MIXING, 1), CNS_OK);
    ck_assert_status(cns_loss_get_int(l, CNS_LOSS_MIXING, &iv), CNS_OK);
    ck_assert_int_eq(iv, 1);

    /* Unknown ids and wrong getters. */
    double v;
    ck_assert_status(cns_loss_set_double(l, 99, 1.0), CNS_E_PARAM);
    ck_assert(strstr(cns_loss_last_error(l), "99") != NULL);
    ck_assert_status(cns_loss_set_int(l, 999, 1), CNS_E_PARAM);
    ck_assert_status(cns_loss_get_double(l, 99, &v), CNS_E_PARAM);
    ck_assert_status(cns_loss_get_double(l, CNS_LOSS_MIXING, &v), CNS_E_PARAM);
    ck_assert_status(cns_loss_get_int(l, CNS_LOSS_CL_WEIGHT, &iv), CNS_E_PARAM);
    ck_assert_status(cns_loss_param_bounds(7, &lo, &hi), CNS_E_PARAM);
    ck_assert_status(cns_loss_param_bounds(CNS_LOSS_MIN_MIX, NULL, &hi), CNS_E_ARG);
    ck_assert_status(cns_loss_get_double(l, CNS_LOSS_CL_WEIGHT, NULL), CNS_E_ARG);
    ck_assert_status(cns_loss_set_double(NULL, CNS_LOSS_CL_WEIGHT, 1.0), CNS_E_ARG);
    ck_assert_status(cns_loss_set_epoch(l, -1), CNS_E_ARG);
    ck_assert(strlen(cns_loss_last_error(l)) > 0);
    ck_assert_status(cns_loss_set_epoch(NULL, 1), CNS_E_ARG);
    ck_assert(isnan(cns_loss_term_value(l, 4)));
    ck_assert(isnan(cns_loss_term_value(l, -1)));
    ck_assert(isnan(cns_loss_term_value(NULL, CNS_TERM_TOTAL)));
    ck_assert(strlen(cns_loss_last_error(NULL)) > 0);
    cns_loss_free(l);
    cns_loss_free(NULL);
}
END_TEST

START_TEST(test_create_misuse) {
    cns_loss_desc desc;
    cns_loss_desc_init(&desc);
    ck_assert_uint_eq(desc.struct_size, sizeof desc);
    ck_assert_int_eq(desc.dim, 64);
    ck_assert_uint_eq(desc.seed, 1);
    cns_loss *l = (cns_loss *)&desc; /* must be reset to NULL on failure */
    cns_error err;
    ck_assert_status(cns_loss_create(&desc, NULL, NULL, &err), CNS_E_ARG);
    desc.dim = 0;
    ck_assert_status(cns_loss_create(&desc, NULL, &l, &err), CNS_E_ARG);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(err.status, CNS_E_ARG);
    ck_assert(strstr(err.message, "dim") != NULL);
    desc.dim = -3;
    ck_assert_status(cns_loss_create(&desc, NULL, &l, &err), CNS_E_ARG);
    cns_loss_desc_init(&desc);
    desc.struct_size = 0;
    ck_assert_status(cns_loss_create(&desc, NULL, &l, &err), CNS_E_SIZE);
    ck_assert(strlen(err.message) > 0);
    /* A newer caller's struct: accepted while its extra fields are zero. */
    struct {
        cns_loss_desc d;
        uint64_t extra;
    } big;
    memset(&big, 0, sizeof big);
    cns_loss_desc_init(&big.d);
    big.d.struct_size = sizeof big;
    big.d.dim = 3;
    ck_assert_status(cns_loss_create(&big.d, NULL, &l, &err), CNS_OK);
    cns_loss_free(l);
    big.extra = 7;
    ck_assert_status(cns_loss_create(&big.d, NULL, &l, &err), CNS_E_SIZE);
    ck_assert_ptr_null(l);
    /* An allocator with a NULL function. */
    cns_allocator bad = {NULL, NULL, NULL};
    cns_loss_desc_init(&desc);
    ck_assert_status(cns_loss_create(&desc, &bad, &l, &err), CNS_E_ARG);
}
END_TEST

START_TEST(test_compute_misuse) {
    lref_fixture f;
    fill(&f, 4, 3, 51);
    cns_loss *l = make_loss(3, 1);
    ck_assert_status(cns_loss_compute(NULL, f.u, f.pos, f.neg, NULL, NULL, 4, f.gu, f.gp, f.gn, NULL),
                     CNS_E_ARG);
    const float *rows[3] = {f.u, f.pos, f.neg};
    float *grads[3] = {f.gu, f.gp, f.gn};
    const char *names[6] = {"u", "pos", "neg", "grad_u", "grad_pos", "grad_neg"};
    for (int k = 0; k < 6; ++k) {
        const float *r[3] = {rows[0], rows[1], rows[2]};
        float *g[3] = {grads[0], grads[1], grads[2]};
        if (k < 3)
            r[k] = NULL;
        else
            g[k - 3] = NULL;
        ck_assert_status(cns_loss_compute(l, r[0], r[1], r[2], f.h, NULL, 4, g[0], g[1], g[2], NULL),
                         CNS_E_ARG);
        ck_assert_msg(strstr(cns_loss_last_error(l), names[k]) != NULL, "message '%s' for %s",
                      cns_loss_last_error(l), names[k]);
    }
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 0, f.gu, f.gp, f.gn, NULL),
                     CNS_E_ARG);
    ck_assert(strlen(cns_loss_last_error(l)) > 0);
    const float bad_lam[3] = {-0.1f, 1.5f, NAN};
    for (int k = 0; k < 3; ++k) {
        float lam[4] = {0.5f, 0.5f, 0.5f, 0.5f};
        lam[2] = bad_lam[k];
        ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, lam, 4, f.gu, f.gp, f.gn, NULL),
                         CNS_E_ARG);
        ck_assert(strstr(cns_loss_last_error(l), "lambda[2]") != NULL);
    }
    /* λ at the ends of [0, 1] are fine. */
    float ends[4] = {0.0f, 1.0f, 0.0f, 1.0f};
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, ends, 4, f.gu, f.gp, f.gn, NULL),
                     CNS_OK);
    cns_loss_free(l);
}
END_TEST

START_TEST(test_numeric_failures) {
    lref_fixture f;
    fill(&f, 4, 3, 61);
    cns_loss *l = make_loss(3, 1);
    double loss = 0;
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 4, f.gu, f.gp, f.gn, &loss),
                     CNS_OK);
    const double kept = cns_loss_term_value(l, CNS_TERM_TOTAL);
    ck_assert(kept == loss);
    float *arrays[4] = {f.u, f.pos, f.neg, f.h};
    const float poison[2] = {NAN, INFINITY};
    for (int a = 0; a < 4; ++a) {
        for (int p = 0; p < 2; ++p) {
            float keep = arrays[a][4];
            arrays[a][4] = poison[p]; /* row 1 */
            ck_assert_status(
                cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 4, f.gu, f.gp, f.gn, NULL),
                CNS_E_NUMERIC);
            ck_assert_msg(strstr(cns_loss_last_error(l), "row 1") != NULL, "message: %s",
                          cns_loss_last_error(l));
            ck_assert(strstr(cns_loss_last_error(l), "term") != NULL);
            if (a < 3) /* plain BPR sees u, pos, neg too */
                ck_assert_status(
                    cns_loss_compute(l, f.u, f.pos, f.neg, NULL, NULL, 4, f.gu, f.gp, f.gn, NULL),
                    CNS_E_NUMERIC);
            arrays[a][4] = keep;
        }
    }
    /* A NaN in h is caught even where λ = 0 takes none of h into the negative. */
    float zero[4] = {0, 0, 0, 0};
    f.h[4] = NAN;
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, zero, 4, f.gu, f.gp, f.gn, NULL),
                     CNS_E_NUMERIC);
    ck_assert(strstr(cns_loss_last_error(l), "row 1") != NULL);
    ck_assert(cns_loss_term_value(l, CNS_TERM_TOTAL) == kept);
    cns_loss_free(l);
}
END_TEST

/* A temperature inside its bounds but so small that the logits overflow
 * (τ = 1e-300: ⟨a, n⟩/τ is infinite) gives CNS_E_NUMERIC, not a value, and
 * no undefined float-to-int conversion in the softmax's exponential (the
 * sanitizer stage runs this; the model_load fuzz target found it). */
START_TEST(test_tiny_temperature_is_numeric) {
    lref_fixture f;
    fill(&f, 4, 3, 62);
    cns_loss *l = make_loss(3, 1);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_TEMPERATURE, 1e-300), CNS_OK);
    double loss = 0;
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 4, f.gu, f.gp, f.gn, &loss),
                     CNS_E_NUMERIC);
    ck_assert(cns_loss_term_value(l, CNS_TERM_TOTAL) == 0.0); /* nothing kept from it */
    cns_loss_free(l);
}
END_TEST

/* Zero rows of h and neg sit inside the normalisation's clamp: finite. */
START_TEST(test_zero_rows_finite) {
    lref_fixture f;
    fill(&f, 4, 3, 81);
    memset(f.h, 0, 3 * sizeof(float));
    memset(f.neg + 3, 0, 3 * sizeof(float));
    cns_loss *l = make_loss(3, 1);
    double loss;
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 4, f.gu, f.gp, f.gn, &loss),
                     CNS_OK);
    ck_assert(isfinite(loss));
    for (size_t i = 0; i < 12; ++i) ck_assert(isfinite(f.gn[i]) && isfinite(f.gp[i]));
    cns_loss_free(l);
}
END_TEST

typedef struct counting {
    size_t calls;
    size_t fail_after; /* allocations allowed before failing; SIZE_MAX = never */
} counting;
static void *c_alloc(void *u, size_t n) {
    counting *c = u;
    if (c->calls >= c->fail_after) return NULL;
    c->calls++;
    return malloc(n);
}
static void c_free(void *u, void *p) {
    (void)u;
    free(p);
}

START_TEST(test_allocations) {
    counting c = {0, SIZE_MAX};
    cns_allocator a = {c_alloc, c_free, &c};
    cns_loss_desc desc;
    cns_loss_desc_init(&desc);
    desc.dim = 3;
    cns_loss *l = NULL;
    c.fail_after = 0;
    ck_assert_status(cns_loss_create(&desc, &a, &l, NULL), CNS_E_NOMEM);
    ck_assert_ptr_null(l);
    c.fail_after = SIZE_MAX;
    ck_assert_status(cns_loss_create(&desc, &a, &l, NULL), CNS_OK);
    lref_fixture f;
    fill(&f, 8, 3, 71);
    /* Plain BPR needs no scratch. */
    size_t before = c.calls;
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, NULL, NULL, 8, f.gu, f.gp, f.gn, NULL),
                     CNS_OK);
    ck_assert_uint_eq(c.calls, before);
    /* Scratch failure: reported, and the handle still works afterwards. */
    c.fail_after = c.calls;
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 4, f.gu, f.gp, f.gn, NULL),
                     CNS_E_NOMEM);
    ck_assert(strlen(cns_loss_last_error(l)) > 0);
    c.fail_after = SIZE_MAX;
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 4, f.gu, f.gp, f.gn, NULL),
                     CNS_OK);
    ck_assert_uint_eq(c.calls, before + 1);
    /* Same or smaller batches allocate nothing; a larger one grows once. */
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 4, f.gu, f.gp, f.gn, NULL),
                     CNS_OK);
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 2, f.gu, f.gp, f.gn, NULL),
                     CNS_OK);
    ck_assert_uint_eq(c.calls, before + 1);
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 8, f.gu, f.gp, f.gn, NULL),
                     CNS_OK);
    ck_assert_status(cns_loss_compute(l, f.u, f.pos, f.neg, f.h, NULL, 8, f.gu, f.gp, f.gn, NULL),
                     CNS_OK);
    ck_assert_uint_eq(c.calls, before + 2);
    cns_loss_free(l);
}
END_TEST

/* CNS_LOSS_THREADS splits the contrastive term into fixed halves: 1 and 2
 * threads give bit-identical values and gradients; the setter checks bounds. */
START_TEST(test_threads_identical) {
    const int d = 16;
    const size_t n = 300;
    float *in = malloc(4 * n * d * sizeof(float));
    float *g1 = malloc(3 * n * d * sizeof(float)), *g2 = malloc(3 * n * d * sizeof(float));
    uint64_t x = 12345;
    for (size_t k = 0; k < 4 * n * d; ++k) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        in[k] = (float)((double)(x >> 11) * 0x1.0p-53 - 0.5);
    }
    double l1 = 0, l2 = 0;
    for (int t = 1; t <= 2; ++t) {
        cns_loss *l = make_loss(d, 7);
        ck_assert_status(cns_loss_set_int(l, CNS_LOSS_THREADS, t), CNS_OK);
        float *g = t == 1 ? g1 : g2;
        ck_assert_status(cns_loss_compute(l, in, in + n * d, in + 2 * n * d, in + 3 * n * d, NULL, n,
                                          g, g + n * d, g + 2 * n * d, t == 1 ? &l1 : &l2),
                         CNS_OK);
        if (t == 2) {
            ck_assert_status(cns_loss_set_int(l, CNS_LOSS_THREADS, 0), CNS_E_ARG);
            ck_assert_status(cns_loss_set_int(l, CNS_LOSS_THREADS, 257), CNS_E_ARG);
            int64_t v;
            ck_assert_status(cns_loss_get_int(l, CNS_LOSS_THREADS, &v), CNS_OK);
            ck_assert_int_eq(v, 2);
        }
        cns_loss_free(l);
    }
    ck_assert(l1 == l2);
    ck_assert_int_eq(memcmp(g1, g2, 3 * n * d * sizeof(float)), 0);
    free(in);
    free(g1);
    free(g2);
}
END_TEST

/* ---- cns_loss_compute_rows -------------------------------------------- */

/* n times the mean: the batch sum, whose gradient is the per-row form. */
static double ref_total_sum(const lref_case *c) { return (double)c->n * lref_total(c); }

#define SPAD 3 /* strided tables: rows of d + SPAD floats, the padding poisoned */

/* Copies n rows of width d into a table of stride d + SPAD, NaN between. */
static void spread(const float *src, float *dst, size_t n, size_t d) {
    for (size_t i = 0; i < n * (d + SPAD); ++i) dst[i] = NAN;
    for (size_t b = 0; b < n; ++b) memcpy(dst + b * (d + SPAD), src + b * d, d * sizeof *dst);
}

static void gather_back(const float *src, float *dst, size_t n, size_t d) {
    for (size_t b = 0; b < n; ++b) memcpy(dst + b * d, src + b * (d + SPAD), d * sizeof *dst);
}

/* Per-row gradients from strided tables: against central differences of
 * n x the float64 reference (the batch sum), against n x the mean form of
 * cns_loss_compute, and with the padding between rows left untouched. */
START_TEST(test_rows_per_row_gradients) {
    enum { N = 4, D = 5, S = D + SPAD };
    lref_fixture f;
    fill(&f, N, D, 21);
    cns_loss *l = make_loss(D, 1);
    cns__loss_fix_noise(l, f.eps);
    float u[N * S], pos[N * S], neg[N * S], h[N * S], gu[N * S], gp[N * S], gn[N * S];
    spread(f.u, u, N, D);
    spread(f.pos, pos, N, D);
    spread(f.neg, neg, N, D);
    spread(f.h, h, N, D);
    spread(f.u, gu, N, D); /* poisoned padding, rows overwritten */
    spread(f.u, gp, N, D);
    spread(f.u, gn, N, D);
    float lam_out[N];
    cns_loss_rows r;
    cns_loss_rows_init(&r);
    r.dim = D;
    r.n = N;
    r.per_row = 1;
    r.u = u, r.pos = pos, r.neg = neg, r.synth = h, r.lambda = f.lam;
    r.u_stride = r.pos_stride = r.neg_stride = r.synth_stride = S;
    r.grad_u = gu, r.grad_pos = gp, r.grad_neg = gn;
    r.grad_u_stride = r.grad_pos_stride = r.grad_neg_stride = S;
    r.lambda_out = lam_out;
    double loss;
    ck_assert_status(cns_loss_compute_rows(l, &r, &loss), CNS_OK);
    for (size_t b = 0; b < N; ++b) {
        ck_assert(lam_out[b] == f.lam[b]);
        for (size_t k = D; k < S; ++k) ck_assert(isnan(gu[b * S + k]) && isnan(gn[b * S + k]));
    }
    lref_case c;
    to_ref(&f, &c, 1, 0.01, 2.0, 0.3);
    /* The loss stays the batch mean. */
    ck_assert_close(loss, lref_total(&c), 1e-6, 0);
    lref_fixture g = f;
    gather_back(gu, g.gu, N, D);
    gather_back(gp, g.gp, N, D);
    gather_back(gn, g.gn, N, D);
    check_grads(&c, ref_total_sum, &g);
    /* The mean form of the old call, times n: equal up to float rounding
     * (the per-row form leaves the 1/n out instead of multiplying back). */
    ck_assert_status(
        cns_loss_compute(l, f.u, f.pos, f.neg, f.h, f.lam, N, f.gu, f.gp, f.gn, NULL), CNS_OK);
    for (size_t i = 0; i < N * D; ++i) {
        ck_assert_close(g.gu[i], N * f.gu[i], 1e-5, 1e-7);
        ck_assert_close(g.gp[i], N * f.gp[i], 1e-5, 1e-7);
        ck_assert_close(g.gn[i], N * f.gn[i], 1e-5, 1e-7);
    }
    /* per_row = 0 on the strided tables is the old call exactly. */
    r.per_row = 0;
    ck_assert_status(cns_loss_compute_rows(l, &r, NULL), CNS_OK);
    gather_back(gn, g.gn, N, D);
    gather_back(gp, g.gp, N, D);
    for (size_t i = 0; i < N * D; ++i) ck_assert(g.gn[i] == f.gn[i] && g.gp[i] == f.gp[i]);
    cns_loss_free(l);
}
END_TEST

/* The contrastive term couples rows: neg row 0's per-row gradient is the
 * pull of every anchor's denominator, not of row 0's own term alone (the
 * documented meaning of "per row" for the coupled term). */
static double ref_cl_row0(const lref_case *c) {
    lref_case one = *c;
    /* Row 0's own term: anchor 0 against all 2n negatives. */
    const size_t n = c->n, d = c->d;
    double a[MAXD] = {0}, q[MAXD] = {0}, p[MAXD] = {0};
    lref_unit(one.pos, a, d);
    for (size_t k = 0; k < d; ++k) q[k] = one.pos[k] + one.s * one.eps[k];
    lref_unit(q, p, d);
    double ap = 0.0, z = 0.0;
    for (size_t k = 0; k < d; ++k) ap += a[k] * p[k];
    for (size_t j = 0; j < 2 * n; ++j) {
        double nj[MAXD], sim = 0.0;
        lref_unit(j < n ? one.h + j * d : one.neg + (j - n) * d, nj, d);
        for (size_t k = 0; k < d; ++k) sim += a[k] * nj[k];
        z += exp(sim / one.tau);
    }
    return -ap / one.tau + log(z);
}

START_TEST(test_rows_contrastive_couples_rows) {
    enum { N = 4, D = 5 };
    lref_fixture f;
    fill(&f, N, D, 22);
    cns_loss *l = make_loss(D, 1);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.0), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 1.0), CNS_OK);
    float lam0[N] = {0};
    cns_loss_rows r;
    cns_loss_rows_init(&r);
    r.dim = D, r.n = N, r.per_row = 1;
    r.u = f.u, r.pos = f.pos, r.neg = f.neg, r.synth = f.h, r.lambda = lam0;
    r.grad_u = f.gu, r.grad_pos = f.gp, r.grad_neg = f.gn;
    ck_assert_status(cns_loss_compute_rows(l, &r, NULL), CNS_OK);
    /* BPR (λ = 0) gives neg row 0 -σ(-x_0) (-u_0); remove it to keep the
     * contrastive share of neg row 0. */
    lref_case c;
    to_ref(&f, &c, 1, 0.0, 2.0, 1.0);
    double x0 = 0.0;
    for (size_t k = 0; k < D; ++k) x0 += c.u[k] * (c.pos[k] - c.neg[k]);
    const double sg = 1.0 / (1.0 + exp(x0));
    double max_diff = 0.0;
    for (size_t k = 0; k < D; ++k) {
        const double cl_share = f.gn[k] - sg * c.u[k];
        const double keep = c.neg[k], step = 1e-5;
        c.neg[k] = keep + step;
        double lp = ref_cl_row0(&c);
        c.neg[k] = keep - step;
        double lm = ref_cl_row0(&c);
        c.neg[k] = keep;
        max_diff = fmax(max_diff, fabs(cl_share - (lp - lm) / (2 * step)));
    }
    ck_assert_msg(max_diff > 1e-3, "neg row 0 carries only its own term (max diff %g)", max_diff);
    cns_loss_free(l);
}
END_TEST

/* Drawn λ come back per row; without synth they are zeros. */
START_TEST(test_rows_lambda_out) {
    enum { N = 6, D = 4 };
    lref_fixture f;
    fill(&f, N, D, 23);
    cns_loss *l = make_loss(D, 9);
    float lam_out[N];
    cns_loss_rows r;
    cns_loss_rows_init(&r);
    r.dim = D, r.n = N, r.per_row = 1;
    r.u = f.u, r.pos = f.pos, r.neg = f.neg, r.synth = f.h;
    r.grad_u = f.gu, r.grad_pos = f.gp, r.grad_neg = f.gn, r.lambda_out = lam_out;
    ck_assert_status(cns_loss_set_epoch(l, 60), CNS_OK);
    ck_assert_status(cns_loss_compute_rows(l, &r, NULL), CNS_OK);
    size_t n = 0;
    const float *drawn = cns__loss_lambdas(l, &n);
    ck_assert_uint_eq(n, N);
    double mean = 0.0;
    for (size_t b = 0; b < N; ++b) {
        ck_assert(lam_out[b] == drawn[b]);
        ck_assert(lam_out[b] > 0.0f && lam_out[b] < 1.0f);
        mean += lam_out[b] / N;
    }
    ck_assert_close(cns_loss_term_value(l, CNS_TERM_LAMBDA), mean, 1e-6, 0);
    r.synth = NULL;
    for (size_t b = 0; b < N; ++b) lam_out[b] = 7.0f;
    ck_assert_status(cns_loss_compute_rows(l, &r, NULL), CNS_OK);
    for (size_t b = 0; b < N; ++b) ck_assert(lam_out[b] == 0.0f);
    cns_loss_free(l);
}
END_TEST

/* A width other than the loss's is refused, naming both numbers; so are
 * strides below the width and broken structs. */
START_TEST(test_rows_width_checked) {
    enum { N = 2, D = 8 };
    lref_fixture f;
    fill(&f, N, D, 24);
    cns_loss *l = make_loss(4, 1);
    ck_assert_int_eq(cns_loss_dim(l), 4);
    ck_assert_int_eq(cns_loss_dim(NULL), 0);
    cns_loss_rows r;
    cns_loss_rows_init(&r);
    r.dim = D, r.n = N;
    r.u = f.u, r.pos = f.pos, r.neg = f.neg;
    r.grad_u = f.gu, r.grad_pos = f.gp, r.grad_neg = f.gn;
    ck_assert_status(cns_loss_compute_rows(l, &r, NULL), CNS_E_SIZE);
    const char *m = cns_loss_last_error(l);
    ck_assert_msg(strstr(m, "cns_loss_compute_rows: ") == m, "%s", m);
    ck_assert_msg(strstr(m, "8") != NULL && strstr(m, "4") != NULL, "%s", m);
    r.dim = 4;
    r.neg_stride = 3;
    ck_assert_status(cns_loss_compute_rows(l, &r, NULL), CNS_E_SIZE);
    ck_assert_ptr_nonnull(strstr(cns_loss_last_error(l), "neg_stride = 3"));
    r.neg_stride = 0;
    r.per_row = 2;
    ck_assert_status(cns_loss_compute_rows(l, &r, NULL), CNS_E_ARG);
    r.per_row = 0;
    r.grad_pos = NULL;
    ck_assert_status(cns_loss_compute_rows(l, &r, NULL), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_loss_last_error(l), "grad_pos is NULL"));
    r.grad_pos = f.gp;
    r.struct_size = 8;
    ck_assert_status(cns_loss_compute_rows(l, &r, NULL), CNS_E_SIZE);
    r.struct_size = sizeof r;
    ck_assert_status(cns_loss_compute_rows(l, NULL, NULL), CNS_E_ARG);
    ck_assert_status(cns_loss_compute_rows(NULL, &r, NULL), CNS_E_ARG);
    /* dim 4 on rows of stride 8: the first 4 of each row, as a packed
     * 4-wide call would see them. */
    r.u_stride = r.pos_stride = r.neg_stride = D;
    ck_assert_status(cns_loss_compute_rows(l, &r, NULL), CNS_OK);
    /* Misuse of the old call speaks "function: detail" too. */
    ck_assert_status(cns_loss_compute(l, f.u, NULL, f.neg, NULL, NULL, 1, f.gu, f.gp, f.gn, NULL),
                     CNS_E_ARG);
    ck_assert_str_eq(cns_loss_last_error(l), "cns_loss_compute: pos is NULL");
    ck_assert_status(cns_loss_set_double(l, 4242, 1.0), CNS_E_PARAM);
    m = cns_loss_last_error(l);
    ck_assert_msg(strstr(m, "cns_loss_set_double: ") == m, "%s", m);
    cns_loss_free(l);
}
END_TEST

int main(void) {
    Suite *s = suite_create("loss");
    TCase *tv = tcase_create("values");
    tcase_add_test(tv, test_bpr_hand_value);
    tcase_add_test(tv, test_log_sigmoid_extremes);
    tcase_add_test(tv, test_contrastive_hand_value);
    suite_add_tcase(s, tv);
    TCase *tg = tcase_create("gradients");
    tcase_add_test(tg, test_grad_plain_bpr);
    tcase_add_test(tg, test_grad_mixed_bpr);
    tcase_add_test(tg, test_grad_contrastive_no_noise);
    tcase_add_test(tg, test_grad_contrastive_fixed_noise);
    tcase_add_test(tg, test_grad_total_defaults);
    tcase_add_test(tg, test_contrastive_many_blocks);
    tcase_add_test(tg, test_collapsed_value_and_grads);
    tcase_add_test(tg, test_collapsed_matches_general);
    suite_add_tcase(s, tg);
    TCase *tc = tcase_create("curriculum");
    tcase_add_test(tc, test_curriculum_schedule);
    tcase_add_test(tc, test_curriculum_min_mix_and_off);
    tcase_add_test(tc, test_mixing_off_loss);
    tcase_add_test(tc, test_draws_reproducible);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("misuse");
    tcase_add_test(tm, test_param_defaults_and_bounds);
    tcase_add_test(tm, test_create_misuse);
    tcase_add_test(tm, test_compute_misuse);
    tcase_add_test(tm, test_numeric_failures);
    tcase_add_test(tm, test_tiny_temperature_is_numeric);
    tcase_add_test(tm, test_allocations);
    tcase_add_test(tm, test_zero_rows_finite);
    tcase_add_test(tm, test_threads_identical);
    suite_add_tcase(s, tm);
    TCase *tr = tcase_create("rows");
    tcase_add_test(tr, test_rows_per_row_gradients);
    tcase_add_test(tr, test_rows_contrastive_couples_rows);
    tcase_add_test(tr, test_rows_lambda_out);
    tcase_add_test(tr, test_rows_width_checked);
    suite_add_tcase(s, tr);
    return cns_test_run(s);
}
