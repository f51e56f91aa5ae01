/* Id maps (lib/idmap.c), the id modes of the loaders (lib/dataset_load.c),
 * the dense-id bound, loading through a training id space, and raw ids in
 * model checkpoints (lib/model_io.c, section 'IDMP'). Expected indices
 * come from the documented order (numbers by value, then bytes), worked
 * out by hand in each test. */
#include <stdint.h>

#include "checkpoint.h"
#include "cnsdiff/idmap.h"
#include "dataset_internal.h"
#include "testutil.h"

typedef struct test_alloc {
    size_t live, calls;
    long fail_at;  /* the call index that fails, -1 for none */
    size_t limit;  /* largest block granted, 0 for no limit */
    size_t held, peak; /* bytes live and their maximum */
} test_alloc;

/* A size header in front of each block, so frees can count bytes. */
static void *ta_alloc(void *user, size_t n) {
    test_alloc *t = user;
    long call = (long)t->calls++;
    if (call == t->fail_at || (t->limit && n > t->limit)) return NULL;
    max_align_t *p = malloc(n + sizeof(max_align_t));
    if (p == NULL) return NULL;
    *(size_t *)(void *)p = n;
    t->live++;
    t->held += n;
    if (t->held > t->peak) t->peak = t->held;
    return p + 1;
}
static void ta_free(void *user, void *q) {
    test_alloc *t = user;
    if (q == NULL) return;
    max_align_t *p = (max_align_t *)q - 1;
    t->live--;
    t->held -= *(size_t *)(void *)p;
    free(p);
}

static cns_load_options opts(int ids, unsigned flags) {
    cns_load_options o;
    cns_load_options_init(&o);
    o.ids = ids;
    o.flags = flags;
    return o;
}

static cns_status load(const char *text, const cns_load_options *o, const cns_allocator *a,
                       cns_dataset **ds, cns_idmap **map, cns_error *e) {
    return cns_dataset_load_buffer_ids(text, strlen(text), "t", o, a, ds, map, e);
}

static void assert_raw(const cns_idmap *m, cns_table t, int32_t idx, const char *want) {
    const char *s;
    size_t len;
    ck_assert_status(cns_idmap_raw(m, t, idx, &s, &len), CNS_OK);
    ck_assert_str_eq(s, want);
    ck_assert_uint_eq(len, strlen(want));
    int32_t back = -1;
    ck_assert_status(cns_idmap_find(m, t, want, strlen(want), &back), CNS_OK);
    ck_assert_int_eq(back, idx);
}

START_TEST(test_string_ids) {
    cns_load_options o = opts(CNS_IDS_MAP, 0);
    cns_dataset *ds = NULL;
    cns_idmap *m = NULL;
    cns_error e;
    ck_assert_status(load("alice shoe-42\nbob shoe-7 1\nalice shoe-7\n", &o, NULL, &ds, &m, &e),
                     CNS_OK);
    ck_assert_ptr_nonnull(m);
    /* users alice < bob; items "shoe-42" < "shoe-7" (byte '4' < '7'). */
    ck_assert_int_eq(cns_dataset_num_users(ds), 2);
    ck_assert_int_eq(cns_dataset_num_items(ds), 2);
    ck_assert_int_eq(cns_idmap_count(m, CNS_TABLE_USERS), 2);
    assert_raw(m, CNS_TABLE_USERS, 0, "alice");
    assert_raw(m, CNS_TABLE_USERS, 1, "bob");
    assert_raw(m, CNS_TABLE_ITEMS, 0, "shoe-42");
    assert_raw(m, CNS_TABLE_ITEMS, 1, "shoe-7");
    ck_assert(cns_dataset_contains(ds, 0, 0) && cns_dataset_contains(ds, 0, 1));
    ck_assert(cns_dataset_contains(ds, 1, 1) && !cns_dataset_contains(ds, 1, 0));
    int32_t idx;
    ck_assert_status(cns_idmap_find(m, CNS_TABLE_USERS, "carol", 5, &idx), CNS_E_ID_RANGE);
    ck_assert_status(cns_idmap_find(m, CNS_TABLE_USERS, "alicex", 5, &idx), CNS_OK); /* len 5 */
    ck_assert_int_eq(idx, 0);
    ck_assert_status(cns_idmap_find(m, CNS_TABLE_ITEMS, "alice", 5, &idx), CNS_E_ID_RANGE);
    uint64_t v;
    ck_assert_status(cns_idmap_raw_u64(m, CNS_TABLE_USERS, 0, &v), CNS_E_UNSUPPORTED);
    ck_assert_status(cns_idmap_raw(m, CNS_TABLE_USERS, 2, &(const char *){NULL}, NULL), CNS_E_ARG);
    cns_idmap_free(m);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_numeric_order_and_leading_zeros) {
    cns_load_options o = opts(CNS_IDS_MAP, 0);
    cns_dataset *ds = NULL;
    cns_idmap *m = NULL;
    cns_error e;
    /* Users b, 10, a, 9, 007 (= 7) and 18446744073709551615 (2^64 - 1):
     * numbers by value first (7, 9, 10, 2^64 - 1), then a, b. */
    ck_assert_status(load("b 3\n10 3\na 100\n9 3\n007 100\n18446744073709551615 0003\n", &o, NULL,
                          &ds, &m, &e),
                     CNS_OK);
    ck_assert_int_eq(cns_dataset_num_users(ds), 6);
    ck_assert_int_eq(cns_dataset_num_items(ds), 2);
    static const char *users[6] = {"7", "9", "10", "18446744073709551615", "a", "b"};
    for (int k = 0; k < 6; ++k) assert_raw(m, CNS_TABLE_USERS, k, users[k]);
    assert_raw(m, CNS_TABLE_ITEMS, 0, "3");
    assert_raw(m, CNS_TABLE_ITEMS, 1, "100");
    int32_t idx = -1;
    ck_assert_status(cns_idmap_find(m, CNS_TABLE_USERS, "0007", 4, &idx), CNS_OK);
    ck_assert_int_eq(idx, 0);
    ck_assert_status(cns_idmap_find_u64(m, CNS_TABLE_USERS, UINT64_MAX, &idx), CNS_OK);
    ck_assert_int_eq(idx, 3);
    ck_assert_status(cns_idmap_find_u64(m, CNS_TABLE_USERS, 8, &idx), CNS_E_ID_RANGE);
    uint64_t v = 0;
    ck_assert_status(cns_idmap_raw_u64(m, CNS_TABLE_USERS, 3, &v), CNS_OK);
    ck_assert(v == UINT64_MAX);
    ck_assert_status(cns_idmap_raw_u64(m, CNS_TABLE_USERS, 2, &v), CNS_OK);
    ck_assert(v == 10);
    /* 007 -> user 0 has item 100 -> 1; 18446744073709551615 has 0003 -> 0. */
    ck_assert(cns_dataset_contains(ds, 0, 1) && cns_dataset_contains(ds, 3, 0));
    cns_idmap_free(m);
    cns_dataset_free(ds);
    /* 2^64 itself is a valid key but not a u64. */
    ck_assert_status(load("18446744073709551616 1\n", &o, NULL, &ds, &m, &e), CNS_OK);
    ck_assert_status(cns_idmap_raw_u64(m, CNS_TABLE_USERS, 0, &v), CNS_E_UNSUPPORTED);
    cns_idmap_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* A dense file with every id 0..n-1 present maps to itself. */
static char *dense_text(int users, int items, int per_user, unsigned seed) {
    size_t cap = (size_t)users * (size_t)per_user * 24 + (size_t)items * 24 + 64, n = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    uint64_t x = seed;
    for (int u = 0; u < users; ++u)
        for (int k = 0; k < per_user; ++k) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            n += (size_t)snprintf(s + n, cap - n, "%d %d\n", u, (int)((x >> 33) % (uint64_t)items));
        }
    for (int i = 0; i < items; ++i) n += (size_t)snprintf(s + n, cap - n, "%d %d\n", i % users, i);
    return s;
}

