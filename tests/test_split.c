/* cns_split: OOD splits — partition, sizes, the popularity ratio against an
 * independent computation, the beta search, determinism, errors. */
#include <sys/stat.h>

#include "testutil.h"

/* A synthetic file with known, heavy-tailed popularity: item i is chosen
 * with weight 1/(i+1) (Zipf), users draw `per_user` distinct items from it
 * with a private LCG (not the library's RNG). */
static cns_dataset *zipf_dataset(int32_t users, int32_t items, int per_user) {
    size_t n = (size_t)users * (size_t)per_user;
    int32_t *u = malloc(n * sizeof *u), *it = malloc(n * sizeof *it);
    double *cdf = malloc((size_t)items * sizeof *cdf);
    ck_assert(u && it && cdf);
    double tot = 0.0;
    for (int32_t i = 0; i < items; ++i) cdf[i] = (tot += 1.0 / (i + 1));
    uint64_t s = 12345;
    size_t m = 0;
    for (int32_t a = 0; a < users; ++a) {
        int got = 0;
        while (got < per_user) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double x = (double)(s >> 11) / 9007199254740992.0 * tot;
            int32_t i = 0;
            while (i < items - 1 && cdf[i] < x) ++i;
            int dup = 0;
            for (size_t k = m - (size_t)got; k < m; ++k) dup |= it[k] == i;
            if (dup) continue;
            u[m] = a;
            it[m] = i;
            ++m;
            ++got;
        }
    }
    cns_dataset *ds = NULL;
    cns_error err;
    ck_assert_status(cns_dataset_from_arrays(u, it, m, 0, 0, NULL, &ds, &err), CNS_OK);
    free(u);
    free(it);
    free(cdf);
    return ds;
}

