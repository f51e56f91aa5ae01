/* The sampler handle: the diffusion loss (§6) against a float64 reference
 * and finite differences, the KL term against a hand-computed case,
 * training, draw (§7), the reference and Gaussian modes (§13), uniform and
 * DNS negatives, determinism, allocation-free steady state, misuse. */
#include "denoiser_ref.h"
#include "sampler_internal.h"
#include "testutil.h"

static cns_sampler *make(int kind, int dim, int td, int hid, uint64_t seed) {
    cns_sampler_desc d;
    cns_sampler_desc_init(&d);
    d.kind = kind;
    d.dim = dim;
    d.time_dim = td;
    d.hidden = hid;
    d.seed = seed;
    cns_sampler *s = NULL;
    cns_error e;
    ck_assert_status(cns_sampler_create(&d, NULL, &s, &e), CNS_OK);
    ck_assert_ptr_nonnull(s);
    /* These checks are of the method as ALGORITHM.md describes it. */
    ck_assert_status(cns_preset_apply(CNS_PRESET_PAPER, NULL, s, NULL, &e), CNS_OK);
    return s;
}

static void fill_emb(float *x, size_t n, uint64_t seed, double scale) {
    cns__rng r;
    cns__rng_seed(&r, seed, 77);
    for (size_t i = 0; i < n; ++i) x[i] = (float)(cns__rng_normal(&r) * scale);
}

/* ---- the diffusion loss ---------------------------------------------------- */

/* §6 in float64 with the denoiser parameters p (no dropout). */
static double ref_diffusion_loss(const cns_sampler *s, const double *p, const float *x0, size_t n,
                                 const int32_t *t, const float *eps) {
    const int d = s->desc.dim;
    ref_shape sh = {d, s->desc.time_dim, s->desc.hidden};
    const cns__schedule *sc = &s->sched;
    double sum_w = 0.0, sum_kl = 0.0;
    for (size_t r = 0; r < n; ++r) {
        int tt = t[r], tp = tt > 0 ? tt - 1 : 0;
        double xt[64], xp[64], out[64], mse = 0.0;
        for (int j = 0; j < d; ++j) {
            double e = eps[r * d + j], a = x0[r * d + j];
            xt[j] = sqrt(sc->alpha_bar[tt]) * a + sqrt(1 - sc->alpha_bar[tt]) * e;
            xp[j] = sqrt(sc->alpha_bar[tp]) * a + sqrt(1 - sc->alpha_bar[tp]) * e;
        }
        ref_denoise(&sh, p, xt, tt, 1, out);
        double lv1 = sc->post_logvar[tt], lv2 = tt > 0 ? sc->post_logvar[tt - 1] : 0.0;
        for (int j = 0; j < d; ++j) {
            double e0 = x0[r * d + j] - out[j];
            mse += e0 * e0 / d;
            double e1 = out[j] - xp[j];
            sum_kl += 0.5 * (-1 + lv2 - lv1 + exp(lv1 - lv2) + e1 * e1 * exp(-lv2));
        }
        double w = tt == 0 ? 1.0 : (sc->alpha_bar[tt - 1] / (1 - sc->alpha_bar[tt - 1]) -
                                    sc->alpha_bar[tt] / (1 - sc->alpha_bar[tt]));
        sum_w += w * mse;
    }
    return sum_w / (double)n + s->causal_weight * sum_kl / ((double)n * d);
}

START_TEST(test_loss_gradient_fd) {
    enum { D = 4, N = 6 };
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, D, 4, 3, 11);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DROPOUT, 0.0), CNS_OK);
    /* larger noise so that x_t moves visibly; t covers 0, 1 and T-1 */
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_NOISE_SCALE, 5.0), CNS_OK);
    static const int32_t t[N] = {0, 1, 2, 7, 13, 19};
    float x0[N * D], eps[N * D];
    fill_emb(x0, N * D, 1, 0.5);
    fill_emb(eps, N * D, 2, 1.0);
    s->hook_t = t;
    s->hook_eps = eps;
    double L = 0.0;
    ck_assert_status(cns__sampler_diffusion_loss(s, x0, N, &L), CNS_OK);
    size_t np = s->den.n_params;
    double p[512] = {0};
    ck_assert_uint_le(np, 512);
    for (size_t i = 0; i < np; ++i) p[i] = s->den.params[i];
    double Lref = ref_diffusion_loss(s, p, x0, N, t, eps);
    ck_assert_close(L, Lref, 2e-5, 0.0);
    double gmax = 0.0;
    for (size_t i = 0; i < np; ++i) gmax = fmax(gmax, fabs(s->den.grads[i]));
    ck_assert(gmax > 0.0);
    for (size_t i = 0; i < np; ++i) {
        double keep = p[i], h = 1e-6;
        p[i] = keep + h;
        double lp = ref_diffusion_loss(s, p, x0, N, t, eps);
        p[i] = keep - h;
        double lm = ref_diffusion_loss(s, p, x0, N, t, eps);
        p[i] = keep;
        double fd = (lp - lm) / (2 * h);
        ck_assert_msg(fabs(s->den.grads[i] - fd) <= 1e-3 * fabs(fd) + 1e-4 * gmax,
                      "param %zu: analytic %.9g, finite difference %.9g (max %g)", i,
                      (double)s->den.grads[i], fd, gmax);
    }
    cns_sampler_free(s);
}
END_TEST

