/* The batcher (ALGORITHM.md §3): coverage of every pair per epoch, valid
 * and uniform negatives, determinism in (seed, epoch), saturation and
 * misuse. */
#include "dataset_internal.h"
#include "testutil.h"

#define ck_assert_contains(hay, needle)                                                  \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "'%s' does not contain '%s'", (hay), \
                  (needle))

#define NU 300
#define NI 80

/* User u has 1 + (u % 29) distinct items out of NI. */
static cns_dataset *random_dataset(uint32_t seed) {
    size_t cap = (size_t)NU * 30;
    int32_t *uu = malloc(cap * sizeof *uu), *ii = malloc(cap * sizeof *ii);
    size_t n = 0;
    uint32_t x = seed * 2654435761u + 1;
    for (int32_t u = 0; u < NU; ++u) {
        int want = 1 + u % 29;
        char seen[NI] = {0};
        while (want > 0) {
            x = x * 1664525u + 1013904223u;
            int it = (int)((x >> 8) % NI);
            if (seen[it]) continue;
            seen[it] = 1;
            uu[n] = u;
            ii[n++] = it;
            --want;
        }
    }
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(uu, ii, n, NU, NI, NULL, &ds, NULL), CNS_OK);
    free(uu);
    free(ii);
    return ds;
}

/* Runs one epoch, checking each batch; the triples go to u/p/g (nnz each). */
static void run_epoch(cns_batcher *b, const cns_dataset *ds, uint64_t epoch, int32_t *u,
                      int32_t *p, int32_t *g) {
    ck_assert_status(cns_batcher_begin_epoch(b, epoch), CNS_OK);
    size_t nnz = cns_dataset_num_interactions(ds), bs = cns_batcher_batch_size(b), got = 0;
    size_t batches = 0;
    for (;;) {
        const int32_t *bu, *bp, *bg;
        size_t n = 99;
        ck_assert_status(cns_batcher_next(b, &bu, &bp, &bg, &n), CNS_OK);
        if (n == 0) break;
        ++batches;
        /* Full batches, except possibly the last. */
        ck_assert_uint_eq(n, got + bs <= nnz ? bs : nnz - got);
        memcpy(u + got, bu, n * sizeof *u);
        memcpy(p + got, bp, n * sizeof *p);
        memcpy(g + got, bg, n * sizeof *g);
        got += n;
    }
    ck_assert_uint_eq(got, nnz);
    ck_assert_uint_eq(batches, cns_batcher_num_batches(b));
    /* The end stays the end. */
    const int32_t *bu, *bp, *bg;
    size_t n = 99;
    ck_assert_status(cns_batcher_next(b, &bu, &bp, &bg, &n), CNS_OK);
    ck_assert_uint_eq(n, 0);
}

