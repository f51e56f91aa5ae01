/* Interaction data: the text loaders (every status and its message), the
 * in-memory structure, split, save_text and allocation-failure recovery.
 * Expected shapes are counted by hand from the literal inputs. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "dataset_internal.h"
#include "cnsdiff/idmap.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------- */

static cns_status load_text(const char *text, unsigned flags, cns_dataset **out, cns_error *e) {
    return cns_dataset_load_buffer(text, strlen(text), "t.txt", flags, NULL, out, e);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

#define ck_assert_contains(hay, needle)                                                  \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "'%s' does not contain '%s'", (hay), \
                  (needle))

/* An allocator that counts live blocks, can fail the n-th call, and
 * refuses single blocks above a limit. */
typedef struct test_alloc {
    size_t live, calls;
    long fail_at;  /* the call index that fails, -1 for none */
    size_t limit;  /* 0 for none */
} test_alloc;

static void *ta_alloc(void *user, size_t n) {
    test_alloc *t = user;
    long call = (long)t->calls++;
    if (call == t->fail_at || (t->limit && n > t->limit)) return NULL;
    void *p = malloc(n);
    if (p) t->live++;
    return p;
}
static void ta_free(void *user, void *p) {
    test_alloc *t = user;
    if (p) t->live--;
    free(p);
}

/* A small dataset with known contents (user-major order):
 * 0: {1, 3, 4}; 1: {}; 2: {0, 4}; 3: {4} -> 4 users, 5 items, 6 pairs,
 * popularity {1, 1, 0, 1, 3}. The input order is scrambled and has one
 * duplicate (0, 3). */
static cns_dataset *small_dataset(void) {
    static const int32_t u[] = {2, 0, 3, 0, 2, 0, 0};
    static const int32_t i[] = {4, 3, 4, 1, 0, 4, 3};
    cns_dataset *ds = NULL;
    cns_error e;
    ck_assert_status(cns_dataset_from_arrays(u, i, 7, 0, 0, NULL, &ds, &e), CNS_OK);
    return ds;
}

/* A random dataset: user u has 1 + (u % 29) distinct items out of 80. */
static cns_dataset *random_dataset(int32_t users, uint32_t seed) {
    size_t cap = (size_t)users * 30;
    int32_t *uu = malloc(cap * sizeof *uu), *ii = malloc(cap * sizeof *ii);
    size_t n = 0;
    uint32_t x = seed * 2654435761u + 1;
    for (int32_t u = 0; u < users; ++u) {
        int want = 1 + u % 29;
        char seen[80] = {0};
        while (want > 0) {
            x = x * 1664525u + 1013904223u;
            int it = (int)((x >> 8) % 80);
            if (seen[it]) continue;
            seen[it] = 1;
            uu[n] = u;
            ii[n++] = it;
            --want;
        }
    }
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(uu, ii, n, users, 80, NULL, &ds, NULL), CNS_OK);
    free(uu);
    free(ii);
    return ds;
}

/* ---- the acceptance case --------------------------------------------------- */

START_TEST(test_line2_single_field) {
    char path[64];
    ck_assert_ptr_nonnull(cns_test_write_temp("0 1\n7\n2 3\n", path, sizeof path));
    cns_dataset *ds = (cns_dataset *)1;
    cns_error e;
    ck_assert_status(cns_dataset_load_file(path, 0, NULL, &ds, &e), CNS_E_FIELDS);
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(e.status, CNS_E_FIELDS);
    char want[128];
    snprintf(want, sizeof want, "%s:2: expected 2 or 3 fields, found 1", base_name(path));
    ck_assert_contains(e.message, want);

    ck_assert_status(cns_dataset_load_file(path, CNS_LOAD_SKIP_BAD, NULL, &ds, &e), CNS_OK);
    ck_assert_uint_eq(cns_dataset_skipped(ds), 1);
    ck_assert_uint_eq(cns_dataset_num_interactions(ds), 2);
    ck_assert_int_eq(cns_dataset_num_users(ds), 3);
    ck_assert_int_eq(cns_dataset_num_items(ds), 4);
    cns_dataset_free(ds);
    unlink(path);
}
END_TEST

/* ---- every parse status with its message ----------------------------------- */

typedef struct bad_case {
    const char *text;
    cns_status status;
    const char *message; /* must appear in the message */
} bad_case;

static const bad_case k_bad[] = {
    {"0 1\n1 2 3 4\n", CNS_E_FIELDS, "t.txt:2: expected 2 or 3 fields, found 4"},
    {"0 1\n\n# c\n   1\n", CNS_E_FIELDS, "t.txt:4: expected 2 or 3 fields, found 1"},
    {"0 1 # trailing comments are not allowed\n", CNS_E_FIELDS, "t.txt:1: expected 2 or 3"},
    {"0 1\nx 2\n", CNS_E_BAD_ID, "t.txt:2: user id is not a non-negative integer: 'x'"},
    {"0 1\n3 -1\n", CNS_E_BAD_ID, "t.txt:2: item id is not a non-negative integer: '-1'"},
    {"1.5 2\n", CNS_E_BAD_ID, "t.txt:1: user id"},
    {"+1 2\n", CNS_E_BAD_ID, "t.txt:1: user id"},
    {"1 2x\n", CNS_E_BAD_ID, "t.txt:1: item id"},
    {"0 2147483647\n", CNS_E_ID_RANGE, "t.txt:1: item id is larger than 2147483646: '2147483647'"},
    {"0 1\n99999999999999999999999999999 0\n", CNS_E_ID_RANGE, "t.txt:2: user id is larger"},
    {"0 1 nan\n", CNS_E_BAD_VALUE, "t.txt:1: weight is not a finite decimal number: 'nan'"},
    {"0 1 inf\n", CNS_E_BAD_VALUE, "t.txt:1: weight"},
    {"0 1 -infinity\n", CNS_E_BAD_VALUE, "t.txt:1: weight"},
    {"0 1 1e999\n", CNS_E_BAD_VALUE, "t.txt:1: weight"},
    {"0 1 1.8e308\n", CNS_E_BAD_VALUE, "t.txt:1: weight"},
    {"0 1 1e\n", CNS_E_BAD_VALUE, "t.txt:1: weight"},
    {"0 1 .\n", CNS_E_BAD_VALUE, "t.txt:1: weight"},
    {"0 1 --1\n", CNS_E_BAD_VALUE, "t.txt:1: weight"},
    {"0 1 0x10\n", CNS_E_BAD_VALUE, "t.txt:1: weight"},
    {"0 1 1,5\n", CNS_E_BAD_VALUE, "t.txt:1: weight"},
    /* CRLF and comments count as lines too. */
    {"# c\r\n\r\n0 1\r\nbad\r\n", CNS_E_FIELDS, "t.txt:4: expected 2 or 3 fields, found 1"},
};