/* The popularity ratio computed from the parts alone (header formula). */
static double ratio_of(const cns_split *s) {
    const cns_dataset *tr = cns_split_dataset(s, CNS_SPLIT_PART_TRAIN);
    const cns_dataset *te = cns_split_dataset(s, CNS_SPLIT_PART_TEST_OOD);
    int32_t M = cns_dataset_num_items(tr);
    /* Count the training popularity from the pairs, not from the dataset's
     * precomputed array. */
    double *p = calloc((size_t)M, sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (size_t k = 0; k < cns_dataset_num_interactions(tr); ++k) {
        int32_t u, i;
        ck_assert_status(cns_dataset_pair(tr, k, &u, &i), CNS_OK);
        p[i] += 1.0;
    }
    double s1 = 0, s2 = 0, so = 0;
    for (int32_t i = 0; i < M; ++i) {
        s1 += p[i];
        s2 += p[i] * p[i];
    }
    size_t nt = cns_dataset_num_interactions(te);
    for (size_t k = 0; k < nt; ++k) {
        int32_t u, i;
        ck_assert_status(cns_dataset_pair(te, k, &u, &i), CNS_OK);
        so += p[i];
    }
    free(p);
    return (so / (double)nt) / (s2 / s1);
}

static cns_split *make(const cns_dataset *ds, const cns_split_desc *d) {
    cns_split *s = NULL;
    cns_error err;
    cns_status st = cns_split_create(ds, d, NULL, &s, &err);
    ck_assert_msg(st == CNS_OK, "cns_split_create: %s", err.message);
    return s;
}

/* Every input pair is in exactly one part, and the parts hold nothing else. */
static void check_partition(const cns_dataset *ds, const cns_split *s) {
    size_t total = 0;
    for (int p = 0; p < CNS_SPLIT_PART_COUNT; ++p) {
        const cns_dataset *part = cns_split_dataset(s, p);
        ck_assert_ptr_nonnull(part);
        ck_assert_int_eq(cns_dataset_num_users(part), cns_dataset_num_users(ds));
        ck_assert_int_eq(cns_dataset_num_items(part), cns_dataset_num_items(ds));
        total += cns_dataset_num_interactions(part);
        for (size_t k = 0; k < cns_dataset_num_interactions(part); ++k) {
            int32_t u, i;
            ck_assert_status(cns_dataset_pair(part, k, &u, &i), CNS_OK);
            ck_assert_msg(cns_dataset_contains(ds, u, i), "part %d holds (%d,%d), not in the input", p,
                          (int)u, (int)i);
        }
    }
    ck_assert_uint_eq(total, cns_dataset_num_interactions(ds));
    for (size_t k = 0; k < cns_dataset_num_interactions(ds); ++k) {
        int32_t u, i;
        ck_assert_status(cns_dataset_pair(ds, k, &u, &i), CNS_OK);
        int in = 0;
        for (int p = 0; p < CNS_SPLIT_PART_COUNT; ++p) in += cns_dataset_contains(cns_split_dataset(s, p), u, i);
        ck_assert_msg(in == 1, "(%d,%d) is in %d parts", (int)u, (int)i, in);
    }
}

/* Every user and item of a held-out part keeps training pairs. */
static void check_coverage(const cns_split *s, int32_t item_min) {
    const cns_dataset *tr = cns_split_dataset(s, CNS_SPLIT_PART_TRAIN);
    const int32_t *pop = cns_dataset_item_popularity(tr);
    for (int p = 1; p < CNS_SPLIT_PART_COUNT; ++p) {
        const cns_dataset *part = cns_split_dataset(s, p);
        for (size_t k = 0; k < cns_dataset_num_interactions(part); ++k) {
            int32_t u, i;
            const int32_t *row;
            size_t deg;
            ck_assert_status(cns_dataset_pair(part, k, &u, &i), CNS_OK);
            ck_assert_status(cns_dataset_user_items(tr, u, &row, &deg), CNS_OK);
            ck_assert_msg(deg >= 1, "user %d of part %d has no training pair", (int)u, p);
            ck_assert_msg(pop[i] >= item_min, "item %d of part %d has %d training pairs", (int)i, p,
                          (int)pop[i]);
        }
    }
}

START_TEST(test_defaults) {
    cns_split_desc d;
    cns_split_desc_init(&d);
    ck_assert_uint_eq(d.struct_size, sizeof d);
    ck_assert_int_eq(d.kind, CNS_SPLIT_KIND_POPULARITY);
    ck_assert_int_eq(d.item_min_train, 1);
    ck_assert(d.ood_fraction == 0.2 && d.valid_fraction == 0.1 && d.test_fraction == 0.1);
    ck_assert(d.target_ratio == 0.15 && d.beta < 0 && d.seed == 1);
    ck_assert_str_eq(cns_split_part_file(CNS_SPLIT_PART_TRAIN), "train.txt");
    ck_assert_str_eq(cns_split_part_file(CNS_SPLIT_PART_VALID), "valid.txt");
    ck_assert_str_eq(cns_split_part_file(CNS_SPLIT_PART_VALID_OOD), "valid_ood.txt");
    ck_assert_str_eq(cns_split_part_file(CNS_SPLIT_PART_TEST_IID), "test_iid.txt");
    ck_assert_str_eq(cns_split_part_file(CNS_SPLIT_PART_TEST_OOD), "test_ood.txt");
    ck_assert_ptr_null(cns_split_part_file(5));
    ck_assert_ptr_null(cns_split_part_file(-1));
}
END_TEST

/* The search reaches each target within 0.01, and the reported ratio is
 * the one computed from the parts. */
START_TEST(test_ratio_reaches_target) {
    cns_dataset *ds = zipf_dataset(600, 300, 20);
    static const double targets[] = {0.15, 0.3, 0.6};
    for (int t = 0; t < 3; ++t) {
        cns_split_desc d;
        cns_split_desc_init(&d);
        d.target_ratio = targets[t];
        cns_split *s = make(ds, &d);
        double r = ratio_of(s);
        ck_assert_close(cns_split_ratio(s), r, 1e-12, 0);
        ck_assert_msg(fabs(r - targets[t]) <= 0.01, "target %g reached %g (beta %g)", targets[t], r,
                      cns_split_beta(s));
        ck_assert(cns_split_beta(s) > 0.0);
        check_partition(ds, s);
        check_coverage(s, 1);
        cns_split_free(s);
    }
    cns_dataset_free(ds);
}
END_TEST

/* Sizes: the OOD sample is round(0.2 n) cut in halves (valid_ood gets the
 * smaller), the IID parts round(0.1 (n - ood)) each. 600 x 20 = 12000. */
START_TEST(test_sizes) {
    cns_dataset *ds = zipf_dataset(600, 300, 20);
    ck_assert_uint_eq(cns_dataset_num_interactions(ds), 12000);
    cns_split_desc d;
    cns_split_desc_init(&d);
    d.ood_fraction = 0.25;
    d.valid_fraction = 0.05;
    d.test_fraction = 0.15;
    d.beta = 1.0;
    cns_split *s = make(ds, &d);
    /* 3000 OOD: 1500 + 1500; rest 9000: 450 valid, 1350 test. */
    ck_assert_uint_eq(cns_dataset_num_interactions(cns_split_dataset(s, CNS_SPLIT_PART_VALID_OOD)), 1500);
    ck_assert_uint_eq(cns_dataset_num_interactions(cns_split_dataset(s, CNS_SPLIT_PART_TEST_OOD)), 1500);
    ck_assert_uint_eq(cns_dataset_num_interactions(cns_split_dataset(s, CNS_SPLIT_PART_VALID)), 450);
    ck_assert_uint_eq(cns_dataset_num_interactions(cns_split_dataset(s, CNS_SPLIT_PART_TEST_IID)), 1350);
    ck_assert_uint_eq(cns_dataset_num_interactions(cns_split_dataset(s, CNS_SPLIT_PART_TRAIN)), 7200);
    ck_assert(cns_split_beta(s) == 1.0);
    cns_split_free(s);
    cns_dataset_free(ds);
}
END_TEST

/* A fixed beta: the ratio falls as beta grows; beta 0 (and the random
 * kind, which ignores beta) is unshifted up to sampling noise. */
START_TEST(test_beta_orders_the_shift) {
    cns_dataset *ds = zipf_dataset(600, 300, 20);
    cns_split_desc d;
    cns_split_desc_init(&d);
    double prev = INFINITY;
    static const double betas[] = {0.0, 0.5, 1.0, 2.0};
    for (int b = 0; b < 4; ++b) {
        d.beta = betas[b];
        cns_split *s = make(ds, &d);
        double r = ratio_of(s);
        ck_assert_msg(r < prev, "beta %g: ratio %g not below %g", betas[b], r, prev);
        if (b == 0) ck_assert_msg(fabs(r - 1.0) < 0.1, "beta 0: ratio %g", r);
        prev = r;
        cns_split_free(s);
    }
    d.kind = CNS_SPLIT_KIND_RANDOM;
    d.beta = 3.0;
    cns_split *s = make(ds, &d);
    ck_assert(cns_split_beta(s) == 0.0);
    ck_assert_msg(fabs(ratio_of(s) - 1.0) < 0.1, "random: ratio %g", ratio_of(s));
    check_partition(ds, s);
    cns_split_free(s);
    cns_dataset_free(ds);
}
END_TEST

static int same_parts(const cns_split *a, const cns_split *b) {
    for (int p = 0; p < CNS_SPLIT_PART_COUNT; ++p) {
        const cns_dataset *x = cns_split_dataset(a, p), *y = cns_split_dataset(b, p);
        if (cns_dataset_num_interactions(x) != cns_dataset_num_interactions(y)) return 0;
        for (size_t k = 0; k < cns_dataset_num_interactions(x); ++k) {
            int32_t u1, i1, u2, i2;
            ck_assert_status(cns_dataset_pair(x, k, &u1, &i1), CNS_OK);
            ck_assert_status(cns_dataset_pair(y, k, &u2, &i2), CNS_OK);
            if (u1 != u2 || i1 != i2) return 0;
        }
    }
    return 1;
}

START_TEST(test_determinism) {
    cns_dataset *ds = zipf_dataset(300, 200, 15);
    cns_split_desc d;
    cns_split_desc_init(&d);
    d.seed = 7;
    cns_split *a = make(ds, &d), *b = make(ds, &d);
    ck_assert(same_parts(a, b));
    ck_assert(cns_split_ratio(a) == cns_split_ratio(b) && cns_split_beta(a) == cns_split_beta(b));
    d.seed = 8;
    cns_split *c = make(ds, &d);
    ck_assert(!same_parts(a, c));
    cns_split_free(a);
    cns_split_free(b);
    cns_split_free(c);
    cns_dataset_free(ds);
}
END_TEST

/* item_min_train: no held-out item is left with fewer training pairs. */
START_TEST(test_item_min_train) {
    cns_dataset *ds = zipf_dataset(300, 200, 15);
    cns_split_desc d;
    cns_split_desc_init(&d);
    d.item_min_train = 4;
    d.beta = 4.0; /* pushes the race hard onto rare items */
    cns_split *s = make(ds, &d);
    check_partition(ds, s);
    check_coverage(s, 4);
    cns_split_free(s);
    cns_dataset_free(ds);
}
END_TEST

/* A target no beta reaches: the strongest shift on offer is kept. */
START_TEST(test_unreachable_target) {
    cns_dataset *ds = zipf_dataset(300, 200, 15);
    cns_split_desc d;
    cns_split_desc_init(&d);
    d.target_ratio = 1e-6;
    cns_split *s = make(ds, &d);
    ck_assert(cns_split_beta(s) == 16.0);
    ck_assert(cns_split_ratio(s) > 1e-6);
    check_partition(ds, s);
    cns_split_free(s);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_bad_arguments) {
    cns_dataset *ds = zipf_dataset(50, 40, 10);
    cns_split_desc d;
    cns_split *s = (cns_split *)&d;
    cns_error err;
    cns_split_desc_init(&d);
    ck_assert_status(cns_split_create(NULL, &d, NULL, &s, &err), CNS_E_ARG);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err.message, "cns_split_create: ds is NULL"));
    ck_assert_status(cns_split_create(ds, NULL, NULL, &s, &err), CNS_E_ARG);
    ck_assert_status(cns_split_create(ds, &d, NULL, NULL, &err), CNS_E_ARG);
    cns_allocator bad = {NULL, NULL, NULL};
    ck_assert_status(cns_split_create(ds, &d, &bad, &s, &err), CNS_E_ARG);

    /* One field at a time, with the message naming it. */
