/* The model handle (ALGORITHM.md §2): Adam, a BPR loop that learns,
 * seeding, NaN handling, recommendation, parameters and API misuse. */
#include "model_internal.h"
#include "testutil.h"

static cns_dataset *pairs(const int32_t *u, const int32_t *i, size_t n, int32_t nu, int32_t ni) {
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(u, i, n, nu, ni, NULL, &ds, NULL), CNS_OK);
    return ds;
}

static cns_model *make_model(const cns_dataset *ds, int dim, int layers, uint64_t seed) {
    cns_model_desc d;
    cns_model_desc_init(&d);
    d.dim = dim;
    d.layers = layers;
    d.seed = seed;
    cns_model *m = NULL;
    ck_assert_status(cns_model_create(ds, &d, NULL, &m, NULL), CNS_OK);
    return m;
}

/* Two groups: users 0-2 like items 0-3, users 3-5 like items 4-7. */
static cns_dataset *two_groups(void) {
    int32_t u[24], i[24];
    size_t n = 0;
    for (int32_t a = 0; a < 6; ++a)
        for (int32_t b = 0; b < 4; ++b) {
            u[n] = a;
            i[n++] = a < 3 ? b : 4 + b;
        }
    return pairs(u, i, n, 6, 8);
}

START_TEST(test_adam_step_by_hand) {
    const int32_t u[] = {0, 1}, it[] = {0, 1};
    cns_dataset *ds = pairs(u, it, 2, 2, 2);
    cns_model *m = make_model(ds, 3, 0, 1); /* MF: dL/dE0 = dL/dE */
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_LR, 0.1), CNS_OK);
    const float w0[3] = {0.5f, -0.25f, 1.0f};
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_USERS, 0, w0), CNS_OK);
    float other_before[3], other_after[3];
    ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_ITEMS, 1, other_before), CNS_OK);
    const float g1[3] = {0.2f, -0.4f, 0.0f}, g2[3] = {-0.1f, 0.3f, 1e-3f};
    const int32_t id = 0;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = 0.1;
    double w[3], mm[3] = {0, 0, 0}, vv[3] = {0, 0, 0};
    for (int j = 0; j < 3; ++j) w[j] = w0[j];
    for (int t = 1; t <= 2; ++t) {
        const float *g = t == 1 ? g1 : g2;
        ck_assert_status(cns_model_zero_grad(m), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_USERS, &id, 1, g), CNS_OK);
        ck_assert_status(cns_model_backward(m, NULL, NULL, NULL, 0, NULL), CNS_OK);
        ck_assert_status(cns_model_step(m), CNS_OK);
        /* Adam with bias correction, by hand in double. */
        for (int j = 0; j < 3; ++j) {
            mm[j] = b1 * mm[j] + (1 - b1) * g[j];
            vv[j] = b2 * vv[j] + (1 - b2) * (double)g[j] * g[j];
            double mhat = mm[j] / (1 - pow(b1, t)), vhat = vv[j] / (1 - pow(b2, t));
            w[j] -= lr * mhat / (sqrt(vhat) + eps);
        }
        float got[3];
        ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_USERS, 0, got), CNS_OK);
        for (int j = 0; j < 3; ++j) ck_assert_close(got[j], w[j], 1e-5, 1e-7);
        if (t == 1) { /* step 1: mhat / sqrt(vhat) = sign(g), so each weight moves by lr */
            ck_assert_close(got[0], 0.4, 1e-5, 0);
            ck_assert_close(got[1], -0.15, 1e-5, 0);
            ck_assert_float_eq(got[2], 1.0f); /* zero gradient: no move */
        }
    }
    ck_assert_uint_eq(cns_model_steps_taken(m), 2);
    ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_ITEMS, 1, other_after), CNS_OK);
    ck_assert_mem_eq(other_before, other_after, sizeof other_before);
    /* The model lets Adam skip its check on recorded maxima (test_adam),
     * so a write from outside must forget them. */
    ck_assert(m->adam.track_bounds);
    ck_assert(m->adam.bounded);
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_USERS, 0, w0), CNS_OK);
    ck_assert(!m->adam.bounded);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* Mean BPR loss over every (user, positive, other-group negative). */
static double eval_bpr(cns_model *m) {
    ck_assert_status(cns_model_forward(m), CNS_OK);
    const float *eu = cns_model_embeddings(m, CNS_TABLE_USERS);
    const float *ei = cns_model_embeddings(m, CNS_TABLE_ITEMS);
    const int d = cns_model_dim(m);
    double loss = 0;
    int cnt = 0;
    for (int u = 0; u < 6; ++u)
        for (int i = 0; i < 8; ++i)
            for (int j = 0; j < 8; ++j) {
                if ((i < 4) != (u < 3) || (j < 4) == (u < 3)) continue;
                double x = 0;
                for (int k = 0; k < d; ++k) x += (double)eu[u * d + k] * (ei[i * d + k] - ei[j * d + k]);
                loss += log1p(exp(-x));
                cnt++;
            }
    return loss / cnt;
}