START_TEST(test_every_pair_once_and_valid_negatives) {
    cns_dataset *ds = random_dataset(1);
    size_t nnz = cns_dataset_num_interactions(ds);
    cns_batcher *b = NULL;
    cns_error e;
    ck_assert_status(cns_batcher_create(ds, 97, 5, NULL, &b, &e), CNS_OK);
    ck_assert_uint_eq(cns_batcher_batch_size(b), 97);
    ck_assert_uint_eq(cns_batcher_num_batches(b), (nnz + 96) / 97);
    ck_assert_uint_ne(nnz % 97, 0); /* so the short last batch is exercised */
    int32_t *u = malloc(nnz * 4), *p = malloc(nnz * 4), *g = malloc(nnz * 4);
    for (uint64_t epoch = 0; epoch < 3; ++epoch) {
        run_epoch(b, ds, epoch, u, p, g);
        static unsigned char seen[NU][NI];
        memset(seen, 0, sizeof seen);
        for (size_t k = 0; k < nnz; ++k) {
            ck_assert(u[k] >= 0 && u[k] < NU && p[k] >= 0 && p[k] < NI);
            ck_assert(cns_dataset_contains(ds, u[k], p[k]));
            seen[u[k]][p[k]]++;
            ck_assert(g[k] >= 0 && g[k] < NI);
            ck_assert_msg(!cns_dataset_contains(ds, u[k], g[k]), "negative %d of user %d is observed",
                          (int)g[k], (int)u[k]);
        }
        /* nnz triples, each pair of ds seen once: so every pair exactly once. */
        for (size_t k = 0; k < nnz; ++k) {
            int32_t uu, ii;
            ck_assert_status(cns_dataset_pair(ds, k, &uu, &ii), CNS_OK);
            ck_assert_int_eq(seen[uu][ii], 1);
        }
    }
    free(u);
    free(p);
    free(g);
    cns_batcher_free(b);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_deterministic_in_seed_and_epoch) {
    cns_dataset *ds = random_dataset(2);
    size_t nnz = cns_dataset_num_interactions(ds);
    cns_batcher *a = NULL, *b = NULL, *c = NULL;
    ck_assert_status(cns_batcher_create(ds, 64, 42, NULL, &a, NULL), CNS_OK);
    ck_assert_status(cns_batcher_create(ds, 64, 42, NULL, &b, NULL), CNS_OK);
    ck_assert_status(cns_batcher_create(ds, 64, 43, NULL, &c, NULL), CNS_OK);
    int32_t *buf[6][3];
    for (int k = 0; k < 6; ++k)
        for (int j = 0; j < 3; ++j) buf[k][j] = malloc(nnz * 4);
    run_epoch(a, ds, 7, buf[0][0], buf[0][1], buf[0][2]);
    /* b runs other epochs first: epoch 7 must not depend on them. */
    run_epoch(b, ds, 1, buf[1][0], buf[1][1], buf[1][2]);
    run_epoch(b, ds, 8, buf[2][0], buf[2][1], buf[2][2]);
    run_epoch(b, ds, 7, buf[3][0], buf[3][1], buf[3][2]);
    run_epoch(c, ds, 7, buf[4][0], buf[4][1], buf[4][2]);
    run_epoch(a, ds, 7, buf[5][0], buf[5][1], buf[5][2]); /* repeat on the same handle */
    for (int j = 0; j < 3; ++j) {
        ck_assert_mem_eq(buf[0][j], buf[3][j], nnz * 4);
        ck_assert_mem_eq(buf[0][j], buf[5][j], nnz * 4);
    }
    /* Other epochs and other seeds give other orders and negatives. */
    size_t d_epoch = 0, d_seed = 0, d_neg = 0;
    for (size_t k = 0; k < nnz; ++k) {
        d_epoch += buf[0][0][k] != buf[2][0][k] || buf[0][1][k] != buf[2][1][k];
        d_seed += buf[0][0][k] != buf[4][0][k] || buf[0][1][k] != buf[4][1][k];
        d_neg += buf[0][2][k] != buf[2][2][k];
    }
    ck_assert_uint_gt(d_epoch, nnz * 9 / 10);
    ck_assert_uint_gt(d_seed, nnz * 9 / 10);
    ck_assert_uint_gt(d_neg, nnz / 2);
    for (int k = 0; k < 6; ++k)
        for (int j = 0; j < 3; ++j) free(buf[k][j]);
    cns_batcher_free(a);
    cns_batcher_free(b);
    cns_batcher_free(c);
    cns_dataset_free(ds);
}
END_TEST

/* Negatives are uniform over each user's unobserved items, on both paths:
 * 300 sparse users (items {0,2,4,6,8} of 20, rejection) and 300 dense
 * users (all but {0,7,8,13,19}, 15 > 20/2: the k-th unobserved item). */
START_TEST(test_negatives_uniform_chi_square) {
    enum { SPARSE = 300, DENSE = 300, M = 20, EPOCHS = 4 };
    static const int32_t free_dense[5] = {0, 7, 8, 13, 19};
    size_t n = SPARSE * 5 + DENSE * 15;
    int32_t *uu = malloc(n * 4), *ii = malloc(n * 4);
    size_t w = 0;
    for (int32_t u = 0; u < SPARSE; ++u)
        for (int32_t i = 0; i < 10; i += 2) uu[w] = u, ii[w++] = i;
    for (int32_t u = SPARSE; u < SPARSE + DENSE; ++u)
        for (int32_t i = 0; i < M; ++i)
            if (i != 0 && i != 7 && i != 8 && i != 13 && i != 19) uu[w] = u, ii[w++] = i;
    ck_assert_uint_eq(w, n);
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(uu, ii, n, 0, M, NULL, &ds, NULL), CNS_OK);
    cns_batcher *b = NULL;
    ck_assert_status(cns_batcher_create(ds, 256, 99, NULL, &b, NULL), CNS_OK);
    long sparse_hist[M] = {0}, dense_hist[M] = {0};
    for (uint64_t ep = 0; ep < EPOCHS; ++ep) {
        ck_assert_status(cns_batcher_begin_epoch(b, ep), CNS_OK);
        const int32_t *bu, *bp, *bg;
        size_t cnt;
        while (cns_batcher_next(b, &bu, &bp, &bg, &cnt) == CNS_OK && cnt > 0)
            for (size_t k = 0; k < cnt; ++k) {
                ck_assert(bg[k] >= 0 && bg[k] < M);
                if (bu[k] < SPARSE)
                    sparse_hist[bg[k]]++;
                else
                    dense_hist[bg[k]]++;
            }
    }
    /* Sparse: 15 free items, 300*5*4 = 6000 draws, 400 expected each;
     * chi-square 14 dof, P(X > 36.12) = 0.001. Dense: 5 free items,
     * 300*15*4 = 18000 draws, 3600 each; 4 dof, P(X > 18.47) = 0.001.
     * (Critical values from the chi-square survival function, python3:
     *  Q = 1 - regularized lower gamma(k/2, x/2), bisected at 1e-3.) */
    double chi_s = 0, chi_d = 0;
    for (int i = 0; i < M; ++i) {
        int sparse_obs = i < 10 && i % 2 == 0;
        int dense_free = 0;
        for (int k = 0; k < 5; ++k) dense_free |= free_dense[k] == i;
        if (sparse_obs)
            ck_assert_int_eq(sparse_hist[i], 0);
        else
            chi_s += (sparse_hist[i] - 400.0) * (sparse_hist[i] - 400.0) / 400.0;
        if (!dense_free)
            ck_assert_int_eq(dense_hist[i], 0);
        else
            chi_d += (dense_hist[i] - 3600.0) * (dense_hist[i] - 3600.0) / 3600.0;
    }
    ck_assert_msg(chi_s < 36.12, "sparse chi-square %g", chi_s);
    ck_assert_msg(chi_d < 18.47, "dense chi-square %g", chi_d);
    cns_batcher_free(b);
    cns_dataset_free(ds);
    free(uu);
    free(ii);
}
END_TEST

