/* LightGCN propagation (ALGORITHM.md §2): the normalised adjacency, the
 * forward against an independent dense double implementation, the
 * backward against central differences, the L2 term, and bit-identical
 * results at any thread count. */
#include "lightgcn.h"
#include "model_internal.h"
#include "testutil.h"

/* The hand-made graph: 4 users (user 3 has no items), 3 items (item 2 has
 * no users). Pairs (0,0) (0,1) (1,0) (2,1). */
static const int32_t k_u[] = {0, 0, 1, 2};
static const int32_t k_i[] = {0, 1, 0, 1};

static cns_dataset *small_graph(void) {
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(k_u, k_i, 4, 4, 3, NULL, &ds, NULL), CNS_OK);
    return ds;
}

static cns_model *make_model(const cns_dataset *ds, int dim, int layers, uint64_t seed) {
    cns_model_desc d;
    cns_model_desc_init(&d);
    d.dim = dim;
    d.layers = layers;
    d.seed = seed;
    cns_model *m = NULL;
    cns_error e;
    ck_assert_status(cns_model_create(ds, &d, NULL, &m, &e), CNS_OK);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* A random bipartite graph of about nnz pairs, reproducible. */
static cns_dataset *random_graph(int32_t users, int32_t items, size_t nnz, unsigned seed) {
    int32_t *u = malloc(nnz * sizeof *u), *i = malloc(nnz * sizeof *i);
    unsigned s = seed;
    for (size_t k = 0; k < nnz; ++k) {
        s = s * 1103515245u + 12345u;
        u[k] = (int32_t)((s >> 8) % (unsigned)users);
        s = s * 1103515245u + 12345u;
        /* Skewed items: popular low ids, like real data. */
        unsigned r = (s >> 8) % (unsigned)items;
        i[k] = (int32_t)(r * r / (unsigned)items);
    }
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(u, i, nnz, users, items, NULL, &ds, NULL), CNS_OK);
    free(u);
    free(i);
    return ds;
}

