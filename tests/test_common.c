/* Status strings, version and the allocator layer. */
#include "alloc.h"
#include "error.h"
#include "testutil.h"

static const int k_all_status[] = {
    CNS_OK, CNS_E_ARG, CNS_E_SIZE, CNS_E_PARAM, CNS_E_STATE, CNS_E_NOMEM, CNS_E_UNSUPPORTED,
    CNS_E_NOFILE, CNS_E_IO, CNS_E_EMPTY, CNS_E_FIELDS, CNS_E_BAD_ID, CNS_E_ID_RANGE,
    CNS_E_BAD_VALUE, CNS_E_CORRUPT, CNS_E_VERSION, CNS_E_NUMERIC, CNS_E_SATURATED};

START_TEST(test_every_status_has_text) {
    size_t n = sizeof k_all_status / sizeof k_all_status[0];
    for (size_t i = 0; i < n; ++i) {
        const char *t = cns_strerror(k_all_status[i]);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_gt((int)strlen(t), 5);
        ck_assert_str_ne(cns_status_name(k_all_status[i]), "CNS_E_UNKNOWN");
        for (size_t j = 0; j < i; ++j) ck_assert_str_ne(t, cns_strerror(k_all_status[j]));
    }
    ck_assert_str_eq(cns_status_name(-999), "CNS_E_UNKNOWN");
    ck_assert_str_eq(cns_strerror(12345), "unknown status code");
}
END_TEST

START_TEST(test_version) {
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", CNS_VERSION_MAJOR, CNS_VERSION_MINOR, CNS_VERSION_PATCH);
    ck_assert_str_eq(cns_version(), expect);
    ck_assert_uint_eq(cns_version_number(), CNS_VERSION_NUMBER);
}
END_TEST

typedef struct counting { size_t live; size_t calls; } counting;
static void *c_alloc(void *u, size_t n) { counting *c = u; c->live++; c->calls++; return malloc(n); }
static void c_free(void *u, void *p) { counting *c = u; if (p) c->live--; free(p); }

START_TEST(test_allocator_alignment_and_routing) {
    counting c = {0, 0};
    cns_allocator a = {c_alloc, c_free, &c};
    cns__alloc al;
    ck_assert_status(cns__alloc_init(&al, &a), CNS_OK);
    void *p[16];
    for (int i = 0; i < 16; ++i) {
        p[i] = cns__malloc(&al, (size_t)i * 13 + 1);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_uint_eq((uintptr_t)p[i] % 64, 0);
        memset(p[i], 0xab, (size_t)i * 13 + 1);
    }
    ck_assert_uint_eq(c.live, 16);
    char *q = cns__realloc(&al, p[3], 3 * 13 + 1, 1000);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq((unsigned char)q[39], 0xab);
    p[3] = q;
    for (int i = 0; i < 16; ++i) cns__free(&al, p[i]);
    ck_assert_uint_eq(c.live, 0);
    ck_assert_ptr_null(cns__calloc(&al, SIZE_MAX / 2, 4));
    cns_allocator bad = {NULL, c_free, NULL};
    ck_assert_status(cns__alloc_init(&al, &bad), CNS_E_ARG);
}
END_TEST

START_TEST(test_error_helpers) {
    cns_error e;
    ck_assert_status(cns__fail(&e, CNS_E_FIELDS, "%s:%d: bad", "f.txt", 2), CNS_E_FIELDS);
    ck_assert_int_eq(e.status, CNS_E_FIELDS);
    ck_assert_str_eq(e.message, "f.txt:2: bad");
    ck_assert_status(cns__fail(NULL, CNS_E_IO, "x"), CNS_E_IO);
    cns__ok(&e);
    ck_assert_str_eq(e.message, "");
}
END_TEST

int main(void) {
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("common");
    tcase_add_test(tc, test_every_status_has_text);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_allocator_alignment_and_routing);
    tcase_add_test(tc, test_error_helpers);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