START_TEST(test_dense_file_maps_to_itself) {
    char *text = dense_text(50, 80, 6, 7);
    cns_load_options od = opts(CNS_IDS_DENSE, 0), om = opts(CNS_IDS_MAP, 0);
    cns_dataset *d = NULL, *mds = NULL;
    cns_idmap *m = NULL;
    cns_error e;
    ck_assert_status(load(text, &od, NULL, &d, NULL, &e), CNS_OK);
    ck_assert_status(load(text, &om, NULL, &mds, &m, &e), CNS_OK);
    ck_assert_int_eq(cns_dataset_num_users(mds), 50);
    ck_assert_int_eq(cns_dataset_num_items(mds), 80);
    ck_assert_uint_eq(cns_dataset_num_interactions(mds), cns_dataset_num_interactions(d));
    ck_assert_mem_eq(mds->user_ptr, d->user_ptr, 51 * sizeof(size_t));
    ck_assert_mem_eq(mds->items, d->items, d->nnz * sizeof(int32_t));
    for (int i = 0; i < 80; ++i) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", i);
        assert_raw(m, CNS_TABLE_ITEMS, i, buf);
    }
    /* The same data gives the same model, bit for bit, after training steps. */
    cns_model_desc desc;
    cns_model_desc_init(&desc);
    desc.dim = 8;
    cns_model *a = NULL, *b = NULL;
    ck_assert_status(cns_model_create(d, &desc, NULL, &a, &e), CNS_OK);
    ck_assert_status(cns_model_create(mds, &desc, NULL, &b, &e), CNS_OK);
    ck_assert_status(cns_model_set_idmap(b, m), CNS_OK);
    const int32_t us[3] = {0, 7, 49}, ps[3] = {1, 2, 79}, ns[3] = {5, 6, 7};
    float g[3 * 8];
    for (int k = 0; k < 24; ++k) g[k] = (float)(k % 5) * 0.1f - 0.2f;
    for (int step = 0; step < 3; ++step) {
        cns_model *ms[2] = {a, b};
        for (int w = 0; w < 2; ++w) {
            ck_assert_status(cns_model_forward(ms[w]), CNS_OK);
            ck_assert_status(cns_model_zero_grad(ms[w]), CNS_OK);
            ck_assert_status(cns_model_accumulate_grad(ms[w], CNS_TABLE_USERS, us, 3, g), CNS_OK);
            ck_assert_status(cns_model_backward(ms[w], us, ps, ns, 3, NULL), CNS_OK);
            ck_assert_status(cns_model_step(ms[w]), CNS_OK);
        }
    }
    ck_assert_status(cns_model_forward(a), CNS_OK);
    ck_assert_status(cns_model_forward(b), CNS_OK);
    ck_assert_mem_eq(cns_model_embeddings(a, CNS_TABLE_USERS), cns_model_embeddings(b, CNS_TABLE_USERS),
                     50 * 8 * sizeof(float));
    ck_assert_mem_eq(cns_model_embeddings(a, CNS_TABLE_ITEMS), cns_model_embeddings(b, CNS_TABLE_ITEMS),
                     80 * 8 * sizeof(float));
    /* recommend_raw for "7" is recommend for index 7, spelled as raw ids. */
    int32_t ia[5], ib[5];
    const char *raw[5];
    size_t na, nb;
    ck_assert_status(cns_model_recommend(a, 7, 5, ia, NULL, &na), CNS_OK);
    ck_assert_status(cns_model_recommend_raw(b, "7", 1, 5, ib, raw, NULL, &nb), CNS_OK);
    ck_assert_uint_eq(na, nb);
    for (size_t k = 0; k < na; ++k) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", (int)ia[k]);
        ck_assert_int_eq(ia[k], ib[k]);
        ck_assert_str_eq(raw[k], buf);
    }
    ck_assert_status(cns_model_recommend_raw(a, "7", 1, 5, ib, raw, NULL, &nb), CNS_E_UNSUPPORTED);
    ck_assert_status(cns_model_recommend_raw(b, "50", 2, 5, ib, raw, NULL, &nb), CNS_E_ID_RANGE);
    cns_model_free(a);
    cns_model_free(b);
    cns_idmap_free(m);
    cns_dataset_free(d);
    cns_dataset_free(mds);
    free(text);
}
END_TEST