/* KL and mse by hand: W2 = 0 and b2 = 1 make x̂0 = (1, 1, 1, 1). */
START_TEST(test_kl_closed_form) {
    enum { D = 4 };
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, D, 4, 3, 3);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DROPOUT, 0.0), CNS_OK);
    for (int i = 0; i < D * 3; ++i) s->den.W2[i] = 0.0f;
    for (int j = 0; j < D; ++j) s->den.b2[j] = 1.0f;
    static const int32_t t[2] = {0, 2};
    float x0[2 * D] = {0, 0, 0, 0, 0.5f, -0.5f, 0.2f, 0};
    float eps[2 * D] = {0, 0, 0, 0, 1, -1, 0.5f, 2};
    s->hook_t = t;
    s->hook_eps = eps;
    double L = 0.0;
    ck_assert_status(cns__sampler_diffusion_loss(s, x0, 2, &L), CNS_OK);
    /* python3, from shared/vectors/schedule_linear-var.csv:
     *   ab1=0.99988526315789472; lv=[-11.604105702989353]*2+[-9.8125360349971977]
     *   w0,w2=1.0,4159.2414142061916; cw=0.1
     *   x0=[0.5,-0.5,0.2,0.0]; eps=[1.0,-1.0,0.5,2.0]
     *   mse1=sum((1-a)**2 for a in x0)/4
     *   kl=4*0.5*(-1-lv[0]+math.exp(lv[0])+1)            # t = 0: lv2 := 0, x_{-1} = 0
     *   for j: x1=sqrt(ab1)*x0[j]+sqrt(1-ab1)*eps[j]
     *          kl+=0.5*(-1+lv[1]-lv[2]+exp(lv[2]-lv[1])+(1-x1)**2*exp(-lv[1]))
     *   L=(w0*1.0+w2*mse1)/2+cw*kl/8
     * -> kl = 225185.46497556992, L = 4967.725744046329 */
    ck_assert_close(L, 4967.725744046329, 1e-6, 0.0);
    ck_assert_close(s->stat_loss_kl, 0.1 * 225185.46497556992 / 8, 1e-6, 0.0);
    ck_assert_close(s->stat_loss_mse, (1.0 + 4159.2414142061916 * 1.035) / 2, 1e-6, 0.0);
    /* without reweighting both rows weigh 1 */
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_REWEIGHT, 0), CNS_OK);
    ck_assert_status(cns__sampler_diffusion_loss(s, x0, 2, &L), CNS_OK);
    ck_assert_close(s->stat_loss_mse, (1.0 + 1.035) / 2, 1e-6, 0.0);
    cns_sampler_free(s);
}
END_TEST

/* Mean L_diff over k batches without stepping. */
static double mean_loss(cns_sampler *s, const float *x, size_t n, int k) {
    double sum = 0.0;
    for (int i = 0; i < k; ++i) {
        double L;
        ck_assert_status(cns__sampler_diffusion_loss(s, x, n, &L), CNS_OK);
        sum += L;
    }
    return sum / k;
}

START_TEST(test_training_lowers_loss) {
    enum { N = 256, D = 64 };
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, D, 64, 64, 5);
    float *x = malloc(N * D * sizeof(float));
    fill_emb(x, N * D, 9, 0.1);
    double before = mean_loss(s, x, N, 16);
    double share_t1 = 0.0, max_row = 0.0;
    for (int it = 0; it < 300; ++it) {
        double L;
        ck_assert_status(cns_sampler_train_step(s, x, N, &L), CNS_OK);
        ck_assert(isfinite(L));
        share_t1 += s->stat_share_t1;
        if (s->stat_max_row_share > max_row) max_row = s->stat_max_row_share;
    }
    double after = mean_loss(s, x, N, 16);
    fprintf(stderr, "diffusion loss %g -> %g after 300 steps; t=1 rows carry %.1f%% of sum(w mse), "
                    "largest single row %.1f%%\n",
            before, after, 100.0 * share_t1 / 300, 100.0 * max_row);
    ck_assert_msg(after < 0.5 * before, "loss %g -> %g", before, after);
    ck_assert_uint_eq(s->train_steps, 300);
    free(x);
    cns_sampler_free(s);
}
END_TEST

/* ---- draw ---------------------------------------------------------------- */

START_TEST(test_draw_picks_best_and_levels_spread) {
    enum { N = 256, D = 16 };
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, D, 16, 32, 21);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_NOISE_SCALE, 20.0), CNS_OK);
    float *pos = malloc(N * D * sizeof(float)), *user = malloc(N * D * sizeof(float));
    float *out = malloc(N * D * sizeof(float));
    fill_emb(pos, N * D, 1, 0.3);
    fill_emb(user, N * D, 2, 0.3);
    for (int it = 0; it < 400; ++it) ck_assert_status(cns_sampler_train_step(s, pos, N, NULL), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, user, pos, N, out), CNS_OK);
    ck_assert_int_eq(s->n_levels, 3);
    ck_assert_int_eq(s->levels[0], 10);
    ck_assert_int_eq(s->levels[1], 14);
    ck_assert_int_eq(s->levels[2], 18);
    double dist[3] = {0, 0, 0};
    for (int r = 0; r < N; ++r) {
        int best = -1;
        double bs = -INFINITY;
        for (int j = 0; j < 3; ++j) {
            const float *c = s->cand + ((size_t)j * N + r) * D;
            double sc = 0, dd = 0;
            for (int k = 0; k < D; ++k) {
                ck_assert(isfinite(c[k]));
                sc += (double)user[r * D + k] * c[k];
                dd += ((double)c[k] - pos[r * D + k]) * ((double)c[k] - pos[r * D + k]);
            }
            dist[j] += dd / N;
            if (sc > bs) {
                bs = sc;
                best = j;
            }
        }
        ck_assert_int_eq(memcmp(out + r * D, s->cand + ((size_t)best * N + r) * D, D * sizeof(float)), 0);
    }
    fprintf(stderr, "mean squared distance to the positive by level 10/14/18: %g %g %g\n", dist[0],
            dist[1], dist[2]);
    ck_assert(dist[0] < dist[1]);
    ck_assert(dist[1] < dist[2]);
    free(pos);
    free(user);
    free(out);
    cns_sampler_free(s);
}
END_TEST