START_TEST(test_adjacency_by_hand) {
    /* Degrees: u0 = 2, u1 = 1, u2 = 1, u3 = 0; i0 = 2 (u0, u1), i1 = 2 (u0, u2), i2 = 0.
     * Nodes: users 0..3, items 4..6. Â[u][4+i] = 1/sqrt(deg_u deg_i):
     *   (u0,i0) = 1/sqrt(2*2) = 0.5        (u0,i1) = 1/sqrt(2*2) = 0.5
     *   (u1,i0) = 1/sqrt(1*2) = 0.70710678 (u2,i1) = 1/sqrt(1*2) = 0.70710678
     * Rows: u0 {4,5}, u1 {4}, u2 {5}, u3 {}, i0 {0,1}, i1 {0,2}, i2 {}. */
    const size_t rp[] = {0, 2, 3, 4, 4, 6, 8, 8};
    const int32_t col[] = {4, 5, 4, 5, 0, 1, 0, 2};
    const double r2 = 0.70710678118654752;
    const double val[] = {0.5, 0.5, r2, r2, 0.5, r2, 0.5, r2};
    cns_dataset *ds = small_graph();
    cns_model *m = make_model(ds, 4, 2, 1);
    const cns__adj *a = &m->adj;
    ck_assert_uint_eq(a->n, 7);
    ck_assert_uint_eq(a->nnz, 8);
    for (int r = 0; r <= 7; ++r) ck_assert_uint_eq(a->row_ptr[r], rp[r]);
    for (int k = 0; k < 8; ++k) {
        ck_assert_int_eq(a->col[k], col[k]);
        ck_assert_close(a->val[k], val[k], 1e-7, 0);
    }
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* Dense Â in double from the pair list, independent of lightgcn.c. */
static double *dense_adj(const cns_dataset *ds) {
    int32_t nu = cns_dataset_num_users(ds), ni = cns_dataset_num_items(ds);
    size_t n = (size_t)nu + (size_t)ni;
    double *a = calloc(n * n, sizeof *a), *deg = calloc(n, sizeof *deg);
    for (size_t k = 0; k < cns_dataset_num_interactions(ds); ++k) {
        int32_t u, i;
        ck_assert_status(cns_dataset_pair(ds, k, &u, &i), CNS_OK);
        a[(size_t)u * n + (size_t)nu + (size_t)i] = 1.0;
        a[((size_t)nu + (size_t)i) * n + (size_t)u] = 1.0;
    }
    for (size_t r = 0; r < n; ++r)
        for (size_t c = 0; c < n; ++c) deg[r] += a[r * n + c];
    for (size_t r = 0; r < n; ++r)
        for (size_t c = 0; c < n; ++c)
            if (a[r * n + c] != 0.0) a[r * n + c] /= sqrt(deg[r]) * sqrt(deg[c]);
    free(deg);
    return a;
}

/* E = mean_{k=0..L} Â^k E0, all in double. */
static void dense_propagate(const double *a, size_t n, size_t d, int layers, const double *e0,
                            double *e) {
    double *cur = malloc(n * d * sizeof *cur), *nxt = malloc(n * d * sizeof *nxt);
    memcpy(cur, e0, n * d * sizeof *cur);
    memcpy(e, e0, n * d * sizeof *e);
    for (int k = 1; k <= layers; ++k) {
        for (size_t r = 0; r < n; ++r)
            for (size_t j = 0; j < d; ++j) {
                double s = 0;
                for (size_t c = 0; c < n; ++c) s += a[r * n + c] * cur[c * d + j];
                nxt[r * d + j] = s;
            }
        for (size_t x = 0; x < n * d; ++x) e[x] += nxt[x];
        memcpy(cur, nxt, n * d * sizeof *cur);
    }
    for (size_t x = 0; x < n * d; ++x) e[x] /= (double)(layers + 1);
    free(cur);
    free(nxt);
}

/* Ego rows of m as one stacked double matrix. */
static double *ego_double(const cns_model *m) {
    size_t nu = (size_t)cns_model_num_users(m), ni = (size_t)cns_model_num_items(m);
    size_t d = (size_t)cns_model_dim(m);
    double *e0 = malloc((nu + ni) * d * sizeof *e0);
    float *row = malloc(d * sizeof *row);
    for (size_t r = 0; r < nu + ni; ++r) {
        cns_table t = r < nu ? CNS_TABLE_USERS : CNS_TABLE_ITEMS;
        ck_assert_status(cns_model_get_ego_row(m, t, (int32_t)(r < nu ? r : r - nu), row), CNS_OK);
        for (size_t j = 0; j < d; ++j) e0[r * d + j] = row[j];
    }
    free(row);
    return e0;
}

static void check_forward_against_dense(cns_dataset *ds, int dim, int layers) {
    cns_model *m = make_model(ds, dim, layers, 7);
    size_t nu = (size_t)cns_model_num_users(m), ni = (size_t)cns_model_num_items(m);
    size_t n = nu + ni, d = (size_t)dim;
    double *a = dense_adj(ds), *e0 = ego_double(m), *e = malloc(n * d * sizeof *e);
    dense_propagate(a, n, d, layers, e0, e);
    const float *eu = cns_model_embeddings(m, CNS_TABLE_USERS);
    const float *ei = cns_model_embeddings(m, CNS_TABLE_ITEMS);
    for (size_t r = 0; r < n; ++r)
        for (size_t j = 0; j < d; ++j) {
            float got = r < nu ? eu[r * d + j] : ei[(r - nu) * d + j];
            ck_assert_close(got, e[r * d + j], 1e-5, 1e-6);
        }
    free(a);
    free(e0);
    free(e);
    cns_model_free(m);
}

START_TEST(test_forward_matches_dense_reference) {
    cns_dataset *ds = small_graph();
    check_forward_against_dense(ds, 5, 2);
    check_forward_against_dense(ds, 3, 0);
    check_forward_against_dense(ds, 3, 3);
    cns_dataset_free(ds);
    ds = random_graph(23, 17, 90, 3);
    check_forward_against_dense(ds, 13, 2); /* 13: not a multiple of any vector width */
    check_forward_against_dense(ds, 8, 1);
    check_forward_against_dense(ds, 64, 2); /* the 64-wide register path */
    check_forward_against_dense(ds, 77, 3); /* 64 + 8 + a tail of 5 */
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_zero_degree_rows) {
    /* User 3 and item 2 have no edges: their final embedding is E0 / (L+1). */
    cns_dataset *ds = small_graph();
    cns_model *m = make_model(ds, 4, 2, 5);
    float e0[4], e[4];
    int32_t id = 3;
    ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_USERS, 3, e0), CNS_OK);
    ck_assert_status(cns_model_gather(m, CNS_TABLE_USERS, &id, 1, e), CNS_OK);
    for (int j = 0; j < 4; ++j) ck_assert_close(e[j], e0[j] / 3.0, 1e-6, 0);
    id = 2;
    ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_ITEMS, 2, e0), CNS_OK);
    ck_assert_status(cns_model_gather(m, CNS_TABLE_ITEMS, &id, 1, e), CNS_OK);
    for (int j = 0; j < 4; ++j) ck_assert_close(e[j], e0[j] / 3.0, 1e-6, 0);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* L = sum_{r in S} <c_r, E[r]> + 0.5 |E[r]|^2 over a fixed set S of rows of
 * both tables, in double, from the model's own forward. */
