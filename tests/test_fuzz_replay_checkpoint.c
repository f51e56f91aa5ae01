/* Replays every file of tests/fuzz/corpus/checkpoint/ through
 * cns__ckpt_parse and asserts the status its name promises
 * (docs/CHECKPOINT.md, "Fuzzing"):
 *   model-*    valid model checkpoint: OK as model, CNS_E_CORRUPT as sampler
 *   sampler-*  valid sampler checkpoint: the reverse
 *   bad-*      CNS_E_CORRUPT for both kinds
 *   future-*   CNS_E_VERSION for both kinds
 * A file with any other name fails the suite: rename a new fuzzer finding
 * to the status it must produce before committing it. */
#include <dirent.h>

#include "alloc.h"
#include "checkpoint.h"
#include "testutil.h"

#define CORPUS_DIR CNS_SOURCE_DIR "/tests/fuzz/corpus/checkpoint"

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1); /* +1: malloc(0) may return NULL */
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

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
    DIR *d = opendir(CORPUS_DIR);
    ck_assert_msg(d != NULL, "cannot open %s", CORPUS_DIR);
    int files = 0, valid = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        const char *name = ent->d_name;
        if (name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, name);
        size_t len;
        unsigned char *b = slurp(path, &len);
        cns_status as_model, as_sampler;
        if (has_prefix(name, "model-")) {
            as_model = CNS_OK;
            as_sampler = CNS_E_CORRUPT;
            valid++;
        } else if (has_prefix(name, "sampler-")) {
            as_model = CNS_E_CORRUPT;
            as_sampler = CNS_OK;
            valid++;
        } else if (has_prefix(name, "bad-")) {
            as_model = as_sampler = CNS_E_CORRUPT;
        } else if (has_prefix(name, "future-")) {
            as_model = as_sampler = CNS_E_VERSION;
        } else {
            ck_abort_msg("%s: corpus file names start with model-, sampler-, bad- or future-", name);
        }
        replay(name, b, len, CNS__CKPT_KIND_MODEL, as_model);
        replay(name, b, len, CNS__CKPT_KIND_SAMPLER, as_sampler);
        free(b);
        files++;
    }
    closedir(d);
    /* The committed seeds: 5 valid, 3 bad, 1 future. */
    ck_assert_int_ge(files, 9);
    ck_assert_int_ge(valid, 5);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fuzz_replay_checkpoint");
    TCase *tc = tcase_create("replay");
    tcase_add_test(tc, test_replay_corpus);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
