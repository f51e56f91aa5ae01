/* Replays every file of tests/fuzz/corpus/model_load/ through
 * cns_model_load, cns_sampler_load and cns_loss_load, and their memory
 * forms, and asserts the status its name promises (the memory form must
 * agree with the file form):
 *   model-*    a valid model checkpoint: loads as a model (and scores like
 *              itself after a save/load round trip), CNS_E_CORRUPT otherwise
 *   sampler-*  a valid sampler checkpoint: loads as a sampler only
 *   loss-*     a valid loss checkpoint: loads as a loss only
 *   bad-*      CNS_E_CORRUPT for all three
 * A file with any other name fails the suite: rename a new fuzzer finding
 * to the status it must produce before committing it (see the seeds'
 * generator tests/fuzz/gen_model_load_corpus.c). */
#include "ckpt_testutil.h"
#include "corpus_testutil.h"

#define CORPUS_DIR CNS_SOURCE_DIR "/tests/fuzz/corpus/model_load"

static void model_round_trip(cns_model *m) {
    char dir[] = "/tmp/cns_replay_XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m", dir);
    ck_assert_status(cns_model_save(m, path), CNS_OK);
    cns_model *b = NULL;
    cns_error err;
    ck_assert_status(cns_model_load(path, NULL, &b, &err), CNS_OK);
    size_t n = (size_t)cns_model_num_items(m) * (size_t)cns_model_dim(m);
    ck_assert_int_eq(memcmp(cns_model_embeddings(m, CNS_TABLE_ITEMS),
                            cns_model_embeddings(b, CNS_TABLE_ITEMS), n * sizeof(float)), 0);
    cns_model_free(b);
    unlink(path);
    rmdir(dir);
}

/* The memory loaders give each file's bytes the status its name promises. */
static void mem_agrees(const char *path, const seed_expect *x) {
    size_t n;
    unsigned char *b = ck_read_all(path, &n);
    ck_assert_ptr_nonnull(b);
    cns_model *m = (cns_model *)1;
    cns_sampler *s = (cns_sampler *)1;
    cns_loss *l = (cns_loss *)1;
    ck_assert_int_eq(cns_model_load_mem(b, n, NULL, &m, NULL), (int)x->as_model);
    ck_assert_int_eq(cns_sampler_load_mem(b, n, NULL, &s, NULL), (int)x->as_sampler);
    ck_assert_int_eq(cns_loss_load_mem(b, n, NULL, &l, NULL), (int)x->as_loss);
    cns_model_free(m);
    cns_sampler_free(s);
    cns_loss_free(l);
    free(b);
}

START_TEST(test_replay_corpus) {
    corpus_walk w;
    corpus_open(&w, CORPUS_DIR);
    int files = 0, models = 0, samplers = 0, bad = 0, losses = 0;
    while (corpus_next(&w)) {
        const char *name = w.name, *path = w.path;
        seed_expect x = corpus_expect(name, 0);
        models += x.group == SEED_MODEL;
        samplers += x.group == SEED_SAMPLER;
        bad += x.group == SEED_BAD;
        cns_error err;
        cns_model *m = (cns_model *)1;
        int st = cns_model_load(path, NULL, &m, &err);
        ck_assert_msg(st == (int)x.as_model, "%s as a model: %s (%s)", name, cns_status_name(st),
                      st == CNS_OK ? "" : err.message);
        if (st == CNS_OK) {
            model_round_trip(m);
            cns_model_free(m);
        } else {
            ck_assert_ptr_null(m);
            ck_assert(strstr(err.message, name) != NULL); /* the message names the file */
        }
        cns_sampler *s = (cns_sampler *)1;
        st = cns_sampler_load(path, NULL, &s, &err);
        ck_assert_msg(st == (int)x.as_sampler, "%s as a sampler: %s (%s)", name,
                      cns_status_name(st), st == CNS_OK ? "" : err.message);
        if (st == CNS_OK)
            cns_sampler_free(s);
        else
            ck_assert_ptr_null(s);
        cns_loss *l = (cns_loss *)1;
        st = cns_loss_load(path, NULL, &l, &err);
        ck_assert_msg(st == (int)x.as_loss, "%s as a loss: %s (%s)", name, cns_status_name(st),
                      st == CNS_OK ? "" : err.message);
        if (st == CNS_OK)
            cns_loss_free(l);
        else
            ck_assert_ptr_null(l);
        mem_agrees(path, &x);
        losses += x.group == SEED_LOSS;
        files++;
    }
    /* The committed seeds: 3 models, 4 samplers, 2 losses, 2 bad. */
    ck_assert_int_ge(files, 11);
    ck_assert_int_ge(losses, 2);
    ck_assert_int_ge(models, 3);
    ck_assert_int_ge(samplers, 4);
    ck_assert_int_ge(bad, 2);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fuzz_replay_model_load");
    TCase *tc = tcase_create("replay");
    tcase_add_test(tc, test_replay_corpus);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
