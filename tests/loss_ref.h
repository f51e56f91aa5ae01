/* An independent float64 reference of the loss (ALGORITHM.md §9, with the
 * repel column of §19), its fixtures and its finite-difference gradient
 * check, shared by test_loss.c and test_loss_repel.c. Every column of the
 * contrastive term is summed one by one from the definitions: nothing is
 * shared with the library's layout (no collapsed identical rows, no shifted
 * log-sum-exp), and the inputs come from a small LCG, not the library's
 * random numbers. */
#ifndef CNS_TEST_LOSS_REF_H
#define CNS_TEST_LOSS_REF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cnsdiff/loss.h"
#include "testutil.h"

#define LREF_MAXN 8
#define LREF_MAXD 8

/* One batch in float64: rows b = 0 .. n-1 of width d. */
typedef struct lref_case {
    size_t n, d;
    double u[LREF_MAXN * LREF_MAXD], pos[LREF_MAXN * LREF_MAXD], neg[LREF_MAXN * LREF_MAXD];
    double h[LREF_MAXN * LREF_MAXD], eps[LREF_MAXN * LREF_MAXD];
    double lam[LREF_MAXN], r[LREF_MAXD];
    int has_h; /* synthesized rows: BPR mixes them in by lam, L_cl has their columns */
    int has_r; /* the repel column: n e^{<a, r/|r|>/tau} in L_cl's sum */
    double s, tau, gamma;
} lref_case;

static inline void lref_unit(const double *x, double *y, size_t d) {
    double ss = 0.0;
    for (size_t k = 0; k < d; ++k) ss += x[k] * x[k];
    for (size_t k = 0; k < d; ++k) y[k] = x[k] / sqrt(ss);
}

/* <a, x / |x|> for d <= 64 (the large-batch repel tests use dim 16). */
static inline double lref_cosine(const double *a, const double *x, size_t d) {
    double y[64], sim = 0.0;
    ck_assert(d <= 64);
    lref_unit(x, y, d);
    for (size_t k = 0; k < d; ++k) sim += a[k] * y[k];
    return sim;
}

/* L_bpr = mean_b softplus(-<u_b, pos_b - n_b>), n_b = lam_b h_b + (1 -
 * lam_b) neg_b with synthesized rows, else neg_b (the cases keep |x| small). */
static inline double lref_bpr(const lref_case *c) {
    double sum = 0.0;
    for (size_t b = 0; b < c->n; ++b) {
        double x = 0.0;
        for (size_t k = 0; k < c->d; ++k) {
            size_t i = b * c->d + k;
            double nk = c->has_h ? c->lam[b] * c->h[i] + (1.0 - c->lam[b]) * c->neg[i] : c->neg[i];
            x += c->u[i] * (c->pos[i] - nk);
        }
        sum += log1p(exp(-x));
    }
    return sum / (double)c->n;
}

/* L_cl = mean_b [-<a_b, p_b>/tau + log(sum over the columns of e^{<a_b,
 * col/|col|>/tau})], a_b = pos_b/|pos_b|, p_b = pos_b + s eps_b; the
 * columns: n copies of r (has_r), every h_j (has_h), every neg_j. */
static inline double lref_cl(const lref_case *c) {
    const size_t n = c->n, d = c->d;
    double total = 0.0;
    for (size_t b = 0; b < n; ++b) {
        double a[LREF_MAXD], q[LREF_MAXD];
        lref_unit(c->pos + b * d, a, d);
        for (size_t k = 0; k < d; ++k) q[k] = c->pos[b * d + k] + c->s * c->eps[b * d + k];
        double z = c->has_r ? (double)n * exp(lref_cosine(a, c->r, d) / c->tau) : 0.0;
        for (size_t j = 0; j < n; ++j) {
            if (c->has_h) z += exp(lref_cosine(a, c->h + j * d, d) / c->tau);
            z += exp(lref_cosine(a, c->neg + j * d, d) / c->tau);
        }
        total += -lref_cosine(a, q, d) / c->tau + log(z);
    }
    return total / (double)n;
}

/* L = L_bpr + gamma L_cl; without synthesized rows or the repel column
 * there is no contrastive term. */
static inline double lref_total(const lref_case *c) {
    return lref_bpr(c) + (c->has_h || c->has_r ? c->gamma * lref_cl(c) : 0.0);
}

/* ---- fixtures ---------------------------------------------------------- */

/* Deterministic values in [-1, 1) (a small LCG: no library RNG in the
 * expected values). */
