/* Bring your own model: the checked entry points (widths and strides of
 * the sampler, its context and the trainer's handles), the catalogue
 * samplers and the evaluator on a host's CSR arrays, the gather helper,
 * the consumed context of a failed draw, and the row named by a NaN. */
#include <stdint.h>

#include "testutil.h"

enum { NU = 6, NI = 9, D = 4 };

/* A small interaction set, as pairs and as the same CSR. */
static const int32_t k_users[] = {0, 0, 1, 2, 2, 2, 3, 4, 5, 5};
static const int32_t k_items[] = {1, 4, 0, 2, 3, 8, 5, 7, 0, 6};
static const int64_t k_row_ptr[NU + 1] = {0, 2, 3, 6, 7, 8, 10};
#define NNZ (sizeof k_users / sizeof k_users[0])

static cns_dataset *make_ds(void) {
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(k_users, k_items, NNZ, NU, NI, NULL, &ds, NULL), CNS_OK);
    return ds;
}

static cns_csr make_csr(void) {
    cns_csr c;
    cns_csr_init(&c);
    c.num_users = NU;
    c.num_items = NI;
    c.row_ptr = k_row_ptr;
    c.item_ids = k_items;
    return c;
}

static float val(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static cns_sampler *make_sampler(int kind, int dim, uint64_t seed) {
    cns_sampler_desc sd;
    cns_sampler_desc_init(&sd);
    sd.kind = kind;
    sd.dim = dim;
    sd.seed = seed;
    sd.hidden = 8;
    sd.time_dim = 8;
    cns_sampler *s = NULL;
    ck_assert_status(cns_sampler_create(&sd, NULL, &s, NULL), CNS_OK);
    return s;
}

/* ---- widths and strides ------------------------------------------------ */

START_TEST(test_draw_rows_width_mismatch) {
    cns_sampler *s = make_sampler(CNS_SAMPLER_DIFFUSION, 32, 1);
    float u[64 * 3] = {0}, p[64 * 3] = {0}, o[64 * 3];
    ck_assert_status(cns_sampler_draw_rows(s, 64, u, 0, p, 0, 3, o, 0), CNS_E_SIZE);
    const char *m = cns_sampler_last_error(s);
    ck_assert_msg(strstr(m, "cns_sampler_draw_rows: ") == m, "%s", m);
    ck_assert_msg(strstr(m, "64") && strstr(m, "32"), "message names both widths: %s", m);
    ck_assert_status(cns_sampler_train_step_rows(s, 64, p, 0, 3, NULL), CNS_E_SIZE);
    m = cns_sampler_last_error(s);
    ck_assert_msg(strstr(m, "64") && strstr(m, "32"), "%s", m);
    ck_assert_status(cns_sampler_draw_rows(s, 32, u, 31, p, 0, 3, o, 0), CNS_E_SIZE);
    ck_assert_ptr_nonnull(strstr(cns_sampler_last_error(s), "user_stride = 31"));
    ck_assert_status(cns_sampler_draw_rows(NULL, 32, u, 0, p, 0, 3, o, 0), CNS_E_ARG);
    cns_sampler_free(s);
}
END_TEST

/* Strided rows draw exactly what packed rows draw (same seed, same
 * calls), and the padding of the output is left alone. */
START_TEST(test_draw_rows_strided_equals_packed) {
    enum { N = 5, W = 8, S = 11 };
    for (int mode = 0; mode <= 1; ++mode) {
        cns_sampler *a = make_sampler(CNS_SAMPLER_DIFFUSION, W, 7);
        cns_sampler *b = make_sampler(CNS_SAMPLER_DIFFUSION, W, 7);
        ck_assert_status(cns_sampler_set_int(a, CNS_SAMPLER_MODE, mode), CNS_OK);
        ck_assert_status(cns_sampler_set_int(b, CNS_SAMPLER_MODE, mode), CNS_OK);
        float u[N * W], p[N * W], us[N * S], ps[N * S], o1[N * W], o2[N * S];
        uint64_t r = 5;
        for (int i = 0; i < N * S; ++i) us[i] = ps[i] = o2[i] = NAN;
        for (int i = 0; i < N; ++i)
            for (int k = 0; k < W; ++k) {
                u[i * W + k] = us[i * S + k] = val(&r);
                p[i * W + k] = ps[i * S + k] = val(&r);
            }
        double l1 = 0, l2 = 0;
        ck_assert_status(cns_sampler_train_step(a, p, N, &l1), CNS_OK);
        ck_assert_status(cns_sampler_train_step_rows(b, W, ps, S, N, &l2), CNS_OK);
        ck_assert(l1 == l2);
        ck_assert_status(cns_sampler_draw(a, u, p, N, o1), CNS_OK);
        ck_assert_status(cns_sampler_draw_rows(b, W, us, S, ps, S, N, o2, S), CNS_OK);
        for (int i = 0; i < N; ++i) {
            for (int k = 0; k < W; ++k) ck_assert(o1[i * W + k] == o2[i * S + k]);
            for (int k = W; k < S; ++k) ck_assert(isnan(o2[i * S + k]));
        }
        cns_sampler_free(a);
        cns_sampler_free(b);
    }
}
END_TEST

/* The trainer compares the sampler's and the loss's widths (and the
 * loss's with the model's) before anything runs. */
START_TEST(test_trainer_width_mismatch) {
    cns_dataset *ds = make_ds();
    cns_model_desc md;
    cns_model_desc_init(&md);
    md.dim = 8;
    md.layers = 0;
    cns_model *m = NULL;
    ck_assert_status(cns_model_create(ds, &md, NULL, &m, NULL), CNS_OK);
    cns_sampler *s = make_sampler(CNS_SAMPLER_DIFFUSION, 8, 1);
    cns_loss_desc ld;
    cns_loss_desc_init(&ld);
    ld.dim = 16;
    cns_loss *l = NULL;
    ck_assert_status(cns_loss_create(&ld, NULL, &l, NULL), CNS_OK);
    cns_trainer *t = NULL;
    cns_error err;
    ck_assert_status(cns_trainer_create(m, s, l, ds, 4, 1, NULL, &t, &err), CNS_E_SIZE);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err.message, "cns_trainer_create: ") == err.message, "%s", err.message);
    ck_assert_msg(strstr(err.message, "sampler dim 8 differs from loss dim 16"), "%s", err.message);
    /* Without a sampler the loss still has to match the model. */
    ck_assert_status(cns_trainer_create(m, NULL, l, ds, 4, 1, NULL, &t, &err), CNS_E_SIZE);
    ck_assert_msg(strstr(err.message, "loss dim 16 differs from model dim 8"), "%s", err.message);
    cns_loss_free(l);
    ld.dim = 8;
    ck_assert_status(cns_loss_create(&ld, NULL, &l, NULL), CNS_OK);
    ck_assert_status(cns_trainer_create(m, s, l, ds, 4, 1, NULL, &t, &err), CNS_OK);
    cns_trainer_free(t);
    cns_loss_free(l);
    cns_sampler_free(s);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* ---- the catalogue context --------------------------------------------- */

