/* cns_selector: the selection rule on hand-computed series — smoothing,
 * ties, minimum evaluations, patience — and its refusals. */
#include "testutil.h"

static cns_selector *make(int64_t metric, int64_t window, int64_t min_evals, int64_t patience) {
    cns_selector *s = NULL;
    cns_error err;
    ck_assert_status(cns_selector_create(NULL, &s, &err), CNS_OK);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_METRIC, metric), CNS_OK);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_WINDOW, window), CNS_OK);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_MIN_EVALS, min_evals), CNS_OK);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_PATIENCE, patience), CNS_OK);
    return s;
}

/* Feeds scalar scores at epochs 1, 2, ... and records the answers. */
static void feed(cns_selector *s, const double *v, int n, int *improved, int *stop) {
    for (int t = 0; t < n; ++t)
        ck_assert_status(cns_selector_update_value(s, t + 1, v[t], &improved[t], &stop[t]), CNS_OK);
}

START_TEST(test_defaults) {
    cns_selector *s = NULL;
    ck_assert_status(cns_selector_create(NULL, &s, NULL), CNS_OK);
    int64_t v;
    /* The documented default rule (select.h, docs/EVALUATION.md), the one
     * the selection study chose: plain NDCG@20, patience 20. */
    ck_assert_status(cns_selector_get_int(s, CNS_SELECT_METRIC, &v), CNS_OK);
    ck_assert_int_eq(v, CNS_METRIC_NDCG);
    ck_assert_status(cns_selector_get_int(s, CNS_SELECT_K, &v), CNS_OK);
    ck_assert_int_eq(v, 20);
    ck_assert_status(cns_selector_get_int(s, CNS_SELECT_WINDOW, &v), CNS_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_status(cns_selector_get_int(s, CNS_SELECT_MIN_EVALS, &v), CNS_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_status(cns_selector_get_int(s, CNS_SELECT_PATIENCE, &v), CNS_OK);
    ck_assert_int_eq(v, 20);
    ck_assert_int_eq(cns_selector_best_epoch(s), -1);
    ck_assert(isnan(cns_selector_best_score(s)) && isnan(cns_selector_last_score(s)));
    ck_assert_int_eq(cns_selector_evaluations(s), 0);
    ck_assert_int_eq(cns_selector_should_stop(s), 0);
    cns_selector_free(s);
}
END_TEST

/* W = 3 over 0.1 0.4 0.1 0.1 0.3 0.3 0.3:
 * smoothed 0.1, 0.25, 0.2, 0.2, 0.1667, 0.2333, 0.3. Raw, epoch 2 (0.4)
 * would win; smoothed, epoch 7 (0.3). */
START_TEST(test_smoothing) {
    const double v[] = {0.1, 0.4, 0.1, 0.1, 0.3, 0.3, 0.3};
    const double sm[] = {0.1, 0.25, 0.2, 0.2, 0.5 / 3, 0.7 / 3, 0.3};
    const int best_after[] = {1, 2, 2, 2, 2, 2, 7};
    cns_selector *s = make(CNS_METRIC_NDCG, 3, 0, 0);
    for (int t = 0; t < 7; ++t) {
        int imp, stop;
        ck_assert_status(cns_selector_update_value(s, t + 1, v[t], &imp, &stop), CNS_OK);
        ck_assert_close(cns_selector_last_score(s), sm[t], 1e-12, 1e-15);
        ck_assert_int_eq(cns_selector_best_epoch(s), best_after[t]);
        ck_assert_int_eq(imp, best_after[t] == t + 1);
        ck_assert_int_eq(stop, 0); /* patience 0: never */
    }
    ck_assert_close(cns_selector_best_score(s), 0.3, 1e-12, 1e-15);
    cns_selector_free(s);

    s = make(CNS_METRIC_NDCG, 1, 0, 0);
    int imp[7], stop[7];
    feed(s, v, 7, imp, stop);
    ck_assert_int_eq(cns_selector_best_epoch(s), 2);
    cns_selector_free(s);
}
END_TEST

/* Ties keep the earlier epoch, raw and smoothed. */
START_TEST(test_ties) {
    const double v[] = {0.2, 0.5, 0.5, 0.5};
    int imp[4], stop[4];
    cns_selector *s = make(CNS_METRIC_NDCG, 1, 0, 0);
    feed(s, v, 4, imp, stop);
    ck_assert_int_eq(cns_selector_best_epoch(s), 2);
    ck_assert(imp[0] && imp[1] && !imp[2] && !imp[3]);
    cns_selector_free(s);
    /* W = 2: 0.2, 0.35, 0.5, 0.5 -> the first 0.5 (epoch 3). */
    s = make(CNS_METRIC_NDCG, 2, 0, 0);
    feed(s, v, 4, imp, stop);
    ck_assert_int_eq(cns_selector_best_epoch(s), 3);
    cns_selector_free(s);
}
END_TEST

/* Patience 2, no minimum: best at 2, evaluations 3 and 4 do not improve ->
 * stop at 4 (4 - 2 >= 2). */
START_TEST(test_patience) {
    const double v[] = {0.1, 0.5, 0.4, 0.3, 0.9};
    int imp[5], stop[5];
    cns_selector *s = make(CNS_METRIC_NDCG, 1, 0, 2);
    feed(s, v, 5, imp, stop);
    ck_assert(!stop[0] && !stop[1] && !stop[2] && stop[3]);
    /* A host that ignores stop: 0.9 improves and the count restarts. */
    ck_assert(imp[4] && !stop[4]);
    ck_assert_int_eq(cns_selector_best_epoch(s), 5);
    cns_selector_free(s);
}
END_TEST

/* Minimum evaluations 4, patience 2: best at 1 and never again; patience
 * counts from evaluation 4: t - max(1, 4) >= 2 first at t = 6. Best at 5
 * (after the minimum): stop at 7. */
START_TEST(test_min_evals) {
    const double down[] = {0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
    int imp[8], stop[8];
    cns_selector *s = make(CNS_METRIC_NDCG, 1, 4, 2);
    feed(s, down, 7, imp, stop);
    for (int t = 0; t < 5; ++t) ck_assert_msg(!stop[t], "stopped at evaluation %d", t + 1);
    ck_assert(stop[5] && stop[6]);
    ck_assert_int_eq(cns_selector_best_epoch(s), 1);
    cns_selector_free(s);

    const double late[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.1, 0.1, 0.1};
    s = make(CNS_METRIC_NDCG, 1, 4, 2);
    feed(s, late, 8, imp, stop);
    for (int t = 0; t < 6; ++t) ck_assert(!stop[t]);
    ck_assert(stop[6]);
    ck_assert_int_eq(cns_selector_best_epoch(s), 5);
    cns_selector_free(s);
}
END_TEST

/* The evaluator's array: the row of K and the column of the metric. */
START_TEST(test_metric_array) {
    const int32_t ks[2] = {10, 20};
    double m[2][CNS_METRIC_COUNT];
    for (int r = 0; r < 2; ++r)
        for (int c = 0; c < CNS_METRIC_COUNT; ++c) m[r][c] = 100.0 * r + c;
    cns_selector *s = make(CNS_METRIC_IPS_NDCG, 1, 0, 0);
    int imp;
    ck_assert_status(cns_selector_update(s, 3, ks, 2, &m[0][0], CNS_METRIC_COUNT, &imp, NULL), CNS_OK);
    ck_assert(cns_selector_last_score(s) == 100.0 + CNS_METRIC_IPS_NDCG);
    ck_assert_int_eq(cns_selector_best_epoch(s), 3);
    cns_selector_reset(s);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_K, 10), CNS_OK);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_METRIC, CNS_METRIC_RECALL), CNS_OK);
    ck_assert_status(cns_selector_update(s, 1, ks, 2, &m[0][0], CNS_METRIC_COUNT, &imp, NULL), CNS_OK);
    ck_assert(cns_selector_last_score(s) == 0.0 + CNS_METRIC_RECALL);
    /* K missing from ks. */
    ck_assert_status(cns_selector_update(s, 2, ks + 1, 1, &m[1][0], CNS_METRIC_COUNT, &imp, NULL), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_selector_last_error(s), "K = 10 is not among"));
    ck_assert_int_eq(cns_selector_evaluations(s), 1);
    cns_selector_free(s);
}
END_TEST