START_TEST(test_bad_lines) {
    const bad_case *c = &k_bad[_i];
    cns_dataset *ds = (cns_dataset *)1;
    cns_error e;
    ck_assert_status(load_text(c->text, 0, &ds, &e), c->status);
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(e.status, c->status);
    ck_assert_contains(e.message, c->message);
    /* Skipping: the bad line is counted; the good ones (if any) load. */
    size_t good = strncmp(c->text, "0 1\n", 4) == 0 || strstr(c->text, "\n0 1\r\n") ? 1 : 0;
    cns_status st = load_text(c->text, CNS_LOAD_SKIP_BAD, &ds, &e);
    if (good) {
        ck_assert_status(st, CNS_OK);
        ck_assert_uint_eq(cns_dataset_skipped(ds), 1);
        ck_assert_uint_eq(cns_dataset_num_interactions(ds), 1);
        ck_assert(cns_dataset_contains(ds, 0, 1));
        cns_dataset_free(ds);
    } else {
        ck_assert_status(st, CNS_E_EMPTY);
        ck_assert_ptr_null(ds);
        ck_assert_contains(e.message, "t.txt: no interactions (1 malformed lines skipped)");
    }
}
END_TEST

/* Lines starting with a digit go through a one-pass fast path; a leading
 * blank forces the full per-field path. Both must agree on every line. */
START_TEST(test_fast_path_agrees) {
    static const char *k_lines[] = {
        "0 1\n", "0 1", "0 1\r\n", "0 1\r", "0 1 \t\n", "0\t\t1\n", "0 1 7\n", "0 1 7 \r\n",
        "0 1 7.5\n", "0 1 7e3\n", "0 1 7x\n", "0 1 7 8\n", "0 1x\n", "0x 1\n", "01 001\n",
        "0 1\r\r\n", "0 1 123456789012345\n", "0 1 1234567890123456\n",
        "2147483646 0\n", "2147483647 0\n", "0 2147483646\n", "0 2147483647\n",
        "0 4294967296\n", "0 12345678901\n", "0000000000001 2\n", "0\n", "0 \n", "0 1 #\n",
        "0 1 \r\n", "0 1\r 2\n", "1 2\n3 4\n", "0 1\n\n"};
    for (size_t k = 0; k < sizeof k_lines / sizeof k_lines[0]; ++k) {
        char alt[64];
        snprintf(alt, sizeof alt, " %s", k_lines[k]);
        test_alloc t = {0, 0, -1, (size_t)1 << 24};
        cns_allocator a = {ta_alloc, ta_free, &t};
        cns_dataset *d1 = NULL, *d2 = NULL;
        cns_error e1, e2;
        cns_status s1 = cns_dataset_load_buffer(k_lines[k], strlen(k_lines[k]), "t", 0, &a, &d1, &e1);
        cns_status s2 = cns_dataset_load_buffer(alt, strlen(alt), "t", 0, &a, &d2, &e2);
        ck_assert_msg(s1 == s2, "line %zu: %s vs %s", k, cns_status_name(s1), cns_status_name(s2));
        if (s1 != CNS_OK) {
            ck_assert_str_eq(e1.message, e2.message);
            continue;
        }
        ck_assert_uint_eq(cns_dataset_num_interactions(d1), cns_dataset_num_interactions(d2));
        ck_assert_int_eq(cns_dataset_num_users(d1), cns_dataset_num_users(d2));
        ck_assert_int_eq(cns_dataset_num_items(d1), cns_dataset_num_items(d2));
        cns_dataset_free(d1);
        cns_dataset_free(d2);
        ck_assert_uint_eq(t.live, 0);
    }
}
END_TEST

START_TEST(test_empty_inputs) {
    static const char *k_empty[] = {"", "\n", "# only a comment\n\n   \n\t\n", "\r\n#x"};
    for (size_t k = 0; k < sizeof k_empty / sizeof k_empty[0]; ++k) {
        cns_dataset *ds = (cns_dataset *)1;
        cns_error e;
        ck_assert_status(load_text(k_empty[k], 0, &ds, &e), CNS_E_EMPTY);
        ck_assert_ptr_null(ds);
        ck_assert_contains(e.message, "t.txt: no interactions");
    }
    /* An empty file, and a NULL buffer of size 0. */
    char path[64];
    ck_assert_ptr_nonnull(cns_test_write_temp("", path, sizeof path));
    cns_dataset *ds = NULL;
    cns_error e;
    ck_assert_status(cns_dataset_load_file(path, 0, NULL, &ds, &e), CNS_E_EMPTY);
    ck_assert_contains(e.message, base_name(path));
    unlink(path);
    ck_assert_status(cns_dataset_load_buffer(NULL, 0, NULL, 0, NULL, &ds, &e), CNS_E_EMPTY);
    ck_assert_contains(e.message, "<buffer>: no interactions");
}
END_TEST

START_TEST(test_missing_file_and_read_error) {
    cns_dataset *ds = (cns_dataset *)1;
    cns_error e;
    const char *missing = "/tmp/cns_definitely_missing_dir/none.txt";
    ck_assert_status(cns_dataset_load_file(missing, 0, NULL, &ds, &e), CNS_E_NOFILE);
    ck_assert_ptr_null(ds);
    ck_assert_contains(e.message, missing);
    ck_assert_contains(e.message, strerror(ENOENT));
    /* A directory opens but cannot be read. */
    ds = (cns_dataset *)1;
    ck_assert_status(cns_dataset_load_file("/tmp", 0, NULL, &ds, &e), CNS_E_IO);
    ck_assert_ptr_null(ds);
    ck_assert_contains(e.message, "/tmp");
    ck_assert_contains(e.message, strerror(EISDIR));
}
END_TEST