static void draw_once(uint64_t seed, int mode, float *out, size_t n, int d) {
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, d, 8, 8, seed);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, mode), CNS_OK);
    float *pos = malloc(n * d * sizeof(float)), *user = malloc(n * d * sizeof(float));
    fill_emb(pos, n * d, 1, 0.3);
    fill_emb(user, n * d, 2, 0.3);
    ck_assert_status(cns_sampler_train_step(s, pos, n, NULL), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, user, pos, n, out), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, user, pos, n, out + n * d), CNS_OK);
    for (size_t i = 0; i < 2 * n * d; ++i) ck_assert(isfinite(out[i]));
    free(pos);
    free(user);
    cns_sampler_free(s);
}

START_TEST(test_determinism) {
    enum { N = 33, D = 8 };
    float a[2 * N * D], b[2 * N * D], c[2 * N * D];
    for (int mode = 0; mode <= 2; ++mode) {
        draw_once(7, mode, a, N, D);
        draw_once(7, mode, b, N, D);
        draw_once(8, mode, c, N, D);
        ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
        ck_assert_int_ne(memcmp(a, c, sizeof a), 0);
        /* successive draws differ (fresh noise) */
        ck_assert_int_ne(memcmp(a, a + N * D, N * D * sizeof(float)), 0);
    }
}
END_TEST

START_TEST(test_reference_and_gaussian_modes) {
    enum { N = 64, D = 8 };
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, D, 8, 8, 4);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_REFERENCE), CNS_OK);
    float pos[N * D], user[N * D], ref[N * D], gau[N * D];
    fill_emb(pos, N * D, 1, 0.3);
    fill_emb(user, N * D, 2, 0.3);
    float *w0 = malloc(s->den.n_params * sizeof(float));
    memcpy(w0, s->den.params, s->den.n_params * sizeof(float));
    double L = 123.0;
    ck_assert_status(cns_sampler_train_step(s, pos, N, &L), CNS_OK);
    ck_assert(L == 0.0);
    ck_assert_int_eq(memcmp(w0, s->den.params, s->den.n_params * sizeof(float)), 0);
    ck_assert_status(cns_sampler_draw(s, user, pos, N, ref), CNS_OK);
    cns_sampler_free(s);
    /* the Gaussian ablation: same reference candidate (same seed and calls),
     * same norm, another direction */
    s = make(CNS_SAMPLER_DIFFUSION, D, 8, 8, 4);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_GAUSSIAN), CNS_OK);
    ck_assert_status(cns_sampler_train_step(s, pos, N, &L), CNS_OK);
    ck_assert_int_eq(memcmp(w0, s->den.params, s->den.n_params * sizeof(float)), 0);
    ck_assert_status(cns_sampler_draw(s, user, pos, N, gau), CNS_OK);
    double cos_sum = 0;
    for (int r = 0; r < N; ++r) {
        double nr = 0, ng = 0, dot = 0;
        for (int k = 0; k < D; ++k) {
            nr += (double)ref[r * D + k] * ref[r * D + k];
            ng += (double)gau[r * D + k] * gau[r * D + k];
            dot += (double)ref[r * D + k] * gau[r * D + k];
        }
        ck_assert_close(sqrt(ng), sqrt(nr), 1e-5, 1e-7);
        cos_sum += fabs(dot) / sqrt(nr * ng);
    }
    ck_assert(cos_sum / N < 0.6); /* random directions in 8-d: E|cos| ~ 0.27 */
    cns_sampler_free(s);
    /* the trained mode with the same seed does not produce the reference */
    s = make(CNS_SAMPLER_DIFFUSION, D, 8, 8, 4);
    ck_assert_status(cns_sampler_draw(s, user, pos, N, gau), CNS_OK);
    ck_assert_int_ne(memcmp(ref, gau, sizeof ref), 0);
    cns_sampler_free(s);
    free(w0);
}
END_TEST

/* CNS_MODE_DIRECTION (ALGORITHM.md §16): every row is norm * d, with d the
 * unit vector of N(0, I) normals drawn from the seed's "dir" stream
 * (0x646972), recomputed here in double; nothing depends on the inputs,
 * the thread count, earlier draws or train steps; no random number is
 * consumed and train_step changes nothing. */
static void expected_direction(uint64_t seed, int d, double *out) {
    cns__rng r;
    cns__rng_seed(&r, seed, 0x646972ull);
    double ss = 0.0;
    for (int k = 0; k < d; ++k) {
        out[k] = (double)(float)cns__rng_normal(&r);
        ss += out[k] * out[k];
    }
    for (int k = 0; k < d; ++k) out[k] /= sqrt(ss);
}