static void item_table(float *emb, size_t stride) {
    uint64_t r = 3;
    for (size_t i = 0; i < NI; ++i)
        for (size_t k = 0; k < stride; ++k) emb[i * stride + k] = k < D ? val(&r) : NAN;
}

START_TEST(test_context_width_and_versions) {
    cns_dataset *ds = make_ds();
    cns_sampler *s = make_sampler(CNS_SAMPLER_DNS, D, 1);
    float emb[NI * D];
    item_table(emb, D);
    const int32_t users[2] = {0, 2};
    cns_sampler_context c;
    cns_sampler_context_init(&c);
    c.train = ds, c.item_emb = emb, c.num_items = NI, c.users = users, c.n_rows = 2;
    ck_assert_status(cns_sampler_set_context_rows(s, &c, 5, 0, NULL), CNS_E_SIZE);
    const char *m = cns_sampler_last_error(s);
    ck_assert_msg(strstr(m, "cns_sampler_set_context_rows: ") == m && strstr(m, "5") && strstr(m, "4"),
                  "%s", m);
    ck_assert_status(cns_sampler_set_context_rows(s, &c, 0, 0, NULL), CNS_E_SIZE);
    ck_assert_status(cns_sampler_set_context_rows(s, &c, D, 3, NULL), CNS_E_SIZE);
    ck_assert_ptr_nonnull(strstr(cns_sampler_last_error(s), "item_stride = 3"));
    ck_assert_status(cns_sampler_set_context_rows(s, &c, D, 0, NULL), CNS_OK);
    ck_assert_status(cns_sampler_set_context(s, &c), CNS_OK);
    /* A longer struct from a newer header is read up to what is known. */
    struct {
        cns_sampler_context c;
        int64_t newer;
    } big;
    memset(&big, 0, sizeof big);
    big.c = c;
    big.c.struct_size = sizeof big;
    ck_assert_status(cns_sampler_set_context(s, &big.c), CNS_OK);
    c.struct_size -= 1;
    ck_assert_status(cns_sampler_set_context(s, &c), CNS_E_SIZE);
    c.struct_size = sizeof c;
    cns_csr csr = make_csr();
    ck_assert_status(cns_sampler_set_context_rows(s, &c, D, 0, &csr), CNS_E_ARG); /* both */
    ck_assert_ptr_nonnull(strstr(cns_sampler_last_error(s), "not both"));
    cns_sampler_free(s);
    cns_dataset_free(ds);
}
END_TEST

