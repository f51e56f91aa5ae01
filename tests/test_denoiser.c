/* The denoiser MLP (ALGORITHM.md §5): the fast tanh, the forward against a
 * float64 reference, and the backward against central finite differences
 * of that reference for every parameter group and for the input. */
#include "denoiser.h"
#include "denoiser_ref.h"
#include "testutil.h"

START_TEST(test_tanh_accuracy) {
    float x[20001], y[20001];
    for (int i = 0; i <= 20000; ++i) x[i] = (float)(-12.0 + 24.0 * i / 20000.0);
    x[10000] = 0.0f;
    memcpy(y, x, sizeof x);
    cns__tanh_inplace(y, 20001);
    double worst = 0.0;
    for (int i = 0; i <= 20000; ++i) {
        double ref = tanh((double)x[i]);
        double err = fabs(y[i] - ref) / fmax(fabs(ref), 1e-30);
        if (ref == 0.0) err = fabs(y[i]);
        if (err > worst) worst = err;
    }
    /* documented: ~1e-6 relative */
    ck_assert_msg(worst < 1e-6, "worst relative tanh error %g", worst);
    float tiny[4] = {1e-20f, -3e-8f, 0.2499f, 0.2501f};
    float ty[4];
    memcpy(ty, tiny, sizeof tiny);
    cns__tanh_inplace(ty, 4);
    for (int i = 0; i < 4; ++i) ck_assert_close(ty[i], tanh((double)tiny[i]), 1e-6, 0.0);
    float bad[3] = {NAN, 1e30f, -INFINITY};
    cns__tanh_inplace(bad, 3);
    ck_assert(isnan(bad[0]));
    ck_assert_close(bad[1], 1.0, 1e-7, 0.0);
    ck_assert(!isfinite(bad[2])); /* a non-finite input stays visible */
}
END_TEST

enum { D = 4, TD = 4, H = 3, T = 10, N = 5 };

static void setup(cns__denoiser *m, cns__alloc *al) {
    ck_assert_status(cns__alloc_init(al, NULL), CNS_OK);
    ck_assert_status(cns__denoiser_init(m, D, TD, H, T, 42, al), CNS_OK);
    ck_assert_uint_eq(m->n_params, (size_t)(TD * TD + TD + H * (D + TD) + H + D * H + D));
    ck_assert_status(cns__denoiser_reserve(m, N, al), CNS_OK);
    /* larger weights than the init so that tanh is well inside its curve */
    for (size_t i = 0; i < m->n_params; ++i) m->params[i] *= 1.5f;
    for (int i = 0; i < H; ++i) m->b1[i] = 0.3f * (float)(i - 1);
    for (int j = 0; j < D; ++j) m->b2[j] = 0.1f * (float)j;
}

static const float k_x[N * D] = {0.3f, -0.2f, 0.5f, 0.1f,  -0.4f, 0.8f, 0.05f, -0.3f, 1.2f, 0.2f,
                                 -0.6f, 0.4f, 0.02f, 0.03f, -0.01f, 0.04f, -1.0f, -0.5f, 0.7f, 0.9f};
static const int32_t k_t[N] = {0, 3, 3, 9, 1};
/* loss = sum(proj * f(x)): a fixed random projection */
static const float k_proj[N * D] = {0.7f, -1.1f, 0.4f, 0.9f,  -0.3f, 0.5f, 1.3f, -0.8f, 0.2f, 0.6f,
                                    -0.9f, 0.1f, 1.0f, -0.4f, 0.3f, 0.8f, -0.2f, 0.9f, -0.7f, 0.5f};

static double ref_loss(const cns__denoiser *m, const double *p, const double *x, int norm) {
    ref_shape sh = {D, TD, H};
    double out[D], L = 0.0;
    for (int r = 0; r < N; ++r) {
        ref_denoise(&sh, p, x + r * D, k_t[r], norm, out);
        for (int j = 0; j < D; ++j) L += k_proj[r * D + j] * out[j];
    }
    (void)m;
    return L;
}

static void check_forward_backward(int norm) {
    cns__denoiser m;
    cns__alloc al;
    setup(&m, &al);
    float out[N * D], dx[N * D];
    cns__denoiser_forward(&m, k_x, N, k_t, 0, norm, 0.0, NULL, out);
    double p[512], x[N * D];
    ck_assert_uint_le(m.n_params, 512);
    for (size_t i = 0; i < m.n_params; ++i) p[i] = m.params[i];
    for (int i = 0; i < N * D; ++i) x[i] = k_x[i];
    ref_shape sh = {D, TD, H};
    for (int r = 0; r < N; ++r) {
        double o[D];
        ref_denoise(&sh, p, x + r * D, k_t[r], norm, o);
        for (int j = 0; j < D; ++j) ck_assert_close(out[r * D + j], o[j], 1e-5, 1e-6);
    }
    cns__denoiser_backward(&m, k_x, k_proj, N, k_t, 0, dx);
    /* every parameter: central differences of the float64 reference */
    double gmax = 0.0;
    for (size_t i = 0; i < m.n_params; ++i) gmax = fmax(gmax, fabs(m.grads[i]));
    ck_assert(gmax > 0.1);
    const double h = 1e-6;
    for (size_t i = 0; i < m.n_params; ++i) {
        double keep = p[i];
        p[i] = keep + h;
        double lp = ref_loss(&m, p, x, norm);
        p[i] = keep - h;
        double lm = ref_loss(&m, p, x, norm);
        p[i] = keep;
        double fd = (lp - lm) / (2 * h);
        ck_assert_msg(fabs(m.grads[i] - fd) <= 2e-4 * fabs(fd) + 2e-5 * gmax,
                      "param %zu (norm %d): analytic %.9g, finite difference %.9g", i, norm,
                      (double)m.grads[i], fd);
    }
    for (int i = 0; i < N * D; ++i) {
        double keep = x[i];
        x[i] = keep + h;
        double lp = ref_loss(&m, p, x, norm);
        x[i] = keep - h;
        double lm = ref_loss(&m, p, x, norm);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h);
        ck_assert_msg(fabs(dx[i] - fd) <= 2e-4 * fabs(fd) + 2e-4,
                      "input %d (norm %d): analytic %.9g, finite difference %.9g", i, norm,
                      (double)dx[i], fd);
    }
    cns__denoiser_destroy(&m, &al);
}