START_TEST(test_direction_mode) {
    enum { N = 40, D = 16 };
    float user[N * D], pos[N * D], out[N * D], out2[N * D];
    fill_emb(user, N * D, 3, 0.5);
    fill_emb(pos, N * D, 4, 0.5);
    double e[D];
    expected_direction(9, D, e);
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, D, 8, 8, 9);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_DIRECTION), CNS_OK);
    const cns__rng before = s->rng_draw;
    ck_assert_status(cns_sampler_draw(s, user, pos, N, out), CNS_OK);
    ck_assert(memcmp(&before, &s->rng_draw, sizeof before) == 0);
    for (int r = 0; r < N; ++r) {
        double nn = 0.0;
        for (int k = 0; k < D; ++k) {
            ck_assert_close(out[r * D + k], 3.9 * e[k], 1e-6, 1e-7);
            nn += (double)out[r * D + k] * out[r * D + k];
        }
        ck_assert_close(sqrt(nn), 3.9, 1e-6, 0);
        ck_assert(memcmp(out + r * D, out, D * sizeof(float)) == 0); /* bit-identical rows */
    }
    /* train_step: a no-op, loss 0 */
    float *w0 = malloc(s->den.n_params * sizeof(float));
    memcpy(w0, s->den.params, s->den.n_params * sizeof(float));
    double L = 1.0;
    ck_assert_status(cns_sampler_train_step(s, pos, N, &L), CNS_OK);
    ck_assert(L == 0.0);
    ck_assert_int_eq(memcmp(w0, s->den.params, s->den.n_params * sizeof(float)), 0);
    ck_assert_uint_eq(s->train_steps, 0);
    free(w0);
    /* other inputs, other threads, after a reference draw: the same vector */
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_REFERENCE), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, user, pos, N, out2), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_DIRECTION), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_THREADS, 3), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, pos, user, N / 2, out2), CNS_OK);
    ck_assert(memcmp(out, out2, (N / 2) * D * sizeof(float)) == 0);
    /* the norm parameter scales it */
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DIRECTION_NORM, 0.25), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, user, pos, 1, out2), CNS_OK);
    for (int k = 0; k < D; ++k) ck_assert_close(out2[k], 0.25 * e[k], 1e-6, 1e-8);
    cns_sampler_free(s);
    /* another seed, another direction (nearly orthogonal in 16-d: |cos| < 0.9) */
    double e2[D], c = 0.0;
    expected_direction(10, D, e2);
    s = make(CNS_SAMPLER_DIFFUSION, D, 8, 8, 10);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_DIRECTION), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, user, pos, 1, out2), CNS_OK);
    for (int k = 0; k < D; ++k) {
        ck_assert_close(out2[k], 3.9 * e2[k], 1e-6, 1e-7);
        c += e[k] * e2[k];
    }
    ck_assert(fabs(c) < 0.9);
    /* inputs are still required, as for every DIFFUSION draw */
    ck_assert_status(cns_sampler_draw(s, NULL, pos, 1, out2), CNS_E_ARG);
    cns_sampler_free(s);
}
END_TEST

START_TEST(test_numeric_failure_keeps_weights) {
    enum { N = 8, D = 8 };
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, D, 8, 8, 4);
    float pos[N * D];
    fill_emb(pos, N * D, 1, 0.3);
    pos[5] = NAN;
    float *w0 = malloc(s->den.n_params * sizeof(float));
    memcpy(w0, s->den.params, s->den.n_params * sizeof(float));
    double L;
    ck_assert_status(cns_sampler_train_step(s, pos, N, &L), CNS_E_NUMERIC);
    ck_assert_int_gt((int)strlen(cns_sampler_last_error(s)), 5);
    ck_assert_int_eq(memcmp(w0, s->den.params, s->den.n_params * sizeof(float)), 0);
    float user[N * D], out[N * D];
    fill_emb(user, N * D, 2, 0.3);
    ck_assert_status(cns_sampler_draw(s, user, pos, N, out), CNS_E_NUMERIC);
    free(w0);
    cns_sampler_free(s);
}
END_TEST

/* §7 against a float64 replay: the same eps (the draw stream is seeded
 * the way lib/sampler.c seeds it), the chain computed with the reference
 * denoiser. Covers the batched levels, the fused fast path and, in the
 * reference mode (dropout off here), the full-length chain. Widths that
 * are multiples of 16 take the AVX-512 tanh of the fused chain where the
 * CPU has it. */