#define NS 4
static const int32_t k_su[NS] = {0, 2, 5, 5}; /* repeated row: its terms count twice */
static const int32_t k_si[NS] = {1, 3, 0, 7};

static double loss_of(cns_model *m, const float *cu, const float *ci, size_t d) {
    ck_assert_status(cns_model_forward(m), CNS_OK);
    float *eu = malloc(NS * d * sizeof *eu), *ei = malloc(NS * d * sizeof *ei);
    ck_assert_status(cns_model_gather(m, CNS_TABLE_USERS, k_su, NS, eu), CNS_OK);
    ck_assert_status(cns_model_gather(m, CNS_TABLE_ITEMS, k_si, NS, ei), CNS_OK);
    double l = 0;
    for (size_t x = 0; x < NS * d; ++x) {
        l += (double)cu[x] * eu[x] + 0.5 * (double)eu[x] * eu[x];
        l += (double)ci[x] * ei[x] + 0.5 * (double)ei[x] * ei[x];
    }
    free(eu);
    free(ei);
    return l;
}

START_TEST(test_backward_finite_differences) {
    cns_dataset *ds = random_graph(9, 8, 30, 11);
    const size_t d = 5;
    for (int layers = 0; layers <= 3; ++layers) {
        cns_model *m = make_model(ds, (int)d, layers, 3);
        ck_assert_status(cns_model_set_double(m, CNS_MODEL_REG, 0.0), CNS_OK);
        float cu[NS * d], ci[NS * d], gu[NS * d], gi[NS * d];
        for (size_t x = 0; x < NS * d; ++x) {
            cu[x] = (float)sin(1.0 + (double)x);
            ci[x] = (float)cos(2.0 + 0.7 * (double)x);
        }
        /* dL/dE[r] = c_r + E[r] per occurrence. */
        ck_assert_status(cns_model_forward(m), CNS_OK);
        ck_assert_status(cns_model_gather(m, CNS_TABLE_USERS, k_su, NS, gu), CNS_OK);
        ck_assert_status(cns_model_gather(m, CNS_TABLE_ITEMS, k_si, NS, gi), CNS_OK);
        for (size_t x = 0; x < NS * d; ++x) {
            gu[x] += cu[x];
            gi[x] += ci[x];
        }
        ck_assert_status(cns_model_zero_grad(m), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_USERS, k_su, NS, gu), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, k_si, NS, gi), CNS_OK);
        double reg = -1;
        ck_assert_status(cns_model_backward(m, NULL, NULL, NULL, 0, &reg), CNS_OK);
        ck_assert_double_eq(reg, 0.0);
        /* Central differences on every E0 entry. L is quadratic in E0, so
         * they are exact up to float rounding; h = 1e-2 keeps that small. */
        const double h = 1e-2;
        const size_t nu = 9;
        for (size_t r = 0; r < m->rows; ++r) {
            cns_table t = r < nu ? CNS_TABLE_USERS : CNS_TABLE_ITEMS;
            int32_t row = (int32_t)(r < nu ? r : r - nu);
            float e[5], saved[5];
            ck_assert_status(cns_model_get_ego_row(m, t, row, saved), CNS_OK);
            for (size_t j = 0; j < d; ++j) {
                memcpy(e, saved, sizeof e);
                e[j] = saved[j] + (float)h;
                double hp = (double)e[j] - saved[j];
                ck_assert_status(cns_model_set_ego_row(m, t, row, e), CNS_OK);
                double lp = loss_of(m, cu, ci, d);
                e[j] = saved[j] - (float)h;
                double hm = (double)saved[j] - e[j];
                ck_assert_status(cns_model_set_ego_row(m, t, row, e), CNS_OK);
                double lm = loss_of(m, cu, ci, d);
                ck_assert_status(cns_model_set_ego_row(m, t, row, saved), CNS_OK);
                double fd = (lp - lm) / (hp + hm);
                double got = m->grad_ego[r * d + j];
                ck_assert_msg(fabs(got - fd) <= 1e-3 * fabs(fd) + 2e-4,
                              "layers %d row %zu dim %zu: backward %.8g, FD %.8g", layers, r, j,
                              got, fd);
            }
        }
        cns_model_free(m);
    }
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_l2_term_and_gradient) {
    cns_dataset *ds = random_graph(6, 7, 20, 5);
    const size_t d = 4, nu = 6;
    cns_model *m = make_model(ds, (int)d, 2, 9);
    const double regw = 0.3;
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_REG, regw), CNS_OK);
    /* Batch with a repeated user and an item that is both positive and negative. */
    const int32_t users[] = {1, 1, 4}, pos[] = {2, 0, 6}, neg[] = {3, 2, 5};
    const size_t n = 3;
    ck_assert_status(cns_model_zero_grad(m), CNS_OK); /* only the L2 term contributes */

    /* Expected value from the ego rows, independently: reg sum |e|^2 / (2n). */
    double *e0 = ego_double(m), expect = 0;
    for (size_t b = 0; b < n; ++b)
        for (size_t j = 0; j < d; ++j) {
            double a = e0[(size_t)users[b] * d + j], p = e0[(nu + (size_t)pos[b]) * d + j],
                   q = e0[(nu + (size_t)neg[b]) * d + j];
            expect += a * a + p * p + q * q;
        }
    expect *= regw / (2.0 * (double)n);
    double rl = 0;
    ck_assert_status(cns_model_backward(m, users, pos, neg, n, &rl), CNS_OK);
    ck_assert_close(rl, expect, 1e-12, 0);
    /* Without neg the negatives' term drops out. */
    float *g_full = malloc(m->rows * d * sizeof *g_full);
    memcpy(g_full, m->grad_ego, m->rows * d * sizeof *g_full);

    /* Central differences of reg_loss on every ego entry. */
    const double h = 1e-2;
    for (size_t r = 0; r < m->rows; ++r) {
        cns_table t = r < nu ? CNS_TABLE_USERS : CNS_TABLE_ITEMS;
        int32_t row = (int32_t)(r < nu ? r : r - nu);
        float e[4], saved[4];
        ck_assert_status(cns_model_get_ego_row(m, t, row, saved), CNS_OK);
        for (size_t j = 0; j < d; ++j) {
            double lp, lm;
            memcpy(e, saved, sizeof e);
            e[j] = saved[j] + (float)h;
            double hp = (double)e[j] - saved[j];
            ck_assert_status(cns_model_set_ego_row(m, t, row, e), CNS_OK);
            ck_assert_status(cns_model_backward(m, users, pos, neg, n, &lp), CNS_OK);
            e[j] = saved[j] - (float)h;
            double hm = (double)saved[j] - e[j];
            ck_assert_status(cns_model_set_ego_row(m, t, row, e), CNS_OK);
            ck_assert_status(cns_model_backward(m, users, pos, neg, n, &lm), CNS_OK);
            ck_assert_status(cns_model_set_ego_row(m, t, row, saved), CNS_OK);
            double fd = (lp - lm) / (hp + hm);
            ck_assert_msg(fabs(g_full[r * d + j] - fd) <= 1e-3 * fabs(fd) + 1e-7,
                          "row %zu dim %zu: backward %.8g, FD %.8g", r, j, g_full[r * d + j], fd);
        }
    }
    /* Item 2 appears once as positive and once as negative: 2 reg e / n. */
    for (size_t j = 0; j < d; ++j)
        ck_assert_close(g_full[(nu + 2) * d + j], 2.0 * regw * e0[(nu + 2) * d + j] / 3.0, 1e-6, 1e-9);
    ck_assert_status(cns_model_backward(m, users, pos, NULL, n, &rl), CNS_OK);
    for (size_t j = 0; j < d; ++j) {
        ck_assert_close(m->grad_ego[(nu + 3) * d + j], 0.0, 0, 0); /* only ever a negative */
        ck_assert_close(m->grad_ego[(nu + 2) * d + j], regw * e0[(nu + 2) * d + j] / 3.0, 1e-6, 1e-9);
    }
    free(g_full);
    free(e0);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* Forward and backward at every (threads, kernel) pair must give the same
 * bits as 1 thread on the baseline kernel: each output row is one sum in
 * one order whoever computes it. Kernels the CPU lacks fall back to a
 * narrower one, which still has to agree. */
