/* Presets (include/cnsdiff/preset.h, ALGORITHM.md §15): the expected values
 * are the table of ALGORITHM.md §15 written out here by hand, not read from
 * lib/preset.c, so a change of the code's table that the documentation does
 * not make fails here. When the default preset changes, change §15 and the
 * DEFAULT column below together. */
#include <float.h>
#include <stdint.h>

#include "loss_internal.h"
#include "model_internal.h"
#include "sampler_internal.h"
#include "testutil.h"

enum { STEPS = 20 };

typedef struct expect {
    int id;
    double v;
} expect;

/* ALGORITHM.md §15, the values every preset shares (the §12 values). */
static const expect k_model[] = {
    {CNS_MODEL_LR, 0.01},          {CNS_MODEL_REG, 1e-4},     {CNS_MODEL_ADAM_BETA1, 0.9},
    {CNS_MODEL_ADAM_BETA2, 0.999}, {CNS_MODEL_ADAM_EPS, 1e-8},
};
static const expect k_sampler[] = {
    {CNS_SAMPLER_NOISE_SCHEDULE, 1},    {CNS_SAMPLER_NOISE_SCALE, 0.1},
    {CNS_SAMPLER_NOISE_MIN, 1e-4},      {CNS_SAMPLER_NOISE_MAX, 0.02},
    {CNS_SAMPLER_REWEIGHT, 1},          {CNS_SAMPLER_CAUSAL_WEIGHT, 0.1},
    {CNS_SAMPLER_DENOISER_LR, 1e-3},    {CNS_SAMPLER_NORM, 1},
    {CNS_SAMPLER_DROPOUT, 0.5},         {CNS_SAMPLER_SAMPLE_START, 10},
    {CNS_SAMPLER_STRIDE, 4},            {CNS_SAMPLER_NUM_STEPS, STEPS},
    {CNS_SAMPLER_SAMPLING_NOISE, 0},    {CNS_SAMPLER_DIRECTION_NORM, 3.9},
    {CNS_SAMPLER_DIRECTION_SOURCE, 0},  {CNS_SAMPLER_DNS_CANDIDATES, 32},
    {CNS_SAMPLER_SCORE_DISCOUNT, 0.0},
};
static const expect k_loss[] = {
    {CNS_LOSS_TEMPERATURE, 2.0}, {CNS_LOSS_POSITIVE_NOISE, 0.01},
    {CNS_LOSS_ALPHA_START, 1.0}, {CNS_LOSS_BETA_START, 9.0},  {CNS_LOSS_ALPHA_END, 9.0},
    {CNS_LOSS_BETA_END, 1.0},    {CNS_LOSS_MIN_MIX, 0.0},     {CNS_LOSS_CURRICULUM_EPOCHS, 120},
};
/* ALGORITHM.md §15, what tells the presets apart. */
static const struct {
    int preset;
    const char *name;
    int mode, mixing;
    double cl_weight;
} k_differ[] = {
    {CNS_PRESET_DEFAULT, "default", CNS_MODE_DIRECTION, 0, 0.15},
    {CNS_PRESET_PAPER, "paper", CNS_MODE_TRAINED, 1, 0.3},
    {CNS_PRESET_PAPER_CODE, "paper-code", CNS_MODE_REFERENCE, 1, 0.3},
    {CNS_PRESET_DIRECTION_CONTROL, "direction", CNS_MODE_DIRECTION, 0, 0.3},
};
#define N_PRESETS (sizeof k_differ / sizeof k_differ[0])

typedef struct handles {
    cns_dataset *ds;
    cns_model *m;
    cns_sampler *s;
    cns_loss *l;
} handles;

static handles make(int kind, int steps) {
    handles h;
    static const int32_t users[] = {0, 0, 1, 2}, items[] = {0, 1, 1, 2};
    ck_assert_status(cns_dataset_from_arrays(users, items, 4, 3, 3, NULL, &h.ds, NULL), CNS_OK);
    cns_model_desc md;
    cns_model_desc_init(&md);
    ck_assert_status(cns_model_create(h.ds, &md, NULL, &h.m, NULL), CNS_OK);
    cns_sampler_desc sd;
    cns_sampler_desc_init(&sd);
    sd.kind = kind;
    sd.steps = steps;
    ck_assert_status(cns_sampler_create(&sd, NULL, &h.s, NULL), CNS_OK);
    ck_assert_status(cns_loss_create(NULL, NULL, &h.l, NULL), CNS_OK);
    return h;
}