enum { REPLAY_N = 150, REPLAY_DMAX = 16 };
static void check_chain_replay(int mode, int threads, int D, int hid, double drop) {
    enum { N = REPLAY_N };
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, D, 4, hid, 31);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, mode), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_THREADS, threads), CNS_OK);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DROPOUT, drop), CNS_OK);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_NOISE_SCALE, 10.0), CNS_OK);
    for (size_t i = 0; i < s->den.n_params; ++i) s->den.params[i] *= 2.0f; /* livelier map */
    static float pos[N * REPLAY_DMAX], user[N * REPLAY_DMAX], out[N * REPLAY_DMAX];
    fill_emb(pos, N * D, 1, 0.3);
    fill_emb(user, N * D, 2, 0.3);
    ck_assert_status(cns_sampler_draw(s, user, pos, N, out), CNS_OK);
    const int L = 3, T = 20;
    static float eps[3][N * REPLAY_DMAX];
    cns__rng r;
    cns__rng_seed(&r, 31, 0x64726177ull);
    for (int k = 0; k < L; ++k) {
        int j = mode == CNS_MODE_TRAINED ? L - 1 - k : k; /* the order the chains start */
        cns__normal_fill_fast(&r, eps[j], N * D, 1.0f);
    }
    /* the reference mode's dropout: one mask per step from the top, over
     * every level's rows in order, drawn after the starts */
    static float mask[20][3 * N * REPLAY_DMAX];
    for (int t = T - 1; t >= 0; --t) {
        if (mode == CNS_MODE_TRAINED || drop == 0.0)
            for (int i = 0; i < L * N * D; ++i) mask[t][i] = 1.0f;
        else
            cns__dropout_mask(&r, mask[t], (size_t)(L * N * D), drop);
    }
    static double p[1024];
    ck_assert_uint_le(s->den.n_params, 1024);
    for (size_t i = 0; i < s->den.n_params; ++i) p[i] = s->den.params[i];
    ref_shape sh = {D, 4, hid};
    const cns__schedule *sc = &s->sched;
    double worst = 0.0;
    for (int j = 0; j < L; ++j) {
        int lev = s->levels[j];
        int top = mode == CNS_MODE_TRAINED ? lev - 1 : T - 1;
        for (int row = 0; row < N; ++row) {
            double x[REPLAY_DMAX], f[REPLAY_DMAX];
            for (int k = 0; k < D; ++k)
                x[k] = sqrt(sc->alpha_bar[lev - 1]) * pos[row * D + k] +
                       sqrt(1 - sc->alpha_bar[lev - 1]) * eps[j][row * D + k];
            for (int t = top; t >= 0; --t) {
                /* f(x̃ masked, t) = ref_denoise of the normalised, masked input */
                double nx = 0.0, xin[REPLAY_DMAX];
                for (int k = 0; k < D; ++k) nx += x[k] * x[k];
                nx = fmax(sqrt(nx), 1e-12);
                for (int k = 0; k < D; ++k)
                    xin[k] = x[k] / nx * mask[t][((size_t)j * N + row) * D + k];
                ref_denoise(&sh, p, xin, t, 0, f);
                for (int k = 0; k < D; ++k) x[k] = sc->c1[t] * f[k] + sc->c2[t] * x[k];
            }
            const float *c = s->cand + ((size_t)j * N + row) * D;
            for (int k = 0; k < D; ++k) {
                double e = fabs(c[k] - x[k]) / (fabs(x[k]) + 1e-2);
                if (e > worst) worst = e;
            }
        }
    }
    ck_assert_msg(worst < 1e-4, "mode %d threads %d dropout %g: candidates differ from the replay by %g",
                  mode, threads, drop, worst);
    cns_sampler_free(s);
}

START_TEST(test_chain_replay) {
    check_chain_replay(CNS_MODE_TRAINED, 1, 6, 5, 0.0);
    check_chain_replay(CNS_MODE_TRAINED, 2, 6, 5, 0.0);
    check_chain_replay(CNS_MODE_TRAINED, 2, 16, 16, 0.0);
    check_chain_replay(CNS_MODE_REFERENCE, 1, 6, 5, 0.0);
    check_chain_replay(CNS_MODE_REFERENCE, 2, 6, 5, 0.5);
    check_chain_replay(CNS_MODE_REFERENCE, 1, 16, 16, 0.3);
}
END_TEST

/* The one-pass chain against the per-step loop it replaced (forced
 * through the internal per_step switch): the same random draws, so the
 * reference and Gaussian modes give the same bits with or without
 * dropout, and so does the trained mode where the AVX-512 tanh does not
 * apply (widths not multiples of 16); with it, the candidates agree to
 * rounding. */
static void check_chain_vs_steps(int mode, int D, int hid, double drop, int threads, int exact) {
    enum { N = 300, DMAX = 16 };
    static float pos[N * DMAX], user[N * DMAX], out[2][N * DMAX];
    fill_emb(pos, (size_t)N * D, 1, 0.3);
    fill_emb(user, (size_t)N * D, 2, 0.3);
    for (int k = 0; k < 2; ++k) {
        cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, D, 8, hid, 41);
        ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, mode), CNS_OK);
        ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DROPOUT, drop), CNS_OK);
        ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_THREADS, k == 0 ? threads : 1), CNS_OK);
        s->per_step = k;
        ck_assert_status(cns_sampler_train_step(s, pos, N, NULL), CNS_OK);
        /* two draws: the second starts where the first left the stream */
        ck_assert_status(cns_sampler_draw(s, user, pos, N, out[k]), CNS_OK);
        ck_assert_status(cns_sampler_draw(s, user, pos, N, out[k]), CNS_OK);
        cns_sampler_free(s);
    }
    if (exact) {
        ck_assert_msg(memcmp(out[0], out[1], (size_t)N * D * sizeof(float)) == 0,
                      "mode %d D %d drop %g threads %d: chain and per-step draws differ", mode, D,
                      drop, threads);
    } else {
        for (int i = 0; i < N * D; ++i) ck_assert_close(out[0][i], out[1][i], 1e-4, 1e-5);
    }
}

START_TEST(test_chain_matches_per_step) {
    check_chain_vs_steps(CNS_MODE_REFERENCE, 16, 16, 0.5, 2, 1);
    check_chain_vs_steps(CNS_MODE_REFERENCE, 16, 16, 0.0, 1, 1);
    check_chain_vs_steps(CNS_MODE_REFERENCE, 6, 5, 0.3, 3, 1);
    check_chain_vs_steps(CNS_MODE_GAUSSIAN, 16, 16, 0.5, 2, 1);
    check_chain_vs_steps(CNS_MODE_TRAINED, 6, 5, 0.0, 2, 1);
    check_chain_vs_steps(CNS_MODE_TRAINED, 16, 16, 0.0, 2, 0);
}
END_TEST

