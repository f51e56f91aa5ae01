/* The presets (ALGORITHM.md §15): the one place where the library's
 * default configuration and the named alternatives are written down.
 * Each preset is the §12 base below with a few values replaced; the
 * handles' create functions start from CNS_PRESET_DEFAULT, so changing
 * the default is a change of its override lines here (and of the table
 * in ALGORITHM.md §15 that the tests pin). */
#include "preset_internal.h"

#include <string.h>

#include "error.h"
#include "loss_internal.h"
#include "model_internal.h"
#include "sampler_internal.h"

typedef struct entry {
    int id;
    double v;
} entry;

/* §12, every tunable but the thread counts. */
static const entry k_model_base[] = {
    {CNS_MODEL_LR, 0.01},          {CNS_MODEL_REG, 1e-4},        {CNS_MODEL_ADAM_BETA1, 0.9},
    {CNS_MODEL_ADAM_BETA2, 0.999}, {CNS_MODEL_ADAM_EPS, 1e-8},
};
static const entry k_sampler_base[] = {
    {CNS_SAMPLER_NOISE_SCHEDULE, CNS_SCHEDULE_LINEAR_VAR},
    {CNS_SAMPLER_NOISE_SCALE, 0.1},
    {CNS_SAMPLER_NOISE_MIN, 1e-4},
    {CNS_SAMPLER_NOISE_MAX, 0.02},
    {CNS_SAMPLER_REWEIGHT, 1},
    {CNS_SAMPLER_CAUSAL_WEIGHT, 0.1},
    {CNS_SAMPLER_DENOISER_LR, 1e-3},
    {CNS_SAMPLER_NORM, 1},
    {CNS_SAMPLER_DROPOUT, 0.5},
    {CNS_SAMPLER_SAMPLE_START, 10},
    {CNS_SAMPLER_STRIDE, 4},
    {CNS_SAMPLER_NUM_STEPS, 0}, /* 0: the handle's steps (§15) */
    {CNS_SAMPLER_SAMPLING_NOISE, 0},
    {CNS_SAMPLER_MODE, CNS_MODE_TRAINED},
    {CNS_SAMPLER_DIRECTION_NORM, 3.9}, /* the reference mode's measured |h| */
    {CNS_SAMPLER_DIRECTION_SOURCE, CNS_DIRECTION_RANDOM},
    {CNS_SAMPLER_SCORE_DISCOUNT, 0.0}, /* §16: not yet chosen by a study */
    {CNS_SAMPLER_DNS_CANDIDATES, 32},
};
static const entry k_loss_base[] = {
    {CNS_LOSS_CL_WEIGHT, 0.3},   {CNS_LOSS_TEMPERATURE, 2.0},  {CNS_LOSS_POSITIVE_NOISE, 0.01},
    {CNS_LOSS_ALPHA_START, 1.0}, {CNS_LOSS_BETA_START, 9.0},   {CNS_LOSS_ALPHA_END, 9.0},
    {CNS_LOSS_BETA_END, 1.0},    {CNS_LOSS_MIN_MIX, 0.0},      {CNS_LOSS_CURRICULUM_EPOCHS, 120},
    {CNS_LOSS_MIXING, 1},
};

/* What each preset changes in the base. */
/* The default: the direction mode (§16) with a lighter contrastive term,
 * chosen on the development suite's OOD validation splits by the rule fixed
 * in advance (docs/BENCHMARKS.md, "the study on the development suite"). */
static const entry k_default_sampler[] = {{CNS_SAMPLER_MODE, CNS_MODE_DIRECTION}};
static const entry k_default_loss[] = {{CNS_LOSS_MIXING, 0}, {CNS_LOSS_CL_WEIGHT, 0.15}};
static const entry k_paper_code_sampler[] = {{CNS_SAMPLER_MODE, CNS_MODE_REFERENCE}};
static const entry k_direction_sampler[] = {{CNS_SAMPLER_MODE, CNS_MODE_DIRECTION}};
static const entry k_direction_loss[] = {{CNS_LOSS_MIXING, 0}};

typedef struct preset {
    const char *name;
    const entry *over[3];
    size_t n_over[3];
} preset;