START_TEST(test_dense_bound) {
    /* The file: two lines, so the bound is 16 * 2 + 1048575. */
    const char *two = "0 1\n2000000000 5\n";
    const long long bound = 16LL * 2 + 1048575;
    cns_load_options o = opts(CNS_IDS_DENSE, 0);
    test_alloc t = {0, 0, -1, 0, 0, 0};
    cns_allocator a = {ta_alloc, ta_free, &t};
    cns_dataset *ds = NULL;
    cns_idmap *m = NULL;
    cns_error e;
    ck_assert_status(load(two, &o, &a, &ds, NULL, &e), CNS_E_ID_RANGE);
    ck_assert_ptr_null(ds);
    char want[160];
    snprintf(want, sizeof want, "t:2: user id 2000000000 is above the dense-id bound %lld", bound);
    ck_assert_msg(strstr(e.message, want) != NULL, "%s", e.message);
    ck_assert_uint_eq(t.live, 0);
    ck_assert_uint_lt(t.peak, 1u << 20); /* nothing sized from the id */
    /* The old entry point is dense with the same bound. */
    ck_assert_status(cns_dataset_load_buffer(two, strlen(two), "t", 0, NULL, &ds, &e),
                     CNS_E_ID_RANGE);
    /* Skipping: the line goes, the rest loads. */
    o.flags = CNS_LOAD_SKIP_BAD;
    ck_assert_status(load(two, &o, NULL, &ds, NULL, &e), CNS_OK);
    ck_assert_uint_eq(cns_dataset_skipped(ds), 1);
    ck_assert_int_eq(cns_dataset_num_users(ds), 1);
    ck_assert_int_eq(cns_dataset_num_items(ds), 2);
    cns_dataset_free(ds);
    /* The item side is bounded too, and named. */
    o.flags = 0;
    ck_assert_status(load("0 1\n1 1048608\n", &o, NULL, &ds, NULL, &e), CNS_E_ID_RANGE);
    ck_assert_msg(strstr(e.message, "t:2: item id 1048608") != NULL, "%s", e.message);
    /* Exactly at the bound loads (one line: 16 + 1048575). */
    ck_assert_status(load("0 1048591\n", &o, NULL, &ds, NULL, &e), CNS_OK);
    ck_assert_int_eq(cns_dataset_num_items(ds), 1048592);
    cns_dataset_free(ds);
    ck_assert_status(load("0 1048592\n", &o, NULL, &ds, NULL, &e), CNS_E_ID_RANGE);
    /* The host's bound replaces the derived one, both ways. */
    o.max_dense_id = 4;
    ck_assert_status(load("0 5\n", &o, NULL, &ds, NULL, &e), CNS_E_ID_RANGE);
    ck_assert_msg(strstr(e.message, "bound 4") != NULL, "%s", e.message);
    ck_assert_status(load("0 4\n", &o, NULL, &ds, NULL, &e), CNS_OK);
    cns_dataset_free(ds);
    o.max_dense_id = 2000000000;
    t.limit = (size_t)1 << 26; /* the tables of 2e9 ids do not fit */
    ck_assert_status(load(two, &o, &a, &ds, NULL, &e), CNS_E_NOMEM);
    ck_assert_uint_eq(t.live, 0);
    /* auto turns the file into a map; map mode too. */
    o = opts(CNS_IDS_AUTO, 0);
    ck_assert_status(load(two, &o, NULL, &ds, &m, &e), CNS_OK);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(cns_dataset_num_users(ds), 2);
    ck_assert_int_eq(cns_dataset_num_items(ds), 2);
    assert_raw(m, CNS_TABLE_USERS, 1, "2000000000");
    assert_raw(m, CNS_TABLE_ITEMS, 1, "5");
    cns_idmap_free(m);
    cns_dataset_free(ds);
    /* auto keeps a dense file dense (no map). */
    ck_assert_status(load("0 1\n3 2\n", &o, NULL, &ds, &m, &e), CNS_OK);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(cns_dataset_num_users(ds), 4);
    cns_dataset_free(ds);
    /* After numeric pairs a non-numeric id is a malformed line (a typo in
     * a dense file must not turn it into a map)... */
    ck_assert_status(load("0 1\n3 2\n-5 2\n", &o, NULL, &ds, &m, &e), CNS_E_BAD_ID);
    ck_assert_msg(strstr(e.message, "t:3: user id is not a non-negative integer: '-5'") != NULL,
                  "%s", e.message);
    ck_assert_ptr_null(m);
    /* ...but a number too large for an index switches to a map, keeping
     * the earlier lines: 0 and 3 keep their indices, the big id comes last. */
    ck_assert_status(load("0 1\n3 2\n99999999999 2\n", &o, NULL, &ds, &m, &e), CNS_OK);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(cns_dataset_num_users(ds), 3);
    ck_assert_uint_eq(cns_dataset_num_interactions(ds), 3);
    assert_raw(m, CNS_TABLE_USERS, 1, "3");
    assert_raw(m, CNS_TABLE_USERS, 2, "99999999999");
    ck_assert(cns_dataset_contains(ds, 2, 1)); /* item "2" = index 1 */
    cns_idmap_free(m);
    cns_dataset_free(ds);
    /* A numeral longer than a raw id may be (300 zeros) is refused as map
     * mode refuses it, also when the line before a switch to a map had it
     * (the fuzzer found auto reading it as 0, then switching to a map). */
    {
        char longz[400];
        memset(longz, '0', 300);
        snprintf(longz + 300, sizeof longz - 300, " 1\n5 33000000000000\n");
        ck_assert_status(load(longz, &o, NULL, &ds, &m, &e), CNS_E_BAD_ID);
        ck_assert_msg(strstr(e.message, "t:1: user id is longer than 255 bytes") != NULL, "%s",
                      e.message);
        ck_assert_ptr_null(m);
        cns_load_options mo = opts(CNS_IDS_MAP, 0);
        ck_assert_status(load(longz, &mo, NULL, &ds, &m, &e), CNS_E_BAD_ID);
        /* 255 zeros are a raw id, 0, in both modes */
        snprintf(longz + 255, sizeof longz - 255, " 1\n5 33000000000000\n");
        ck_assert_status(load(longz, &o, NULL, &ds, &m, &e), CNS_OK);
        ck_assert_int_eq(cns_dataset_num_users(ds), 2);
        assert_raw(m, CNS_TABLE_USERS, 0, "0");
        cns_idmap_free(m);
        cns_dataset_free(ds);
    }
    /* A first pair with a raw id makes a map. */
    ck_assert_status(load("alice 2\n0 1\n", &o, NULL, &ds, &m, &e), CNS_OK);
    ck_assert_ptr_nonnull(m);
    assert_raw(m, CNS_TABLE_USERS, 0, "0");
    assert_raw(m, CNS_TABLE_USERS, 1, "alice");
    cns_idmap_free(m);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_resolve_through_training_ids) {
    cns_load_options o = opts(CNS_IDS_MAP, 0);
    cns_dataset *train = NULL, *ds = NULL;
    cns_idmap *m = NULL;
    cns_error e;
    ck_assert_status(load("alice shoe-42\nbob shoe-7\n", &o, NULL, &train, &m, &e), CNS_OK);
    cns_load_options r;
    cns_load_options_init(&r);
    r.train = train;
    r.map = m;
    const char *test = "bob shoe-42\nzoe shoe-7\nalice hat\n";
    ck_assert_status(load(test, &r, NULL, &ds, NULL, &e), CNS_E_ID_RANGE);
    ck_assert_msg(strstr(e.message, "t:2: user id is not in the training set's ids: 'zoe'") != NULL,
                  "%s", e.message);
    r.flags = CNS_LOAD_SKIP_BAD;
    ck_assert_status(load(test, &r, NULL, &ds, NULL, &e), CNS_OK);
    ck_assert_uint_eq(cns_dataset_unknown(ds), 2);
    ck_assert_uint_eq(cns_dataset_skipped(ds), 0);
    ck_assert_uint_eq(cns_dataset_num_interactions(ds), 1);
    ck_assert_int_eq(cns_dataset_num_users(ds), 2); /* the training set's shape */
    ck_assert_int_eq(cns_dataset_num_items(ds), 2);
    ck_assert(cns_dataset_contains(ds, 1, 0)); /* bob, shoe-42 */
    cns_dataset_free(ds);
    ck_assert_status(load("zoe hat\n", &r, NULL, &ds, NULL, &e), CNS_E_EMPTY);
    ck_assert_msg(strstr(e.message, "1 lines with unknown ids") != NULL, "%s", e.message);
    /* A malformed line is still malformed, and counted apart. */
    ck_assert_status(load("bob\nbob shoe-7\n", &r, NULL, &ds, NULL, &e), CNS_OK);
    ck_assert_uint_eq(cns_dataset_skipped(ds), 1);
    ck_assert_uint_eq(cns_dataset_unknown(ds), 0);
    cns_dataset_free(ds);
    cns_idmap_free(m);
    cns_dataset_free(train);

    /* Dense: ids at or beyond the training counts (2 users, 3 items). */
    o = opts(CNS_IDS_DENSE, 0);
    ck_assert_status(load("0 1\n1 2\n", &o, NULL, &train, NULL, &e), CNS_OK);
    cns_load_options_init(&r);
    r.train = train;
    const char *dtest = "1 0\n5 0\n0 3\n99999999999 1\n0 2\n";
    ck_assert_status(load(dtest, &r, NULL, &ds, NULL, &e), CNS_E_ID_RANGE);
    ck_assert_msg(strstr(e.message, "t:2: user id 5 is not in the training set's ids (it has 2 users)") !=
                      NULL,
                  "%s", e.message);
    r.flags = CNS_LOAD_SKIP_BAD;
    ck_assert_status(load(dtest, &r, NULL, &ds, NULL, &e), CNS_OK);
    ck_assert_uint_eq(cns_dataset_unknown(ds), 3);
    ck_assert_uint_eq(cns_dataset_num_interactions(ds), 2);
    ck_assert_int_eq(cns_dataset_num_users(ds), 2);
    ck_assert_int_eq(cns_dataset_num_items(ds), 3);
    cns_dataset_free(ds);
    /* A large number beside a malformed id is a malformed line, not an
     * unknown one. */
    ck_assert_status(load("99999999999 x\n0 1\n", &r, NULL, &ds, NULL, &e), CNS_OK);
    ck_assert_uint_eq(cns_dataset_unknown(ds), 0);
    ck_assert_uint_eq(cns_dataset_skipped(ds), 1);
    cns_dataset_free(ds);
    cns_dataset_free(train);
}
END_TEST