START_TEST(test_threads_and_sampling_noise) {
    enum { N = 1000, D = 16 };
    float *pos = malloc(N * D * sizeof(float)), *user = malloc(N * D * sizeof(float));
    float *out[2][2];
    fill_emb(pos, N * D, 1, 0.3);
    fill_emb(user, N * D, 2, 0.3);
    for (int noise = 0; noise <= 1; ++noise) {
        for (int k = 0; k < 2; ++k) {
            out[noise][k] = malloc(N * D * sizeof(float));
            cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, D, 8, 8, 3);
            ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_SAMPLING_NOISE, noise), CNS_OK);
            ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_THREADS, k == 0 ? 1 : 3), CNS_OK);
            ck_assert_status(cns_sampler_train_step(s, pos, N, NULL), CNS_OK);
            ck_assert_status(cns_sampler_draw(s, user, pos, N, out[noise][k]), CNS_OK);
            cns_sampler_free(s);
        }
        /* the rows do not depend on how they are split over threads */
        for (int i = 0; i < N * D; ++i) {
            ck_assert(isfinite(out[noise][0][i]));
            ck_assert_close(out[noise][1][i], out[noise][0][i], 1e-5, 1e-6);
        }
    }
    /* sampling noise changes the chain */
    ck_assert_int_ne(memcmp(out[0][0], out[1][0], N * D * sizeof(float)), 0);
    for (int i = 0; i < 4; ++i) free(out[i / 2][i % 2]);
    free(pos);
    free(user);
}
END_TEST

/* ---- steady state allocates nothing --------------------------------------- */

typedef struct counting { size_t calls; } counting;
static void *c_alloc(void *u, size_t n) { ((counting *)u)->calls++; return malloc(n); }
static void c_free(void *u, void *p) { (void)u; free(p); }

START_TEST(test_no_allocation_after_first_size) {
    enum { N = 100, D = 16 };
    counting c = {0};
    cns_allocator a = {c_alloc, c_free, &c};
    cns_sampler_desc d;
    cns_sampler_desc_init(&d);
    d.dim = D;
    cns_sampler *s = NULL;
    ck_assert_status(cns_sampler_create(&d, &a, &s, NULL), CNS_OK);
    float pos[N * D], user[N * D], out[N * D];
    fill_emb(pos, N * D, 1, 0.3);
    fill_emb(user, N * D, 2, 0.3);
    ck_assert_status(cns_sampler_train_step(s, pos, N, NULL), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, user, pos, N, out), CNS_OK);
    size_t after_first = c.calls;
    for (int i = 0; i < 3; ++i) {
        ck_assert_status(cns_sampler_train_step(s, pos, N, NULL), CNS_OK);
        ck_assert_status(cns_sampler_draw(s, user, pos, N, out), CNS_OK);
        ck_assert_status(cns_sampler_draw(s, user, pos, N / 2, out), CNS_OK);
        ck_assert_status(cns_sampler_train_step(s, pos, N / 3, NULL), CNS_OK);
    }
    ck_assert_uint_eq(c.calls, after_first);
    cns_sampler_free(s);
}
END_TEST

/* ---- catalogue samplers ------------------------------------------------------ */

enum { NU = 4, NI = 40, CD = 8 };

static cns_dataset *small_dataset(void) {
    /* user 0: items 0..9, user 1: 0..38 (one free), user 2: all 40, user 3: {5} */
    int32_t us[100], is[100];
    size_t n = 0;
    for (int i = 0; i < 10; ++i) us[n] = 0, is[n++] = i;
    for (int i = 0; i < 39; ++i) us[n] = 1, is[n++] = i;
    for (int i = 0; i < 40; ++i) us[n] = 2, is[n++] = i;
    us[n] = 3, is[n++] = 5;
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(us, is, n, NU, NI, NULL, &ds, NULL), CNS_OK);
    return ds;
}

