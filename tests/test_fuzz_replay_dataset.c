/* Replays the fuzzing seed corpus of the text parser
 * (tests/fuzz/corpus/dataset/) through the fuzz target's own check, so
 * every build exercises what the fuzzer starts from; the file reader must
 * give the same statuses as the buffer parser. */
#include "fuzz/fuzz_dataset.c"
#include "corpus_testutil.h"

#define CORPUS CNS_SOURCE_DIR "/tests/fuzz/corpus/dataset"

START_TEST(test_replay_corpus) {
    corpus_walk w;
    corpus_open(&w, CORPUS);
    int files = 0, loaded = 0, failed = 0;
    while (corpus_next(&w)) {
        const char *name = w.name, *path = w.path;
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        ck_assert(feof(f));
        fclose(f);
        cns_status st[2];
        const char *bad = fuzz_dataset_check(buf, n, st);
        ck_assert_msg(bad == NULL, "%s: %s", name, bad);
        /* The file reader agrees with the buffer parser. */
        fuzz_alloc fa = {0};
        cns_allocator a = {fuzz_alloc_fn, fuzz_free_fn, &fa};
        cns_dataset *ds = NULL;
        cns_error e;
        cns_status fs = cns_dataset_load_file(path, 0, &a, &ds, &e);
        ck_assert_msg(fs == st[0], "%s: load_file gave %s, load_buffer %s", name,
                      cns_status_name(fs), cns_status_name(st[0]));
        if (is_line_status(fs)) ck_assert_ptr_nonnull(strstr(e.message, name));
        cns_dataset_free(ds);
        ck_assert_uint_eq(fa.live, 0);
        ++files;
        loaded += st[0] == CNS_OK;
        failed += st[0] != CNS_OK;
    }
    /* The corpus holds both clean and malformed seeds. */
    ck_assert_int_ge(files, 10);
    ck_assert_int_ge(loaded, 3);
    ck_assert_int_ge(failed, 3);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fuzz_replay_dataset");
    TCase *tc = tcase_create("replay");
    tcase_add_test(tc, test_replay_corpus);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