/* NaN and infinity are refused, named, and change nothing. */
START_TEST(test_nan_refused) {
    const int32_t ks[1] = {20};
    double m[CNS_METRIC_COUNT] = {0};
    cns_selector *s = make(CNS_METRIC_IPS_NDCG, 3, 0, 1);
    int imp = 7, stop = 7;
    ck_assert_status(cns_selector_update_value(s, 1, 0.5, &imp, &stop), CNS_OK);
    m[CNS_METRIC_IPS_NDCG] = NAN;
    ck_assert_status(cns_selector_update(s, 2, ks, 1, m, CNS_METRIC_COUNT, &imp, &stop), CNS_E_NUMERIC);
    ck_assert(imp == 0 && stop == 0);
    const char *e = cns_selector_last_error(s);
    ck_assert_msg(strstr(e, "ips_ndcg@20 is NaN at epoch 2 (evaluation 2)") != NULL, "message: %s", e);
    ck_assert_status(cns_selector_update_value(s, 2, INFINITY, &imp, &stop), CNS_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(cns_selector_last_error(s), "infinite"));
    ck_assert_int_eq(cns_selector_evaluations(s), 1);
    ck_assert(cns_selector_last_score(s) == 0.5);
    /* The window did not take the NaN: the next mean is (0.5 + 0.2) / 2. */
    ck_assert_status(cns_selector_update_value(s, 2, 0.2, &imp, &stop), CNS_OK);
    ck_assert_close(cns_selector_last_score(s), 0.35, 1e-12, 0);
    ck_assert(stop == 1); /* patience 1: 2 - 1 >= 1 */
    cns_selector_free(s);
}
END_TEST