static inline float lref_next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* One batch in float, as the library takes it, with room for the gradients. */
typedef struct lref_fixture {
    size_t n, d;
    float u[LREF_MAXN * LREF_MAXD], pos[LREF_MAXN * LREF_MAXD], neg[LREF_MAXN * LREF_MAXD];
    float h[LREF_MAXN * LREF_MAXD], eps[LREF_MAXN * LREF_MAXD], lam[LREF_MAXN], r[LREF_MAXD];
    float gu[LREF_MAXN * LREF_MAXD], gp[LREF_MAXN * LREF_MAXD], gn[LREF_MAXN * LREF_MAXD];
} lref_fixture;

/* n rows of width d from seed: u, pos, neg, h and eps (times eps_scale) row
 * element by element, every h row equal to the first with same_h, then the
 * lambdas in [0, 1) and a direction r of norm about 3 (the repel column
 * must not depend on its norm). */
static inline void lref_fill(lref_fixture *f, size_t n, size_t d, uint64_t seed, float eps_scale,
                             int same_h) {
    ck_assert(n <= LREF_MAXN && d <= LREF_MAXD);
    memset(f, 0, sizeof *f);
    f->n = n;
    f->d = d;
    uint64_t s = seed;
    for (size_t i = 0; i < n * d; ++i) {
        f->u[i] = lref_next(&s);
        f->pos[i] = lref_next(&s);
        f->neg[i] = lref_next(&s);
        f->h[i] = lref_next(&s);
        f->eps[i] = lref_next(&s) * eps_scale;
    }
    if (same_h)
        for (size_t b = 1; b < n; ++b) memcpy(f->h + b * d, f->h, d * sizeof(float));
    for (size_t b = 0; b < n; ++b) f->lam[b] = 0.5f * (lref_next(&s) + 1.0f);
    for (size_t k = 0; k < d; ++k) f->r[k] = 3.0f * lref_next(&s);
}

/* A loss of width dim and draw seed, at the handle's initial values. */
static inline cns_loss *lref_loss(int dim, uint64_t seed) {
    cns_loss_desc desc;
    cns_loss_desc_init(&desc);
    desc.dim = dim;
    desc.seed = seed;
    cns_loss *l = NULL;
    cns_error err;
    ck_assert_status(cns_loss_create(&desc, NULL, &l, &err), CNS_OK);
    ck_assert_ptr_nonnull(l);
    return l;
}

/* The fixture's inputs in float64, with the term's settings. */
static inline void lref_from(const lref_fixture *f, lref_case *c, int has_h, int has_r, double s,
                             double tau, double gamma) {
    memset(c, 0, sizeof *c);
    c->n = f->n;
    c->d = f->d;
    for (size_t i = 0; i < f->n * f->d; ++i) {
        c->u[i] = f->u[i];
        c->pos[i] = f->pos[i];
        c->neg[i] = f->neg[i];
        c->h[i] = f->h[i];
        c->eps[i] = f->eps[i];
    }
    for (size_t b = 0; b < f->n; ++b) c->lam[b] = f->lam[b];
    for (size_t k = 0; k < f->d; ++k) c->r[k] = f->r[k];
    c->has_h = has_h;
    c->has_r = has_r;
    c->s = s;
    c->tau = tau;
    c->gamma = gamma;
}

/* Central differences of k fn(c) on each element of var (a member of c,
 * changed in place and restored) against the library's gradient g:
 * |g - fd| <= 1e-3 max(|fd|, 1e-3). k = 1 for a batch mean, n for the batch
 * sum of a per-row form. cas names the case in the message ("" for none). */
static inline void lref_check_grad(lref_case *c, double (*fn)(const lref_case *), double k,
                                   double *var, const float *g, const char *what,
                                   const char *cas) {
    const double step = 1e-5;
    for (size_t i = 0; i < c->n * c->d; ++i) {
        double keep = var[i];
        var[i] = keep + step;
        double lp = fn(c);
        var[i] = keep - step;
        double lm = fn(c);
        var[i] = keep;
        double fd = k * (lp - lm) / (2.0 * step);
        double rel = fabs((double)g[i] - fd) / fmax(fabs(fd), 1e-3);
        ck_assert_msg(rel <= 1e-3, "%s%s%s[%zu]: gradient %.9g, central difference %.9g (rel %.2g)",
                      cas, cas[0] ? ": " : "", what, i, (double)g[i], fd, rel);
    }
}

#endif