START_TEST(test_bad_arguments) {
    cns_dataset *ds = (cns_dataset *)1;
    cns_error e;
    /* Misuse messages name the call ("function: detail"). */
    ck_assert_status(cns_dataset_load_file(NULL, 0, NULL, &ds, &e), CNS_E_ARG);
    ck_assert_ptr_null(ds);
    ck_assert_str_eq(e.message, "cns_dataset_load_file: path is NULL");
    ck_assert_status(cns_dataset_load_file("x", 0, NULL, NULL, &e), CNS_E_ARG);
    ck_assert_str_eq(e.message, "cns_dataset_load_file: out is NULL");
    ck_assert_status(cns_dataset_load_file("x", 0x2, NULL, &ds, &e), CNS_E_ARG);
    ck_assert_str_eq(e.message, "cns_dataset_load_file: unknown flags 0x2");
    ck_assert_status(load_text("0 1\n", 0x2, &ds, &e), CNS_E_ARG);
    ck_assert_str_eq(e.message, "cns_dataset_load_buffer: unknown flags 0x2");
    ck_assert_status(cns_dataset_load_buffer(NULL, 3, "b", 0, NULL, &ds, &e), CNS_E_ARG);
    ck_assert_str_eq(e.message, "cns_dataset_load_buffer: data is NULL but size is 3");
    cns_allocator half = {ta_alloc, NULL, NULL};
    ck_assert_status(cns_dataset_load_buffer("0 1", 3, "b", 0, &half, &ds, &e), CNS_E_ARG);
    ck_assert_ptr_null(ds);
    ck_assert_str_eq(e.message, "cns_dataset_load_buffer: allocator has a NULL function");
    ck_assert_status(cns_dataset_load_file("x", 0, &half, &ds, &e), CNS_E_ARG);
    ck_assert_str_eq(e.message, "cns_dataset_load_file: allocator has a NULL function");
}
END_TEST

/* ---- what the parser accepts ------------------------------------------------ */

START_TEST(test_accepted_syntax) {
    /* Pairs: (0,1) (0,2) (1,0) (2,2) (3,1) (3,0) (4,0); no trailing newline. */
    const char *text = "# header: user item [weight]\n"
                       "\n"
                       "0\t1\n"
                       "  0  2 \t0.5\r\n"
                       "1 0 1e-3\n"
                       "2 2 -3\n"
                       "\t# an indented comment\n"
                       "3 1 +2.5E+2\n"
                       "3 0 .5\n"
                       "4 0 1.797e308\n"
                       "003 000 0e99999";
    cns_dataset *ds = NULL;
    cns_error e;
    ck_assert_status(load_text(text, 0, &ds, &e), CNS_OK);
    ck_assert_int_eq(cns_dataset_num_users(ds), 5);
    ck_assert_int_eq(cns_dataset_num_items(ds), 3);
    ck_assert_uint_eq(cns_dataset_num_interactions(ds), 7);
    ck_assert_uint_eq(cns_dataset_duplicates(ds), 1); /* "003 000" == (3, 0) */
    ck_assert_uint_eq(cns_dataset_skipped(ds), 0);
    static const int32_t eu[] = {0, 0, 1, 2, 3, 3, 4}, ei[] = {1, 2, 0, 2, 0, 1, 0};
    for (size_t k = 0; k < 7; ++k) {
        int32_t u, i;
        ck_assert_status(cns_dataset_pair(ds, k, &u, &i), CNS_OK);
        ck_assert_int_eq(u, eu[k]);
        ck_assert_int_eq(i, ei[k]);
    }
    cns_dataset_free(ds);
}
END_TEST

/* Weights at the edge of the double range. Expected finiteness from
 * python3's float() (correctly rounded): float(w) != inf. T is
 * 2**1024 - 2**970, the smallest decimal that rounds to infinity. */
#define T_DIGITS "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792"
START_TEST(test_weight_overflow_edge) {
    static const struct {
        const char *w;
        int finite;
    } k_w[] = {{"1.7976931348623158e308", 1}, {"1.7976931348623159e308", 0},
               {"-1.8e308", 0}, {"0.00017976931348623158e312", 1},
               {"17976931348623157e292", 1}, {"1e-99999", 1}, {"0.0e400000", 1},
               {"1e308", 1}, {"9.99e308", 0}, {T_DIGITS, 0}, {T_DIGITS ".0", 0},
               {"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791", 1}, {"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791.99999", 1}};
    for (size_t k = 0; k < sizeof k_w / sizeof k_w[0]; ++k) {
        char line[512];
        snprintf(line, sizeof line, "0 1 %s\n", k_w[k].w);
        cns_dataset *ds = NULL;
        cns_error e;
        ck_assert_msg(load_text(line, 0, &ds, &e) == (k_w[k].finite ? CNS_OK : CNS_E_BAD_VALUE),
                      "weight %s", k_w[k].w);
        cns_dataset_free(ds);
    }
}
END_TEST

/* Random tokens over "0123456789.eE+-" (and long ones near 1e308) against
 * glibc's correctly rounded strtod in the "C" locale: a weight is valid iff
 * strtod consumes the whole token and the value is finite. */
START_TEST(test_weight_matches_strtod) {
    static const char alphabet[] = "0123456789.eE+-";
    uint64_t x = 88172645463325252ull;
    int valid = 0, invalid = 0;
    for (int trial = 0; trial < 60000; ++trial) {
        char tok[400];
        size_t len;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (trial % 4 == 0) {
            /* digits, a point, more digits and an exponent near the edge */
            int a = 1 + (int)(x % 20), b = (int)((x >> 8) % 20);
            len = 0;
            for (int k = 0; k < a; ++k) tok[len++] = (char)('0' + (x >> (k % 50)) % 10);
            tok[len++] = '.';
            for (int k = 0; k < b; ++k) tok[len++] = (char)('0' + (x >> ((k + 7) % 50)) % 10);
            len += (size_t)sprintf(tok + len, "e%d", 280 + (int)((x >> 20) % 40) - a);
        } else {
            len = 1 + (size_t)(x % 8);
            for (size_t k = 0; k < len; ++k)
                tok[k] = alphabet[(x >> (5 * k + 3)) % (sizeof alphabet - 1)];
        }
        tok[len] = '\0';
        char *end;
        double v = strtod(tok, &end);
        int expect = end == tok + len && isfinite(v);
        char line[450];
        snprintf(line, sizeof line, "0 1 %s\n", tok);
        cns_dataset *ds = NULL;
        cns_status st = load_text(line, 0, &ds, NULL);
        ck_assert_msg(st == (expect ? CNS_OK : CNS_E_BAD_VALUE), "weight '%s': %s", tok,
                      cns_status_name(st));
        cns_dataset_free(ds);
        valid += expect;
        invalid += !expect;
    }
    ck_assert_int_gt(valid, 10000);
    ck_assert_int_gt(invalid, 10000);
}
END_TEST