/* A draw that fails still consumes the context: the next draw, even a
 * valid one, has no context. */
START_TEST(test_failed_draw_consumes_context) {
    cns_dataset *ds = make_ds();
    cns_sampler *s = make_sampler(CNS_SAMPLER_UNIFORM, D, 1);
    float emb[NI * D], out[2 * D];
    item_table(emb, D);
    const int32_t users[2] = {0, 2};
    cns_sampler_context c;
    cns_sampler_context_init(&c);
    c.train = ds, c.item_emb = emb, c.num_items = NI, c.users = users, c.n_rows = 2;
    for (int how = 0; how < 3; ++how) {
        ck_assert_status(cns_sampler_set_context(s, &c), CNS_OK);
        if (how == 0) /* n_rows differs from the context's */
            ck_assert_status(cns_sampler_draw(s, NULL, NULL, 3, out), CNS_E_STATE);
        else if (how == 1) /* no output */
            ck_assert_status(cns_sampler_draw(s, NULL, NULL, 2, NULL), CNS_E_ARG);
        else /* a width mismatch through the checked call */
            ck_assert_status(cns_sampler_draw_rows(s, D + 1, NULL, 0, NULL, 0, 2, out, 0),
                             CNS_E_SIZE);

        ck_assert_status(cns_sampler_draw(s, NULL, NULL, 2, out), CNS_E_STATE);
        ck_assert_ptr_nonnull(strstr(cns_sampler_last_error(s), "set_context before each draw"));
    }
    /* A set_context that fails leaves no context either. */
    ck_assert_status(cns_sampler_set_context(s, &c), CNS_OK);
    ck_assert_status(cns_sampler_set_context_rows(s, &c, D + 1, 0, NULL), CNS_E_SIZE);
    ck_assert_status(cns_sampler_draw(s, NULL, NULL, 2, out), CNS_E_STATE);
    ck_assert_status(cns_sampler_set_context(s, &c), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, NULL, NULL, 2, out), CNS_OK);
    cns_sampler_free(s);
    cns_dataset_free(ds);
}
END_TEST

/* UNIFORM and DNS on CSR arrays with strided item rows draw what they
 * draw on the same data as a dataset with packed rows. */
START_TEST(test_context_csr_equals_dataset) {
    enum { N = 6, IS = D + 2 };
    cns_dataset *ds = make_ds();
    cns_csr csr = make_csr();
    float emb[NI * D], embs[NI * IS], eu[N * D];
    item_table(emb, D);
    item_table(embs, IS);
    uint64_t r = 11;
    for (int i = 0; i < N * D; ++i) eu[i] = val(&r);
    const int32_t users[N] = {0, 1, 2, 3, 4, 5};
    for (int kind = CNS_SAMPLER_UNIFORM; kind <= CNS_SAMPLER_DNS; ++kind) {
        cns_sampler *a = make_sampler(kind, D, 9), *b = make_sampler(kind, D, 9);
        ck_assert_status(cns_sampler_set_int(a, CNS_SAMPLER_DNS_CANDIDATES, 3), CNS_OK);
        ck_assert_status(cns_sampler_set_int(b, CNS_SAMPLER_DNS_CANDIDATES, 3), CNS_OK);
        for (int rep = 0; rep < 20; ++rep) {
            int32_t ia[N], ib[N];
            float oa[N * D], ob[N * D];
            cns_sampler_context c;
            cns_sampler_context_init(&c);
            c.train = ds, c.item_emb = emb, c.num_items = NI, c.users = users, c.n_rows = N;
            c.out_ids = ia;
            ck_assert_status(cns_sampler_set_context(a, &c), CNS_OK);
            ck_assert_status(cns_sampler_draw(a, eu, NULL, N, oa), CNS_OK);
            c.train = NULL, c.item_emb = embs, c.out_ids = ib;
            ck_assert_status(cns_sampler_set_context_rows(b, &c, D, IS, &csr), CNS_OK);
            ck_assert_status(cns_sampler_draw_rows(b, D, eu, 0, NULL, 0, N, ob, 0), CNS_OK);
            for (int i = 0; i < N; ++i) {
                ck_assert_int_eq(ia[i], ib[i]);
                /* never an observed item */
                for (int64_t q = k_row_ptr[users[i]]; q < k_row_ptr[users[i] + 1]; ++q)
                    ck_assert_int_ne(ib[i], k_items[q]);
                for (int k = 0; k < D; ++k) ck_assert(ob[i * D + k] == emb[ib[i] * D + k]);
            }
        }
        cns_sampler_free(a);
        cns_sampler_free(b);
    }
    cns_dataset_free(ds);
}
END_TEST