#define BAD(stmt, name)                                                                      \
    do {                                                                                     \
        cns_split_desc_init(&d);                                                             \
        stmt;                                                                                \
        s = (cns_split *)&d;                                                                 \
        ck_assert_status(cns_split_create(ds, &d, NULL, &s, &err), CNS_E_ARG);               \
        ck_assert_ptr_null(s);                                                               \
        ck_assert_msg(strstr(err.message, name) != NULL, "'%s' lacks '%s'", err.message, name); \
    } while (0)
    BAD(d.kind = 2, "desc->kind");
    BAD(d.ood_fraction = 0.0, "desc->ood_fraction");
    BAD(d.ood_fraction = 1.0, "desc->ood_fraction");
    BAD(d.ood_fraction = NAN, "desc->ood_fraction");
    BAD(d.valid_fraction = 0.0, "desc->valid_fraction");
    BAD(d.test_fraction = -0.1, "desc->test_fraction");
    BAD((d.valid_fraction = 0.5, d.test_fraction = 0.5), "valid_fraction + test_fraction");
    BAD(d.target_ratio = 0.0, "desc->target_ratio");
    BAD(d.target_ratio = 1.5, "desc->target_ratio");
    BAD(d.beta = NAN, "desc->beta");
    BAD(d.beta = 16.5, "desc->beta");
    BAD(d.item_min_train = 0, "desc->item_min_train");
