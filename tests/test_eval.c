/* Top-K evaluation (ALGORITHM.md §11): hand-computed small cases, the
 * rules of eval.h, argument checks, and a brute-force full-sort reference
 * on random embeddings across thread counts and block sizes. */
#include "alloc.h"
#include "testutil.h"

#define NM CNS_METRIC_COUNT
#define L2_3 0.63092975357145743710 /* 1 / log2(3) */

static cns_dataset *make_ds(const int32_t *u, const int32_t *i, size_t n, int32_t nu, int32_t ni) {
    cns_dataset *ds = NULL;
    cns_error e;
    ck_assert_status(cns_dataset_from_arrays(u, i, n, nu, ni, NULL, &ds, &e), CNS_OK);
    return ds;
}

/* ---- the hand case ------------------------------------------------------
 * dim 1. Item scores v = {1, 6, 3, 5, 2, 4} for items 0..5; user 0 and 1
 * have embedding +1 (rank by v descending), user 2 has -1 (ascending);
 * users 3 and 4 only train (no test items).
 *   train: u0 {1}, u1 {1,3}, u2 {0,1}, u3 {2,5}, u4 {2,4,5}
 *   test:  u0 {0,5}, u1 {3,5} (3 is masked: a training item), u2 {2,3,4}
 *   popularity: p = {1, 3, 2, 1, 1, 2}
 * Ranked lists after masking:
 *   u0: 3, 5, 2, 4, 0      hits at rank 1 (item 5)
 *   u1: 5, 2, 4, 0         hit at rank 0 (item 5); item 3 can never be hit
 *   u2: 4, 2, 5, 3         hits at ranks 0 and 1 (items 4, 2)
 * Per user (a = 1/log2 3 = 0.63093):
 *   K=1: recall 0, 1/2, 1/3   ndcg 0, 1, 1      prec 0, 1, 1     hits 0,1,1
 *   K=2: recall 1/2,1/2,2/3   ndcg a/(1+a), 1/(1+a), 1   prec 1/2,1/2,1
 *   K=3: recall 1/2,1/2,2/3   ndcg a/(1+a), 1/(1+a), (1+a)/(1+a+1/2)
 *        prec 1/3, 1/3, 2/3
 * Means: K=1 recall 5/18, ndcg 2/3, prec 2/3, hit 2/7 (sum |T| = 7)
 *        K=2 recall 5/9,  ndcg 2/3, prec 2/3, hit 4/7
 *        K=3 recall 5/9,  ndcg (1 + (1+a)/(1.5+a))/3, prec 4/9, hit 4/7
 * IPS, gamma = 1: w = 1/max(p,1) = {1, 1/3, 1/2, 1, 1, 1/2}
 *   u0 T weights {1, 1/2}, sum 1.5; u1 {1 (item 3), 1/2}, 1.5; u2 {1/2,1,1}, 2.5
 *   K=1: ips_recall 0, (1/2)/1.5, 1/2.5; ips_ndcg 0, (1/2)/1, 1/1
 *   K=2: ips_recall 1/3, 1/3, 1.5/2.5
 *        ips_ndcg (a/2)/(1+a/2), (1/2)/(1+a/2), (1+a/2)/(1+a)
 *   K=3: ips_ndcg u2 = (1+a/2)/(1+a+(1/2)(1/2)), others as K=2
 * Checked with this float64 script:
 *   from math import log2
 *   v={0:1,1:6,2:3,3:5,4:2,5:4}; emb={0:1,1:1,2:-1}
 *   train={0:[1],1:[1,3],2:[0,1],3:[5,2],4:[5,4,2]}; test={0:[0,5],1:[5,3],2:[2,3,4]}
 *   pop={i:sum(i in t for t in train.values()) for i in range(6)}
 *   def run(g):
 *     w={i:1/max(pop[i],1)**g for i in range(6)}
 *     for K in (1,2,3):
 *       acc=[0]*6; hs=0; ts=0
 *       for u,T in test.items():
 *         c=[i for i in range(6) if i not in train[u]]
 *         c.sort(key=lambda i:(-emb[u]*v[i],i)); L=c[:K]
 *         h=[r for r,i in enumerate(L) if i in T]
 *         dcg=sum(1/log2(r+2) for r in h); idcg=sum(1/log2(r+2) for r in range(min(len(T),K)))
 *         ws=sorted((w[i] for i in T),reverse=True)
 *         ih=sum(w[L[r]] for r in h); idc=sum(w[L[r]]/log2(r+2) for r in h)
 *         iidcg=sum(ws[r]/log2(r+2) for r in range(min(len(T),K)))
 *         for j,x in enumerate([len(h)/len(T),dcg/idcg,len(h)/K,0,ih/sum(ws),idc/iidcg]): acc[j]+=x/3
 *         hs+=len(h); ts+=len(T)
 *       acc[3]=hs/ts; print(g,K,acc)
 *   run(1); run(0) */
static const double k_hand_g1[3][NM] = {
    {0.277777777777778, 0.666666666666667, 0.666666666666667, 0.285714285714286,
     0.244444444444444, 0.500000000000000},
    {0.555555555555556, 0.666666666666667, 0.666666666666667, 0.571428571428571,
     0.422222222222222, 0.475493276555598},
    {0.555555555555556, 0.588453545662874, 0.444444444444444, 0.571428571428571,
     0.422222222222222, 0.439758573418704},
};

static const int32_t k_tr_u[] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
static const int32_t k_tr_i[] = {1, 1, 3, 0, 1, 5, 2, 5, 4, 2};
static const int32_t k_te_u[] = {0, 0, 1, 1, 2, 2, 2};
static const int32_t k_te_i[] = {0, 5, 5, 3, 2, 3, 4};
static const float k_item_v[6] = {1, 6, 3, 5, 2, 4};
static const float k_user_v[5] = {1, 1, -1, 1, 1};