static void drop(handles *h) {
    cns_loss_free(h->l);
    cns_sampler_free(h->s);
    cns_model_free(h->m);
    cns_dataset_free(h->ds);
}

/* Every tunable of the handles away from every preset's value. */
static void scramble(handles *h) {
    const int steps = h->s->desc.steps;
    ck_assert_status(cns_model_set_double(h->m, CNS_MODEL_LR, 0.5), CNS_OK);
    ck_assert_status(cns_model_set_double(h->m, CNS_MODEL_REG, 0.25), CNS_OK);
    ck_assert_status(cns_model_set_double(h->m, CNS_MODEL_ADAM_BETA1, 0.5), CNS_OK);
    ck_assert_status(cns_model_set_double(h->m, CNS_MODEL_ADAM_BETA2, 0.5), CNS_OK);
    ck_assert_status(cns_model_set_double(h->m, CNS_MODEL_ADAM_EPS, 0.5), CNS_OK);
    for (size_t k = 0; k < sizeof k_loss / sizeof k_loss[0]; ++k) {
        int64_t iv;
        if (cns_loss_get_int(h->l, k_loss[k].id, &iv) == CNS_OK)
            ck_assert_status(cns_loss_set_int(h->l, k_loss[k].id, 7), CNS_OK);
        else
            ck_assert_status(cns_loss_set_double(h->l, k_loss[k].id, 0.625), CNS_OK);
    }
    ck_assert_status(cns_loss_set_int(h->l, CNS_LOSS_MIXING, 1), CNS_OK);
    ck_assert_status(cns_loss_set_double(h->l, CNS_LOSS_CL_WEIGHT, 0.625), CNS_OK);
    /* a schedule that a one-by-one replay of the preset's values would
     * find degenerate on the way (noise_min above the preset's max) */
    ck_assert_status(cns_sampler_set_double(h->s, CNS_SAMPLER_NOISE_MAX, 0.5), CNS_OK);
    ck_assert_status(cns_sampler_set_double(h->s, CNS_SAMPLER_NOISE_MIN, 0.3), CNS_OK);
    ck_assert_status(cns_sampler_set_double(h->s, CNS_SAMPLER_NOISE_SCALE, 0.2), CNS_OK);
    ck_assert_status(cns_sampler_set_int(h->s, CNS_SAMPLER_NOISE_SCHEDULE, 0), CNS_OK);
    ck_assert_status(cns_sampler_set_int(h->s, CNS_SAMPLER_REWEIGHT, 0), CNS_OK);
    ck_assert_status(cns_sampler_set_double(h->s, CNS_SAMPLER_CAUSAL_WEIGHT, 3.0), CNS_OK);
    ck_assert_status(cns_sampler_set_double(h->s, CNS_SAMPLER_DENOISER_LR, 0.5), CNS_OK);
    ck_assert_status(cns_sampler_set_int(h->s, CNS_SAMPLER_NORM, 0), CNS_OK);
    ck_assert_status(cns_sampler_set_double(h->s, CNS_SAMPLER_DROPOUT, 0.1), CNS_OK);
    ck_assert_status(cns_sampler_set_int(h->s, CNS_SAMPLER_SAMPLE_START, 2), CNS_OK);
    ck_assert_status(cns_sampler_set_int(h->s, CNS_SAMPLER_STRIDE, 2), CNS_OK);
    ck_assert_status(cns_sampler_set_int(h->s, CNS_SAMPLER_NUM_STEPS, steps - 1), CNS_OK);
    ck_assert_status(cns_sampler_set_int(h->s, CNS_SAMPLER_SAMPLING_NOISE, 1), CNS_OK);
    ck_assert_status(cns_sampler_set_double(h->s, CNS_SAMPLER_DIRECTION_NORM, 11.0), CNS_OK);
    ck_assert_status(cns_sampler_set_int(h->s, CNS_SAMPLER_DNS_CANDIDATES, 5), CNS_OK);
    ck_assert_status(cns_sampler_set_int(h->s, CNS_SAMPLER_MODE, CNS_MODE_GAUSSIAN), CNS_OK);
}

static double get_model(const cns_model *m, int id) {
    double v = NAN;
    ck_assert_status(cns_model_get_double(m, id, &v), CNS_OK);
    return v;
}
static double get_sampler(const cns_sampler *s, int id) {
    int64_t iv;
    double v = NAN;
    if (cns_sampler_get_int(s, id, &iv) == CNS_OK) return (double)iv;
    ck_assert_status(cns_sampler_get_double(s, id, &v), CNS_OK);
    return v;
}
static double get_loss(const cns_loss *l, int id) {
    int64_t iv;
    double v = NAN;
    if (cns_loss_get_int(l, id, &iv) == CNS_OK) return (double)iv;
    ck_assert_status(cns_loss_get_double(l, id, &v), CNS_OK);
    return v;
}