START_TEST(test_raw_id_syntax) {
    cns_load_options o = opts(CNS_IDS_MAP, 0);
    cns_dataset *ds = NULL;
    cns_idmap *m = NULL;
    cns_error e;
    char line[600];
    memset(line, 'x', 255);
    strcpy(line + 255, " a\n");
    ck_assert_status(load(line, &o, NULL, &ds, &m, &e), CNS_OK);
    cns_idmap_free(m);
    cns_dataset_free(ds);
    memset(line, 'x', 256);
    strcpy(line + 256, " a\n");
    ck_assert_status(load(line, &o, NULL, &ds, &m, &e), CNS_E_BAD_ID);
    ck_assert_msg(strstr(e.message, "t:1: user id is longer than 255 bytes") != NULL, "%s",
                  e.message);
    ck_assert_ptr_null(m);
    ck_assert_status(load("a b\x01\n", &o, NULL, &ds, &m, &e), CNS_E_BAD_ID);
    ck_assert_msg(strstr(e.message, "item id holds a control character") != NULL, "%s", e.message);
    /* A bad weight adds no id: the skipped line's user is not in the map. */
    o.flags = CNS_LOAD_SKIP_BAD;
    ck_assert_status(load("a b\nc d nan\n", &o, NULL, &ds, &m, &e), CNS_OK);
    ck_assert_int_eq(cns_idmap_count(m, CNS_TABLE_USERS), 1);
    ck_assert_uint_eq(cns_dataset_skipped(ds), 1);
    cns_idmap_free(m);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_misuse) {
    cns_load_options o = opts(CNS_IDS_AUTO, 0);
    cns_dataset *ds = (cns_dataset *)1, *train = NULL;
    cns_idmap *m = (cns_idmap *)1, *tm = NULL;
    cns_error e;
    ck_assert_status(load("0 1\n", &o, NULL, &ds, NULL, &e), CNS_E_ARG); /* auto needs map_out */
    ck_assert_ptr_null(ds);
    ck_assert_str_eq(e.message,
                     "cns_dataset_load_buffer_ids: map_out is NULL but the ids may need a map");
    o.ids = 7;
    ck_assert_status(load("0 1\n", &o, NULL, &ds, &m, &e), CNS_E_ARG);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(e.message, "cns_dataset_load_buffer_ids: opt->ids = 7 is not a cns_id_mode");
    o = opts(CNS_IDS_DENSE, 0);
    o.max_dense_id = -1;
    ck_assert_status(load("0 1\n", &o, NULL, &ds, &m, &e), CNS_E_ARG);
    ck_assert_str_eq(e.message,
                     "cns_dataset_load_buffer_ids: opt->max_dense_id = -1 is outside [0, 2147483646]");
    o.max_dense_id = 2147483647;
    ck_assert_status(load("0 1\n", &o, NULL, &ds, &m, &e), CNS_E_ARG);
    o = opts(CNS_IDS_DENSE, 4);
    ck_assert_status(load("0 1\n", &o, NULL, &ds, &m, &e), CNS_E_ARG);
    o = opts(CNS_IDS_DENSE, 0);
    o.struct_size = 8;
    ck_assert_status(load("0 1\n", &o, NULL, &ds, &m, &e), CNS_E_ARG);
    ck_assert_msg(strstr(e.message, "struct_size") != NULL, "%s", e.message);
    ck_assert_status(cns_dataset_load_file_ids(NULL, NULL, NULL, &ds, &m, &e), CNS_E_ARG);
    ck_assert_str_eq(e.message, "cns_dataset_load_file_ids: path is NULL");
    ck_assert_status(cns_dataset_load_file_ids("/nonexistent/x", NULL, NULL, &ds, &m, &e),
                     CNS_E_NOFILE);
    ck_assert_status(cns_dataset_load_buffer_ids(NULL, 0, NULL, NULL, NULL, &ds, &m, &e),
                     CNS_E_EMPTY);
    ck_assert_status(cns_dataset_load_buffer_ids("0 1", 3, NULL, NULL, NULL, NULL, &m, &e),
                     CNS_E_ARG);
    /* A map that does not match the training set. */
    o = opts(CNS_IDS_MAP, 0);
    ck_assert_status(load("a b\nc b\n", &o, NULL, &train, &tm, &e), CNS_OK);
    cns_dataset *other = NULL;
    ck_assert_status(load("a b\n", &o, NULL, &other, &m, &e), CNS_OK);
    cns_load_options r;
    cns_load_options_init(&r);
    r.map = tm;
    ck_assert_status(load("a b\n", &r, NULL, &ds, NULL, &e), CNS_E_ARG); /* map without train */
    ck_assert_str_eq(e.message, "cns_dataset_load_buffer_ids: opt->map is set without opt->train");
    r.train = other;
    ck_assert_status(load("a b\n", &r, NULL, &ds, NULL, &e), CNS_E_SIZE);
    ck_assert_str_eq(e.message, "cns_dataset_load_buffer_ids: opt->map has 2 users and 1 items, "
                                "opt->train 1 and 1");
    /* Lookups. */
    int32_t idx;
    const char *s;
    ck_assert_status(cns_idmap_find(NULL, CNS_TABLE_USERS, "a", 1, &idx), CNS_E_ARG);
    ck_assert_status(cns_idmap_find(tm, (cns_table)2, "a", 1, &idx), CNS_E_ARG);
    ck_assert_status(cns_idmap_find(tm, CNS_TABLE_USERS, NULL, 1, &idx), CNS_E_ARG);
    ck_assert_status(cns_idmap_find(tm, CNS_TABLE_USERS, "a", 1, NULL), CNS_E_ARG);
    ck_assert_status(cns_idmap_find(tm, CNS_TABLE_USERS, "", 0, &idx), CNS_E_ID_RANGE);
    ck_assert_status(cns_idmap_raw(tm, CNS_TABLE_USERS, -1, &s, NULL), CNS_E_ARG);
    ck_assert_int_eq(cns_idmap_count(NULL, CNS_TABLE_USERS), 0);
    ck_assert_int_eq(cns_idmap_count(tm, (cns_table)5), 0);
    ck_assert_uint_eq(cns_dataset_unknown(NULL), 0);
    cns_idmap_free(NULL);
    /* A model of other's shape refuses tm (2 users, not 1). */
    cns_model_desc d;
    cns_model_desc_init(&d);
    d.dim = 4;
    cns_model *mod = NULL;
    ck_assert_status(cns_model_create(other, &d, NULL, &mod, &e), CNS_OK);
    ck_assert_status(cns_model_set_idmap(mod, tm), CNS_E_SIZE);
    ck_assert_msg(strstr(cns_model_last_error(mod), "cns_model_set_idmap: the map has 2 users") != NULL,
                  "%s", cns_model_last_error(mod));
    ck_assert_ptr_null(cns_model_idmap(mod));
    ck_assert_status(cns_model_set_idmap(mod, m), CNS_OK);
    ck_assert_ptr_nonnull(cns_model_idmap(mod));
    ck_assert_status(cns_model_set_idmap(mod, NULL), CNS_OK);
    ck_assert_ptr_null(cns_model_idmap(mod));
    ck_assert_status(cns_model_set_idmap(NULL, m), CNS_E_ARG);
    size_t n;
    ck_assert_status(cns_model_recommend_raw(NULL, "a", 1, 1, &idx, NULL, NULL, &n), CNS_E_ARG);
    cns_model_free(mod);
    cns_idmap_free(m);
    cns_idmap_free(tm);
    cns_dataset_free(other);
    cns_dataset_free(train);
}
END_TEST