START_TEST(test_bit_identical_across_threads_and_kernels) {
    cns_dataset *ds = random_graph(300, 200, 4000, 17);
    const size_t d = 77; /* the 64-wide path, an 8-wide block and a tail of 5 */
    float *emb1 = NULL, *grad1 = NULL;
    size_t total = 0;
    for (int kernel = 1; kernel <= 3; ++kernel)
        for (int threads = 1; threads <= 3; ++threads) {
            cns_model *m = make_model(ds, (int)d, 3, 21);
            m->adj.kernel = kernel;
            ck_assert_status(cns_model_set_int(m, CNS_MODEL_THREADS, threads), CNS_OK);
            ck_assert_status(cns_model_forward(m), CNS_OK);
            total = m->rows * d;
            /* A gradient on some rows (the live mask matters), then the backward. */
            float *g = malloc(150 * d * sizeof *g);
            int32_t ids[150];
            for (int32_t k = 0; k < 150; ++k) ids[k] = (k * 7) % 200;
            for (size_t x = 0; x < 150 * d; ++x) g[x] = (float)sin(0.1 * (double)x);
            ck_assert_status(cns_model_zero_grad(m), CNS_OK);
            ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, ids, 150, g), CNS_OK);
            ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_USERS, ids, 150, g), CNS_OK);
            ck_assert_status(cns_model_backward(m, ids, ids, ids, 150, NULL), CNS_OK);
            if (emb1 == NULL) {
                emb1 = malloc(total * sizeof *emb1);
                grad1 = malloc(total * sizeof *grad1);
                memcpy(emb1, m->emb, total * sizeof *emb1);
                memcpy(grad1, m->grad_ego, total * sizeof *grad1);
            } else {
                ck_assert_msg(memcmp(emb1, m->emb, total * sizeof *emb1) == 0,
                              "embeddings differ at %d threads, kernel %d", threads, kernel);
                ck_assert_msg(memcmp(grad1, m->grad_ego, total * sizeof *grad1) == 0,
                              "gradients differ at %d threads, kernel %d", threads, kernel);
            }
            free(g);
            cns_model_free(m);
        }
    free(emb1);
    free(grad1);
    cns_dataset_free(ds);
}
END_TEST