START_TEST(test_forward_backward_norm) { check_forward_backward(1); }
END_TEST

START_TEST(test_forward_backward_raw) { check_forward_backward(0); }
END_TEST

/* One shared t (the draw's path) gives the same rows as per-row t. */
START_TEST(test_shared_t_matches_rows) {
    cns__denoiser m;
    cns__alloc al;
    setup(&m, &al);
    int32_t t3[N] = {3, 3, 3, 3, 3};
    float a[N * D], b[N * D];
    cns__denoiser_forward(&m, k_x, N, t3, 0, 1, 0.0, NULL, a);
    cns__denoiser_forward(&m, k_x, N, NULL, 3, 1, 0.0, NULL, b);
    for (int i = 0; i < N * D; ++i) ck_assert_close(a[i], b[i], 1e-6, 1e-7);
    /* and a different t changes the output */
    cns__denoiser_forward(&m, k_x, N, NULL, 7, 1, 0.0, NULL, b);
    double diff = 0;
    for (int i = 0; i < N * D; ++i) diff += fabs(a[i] - b[i]);
    ck_assert(diff > 1e-3);
    cns__denoiser_destroy(&m, &al);
}
END_TEST

/* Dropout: the backward uses the mask of the forward. */
START_TEST(test_dropout_backward) {
    cns__denoiser m;
    cns__alloc al;
    setup(&m, &al);
    cns__rng r;
    cns__rng_seed(&r, 5, 5);
    float out[N * D], dx[N * D];
    cns__denoiser_forward(&m, k_x, N, k_t, 0, 0, 0.5, &r, out);
    /* the input block of dW1 only sees kept inputs: recompute it from the
     * masked input by hand */
    cns__denoiser_backward(&m, k_x, k_proj, N, k_t, 0, dx);
    int zeros = 0;
    for (int r2 = 0; r2 < N; ++r2)
        for (int j = 0; j < D; ++j) {
            float mk = m.mask[r2 * D + j];
            ck_assert(mk == 0.0f || mk == 2.0f);
            if (mk == 0.0f) {
                ++zeros;
                ck_assert(dx[r2 * D + j] == 0.0f);
            }
        }
    ck_assert_int_gt(zeros, 0);
    ck_assert_int_lt(zeros, N * D);
    cns__denoiser_destroy(&m, &al);
}
END_TEST

/* §5 init: weight std sqrt(2/(fan_in+fan_out)), bias std 0.001. */
START_TEST(test_init_scale) {
    cns__alloc al;
    ck_assert_status(cns__alloc_init(&al, NULL), CNS_OK);
    cns__denoiser m, m2;
    ck_assert_status(cns__denoiser_init(&m, 64, 64, 64, 20, 1, &al), CNS_OK);
    ck_assert_status(cns__denoiser_init(&m2, 64, 64, 64, 20, 1, &al), CNS_OK);
    ck_assert_int_eq(memcmp(m.params, m2.params, m.n_params * sizeof(float)), 0);
    double s = 0;
    for (int i = 0; i < 64 * 128; ++i) s += (double)m.W1[i] * m.W1[i];
    /* W1: fan_in 128, fan_out 64: var 2/192; 8192 samples: rel se ~1.6% */
    ck_assert_close(s / (64 * 128), 2.0 / 192.0, 0.07, 0.0);
    s = 0;
    for (int i = 0; i < 64; ++i) s += (double)m.b1[i] * m.b1[i];
    ck_assert_close(sqrt(s / 64), 0.001, 0.35, 0.0);
    cns__denoiser_destroy(&m, &al);
    cns__denoiser_destroy(&m2, &al);
    ck_assert_status(cns__denoiser_init(&m2, 64, 64, 64, 20, 2, &al), CNS_OK);
    ck_assert_status(cns__denoiser_init(&m, 64, 64, 64, 20, 1, &al), CNS_OK);
    ck_assert_int_ne(memcmp(m.params, m2.params, m.n_params * sizeof(float)), 0);
    cns__denoiser_destroy(&m, &al);
    cns__denoiser_destroy(&m2, &al);
}
END_TEST

int main(void) {
    Suite *s = suite_create("denoiser");
    TCase *tc = tcase_create("denoiser");
    tcase_add_test(tc, test_tanh_accuracy);
    tcase_add_test(tc, test_forward_backward_norm);
    tcase_add_test(tc, test_forward_backward_raw);
    tcase_add_test(tc, test_shared_t_matches_rows);
    tcase_add_test(tc, test_dropout_backward);
    tcase_add_test(tc, test_init_scale);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