/* ---- checkpoints --------------------------------------------------------- */

static cns_model *string_model(cns_idmap **map_out) {
    cns_load_options o = opts(CNS_IDS_MAP, 0);
    cns_dataset *ds = NULL;
    cns_error e;
    ck_assert_status(load("alice shoe-42\nbob shoe-7\nalice hat\ncarol shoe-7\n", &o, NULL, &ds,
                          map_out, &e),
                     CNS_OK);
    cns_model_desc d;
    cns_model_desc_init(&d);
    d.dim = 4;
    cns_model *m = NULL;
    ck_assert_status(cns_model_create(ds, &d, NULL, &m, &e), CNS_OK);
    cns_dataset_free(ds);
    return m;
}

/* 1 when the 4 bytes tag occur in x[0..n). */
static int has_bytes(const unsigned char *x, size_t n, const char *tag) {
    for (size_t k = 0; k + 4 <= n; ++k)
        if (memcmp(x + k, tag, 4) == 0) return 1;
    return 0;
}

static size_t file_bytes(const char *path, unsigned char **out) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(*out, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return (size_t)n;
}

/* cns_dataset_save_text_ids writes each pair in the raw ids it was read
 * with (user-major order of the indices), and the indices without a map. */
START_TEST(test_save_text_raw_ids) {
    cns_load_options o = opts(CNS_IDS_MAP, 0);
    cns_dataset *ds = NULL, *dense = NULL;
    cns_idmap *m = NULL, *m2 = NULL;
    cns_error e;
    ck_assert_status(load("bob shoe-7\nalice shoe-42\nalice shoe-7\n", &o, NULL, &ds, &m, &e),
                     CNS_OK);
    char path[64];
    unsigned char *got = NULL;
    ck_assert_ptr_nonnull(cns_test_write_temp("", path, sizeof path));
    ck_assert_status(cns_dataset_save_text_ids(ds, m, path, &e), CNS_OK);
    size_t n = file_bytes(path, &got);
    got[n] = 0;
    /* alice = 0 < bob = 1; shoe-42 = 0 < shoe-7 = 1 (bytes). */
    ck_assert_str_eq((char *)got, "alice shoe-42\nalice shoe-7\nbob shoe-7\n");
    free(got);
    ck_assert_status(cns_dataset_save_text_ids(ds, NULL, path, &e), CNS_OK);
    n = file_bytes(path, &got);
    got[n] = 0;
    ck_assert_str_eq((char *)got, "0 0\n0 1\n1 1\n");
    free(got);
    /* A map smaller than the dataset is refused, naming both sizes. */
    cns_load_options d = opts(CNS_IDS_DENSE, 0);
    ck_assert_status(load("0 0\n5 3\n", &d, NULL, &dense, NULL, &e), CNS_OK);
    cns_dataset *tiny = NULL;
    ck_assert_status(load("x y\n", &o, NULL, &tiny, &m2, &e), CNS_OK);
    ck_assert_status(cns_dataset_save_text_ids(dense, m2, path, &e), CNS_E_SIZE);
    ck_assert_ptr_nonnull(strstr(e.message, "1 users and 1 items, the dataset 6 and 4"));
    unlink(path);
    cns_idmap_free(m);
    cns_idmap_free(m2);
    cns_dataset_free(ds);
    cns_dataset_free(dense);
    cns_dataset_free(tiny);
}
END_TEST