/* Broken CSR arrays are refused with the entry named. */
START_TEST(test_context_csr_checked) {
    cns_sampler *s = make_sampler(CNS_SAMPLER_UNIFORM, D, 1);
    float emb[NI * D], out[D];
    item_table(emb, D);
    int32_t items[NNZ];
    memcpy(items, k_items, sizeof items);
    items[4] = 2; /* user 2's row: 2, 2, 8 does not ascend */
    cns_csr csr = make_csr();
    csr.item_ids = items;
    const int32_t user = 2;
    cns_sampler_context c;
    cns_sampler_context_init(&c);
    c.item_emb = emb, c.num_items = NI, c.users = &user, c.n_rows = 1;
    ck_assert_status(cns_sampler_set_context(s, &c), CNS_E_ARG); /* no observed items at all */
    ck_assert_status(cns_sampler_set_context_rows(s, &c, D, 0, &csr), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, NULL, NULL, 1, out), CNS_E_ARG);
    ck_assert_msg(strstr(cns_sampler_last_error(s), "item_ids[4] = 2 does not ascend in user 2"),
                  "%s", cns_sampler_last_error(s));
    items[4] = 9; /* out of range */
    ck_assert_status(cns_sampler_set_context_rows(s, &c, D, 0, &csr), CNS_OK);
    ck_assert_status(cns_sampler_draw(s, NULL, NULL, 1, out), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_sampler_last_error(s), "item_ids[4] = 9 is outside [0, 9)"));
    c.num_items = NI + 1;
    ck_assert_status(cns_sampler_set_context_rows(s, &c, D, 0, &csr), CNS_E_SIZE);
    c.num_items = NI;
    const int64_t bad_ptr[NU + 1] = {1, 2, 3, 6, 7, 8, 10};
    csr.row_ptr = bad_ptr;
    ck_assert_status(cns_sampler_set_context_rows(s, &c, D, 0, &csr), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_sampler_last_error(s), "row_ptr[0] = 1"));
    cns_dataset *ds = NULL;
    cns_error err;
    ck_assert_status(cns_dataset_from_csr(&csr, NULL, &ds, &err), CNS_E_ARG);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(err.message, "cns_dataset_from_csr: ") == err.message, "%s", err.message);
    /* the header checks, each named */
    cns_csr h = make_csr();
    h.struct_size = 8;
    ck_assert_status(cns_dataset_from_csr(&h, NULL, &ds, &err), CNS_E_SIZE);
    h = make_csr();
    h.item_ids = NULL;
    ck_assert_status(cns_dataset_from_csr(&h, NULL, &ds, &err), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.message, "item_ids is NULL"));
    h = make_csr();
    h.num_items = 0;
    ck_assert_status(cns_dataset_from_csr(&h, NULL, &ds, &err), CNS_E_ARG);
    const int64_t neg_end[NU + 1] = {0, 0, 0, 0, 0, 0, -1};
    h = make_csr();
    h.row_ptr = neg_end;
    ck_assert_status(cns_dataset_from_csr(&h, NULL, &ds, &err), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.message, "row_ptr[6] = -1 is negative"));
    const int64_t none[NU + 1] = {0, 0, 0, 0, 0, 0, 0};
    h = make_csr();
    h.row_ptr = none;
    ck_assert_status(cns_dataset_from_csr(&h, NULL, &ds, &err), CNS_E_EMPTY);
    ck_assert_status(cns_dataset_from_csr(NULL, NULL, &ds, &err), CNS_E_ARG);
    ck_assert_status(cns_dataset_from_csr(&h, NULL, NULL, &err), CNS_E_ARG);
    /* a good CSR: the same dataset as the pairs */
    h = make_csr();
    ck_assert_status(cns_dataset_from_csr(&h, NULL, &ds, &err), CNS_OK);
    ck_assert_int_eq(cns_dataset_num_users(ds), NU);
    ck_assert_int_eq(cns_dataset_num_items(ds), NI);
    ck_assert_uint_eq(cns_dataset_num_interactions(ds), NNZ);
    for (size_t q = 0; q < NNZ; ++q) ck_assert(cns_dataset_contains(ds, k_users[q], k_items[q]));
    cns_dataset_free(ds);
    cns_sampler_free(s);
}
END_TEST