START_TEST(test_saturated_user) {
    /* User 1 has every one of the 3 items; user 0 has one. */
    const int32_t u[] = {0, 1, 1, 1}, i[] = {0, 0, 1, 2};
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(u, i, 4, 0, 0, NULL, &ds, NULL), CNS_OK);
    cns_batcher *b = NULL;
    ck_assert_status(cns_batcher_create(ds, 4, 1, NULL, &b, NULL), CNS_OK);
    ck_assert_status(cns_batcher_begin_epoch(b, 0), CNS_OK);
    const int32_t *bu, *bp, *bg;
    size_t n = 99;
    ck_assert_status(cns_batcher_next(b, &bu, &bp, &bg, &n), CNS_E_SATURATED);
    ck_assert_uint_eq(n, 0);
    ck_assert_contains(cns_batcher_last_error(b), "user 1 ");
    /* With one pair per batch only user 1's batches fail. */
    cns_batcher *one = NULL;
    ck_assert_status(cns_batcher_create(ds, 1, 1, NULL, &one, NULL), CNS_OK);
    ck_assert_status(cns_batcher_begin_epoch(one, 0), CNS_OK);
    int ok = 0, sat = 0;
    for (int k = 0; k < 4; ++k) {
        cns_status st = cns_batcher_next(one, &bu, &bp, &bg, &n);
        if (st == CNS_OK) {
            ck_assert_uint_eq(n, 1);
            ck_assert_int_eq(bu[0], 0);
            ++ok;
        } else {
            ck_assert_status(st, CNS_E_SATURATED);
            ++sat;
            /* The failing batch is not consumed: asking again fails again. */
            ck_assert_status(cns_batcher_next(one, &bu, &bp, &bg, &n), CNS_E_SATURATED);
            break;
        }
    }
    ck_assert_int_eq(sat, 1);
    ck_assert_int_le(ok, 1);
    cns_batcher_free(one);
    cns_batcher_free(b);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_misuse) {
    cns_dataset *ds = random_dataset(3);
    cns_batcher *b = (cns_batcher *)1;
    cns_error e;
    ck_assert_status(cns_batcher_create(NULL, 8, 1, NULL, &b, &e), CNS_E_ARG);
    ck_assert_ptr_null(b);
    ck_assert_status(cns_batcher_create(ds, 0, 1, NULL, &b, &e), CNS_E_ARG);
    ck_assert_contains(e.message, "batch_size");
    ck_assert_status(cns_batcher_create(ds, 8, 1, NULL, NULL, &e), CNS_E_ARG);
    cns_allocator half = {NULL, NULL, NULL};
    ck_assert_status(cns_batcher_create(ds, 8, 1, &half, &b, &e), CNS_E_ARG);
    ck_assert_status(cns_batcher_create(ds, 8, 1, NULL, &b, &e), CNS_OK);
    const int32_t *bu, *bp, *bg;
    size_t n;
    ck_assert_status(cns_batcher_next(b, &bu, &bp, &bg, &n), CNS_E_STATE);
    ck_assert_contains(cns_batcher_last_error(b), "begin_epoch");
    ck_assert_status(cns_batcher_begin_epoch(b, 0), CNS_OK);
    ck_assert_str_eq(cns_batcher_last_error(b), "");
    ck_assert_status(cns_batcher_next(b, NULL, &bp, &bg, &n), CNS_E_ARG);
    ck_assert_status(cns_batcher_next(b, &bu, &bp, &bg, NULL), CNS_E_ARG);
    ck_assert_status(cns_batcher_next(NULL, &bu, &bp, &bg, &n), CNS_E_ARG);
    ck_assert_status(cns_batcher_begin_epoch(NULL, 0), CNS_E_ARG);
    ck_assert_uint_eq(cns_batcher_num_batches(NULL), 0);
    ck_assert_uint_eq(cns_batcher_batch_size(NULL), 0);
    ck_assert_ptr_nonnull(cns_batcher_last_error(NULL));
    cns_batcher_free(b);
    cns_batcher_free(NULL);
    /* A batch larger than the data: one batch holding everything. */
    ck_assert_status(cns_batcher_create(ds, (size_t)1 << 40, 1, NULL, &b, &e), CNS_OK);
    ck_assert_uint_eq(cns_batcher_num_batches(b), 1);
    ck_assert_status(cns_batcher_begin_epoch(b, 0), CNS_OK);
    ck_assert_status(cns_batcher_next(b, &bu, &bp, &bg, &n), CNS_OK);
    ck_assert_uint_eq(n, cns_dataset_num_interactions(ds));
    cns_batcher_free(b);
    cns_dataset_free(ds);
}
END_TEST