START_TEST(test_checkpoint_round_trip) {
    cns_idmap *map = NULL;
    cns_model *m = string_model(&map);
    char dir[] = "/tmp/cns_idmap_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char plain[64], with[64];
    snprintf(plain, sizeof plain, "%s/plain.ckpt", dir);
    snprintf(with, sizeof with, "%s/with.ckpt", dir);
    ck_assert_status(cns_model_save(m, plain), CNS_OK);
    ck_assert_status(cns_model_set_idmap(m, map), CNS_OK);
    ck_assert_status(cns_model_save(m, with), CNS_OK);
    cns_error e;
    cns_model *back = NULL;
    ck_assert_status(cns_model_load(with, NULL, &back, &e), CNS_OK);
    const cns_idmap *bm = cns_model_idmap(back);
    ck_assert_ptr_nonnull(bm);
    ck_assert_int_eq(cns_idmap_count(bm, CNS_TABLE_USERS), 3);
    ck_assert_int_eq(cns_idmap_count(bm, CNS_TABLE_ITEMS), 3);
    assert_raw(bm, CNS_TABLE_USERS, 2, "carol");
    assert_raw(bm, CNS_TABLE_ITEMS, 0, "hat");
    assert_raw(bm, CNS_TABLE_ITEMS, 2, "shoe-7");
    int32_t ia[3], ib[3];
    const char *ra[3], *rb[3];
    float sa[3], sb[3];
    size_t na, nb;
    ck_assert_status(cns_model_recommend_raw(m, "bob", 3, 3, ia, ra, sa, &na), CNS_OK);
    ck_assert_status(cns_model_recommend_raw(back, "bob", 3, 3, ib, rb, sb, &nb), CNS_OK);
    ck_assert_uint_eq(na, 2); /* bob has 1 of 3 items */
    ck_assert_uint_eq(nb, na);
    for (size_t k = 0; k < na; ++k) {
        ck_assert_str_eq(ra[k], rb[k]);
        ck_assert(sa[k] == sb[k]);
    }
    /* A model without raw ids loads without a map, and its file is the
     * one earlier versions wrote (no 'IDMP'): the same as before the map
     * was given once it is removed again. */
    cns_model *pb = NULL;
    ck_assert_status(cns_model_load(plain, NULL, &pb, &e), CNS_OK);
    ck_assert_ptr_null(cns_model_idmap(pb));
    cns_model_free(pb);
    char again[64];
    snprintf(again, sizeof again, "%s/again.ckpt", dir);
    ck_assert_status(cns_model_set_idmap(m, NULL), CNS_OK);
    ck_assert_status(cns_model_save(m, again), CNS_OK);
    unsigned char *x, *y;
    size_t nx = file_bytes(plain, &x), ny = file_bytes(again, &y);
    ck_assert_uint_eq(nx, ny);
    ck_assert_mem_eq(x, y, nx);
    ck_assert(!has_bytes(x, nx, "IDMP"));
    free(x);
    free(y);
    nx = file_bytes(with, &x);
    ck_assert(has_bytes(x, nx, "IDMP"));
    /* Through memory: the same bytes as the file, 'IDMP' included, and the
     * raw ids come back from them. */
    ck_assert_status(cns_model_set_idmap(m, map), CNS_OK);
    size_t nm = 0;
    ck_assert_status(cns_model_save_mem(m, NULL, 0, &nm), CNS_OK);
    ck_assert_uint_eq(nm, nx);
    unsigned char *mem = malloc(nm);
    ck_assert_status(cns_model_save_mem(m, mem, nm, &nm), CNS_OK);
    ck_assert_mem_eq(mem, x, nx);
    cns_model *mb = NULL;
    ck_assert_status(cns_model_load_mem(mem, nm, NULL, &mb, &e), CNS_OK);
    ck_assert_ptr_nonnull(cns_model_idmap(mb));
    assert_raw(cns_model_idmap(mb), CNS_TABLE_USERS, 2, "carol");
    assert_raw(cns_model_idmap(mb), CNS_TABLE_ITEMS, 2, "shoe-7");
    /* (the map was replaced: ra pointed into the old copy) */
    ck_assert_status(cns_model_recommend_raw(m, "bob", 3, 3, ia, ra, sa, &na), CNS_OK);
    ck_assert_status(cns_model_recommend_raw(mb, "bob", 3, 3, ib, rb, sb, &nb), CNS_OK);
    ck_assert_uint_eq(nb, na);
    for (size_t k = 0; k < na; ++k) {
        ck_assert_str_eq(ra[k], rb[k]);
        ck_assert(sa[k] == sb[k]);
    }
    cns_model_free(mb);
    free(mem);
    free(x);
    cns_model_free(back);
    cns_model_free(m);
    cns_idmap_free(map);
    unlink(plain);
    unlink(with);
    unlink(again);
    rmdir(dir);
}
END_TEST