/* ---- the evaluator on CSR arrays --------------------------------------- */

START_TEST(test_evaluator_csr_equals_dataset) {
    cns_dataset *train = make_ds();
    cns_csr csr = make_csr();
    /* test pairs: user u likes item (u + 3) mod NI unless trained on */
    const int64_t test_ptr[NU + 1] = {0, 1, 2, 3, 4, 5, 6};
    const int32_t test_items[NU] = {3, 4, 5, 6, 8, 2};
    const int32_t tu[NU] = {0, 1, 2, 3, 4, 5};
    cns_dataset *test = NULL;
    ck_assert_status(cns_dataset_from_arrays(tu, test_items, NU, NU, NI, NULL, &test, NULL), CNS_OK);
    cns_csr tcsr;
    cns_csr_init(&tcsr);
    tcsr.num_users = NU, tcsr.num_items = NI, tcsr.row_ptr = test_ptr, tcsr.item_ids = test_items;
    float ue[NU * D], ie[NI * D];
    uint64_t r = 17;
    for (int i = 0; i < NU * D; ++i) ue[i] = val(&r);
    for (int i = 0; i < NI * D; ++i) ie[i] = val(&r);
    const int32_t ks[2] = {1, 3};
    double o1[2 * CNS_METRIC_COUNT], o2[2 * CNS_METRIC_COUNT];
    size_t n1 = 0, n2 = 0;
    cns_evaluator *a = NULL, *b = NULL;
    ck_assert_status(cns_evaluator_create(train, NULL, &a, NULL), CNS_OK);
    ck_assert_status(cns_evaluator_create_csr(&csr, NULL, &b, NULL), CNS_OK);
    ck_assert_status(cns_evaluator_run(a, ue, NU, ie, NI, D, test, ks, 2, o1, &n1), CNS_OK);
    ck_assert_status(cns_evaluator_run_csr(b, ue, NU, ie, NI, D, &tcsr, ks, 2, o2, &n2), CNS_OK);
    ck_assert_uint_eq(n1, NU);
    ck_assert_uint_eq(n2, NU);
    for (int i = 0; i < 2 * CNS_METRIC_COUNT; ++i) ck_assert(o1[i] == o2[i]);
    /* A user with K = 1: the recall is 1 exactly when the test item scores
     * highest among the unmasked items (an independent count). */
    double recall1 = 0.0;
    for (int u = 0; u < NU; ++u) {
        int best = -1;
        double bs = -INFINITY;
        for (int i = 0; i < NI; ++i) {
            int masked = 0;
            for (int64_t q = k_row_ptr[u]; q < k_row_ptr[u + 1]; ++q) masked |= k_items[q] == i;
            if (masked) continue;
            double sc = 0.0;
            for (int k = 0; k < D; ++k) sc += (double)ue[u * D + k] * ie[i * D + k];
            if (sc > bs) bs = sc, best = i;
        }
        recall1 += best == test_items[u];
    }
    ck_assert_close(o2[CNS_METRIC_RECALL], recall1 / NU, 1e-12, 0);
    /* A broken test CSR: named as the test's. */
    const int64_t bad_ptr[NU + 1] = {0, 2, 1, 3, 4, 5, 6}; /* decreases at user 1 */
    tcsr.row_ptr = bad_ptr;
    ck_assert_status(cns_evaluator_run_csr(b, ue, NU, ie, NI, D, &tcsr, ks, 2, o2, &n2), CNS_E_ARG);
    const char *m = cns_evaluator_last_error(b);
    ck_assert_msg(strstr(m, "cns_evaluator_run_csr: test: ") == m, "%s", m);
    cns_evaluator_free(a);
    cns_evaluator_free(b);
    cns_dataset_free(test);
    cns_dataset_free(train);
}
END_TEST

/* ---- gathering host rows ------------------------------------------------ */