/* The handles hold preset k_differ[p]'s values exactly (num_steps = steps). */
static void assert_preset(const handles *h, size_t p, int steps, const char *when) {
    for (size_t k = 0; k < sizeof k_model / sizeof k_model[0]; ++k)
        ck_assert_msg(get_model(h->m, k_model[k].id) == k_model[k].v, "%s: %s: model %d = %g",
                      when, k_differ[p].name, k_model[k].id, get_model(h->m, k_model[k].id));
    for (size_t k = 0; k < sizeof k_sampler / sizeof k_sampler[0]; ++k) {
        double want = k_sampler[k].id == CNS_SAMPLER_NUM_STEPS ? steps : k_sampler[k].v;
        ck_assert_msg(get_sampler(h->s, k_sampler[k].id) == want, "%s: %s: sampler %d = %g",
                      when, k_differ[p].name, k_sampler[k].id, get_sampler(h->s, k_sampler[k].id));
    }
    for (size_t k = 0; k < sizeof k_loss / sizeof k_loss[0]; ++k)
        ck_assert_msg(get_loss(h->l, k_loss[k].id) == k_loss[k].v, "%s: %s: loss %d = %g", when,
                      k_differ[p].name, k_loss[k].id, get_loss(h->l, k_loss[k].id));
    ck_assert_msg(get_sampler(h->s, CNS_SAMPLER_MODE) == k_differ[p].mode, "%s: %s: mode %g",
                  when, k_differ[p].name, get_sampler(h->s, CNS_SAMPLER_MODE));
    ck_assert_msg(get_loss(h->l, CNS_LOSS_MIXING) == k_differ[p].mixing, "%s: %s: mixing %g",
                  when, k_differ[p].name, get_loss(h->l, CNS_LOSS_MIXING));
    ck_assert_msg(get_loss(h->l, CNS_LOSS_CL_WEIGHT) == k_differ[p].cl_weight,
                  "%s: %s: cl_weight %g", when, k_differ[p].name,
                  get_loss(h->l, CNS_LOSS_CL_WEIGHT));
}

/* A host that creates the handles and sets nothing has the default preset
 * (and the threads at 1), for every sampler kind. The schedule is the one
 * those values give (beta_0 = scale * min for linear-var). */
START_TEST(test_initial_values_are_default) {
    for (int kind = CNS_SAMPLER_UNIFORM; kind <= CNS_SAMPLER_DIFFUSION; ++kind) {
        handles h = make(kind, STEPS);
        assert_preset(&h, 0, STEPS, "fresh handles");
        ck_assert(get_sampler(h.s, CNS_SAMPLER_THREADS) == 1);
        ck_assert(get_loss(h.l, CNS_LOSS_THREADS) == 1);
        if (kind == CNS_SAMPLER_DIFFUSION) {
            ck_assert_close(h.s->sched.beta[0], 0.1 * 1e-4, 1e-12, 0);
            ck_assert(h.s->adam.lr == 1e-3);
        }
        drop(&h);
    }
}
END_TEST

/* The level values follow the handle's steps (§15): num_steps = steps;
 * sample_start and stride fall back to 1 where steps is smaller. */
START_TEST(test_levels_follow_steps) {
    static const struct {
        int steps, start, stride;
    } c[] = {{20, 10, 4}, {10, 10, 4}, {9, 1, 4}, {4, 1, 4}, {3, 1, 1}, {2, 1, 1}, {50, 10, 4}};
    for (size_t k = 0; k < sizeof c / sizeof c[0]; ++k)
        for (size_t p = 0; p < N_PRESETS; ++p) {
            handles h = make(CNS_SAMPLER_DIFFUSION, c[k].steps);
            if (p > 0) {
                scramble(&h);
                ck_assert_status(cns_preset_apply(k_differ[p].preset, h.m, h.s, h.l, NULL), CNS_OK);
            }
            ck_assert_int_eq((int)get_sampler(h.s, CNS_SAMPLER_NUM_STEPS), c[k].steps);
            ck_assert_int_eq((int)get_sampler(h.s, CNS_SAMPLER_SAMPLE_START), c[k].start);
            ck_assert_int_eq((int)get_sampler(h.s, CNS_SAMPLER_STRIDE), c[k].stride);
            drop(&h);
        }
}
END_TEST