typedef struct hand {
    cns_dataset *train, *test;
    cns_evaluator *ev;
} hand;

static hand hand_make(void) {
    hand h;
    h.train = make_ds(k_tr_u, k_tr_i, 10, 0, 0);
    h.test = make_ds(k_te_u, k_te_i, 7, 0, 6);
    cns_error e;
    ck_assert_status(cns_evaluator_create(h.train, NULL, &h.ev, &e), CNS_OK);
    return h;
}

static void hand_free(hand *h) {
    cns_evaluator_free(h->ev);
    cns_dataset_free(h->test);
    cns_dataset_free(h->train);
}

START_TEST(test_hand_metrics) {
    hand h = hand_make();
    int32_t ks[3] = {1, 2, 3};
    double out[3 * NM];
    size_t n = 0;
    double g;
    ck_assert_status(cns_evaluator_get_double(h.ev, CNS_EVAL_IPS_GAMMA, &g), CNS_OK);
    ck_assert_close(g, 1.0, 0, 0);
    ck_assert_status(cns_evaluator_run(h.ev, k_user_v, 5, k_item_v, 6, 1, h.test, ks, 3, out, &n),
                     CNS_OK);
    ck_assert_uint_eq(n, 3);
    for (int r = 0; r < 3; ++r)
        for (int m = 0; m < NM; ++m) ck_assert_close(out[r * NM + m], k_hand_g1[r][m], 1e-12, 1e-13);
    /* Closed forms of the comment, as a second check on the table. */
    ck_assert_close(out[2 * NM + CNS_METRIC_NDCG], (1.0 + (1 + L2_3) / (1.5 + L2_3)) / 3, 1e-12, 0);
    ck_assert_close(out[1 * NM + CNS_METRIC_IPS_NDCG],
                    ((L2_3 / 2) / (1 + L2_3 / 2) + 0.5 / (1 + L2_3 / 2) + (1 + L2_3 / 2) / (1 + L2_3)) / 3,
                    1e-12, 0);
    hand_free(&h);
}
END_TEST

START_TEST(test_ips_gamma_zero_equals_plain) {
    hand h = hand_make();
    int32_t ks[3] = {3, 1, 2}; /* any order: rows follow ks */
    double out[3 * NM];
    ck_assert_status(cns_evaluator_set_double(h.ev, CNS_EVAL_IPS_GAMMA, 0.0), CNS_OK);
    ck_assert_status(cns_evaluator_run(h.ev, k_user_v, 5, k_item_v, 6, 1, h.test, ks, 3, out, NULL),
                     CNS_OK);
    for (int r = 0; r < 3; ++r) {
        const double *row = out + r * NM;
        const double *exp = k_hand_g1[ks[r] - 1];
        ck_assert_close(row[CNS_METRIC_IPS_RECALL], row[CNS_METRIC_RECALL], 1e-15, 0);
        ck_assert_close(row[CNS_METRIC_IPS_NDCG], row[CNS_METRIC_NDCG], 1e-15, 0);
        for (int m = 0; m < 4; ++m) ck_assert_close(row[m], exp[m], 1e-12, 1e-13);
    }
    hand_free(&h);
}
END_TEST

/* Scores {3, 5, 1, 5, 5} (dim 1, user +1), nothing masked (the only training
 * pair is user 1's), test u0 = {3, 4}. Ties at 5 between items 1, 3, 4:
 * the order is 1, 3, 4, 0, 2. K=1: [1] no hit. K=2: [1, 3], hit at rank 1:
 * recall 1/2, ndcg a/(1+a). K=3: [1, 3, 4], hits at ranks 1, 2: recall 1,
 * ndcg (a + 1/2)/(1 + a). Item 1 is seen in the fill phase and items 3, 4
 * in the scan, so both paths break ties by id. */
START_TEST(test_ties_smaller_id_wins) {
    int32_t tu[] = {1}, ti[] = {2}, eu[] = {0, 0}, ei[] = {3, 4};
    cns_dataset *tr = make_ds(tu, ti, 1, 2, 5), *te = make_ds(eu, ei, 2, 0, 5);
    cns_evaluator *ev;
    ck_assert_status(cns_evaluator_create(tr, NULL, &ev, NULL), CNS_OK);
    float item[5] = {3, 5, 1, 5, 5}, user[2] = {1, 1};
    int32_t ks[3] = {1, 2, 3};
    double out[3 * NM];
    ck_assert_status(cns_evaluator_run(ev, user, 2, item, 5, 1, te, ks, 3, out, NULL), CNS_OK);
    ck_assert_close(out[0 * NM + CNS_METRIC_RECALL], 0.0, 0, 0);
    ck_assert_close(out[1 * NM + CNS_METRIC_RECALL], 0.5, 0, 0);
    ck_assert_close(out[1 * NM + CNS_METRIC_NDCG], L2_3 / (1 + L2_3), 1e-12, 0);
    ck_assert_close(out[2 * NM + CNS_METRIC_RECALL], 1.0, 0, 0);
    ck_assert_close(out[2 * NM + CNS_METRIC_NDCG], (L2_3 + 0.5) / (1 + L2_3), 1e-12, 0);
    /* Test {3} alone: the K=2 list must be [1, 3], not [1, 4]. */
    cns_dataset_free(te);
    int32_t ei3[] = {3};
    te = make_ds(eu, ei3, 1, 0, 5);
    ck_assert_status(cns_evaluator_run(ev, user, 2, item, 5, 1, te, ks, 3, out, NULL), CNS_OK);
    ck_assert_close(out[0 * NM + CNS_METRIC_RECALL], 0.0, 0, 0);
    ck_assert_close(out[1 * NM + CNS_METRIC_RECALL], 1.0, 0, 0);
    ck_assert_close(out[1 * NM + CNS_METRIC_NDCG], L2_3, 1e-12, 0);
    int32_t k2 = 2;
    ck_assert_status(cns_evaluator_run(ev, user, 2, item, 5, 1, te, &k2, 1, out, NULL), CNS_OK);
    ck_assert_close(out[CNS_METRIC_NDCG], L2_3, 1e-12, 0);
    /* Reversed roles: test {1} is hit at rank 0 for every K. */
    cns_dataset_free(te);
    int32_t ei2[] = {1};
    te = make_ds(eu, ei2, 1, 0, 5);
    ck_assert_status(cns_evaluator_run(ev, user, 2, item, 5, 1, te, ks, 3, out, NULL), CNS_OK);
    for (int r = 0; r < 3; ++r) ck_assert_close(out[r * NM + CNS_METRIC_NDCG], 1.0, 0, 0);
    /* Selection at K = 1 and K = 2 alone puts the tie at the heap's
     * boundary: later items of equal score must not displace it. */
    for (int32_t k = 1; k <= 2; ++k) {
        ck_assert_status(cns_evaluator_run(ev, user, 2, item, 5, 1, te, &k, 1, out, NULL), CNS_OK);
        ck_assert_close(out[CNS_METRIC_NDCG], 1.0, 0, 0);
    }
    cns_evaluator_free(ev);
    cns_dataset_free(te);
    cns_dataset_free(tr);
}
END_TEST