START_TEST(test_largest_id_is_accepted) {
    /* 2147483646 parses when the host raises the dense bound to it; the
     * build then needs 2^31 counts, which a capped allocator refuses: NOMEM
     * (not ID_RANGE) proves the parser took it. */
    test_alloc t = {0, 0, -1, (size_t)1 << 26};
    cns_allocator a = {ta_alloc, ta_free, &t};
    cns_dataset *ds = NULL;
    cns_error e;
    cns_load_options o;
    cns_load_options_init(&o);
    o.ids = CNS_IDS_DENSE;
    o.max_dense_id = 2147483646;
    ck_assert_status(cns_dataset_load_buffer_ids("0 2147483646\n", 13, "big", &o, &a, &ds, NULL, &e),
                     CNS_E_NOMEM);
    ck_assert_ptr_null(ds);
    ck_assert_uint_eq(t.live, 0);
    /* With the derived bound the same file is refused before any table. */
    ck_assert_status(cns_dataset_load_buffer("0 2147483646\n", 13, "big", 0, &a, &ds, &e),
                     CNS_E_ID_RANGE);
    ck_assert_uint_eq(t.live, 0);
    ck_assert_status(cns_dataset_load_buffer_ids("0 2147483647\n", 13, "big", &o, &a, &ds, NULL, &e),
                     CNS_E_ID_RANGE);
    ck_assert_uint_eq(t.live, 0);
}
END_TEST