START_TEST(test_gather) {
    enum { R = 5, W = 3, ST = 4 };
    double table[R * ST];
    for (int i = 0; i < R * ST; ++i) table[i] = 0.1 * i + 1e-9; /* rounds when cast */
    const int64_t idx[3] = {4, 0, 2};
    float out[3 * W];
    cns_rows_src src;
    cns_rows_src_init(&src);
    src.elem = CNS_ELEM_F64, src.dim = W, src.base = table, src.stride = ST;
    src.index = idx, src.num_rows = R;
    ck_assert_status(cns_rows_gather(&src, 3, out, 0, NULL), CNS_OK);
    for (int b = 0; b < 3; ++b)
        for (int k = 0; k < W; ++k) ck_assert(out[b * W + k] == (float)table[idx[b] * ST + k]);
    /* by row pointer, float table, into a strided output */
    float ft[R * ST], o2[3 * 5];
    for (int i = 0; i < R * ST; ++i) ft[i] = (float)i;
    const void *rows[3] = {ft + 8, ft + 1, ft + 16};
    cns_rows_src p;
    cns_rows_src_init(&p);
    p.dim = W, p.rows = rows;
    for (int i = 0; i < 15; ++i) o2[i] = -1.0f;
    ck_assert_status(cns_rows_gather(&p, 3, o2, 5, NULL), CNS_OK);
    ck_assert(o2[0] == 8.0f && o2[2] == 10.0f && o2[3] == -1.0f && o2[5] == 1.0f && o2[10] == 16.0f);
    /* errors */
    cns_error err;
    const int64_t bad[1] = {5};
    src.index = bad;
    ck_assert_status(cns_rows_gather(&src, 1, out, 0, &err), CNS_E_ARG);
    ck_assert_str_eq(err.message, "cns_rows_gather: src->index[0] = 5 is outside [0, 5)");
    src.index = idx;
    src.stride = 2;
    ck_assert_status(cns_rows_gather(&src, 1, out, 0, &err), CNS_E_SIZE);
    src.stride = ST;
    src.elem = 3;
    ck_assert_status(cns_rows_gather(&src, 1, out, 0, &err), CNS_E_ARG);
    ck_assert_status(cns_rows_gather(NULL, 1, out, 0, &err), CNS_E_ARG);
    src.struct_size = 4;
    ck_assert_status(cns_rows_gather(&src, 1, out, 0, &err), CNS_E_SIZE);
}
END_TEST

/* ---- a NaN in the sampler's train step names its row --------------------- */

START_TEST(test_train_step_nan_names_row) {
    enum { N = 4, W = 8 };
    cns_sampler *s = make_sampler(CNS_SAMPLER_DIFFUSION, W, 1);
    /* Only the trained mode trains (the default preset's mode is frozen). */
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_TRAINED), CNS_OK);
    float p[N * W];
    uint64_t r = 1;
    for (int i = 0; i < N * W; ++i) p[i] = val(&r);
    p[2 * W + 5] = NAN;
    double loss = 0;
    ck_assert_status(cns_sampler_train_step(s, p, N, &loss), CNS_E_NUMERIC);
    const char *m = cns_sampler_last_error(s);
    ck_assert_msg(strstr(m, "cns_sampler_train_step: ") == m && strstr(m, "row 2 "), "%s", m);
    cns_sampler_free(s);
}
END_TEST

/* ---- the denoiser's weights ----------------------------------------------- */

/* Weights copied from one sampler make another draw exactly what the first
 * draws (same seed, so the same draw streams); other weights draw
 * differently; the count and the values are checked. */
