/* `cnsdiff bench mechanism` (examples/cnsdiff/bench_mechanism.c): the
 * effective rank and the Jacobi eigenvalues behind it, against matrices
 * whose singular values are known by construction; the top-K insertion and
 * the ranking effect of the direction (shares, Recall@20 with and without
 * the part along c, mean scores) against a brute-force recomputation. */
#include <math.h>

#include "testutil.h"

#include "../examples/cnsdiff/bench_mechanism.c"
#include "../examples/cnsdiff/ids.c"

/* E = diag(s) H, H = I - 2 v v^T / |v|^2 (orthogonal): E's singular values
 * are |s|, and E^T E = H diag(s^2) H is far from diagonal. */
static void make_rotated(const double *s, size_t d, float *e) {
    double v[16], vv = 0.0;
    for (size_t k = 0; k < d; ++k) {
        v[k] = 1.0 + 0.37 * (double)k - 0.05 * (double)(k * k);
        vv += v[k] * v[k];
    }
    for (size_t i = 0; i < d; ++i)
        for (size_t k = 0; k < d; ++k)
            e[i * d + k] = (float)(s[i] * ((i == k ? 1.0 : 0.0) - 2.0 * v[i] * v[k] / vv));
}

static double expected_rank(const double *s, size_t d) {
    double sum = 0.0, h = 0.0;
    for (size_t k = 0; k < d; ++k) sum += fabs(s[k]);
    for (size_t k = 0; k < d; ++k)
        if (s[k] != 0.0) h -= fabs(s[k]) / sum * log(fabs(s[k]) / sum);
    return exp(h);
}

START_TEST(test_effective_rank_known) {
    enum { D = 12 };
    const double cases[3][D] = {
        {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},         /* rank 12 */
        {5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},         /* rank 1 */
        {9, 4, 2.5, 2, 1, 0.5, 0.25, 0.1, 0, 0, 0, 3}, /* in between */
    };
    const double want_exact[2] = {12.0, 1.0};
    float e[D * D];
    for (int c = 0; c < 3; ++c) {
        make_rotated(cases[c], D, e);
        const double got = effective_rank(e, D, D);
        ck_assert_close(got, expected_rank(cases[c], D), 1e-4, 1e-4);
        if (c < 2) ck_assert_close(got, want_exact[c], 1e-4, 1e-4);
    }
}
END_TEST

START_TEST(test_jacobi_eigenvalues) {
    enum { D = 6 };
    const double s[D] = {3, -2, 1.5, 0.5, 0.25, 4};
    float e[D * D];
    make_rotated(s, D, e);
    double g[D * D] = {0}, w[D];
    for (size_t i = 0; i < D; ++i)
        for (size_t p = 0; p < D; ++p)
            for (size_t q = 0; q < D; ++q) g[p * D + q] += (double)e[i * D + p] * e[i * D + q];
    jacobi_eigen(g, D, w);
    /* each s^2 appears among the eigenvalues, and their sum is the trace */
    double sum = 0.0;
    for (size_t k = 0; k < D; ++k) {
        int found = 0;
        for (size_t j = 0; j < D; ++j) found |= fabs(w[j] - s[k] * s[k]) < 1e-4;
        ck_assert_msg(found, "s^2 = %g not among the eigenvalues", s[k] * s[k]);
        sum += w[k];
    }
    ck_assert_close(sum, 9 + 4 + 2.25 + 0.25 + 0.0625 + 16, 1e-5, 0);
}
END_TEST

/* topk_push against a full sort: best first, ties to the smaller id. */
START_TEST(test_topk_push_matches_sort) {
    enum { N = 200, K = 20 };
    float score[N];
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < N; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        score[i] = (float)(x % 37) - 18.0f; /* many ties */
    }
    int32_t top[K];
    float ts[K];
    size_t n = 0;
    for (int i = 0; i < N; ++i) topk_push(top, ts, &n, K, i, score[i]);
    ck_assert_uint_eq(n, K);
    /* the expected list by selection: the highest score, smallest id first */
    int taken[N] = {0};
    for (int r = 0; r < K; ++r) {
        int best = -1;
        for (int i = 0; i < N; ++i)
            if (!taken[i] && (best < 0 || score[i] > score[best])) best = i;
        taken[best] = 1;
        ck_assert_int_eq(top[r], best);
        ck_assert(ts[r] == score[best]);
    }
    /* fewer items than K: all of them */
    n = 0;
    for (int i = 0; i < 5; ++i) topk_push(top, ts, &n, K, i, score[i]);
    ck_assert_uint_eq(n, 5);
}
END_TEST

typedef struct scored {
    double s;
    int32_t i;
} scored;