/* Each preset sets every value of the table, whatever the handles held,
 * leaves the thread counts alone, and recomputes the schedule. */
START_TEST(test_apply_each_preset) {
    for (size_t p = 0; p < N_PRESETS; ++p) {
        handles h = make(CNS_SAMPLER_DIFFUSION, STEPS);
        scramble(&h);
        ck_assert_status(cns_model_set_int(h.m, CNS_MODEL_THREADS, 3), CNS_OK);
        ck_assert_status(cns_sampler_set_int(h.s, CNS_SAMPLER_THREADS, 3), CNS_OK);
        ck_assert_status(cns_loss_set_int(h.l, CNS_LOSS_THREADS, 3), CNS_OK);
        ck_assert_status(cns_loss_set_int(h.l, CNS_LOSS_MIXING, 1 - k_differ[p].mixing), CNS_OK);
        cns_error err;
        ck_assert_status(cns_preset_apply(k_differ[p].preset, h.m, h.s, h.l, &err), CNS_OK);
        ck_assert_str_eq(err.message, "");
        assert_preset(&h, p, STEPS, "applied");
        ck_assert_close(h.s->sched.beta[0], 0.1 * 1e-4, 1e-12, 0);
        ck_assert(h.s->adam.lr == 1e-3);
        int64_t t;
        ck_assert_status(cns_model_get_int(h.m, CNS_MODEL_THREADS, &t), CNS_OK);
        ck_assert_int_eq(t, 3);
        ck_assert(get_sampler(h.s, CNS_SAMPLER_THREADS) == 3);
        ck_assert(get_loss(h.l, CNS_LOSS_THREADS) == 3);
        ck_assert_str_eq(cns_preset_name(k_differ[p].preset), k_differ[p].name);
        drop(&h);
    }
    ck_assert_ptr_null(cns_preset_name(-1));
    ck_assert_ptr_null(cns_preset_name((int)N_PRESETS));
}
END_TEST

/* NULL handles are skipped; an unknown preset changes nothing and says so. */
START_TEST(test_apply_partial_and_unknown) {
    handles h = make(CNS_SAMPLER_DIFFUSION, STEPS);
    scramble(&h);
    cns_error err;
    ck_assert_status(cns_preset_apply(CNS_PRESET_PAPER, NULL, NULL, h.l, &err), CNS_OK);
    ck_assert(get_loss(h.l, CNS_LOSS_MIXING) == 1 && get_loss(h.l, CNS_LOSS_CL_WEIGHT) == 0.3);
    ck_assert(get_model(h.m, CNS_MODEL_LR) == 0.5);                          /* untouched */
    ck_assert(get_sampler(h.s, CNS_SAMPLER_MODE) == CNS_MODE_GAUSSIAN);      /* untouched */
    ck_assert_status(cns_preset_apply(CNS_PRESET_DIRECTION_CONTROL, NULL, h.s, NULL, NULL), CNS_OK);
    ck_assert(get_sampler(h.s, CNS_SAMPLER_MODE) == CNS_MODE_DIRECTION);
    ck_assert(get_model(h.m, CNS_MODEL_LR) == 0.5);
    ck_assert_status(cns_preset_apply(CNS_PRESET_DEFAULT, NULL, NULL, NULL, &err), CNS_OK);
    for (int bad = -1; bad <= 4; bad += 5) {
        ck_assert_status(cns_sampler_set_int(h.s, CNS_SAMPLER_MODE, CNS_MODE_GAUSSIAN), CNS_OK);
        ck_assert_status(cns_preset_apply(bad, h.m, h.s, h.l, &err), CNS_E_ARG);
        ck_assert_int_eq(err.status, CNS_E_ARG);
        ck_assert_msg(strstr(err.message, "cns_preset_apply: preset") != NULL, "%s", err.message);
        ck_assert(get_sampler(h.s, CNS_SAMPLER_MODE) == CNS_MODE_GAUSSIAN);
        ck_assert(get_model(h.m, CNS_MODEL_LR) == 0.5);
        ck_assert(get_loss(h.l, CNS_LOSS_MIXING) == 1);
        ck_assert_status(cns_preset_apply(bad, NULL, NULL, NULL, NULL), CNS_E_ARG);
    }
    drop(&h);
}
END_TEST

/* The apply functions behind cns_preset_apply check every value before
 * storing any: a list whose last value is bad leaves everything, the
 * schedule included, as it was, and the message names the value. */