static const preset k_presets[] = {
    [CNS_PRESET_DEFAULT] = {"default", {NULL, k_default_sampler, k_default_loss},
                            {0, sizeof k_default_sampler / sizeof(entry),
                             sizeof k_default_loss / sizeof(entry)}},
    [CNS_PRESET_PAPER] = {"paper", {NULL, NULL, NULL}, {0, 0, 0}},
    [CNS_PRESET_PAPER_CODE] = {"paper-code", {NULL, k_paper_code_sampler, NULL},
                               {0, sizeof k_paper_code_sampler / sizeof(entry), 0}},
    [CNS_PRESET_DIRECTION_CONTROL] = {"direction", {NULL, k_direction_sampler, k_direction_loss},
                                      {0, sizeof k_direction_sampler / sizeof(entry),
                                       sizeof k_direction_loss / sizeof(entry)}},
};
#define N_PRESETS (sizeof k_presets / sizeof k_presets[0])

int cns__preset_values(int p, int handle, int *ids, double *vals, size_t *n) {
    static const entry *const base[3] = {k_model_base, k_sampler_base, k_loss_base};
    static const size_t n_base[3] = {sizeof k_model_base / sizeof(entry),
                                     sizeof k_sampler_base / sizeof(entry),
                                     sizeof k_loss_base / sizeof(entry)};
    if (p < 0 || (size_t)p >= N_PRESETS || handle < 0 || handle > 2) return 0;
    const preset *ps = &k_presets[p];
    for (size_t k = 0; k < n_base[handle]; ++k) {
        ids[k] = base[handle][k].id;
        vals[k] = base[handle][k].v;
        for (size_t o = 0; o < ps->n_over[handle]; ++o)
            if (ps->over[handle][o].id == ids[k]) vals[k] = ps->over[handle][o].v;
    }
    *n = n_base[handle];
    return 1;
}

CNS_API const char *cns_preset_name(int p) {
    return p >= 0 && (size_t)p < N_PRESETS ? k_presets[p].name : NULL;
}

CNS_API cns_status cns_preset_apply(int p, cns_model *model, cns_sampler *sampler,
                                    cns_loss *loss, cns_error *err) {
    int ids[3][CNS__PRESET_MAX_VALUES];
    double vals[3][CNS__PRESET_MAX_VALUES];
    size_t n[3];
    for (int h = 0; h < 3; ++h)
        if (!cns__preset_values(p, h, ids[h], vals[h], &n[h]))
            return cns__fail(err, CNS_E_ARG, "cns_preset_apply: preset %d is not one of 0 .. %d", p,
                             (int)N_PRESETS - 1);
    /* Everything is checked before anything changes. */
    char msg[CNS_ERROR_MESSAGE_SIZE];
    cns_status st = CNS_OK;
    if (model != NULL &&
        (st = cns__model_apply_values(model, ids[0], vals[0], n[0], 1, msg)) != CNS_OK)
        return cns__fail(err, st, "cns_preset_apply: %s preset, model: %s", k_presets[p].name, msg);
    if (sampler != NULL &&
        (st = cns__sampler_apply_values(sampler, ids[1], vals[1], n[1], 1, msg)) != CNS_OK)
        return cns__fail(err, st, "cns_preset_apply: %s preset, sampler: %s", k_presets[p].name, msg);
    if (loss != NULL && (st = cns__loss_apply_values(loss, ids[2], vals[2], n[2], 1, msg)) != CNS_OK)
        return cns__fail(err, st, "cns_preset_apply: %s preset, loss: %s", k_presets[p].name, msg);
    /* The sampler first: only its noise schedule could still refuse (it
     * was checked above), and it refuses atomically. */
    if (sampler != NULL &&
        (st = cns__sampler_apply_values(sampler, ids[1], vals[1], n[1], 0, msg)) != CNS_OK)
        return cns__fail(err, st, "cns_preset_apply: %s preset, sampler: %s", k_presets[p].name, msg);
    if (model != NULL) (void)cns__model_apply_values(model, ids[0], vals[0], n[0], 0, msg);
    if (loss != NULL) (void)cns__loss_apply_values(loss, ids[2], vals[2], n[2], 0, msg);
    cns__ok(err);
    return CNS_OK;
}