static int cmp_scored(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

/* measure_rank_effect against a brute-force recomputation: sorted scores
 * per user in double precision, with and without the part along c. */
START_TEST(test_rank_effect_brute_force) {
    enum { NU = 23, NI = 60, D = 5, PER = 6 };
    float ue[NU * D], ie[NI * D], c[D];
    uint64_t x = 0x9E3779B97F4A7C15ull;
#define NEXT() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, (float)((double)(x >> 11) / 9007199254740992.0 - 0.5))
    double cn = 0.0;
    for (int k = 0; k < D; ++k) {
        c[k] = NEXT();
        cn += (double)c[k] * c[k];
    }
    for (int k = 0; k < D; ++k) c[k] = (float)(c[k] / sqrt(cn));
    for (int i = 0; i < NU * D; ++i) ue[i] = 3.0f * NEXT();
    /* items: a popularity-dependent shift along c, as in a direction run */
    for (int i = 0; i < NI; ++i)
        for (int k = 0; k < D; ++k) ie[i * D + k] = 2.0f * NEXT() - 0.05f * (float)i * c[k];
    int32_t tu[NU * PER], ti[NU * PER], su[NU * 2], si[NU * 2];
    size_t nt = 0;
    for (int u = 0; u < NU; ++u)
        for (int j = 0; j < PER; ++j) { /* item popularity grows with the id */
            tu[nt] = u;
            ti[nt++] = (int32_t)((NI - 1) - ((u * 7 + j * j * 3) % (NI / (j + 1))));
        }
    for (int u = 0; u < NU; ++u) {
        su[2 * u] = su[2 * u + 1] = u;
        si[2 * u] = (u * 11) % NI;
        si[2 * u + 1] = (u * 5 + 3) % NI;
    }
    cns_dataset *train = NULL, *test = NULL;
    cns_error err;
    ck_assert_int_eq(cns_dataset_from_arrays(tu, ti, nt, NU, NI, NULL, &train, &err), CNS_OK);
    ck_assert_int_eq(cns_dataset_from_arrays(su, si, NU * 2, NU, NI, NULL, &test, &err), CNS_OK);
    uint8_t idec[NI];
    ck_assert_int_eq(decile_of(cns_dataset_item_popularity(train), NI, idec, NULL), 0);
    rank_effect re;
    const cns_dataset *tests[1] = {test};
    ck_assert_int_eq(measure_rank_effect(ue, NU, ie, NI, D, c, train, idec, tests, 1, &re), 0);

    double share[2][10] = {{0}}, recall[2] = {0, 0}, slots = 0;
    int users = 0;
    for (int u = 0; u < NU; ++u) {
        const int32_t *seen, *want;
        size_t ns, nw;
        ck_assert_int_eq(cns_dataset_user_items(train, u, &seen, &ns), CNS_OK);
        ck_assert_int_eq(cns_dataset_user_items(test, u, &want, &nw), CNS_OK);
        double pu = 0;
        for (int k = 0; k < D; ++k) pu += (double)ue[u * D + k] * c[k];
        for (int v = 0; v < 2; ++v) {
            scored all[NI];
            int m = 0;
            for (int i = 0; i < NI; ++i) {
                int is_seen = 0;
                for (size_t j = 0; j < ns; ++j) is_seen |= seen[j] == i;
                if (is_seen) continue;
                double s = 0, pi = 0;
                for (int k = 0; k < D; ++k) {
                    s += (double)ue[u * D + k] * ie[i * D + k];
                    pi += (double)ie[i * D + k] * c[k];
                }
                all[m++] = (scored){v == 0 ? s : s - pu * pi, i};
            }
            qsort(all, (size_t)m, sizeof *all, cmp_scored);
            const int k = m < MECH_TOPK ? m : MECH_TOPK;
            int hits = 0;
            for (int r = 0; r < k; ++r) {
                share[v][idec[all[r].i]] += 1;
                for (size_t j = 0; j < nw; ++j) hits += want[j] == all[r].i;
            }
            if (v == 0) slots += k;
            recall[v] += nw > 0 ? (double)hits / (double)nw : 0.0;
        }
        users += nw > 0;
    }
    ck_assert_int_eq(re.users[0], users);
    for (int v = 0; v < 2; ++v) {
        ck_assert_close(re.recall[v][0], recall[v] / users, 1e-9, 1e-12);
        for (int q = 0; q < 10; ++q) ck_assert_close(re.share[v][q], share[v][q] / slots, 1e-9, 1e-12);
    }
    /* the two rankings differ here, or the test would not test the removal */
    int differ = 0;
    for (int q = 0; q < 10; ++q) differ |= fabs(re.share[0][q] - re.share[1][q]) > 1e-9;
    ck_assert(differ);
    /* mean scores per decile against the mean user */
    double ubar[D] = {0}, uc = 0;
    for (int u = 0; u < NU; ++u)
        for (int k = 0; k < D; ++k) ubar[k] += ue[u * D + k] / (double)NU;
    for (int k = 0; k < D; ++k) uc += ubar[k] * c[k];
    for (int q = 0; q < 10; ++q) {
        double s = 0, sc = 0;
        int n = 0;
        for (int i = 0; i < NI; ++i) {
            if (idec[i] != q) continue;
            double dot = 0, p = 0;
            for (int k = 0; k < D; ++k) {
                dot += ubar[k] * ie[i * D + k];
                p += (double)ie[i * D + k] * c[k];
            }
            s += dot;
            sc += uc * p;
            ++n;
        }
        ck_assert_int_eq(n, NI / 10);
        ck_assert_close(re.mean_score[q], s / n, 1e-6, 1e-9);
        ck_assert_close(re.mean_score_c[q], sc / n, 1e-6, 1e-9);
    }
#undef NEXT
    cns_dataset_free(test);
    cns_dataset_free(train);
}
END_TEST

int main(void) {
    Suite *s = suite_create("mechanism");
    TCase *tc = tcase_create("mechanism");
    tcase_add_test(tc, test_effective_rank_known);
    tcase_add_test(tc, test_jacobi_eigenvalues);
    tcase_add_test(tc, test_topk_push_matches_sort);
    tcase_add_test(tc, test_rank_effect_brute_force);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