START_TEST(test_bpr_loss_falls) {
    cns_dataset *ds = two_groups();
    const int d = 8;
    cns_model *m = make_model(ds, d, 2, 3);
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_LR, 0.05), CNS_OK);
    const double start = eval_bpr(m);
    int32_t us[24], ps[24], ns[24];
    float eu[24 * 8], ep[24 * 8], en[24 * 8], gu[24 * 8], gp[24 * 8], gn[24 * 8];
    for (int step = 0; step < 50; ++step) {
        for (int b = 0; b < 24; ++b) {
            us[b] = b / 4;
            ps[b] = us[b] < 3 ? b % 4 : 4 + b % 4;
            ns[b] = us[b] < 3 ? 4 + (b + step) % 4 : (b + step) % 4; /* the other group */
        }
        ck_assert_status(cns_model_forward(m), CNS_OK);
        ck_assert_status(cns_model_gather(m, CNS_TABLE_USERS, us, 24, eu), CNS_OK);
        ck_assert_status(cns_model_gather(m, CNS_TABLE_ITEMS, ps, 24, ep), CNS_OK);
        ck_assert_status(cns_model_gather(m, CNS_TABLE_ITEMS, ns, 24, en), CNS_OK);
        /* BPR: L = mean -log sigma(x), x = <e_u, e_p - e_n>; dL/dx = -sigma(-x) / n. */
        for (int b = 0; b < 24; ++b) {
            double x = 0;
            for (int k = 0; k < d; ++k) x += (double)eu[b * d + k] * (ep[b * d + k] - en[b * d + k]);
            double c = -1.0 / (1.0 + exp(x)) / 24.0;
            for (int k = 0; k < d; ++k) {
                gu[b * d + k] = (float)(c * (ep[b * d + k] - en[b * d + k]));
                gp[b * d + k] = (float)(c * eu[b * d + k]);
                gn[b * d + k] = (float)(-c * eu[b * d + k]);
            }
        }
        ck_assert_status(cns_model_zero_grad(m), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_USERS, us, 24, gu), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, ps, 24, gp), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, ns, 24, gn), CNS_OK);
        double reg = -1;
        ck_assert_status(cns_model_backward(m, us, ps, ns, 24, &reg), CNS_OK);
        ck_assert(reg > 0);
        ck_assert_status(cns_model_step(m), CNS_OK);
    }
    const double end = eval_bpr(m);
    ck_assert_msg(start > 0.5 && end < 0.25 * start, "BPR loss %g -> %g", start, end);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_seeds) {
    cns_dataset *ds = two_groups();
    cns_model *a = make_model(ds, 16, 2, 5), *b = make_model(ds, 16, 2, 5);
    cns_model *c = make_model(ds, 16, 2, 6);
    for (int t = 0; t < 2; ++t) {
        size_t bytes = (t ? 8u : 6u) * 16 * sizeof(float);
        const float *ea = cns_model_embeddings(a, (cns_table)t), *eb = cns_model_embeddings(b, (cns_table)t);
        const float *ec = cns_model_embeddings(c, (cns_table)t);
        ck_assert_mem_eq(ea, eb, bytes);
        ck_assert_int_ne(memcmp(ea, ec, bytes), 0);
    }
    cns_model_free(a);
    cns_model_free(b);
    cns_model_free(c);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_xavier_bounds) {
    int32_t u[60], i[60];
    for (int k = 0; k < 60; ++k) {
        u[k] = k % 40;
        i[k] = (k * 7) % 25;
    }
    cns_dataset *ds = pairs(u, i, 60, 40, 25);
    const int d = 16;
    cns_model *m = make_model(ds, d, 2, 11);
    const int rows[2] = {40, 25};
    float first[2][16];
    for (int t = 0; t < 2; ++t) {
        const double a = sqrt(6.0 / (rows[t] + d));
        double maxabs = 0, sumabs = 0;
        for (int r = 0; r < rows[t]; ++r) {
            float e[16];
            ck_assert_status(cns_model_get_ego_row(m, (cns_table)t, r, e), CNS_OK);
            if (r == 0) memcpy(first[t], e, sizeof e);
            for (int j = 0; j < d; ++j) {
                ck_assert_msg(fabsf(e[j]) <= (float)a, "|%g| > a = %g", e[j], a);
                maxabs = fmax(maxabs, fabs(e[j]));
                sumabs += fabs(e[j]);
            }
        }
        /* U(-a, a): max near a, mean |x| = a/2 (sd of the mean < 0.015 a here). */
        ck_assert(maxabs > 0.9 * a);
        ck_assert_close(sumabs / (rows[t] * d), a / 2, 0.1, 0);
    }
    ck_assert_int_ne(memcmp(first[0], first[1], sizeof first[0]), 0); /* separate streams */
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* Where a planted NaN is caught:
 *  - cns_model_forward: always (it scans E0 after set_ego_row), E untouched;
 *  - cns_model_backward: when the NaN row is in the batch (its L2 gradient)
 *    or reaches dL/dE; no gradient is kept, so a following step is CNS_E_STATE;
 *  - cns_model_step: otherwise (the Adam update of that row is NaN);
 *    weights, moments and the step count are untouched. */
START_TEST(test_nan_detection) {
    cns_dataset *ds = two_groups();
    cns_model *m = make_model(ds, 4, 2, 1);
    const size_t n = m->rows * 4;
    float *ego = malloc(n * sizeof *ego), *emb = malloc(n * sizeof *emb);
    float *mom = malloc(n * sizeof *mom);
    float row[4] = {0.1f, NAN, 0.2f, 0.3f};
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_USERS, 1, row), CNS_OK);
    memcpy(ego, m->ego, n * sizeof *ego);
    memcpy(emb, m->emb, n * sizeof *emb);

    ck_assert_status(cns_model_forward(m), CNS_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "user row 1"));
    ck_assert_mem_eq(emb, m->emb, n * sizeof *emb);

    /* In the batch: backward refuses, and there is nothing to step. */
    const int32_t bu[] = {0, 1}, bp[] = {0, 1}, bn[] = {5, 6};
    ck_assert_status(cns_model_zero_grad(m), CNS_OK);
    ck_assert_status(cns_model_backward(m, bu, bp, bn, 2, NULL), CNS_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "user row 1"));
    ck_assert_status(cns_model_step(m), CNS_E_STATE);
    ck_assert_mem_eq(ego, m->ego, n * sizeof *ego);

    /* Not in the batch: backward succeeds, the step refuses. */
    const int32_t cu[] = {0, 2};
    ck_assert_status(cns_model_backward(m, cu, bp, bn, 2, NULL), CNS_OK);
    memcpy(mom, m->adam.m, n * sizeof *mom);
    ck_assert_status(cns_model_step(m), CNS_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "user row 1"));
    ck_assert_mem_eq(ego, m->ego, n * sizeof *ego);
    ck_assert_mem_eq(mom, m->adam.m, n * sizeof *mom);
    ck_assert_uint_eq(cns_model_steps_taken(m), 0);

    /* Repaired, everything works again. */
    row[1] = 0.0f;
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_USERS, 1, row), CNS_OK);
    ck_assert_status(cns_model_forward(m), CNS_OK);
    ck_assert_status(cns_model_backward(m, bu, bp, bn, 2, NULL), CNS_OK);
    ck_assert_status(cns_model_step(m), CNS_OK);
    ck_assert_uint_eq(cns_model_steps_taken(m), 1);

    /* A NaN in dL/dE (item 6) is caught by backward. */
    const int32_t item = 6;
    const float gbad[4] = {0, 0, INFINITY, 0};
    ck_assert_status(cns_model_zero_grad(m), CNS_OK);
    ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, &item, 1, gbad), CNS_OK);
    ck_assert_status(cns_model_backward(m, bu, bp, bn, 2, NULL), CNS_E_NUMERIC);
    ck_assert_status(cns_model_step(m), CNS_E_STATE);
    free(ego);
    free(emb);
    free(mom);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_huge_lr_and_overflow) {
    const int32_t u[] = {0, 1}, it[] = {0, 1};
    cns_dataset *ds = pairs(u, it, 2, 2, 2);
    cns_model *m = make_model(ds, 2, 0, 1);
    double v;
    /* lr = 1e31 is outside (0, 1e30]: refused, value unchanged. */
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_LR, 1e31), CNS_E_ARG);
    ck_assert_status(cns_model_get_double(m, CNS_MODEL_LR, &v), CNS_OK);
    ck_assert_double_eq(v, 0.01);
    /* The largest lr gives finite weights on an ordinary gradient (|step| ~ lr). */
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_LR, 1e3), CNS_OK);
    const int32_t id = 0;
    float g[2] = {0.5f, -2.0f};
    ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_USERS, &id, 1, g), CNS_OK);
    ck_assert_status(cns_model_backward(m, NULL, NULL, NULL, 0, NULL), CNS_OK);
    ck_assert_status(cns_model_step(m), CNS_OK);
    for (size_t k = 0; k < m->rows * 2; ++k) ck_assert(isfinite(m->ego[k]));

    /* An update that would overflow: beta2 = 0 and a tiny eps, a huge
     * gradient then a zero one. Step 2: m = 0.9 * 1e14, v = 0, so the
     * update is (1e3 / 0.19) * 9e13 / 1e-30 ~ 5e47 > FLT_MAX: refused. */
    cns_model *k2 = make_model(ds, 2, 0, 1);
    ck_assert_status(cns_model_set_double(k2, CNS_MODEL_LR, 1e3), CNS_OK);
    ck_assert_status(cns_model_set_double(k2, CNS_MODEL_ADAM_BETA2, 0.0), CNS_OK);
    ck_assert_status(cns_model_set_double(k2, CNS_MODEL_ADAM_EPS, 1e-30), CNS_OK);
    const int32_t item = 1;
    g[0] = 1e15f;
    g[1] = 0.0f;
    ck_assert_status(cns_model_accumulate_grad(k2, CNS_TABLE_ITEMS, &item, 1, g), CNS_OK);
    ck_assert_status(cns_model_backward(k2, NULL, NULL, NULL, 0, NULL), CNS_OK);
    ck_assert_status(cns_model_step(k2), CNS_OK);
    ck_assert_status(cns_model_zero_grad(k2), CNS_OK);
    ck_assert_status(cns_model_backward(k2, NULL, NULL, NULL, 0, NULL), CNS_OK);
    float before[8];
    memcpy(before, k2->ego, sizeof before);
    ck_assert_status(cns_model_step(k2), CNS_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(k2), "item row 1"));
    ck_assert_mem_eq(before, k2->ego, sizeof before);
    ck_assert_uint_eq(cns_model_steps_taken(k2), 1);
    /* The gradient is kept: a smaller eps-safe setting lets the same step through. */
    ck_assert_status(cns_model_set_double(k2, CNS_MODEL_ADAM_EPS, 1e-8), CNS_OK);
    ck_assert_status(cns_model_step(k2), CNS_OK);
    for (int k = 0; k < 8; ++k) ck_assert(isfinite(k2->ego[k]));

    /* A finite gradient whose square overflows would poison v: refused. */
    g[0] = 1e20f;
    ck_assert_status(cns_model_zero_grad(k2), CNS_OK);
    ck_assert_status(cns_model_accumulate_grad(k2, CNS_TABLE_ITEMS, &item, 1, g), CNS_OK);
    ck_assert_status(cns_model_backward(k2, NULL, NULL, NULL, 0, NULL), CNS_OK);
    ck_assert_status(cns_model_step(k2), CNS_E_NUMERIC);
    for (size_t k = 0; k < 8; ++k) ck_assert(isfinite(k2->adam.v[k]));
    cns_model_free(k2);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* Reference top-k: all non-training items by (score desc, id asc), scores in double. */