START_TEST(test_weights_get_set) {
    enum { N = 8, W = 8 };
    cns_sampler *a = make_sampler(CNS_SAMPLER_DIFFUSION, W, 1);
    cns_sampler *b = make_sampler(CNS_SAMPLER_DIFFUSION, W, 1);
    cns_sampler *z = make_sampler(CNS_SAMPLER_DIFFUSION, W, 7);
    cns_sampler *c = make_sampler(CNS_SAMPLER_UNIFORM, W, 1);
    const size_t P = cns_sampler_weight_count(a);
    /* time_dim 8, hidden 8, dim 8: 8*8 + 8 + 8*(8+8) + 8 + 8*8 + 8 */
    ck_assert_uint_eq(P, 64 + 8 + 128 + 8 + 64 + 8);
    ck_assert_uint_eq(cns_sampler_weight_count(c), 0);
    ck_assert_uint_eq(cns_sampler_weight_count(NULL), 0);
    float *wa = malloc(P * sizeof *wa), *wz = malloc(P * sizeof *wz), *back = malloc(P * sizeof *back);
    ck_assert_status(cns_sampler_get_weights(a, wa, P), CNS_OK);
    ck_assert_status(cns_sampler_get_weights(z, wz, P), CNS_OK);
    ck_assert(memcmp(wa, wz, P * sizeof *wa) != 0);
    float u[N * W], p[N * W], oa[N * W], ob[N * W];
    uint64_t r = 9;
    for (int i = 0; i < N * W; ++i) u[i] = val(&r), p[i] = val(&r);
    ck_assert_status(cns_sampler_set_int(a, CNS_SAMPLER_MODE, CNS_MODE_REFERENCE), CNS_OK);
    ck_assert_status(cns_sampler_set_int(b, CNS_SAMPLER_MODE, CNS_MODE_REFERENCE), CNS_OK);
    /* b with z's weights draws differently from a */
    ck_assert_status(cns_sampler_set_weights(b, wz, P), CNS_OK);
    ck_assert_status(cns_sampler_get_weights(b, back, P), CNS_OK);
    ck_assert(memcmp(back, wz, P * sizeof *wz) == 0);
    ck_assert_status(cns_sampler_draw(a, u, p, N, oa), CNS_OK);
    ck_assert_status(cns_sampler_draw(b, u, p, N, ob), CNS_OK);
    ck_assert(memcmp(oa, ob, sizeof oa) != 0);
    /* ... and with a's weights back, the same as a (both at their second draw) */
    ck_assert_status(cns_sampler_set_weights(b, wa, P), CNS_OK);
    ck_assert_status(cns_sampler_draw(a, u, p, N, oa), CNS_OK);
    ck_assert_status(cns_sampler_draw(b, u, p, N, ob), CNS_OK);
    ck_assert(memcmp(oa, ob, sizeof oa) == 0);
    /* misuse */
    ck_assert_status(cns_sampler_set_weights(b, wa, P - 1), CNS_E_SIZE);
    ck_assert_ptr_nonnull(strstr(cns_sampler_last_error(b), "count = 279 but the denoiser has 280"));
    ck_assert_status(cns_sampler_get_weights(b, back, P + 1), CNS_E_SIZE);
    wz[17] = NAN;
    ck_assert_status(cns_sampler_set_weights(b, wz, P), CNS_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(cns_sampler_last_error(b), "w[17]"));
    ck_assert_status(cns_sampler_get_weights(b, back, P), CNS_OK);
    ck_assert(memcmp(back, wa, P * sizeof *wa) == 0); /* unchanged by the failed set */
    ck_assert_status(cns_sampler_set_weights(c, wa, P), CNS_E_UNSUPPORTED);
    ck_assert_status(cns_sampler_get_weights(c, back, P), CNS_E_UNSUPPORTED);
    ck_assert_status(cns_sampler_get_weights(a, NULL, P), CNS_E_ARG);
    ck_assert_status(cns_sampler_set_weights(a, NULL, P), CNS_E_ARG);
    free(wa), free(wz), free(back);
    cns_sampler_free(a), cns_sampler_free(b), cns_sampler_free(z), cns_sampler_free(c);
}
END_TEST

/* ---- the scale of h (docs/EMBEDDING.md) --------------------------------- */

/* mean |row| over n rows of width w */
static double mean_norm(const float *x, int n, int w) {
    double sum = 0.0;
    for (int r = 0; r < n; ++r) {
        double ss = 0.0;
        for (int k = 0; k < w; ++k) ss += (double)x[r * w + k] * x[r * w + k];
        sum += sqrt(ss);
    }
    return sum / n;
}

/* In reference mode |h| is the frozen denoiser's, not the positives':
 * positives 100 times longer give the same |h| (within 1 %), several
 * times any item norm of 0.1 - 1. */
START_TEST(test_reference_h_scale) {
    enum { N = 256, W = 64 };
    static float u[N * W], p[N * W], h[N * W];
    double hn[2];
    for (int pass = 0; pass < 2; ++pass) {
        cns_sampler_desc sd; /* the default denoiser, as docs/EMBEDDING.md measures it */
        cns_sampler_desc_init(&sd);
        sd.dim = W;
        cns_sampler *s = NULL;
        ck_assert_status(cns_sampler_create(&sd, NULL, &s, NULL), CNS_OK);
        ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_REFERENCE), CNS_OK);
        const float scale = pass == 0 ? 0.1f : 10.0f;
        uint64_t r = 77;
        for (int i = 0; i < N * W; ++i) {
            u[i] = val(&r);
            p[i] = scale * val(&r) * 0.2165f; /* |p| ~ scale: sqrt(64 / 3) * 0.2165 = 1 */
        }
        ck_assert_status(cns_sampler_draw(s, u, p, N, h), CNS_OK);
        hn[pass] = mean_norm(h, N, W);
        const double pn = mean_norm(p, N, W);
        ck_assert_msg(pn > 0.05 * scale && pn < 2.0 * scale, "|pos| = %g", pn);
        cns_sampler_free(s);
    }
    ck_assert_msg(fabs(hn[0] / hn[1] - 1.0) < 0.01, "|h| %g at |pos| ~ 0.1, %g at ~ 10", hn[0], hn[1]);
    ck_assert_msg(hn[0] > 3.0 && hn[0] < 5.0, "|h| = %g (docs/EMBEDDING.md: ~3.9 at dim 64)", hn[0]);
}
END_TEST