START_TEST(test_misuse) {
    cns_selector *s = NULL;
    cns_error err;
    ck_assert_status(cns_selector_create(NULL, NULL, &err), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.message, "cns_selector_create: out is NULL"));
    cns_allocator bad = {NULL, NULL, NULL};
    ck_assert_status(cns_selector_create(&bad, &s, &err), CNS_E_ARG);
    ck_assert_ptr_null(s);
    ck_assert_status(cns_selector_create(NULL, &s, &err), CNS_OK);
    /* Parameters: unknown id, wrong type, out of bounds (value kept). */
    ck_assert_status(cns_selector_set_int(s, 999, 1), CNS_E_PARAM);
    ck_assert_status(cns_selector_set_double(s, CNS_SELECT_WINDOW, 2.0), CNS_E_PARAM);
    double d;
    ck_assert_status(cns_selector_get_double(s, CNS_SELECT_WINDOW, &d), CNS_E_PARAM);
    /* A value other than the default and the bounds, so "kept" is visible. */
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_WINDOW, 5), CNS_OK);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_WINDOW, 0), CNS_E_ARG);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_WINDOW, 65), CNS_E_ARG);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_METRIC, CNS_METRIC_COUNT), CNS_E_ARG);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_K, 0), CNS_E_ARG);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_PATIENCE, -1), CNS_E_ARG);
    int64_t v;
    ck_assert_status(cns_selector_get_int(s, CNS_SELECT_WINDOW, &v), CNS_OK);
    ck_assert_int_eq(v, 5);
    double lo, hi;
    ck_assert_status(cns_selector_param_bounds(CNS_SELECT_WINDOW, &lo, &hi), CNS_OK);
    ck_assert(lo == 1 && hi == 64);
    ck_assert_status(cns_selector_param_bounds(999, &lo, &hi), CNS_E_PARAM);
    ck_assert_status(cns_selector_param_bounds(CNS_SELECT_WINDOW, NULL, &hi), CNS_E_ARG);
    /* Updates: NULL arrays, no cut-offs, too few columns, epochs not rising. */
    const int32_t ks[1] = {20};
    double m[CNS_METRIC_COUNT] = {0};
    ck_assert_status(cns_selector_update(s, 1, NULL, 1, m, CNS_METRIC_COUNT, NULL, NULL), CNS_E_ARG);
    ck_assert_status(cns_selector_update(s, 1, ks, 1, NULL, CNS_METRIC_COUNT, NULL, NULL), CNS_E_ARG);
    ck_assert_status(cns_selector_update(s, 1, ks, 0, m, CNS_METRIC_COUNT, NULL, NULL), CNS_E_ARG);
    /* Too few columns: none for the default metric's. */
    ck_assert_status(cns_selector_update(s, 1, ks, 1, m, CNS_METRIC_NDCG, NULL, NULL), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_selector_last_error(s), "cns_selector_update: num_metrics"));
    ck_assert_status(cns_selector_update_value(s, 5, 0.1, NULL, NULL), CNS_OK);
    ck_assert_status(cns_selector_update_value(s, 5, 0.2, NULL, NULL), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_selector_last_error(s), "epoch 5 is not above"));
    /* The rule cannot change mid-run; reset allows it again. */
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_WINDOW, 2), CNS_E_STATE);
    ck_assert_ptr_nonnull(strstr(cns_selector_last_error(s), "cns_selector_reset"));
    cns_selector_reset(s);
    ck_assert_int_eq(cns_selector_best_epoch(s), -1);
    ck_assert_int_eq(cns_selector_evaluations(s), 0);
    ck_assert_status(cns_selector_set_int(s, CNS_SELECT_WINDOW, 2), CNS_OK);
    ck_assert_status(cns_selector_update_value(s, 1, 0.1, NULL, NULL), CNS_OK); /* epochs restart */
    /* NULL handles. */
    ck_assert_status(cns_selector_update_value(NULL, 1, 0.1, NULL, NULL), CNS_E_ARG);
    ck_assert_int_eq(cns_selector_best_epoch(NULL), -1);
    ck_assert(isnan(cns_selector_best_score(NULL)));
    ck_assert_int_eq(cns_selector_should_stop(NULL), 0);
    ck_assert_int_eq(cns_selector_evaluations(NULL), 0);
    ck_assert_str_eq(cns_selector_last_error(NULL), "selector is NULL");
    cns_selector_reset(NULL);
    cns_selector_free(NULL);
    cns_selector_free(s);
}
END_TEST

static int g_fail;
static void *fail_alloc(void *user, size_t n) {
    (void)user;
    return g_fail ? NULL : malloc(n);
}
static void plain_free(void *user, void *p) {
    (void)user;
    free(p);
}

START_TEST(test_allocation_failure) {
    cns_allocator a = {fail_alloc, plain_free, NULL};
    cns_selector *s = (cns_selector *)&a;
    cns_error err;
    g_fail = 1;
    ck_assert_status(cns_selector_create(&a, &s, &err), CNS_E_NOMEM);
    ck_assert_ptr_null(s);
    g_fail = 0;
    ck_assert_status(cns_selector_create(&a, &s, &err), CNS_OK);
    cns_selector_free(s);
}
END_TEST

static Suite *select_suite(void) {
    Suite *s = suite_create("select");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_smoothing);
    tcase_add_test(tc, test_ties);
    tcase_add_test(tc, test_patience);
    tcase_add_test(tc, test_min_evals);
    tcase_add_test(tc, test_metric_array);
    tcase_add_test(tc, test_nan_refused);
    tcase_add_test(tc, test_misuse);
    tcase_add_test(tc, test_allocation_failure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cns_test_run(select_suite()); }
