/* The training set-up of the trainer-level suites (test_trainer,
 * test_determinism, test_numeric_faults, test_threads): a small world of
 * two user groups each liking one half of the items, and a dataset,
 * model, optional sampler, loss and trainer over it. What the suites vary
 * is in rig_spec. rig_build and rig_epochs use no Check macros, so
 * threads other than the main one can call them; rig_make asserts. */
#ifndef CNS_TRAIN_RIG_H
#define CNS_TRAIN_RIG_H

#include "testutil.h"

/* LCG state from a seed, as the suites that vary the world by seed use. */
static inline uint64_t rig_data_state(uint64_t seed) { return seed * 2654435761u + 1; }

/* users x items interactions: user a and item b are drawn (one in three,
 * from the LCG starting at state) only when item b is in a's half. */
static inline cns_status rig_dataset(int32_t users, int32_t items, uint64_t state,
                                     cns_dataset **out) {
    *out = NULL;
    size_t cap = (size_t)users * (size_t)items;
    int32_t *u = malloc(cap * sizeof *u), *i = malloc(cap * sizeof *i);
    if (u == NULL || i == NULL) {
        free(u);
        free(i);
        return CNS_E_NOMEM;
    }
    size_t n = 0;
    uint64_t x = state;
    for (int32_t a = 0; a < users; ++a)
        for (int32_t b = 0; b < items; ++b) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            if ((a % 2) == (b < items / 2 ? 0 : 1) && (x >> 33) % 3 == 0) {
                u[n] = a;
                i[n] = b;
                n++;
            }
        }
    cns_error err;
    cns_status st = cns_dataset_from_arrays(u, i, n, users, items, NULL, out, &err);
    free(u);
    free(i);
    return st;
}

typedef struct rig_spec {
    int32_t users, items;
    uint64_t data_state; /* the dataset's LCG start */
    int dim;
    uint64_t seed;       /* of the model, sampler, loss and trainer */
    int kind;            /* sampler kind; 0: no sampler */
    int steps, time_dim, hidden;         /* sampler descriptor; 0: its default */
    int sample_start, stride, num_steps; /* set on a diffusion sampler when num_steps > 0 */
    int model_threads, sampler_threads;  /* set when > 0 */
    int loss_threads;                    /* set when > 0 */
    int direction;                       /* 1: CNS_PRESET_DIRECTION_CONTROL, not PAPER */
    size_t batch;
    int mf;                              /* 1: layers 0 (plain MF), not the default 2 */
} rig_spec;

/* Room for a step's name and a cns_error message. */
#define RIG_WHERE_SIZE (16 + CNS_ERROR_MESSAGE_SIZE)

typedef struct rig {
    cns_dataset *train;
    cns_model *model;
    cns_sampler *sampler;
    cns_loss *loss;
    cns_trainer *trainer;
    char where[RIG_WHERE_SIZE]; /* after a failed rig_build: the step and why */
} rig;

static inline void rig_free(rig *r) {
    cns_trainer_free(r->trainer);
    cns_loss_free(r->loss);
    cns_sampler_free(r->sampler);
    cns_model_free(r->model);
    cns_dataset_free(r->train);
}

/* Builds r from s; on failure r->where names the step, and what was built
 * is left for rig_free. */
static inline cns_status rig_build(rig *r, const rig_spec *s) {
    memset(r, 0, sizeof *r);
    cns_error err;
    memset(&err, 0, sizeof err);
    const char *step = "dataset";
    cns_status st = rig_dataset(s->users, s->items, s->data_state, &r->train);
    if (st == CNS_OK) {
        step = "model";
        cns_model_desc md;
        cns_model_desc_init(&md);
        md.dim = s->dim;
        md.seed = s->seed;
        if (s->mf) md.layers = 0;
        st = cns_model_create(r->train, &md, NULL, &r->model, &err);
        if (st == CNS_OK && s->model_threads > 0)
            st = cns_model_set_int(r->model, CNS_MODEL_THREADS, s->model_threads);
    }
    if (st == CNS_OK && s->kind != 0) {
        step = "sampler";
        cns_sampler_desc sd;
        cns_sampler_desc_init(&sd);
        sd.kind = s->kind;
        sd.dim = s->dim;
        if (s->steps > 0) sd.steps = s->steps;
        if (s->time_dim > 0) sd.time_dim = s->time_dim;
        if (s->hidden > 0) sd.hidden = s->hidden;
        sd.seed = s->seed;
        st = cns_sampler_create(&sd, NULL, &r->sampler, &err);
        /* The suites test the method as ALGORITHM.md describes it (trained
         * denoiser, mixing on), not whatever the default preset is. */
        if (st == CNS_OK)
            st = cns_preset_apply(s->direction ? CNS_PRESET_DIRECTION_CONTROL : CNS_PRESET_PAPER,
                                  NULL, r->sampler, NULL, &err);
        if (st == CNS_OK && s->kind == CNS_SAMPLER_DIFFUSION && s->num_steps > 0) {
            st = cns_sampler_set_int(r->sampler, CNS_SAMPLER_SAMPLE_START, s->sample_start);
            if (st == CNS_OK) st = cns_sampler_set_int(r->sampler, CNS_SAMPLER_STRIDE, s->stride);
            if (st == CNS_OK)
                st = cns_sampler_set_int(r->sampler, CNS_SAMPLER_NUM_STEPS, s->num_steps);
        }
        if (st == CNS_OK && s->sampler_threads > 0)
            st = cns_sampler_set_int(r->sampler, CNS_SAMPLER_THREADS, s->sampler_threads);
    }
    if (st == CNS_OK) {
        step = "loss";
        cns_loss_desc ld;
        cns_loss_desc_init(&ld);
        ld.dim = s->dim;
        ld.seed = s->seed;
        st = cns_loss_create(&ld, NULL, &r->loss, &err);
        if (st == CNS_OK)
            st = cns_preset_apply(s->direction ? CNS_PRESET_DIRECTION_CONTROL : CNS_PRESET_PAPER,
                                  r->model, NULL, r->loss, &err);
        if (st == CNS_OK && s->loss_threads > 0)
            st = cns_loss_set_int(r->loss, CNS_LOSS_THREADS, s->loss_threads);
    }
    if (st == CNS_OK) {
        step = "trainer";
        st = cns_trainer_create(r->model, r->sampler, r->loss, r->train, s->batch, s->seed, NULL,
                                &r->trainer, &err);
    }
    if (st != CNS_OK) snprintf(r->where, sizeof r->where, "%s: %s", step, err.message);
    return st;
}

static inline void rig_make(rig *r, const rig_spec *s) {
    cns_status st = rig_build(r, s);
    ck_assert_msg(st == CNS_OK, "rig: %s (%s)", cns_status_name(st), r->where);
}

/* Epochs 0 .. epochs-1 without statistics; the first failing status (the
 * trainer's last error says where), or CNS_OK. */
static inline cns_status rig_epochs(rig *r, int epochs) {
    cns_status st = CNS_OK;
    for (int e = 0; e < epochs && st == CNS_OK; ++e)
        st = cns_trainer_run_epoch(r->trainer, e, NULL);
    return st;
}

#endif