/* ---- one message style for API misuse --------------------------------- */

#define CK_STARTS(msg, fn) ck_assert_msg(strncmp((msg), fn ": ", strlen(fn ": ")) == 0, "'%s'", (msg))

START_TEST(test_misuse_messages) {
    cns_error err;
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(k_users, k_items, NNZ, NU, NI, NULL, NULL, &err), CNS_E_ARG);
    CK_STARTS(err.message, "cns_dataset_from_arrays");
    ds = make_ds();
    cns_batcher *b = NULL;
    ck_assert_status(cns_batcher_create(ds, 0, 1, NULL, &b, &err), CNS_E_ARG);
    CK_STARTS(err.message, "cns_batcher_create");
    ck_assert_status(cns_batcher_create(ds, 4, 1, NULL, &b, &err), CNS_OK);
    const int32_t *u, *p, *n;
    size_t cnt;
    ck_assert_status(cns_batcher_next(b, &u, &p, &n, &cnt), CNS_E_STATE);
    CK_STARTS(cns_batcher_last_error(b), "cns_batcher_next");
    cns_batcher_free(b);
    cns_model *m = NULL;
    ck_assert_status(cns_model_create(ds, NULL, NULL, &m, &err), CNS_E_ARG);
    ck_assert_ptr_null(m);
    CK_STARTS(err.message, "cns_model_create");
    cns_sampler_desc sd;
    cns_sampler_desc_init(&sd);
    sd.hidden = 0;
    cns_sampler *s = NULL;
    ck_assert_status(cns_sampler_create(&sd, NULL, &s, &err), CNS_E_ARG);
    CK_STARTS(err.message, "cns_sampler_create");
    s = make_sampler(CNS_SAMPLER_DIFFUSION, D, 1);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, 99), CNS_E_ARG);
    CK_STARTS(cns_sampler_last_error(s), "cns_sampler_set_int");
    ck_assert_status(cns_sampler_train_step(s, NULL, 1, NULL), CNS_E_ARG);
    CK_STARTS(cns_sampler_last_error(s), "cns_sampler_train_step");
    cns_sampler_free(s);
    cns_evaluator *ev = NULL;
    ck_assert_status(cns_evaluator_create(ds, NULL, &ev, NULL), CNS_OK);
    double out[CNS_METRIC_COUNT];
    ck_assert_status(cns_evaluator_run_popularity(ev, ds, NULL, 1, out, NULL), CNS_E_ARG);
    CK_STARTS(cns_evaluator_last_error(ev), "cns_evaluator_run_popularity");
    cns_evaluator_free(ev);
    cns_dataset_free(ds);
}
END_TEST

int main(void) {
    Suite *s = suite_create("byo");
    TCase *tw = tcase_create("widths");
    tcase_add_test(tw, test_draw_rows_width_mismatch);
    tcase_add_test(tw, test_draw_rows_strided_equals_packed);
    tcase_add_test(tw, test_trainer_width_mismatch);
    tcase_add_test(tw, test_context_width_and_versions);
    suite_add_tcase(s, tw);
    TCase *tc = tcase_create("context");
    tcase_add_test(tc, test_failed_draw_consumes_context);
    tcase_add_test(tc, test_context_csr_equals_dataset);
    tcase_add_test(tc, test_context_csr_checked);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("host data");
    tcase_add_test(th, test_evaluator_csr_equals_dataset);
    tcase_add_test(th, test_gather);
    tcase_add_test(th, test_train_step_nan_names_row);
    tcase_add_test(th, test_misuse_messages);
    tcase_add_test(th, test_reference_h_scale);
    tcase_add_test(th, test_weights_get_set);
    suite_add_tcase(s, th);
    return cns_test_run(s);
}
