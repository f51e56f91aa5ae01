/* Replays every file of tests/fuzz/corpus/checkpoint/ through
 * cns__ckpt_parse and asserts the status its name promises
 * (docs/CHECKPOINT.md, "Fuzzing"):
 *   model-*    valid model checkpoint: OK as model, CNS_E_CORRUPT as sampler and loss
 *   sampler-*  valid sampler checkpoint: OK as sampler, CNS_E_CORRUPT otherwise
 *   loss-*     valid loss checkpoint: OK as loss, CNS_E_CORRUPT otherwise
 *   bad-*      CNS_E_CORRUPT for every kind
 *   future-*   CNS_E_VERSION for every kind
 * A file with any other name fails the suite: rename a new fuzzer finding
 * to the status it must produce before committing it. */
#include "alloc.h"
#include "checkpoint.h"
#include "ckpt_testutil.h"
#include "corpus_testutil.h"

#define CORPUS_DIR CNS_SOURCE_DIR "/tests/fuzz/corpus/checkpoint"

/* Parses as kind, asserts want, and on success walks every section. */
static void replay(const char *name, const unsigned char *b, size_t len, uint32_t kind, cns_status want) {
    cns__alloc al;
    cns__alloc_init(&al, NULL);
    cns__ckpt_file f;
    cns_error e;
    cns_status st = cns__ckpt_parse(b, len, kind, &al, &f, &e);
    ck_assert_msg(st == want, "%s as kind %u: %s (%s), expected %s", name, (unsigned)kind,
                  cns_status_name(st), st == CNS_OK ? "" : e.message, cns_status_name(want));
    if (st != CNS_OK) {
        ck_assert_ptr_null(f.bytes);
        return;
    }
    for (uint32_t i = 0; i < f.count; ++i) {
        uint32_t tag = cns__le32_get(f.table + 32 * i);
        uint64_t size = cns__le64_get(f.table + 32 * i + 16);
        const void *d;
        uint64_t n;
        ck_assert_status(cns__ckpt_find(&f, tag, size, &d, &n, &e), CNS_OK);
        ck_assert_uint_eq(cns__crc32c(0, d, (size_t)n), cns__le32_get(f.table + 32 * i + 24));
    }
    cns__ckpt_close(&f);
}

START_TEST(test_replay_corpus) {
    corpus_walk w;
    corpus_open(&w, CORPUS_DIR);
    int files = 0, valid = 0, losses = 0;
    while (corpus_next(&w)) {
        size_t len;
        unsigned char *b = ck_read_all(w.path, &len);
        ck_assert_msg(b != NULL, "cannot open %s", w.path);
        seed_expect x = corpus_expect(w.name, 1);
        valid += x.group == SEED_MODEL || x.group == SEED_SAMPLER || x.group == SEED_LOSS;
        losses += x.group == SEED_LOSS;
        replay(w.name, b, len, CNS__CKPT_KIND_MODEL, x.as_model);
        replay(w.name, b, len, CNS__CKPT_KIND_SAMPLER, x.as_sampler);
        replay(w.name, b, len, CNS__CKPT_KIND_LOSS, x.as_loss);
        free(b);
        files++;
    }
    /* The committed seeds: 7 valid (2 of them losses), 3 bad, 1 future. */
    ck_assert_int_ge(files, 11);
    ck_assert_int_ge(valid, 7);
    ck_assert_int_ge(losses, 2);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fuzz_replay_checkpoint");
    TCase *tc = tcase_create("replay");
    tcase_add_test(tc, test_replay_corpus);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