typedef struct fail_alloc {
    size_t live;
    long calls, fail_at;
} fail_alloc;
static void *fa_alloc(void *user, size_t n) {
    fail_alloc *f = user;
    if (f->calls++ == f->fail_at) return NULL;
    void *p = malloc(n);
    if (p) f->live++;
    return p;
}
static void fa_free(void *user, void *p) {
    fail_alloc *f = user;
    if (p) f->live--;
    free(p);
}

START_TEST(test_create_survives_allocation_failures) {
    cns_dataset *ds = random_dataset(4);
    int succeeded = 0;
    for (long at = 0; at < 50 && !succeeded; ++at) {
        fail_alloc f = {0, 0, at};
        cns_allocator a = {fa_alloc, fa_free, &f};
        cns_batcher *b = (cns_batcher *)1;
        cns_error e;
        cns_status st = cns_batcher_create(ds, 16, 1, &a, &b, &e);
        if (st == CNS_OK) {
            succeeded = 1;
            /* next() allocates nothing: a whole epoch with no new calls. */
            long calls = f.calls;
            ck_assert_status(cns_batcher_begin_epoch(b, 0), CNS_OK);
            const int32_t *bu, *bp, *bg;
            size_t n;
            do ck_assert_status(cns_batcher_next(b, &bu, &bp, &bg, &n), CNS_OK);
            while (n > 0);
            ck_assert_int_eq(f.calls, calls);
            cns_batcher_free(b);
        } else {
            ck_assert_status(st, CNS_E_NOMEM);
            ck_assert_ptr_null(b);
        }
        ck_assert_uint_eq(f.live, 0);
    }
    ck_assert(succeeded);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_food_epoch) {
    char buf[512];
    const char *path = cns_test_shared_path("data/food/train.txt", buf, sizeof buf);
    if (path == NULL) return; /* data absent */
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_load_file(path, 0, NULL, &ds, NULL), CNS_OK);
    size_t nnz = cns_dataset_num_interactions(ds);
    cns_batcher *b = NULL;
    ck_assert_status(cns_batcher_create(ds, 2048, 2026, NULL, &b, NULL), CNS_OK);
    int32_t *u = malloc(nnz * 4), *p = malloc(nnz * 4), *g = malloc(nnz * 4);
    run_epoch(b, ds, 0, u, p, g);
    int32_t m = cns_dataset_num_items(ds);
    for (size_t k = 0; k < nnz; ++k) {
        ck_assert(cns_dataset_contains(ds, u[k], p[k]));
        ck_assert(g[k] >= 0 && g[k] < m && !cns_dataset_contains(ds, u[k], g[k]));
    }
    free(u);
    free(p);
    free(g);
    cns_batcher_free(b);
    cns_dataset_free(ds);
}
END_TEST

int main(void) {
    Suite *s = suite_create("batcher");
    TCase *tc = tcase_create("batcher");
    tcase_add_test(tc, test_every_pair_once_and_valid_negatives);
    tcase_add_test(tc, test_deterministic_in_seed_and_epoch);
    tcase_add_test(tc, test_negatives_uniform_chi_square);
    tcase_add_test(tc, test_saturated_user);
    tcase_add_test(tc, test_misuse);
    tcase_add_test(tc, test_create_survives_allocation_failures);
    tcase_add_test(tc, test_food_epoch);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
