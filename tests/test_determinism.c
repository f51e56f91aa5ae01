/* Determinism: the same seed gives byte-identical checkpoints.
 *
 * A few tiny epochs through the trainer with the diffusion sampler, then
 * cns_model_save and cns_sampler_save; two runs must give the same bytes
 * (OpenBLAS held to one thread by the ctest environment).
 * What the library promises across thread counts:
 *  - model.h: "Every result is bit-identical for any thread count"
 *    (CNS_MODEL_THREADS), so the model threads are varied with everything
 *    else fixed and the files must still match;
 *  - sampler.h / THREADING.md promise the same draws for the same seed,
 *    calls and thread count only ("ranges depend only on the problem size
 *    and the thread count"), so CNS_SAMPLER_THREADS = 2 is checked run
 *    against run, not against 1. test_sampler_threads_cross reports (does
 *    not assert) whether 1 and 2 sampler threads happen to agree. */
#include "ckpt_testutil.h"
#include "train_rig.h"

enum { USERS = 50, ITEMS = 40, DIM = 8, EPOCHS = 3 };

typedef struct blob {
    unsigned char *bytes;
    size_t size;
} blob;

static blob slurp(const char *path) {
    blob b;
    b.bytes = ck_read_all(path, &b.size);
    ck_assert_ptr_nonnull(b.bytes);
    ck_assert_uint_gt(b.size, 0);
    return b;
}

/* One run: returns the model and sampler checkpoints' bytes. Batches of
 * 200 rows: above the sampler's 64-row GEMM blocks, so 2 threads really
 * split the rows. */
static void run(uint64_t seed, int model_threads, int sampler_threads, blob *model, blob *sampler) {
    const rig_spec spec = {.users = USERS, .items = ITEMS, .data_state = 99, .dim = DIM,
                           .seed = seed, .kind = CNS_SAMPLER_DIFFUSION, .steps = 8, .time_dim = 8,
                           .hidden = 16, .sample_start = 2, .stride = 3, .num_steps = 8,
                           .model_threads = model_threads, .sampler_threads = sampler_threads,
                           .batch = 200};
    rig r;
    rig_make(&r, &spec);
    ck_assert_msg(rig_epochs(&r, EPOCHS) == CNS_OK, "%s", cns_trainer_last_error(r.trainer));
    ck_assert_uint_gt(cns_model_steps_taken(r.model), 0);

    char dir[64], mp[128], sp[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(mp, sizeof mp, "%s/model", dir);
    snprintf(sp, sizeof sp, "%s/sampler", dir);
    ck_assert_status(cns_model_save(r.model, mp), CNS_OK);
    ck_assert_status(cns_sampler_save(r.sampler, sp), CNS_OK);
    *model = slurp(mp);
    *sampler = slurp(sp);
    ck_rmdir_all(dir);
    rig_free(&r);
}

static int same(const blob *a, const blob *b) {
    return a->size == b->size && memcmp(a->bytes, b->bytes, a->size) == 0;
}

static void check_pair(uint64_t seed, int mt1, int st1, int mt2, int st2) {
    blob m1, s1, m2, s2;
    run(seed, mt1, st1, &m1, &s1);
    run(seed, mt2, st2, &m2, &s2);
    ck_assert_msg(same(&m1, &m2), "model checkpoints differ: threads %d/%d vs %d/%d", mt1, st1,
                  mt2, st2);
    ck_assert_msg(same(&s1, &s2), "sampler checkpoints differ: threads %d/%d vs %d/%d", mt1, st1,
                  mt2, st2);
    free(m1.bytes);
    free(s1.bytes);
    free(m2.bytes);
    free(s2.bytes);
}

START_TEST(test_same_seed_one_thread) { check_pair(11, 1, 1, 1, 1); }
END_TEST

START_TEST(test_same_seed_two_threads) { check_pair(11, 2, 2, 2, 2); }
END_TEST

/* Promised by model.h: the model's thread count does not change a bit. */
START_TEST(test_model_threads_cross) {
    check_pair(12, 1, 1, 2, 1);
    check_pair(12, 1, 2, 2, 2);
}
END_TEST

/* The files do depend on the seed (so the comparisons above can fail). */
START_TEST(test_seed_matters) {
    blob m1, s1, m2, s2;
    run(11, 1, 1, &m1, &s1);
    run(13, 1, 1, &m2, &s2);
    ck_assert(!same(&m1, &m2));
    ck_assert(!same(&s1, &s2));
    free(m1.bytes);
    free(s1.bytes);
    free(m2.bytes);
    free(s2.bytes);
}
END_TEST

/* Not promised: 1 vs 2 sampler threads. Reported for docs/RELIABILITY.md. */
START_TEST(test_sampler_threads_cross) {
    blob m1, s1, m2, s2;
    run(14, 1, 1, &m1, &s1);
    run(14, 1, 2, &m2, &s2);
    printf("determinism: 1 vs 2 sampler threads: model files %s, sampler files %s (not promised)\n",
           same(&m1, &m2) ? "identical" : "differ", same(&s1, &s2) ? "identical" : "differ");
    free(m1.bytes);
    free(s1.bytes);
    free(m2.bytes);
    free(s2.bytes);
}
END_TEST

int main(void) {
    Suite *s = suite_create("determinism");
    TCase *tc = tcase_create("determinism");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_same_seed_one_thread);
    tcase_add_test(tc, test_same_seed_two_threads);
    tcase_add_test(tc, test_model_threads_cross);
    tcase_add_test(tc, test_seed_matters);
    tcase_add_test(tc, test_sampler_threads_cross);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