#undef BAD
    cns_split_desc_init(&d);
    d.struct_size = sizeof d - 8;
    ck_assert_status(cns_split_create(ds, &d, NULL, &s, &err), CNS_E_SIZE);
    /* A newer caller's larger struct passes with zeroed extra bytes. */
    struct {
        cns_split_desc d;
        uint64_t extra;
    } big;
    memset(&big, 0, sizeof big);
    cns_split_desc_init(&big.d);
    big.d.struct_size = sizeof big;
    big.d.beta = 1.0;
    ck_assert_status(cns_split_create(ds, &big.d, NULL, &s, &err), CNS_OK);
    cns_split_free(s);
    big.extra = 1;
    ck_assert_status(cns_split_create(ds, &big.d, NULL, &s, &err), CNS_E_SIZE);
    ck_assert_ptr_null(s);

    ck_assert_ptr_null(cns_split_dataset(NULL, 0));
    ck_assert(isnan(cns_split_ratio(NULL)) && isnan(cns_split_beta(NULL)));
    ck_assert_status(cns_split_write(NULL, "/tmp", &err), CNS_E_ARG);
    cns_split_free(NULL);
    cns_dataset_free(ds);
}
END_TEST

/* Too few pairs: a part would be empty, and the message says which. */
START_TEST(test_too_small) {
    const int32_t u[] = {0, 0, 1, 1, 2};
    const int32_t i[] = {0, 1, 0, 2, 1};
    cns_dataset *ds = NULL;
    cns_error err;
    ck_assert_status(cns_dataset_from_arrays(u, i, 5, 0, 0, NULL, &ds, &err), CNS_OK);
    cns_split_desc d;
    cns_split_desc_init(&d);
    cns_split *s = (cns_split *)&d;
    ck_assert_status(cns_split_create(ds, &d, NULL, &s, &err), CNS_E_EMPTY);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err.message, "would be empty"));
    ck_assert_ptr_nonnull(strstr(err.message, ".txt"));
    cns_dataset_free(ds);
}
END_TEST

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* The files load back into the parts, and a second split with the same
 * seed writes byte-identical files. */
