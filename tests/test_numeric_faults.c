/* Numerical faults through the trainer, for every sampler kind (none,
 * uniform, DNS, diffusion) and several seeds:
 *  - a NaN (and an infinity) planted in an ego row with
 *    cns_model_set_ego_row: the next epoch returns CNS_E_NUMERIC;
 *  - a learning rate of 1e30 (the largest CNS_MODEL_LR accepts): an epoch
 *    returns CNS_E_NUMERIC within the first epoch.
 * After the failure cns_model_save must not write a non-finite value: it
 * refuses with CNS_E_NUMERIC (and leaves no file), or what it wrote loads
 * back with every ego value finite. */
#include <math.h>

#include "train_rig.h"

enum { USERS = 30, ITEMS = 24, DIM = 8 };

/* A world drawn from seed; a small diffusion sampler with a short chain. */
static void rig_make_kind(rig *r, int kind, uint64_t seed) {
    const rig_spec s = {.users = USERS, .items = ITEMS, .data_state = rig_data_state(seed),
                        .dim = DIM, .seed = seed, .kind = kind, .steps = 6, .time_dim = 8,
                        .hidden = 16, .sample_start = 2, .stride = 2, .num_steps = 6, .batch = 32};
    rig_make(r, &s);
}

/* Saves r's model; either refused with CNS_E_NUMERIC and no file, or
 * written and every ego value of the reloaded model finite. Returns the
 * save status. */
static int save_is_finite(rig *r) {
    char dir[] = "/tmp/cns_num_XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model", dir);
    int st = cns_model_save(r->model, path);
    if (st == CNS_OK) {
        cns_model *m = NULL;
        cns_error err;
        int lst = cns_model_load(path, NULL, &m, &err);
        ck_assert_msg(lst == CNS_OK, "saved file does not load: %s: %s", cns_status_name(lst), err.message);
        float row[DIM];
        for (int tab = 0; tab < 2; ++tab) {
            int32_t rows = tab ? cns_model_num_items(m) : cns_model_num_users(m);
            for (int32_t k = 0; k < rows; ++k) {
                ck_assert_status(cns_model_get_ego_row(m, (cns_table)tab, k, row), CNS_OK);
                for (int d = 0; d < DIM; ++d)
                    ck_assert_msg(isfinite(row[d]), "saved table %d row %d is not finite", tab, k);
            }
        }
        cns_model_free(m);
        unlink(path);
    } else {
        ck_assert_msg(st == CNS_E_NUMERIC, "save returned %s", cns_status_name(st));
        ck_assert_int_eq(access(path, F_OK), -1);
    }
    ck_assert_int_eq(rmdir(dir), 0); /* empty: no temporary file left */
    return st;
}

static const int k_kinds[4] = {0, CNS_SAMPLER_UNIFORM, CNS_SAMPLER_DNS, CNS_SAMPLER_DIFFUSION};
static const uint64_t k_seeds[4] = {1, 2, 3, 4};

static void planted(float bad, cns_table table) {
    for (size_t k = 0; k < 4; ++k)
        for (size_t s = 0; s < 4; ++s) {
            rig r;
            rig_make_kind(&r, k_kinds[k], k_seeds[s]);
            ck_assert_status(cns_trainer_run_epoch(r.trainer, 0, NULL), CNS_OK);
            float row[DIM];
            int32_t at = (int32_t)(5 + s);
            ck_assert_status(cns_model_get_ego_row(r.model, table, at, row), CNS_OK);
            row[s % DIM] = bad;
            ck_assert_status(cns_model_set_ego_row(r.model, table, at, row), CNS_OK);
            int st = cns_trainer_run_epoch(r.trainer, 1, NULL);
            ck_assert_msg(st == CNS_E_NUMERIC, "kind %d seed %d: epoch returned %s", k_kinds[k],
                          (int)k_seeds[s], cns_status_name(st));
            ck_assert(strlen(cns_trainer_last_error(r.trainer)) > 0);
            /* The planted value is in the weights: save must refuse. */
            ck_assert_status(save_is_finite(&r), CNS_E_NUMERIC);
            /* Repairing the row makes the model trainable and savable again. */
            row[s % DIM] = 0.0f;
            ck_assert_status(cns_model_set_ego_row(r.model, table, at, row), CNS_OK);
            ck_assert_msg(cns_trainer_run_epoch(r.trainer, 2, NULL) == CNS_OK, "%s",
                          cns_trainer_last_error(r.trainer));
            ck_assert_status(save_is_finite(&r), CNS_OK);
            rig_free(&r);
        }
}

START_TEST(test_nan_user_row) { planted(NAN, CNS_TABLE_USERS); }
END_TEST

START_TEST(test_inf_item_row) { planted(INFINITY, CNS_TABLE_ITEMS); }
END_TEST

START_TEST(test_huge_lr) {
    for (size_t k = 0; k < 4; ++k)
        for (size_t s = 0; s < 4; ++s) {
            rig r;
            rig_make_kind(&r, k_kinds[k], k_seeds[s]);
            ck_assert_status(cns_model_set_double(r.model, CNS_MODEL_LR, 1e30), CNS_OK);
            int st = cns_trainer_run_epoch(r.trainer, 0, NULL);
            ck_assert_msg(st == CNS_E_NUMERIC, "kind %d seed %d: first epoch returned %s",
                          k_kinds[k], (int)k_seeds[s], cns_status_name(st));
            /* The trainer keeps the weights of before the failing batch:
             * whatever save does, nothing non-finite reaches the file. */
            save_is_finite(&r);
            rig_free(&r);
        }
}
END_TEST

int main(void) {
    Suite *s = suite_create("numeric_faults");
    TCase *tc = tcase_create("numeric_faults");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_nan_user_row);
    tcase_add_test(tc, test_inf_item_row);
    tcase_add_test(tc, test_huge_lr);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