START_TEST(test_duplicates_and_counts) {
    cns_dataset *ds = NULL;
    cns_error e;
    ck_assert_status(load_text("0 1\n0 1\n1 0\n0 1 2.0\n", 0, &ds, &e), CNS_OK);
    ck_assert_uint_eq(cns_dataset_num_interactions(ds), 2);
    ck_assert_uint_eq(cns_dataset_duplicates(ds), 2);
    cns_dataset_free(ds);
    /* Counts are max id + 1; users below the max with no items are empty rows. */
    ck_assert_status(load_text("5 9\n", 0, &ds, &e), CNS_OK);
    ck_assert_int_eq(cns_dataset_num_users(ds), 6);
    ck_assert_int_eq(cns_dataset_num_items(ds), 10);
    const int32_t *row;
    size_t cnt = 99;
    ck_assert_status(cns_dataset_user_items(ds, 0, &row, &cnt), CNS_OK);
    ck_assert_uint_eq(cnt, 0);
    ck_assert_status(cns_dataset_user_items(ds, 5, &row, &cnt), CNS_OK);
    ck_assert_uint_eq(cnt, 1);
    ck_assert_int_eq(row[0], 9);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_long_names_keep_the_line) {
    char name[400];
    memset(name, 'd', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    memcpy(name + sizeof name - 9, "file.txt", 8);
    cns_dataset *ds = NULL;
    cns_error e;
    ck_assert_status(cns_dataset_load_buffer("0 1\n1\n", 6, name, 0, NULL, &ds, &e),
                     CNS_E_FIELDS);
    ck_assert_contains(e.message, "file.txt:2: expected 2 or 3 fields, found 1");
    ck_assert(strncmp(e.message, "...", 3) == 0);
}
END_TEST

/* The file reader streams in chunks: lines across chunk boundaries and a
 * line longer than a chunk must give what the buffer parser gives. */
START_TEST(test_file_chunks_match_buffer) {
    size_t lines = 120000, cap = lines * 24 + 700000;
    char *text = malloc(cap);
    size_t len = 0;
    len += (size_t)sprintf(text + len, "#");
    memset(text + len, 'c', 600000); /* a comment longer than one read chunk */
    len += 600000;
    text[len++] = '\n';
    for (size_t k = 0; k < lines; ++k)
        len += (size_t)sprintf(text + len, "%zu\t%zu%s", (k * 7919) % 5000, (k * 104729) % 3001,
                               k % 3 == 0 ? " 1\r\n" : "\n");
    len += (size_t)sprintf(text + len, "4 x\n");
    text[len] = '\0';
    char path[64];
    ck_assert_ptr_nonnull(cns_test_write_temp(text, path, sizeof path));
    cns_dataset *a = NULL, *b = NULL;
    cns_error ea, eb;
    ck_assert_status(cns_dataset_load_file(path, 0, NULL, &a, &ea), CNS_E_BAD_ID);
    char want[64];
    snprintf(want, sizeof want, ":%zu: item id", lines + 2);
    ck_assert_contains(ea.message, want);
    ck_assert_status(cns_dataset_load_file(path, CNS_LOAD_SKIP_BAD, NULL, &a, &ea), CNS_OK);
    ck_assert_status(cns_dataset_load_buffer(text, len, "b", CNS_LOAD_SKIP_BAD, NULL, &b, &eb),
                     CNS_OK);
    ck_assert_uint_eq(cns_dataset_skipped(a), 1);
    ck_assert_uint_eq(cns_dataset_num_interactions(a), cns_dataset_num_interactions(b));
    ck_assert_uint_eq(cns_dataset_num_interactions(a) + cns_dataset_duplicates(a), lines);
    for (size_t k = 0; k < cns_dataset_num_interactions(a); ++k) {
        int32_t ua, ia, ub, ib;
        ck_assert_status(cns_dataset_pair(a, k, &ua, &ia), CNS_OK);
        ck_assert_status(cns_dataset_pair(b, k, &ub, &ib), CNS_OK);
        ck_assert(ua == ub && ia == ib);
    }
    cns_dataset_free(a);
    cns_dataset_free(b);
    unlink(path);
    free(text);
}
END_TEST

/* ---- the in-memory structure ---------------------------------------------- */

START_TEST(test_structure_of_small) {
    cns_dataset *ds = small_dataset();
    ck_assert_int_eq(cns_dataset_num_users(ds), 4);
    ck_assert_int_eq(cns_dataset_num_items(ds), 5);
    ck_assert_uint_eq(cns_dataset_num_interactions(ds), 6);
    ck_assert_uint_eq(cns_dataset_duplicates(ds), 1);
    const int32_t *pop = cns_dataset_item_popularity(ds);
    static const int32_t epop[] = {1, 1, 0, 1, 3};
    for (int k = 0; k < 5; ++k) ck_assert_int_eq(pop[k], epop[k]);
    static const int32_t row0[] = {1, 3, 4};
    const int32_t *row;
    size_t cnt;
    ck_assert_status(cns_dataset_user_items(ds, 0, &row, &cnt), CNS_OK);
    ck_assert_uint_eq(cnt, 3);
    for (int k = 0; k < 3; ++k) ck_assert_int_eq(row[k], row0[k]);
    ck_assert_status(cns_dataset_user_items(ds, 1, &row, &cnt), CNS_OK);
    ck_assert_uint_eq(cnt, 0);
    ck_assert_status(cns_dataset_user_items(ds, 4, &row, &cnt), CNS_E_ARG);
    ck_assert_status(cns_dataset_user_items(ds, -1, &row, &cnt), CNS_E_ARG);
    ck_assert_status(cns_dataset_user_items(NULL, 0, &row, &cnt), CNS_E_ARG);
    /* contains: every (u, i) of the 4 x 5 grid against the literal lists. */
    static const char member[4][5] = {{0, 1, 0, 1, 1}, {0}, {1, 0, 0, 0, 1}, {0, 0, 0, 0, 1}};
    for (int32_t u = 0; u < 4; ++u)
        for (int32_t i = 0; i < 5; ++i) ck_assert_int_eq(cns_dataset_contains(ds, u, i), member[u][i]);
    ck_assert_int_eq(cns_dataset_contains(ds, 4, 4), 0);
    ck_assert_int_eq(cns_dataset_contains(ds, -1, 4), 0);
    ck_assert_int_eq(cns_dataset_contains(ds, 0, 5), 0);
    ck_assert_int_eq(cns_dataset_contains(ds, 0, -1), 0);
    ck_assert_int_eq(cns_dataset_contains(NULL, 0, 1), 0);
    /* pair: user-major, items ascending. */
    static const int32_t pu[] = {0, 0, 0, 2, 2, 3}, pi[] = {1, 3, 4, 0, 4, 4};
    for (size_t k = 0; k < 6; ++k) {
        int32_t u, i;
        ck_assert_status(cns_dataset_pair(ds, k, &u, &i), CNS_OK);
        ck_assert_int_eq(u, pu[k]);
        ck_assert_int_eq(i, pi[k]);
    }
    int32_t u, i;
    ck_assert_status(cns_dataset_pair(ds, 6, &u, &i), CNS_E_ARG);
    ck_assert_status(cns_dataset_pair(ds, 0, NULL, &i), CNS_E_ARG);
    ck_assert_int_eq(cns_dataset_num_users(NULL), 0);
    ck_assert_uint_eq(cns_dataset_num_interactions(NULL), 0);
    ck_assert_ptr_null(cns_dataset_item_popularity(NULL));
    cns_dataset_free(ds);
    cns_dataset_free(NULL);
}
END_TEST

START_TEST(test_rows_sorted_and_complete) {
    cns_dataset *ds = random_dataset(300, 7);
    size_t total = 0;
    for (int32_t u = 0; u < 300; ++u) {
        const int32_t *row;
        size_t cnt;
        ck_assert_status(cns_dataset_user_items(ds, u, &row, &cnt), CNS_OK);
        ck_assert_uint_eq(cnt, (size_t)(1 + u % 29)); /* distinct by construction */
        for (size_t k = 1; k < cnt; ++k) ck_assert_int_lt(row[k - 1], row[k]);
        for (size_t k = 0; k < cnt; ++k) ck_assert(cns_dataset_contains(ds, u, row[k]));
        total += cnt;
    }
    ck_assert_uint_eq(total, cns_dataset_num_interactions(ds));
    ck_assert_uint_eq(cns_dataset_duplicates(ds), 0);
    cns_dataset_free(ds);
}
END_TEST

/* Input already in (user, item) order takes the builder's no-sort path;
 * shuffled it takes the counting sorts: both must give the same dataset. */
START_TEST(test_sorted_and_shuffled_input_agree) {
    /* Sorted, with duplicates (0,1) x2 and (2,0) x2, and an empty user 1. */
    const int32_t su[] = {0, 0, 0, 2, 2, 2, 3}, si[] = {1, 1, 2, 0, 0, 5, 5};
    const int32_t pu[] = {2, 3, 0, 2, 0, 2, 0}, pi[] = {0, 5, 2, 5, 1, 0, 1};
    cns_dataset *a = NULL, *b = NULL;
    ck_assert_status(cns_dataset_from_arrays(su, si, 7, 0, 0, NULL, &a, NULL), CNS_OK);
    ck_assert_status(cns_dataset_from_arrays(pu, pi, 7, 0, 0, NULL, &b, NULL), CNS_OK);
    static const int32_t eu[] = {0, 0, 2, 2, 3}, ei[] = {1, 2, 0, 5, 5};
    cns_dataset *both[2] = {a, b};
    for (int d = 0; d < 2; ++d) {
        ck_assert_int_eq(cns_dataset_num_users(both[d]), 4);
        ck_assert_int_eq(cns_dataset_num_items(both[d]), 6);
        ck_assert_uint_eq(cns_dataset_num_interactions(both[d]), 5);
        ck_assert_uint_eq(cns_dataset_duplicates(both[d]), 2);
        for (size_t k = 0; k < 5; ++k) {
            int32_t u, i;
            ck_assert_status(cns_dataset_pair(both[d], k, &u, &i), CNS_OK);
            ck_assert(u == eu[k] && i == ei[k]);
        }
        const int32_t *pop = cns_dataset_item_popularity(both[d]);
        static const int32_t epop[] = {1, 1, 1, 0, 0, 2};
        for (int i = 0; i < 6; ++i) ck_assert_int_eq(pop[i], epop[i]);
    }
    cns_dataset_free(a);
    cns_dataset_free(b);
}
END_TEST

/* Grouped input with long unsorted rows (heapsort in place) against the
 * same pairs ungrouped (counting sorts) and against a bitmap. */
START_TEST(test_long_rows_agree) {
    enum { N = 3000, ITEMS = 500 };
    int32_t *gu = malloc(N * 4), *gi = malloc(N * 4), *xu = malloc(N * 4), *xi = malloc(N * 4);
    static unsigned char bit[3][ITEMS];
    memset(bit, 0, sizeof bit);
    uint32_t x = 12345;
    for (int k = 0; k < N; ++k) {
        x = x * 1664525u + 1013904223u;
        gu[k] = k < 1500 ? 0 : k < 1510 ? 1 : 2; /* rows of 1500, 10, 1490 */
        gi[k] = (int32_t)((x >> 8) % ITEMS);      /* many duplicates */
        bit[gu[k]][gi[k]] = 1;
        /* Ungrouped: the same multiset, interleaved. */
        xu[(k * 7) % N] = gu[k];
        xi[(k * 7) % N] = gi[k];
    }
    cns_dataset *a = NULL, *b = NULL;
    ck_assert_status(cns_dataset_from_arrays(gu, gi, N, 0, 0, NULL, &a, NULL), CNS_OK);
    ck_assert_status(cns_dataset_from_arrays(xu, xi, N, 0, 0, NULL, &b, NULL), CNS_OK);
    size_t distinct = 0;
    for (int u = 0; u < 3; ++u)
        for (int i = 0; i < ITEMS; ++i) distinct += bit[u][i];
    ck_assert_uint_eq(cns_dataset_num_interactions(a), distinct);
    ck_assert_uint_eq(cns_dataset_num_interactions(b), distinct);
    ck_assert_uint_eq(cns_dataset_duplicates(a), N - distinct);
    size_t k = 0;
    for (int32_t u = 0; u < 3; ++u)
        for (int32_t i = 0; i < ITEMS; ++i) {
            if (!bit[u][i]) continue;
            int32_t ua, ia, ub, ib;
            ck_assert_status(cns_dataset_pair(a, k, &ua, &ia), CNS_OK);
            ck_assert_status(cns_dataset_pair(b, k, &ub, &ib), CNS_OK);
            ck_assert(ua == u && ia == i && ub == u && ib == i);
            ++k;
        }
    cns_dataset_free(a);
    cns_dataset_free(b);
    free(gu);
    free(gi);
    free(xu);
    free(xi);
}
END_TEST

START_TEST(test_from_arrays_errors) {
    const int32_t u[] = {0, 1, 2}, i[] = {0, 1, 2}, neg[] = {0, -3, 1};
    const int32_t big[] = {0, INT32_MAX, 1};
    cns_dataset *ds = (cns_dataset *)1;
    cns_error e;
    ck_assert_status(cns_dataset_from_arrays(u, i, 3, 0, 0, NULL, NULL, &e), CNS_E_ARG);
    ck_assert_status(cns_dataset_from_arrays(NULL, i, 3, 0, 0, NULL, &ds, &e), CNS_E_ARG);
    ck_assert_ptr_null(ds);
    ck_assert_contains(e.message, "users");
    ck_assert_status(cns_dataset_from_arrays(u, NULL, 3, 0, 0, NULL, &ds, &e), CNS_E_ARG);
    ck_assert_contains(e.message, "items");
    ck_assert_status(cns_dataset_from_arrays(u, i, 0, 0, 0, NULL, &ds, &e), CNS_E_EMPTY);
    ck_assert_status(cns_dataset_from_arrays(u, neg, 3, 0, 0, NULL, &ds, &e), CNS_E_BAD_ID);
    ck_assert_status(cns_dataset_from_arrays(big, i, 3, 0, 0, NULL, &ds, &e), CNS_E_ID_RANGE);
    ck_assert_status(cns_dataset_from_arrays(u, i, 3, 2, 0, NULL, &ds, &e), CNS_E_ID_RANGE);
    ck_assert_contains(e.message, "user id 2");
    ck_assert_status(cns_dataset_from_arrays(u, i, 3, 0, 2, NULL, &ds, &e), CNS_E_ID_RANGE);
    ck_assert_contains(e.message, "item id 2");
    ck_assert_status(cns_dataset_from_arrays(u, i, 3, -1, 0, NULL, &ds, &e), CNS_E_ARG);
    ck_assert_ptr_null(ds);
    /* Given counts larger than the ids are kept. */
    ck_assert_status(cns_dataset_from_arrays(u, i, 3, 10, 20, NULL, &ds, &e), CNS_OK);
    ck_assert_int_eq(cns_dataset_num_users(ds), 10);
    ck_assert_int_eq(cns_dataset_num_items(ds), 20);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_food_counts) {
    char buf[512];
    const char *path = cns_test_shared_path("data/food/train.txt", buf, sizeof buf);
    if (path == NULL) return; /* data absent: nothing to check */
    cns_dataset *ds = NULL;
    cns_error e;
    ck_assert_status(cns_dataset_load_file(path, 0, NULL, &ds, &e), CNS_OK);
    /* Independent count (python3):
     *   mu = mi = -1; pairs = set()
     *   for l in open(path): a, b = map(int, l.split()[:2]); mu = max(mu, a);
     *       mi = max(mi, b); pairs.add((a, b))
     *   print(mu + 1, mi + 1, len(pairs))   # 7732 6293 106253 */
    ck_assert_int_eq(cns_dataset_num_users(ds), 7732);
    ck_assert_int_eq(cns_dataset_num_items(ds), 6293);
    ck_assert_uint_eq(cns_dataset_num_interactions(ds), 106253);
    ck_assert_uint_eq(cns_dataset_skipped(ds), 0);
    size_t sum = 0;
    const int32_t *pop = cns_dataset_item_popularity(ds);
    for (int32_t i = 0; i < cns_dataset_num_items(ds); ++i) sum += (size_t)pop[i];
    ck_assert_uint_eq(sum, 106253);
    cns_dataset_free(ds);
}
END_TEST

/* ---- split -------------------------------------------------------------------- */

static size_t expected_held(size_t n, double f) {
    if (n < 2) return 0;
    size_t h = (size_t)floor(f * (double)n + 0.5);
    return h > n - 1 ? n - 1 : h;
}

START_TEST(test_split_properties) {
    cns_dataset *ds = random_dataset(200, 3);
    const double f = 0.2;
    cns_dataset *kept = NULL, *held = NULL, *kept2 = NULL, *held2 = NULL, *kept3 = NULL,
                *held3 = NULL;
    cns_error e;
    ck_assert_status(cns_dataset_split(ds, f, 11, NULL, &kept, &held, &e), CNS_OK);
    ck_assert_int_eq(cns_dataset_num_users(kept), 200);
    ck_assert_int_eq(cns_dataset_num_items(kept), 80);
    ck_assert_int_eq(cns_dataset_num_users(held), 200);
    ck_assert_int_eq(cns_dataset_num_items(held), 80);
    ck_assert_uint_eq(cns_dataset_num_interactions(kept) + cns_dataset_num_interactions(held),
                      cns_dataset_num_interactions(ds));
    for (int32_t u = 0; u < 200; ++u) {
        const int32_t *row;
        size_t n, nk, nh;
        ck_assert_status(cns_dataset_user_items(ds, u, &row, &n), CNS_OK);
        const int32_t *rk, *rh;
        ck_assert_status(cns_dataset_user_items(kept, u, &rk, &nk), CNS_OK);
        ck_assert_status(cns_dataset_user_items(held, u, &rh, &nh), CNS_OK);
        ck_assert_uint_eq(nh, expected_held(n, f));
        ck_assert_uint_eq(nk + nh, n);
        /* Disjoint, and the union is the original row. */
        for (size_t k = 0; k < n; ++k)
            ck_assert_int_eq(cns_dataset_contains(kept, u, row[k]) +
                                 cns_dataset_contains(held, u, row[k]),
                             1);
    }
    /* Deterministic in the seed; another seed picks other pairs. */
    ck_assert_status(cns_dataset_split(ds, f, 11, NULL, &kept2, &held2, &e), CNS_OK);
    ck_assert_status(cns_dataset_split(ds, f, 12, NULL, &kept3, &held3, &e), CNS_OK);
    size_t nh = cns_dataset_num_interactions(held), diff = 0;
    ck_assert_uint_eq(cns_dataset_num_interactions(held3), nh);
    for (size_t k = 0; k < nh; ++k) {
        int32_t u1, i1, u2, i2, u3, i3;
        ck_assert_status(cns_dataset_pair(held, k, &u1, &i1), CNS_OK);
        ck_assert_status(cns_dataset_pair(held2, k, &u2, &i2), CNS_OK);
        ck_assert_status(cns_dataset_pair(held3, k, &u3, &i3), CNS_OK);
        ck_assert(u1 == u2 && i1 == i2);
        diff += i1 != i3;
    }
    ck_assert_uint_gt(diff, nh / 4);
    cns_dataset_free(kept);
    cns_dataset_free(held);
    cns_dataset_free(kept2);
    cns_dataset_free(held2);
    cns_dataset_free(kept3);
    cns_dataset_free(held3);
    cns_dataset_free(ds);
}
END_TEST

/* Every subset of a row is equally likely: user 0 has 4 items and holds
 * out round(0.5 * 4) = 2, one of C(4,2) = 6 subsets, over 600 seeds. */
START_TEST(test_split_subsets_uniform) {
    const int32_t u[] = {0, 0, 0, 0}, i[] = {0, 1, 2, 3};
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(u, i, 4, 0, 0, NULL, &ds, NULL), CNS_OK);
    int count[16] = {0};
    const int trials = 600;
    for (int s = 0; s < trials; ++s) {
        cns_dataset *k = NULL, *h = NULL;
        ck_assert_status(cns_dataset_split(ds, 0.5, (uint64_t)s, NULL, &k, &h, NULL), CNS_OK);
        int mask = 0;
        for (int32_t it = 0; it < 4; ++it) mask |= cns_dataset_contains(h, 0, it) << it;
        count[mask]++;
        cns_dataset_free(k);
        cns_dataset_free(h);
    }
    /* Chi-square with 5 degrees of freedom; P(X > 20.52) = 0.001. */
    double chi = 0, expect = trials / 6.0;
    int subsets = 0;
    for (int m = 0; m < 16; ++m) {
        if (__builtin_popcount((unsigned)m) != 2) {
            ck_assert_int_eq(count[m], 0);
            continue;
        }
        ++subsets;
        chi += (count[m] - expect) * (count[m] - expect) / expect;
    }
    ck_assert_int_eq(subsets, 6);
    ck_assert_msg(chi < 20.52, "chi-square %g", chi);
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_split_errors) {
    cns_dataset *ds = small_dataset(), *k = (cns_dataset *)1, *h = (cns_dataset *)1;
    cns_error e;
    ck_assert_status(cns_dataset_split(ds, 0.0, 1, NULL, &k, &h, &e), CNS_E_ARG);
    ck_assert_ptr_null(k);
    ck_assert_ptr_null(h);
    ck_assert_status(cns_dataset_split(ds, 1.0, 1, NULL, &k, &h, &e), CNS_E_ARG);
    ck_assert_status(cns_dataset_split(ds, NAN, 1, NULL, &k, &h, &e), CNS_E_ARG);
    ck_assert_contains(e.message, "fraction");
    ck_assert_status(cns_dataset_split(NULL, 0.5, 1, NULL, &k, &h, &e), CNS_E_ARG);
    ck_assert_status(cns_dataset_split(ds, 0.5, 1, NULL, NULL, &h, &e), CNS_E_ARG);
    ck_assert_status(cns_dataset_split(ds, 0.5, 1, NULL, &k, NULL, &e), CNS_E_ARG);
    /* 0.1 of 3 and of 2 rounds to 0, and single pairs stay: nothing held. */
    ck_assert_status(cns_dataset_split(ds, 0.1, 1, NULL, &k, &h, &e), CNS_E_EMPTY);
    ck_assert_ptr_null(k);
    ck_assert_ptr_null(h);
    /* 0.9: user 0 holds 2 of 3 (round 2.7 = 3, capped at n - 1), user 2 holds 1. */
    ck_assert_status(cns_dataset_split(ds, 0.9, 1, NULL, &k, &h, &e), CNS_OK);
    ck_assert_uint_eq(cns_dataset_num_interactions(h), 3);
    ck_assert_uint_eq(cns_dataset_num_interactions(k), 3);
    cns_dataset_free(k);
    cns_dataset_free(h);
    cns_dataset_free(ds);
}
END_TEST