START_TEST(test_apply_checks_before_changing) {
    handles h = make(CNS_SAMPLER_DIFFUSION, STEPS);
    scramble(&h);
    char msg[CNS_ERROR_MESSAGE_SIZE];
    const double beta0 = h.s->sched.beta[0];
    {
        const int ids[] = {CNS_SAMPLER_NOISE_MAX, CNS_SAMPLER_NOISE_MIN, CNS_SAMPLER_MODE,
                           CNS_SAMPLER_DROPOUT, CNS_SAMPLER_NOISE_SCHEDULE};
        const double ok[] = {0.02, 1e-4, 0, 0.5, 1};
        double bad[] = {0.02, 1e-4, 0, 1.0, 1}; /* dropout 1 is outside [0, 1) */
        ck_assert_status(cns__sampler_apply_values(h.s, ids, bad, 5, 0, msg), CNS_E_ARG);
        ck_assert_msg(strstr(msg, "DROPOUT") != NULL, "%s", msg);
        bad[3] = 0.5;
        bad[2] = 1.5; /* not an integer */
        ck_assert_status(cns__sampler_apply_values(h.s, ids, bad, 5, 0, msg), CNS_E_ARG);
        ck_assert_msg(strstr(msg, "MODE") != NULL, "%s", msg);
        /* a degenerate linear-var schedule (min above max) */
        const double degen[] = {1e-4, 0.02, 0, 0.5, 1};
        ck_assert_status(cns__sampler_apply_values(h.s, ids, degen, 5, 0, msg), CNS_E_ARG);
        ck_assert_msg(strstr(msg, "degenerate") != NULL, "%s", msg);
        ck_assert(get_sampler(h.s, CNS_SAMPLER_NOISE_MAX) == 0.5);
        ck_assert(get_sampler(h.s, CNS_SAMPLER_NOISE_MIN) == 0.3);
        ck_assert(get_sampler(h.s, CNS_SAMPLER_MODE) == CNS_MODE_GAUSSIAN);
        ck_assert(h.s->sched.beta[0] == beta0);
        /* check_only changes nothing either */
        ck_assert_status(cns__sampler_apply_values(h.s, ids, ok, 5, 1, msg), CNS_OK);
        ck_assert(get_sampler(h.s, CNS_SAMPLER_NOISE_MAX) == 0.5);
        ck_assert_status(cns__sampler_apply_values(h.s, ids, ok, 5, 0, msg), CNS_OK);
        ck_assert(get_sampler(h.s, CNS_SAMPLER_NOISE_MAX) == 0.02);
        ck_assert(get_sampler(h.s, CNS_SAMPLER_DROPOUT) == 0.5);
        const int th[] = {CNS_SAMPLER_THREADS};
        const double one[] = {1};
        ck_assert_status(cns__sampler_apply_values(h.s, th, one, 1, 0, msg), CNS_E_PARAM);
    }
    {
        const int ids[] = {CNS_LOSS_CL_WEIGHT, CNS_LOSS_MIXING};
        const double bad[] = {0.3, 2};
        ck_assert_status(cns__loss_apply_values(h.l, ids, bad, 2, 0, msg), CNS_E_ARG);
        ck_assert_msg(strstr(msg, "MIXING") != NULL, "%s", msg);
        ck_assert(get_loss(h.l, CNS_LOSS_CL_WEIGHT) == 0.625);
        const int th[] = {CNS_LOSS_THREADS};
        const double one[] = {1};
        ck_assert_status(cns__loss_apply_values(h.l, th, one, 1, 0, msg), CNS_E_PARAM);
    }
    {
        const int ids[] = {CNS_MODEL_LR, CNS_MODEL_ADAM_EPS};
        const double bad[] = {0.01, 0.0}; /* eps is in (0, 1] */
        ck_assert_status(cns__model_apply_values(h.m, ids, bad, 2, 0, msg), CNS_E_ARG);
        ck_assert(get_model(h.m, CNS_MODEL_LR) == 0.5);
        const int th[] = {CNS_MODEL_THREADS};
        const double one[] = {1};
        ck_assert_status(cns__model_apply_values(h.m, th, one, 1, 0, msg), CNS_E_PARAM);
    }
    drop(&h);
}
END_TEST

int main(void) {
    Suite *s = suite_create("preset");
    TCase *tc = tcase_create("preset");
    tcase_add_test(tc, test_initial_values_are_default);
    tcase_add_test(tc, test_levels_follow_steps);
    tcase_add_test(tc, test_apply_each_preset);
    tcase_add_test(tc, test_apply_partial_and_unknown);
    tcase_add_test(tc, test_apply_checks_before_changing);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