/* Rewrites path with its 'IDMP' payload passed through edit, every other
 * section as it was, and returns the load status and message. */
static cns_status load_edited(const char *path, const char *out_path,
                              void (*edit)(unsigned char *p, uint64_t *size), char *msg) {
    cns__alloc al;
    ck_assert_status(cns__alloc_init(&al, NULL), CNS_OK);
    cns__ckpt_file f;
    cns_error e;
    ck_assert_status(cns__ckpt_read(path, CNS__CKPT_KIND_MODEL, &al, &f, &e), CNS_OK);
    static const uint32_t tags[7] = {CNS__TAG_MHDR, CNS__TAG_GRPH, CNS__TAG_EGOU, CNS__TAG_EGOI,
                                     CNS__TAG_ADMM, CNS__TAG_ADMV, CNS__TAG_IDMP};
    cns__ckpt_section s[7];
    unsigned char *copy = NULL;
    for (int k = 0; k < 7; ++k) {
        const void *p;
        uint64_t size;
        ck_assert_status(cns__ckpt_find(&f, tags[k], UINT64_MAX, &p, &size, &e), CNS_OK);
        s[k].tag = tags[k];
        s[k].data = p;
        s[k].size = size;
        if (tags[k] == CNS__TAG_IDMP) {
            copy = malloc(size + 64);
            memcpy(copy, p, size);
            edit(copy, &s[k].size);
            s[k].data = copy;
        }
    }
    ck_assert_status(cns__ckpt_write(out_path, CNS__CKPT_KIND_MODEL, s, 7, NULL, &al, NULL), CNS_OK);
    cns__ckpt_close(&f);
    free(copy);
    cns_model *m = NULL;
    cns_status st = cns_model_load(out_path, NULL, &m, &e);
    if (st == CNS_OK) cns_model_free(m);
    else ck_assert_ptr_null(m);
    snprintf(msg, CNS_ERROR_MESSAGE_SIZE, "%s", e.message);
    /* The memory form agrees: the same status, the same detail without
     * the file name. */
    unsigned char *bytes;
    size_t nb = file_bytes(out_path, &bytes);
    cns_error em;
    cns_status sm = cns_model_load_mem(bytes, nb, NULL, &m, &em);
    free(bytes);
    ck_assert_int_eq(sm, st);
    if (sm == CNS_OK) {
        cns_model_free(m);
    } else {
        char want[CNS_ERROR_MESSAGE_SIZE + 200];
        snprintf(want, sizeof want, "'%s': %s", out_path, em.message);
        ck_assert_str_eq(msg, want);
    }
    return st;
}

/* The layout of the test model's section: u32 3, u32 3, u64 B, 6 ends,
 * then "alice\0bob\0carol\0hat\0shoe-42\0shoe-7\0". */
#define KEYS 64
static void edit_none(unsigned char *p, uint64_t *size) { (void)p, (void)size; }
static void edit_swap_users(unsigned char *p, uint64_t *size) {
    (void)size;
    p[KEYS] = 'c'; /* "clice" sorts after "bob" */
}
static void edit_count(unsigned char *p, uint64_t *size) {
    (void)size;
    p[0] = 2;
}
static void edit_end(unsigned char *p, uint64_t *size) {
    (void)size;
    p[16 + 8 * 5] = 0xFF; /* the last key's end passes the key bytes */
}
static void edit_leading_zero(unsigned char *p, uint64_t *size) {
    (void)size;
    memcpy(p + KEYS, "00001", 5); /* a number with leading zeros */
}
static void edit_size(unsigned char *p, uint64_t *size) {
    (void)p;
    *size -= 1;
}
static void edit_control(unsigned char *p, uint64_t *size) {
    (void)size;
    p[KEYS + 1] = '\t';
}

