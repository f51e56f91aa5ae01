/* Replays the fuzzing seed corpus of the id-map loaders
 * (tests/fuzz/corpus/idmap/) through the fuzz target's own check, and the
 * file loader must give the same statuses as the buffer loader. */
#include "fuzz/fuzz_idmap.c"
#include "corpus_testutil.h"

#define CORPUS CNS_SOURCE_DIR "/tests/fuzz/corpus/idmap"

START_TEST(test_replay_corpus) {
    corpus_walk w;
    corpus_open(&w, CORPUS);
    int files = 0, mapped = 0, failed = 0;
    while (corpus_next(&w)) {
        FILE *f = fopen(w.path, "rb");
        ck_assert_ptr_nonnull(f);
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        ck_assert(feof(f));
        fclose(f);
        cns_status st[3];
        const char *bad = fuzz_idmap_check(buf, n, st);
        ck_assert_msg(bad == NULL, "%s: %s", w.name, bad);
        fuzz_alloc fa = {0};
        cns_allocator a = {fuzz_alloc_fn, fuzz_free_fn, &fa};
        cns_load_options o;
        cns_load_options_init(&o);
        o.ids = CNS_IDS_MAP;
        cns_dataset *ds = NULL;
        cns_idmap *m = NULL;
        cns_error e;
        cns_status fs = cns_dataset_load_file_ids(w.path, &o, &a, &ds, &m, &e);
        ck_assert_msg(fs == st[0], "%s: load_file_ids gave %s, load_buffer_ids %s", w.name,
                      cns_status_name(fs), cns_status_name(st[0]));
        cns_idmap_free(m);
        cns_dataset_free(ds);
        ck_assert_uint_eq(fa.live, 0);
        ++files;
        mapped += st[0] == CNS_OK;
        failed += st[0] != CNS_OK;
    }
    ck_assert_int_ge(files, 6);
    ck_assert_int_ge(mapped, 3);
    ck_assert_int_ge(failed, 2);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fuzz_replay_idmap");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_replay_corpus);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