/* ---- save_text ----------------------------------------------------------------- */

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *s = calloc(1, 1 << 20);
    size_t n = fread(s, 1, (1 << 20) - 1, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Entries of dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

START_TEST(test_save_round_trip) {
    char dir[] = "/tmp/cns_save_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    cns_dataset *ds = small_dataset();
    cns_error e;
    ck_assert_status(cns_dataset_save_text(ds, path, &e), CNS_OK);
    char *text = read_all(path);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "0 1\n0 3\n0 4\n2 0\n2 4\n3 4\n");
    free(text);
    /* Overwrite an existing file with a bigger dataset, then reload it. */
    cns_dataset *big = random_dataset(500, 9), *back = NULL;
    ck_assert_status(cns_dataset_save_text(big, path, &e), CNS_OK);
    ck_assert_status(cns_dataset_load_file(path, 0, NULL, &back, &e), CNS_OK);
    ck_assert_int_eq(cns_dataset_num_users(back), cns_dataset_num_users(big));
    ck_assert_uint_eq(cns_dataset_num_interactions(back), cns_dataset_num_interactions(big));
    for (size_t k = 0; k < cns_dataset_num_interactions(big); ++k) {
        int32_t u1, i1, u2, i2;
        ck_assert_status(cns_dataset_pair(big, k, &u1, &i1), CNS_OK);
        ck_assert_status(cns_dataset_pair(back, k, &u2, &i2), CNS_OK);
        ck_assert(u1 == u2 && i1 == i2);
    }
    ck_assert_int_eq(count_prefixed(dir, "out.txt.tmp"), 0);
    cns_dataset_free(back);
    cns_dataset_free(big);
    cns_dataset_free(ds);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(test_save_failures_leave_nothing) {
    cns_dataset *ds = small_dataset();
    cns_error e;
    /* Into a directory that does not exist. */
    ck_assert_status(cns_dataset_save_text(ds, "/tmp/cns_no_such_dir_9f3/out.txt", &e), CNS_E_IO);
    ck_assert_contains(e.message, "/tmp/cns_no_such_dir_9f3/out.txt");
    ck_assert_contains(e.message, strerror(ENOENT));
    ck_assert_int_ne(access("/tmp/cns_no_such_dir_9f3", F_OK), 0);
    /* Onto a directory: the temporary file is written, then the rename
     * fails; the temporary must be removed and the target left as it was. */
    char dir[] = "/tmp/cns_save_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char target[128], inner[160];
    snprintf(target, sizeof target, "%s/target", dir);
    ck_assert_int_eq(mkdir(target, 0755), 0);
    snprintf(inner, sizeof inner, "%s/keep", target);
    FILE *f = fopen(inner, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_status(cns_dataset_save_text(ds, target, &e), CNS_E_IO);
    ck_assert_contains(e.message, "rename");
    ck_assert_int_eq(count_prefixed(dir, "target.tmp"), 0);
    ck_assert_int_eq(access(inner, F_OK), 0);
    ck_assert_status(cns_dataset_save_text(NULL, target, &e), CNS_E_ARG);
    ck_assert_status(cns_dataset_save_text(ds, NULL, &e), CNS_E_ARG);
    unlink(inner);
    rmdir(target);
    rmdir(dir);
    cns_dataset_free(ds);
}
END_TEST

/* ---- allocation failures: every one is survived, nothing leaks -------------- */

START_TEST(test_every_allocation_failure) {
    const char *text = "# t\n0 1\n0 2\n3 1 0.5\nbad\n2 2\n";
    char path[64];
    ck_assert_ptr_nonnull(cns_test_write_temp(text, path, sizeof path));
    cns_dataset *base = random_dataset(40, 5);
    for (int which = 0; which < 3; ++which) {
        int succeeded = 0;
        for (long at = 0; at < 200 && !succeeded; ++at) {
            test_alloc t = {0, 0, at, 0};
            cns_allocator a = {ta_alloc, ta_free, &t};
            cns_dataset *ds = (cns_dataset *)1, *k = (cns_dataset *)1, *h = (cns_dataset *)1;
            cns_error e;
            cns_status st;
            if (which == 0)
                st = cns_dataset_load_buffer(text, strlen(text), "b", CNS_LOAD_SKIP_BAD, &a, &ds, &e);
            else if (which == 1)
                st = cns_dataset_load_file(path, CNS_LOAD_SKIP_BAD, &a, &ds, &e);
            else
                st = cns_dataset_split(base, 0.3, 1, &a, &k, &h, &e);
            if (st == CNS_OK) {
                succeeded = 1;
                ck_assert_int_ge(at, 1); /* the first allocation did fail */
                if (which < 2) {
                    ck_assert_uint_eq(cns_dataset_num_interactions(ds), 4);
                    cns_dataset_free(ds);
                } else {
                    cns_dataset_free(k);
                    cns_dataset_free(h);
                }
                ck_assert_uint_eq(t.live, 0);
            } else {
                ck_assert_status(st, CNS_E_NOMEM);
                ck_assert_int_eq(e.status, CNS_E_NOMEM);
                if (which < 2) ck_assert_ptr_null(ds);
                else ck_assert(k == NULL && h == NULL);
                ck_assert_uint_eq(t.live, 0);
            }
        }
        ck_assert(succeeded);
    }
    cns_dataset_free(base);
    unlink(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("dataset");
    tcase_add_test(tc, test_line2_single_field);
    tcase_add_loop_test(tc, test_bad_lines, 0, (int)(sizeof k_bad / sizeof k_bad[0]));
    tcase_add_test(tc, test_fast_path_agrees);
    tcase_add_test(tc, test_empty_inputs);
    tcase_add_test(tc, test_missing_file_and_read_error);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_accepted_syntax);
    tcase_add_test(tc, test_weight_overflow_edge);
    tcase_add_test(tc, test_weight_matches_strtod);
    tcase_add_test(tc, test_largest_id_is_accepted);
    tcase_add_test(tc, test_duplicates_and_counts);
    tcase_add_test(tc, test_long_names_keep_the_line);
    tcase_add_test(tc, test_file_chunks_match_buffer);
    tcase_add_test(tc, test_structure_of_small);
    tcase_add_test(tc, test_rows_sorted_and_complete);
    tcase_add_test(tc, test_sorted_and_shuffled_input_agree);
    tcase_add_test(tc, test_long_rows_agree);
    tcase_add_test(tc, test_from_arrays_errors);
    tcase_add_test(tc, test_food_counts);
    tcase_add_test(tc, test_split_properties);
    tcase_add_test(tc, test_split_subsets_uniform);
    tcase_add_test(tc, test_split_errors);
    tcase_add_test(tc, test_save_round_trip);
    tcase_add_test(tc, test_save_failures_leave_nothing);
    tcase_add_test(tc, test_every_allocation_failure);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