/* 4 items, user 0 trained on {0, 2}: only items 1, 3 are candidates.
 * Scores {4, 1, 3, 2} so the list is [3, 1]. Test {1, 2}: item 2 masked.
 * K=3 (> 2 candidates): hits 1 (item 1 at rank 1), recall 1/2,
 * precision 1/3 (divides by K, not by the list length), ndcg a/(1+a),
 * hit ratio 1/2. */
START_TEST(test_short_list_and_masked_test_items) {
    int32_t tu[] = {0, 0}, ti[] = {0, 2}, eu[] = {0, 0}, ei[] = {1, 2};
    cns_dataset *tr = make_ds(tu, ti, 2, 1, 4), *te = make_ds(eu, ei, 2, 0, 4);
    cns_evaluator *ev;
    ck_assert_status(cns_evaluator_create(tr, NULL, &ev, NULL), CNS_OK);
    float item[4] = {4, 1, 3, 2}, user[1] = {1};
    int32_t ks[2] = {3, 4};
    double out[2 * NM];
    size_t n = 0;
    ck_assert_status(cns_evaluator_run(ev, user, 1, item, 4, 1, te, ks, 2, out, &n), CNS_OK);
    ck_assert_uint_eq(n, 1);
    for (int r = 0; r < 2; ++r) {
        ck_assert_close(out[r * NM + CNS_METRIC_RECALL], 0.5, 0, 0);
        ck_assert_close(out[r * NM + CNS_METRIC_PRECISION], 1.0 / ks[r], 1e-15, 0);
        ck_assert_close(out[r * NM + CNS_METRIC_NDCG], L2_3 / (1 + L2_3), 1e-12, 0);
        ck_assert_close(out[r * NM + CNS_METRIC_HIT], 0.5, 0, 0);
    }
    cns_evaluator_free(ev);
    cns_dataset_free(te);
    cns_dataset_free(tr);
}
END_TEST

/* The hand case plus test users 5 and 6 (absent from training: skipped)
 * and a test item 7 >= 6 items for user 0 (counts, never hit). User 0's
 * |T| becomes 3: K=2 recall 1/3 and ndcg a/(1+a) unchanged (IDCG over
 * min(3,2) = 2). Means at K=2: recall (1/3 + 1/2 + 2/3)/3 = 1/2,
 * ndcg 2/3 as before, hit ratio 4/8 (skipped users add nothing). */