START_TEST(test_uniform_and_dns) {
    cns_dataset *ds = small_dataset();
    float items[NI * CD], user[3 * CD], out[3 * CD];
    fill_emb(items, NI * CD, 3, 1.0);
    fill_emb(user, 3 * CD, 4, 1.0);
    int32_t users[3] = {0, 1, 3}, ids[3];
    cns_sampler_context ctx;
    cns_sampler_context_init(&ctx);
    ctx.train = ds;
    ctx.item_emb = items;
    ctx.num_items = NI;
    ctx.users = users;
    ctx.n_rows = 3;
    ctx.out_ids = ids;
    for (int kind = CNS_SAMPLER_UNIFORM; kind <= CNS_SAMPLER_DNS; ++kind) {
        cns_sampler *s = make(kind, CD, 64, 64, 9);
        ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_DNS_CANDIDATES, 4096), CNS_OK);
        int seen1[NI] = {0};
        for (int it = 0; it < 200; ++it) {
            ck_assert_status(cns_sampler_set_context(s, &ctx), CNS_OK);
            ck_assert_status(cns_sampler_draw(s, user, NULL, 3, out), CNS_OK);
            for (int r = 0; r < 3; ++r) {
                ck_assert(ids[r] >= 0 && ids[r] < NI);
                ck_assert(!cns_dataset_contains(ds, users[r], ids[r]));
                ck_assert_int_eq(memcmp(out + r * CD, items + ids[r] * CD, CD * sizeof(float)), 0);
            }
            ck_assert_int_eq(ids[1], 39); /* the only item user 1 has not seen */
            seen1[ids[0]]++;
        }
        if (kind == CNS_SAMPLER_UNIFORM) {
            int distinct = 0;
            for (int i = 10; i < NI; ++i) distinct += seen1[i] > 0;
            ck_assert_int_ge(distinct, 25); /* 200 uniform draws over 30 items */
        } else {
            /* 4096 candidates over <= 39 items: all are seen, so the pick is
             * the best unobserved item */
            for (int r = 0; r < 3; ++r) {
                int best = -1;
                double bs = -INFINITY;
                for (int i = 0; i < NI; ++i) {
                    if (cns_dataset_contains(ds, users[r], i)) continue;
                    double v = 0;
                    for (int k = 0; k < CD; ++k) v += (double)user[r * CD + k] * items[i * CD + k];
                    if (v > bs) bs = v, best = i;
                }
                ck_assert_int_eq(ids[r], best);
            }
        }
        /* the context is consumed by a draw */
        ck_assert_status(cns_sampler_draw(s, user, NULL, 3, out), CNS_E_STATE);
        ck_assert_int_gt((int)strlen(cns_sampler_last_error(s)), 5);
        /* mismatched n_rows */
        ck_assert_status(cns_sampler_set_context(s, &ctx), CNS_OK);
        ck_assert_status(cns_sampler_draw(s, user, NULL, 2, out), CNS_E_STATE);
        /* a saturated user */
        int32_t sat[1] = {2};
        cns_sampler_context c2 = ctx;
        c2.users = sat;
        c2.n_rows = 1;
        ck_assert_status(cns_sampler_set_context(s, &c2), CNS_OK);
        ck_assert_status(cns_sampler_draw(s, user, NULL, 1, out), CNS_E_SATURATED);
        ck_assert_int_gt((int)strlen(cns_sampler_last_error(s)), 5);
        cns_sampler_free(s);
    }
    /* DNS with M = 1 is a uniform pick: it must not always be the best */
    cns_sampler *s = make(CNS_SAMPLER_DNS, CD, 64, 64, 9);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_DNS_CANDIDATES, 1), CNS_OK);
    int distinct[NI] = {0}, nd = 0;
    for (int it = 0; it < 50; ++it) {
        ck_assert_status(cns_sampler_set_context(s, &ctx), CNS_OK);
        ck_assert_status(cns_sampler_draw(s, user, NULL, 3, out), CNS_OK);
        if (!distinct[ids[0]]++) ++nd;
    }
    ck_assert_int_gt(nd, 5);
    cns_sampler_free(s);
    cns_dataset_free(ds);
}
END_TEST

/* ---- misuse -------------------------------------------------------------------- */