START_TEST(test_write) {
    cns_dataset *ds = zipf_dataset(200, 100, 12);
    cns_split_desc d;
    cns_split_desc_init(&d);
    char dir1[] = "/tmp/cns_split_XXXXXX", dir2[] = "/tmp/cns_split_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir1));
    ck_assert_ptr_nonnull(mkdtemp(dir2));
    cns_split *a = make(ds, &d), *b = make(ds, &d);
    cns_error err;
    ck_assert_status(cns_split_write(a, dir1, &err), CNS_OK);
    ck_assert_status(cns_split_write(b, dir2, &err), CNS_OK);
    char p1[256], p2[256];
    for (int p = 0; p < CNS_SPLIT_PART_COUNT; ++p) {
        snprintf(p1, sizeof p1, "%s/%s", dir1, cns_split_part_file(p));
        snprintf(p2, sizeof p2, "%s/%s", dir2, cns_split_part_file(p));
        size_t n1, n2;
        char *x = slurp(p1, &n1), *y = slurp(p2, &n2);
        ck_assert_uint_eq(n1, n2);
        ck_assert(memcmp(x, y, n1) == 0);
        free(x);
        free(y);
        cns_dataset *back = NULL;
        ck_assert_status(cns_dataset_load_file(p1, 0, NULL, &back, &err), CNS_OK);
        const cns_dataset *part = cns_split_dataset(a, p);
        ck_assert_uint_eq(cns_dataset_num_interactions(back), cns_dataset_num_interactions(part));
        for (size_t k = 0; k < cns_dataset_num_interactions(back); ++k) {
            int32_t u, i;
            ck_assert_status(cns_dataset_pair(back, k, &u, &i), CNS_OK);
            ck_assert(cns_dataset_contains(part, u, i));
        }
        cns_dataset_free(back);
        unlink(p1);
        unlink(p2);
    }
    rmdir(dir1);
    rmdir(dir2);
    /* A directory that does not exist: CNS_E_IO naming the path. */
    ck_assert_status(cns_split_write(a, "/nonexistent-cns-dir", &err), CNS_E_IO);
    ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent-cns-dir/train.txt"));
    cns_split_free(a);
    cns_split_free(b);
    cns_dataset_free(ds);
}
END_TEST

typedef struct failing {
    long calls, live, fail_at;
} failing;
static void *f_alloc(void *user, size_t n) {
    failing *f = user;
    if (++f->calls == f->fail_at) return NULL;
    void *p = malloc(n);
    if (p) f->live++;
    return p;
}
static void f_free(void *user, void *p) {
    failing *f = user;
    if (p) f->live--;
    free(p);
}

START_TEST(test_allocation_failures) {
    cns_dataset *ds = zipf_dataset(60, 40, 8);
    cns_split_desc d;
    cns_split_desc_init(&d);
    failing f = {0, 0, 0};
    cns_allocator a = {f_alloc, f_free, &f};
    cns_split *s = NULL;
    cns_error err;
    ck_assert_status(cns_split_create(ds, &d, &a, &s, &err), CNS_OK);
    long total = f.calls;
    ck_assert_int_gt(total, 10);
    cns_split_free(s);
    ck_assert_int_eq(f.live, 0);
    for (long k = 1; k <= total; ++k) {
        failing g = {0, 0, k};
        cns_allocator b = {f_alloc, f_free, &g};
        s = (cns_split *)&g;
        ck_assert_status(cns_split_create(ds, &d, &b, &s, &err), CNS_E_NOMEM);
        ck_assert_ptr_null(s);
        ck_assert_int_eq(g.live, 0);
    }
    cns_dataset_free(ds);
}
END_TEST

static Suite *split_suite(void) {
    Suite *s = suite_create("split");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_ratio_reaches_target);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_beta_orders_the_shift);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_item_min_train);
    tcase_add_test(tc, test_unreachable_target);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_too_small);
    tcase_add_test(tc, test_write);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return cns_test_run(split_suite()); }