START_TEST(test_checkpoint_rejects_bad_idmp) {
    cns_idmap *map = NULL;
    cns_model *m = string_model(&map);
    ck_assert_status(cns_model_set_idmap(m, map), CNS_OK);
    char dir[] = "/tmp/cns_idmap_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64], out[64], msg[CNS_ERROR_MESSAGE_SIZE];
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    snprintf(out, sizeof out, "%s/e.ckpt", dir);
    ck_assert_status(cns_model_save(m, path), CNS_OK);
    /* The rewrite itself is faithful. */
    ck_assert_status(load_edited(path, out, edit_none, msg), CNS_OK);
    static const struct {
        void (*edit)(unsigned char *, uint64_t *);
        const char *want;
    } cases[] = {
        {edit_swap_users, "user key 1 is not after the previous key"},
        {edit_count, "maps 2 users and 3 items, the model has 3 and 3"},
        {edit_end, "key 5 ends at"},
        {edit_leading_zero, "user key 0 is a number with a leading zero"},
        {edit_size, "its counts and key bytes make"},
        {edit_control, "user key 0 holds a control character"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        ck_assert_status(load_edited(path, out, cases[k].edit, msg), CNS_E_CORRUPT);
        ck_assert_msg(strstr(msg, "section 'IDMP'") != NULL && strstr(msg, cases[k].want) != NULL,
                      "case %zu: %s", k, msg);
    }
    cns_model_free(m);
    cns_idmap_free(map);
    unlink(path);
    unlink(out);
    rmdir(dir);
}
END_TEST

/* Loading and saving a model with raw ids under every failing allocation:
 * CNS_E_NOMEM or success, never a leak or a model without its map. */
START_TEST(test_checkpoint_allocation_failures) {
    cns_idmap *map = NULL;
    cns_model *m = string_model(&map);
    ck_assert_status(cns_model_set_idmap(m, map), CNS_OK);
    char dir[] = "/tmp/cns_idmap_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    ck_assert_status(cns_model_save(m, path), CNS_OK);
    int loaded = 0, failed = 0;
    for (long at = 0; at < 300 && !loaded; ++at) {
        test_alloc t = {0, 0, at, 0, 0, 0};
        cns_allocator a = {ta_alloc, ta_free, &t};
        cns_model *back = (cns_model *)1;
        cns_error e;
        cns_status st = cns_model_load(path, &a, &back, &e);
        if (st == CNS_OK) {
            loaded = 1;
            ck_assert_ptr_nonnull(cns_model_idmap(back));
            assert_raw(cns_model_idmap(back), CNS_TABLE_USERS, 1, "bob");
            cns_model_free(back);
        } else {
            ck_assert_status(st, CNS_E_NOMEM);
            ck_assert_ptr_null(back);
            ++failed;
        }
        ck_assert_uint_eq(t.live, 0);
    }
    ck_assert(loaded);
    ck_assert_int_ge(failed, 3);
    /* Saving through a model whose allocator fails at each later call. */
    int saved = 0;
    for (long at = 0; at < 50 && !saved; ++at) {
        test_alloc t = {0, 0, -1, 0, 0, 0};
        cns_allocator a = {ta_alloc, ta_free, &t};
        cns_model *mm = NULL;
        cns_error e;
        ck_assert_status(cns_model_load(path, &a, &mm, &e), CNS_OK);
        t.fail_at = (long)t.calls + at;
        cns_status st = cns_model_save(mm, path);
        if (st == CNS_OK) saved = 1;
        else ck_assert_status(st, CNS_E_NOMEM);
        cns_model_free(mm);
        ck_assert_uint_eq(t.live, 0);
    }
    ck_assert(saved);
    cns_model_free(m);
    cns_idmap_free(map);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(test_every_allocation_failure) {
    const char *text = "alice shoe-42\nbob shoe-7\n7 8\nbad\nalice hat 1\n";
    for (int which = 0; which < 3; ++which) {
        int succeeded = 0;
        for (long at = 0; at < 400 && !succeeded; ++at) {
            test_alloc t = {0, 0, at, 0, 0, 0};
            cns_allocator a = {ta_alloc, ta_free, &t};
            cns_load_options o = opts(which == 0 ? CNS_IDS_MAP : CNS_IDS_AUTO, CNS_LOAD_SKIP_BAD);
            cns_dataset *ds = (cns_dataset *)1;
            cns_idmap *m = (cns_idmap *)1;
            cns_model *mod = NULL;
            cns_error e;
            cns_status st;
            if (which < 2) {
                st = load(which == 0 ? text : "x 3\n0 1\n1 2\n", &o, &a, &ds, &m, &e);
            } else {
                /* set_idmap's copy through the model's allocator. */
                ck_assert_status(load(text, &o, NULL, &ds, &m, &e), CNS_OK);
                cns_model_desc d;
                cns_model_desc_init(&d);
                d.dim = 2;
                t.fail_at = -1;
                ck_assert_status(cns_model_create(ds, &d, &a, &mod, &e), CNS_OK);
                t.fail_at = (long)t.calls + at;
                st = cns_model_set_idmap(mod, m);
                ck_assert(st == CNS_OK || cns_model_idmap(mod) == NULL);
                cns_model_free(mod);
                cns_idmap_free(m);
                cns_dataset_free(ds);
                ds = NULL;
                m = NULL;
            }
            if (st == CNS_OK) {
                succeeded = 1;
                if (which < 2) {
                    ck_assert_int_ge(at, 1);
                    ck_assert_uint_eq(cns_dataset_num_interactions(ds), which == 0 ? 4 : 3);
                    ck_assert_ptr_nonnull(m);
                    cns_idmap_free(m);
                    cns_dataset_free(ds);
                }
            } else {
                ck_assert_status(st, CNS_E_NOMEM);
                if (which < 2) {
                    ck_assert_ptr_null(ds);
                    ck_assert_ptr_null(m);
                }
            }
            ck_assert_uint_eq(t.live, 0);
        }
        ck_assert(succeeded);
    }
}
END_TEST

/* Coat and Food (when present) have dense ids: auto keeps them dense,
 * and map mode gives the same dataset whenever no id is missing. */
START_TEST(test_real_data_is_dense) {
    static const char *files[] = {"data/coat/train.txt", "data/food/train.txt"};
    int any = 0;
    for (int f = 0; f < 2; ++f) {
        char buf[512];
        const char *path = cns_test_shared_path(files[f], buf, sizeof buf);
        if (path == NULL) continue;
        any = 1;
        cns_load_options o = opts(CNS_IDS_AUTO, 0);
        cns_dataset *d = NULL, *mds = NULL, *legacy = NULL;
        cns_idmap *m = NULL;
        cns_error e;
        ck_assert_status(cns_dataset_load_file_ids(path, &o, NULL, &d, &m, &e), CNS_OK);
        ck_assert_ptr_null(m);
        ck_assert_status(cns_dataset_load_file(path, 0, NULL, &legacy, &e), CNS_OK);
        ck_assert_int_eq(d->num_users, legacy->num_users);
        ck_assert_int_eq(d->num_items, legacy->num_items);
        ck_assert_mem_eq(d->items, legacy->items, d->nnz * sizeof(int32_t));
        o.ids = CNS_IDS_MAP;
        ck_assert_status(cns_dataset_load_file_ids(path, &o, NULL, &mds, &m, &e), CNS_OK);
        if (mds->num_users == d->num_users && mds->num_items == d->num_items) {
            ck_assert_mem_eq(mds->user_ptr, d->user_ptr, ((size_t)d->num_users + 1) * sizeof(size_t));
            ck_assert_mem_eq(mds->items, d->items, d->nnz * sizeof(int32_t));
        }
        cns_idmap_free(m);
        cns_dataset_free(d);
        cns_dataset_free(mds);
        cns_dataset_free(legacy);
    }
    if (!any) fprintf(stderr, "test_real_data_is_dense: no shared data, skipped\n");
}
END_TEST

int main(void) {
    Suite *s = suite_create("idmap");
    TCase *tc = tcase_create("idmap");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_string_ids);
    tcase_add_test(tc, test_save_text_raw_ids);
    tcase_add_test(tc, test_numeric_order_and_leading_zeros);
    tcase_add_test(tc, test_dense_file_maps_to_itself);
    tcase_add_test(tc, test_dense_bound);
    tcase_add_test(tc, test_resolve_through_training_ids);
    tcase_add_test(tc, test_raw_id_syntax);
    tcase_add_test(tc, test_misuse);
    tcase_add_test(tc, test_checkpoint_round_trip);
    tcase_add_test(tc, test_checkpoint_rejects_bad_idmp);
    tcase_add_test(tc, test_checkpoint_allocation_failures);
    tcase_add_test(tc, test_every_allocation_failure);
    tcase_add_test(tc, test_real_data_is_dense);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