/* The trainer's forward restricted to a batch's rows (the last layer
 * computes only those): every listed row is bit for bit the full
 * forward's, for 1 to 3 layers, every kernel and 1 to 3 threads, with
 * users and items listed, repeated and out of order, and a row of
 * degree zero. A reference forward runs per model, so stale rows from the
 * restricted pass cannot leak into the comparison. */
START_TEST(test_forward_batch_rows_match_full) {
    cns_dataset *ds = random_graph(300, 200, 4000, 23);
    const size_t d = 77;
    /* Users 5, 299, 5 (repeated); items from a stride, one of them item 199
     * (popular-skewed data leaves high ids with few or no users). */
    const int32_t users[] = {5, 299, 5, 0, 17, 150};
    const int32_t pos[] = {0, 1, 1, 199, 42, 100};
    const int32_t neg[] = {198, 3, 77, 0, 199, 63};
    const size_t n = sizeof users / sizeof users[0];
    for (int layers = 1; layers <= 3; ++layers)
        for (int kernel = 1; kernel <= 3; ++kernel)
            for (int threads = 1; threads <= 3; ++threads) {
                cns_model *m = make_model(ds, (int)d, layers, 29);
                m->adj.kernel = kernel;
                ck_assert_status(cns_model_set_int(m, CNS_MODEL_THREADS, threads), CNS_OK);
                ck_assert_status(cns_model_forward(m), CNS_OK);
                float *full = malloc(m->rows * d * sizeof *full);
                memcpy(full, m->emb, m->rows * d * sizeof *full);
                /* The bound Adam would have recorded: the restriction runs
                 * only with a known, small max |E0|. */
                float mx = 0.0f;
                for (size_t x = 0; x < m->rows * d; ++x) mx = fmaxf(mx, fabsf(m->ego[x]));
                m->adam.bounded = 1;
                m->adam.max_param = mx;
                /* Scribble over E and the scratch layers, so only the
                 * restricted pass can restore the rows. */
                for (size_t x = 0; x < m->rows * d; ++x) {
                    m->emb[x] = -7.0f;
                    if (m->s1) m->s1[x] = 5.0f;
                    if (m->s2) m->s2[x] = 3.0f;
                }
                ck_assert_status(cns__model_forward_batch(m, users, pos, neg, n), CNS_OK);
                const size_t nu = 300;
                size_t listed = 0, stale = 0;
                for (size_t r = 0; r < m->rows; ++r) {
                    int want = 0;
                    for (size_t b = 0; b < n; ++b)
                        want |= r == (size_t)users[b] || r == nu + (size_t)pos[b] ||
                                r == nu + (size_t)neg[b];
                    if (!want) {
                        stale += memcmp(full + r * d, m->emb + r * d, d * sizeof *full) != 0;
                        continue;
                    }
                    ++listed;
                    ck_assert_msg(memcmp(full + r * d, m->emb + r * d, d * sizeof *full) == 0,
                                  "row %zu differs (layers %d, kernel %d, %d threads)", r, layers,
                                  kernel, threads);
                }
                ck_assert_uint_eq(listed, 5 + 9); /* 5 distinct users, 9 distinct items */
                /* The other rows were skipped (all but rows of degree 0,
                 * whose sums are empty: the random graph has a few). */
                ck_assert_uint_gt(stale, m->rows / 2);
                /* Without a bound, or with one that allows an overflow
                 * somewhere, every row is computed. */
                for (int q = 0; q < 2; ++q) {
                    m->adam.bounded = q == 0 ? 0 : 1;
                    m->adam.max_param = q == 0 ? mx : 1e37f;
                    for (size_t x = 0; x < m->rows * d; ++x) m->emb[x] = -7.0f;
                    ck_assert_status(cns__model_forward_batch(m, users, pos, neg, n), CNS_OK);
                    ck_assert_int_eq(memcmp(full, m->emb, m->rows * d * sizeof *full), 0);
                }
                m->adam.bounded = 1;
                m->adam.max_param = mx;
                /* An empty batch is accepted; a full forward afterwards
                 * restores every row. */
                ck_assert_status(cns__model_forward_batch(m, users, pos, neg, 0), CNS_OK);
                ck_assert_status(cns_model_forward(m), CNS_OK);
                ck_assert_int_eq(memcmp(full, m->emb, m->rows * d * sizeof *full), 0);
                free(full);
                cns_model_free(m);
            }
    /* Ids out of range are refused, naming the array. */
    cns_model *m = make_model(ds, 8, 2, 29);
    const int32_t bad_item[] = {200};
    ck_assert_status(cns__model_forward_batch(m, users, pos, bad_item, 1), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "neg[0]"));
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* Every kernel against the dense reference, not just the one the CPU picks. */
START_TEST(test_every_kernel_matches_dense) {
    cns_dataset *ds = random_graph(23, 17, 90, 3);
    for (int kernel = 1; kernel <= 3; ++kernel) {
        cns_model *m = make_model(ds, 72, 2, 7);
        m->adj.kernel = kernel;
        ck_assert_status(cns_model_forward(m), CNS_OK);
        size_t n = m->rows, d = 72;
        double *a = dense_adj(ds), *e0 = ego_double(m), *e = malloc(n * d * sizeof *e);
        dense_propagate(a, n, d, 2, e0, e);
        for (size_t x = 0; x < n * d; ++x) ck_assert_close(m->emb[x], e[x], 1e-5, 1e-6);
        free(a);
        free(e0);
        free(e);
        cns_model_free(m);
    }
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_propagate_direct) {
    /* The kernel on its own with more threads than rows: Â of the hand
     * graph applied once (L = 1) to E0 = node index in column 0. */
    cns_dataset *ds = small_graph();
    cns_model *m = make_model(ds, 1, 1, 1);
    float in[7] = {0, 1, 2, 3, 4, 5, 6}, out[7];
    ck_assert_int_eq(cns__lightgcn_propagate(&m->adj, 1, 1, in, NULL, out, NULL, NULL, 16), 0);
    /* (Â in)[u0] = 0.5*4 + 0.5*5 = 4.5; [u1] = r2*4; [u2] = r2*5; [u3] = 0;
     * [i0] = 0.5*0 + r2*1; [i1] = 0.5*0 + r2*2; [i2] = 0. out = (in + Â in)/2. */
    const double r2 = 0.70710678118654752;
    const double ahat[7] = {4.5, r2 * 4, r2 * 5, 0, r2, 2 * r2, 0};
    for (int r = 0; r < 7; ++r) ck_assert_close(out[r], (in[r] + ahat[r]) / 2.0, 1e-6, 1e-7);

    /* The live mask: rows flagged 0 are zero, so the result must not change. */
    float sparse[7] = {0, 1, 0, 3, 0, 5, 0}, o1[7], o2[7];
    const unsigned char live[7] = {0, 1, 0, 1, 0, 1, 0};
    ck_assert_int_eq(cns__lightgcn_propagate(&m->adj, 1, 1, sparse, NULL, o1, NULL, NULL, 1), 0);
    const cns__prop_rows rows = {live, m->live_row_ptr, m->live_col, m->live_val, NULL, 0};
    ck_assert_int_eq(cns__lightgcn_propagate(&m->adj, 1, 1, sparse, &rows, o2, NULL, NULL, 2), 0);
    for (int r = 0; r < 7; ++r) ck_assert_float_eq(o1[r], o2[r]);
    /* [i1] = (5 + 0.5*0 + r2*0) / 2 ... and u0 = (0 + 0.5*0 + 0.5*5)/2 = 1.25. */
    ck_assert_close(o1[0], 1.25, 1e-7, 0);

    /* A non-finite input is reported; a finite one is not. */
    in[4] = INFINITY;
    ck_assert_int_eq(cns__lightgcn_propagate(&m->adj, 1, 1, in, NULL, out, NULL, NULL, 3), 1);
    in[4] = 3e38f; /* large but finite: every sum stays below FLT_MAX */
    ck_assert_int_eq(cns__lightgcn_propagate(&m->adj, 1, 1, in, NULL, out, NULL, NULL, 3), 0);
    /* u0 = (3e38 + (0.5*3e38 + 0.5*3e38)) / 2: the sum overflows before the scale. */
    in[0] = in[5] = 3e38f;
    ck_assert_int_eq(cns__lightgcn_propagate(&m->adj, 1, 1, in, NULL, out, NULL, NULL, 3), 1);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

int main(void) {
    Suite *s = suite_create("lightgcn");
    TCase *tc = tcase_create("lightgcn");
    tcase_add_test(tc, test_adjacency_by_hand);
    tcase_add_test(tc, test_forward_matches_dense_reference);
    tcase_add_test(tc, test_zero_degree_rows);
    tcase_add_test(tc, test_backward_finite_differences);
    tcase_add_test(tc, test_l2_term_and_gradient);
    tcase_add_test(tc, test_bit_identical_across_threads_and_kernels);
    tcase_add_test(tc, test_forward_batch_rows_match_full);
    tcase_add_test(tc, test_every_kernel_matches_dense);
    tcase_add_test(tc, test_propagate_direct);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