START_TEST(test_bad_arguments) {
    cns_sampler_desc d;
    cns_sampler_desc_init(&d);
    cns_sampler *s = (cns_sampler *)1;
    cns_error e;
    ck_assert_status(cns_sampler_create(NULL, NULL, &s, &e), CNS_E_ARG);
    ck_assert_ptr_null(s);
    ck_assert_int_gt((int)strlen(e.message), 5);
    ck_assert_status(cns_sampler_create(&d, NULL, NULL, &e), CNS_E_ARG);
    d.dim = 0;
    ck_assert_status(cns_sampler_create(&d, NULL, &s, &e), CNS_E_ARG);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(e.message, "dim"));
    cns_sampler_desc_init(&d);
    d.time_dim = 7;
    ck_assert_status(cns_sampler_create(&d, NULL, &s, &e), CNS_E_ARG);
    cns_sampler_desc_init(&d);
    d.steps = 1;
    ck_assert_status(cns_sampler_create(&d, NULL, &s, &e), CNS_E_ARG);
    cns_sampler_desc_init(&d);
    d.kind = 9;
    ck_assert_status(cns_sampler_create(&d, NULL, &s, &e), CNS_E_ARG);
    cns_sampler_desc_init(&d);
    d.struct_size = 0;
    ck_assert_status(cns_sampler_create(&d, NULL, &s, &e), CNS_E_SIZE);
    cns_sampler_free(NULL);

    s = make(CNS_SAMPLER_DIFFUSION, 8, 8, 8, 1);
    float x[16] = {0}, out[16];
    ck_assert_status(cns_sampler_draw(NULL, x, x, 2, out), CNS_E_ARG);
    ck_assert_status(cns_sampler_draw(s, x, x, 0, out), CNS_E_ARG);
    ck_assert_int_gt((int)strlen(cns_sampler_last_error(s)), 5);
    ck_assert_status(cns_sampler_draw(s, NULL, x, 2, out), CNS_E_ARG);
    ck_assert_status(cns_sampler_draw(s, x, NULL, 2, out), CNS_E_ARG);
    ck_assert_status(cns_sampler_draw(s, x, x, 2, NULL), CNS_E_ARG);
    ck_assert_status(cns_sampler_train_step(s, NULL, 2, NULL), CNS_E_ARG);
    ck_assert_status(cns_sampler_train_step(s, x, 0, NULL), CNS_E_ARG);
    ck_assert_status(cns_sampler_train_step(NULL, x, 2, NULL), CNS_E_ARG);

    /* levels must lie in [1, steps] */
    int64_t v;
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_SAMPLE_START, 0), CNS_E_ARG);
    ck_assert_int_gt((int)strlen(cns_sampler_last_error(s)), 5);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_SAMPLE_START, 21), CNS_E_ARG);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_STRIDE, 0), CNS_E_ARG);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_NUM_STEPS, 21), CNS_E_ARG);
    ck_assert_status(cns_sampler_get_int(s, CNS_SAMPLER_SAMPLE_START, &v), CNS_OK);
    ck_assert_int_eq(v, 10);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_NUM_STEPS, 20), CNS_OK);
    /* an empty level set is a state error at draw */
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_NUM_STEPS, 5), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, x, x, 2, out), CNS_E_STATE);
    ck_assert_int_gt((int)strlen(cns_sampler_last_error(s)), 5);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_SAMPLE_START, 1), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_STRIDE, 2), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, x, x, 2, out), CNS_OK);
    ck_assert_int_eq(s->n_levels, 3); /* 1, 3, 5 */

    /* types, ranges, unknown ids, and values left unchanged */
    double dv;
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SAMPLE_START, 3.0), CNS_E_PARAM);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_DROPOUT, 0), CNS_E_PARAM);
    ck_assert_status(cns_sampler_set_int(s, 9999, 0), CNS_E_PARAM);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DROPOUT, 1.0), CNS_E_ARG);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_NOISE_SCALE, NAN), CNS_E_ARG);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_NOISE_SCALE, 0.0), CNS_E_ARG);
    /* in range but a degenerate schedule (scale * max = 2) */
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_NOISE_SCALE, 100.0), CNS_E_ARG);
    ck_assert_int_gt((int)strlen(cns_sampler_last_error(s)), 5);
    ck_assert_status(cns_sampler_get_double(s, CNS_SAMPLER_NOISE_SCALE, &dv), CNS_OK);
    ck_assert(dv == 0.1);
    ck_assert_close(s->sched.beta[0], 1e-5, 1e-6, 0.0);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, 4), CNS_E_ARG);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DIRECTION_NORM, 0.0), CNS_E_ARG);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DIRECTION_NORM, 1000.5), CNS_E_ARG);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_DIRECTION_NORM, 1), CNS_E_PARAM);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_DIRECTION_SOURCE, 1), CNS_E_ARG);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_DIRECTION_SOURCE, -1), CNS_E_ARG);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_DNS_CANDIDATES, 0), CNS_E_ARG);
    ck_assert_status(cns_sampler_get_int(s, CNS_SAMPLER_NOISE_SCALE, &v), CNS_E_PARAM);
    ck_assert_status(cns_sampler_get_double(s, CNS_SAMPLER_MODE, &dv), CNS_E_PARAM);
    /* schedule recomputed on change */
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_NOISE_SCALE, 1.0), CNS_OK);
    ck_assert_close(s->sched.beta[0], 1e-4, 1e-6, 0.0);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_NOISE_SCHEDULE, CNS_SCHEDULE_LINEAR), CNS_OK);
    ck_assert_close(s->sched.beta[19], 0.02, 1e-9, 0.0);
    double lo, hi;
    ck_assert_status(cns_sampler_param_bounds(CNS_SAMPLER_DROPOUT, &lo, &hi), CNS_OK);
    ck_assert(lo == 0.0 && hi == 1.0);
    ck_assert_status(cns_sampler_param_bounds(12345, &lo, &hi), CNS_E_PARAM);
    ck_assert_int_eq(cns_sampler_kind_of(s), CNS_SAMPLER_DIFFUSION);
    ck_assert_int_eq(cns_sampler_dim(s), 8);
    cns_sampler_free(s);

    /* catalogue kinds: context checks */
    cns_dataset *ds = small_dataset();
    s = make(CNS_SAMPLER_DNS, CD, 64, 64, 1);
    float items[NI * CD] = {0}, u[CD] = {0}, o[CD];
    ck_assert_status(cns_sampler_draw(s, u, NULL, 1, o), CNS_E_STATE);
    ck_assert_int_gt((int)strlen(cns_sampler_last_error(s)), 5);
    int32_t users[1] = {0};
    cns_sampler_context ctx;
    cns_sampler_context_init(&ctx);
    ctx.train = ds;
    ctx.item_emb = items;
    ctx.num_items = NI + 1;
    ctx.users = users;
    ctx.n_rows = 1;
    ck_assert_status(cns_sampler_set_context(s, &ctx), CNS_E_SIZE);
    ck_assert_int_gt((int)strlen(cns_sampler_last_error(s)), 5);
    ctx.num_items = NI;
    ctx.n_rows = 0;
    ck_assert_status(cns_sampler_set_context(s, &ctx), CNS_E_ARG);
    ctx.n_rows = 1;
    ctx.users = NULL;
    ck_assert_status(cns_sampler_set_context(s, &ctx), CNS_E_ARG);
    ck_assert_status(cns_sampler_set_context(s, NULL), CNS_E_ARG);
    ctx.users = users;
    ctx.struct_size = 8;
    ck_assert_status(cns_sampler_set_context(s, &ctx), CNS_E_SIZE);
    ctx.struct_size = sizeof ctx;
    ck_assert_status(cns_sampler_set_context(s, &ctx), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, NULL, NULL, 1, o), CNS_E_ARG); /* DNS scores with user_emb */
    users[0] = 77;
    ck_assert_status(cns_sampler_set_context(s, &ctx), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, u, NULL, 1, o), CNS_E_ARG);
    /* catalogue kinds do not train */
    double L = 5;
    ck_assert_status(cns_sampler_train_step(s, u, 1, &L), CNS_OK);
    ck_assert(L == 0.0);
    cns_sampler_free(s);
    cns_dataset_free(ds);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("sampler");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_loss_gradient_fd);
    tcase_add_test(tc, test_direction_mode);
    tcase_add_test(tc, test_kl_closed_form);
    tcase_add_test(tc, test_training_lowers_loss);
    tcase_add_test(tc, test_draw_picks_best_and_levels_spread);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_chain_replay);
    tcase_add_test(tc, test_chain_matches_per_step);
    tcase_add_test(tc, test_threads_and_sampling_noise);
    tcase_add_test(tc, test_reference_and_gaussian_modes);
    tcase_add_test(tc, test_numeric_failure_keeps_weights);
    tcase_add_test(tc, test_no_allocation_after_first_size);
    tcase_add_test(tc, test_uniform_and_dns);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