START_TEST(test_skipped_users_and_unknown_items) {
    cns_dataset *train = make_ds(k_tr_u, k_tr_i, 10, 0, 0);
    int32_t eu[] = {0, 0, 0, 1, 1, 2, 2, 2, 5, 6};
    int32_t ei[] = {0, 5, 7, 5, 3, 2, 3, 4, 1, 0};
    cns_dataset *te = make_ds(eu, ei, 10, 0, 0);
    cns_evaluator *ev;
    ck_assert_status(cns_evaluator_create(train, NULL, &ev, NULL), CNS_OK);
    int32_t ks[1] = {2};
    double out[NM];
    size_t n = 0;
    ck_assert_status(cns_evaluator_run(ev, k_user_v, 5, k_item_v, 6, 1, te, ks, 1, out, &n), CNS_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_close(out[CNS_METRIC_RECALL], 0.5, 1e-15, 0);
    ck_assert_close(out[CNS_METRIC_NDCG], 2.0 / 3.0, 1e-12, 0);
    ck_assert_close(out[CNS_METRIC_HIT], 0.5, 1e-15, 0);
    /* IPS, gamma 1: item 7 has no training popularity, so weight 1. User 0:
     * weights {1, 1/2, 1}, sum 2.5, item 5 hit at rank 1: ips_recall 0.2,
     * ips_ndcg (a/2)/(1 + a) (ideal: the two weights 1 at ranks 0, 1).
     * Users 1, 2 as in the hand case at K=2. Means (the hand script with
     * test u0 = [0,5,7] and w over range(8) gives the same):
     * ips_recall (0.2 + 1/3 + 0.6)/3, ips_ndcg
     * ((a/2)/(1+a) + (1/2)/(1+a/2) + (1+a/2)/(1+a))/3 = 0.460031255571978 */
    ck_assert_close(out[CNS_METRIC_IPS_RECALL], (0.2 + 1.0 / 3 + 0.6) / 3, 1e-12, 0);
    ck_assert_close(out[CNS_METRIC_IPS_NDCG], 0.460031255571978, 1e-12, 0);
    /* Only absent users: nothing to evaluate. */
    cns_dataset_free(te);
    int32_t eu2[] = {5, 6}, ei2[] = {1, 0};
    te = make_ds(eu2, ei2, 2, 0, 0);
    n = 99;
    ck_assert_status(cns_evaluator_run(ev, k_user_v, 5, k_item_v, 6, 1, te, ks, 1, out, &n),
                     CNS_E_EMPTY);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_gt((int)strlen(cns_evaluator_last_error(ev)), 0);
    cns_evaluator_free(ev);
    cns_dataset_free(te);
    cns_dataset_free(train);
}
END_TEST

/* Popularity p = {1, 3, 2, 1, 1, 2}: order 1, 2, 5, 0, 3, 4 (ties by id).
 * After masking: u0 {1} -> 2, 5, 0, 3, 4; u1 {1,3} -> 2, 5, 0, 4;
 * u2 {0,1} -> 2, 5, 3, 4. Test u0 {0,5}, u1 {3,5}, u2 {2,3,4}.
 *   K=1: hits 0, 0, 1 -> recall 1/3/3 = 1/9, prec 1/3, ndcg 1/3, hit 1/7
 *   K=2: u0 hit 5 at r1 (recall 1/2, ndcg a/(1+a)); u1 hit 5 at r1 (same);
 *        u2 hit 2 at r0 (recall 1/3, ndcg 1/(1+a)).
 *        recall (1/2+1/2+1/3)/3 = 4/9, ndcg (2a+1)/(1+a)/3, prec 1/2, hit 3/7
 *   K=3: u0 [2,5,0]: hits r1, r2: recall 1, ndcg (a+1/2)/(1+a);
 *        u1 [2,5,0]: hit r1: recall 1/2, ndcg a/(1+a);
 *        u2 [2,5,3]: hits r0, r2: recall 2/3, ndcg 1.5/(1+a+1/2);
 *        prec (2+1+2)/9 = 5/9, hit 5/7. */
START_TEST(test_popularity_ranking) {
    hand h = hand_make();
    int32_t ks[3] = {1, 2, 3};
    double out[3 * NM];
    size_t n = 0;
    ck_assert_status(cns_evaluator_run_popularity(h.ev, h.test, ks, 3, out, &n), CNS_OK);
    ck_assert_uint_eq(n, 3);
    const double a = L2_3;
    ck_assert_close(out[0 * NM + CNS_METRIC_RECALL], 1.0 / 9, 1e-12, 0);
    ck_assert_close(out[0 * NM + CNS_METRIC_PRECISION], 1.0 / 3, 1e-12, 0);
    ck_assert_close(out[0 * NM + CNS_METRIC_NDCG], 1.0 / 3, 1e-12, 0);
    ck_assert_close(out[0 * NM + CNS_METRIC_HIT], 1.0 / 7, 1e-12, 0);
    ck_assert_close(out[1 * NM + CNS_METRIC_RECALL], 4.0 / 9, 1e-12, 0);
    ck_assert_close(out[1 * NM + CNS_METRIC_NDCG], (2 * a + 1) / (1 + a) / 3, 1e-12, 0);
    ck_assert_close(out[1 * NM + CNS_METRIC_PRECISION], 0.5, 1e-12, 0);
    ck_assert_close(out[1 * NM + CNS_METRIC_HIT], 3.0 / 7, 1e-12, 0);
    ck_assert_close(out[2 * NM + CNS_METRIC_RECALL], (1 + 0.5 + 2.0 / 3) / 3, 1e-12, 0);
    ck_assert_close(out[2 * NM + CNS_METRIC_NDCG],
                    ((a + 0.5) / (1 + a) + a / (1 + a) + 1.5 / (1.5 + a)) / 3, 1e-12, 0);
    ck_assert_close(out[2 * NM + CNS_METRIC_PRECISION], 5.0 / 9, 1e-12, 0);
    ck_assert_close(out[2 * NM + CNS_METRIC_HIT], 5.0 / 7, 1e-12, 0);
    hand_free(&h);
}
END_TEST

static void check_msg(const cns_evaluator *ev) {
    const char *m = cns_evaluator_last_error(ev);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_gt((int)strlen(m), 0);
}

START_TEST(test_bad_arguments) {
    hand h = hand_make();
    cns_evaluator *ev = h.ev, *none = (cns_evaluator *)1;
    int32_t ks[2] = {1, 2};
    double out[2 * NM];
    const float *U = k_user_v, *I = k_item_v;
    cns_error e;
    ck_assert_status(cns_evaluator_create(NULL, NULL, &none, &e), CNS_E_ARG);
    ck_assert_ptr_null(none);
    ck_assert_int_gt((int)strlen(e.message), 0);
    ck_assert_status(cns_evaluator_create(h.train, NULL, NULL, &e), CNS_E_ARG);
    cns_allocator bad = {NULL, NULL, NULL};
    none = (cns_evaluator *)1;
    ck_assert_status(cns_evaluator_create(h.train, &bad, &none, &e), CNS_E_ARG);
    ck_assert_ptr_null(none);

    size_t n = 7;
    ck_assert_status(cns_evaluator_run(NULL, U, 5, I, 6, 1, h.test, ks, 2, out, &n), CNS_E_ARG);
    ck_assert_uint_eq(n, 0);
    ck_assert_status(cns_evaluator_run(ev, NULL, 5, I, 6, 1, h.test, ks, 2, out, NULL), CNS_E_ARG);
    check_msg(ev);
    ck_assert_status(cns_evaluator_run(ev, U, 5, NULL, 6, 1, h.test, ks, 2, out, NULL), CNS_E_ARG);
    ck_assert_status(cns_evaluator_run(ev, U, 5, I, 6, 1, NULL, ks, 2, out, NULL), CNS_E_ARG);
    ck_assert_status(cns_evaluator_run(ev, U, 5, I, 6, 1, h.test, NULL, 2, out, NULL), CNS_E_ARG);
    ck_assert_status(cns_evaluator_run(ev, U, 5, I, 6, 1, h.test, ks, 2, NULL, NULL), CNS_E_ARG);
    ck_assert_status(cns_evaluator_run(ev, U, 5, I, 6, 1, h.test, ks, 0, out, NULL), CNS_E_ARG);
    check_msg(ev);
    int32_t many[17];
    for (int q = 0; q < 17; ++q) many[q] = 1;
    ck_assert_status(cns_evaluator_run(ev, U, 5, I, 6, 1, h.test, many, 17, out, NULL), CNS_E_ARG);
    int32_t big[2] = {1, 7}, zero[1] = {0};
    ck_assert_status(cns_evaluator_run(ev, U, 5, I, 6, 1, h.test, big, 2, out, NULL), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_evaluator_last_error(ev), "ks[1]"));
    ck_assert_status(cns_evaluator_run(ev, U, 5, I, 6, 1, h.test, zero, 1, out, NULL), CNS_E_ARG);
    ck_assert_status(cns_evaluator_run(ev, U, 5, I, 6, 0, h.test, ks, 2, out, NULL), CNS_E_ARG);
    check_msg(ev);
    ck_assert_status(cns_evaluator_run(ev, U, 5, I, 6, -3, h.test, ks, 2, out, NULL), CNS_E_ARG);
    /* Shapes that disagree with the training set. */
    ck_assert_status(cns_evaluator_run(ev, U, 4, I, 6, 1, h.test, ks, 2, out, NULL), CNS_E_SIZE);
    ck_assert_ptr_nonnull(strstr(cns_evaluator_last_error(ev), "num_users"));
    ck_assert_status(cns_evaluator_run(ev, U, 5, I, 5, 1, h.test, ks, 2, out, NULL), CNS_E_SIZE);
    ck_assert_ptr_nonnull(strstr(cns_evaluator_last_error(ev), "num_items"));
    /* Popularity run. */
    ck_assert_status(cns_evaluator_run_popularity(NULL, h.test, ks, 2, out, NULL), CNS_E_ARG);
    ck_assert_status(cns_evaluator_run_popularity(ev, NULL, ks, 2, out, NULL), CNS_E_ARG);
    check_msg(ev);
    ck_assert_status(cns_evaluator_run_popularity(ev, h.test, NULL, 2, out, NULL), CNS_E_ARG);
    ck_assert_status(cns_evaluator_run_popularity(ev, h.test, ks, 0, out, NULL), CNS_E_ARG);
    ck_assert_status(cns_evaluator_run_popularity(ev, h.test, big, 2, out, NULL), CNS_E_ARG);
    ck_assert_status(cns_evaluator_run_popularity(ev, h.test, ks, 2, NULL, NULL), CNS_E_ARG);
    /* A failed run leaves out untouched. */
    out[0] = -42.0;
    ck_assert_status(cns_evaluator_run(ev, U, 5, I, 6, 0, h.test, ks, 2, out, NULL), CNS_E_ARG);
    ck_assert_close(out[0], -42.0, 0, 0);
    /* Parameters. */
    double d, lo, hi;
    int64_t v;
    ck_assert_status(cns_evaluator_set_double(ev, CNS_EVAL_IPS_GAMMA, 4.5), CNS_E_ARG);
    check_msg(ev);
    ck_assert_status(cns_evaluator_set_double(ev, CNS_EVAL_IPS_GAMMA, NAN), CNS_E_ARG);
    ck_assert_status(cns_evaluator_set_double(ev, CNS_EVAL_IPS_GAMMA, -0.1), CNS_E_ARG);
    ck_assert_status(cns_evaluator_get_double(ev, CNS_EVAL_IPS_GAMMA, &d), CNS_OK);
    ck_assert_close(d, 1.0, 0, 0);
    ck_assert_status(cns_evaluator_set_double(ev, CNS_EVAL_BLOCK_USERS, 2.0), CNS_E_PARAM);
    ck_assert_status(cns_evaluator_set_int(ev, CNS_EVAL_IPS_GAMMA, 2), CNS_E_PARAM);
    ck_assert_status(cns_evaluator_set_int(ev, 999, 2), CNS_E_PARAM);
    check_msg(ev);
    ck_assert_status(cns_evaluator_set_int(ev, CNS_EVAL_BLOCK_USERS, 0), CNS_E_ARG);
    ck_assert_status(cns_evaluator_set_int(ev, CNS_EVAL_BLOCK_USERS, 65537), CNS_E_ARG);
    ck_assert_status(cns_evaluator_set_int(ev, CNS_EVAL_THREADS, 257), CNS_E_ARG);
    ck_assert_status(cns_evaluator_set_int(ev, CNS_EVAL_THREADS, 0), CNS_E_ARG);
    ck_assert_status(cns_evaluator_get_int(ev, CNS_EVAL_BLOCK_USERS, &v), CNS_OK);
    ck_assert_int_eq(v, 256);
    ck_assert_status(cns_evaluator_get_int(ev, CNS_EVAL_THREADS, &v), CNS_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_status(cns_evaluator_set_int(ev, CNS_EVAL_THREADS, 3), CNS_OK);
    ck_assert_status(cns_evaluator_get_int(ev, CNS_EVAL_THREADS, &v), CNS_OK);
    ck_assert_int_eq(v, 3);
    ck_assert_status(cns_evaluator_get_int(ev, CNS_EVAL_IPS_GAMMA, &v), CNS_E_PARAM);
    ck_assert_status(cns_evaluator_get_int(ev, CNS_EVAL_THREADS, NULL), CNS_E_ARG);
    ck_assert_status(cns_evaluator_get_double(NULL, CNS_EVAL_IPS_GAMMA, &d), CNS_E_ARG);
    ck_assert_status(cns_evaluator_set_int(NULL, CNS_EVAL_THREADS, 1), CNS_E_ARG);
    ck_assert_status(cns_evaluator_param_bounds(CNS_EVAL_IPS_GAMMA, &lo, &hi), CNS_OK);
    ck_assert_close(lo, 0.0, 0, 0);
    ck_assert_close(hi, 4.0, 0, 0);
    ck_assert_status(cns_evaluator_param_bounds(CNS_EVAL_THREADS, &lo, &hi), CNS_OK);
    ck_assert_close(hi, 256.0, 0, 0);
    ck_assert_status(cns_evaluator_param_bounds(CNS_EVAL_BLOCK_USERS, &lo, &hi), CNS_OK);
    ck_assert_close(lo, 1.0, 0, 0);
    ck_assert_close(hi, 65536.0, 0, 0);
    ck_assert_status(cns_evaluator_param_bounds(12345, &lo, &hi), CNS_E_PARAM);
    ck_assert_status(cns_evaluator_param_bounds(CNS_EVAL_THREADS, NULL, &hi), CNS_E_ARG);
    /* Metric names and the NULL handle. */
    ck_assert_int_eq(cns_metric_count(), CNS_METRIC_COUNT);
    ck_assert_str_eq(cns_metric_name(CNS_METRIC_RECALL), "recall");
    ck_assert_str_eq(cns_metric_name(CNS_METRIC_HIT), "hit");
    ck_assert_str_eq(cns_metric_name(CNS_METRIC_IPS_NDCG), "ips_ndcg");
    ck_assert_ptr_null(cns_metric_name(-1));
    ck_assert_ptr_null(cns_metric_name(CNS_METRIC_COUNT));
    ck_assert_int_gt((int)strlen(cns_evaluator_last_error(NULL)), 0);
    cns_evaluator_free(NULL);
    hand_free(&h);
}
END_TEST

/* ---- brute-force reference ---------------------------------------------
 * Small integer embeddings make every dot product exact in float whatever
 * the BLAS's summation order, so the reference (double, full sort of all
 * unmasked items by (score desc, id asc)) must agree to rounding. */

typedef struct sc {
    double s;
    int32_t id;
} sc;

static int sc_cmp(const void *a, const void *b) {
    const sc *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int dbl_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* user_emb NULL: popularity ranking. */
static size_t reference(const cns_dataset *train, const cns_dataset *test, const float *U,
                        const float *I, int32_t nu, int32_t ni, int32_t dim, const int32_t *ks,
                        size_t nk, double gamma, double *out) {
    const int32_t *pop = cns_dataset_item_popularity(train);
    memset(out, 0, nk * NM * sizeof *out);
    double hits_sum[16] = {0}, t_sum = 0;
    size_t n = 0;
    sc *all = malloc((size_t)ni * sizeof *all);
    for (int32_t u = 0; u < cns_dataset_num_users(test) && u < nu; ++u) {
        const int32_t *T;
        size_t nt;
        ck_assert_status(cns_dataset_user_items(test, u, &T, &nt), CNS_OK);
        if (nt == 0) continue;
        size_t m = 0;
        for (int32_t i = 0; i < ni; ++i) {
            if (cns_dataset_contains(train, u, i)) continue;
            double s = 0;
            if (U != NULL)
                for (int32_t k = 0; k < dim; ++k) s += (double)U[u * dim + k] * I[i * dim + k];
            else
                s = pop[i];
            all[m++] = (sc){s, i};
        }
        qsort(all, m, sizeof *all, sc_cmp);
        double *w = malloc(nt * sizeof *w), wsum = 0;
        for (size_t j = 0; j < nt; ++j) {
            double p = T[j] < ni ? pop[T[j]] : 0;
            w[j] = pow(p < 1 ? 1 : p, -gamma);
            wsum += w[j];
        }
        qsort(w, nt, sizeof *w, dbl_desc);
        for (size_t q = 0; q < nk; ++q) {
            size_t K = (size_t)ks[q];
            double h = 0, dcg = 0, idcg = 0, ih = 0, idc = 0, iidcg = 0;
            for (size_t r = 0; r < K && r < m; ++r) {
                int hit = 0;
                for (size_t j = 0; j < nt; ++j) hit |= T[j] == all[r].id;
                if (!hit) continue;
                double wi = pow(pop[all[r].id] < 1 ? 1 : pop[all[r].id], -gamma);
                h += 1;
                dcg += 1 / log2(r + 2.0);
                ih += wi;
                idc += wi / log2(r + 2.0);
            }
            for (size_t r = 0; r < K && r < nt; ++r) {
                idcg += 1 / log2(r + 2.0);
                iidcg += w[r] / log2(r + 2.0);
            }
            out[q * NM + CNS_METRIC_RECALL] += h / nt;
            out[q * NM + CNS_METRIC_NDCG] += dcg / idcg;
            out[q * NM + CNS_METRIC_PRECISION] += h / K;
            out[q * NM + CNS_METRIC_IPS_RECALL] += ih / wsum;
            out[q * NM + CNS_METRIC_IPS_NDCG] += idc / iidcg;
            hits_sum[q] += h;
        }
        t_sum += nt;
        free(w);
        ++n;
    }
    free(all);
    for (size_t q = 0; q < nk; ++q) {
        for (int k = 0; k < NM; ++k) out[q * NM + k] /= n;
        out[q * NM + CNS_METRIC_HIT] = hits_sum[q] / t_sum;
    }
    return n;
}

/* Random data: nu train users (the last 5 without pairs), ni items, test
 * users up to nu + 10 (ids >= nu are skipped), integer embeddings in
 * [-3, 3]. Compares every thread count and block size in blocks[] with the
 * reference, for the model and the popularity ranking. */
static void check_against_reference(int32_t nu, int32_t ni, int32_t dim, size_t ntr, size_t nte,
                                    const int32_t kss[2][4], const int *blocks, int nblocks,
                                    unsigned seed) {
    srand(seed);
    int32_t *tu = malloc(ntr * sizeof *tu), *ti = malloc(ntr * sizeof *ti);
    int32_t *eu = malloc(nte * sizeof *eu), *ei = malloc(nte * sizeof *ei);
    for (size_t k = 0; k < ntr; ++k) {
        tu[k] = rand() % (nu - 5);
        /* Skewed items so the popularity (and IPS weights) vary. */
        int a = rand() % ni, b = rand() % ni;
        ti[k] = a < b ? a : b;
    }
    tu[0] = nu - 1; /* fixes the user count at nu */
    ti[0] = ni - 1;
    for (size_t k = 0; k < nte; ++k) {
        eu[k] = rand() % (nu + 10);
        ei[k] = rand() % ni;
    }
    cns_dataset *train = make_ds(tu, ti, ntr, nu, ni), *test = make_ds(eu, ei, nte, 0, ni);
    float *U = malloc((size_t)nu * dim * sizeof *U), *I = malloc((size_t)ni * dim * sizeof *I);
    for (int32_t k = 0; k < nu * dim; ++k) U[k] = (float)(rand() % 7 - 3);
    for (int32_t k = 0; k < ni * dim; ++k) I[k] = (float)(rand() % 7 - 3);
    double ref[4 * NM], refp[4 * NM], out[4 * NM], outp[4 * NM], first[4 * NM];
    cns_evaluator *ev;
    ck_assert_status(cns_evaluator_create(train, NULL, &ev, NULL), CNS_OK);
    const double gammas[2] = {1.0, 0.5};
    for (int g = 0; g < 2; ++g) {
        const int32_t *ks = kss[g];
        ck_assert_status(cns_evaluator_set_double(ev, CNS_EVAL_IPS_GAMMA, gammas[g]), CNS_OK);
        size_t nref = reference(train, test, U, I, nu, ni, dim, ks, 4, gammas[g], ref);
        reference(train, test, NULL, NULL, nu, ni, dim, ks, 4, gammas[g], refp);
        ck_assert_uint_gt(nref, (size_t)nu / 2);
        for (int t = 1; t <= 2; ++t) {
            ck_assert_status(cns_evaluator_set_int(ev, CNS_EVAL_THREADS, t), CNS_OK);
            for (int b = 0; b < nblocks; ++b) {
                ck_assert_status(cns_evaluator_set_int(ev, CNS_EVAL_BLOCK_USERS, blocks[b]), CNS_OK);
                size_t n = 0;
                ck_assert_status(cns_evaluator_run(ev, U, nu, I, ni, dim, test, ks, 4, out, &n),
                                 CNS_OK);
                ck_assert_uint_eq(n, nref);
                for (int k = 0; k < 4 * NM; ++k) ck_assert_close(out[k], ref[k], 1e-12, 1e-14);
                if (t == 1 && b == 0) memcpy(first, out, sizeof out);
                /* Bit-identical across threads and blocks (exact scores). */
                ck_assert_int_eq(memcmp(first, out, sizeof out), 0);
                ck_assert_status(cns_evaluator_run_popularity(ev, test, ks, 4, outp, &n), CNS_OK);
                ck_assert_uint_eq(n, nref);
                for (int k = 0; k < 4 * NM; ++k) ck_assert_close(outp[k], refp[k], 1e-12, 1e-14);
            }
        }
    }
    cns_evaluator_free(ev);
    cns_dataset_free(test);
    cns_dataset_free(train);
    free(U);
    free(I);
    free(tu);
    free(ti);
    free(eu);
    free(ei);
}

START_TEST(test_matches_reference_any_threads_and_blocks) {
    /* Small K exercise the heap's scan; K = 45 ranks every candidate. */
    const int32_t kss[2][4] = {{1, 5, 10, 3}, {45, 2, 20, 7}};
    const int blocks[3] = {1, 7, 256};
    check_against_reference(60, 45, 6, 700, 260, kss, blocks, 3, 12345);
}
END_TEST

/* 1100 items: a block of 256 users is scored in chunks of 512 items, so a
 * user's selection spans three sgemm calls (K = 700 even fills the heap
 * across chunk boundaries); a block of 1 user takes all items at once. */
START_TEST(test_matches_reference_across_item_chunks) {
    const int32_t kss[2][4] = {{1, 10, 20, 3}, {700, 5, 513, 1100}};
    const int blocks[3] = {256, 1, 100};
    check_against_reference(300, 1100, 4, 6000, 1500, kss, blocks, 3, 777);
}
END_TEST

/* Coat (shared data, skipped when absent): 91 test pairs also occur in
 * training; they stay in |test_u| and are never hit. The evaluator must
 * agree with the reference on real data for both rankings. */
START_TEST(test_coat_matches_reference) {
    char p1[512], p2[512];
    const char *trp = cns_test_shared_path("data/coat/train.txt", p1, sizeof p1);
    const char *tep = cns_test_shared_path("data/coat/test_ood.txt", p2, sizeof p2);
    if (trp == NULL || tep == NULL) return; /* data absent: nothing to check */
    cns_dataset *train = NULL, *test = NULL;
    cns_error e;
    ck_assert_status(cns_dataset_load_file(trp, 0, NULL, &train, &e), CNS_OK);
    ck_assert_status(cns_dataset_load_file(tep, 0, NULL, &test, &e), CNS_OK);
    size_t overlap = 0;
    for (size_t k = 0; k < cns_dataset_num_interactions(test); ++k) {
        int32_t u, i;
        ck_assert_status(cns_dataset_pair(test, k, &u, &i), CNS_OK);
        overlap += (size_t)cns_dataset_contains(train, u, i);
    }
    ck_assert_uint_eq(overlap, 91);
    int32_t nu = cns_dataset_num_users(train), ni = cns_dataset_num_items(train), dim = 8;
    float *U = malloc((size_t)nu * dim * sizeof *U), *I = malloc((size_t)ni * dim * sizeof *I);
    srand(99);
    for (int32_t k = 0; k < nu * dim; ++k) U[k] = (float)(rand() % 9 - 4);
    for (int32_t k = 0; k < ni * dim; ++k) I[k] = (float)(rand() % 9 - 4);
    int32_t ks[2] = {10, 20};
    double ref[2 * NM], out[2 * NM];
    cns_evaluator *ev;
    ck_assert_status(cns_evaluator_create(train, NULL, &ev, NULL), CNS_OK);
    size_t n = 0, nref = reference(train, test, U, I, nu, ni, dim, ks, 2, 1.0, ref);
    ck_assert_status(cns_evaluator_run(ev, U, nu, I, ni, dim, test, ks, 2, out, &n), CNS_OK);
    ck_assert_uint_eq(n, nref);
    for (int k = 0; k < 2 * NM; ++k) ck_assert_close(out[k], ref[k], 1e-12, 1e-14);
    reference(train, test, NULL, NULL, nu, ni, dim, ks, 2, 1.0, ref);
    ck_assert_status(cns_evaluator_run_popularity(ev, test, ks, 2, out, &n), CNS_OK);
    for (int k = 0; k < 2 * NM; ++k) ck_assert_close(out[k], ref[k], 1e-12, 1e-14);
    cns_evaluator_free(ev);
    cns_dataset_free(test);
    cns_dataset_free(train);
    free(U);
    free(I);
}
END_TEST

/* Allocation failures: create and run report CNS_E_NOMEM, leak nothing,
 * and the evaluator still works afterwards. */
typedef struct failing {
    long budget; /* allocations left before failing; < 0: never fail */
    long live;
} failing;
static void *f_alloc(void *u, size_t n) {
    failing *f = u;
    if (f->budget == 0) return NULL;
    if (f->budget > 0) f->budget--;
    void *p = malloc(n);
    if (p) f->live++;
    return p;
}
static void f_free(void *u, void *p) {
    failing *f = u;
    if (p) f->live--;
    free(p);
}

START_TEST(test_allocation_failures) {
    hand h = hand_make();
    int32_t ks[3] = {1, 2, 3};
    double out[3 * NM];
    for (long b = 0; b < 4; ++b) {
        failing f = {b, 0};
        cns_allocator a = {f_alloc, f_free, &f};
        cns_evaluator *ev = (cns_evaluator *)1;
        cns_status st = cns_evaluator_create(h.train, &a, &ev, NULL);
        if (st == CNS_OK) {
            cns_evaluator_free(ev);
        } else {
            ck_assert_status(st, CNS_E_NOMEM);
            ck_assert_ptr_null(ev);
        }
        ck_assert_int_eq(f.live, 0);
    }
    int saw_nomem = 0;
    for (long b = 0; b < 40; ++b) {
        failing f = {-1, 0};
        cns_allocator a = {f_alloc, f_free, &f};
        cns_evaluator *ev;
        ck_assert_status(cns_evaluator_create(h.train, &a, &ev, NULL), CNS_OK);
        f.budget = b;
        cns_status st = cns_evaluator_run(ev, k_user_v, 5, k_item_v, 6, 1, h.test, ks, 3, out, NULL);
        if (st != CNS_OK) {
            ck_assert_status(st, CNS_E_NOMEM);
            check_msg(ev);
            saw_nomem = 1;
            f.budget = -1;
            ck_assert_status(
                cns_evaluator_run(ev, k_user_v, 5, k_item_v, 6, 1, h.test, ks, 3, out, NULL),
                CNS_OK);
        }
        for (int m = 0; m < NM; ++m) ck_assert_close(out[2 * NM + m], k_hand_g1[2][m], 1e-12, 1e-13);
        cns_evaluator_free(ev);
        ck_assert_int_eq(f.live, 0);
    }
    ck_assert(saw_nomem);
    hand_free(&h);
}
END_TEST

int main(void) {
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("eval");
    tcase_add_test(tc, test_hand_metrics);
    tcase_add_test(tc, test_ips_gamma_zero_equals_plain);
    tcase_add_test(tc, test_ties_smaller_id_wins);
    tcase_add_test(tc, test_short_list_and_masked_test_items);
    tcase_add_test(tc, test_skipped_users_and_unknown_items);
    tcase_add_test(tc, test_popularity_ranking);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_matches_reference_any_threads_and_blocks);
    tcase_add_test(tc, test_matches_reference_across_item_chunks);
    tcase_add_test(tc, test_coat_matches_reference);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