typedef struct cand { double s; int32_t id; } cand;
static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

START_TEST(test_recommend_brute_force) {
    int32_t u[40], i[40];
    for (int k = 0; k < 40; ++k) {
        u[k] = k % 5;
        i[k] = (k * 11 + k / 5) % 30;
    }
    cns_dataset *ds = pairs(u, i, 40, 5, 30);
    const int d = 6;
    cns_model *m = make_model(ds, d, 1, 9);
    const float *eu = cns_model_embeddings(m, CNS_TABLE_USERS);
    const float *ei = cns_model_embeddings(m, CNS_TABLE_ITEMS);
    for (int32_t user = 0; user < 5; ++user) {
        cand c[30];
        int nc = 0;
        for (int32_t it = 0; it < 30; ++it) {
            if (cns_dataset_contains(ds, user, it)) continue;
            double s = 0;
            for (int k = 0; k < d; ++k) s += (double)eu[user * d + k] * ei[it * d + k];
            c[nc].s = s;
            c[nc++].id = it;
        }
        qsort(c, (size_t)nc, sizeof c[0], cand_cmp);
        for (size_t k = 1; k <= 40; k += 13) { /* 1, 14, 27, 40 (> candidates) */
            int32_t items[40];
            float scores[40];
            size_t got = 99;
            ck_assert_status(cns_model_recommend(m, user, k, items, scores, &got), CNS_OK);
            ck_assert_uint_eq(got, k < (size_t)nc ? k : (size_t)nc);
            for (size_t r = 0; r < got; ++r) {
                ck_assert(!cns_dataset_contains(ds, user, items[r]));
                ck_assert_close(scores[r], c[r].s, 1e-5, 1e-6);
                /* Same id unless the reference has a near-tie at this rank. */
                int tie = (r > 0 && c[r - 1].s - c[r].s < 1e-5) ||
                          (r + 1 < (size_t)nc && c[r].s - c[r + 1].s < 1e-5);
                if (!tie) ck_assert_int_eq(items[r], c[r].id);
            }
            /* Without scores: the same items. */
            int32_t items2[40];
            size_t got2 = 0;
            ck_assert_status(cns_model_recommend(m, user, k, items2, NULL, &got2), CNS_OK);
            ck_assert_uint_eq(got2, got);
            ck_assert_mem_eq(items, items2, got * sizeof *items);
        }
    }
    size_t got = 5;
    int32_t items[4];
    ck_assert_status(cns_model_recommend(m, 0, 0, NULL, NULL, &got), CNS_OK);
    ck_assert_uint_eq(got, 0);
    ck_assert_status(cns_model_recommend(m, 5, 4, items, NULL, &got), CNS_E_ARG);
    ck_assert_status(cns_model_recommend(m, -1, 4, items, NULL, &got), CNS_E_ARG);
    ck_assert_status(cns_model_recommend(m, 0, 4, NULL, NULL, &got), CNS_E_ARG);
    ck_assert_status(cns_model_recommend(m, 0, 4, items, NULL, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_recommend(NULL, 0, 4, items, NULL, &got), CNS_E_ARG);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_recommend_ties_and_exclusion) {
    /* MF (E = E0): items 3, 7 and 9 share one row and score 1.0; item 5
     * scores 2.0 but is a training item of user 0; the rest score below. */
    const int32_t u[] = {0, 1}, it[] = {5, 0};
    cns_dataset *ds = pairs(u, it, 2, 2, 10);
    cns_model *m = make_model(ds, 2, 0, 1);
    const float eu[2] = {1.0f, 0.0f}, top[2] = {1.0f, 0.5f}, best[2] = {2.0f, 0.0f};
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_USERS, 0, eu), CNS_OK);
    for (int32_t i = 0; i < 10; ++i) {
        float low[2] = {-0.1f * (float)i, 0.0f};
        ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, i, low), CNS_OK);
    }
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, 9, top), CNS_OK);
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, 3, top), CNS_OK);
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, 7, top), CNS_OK);
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, 5, best), CNS_OK);
    ck_assert_status(cns_model_forward(m), CNS_OK);
    int32_t items[9];
    float scores[9];
    size_t got = 0;
    ck_assert_status(cns_model_recommend(m, 0, 4, items, scores, &got), CNS_OK);
    ck_assert_uint_eq(got, 4);
    const int32_t expect[4] = {3, 7, 9, 0}; /* item 0 scores -0.0: next */
    for (int r = 0; r < 4; ++r) ck_assert_int_eq(items[r], expect[r]);
    ck_assert_float_eq(scores[0], 1.0f);
    /* All 9 candidates (item 5 excluded), strictly by score then id. */
    ck_assert_status(cns_model_recommend(m, 0, 9, items, scores, &got), CNS_OK);
    ck_assert_uint_eq(got, 9);
    const int32_t all[9] = {3, 7, 9, 0, 1, 2, 4, 6, 8};
    for (int r = 0; r < 9; ++r) ck_assert_int_eq(items[r], all[r]);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_parameters) {
    cns_dataset *ds = two_groups();
    cns_model *m = make_model(ds, 4, 1, 1);
    struct { int id; double dflt, ok_lo, bad_lo, ok_hi, bad_hi; } p[] = {
        {CNS_MODEL_LR, 0.01, 1e-12, 0.0, 1e30, 1.1e30},
        {CNS_MODEL_REG, 1e-4, 0.0, -1e-9, 1e3, 1e3 + 1},
        {CNS_MODEL_ADAM_BETA1, 0.9, 0.0, -0.1, 0.999999, 1.0},
        {CNS_MODEL_ADAM_BETA2, 0.999, 0.0, -0.1, 0.999999, 1.0},
        {CNS_MODEL_ADAM_EPS, 1e-8, 1e-30, 0.0, 1.0, 1.5},
    };
    for (size_t k = 0; k < sizeof p / sizeof p[0]; ++k) {
        double v, lo, hi;
        ck_assert_status(cns_model_get_double(m, p[k].id, &v), CNS_OK);
        ck_assert_double_eq(v, p[k].dflt);
        ck_assert_status(cns_model_set_double(m, p[k].id, p[k].ok_lo), CNS_OK);
        ck_assert_status(cns_model_set_double(m, p[k].id, p[k].bad_lo), CNS_E_ARG);
        ck_assert_str_ne(cns_model_last_error(m), "");
        ck_assert_status(cns_model_set_double(m, p[k].id, NAN), CNS_E_ARG);
        ck_assert_status(cns_model_get_double(m, p[k].id, &v), CNS_OK);
        ck_assert_double_eq(v, p[k].ok_lo);
        ck_assert_status(cns_model_set_double(m, p[k].id, p[k].ok_hi), CNS_OK);
        ck_assert_status(cns_model_set_double(m, p[k].id, p[k].bad_hi), CNS_E_ARG);
        ck_assert_status(cns_model_get_double(m, p[k].id, &v), CNS_OK);
        ck_assert_double_eq(v, p[k].ok_hi);
        ck_assert_status(cns_model_set_int(m, p[k].id, 1), CNS_E_PARAM);
        int64_t iv;
        ck_assert_status(cns_model_get_int(m, p[k].id, &iv), CNS_E_PARAM);
        ck_assert_status(cns_model_param_bounds(p[k].id, &lo, &hi), CNS_OK);
        ck_assert(lo <= p[k].ok_lo && p[k].ok_hi <= hi);
    }
    double lo, hi;
    ck_assert_status(cns_model_param_bounds(CNS_MODEL_LR, &lo, &hi), CNS_OK);
    ck_assert_double_eq(lo, 0.0);
    ck_assert_double_eq(hi, 1e30);
    ck_assert_status(cns_model_param_bounds(CNS_MODEL_THREADS, &lo, &hi), CNS_OK);
    ck_assert_double_eq(lo, 1.0);
    ck_assert_double_eq(hi, 256.0);
    ck_assert_status(cns_model_param_bounds(999, &lo, &hi), CNS_E_PARAM);
    ck_assert_status(cns_model_param_bounds(CNS_MODEL_LR, NULL, &hi), CNS_E_ARG);

    int64_t t;
    ck_assert_status(cns_model_get_int(m, CNS_MODEL_THREADS, &t), CNS_OK);
    ck_assert_int_eq(t, 1);
    ck_assert_status(cns_model_set_int(m, CNS_MODEL_THREADS, 256), CNS_OK);
    ck_assert_status(cns_model_set_int(m, CNS_MODEL_THREADS, 0), CNS_E_ARG);
    ck_assert_status(cns_model_set_int(m, CNS_MODEL_THREADS, 257), CNS_E_ARG);
    ck_assert_status(cns_model_set_int(m, CNS_MODEL_THREADS, INT64_MAX), CNS_E_ARG);
    ck_assert_status(cns_model_get_int(m, CNS_MODEL_THREADS, &t), CNS_OK);
    ck_assert_int_eq(t, 256);
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_THREADS, 2.0), CNS_E_PARAM);
    ck_assert_status(cns_model_get_double(m, CNS_MODEL_THREADS, &lo), CNS_E_PARAM);
    ck_assert_status(cns_model_set_double(m, 999, 1.0), CNS_E_PARAM);
    ck_assert_status(cns_model_set_int(m, 999, 1), CNS_E_PARAM);
    ck_assert_status(cns_model_get_double(m, 999, &lo), CNS_E_PARAM);
    ck_assert_status(cns_model_get_int(m, 999, &t), CNS_E_PARAM);
    ck_assert_status(cns_model_get_double(m, CNS_MODEL_LR, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_get_int(m, CNS_MODEL_THREADS, NULL), CNS_E_ARG);
    /* 256 threads on a tiny graph still works (more workers than rows). */
    ck_assert_status(cns_model_forward(m), CNS_OK);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_null_and_range_arguments) {
    cns_dataset *ds = two_groups();
    cns_model_desc d;
    cns_model_desc_init(&d);
    cns_model *m = (cns_model *)1;
    cns_error e;
    ck_assert_status(cns_model_create(NULL, &d, NULL, &m, &e), CNS_E_ARG);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(e.status, CNS_E_ARG);
    ck_assert_status(cns_model_create(ds, NULL, NULL, &m, &e), CNS_E_ARG);
    ck_assert_status(cns_model_create(ds, &d, NULL, NULL, &e), CNS_E_ARG);
    cns_allocator bad = {NULL, NULL, NULL};
    ck_assert_status(cns_model_create(ds, &d, &bad, &m, &e), CNS_E_ARG);
    ck_assert_ptr_null(m);
    cns_model_desc_init(NULL); /* no crash */

    ck_assert_status(cns_model_forward(NULL), CNS_E_ARG);
    ck_assert_status(cns_model_zero_grad(NULL), CNS_E_ARG);
    ck_assert_status(cns_model_accumulate_grad(NULL, CNS_TABLE_USERS, NULL, 0, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_backward(NULL, NULL, NULL, NULL, 0, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_step(NULL), CNS_E_ARG);
    ck_assert_status(cns_model_gather(NULL, CNS_TABLE_USERS, NULL, 0, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_set_ego_row(NULL, CNS_TABLE_USERS, 0, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_get_ego_row(NULL, CNS_TABLE_USERS, 0, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_set_double(NULL, CNS_MODEL_LR, 0.1), CNS_E_ARG);
    ck_assert_status(cns_model_set_int(NULL, CNS_MODEL_THREADS, 1), CNS_E_ARG);
    ck_assert_status(cns_model_save(NULL, "x"), CNS_E_ARG);
    ck_assert_ptr_null(cns_model_embeddings(NULL, CNS_TABLE_USERS));
    ck_assert_int_eq(cns_model_num_users(NULL), 0);
    ck_assert_int_eq(cns_model_num_items(NULL), 0);
    ck_assert_int_eq(cns_model_dim(NULL), 0);
    ck_assert_int_eq(cns_model_layers(NULL), 0);
    ck_assert_uint_eq(cns_model_steps_taken(NULL), 0);
    ck_assert_str_eq(cns_model_last_error(NULL), "");
    cns_model_free(NULL);

    m = NULL;
    ck_assert_status(cns_model_create(ds, &d, NULL, &m, &e), CNS_OK);
    ck_assert_int_eq(cns_model_num_users(m), 6);
    ck_assert_int_eq(cns_model_num_items(m), 8);
    ck_assert_int_eq(cns_model_dim(m), 64);
    ck_assert_int_eq(cns_model_layers(m), 2);
    ck_assert_str_eq(cns_model_last_error(m), "");
    ck_assert_ptr_null(cns_model_embeddings(m, (cns_table)2));
    float buf[64 * 3];
    int32_t ids[3] = {0, 7, 8};
    ck_assert_status(cns_model_gather(m, CNS_TABLE_ITEMS, ids, 2, buf), CNS_OK);
    ck_assert_mem_eq(buf + 64, cns_model_embeddings(m, CNS_TABLE_ITEMS) + 7 * 64, 64 * sizeof(float));
    ck_assert_status(cns_model_gather(m, CNS_TABLE_ITEMS, ids, 3, buf), CNS_E_ARG);
    ck_assert_status(cns_model_gather(m, CNS_TABLE_USERS, ids, 2, buf), CNS_E_ARG); /* 7 >= 6 */
    ck_assert_status(cns_model_gather(m, CNS_TABLE_USERS, NULL, 1, buf), CNS_E_ARG);
    ck_assert_status(cns_model_gather(m, CNS_TABLE_USERS, ids, 1, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_gather(m, (cns_table)5, ids, 1, buf), CNS_E_ARG);
    ck_assert_status(cns_model_gather(m, CNS_TABLE_USERS, NULL, 0, NULL), CNS_OK);
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_USERS, 6, buf), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "user row 6"));
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, -1, buf), CNS_E_ARG);
    ck_assert_status(cns_model_set_ego_row(m, (cns_table)-1, 0, buf), CNS_E_ARG);
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, 0, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_ITEMS, 8, buf), CNS_E_ARG);
    ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_ITEMS, 0, NULL), CNS_E_ARG);

    /* Gradients: ids checked before anything is added; repeated ids add. */
    float g[64 * 2];
    for (int k = 0; k < 128; ++k) g[k] = 1.0f;
    int32_t rep[2] = {3, 3}, badid[2] = {3, 8};
    ck_assert_status(cns_model_zero_grad(m), CNS_OK);
    ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, badid, 2, g), CNS_E_ARG);
    ck_assert_float_eq(m->grad[(6 + 3) * 64], 0.0f);
    ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, rep, 2, g), CNS_OK);
    ck_assert_float_eq(m->grad[(6 + 3) * 64 + 5], 2.0f);
    ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, NULL, 1, g), CNS_E_ARG);
    ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, rep, 1, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_accumulate_grad(m, (cns_table)3, rep, 1, g), CNS_E_ARG);
    ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_USERS, NULL, 0, NULL), CNS_OK);
    ck_assert_status(cns_model_zero_grad(m), CNS_OK);
    ck_assert_float_eq(m->grad[(6 + 3) * 64 + 5], 0.0f);

    /* Backward: ids in range, users and pos required when n > 0. */
    int32_t us[1] = {0}, ps[1] = {8}, ok[1] = {1};
    ck_assert_status(cns_model_step(m), CNS_E_STATE); /* no backward yet */
    ck_assert_status(cns_model_backward(m, us, ps, NULL, 1, NULL), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "pos[0] = 8"));
    ck_assert_status(cns_model_backward(m, us, ok, ps, 1, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_backward(m, ps, ok, NULL, 1, NULL), CNS_E_ARG); /* user 8 */
    ck_assert_status(cns_model_backward(m, NULL, ok, NULL, 1, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_backward(m, us, NULL, NULL, 1, NULL), CNS_E_ARG);
    ck_assert_status(cns_model_step(m), CNS_E_STATE);
    ck_assert_status(cns_model_backward(m, us, ok, NULL, 1, NULL), CNS_OK);
    ck_assert_status(cns_model_step(m), CNS_OK);
    ck_assert_status(cns_model_step(m), CNS_E_STATE); /* one step per backward */

    /* Checkpoints: arguments only (the format: tests/test_model_io.c). */
    ck_assert_status(cns_model_save(m, NULL), CNS_E_ARG);
    cns_model *l = (cns_model *)1;
    ck_assert_status(cns_model_load("/nonexistent-dir-cns/x.ckpt", NULL, &l, &e), CNS_E_NOFILE);
    ck_assert_ptr_null(l);
    ck_assert_status(cns_model_load(NULL, NULL, &l, &e), CNS_E_ARG);
    ck_assert_status(cns_model_load("/tmp/x.ckpt", NULL, NULL, &e), CNS_E_ARG);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_desc_validation) {
    cns_dataset *ds = two_groups();
    cns_model_desc d;
    cns_model *m = (cns_model *)1;
    cns_error e;
    cns_model_desc_init(&d);
    ck_assert_uint_eq(d.struct_size, sizeof d);
    ck_assert_int_eq(d.dim, 64);
    ck_assert_int_eq(d.layers, 2);
    ck_assert_uint_eq(d.seed, 1);
    d.struct_size = 8;
    ck_assert_status(cns_model_create(ds, &d, NULL, &m, &e), CNS_E_SIZE);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(e.status, CNS_E_SIZE);
    d.struct_size = sizeof d - 1;
    ck_assert_status(cns_model_create(ds, &d, NULL, &m, &e), CNS_E_SIZE);
    d.struct_size = 0;
    ck_assert_status(cns_model_create(ds, &d, NULL, &m, &e), CNS_E_SIZE);
    /* A newer caller's larger struct: the known fields are read. */
    struct { cns_model_desc base; uint64_t future[2]; } big;
    cns_model_desc_init(&big.base);
    big.base.struct_size = sizeof big;
    big.base.dim = 5;
    big.future[0] = big.future[1] = 77;
    ck_assert_status(cns_model_create(ds, &big.base, NULL, &m, &e), CNS_OK);
    ck_assert_int_eq(cns_model_dim(m), 5);
    cns_model_free(m);

    const struct { int dim, layers; cns_status st; } cases[] = {
        {0, 2, CNS_E_ARG}, {4097, 2, CNS_E_ARG}, {-3, 2, CNS_E_ARG}, {1, -1, CNS_E_ARG},
        {1, 9, CNS_E_ARG}, {1, 0, CNS_OK}, {1, 8, CNS_OK}, {4096, 0, CNS_OK}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        cns_model_desc_init(&d);
        d.dim = cases[k].dim;
        d.layers = cases[k].layers;
        m = (cns_model *)1;
        ck_assert_status(cns_model_create(ds, &d, NULL, &m, &e), cases[k].st);
        if (cases[k].st == CNS_OK) {
            ck_assert_int_eq(cns_model_layers(m), cases[k].layers);
            cns_model_free(m);
        } else {
            ck_assert_ptr_null(m);
            ck_assert_ptr_nonnull(strstr(e.message, cases[k].dim < 1 || cases[k].dim > 4096 ? "dim" : "layers"));
        }
    }
    cns_dataset_free(ds);
}
END_TEST

typedef struct failing { size_t calls, fail_at, live; } failing;
static void *f_alloc(void *u, size_t n) {
    failing *f = u;
    if (f->calls++ == f->fail_at) return NULL;
    f->live++;
    return malloc(n);
}
static void f_free(void *u, void *p) {
    failing *f = u;
    if (p) f->live--;
    free(p);
}

START_TEST(test_allocation_failures) {
    cns_dataset *ds = two_groups();
    cns_model_desc d;
    cns_model_desc_init(&d);
    d.layers = 3; /* both scratch buffers */
    size_t k = 0;
    for (;; ++k) {
        failing f = {0, k, 0};
        cns_allocator a = {f_alloc, f_free, &f};
        cns_model *m = (cns_model *)1;
        cns_error e;
        cns_status st = cns_model_create(ds, &d, &a, &m, &e);
        if (st == CNS_OK) {
            ck_assert_uint_gt(f.live, 0);
            cns_model_free(m);
            ck_assert_uint_eq(f.live, 0);
            break;
        }
        ck_assert_status(st, CNS_E_NOMEM);
        ck_assert_ptr_null(m);
        ck_assert_uint_eq(f.live, 0);
        ck_assert(k < 100);
    }
    ck_assert_uint_gt(k, 8); /* every buffer was made to fail once */
    cns_dataset_free(ds);
}
END_TEST

int main(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, test_adam_step_by_hand);
    tcase_add_test(tc, test_bpr_loss_falls);
    tcase_add_test(tc, test_seeds);
    tcase_add_test(tc, test_xavier_bounds);
    tcase_add_test(tc, test_nan_detection);
    tcase_add_test(tc, test_huge_lr_and_overflow);
    tcase_add_test(tc, test_recommend_brute_force);
    tcase_add_test(tc, test_recommend_ties_and_exclusion);
    tcase_add_test(tc, test_parameters);
    tcase_add_test(tc, test_null_and_range_arguments);
    tcase_add_test(tc, test_desc_validation);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
