/* libcnsdiff — the causal-regularised recommendation loss (ALGORITHM.md §8, §9).
 *
 *   L = L_bpr + cl_weight * L_cl            (L2 is the model's: cns_model_backward)
 *
 * Given the batch's final-embedding rows e_u, e_pos, e_neg (the random
 * negatives) and, optionally, the synthesized negatives h:
 *  - without h: plain BPR on e_neg;
 *  - with h: a per-row mixing weight lambda ~ Beta(alpha_e, beta_e) from the
 *    curriculum of §8 (or the caller's lambdas), BPR on n = lambda h +
 *    (1 - lambda) e_neg, and the contrastive term of §9 against
 *    [h; e_neg] at temperature tau.
 * Gradients are returned for the u, pos and neg rows; none flows into h.
 *
 * Threads: one thread at a time per handle.
 */
#ifndef CNSDIFF_LOSS_H
#define CNSDIFF_LOSS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cns_loss cns_loss;

typedef struct cns_loss_desc {
    size_t struct_size; /* = sizeof(cns_loss_desc), set by _init */
    int32_t dim;        /* embedding width, default 64 */
    uint64_t seed;      /* lambda draws and positive noise, default 1 */
} cns_loss_desc;

CNS_API void cns_loss_desc_init(cns_loss_desc *desc);
CNS_API CNS_NODISCARD cns_status cns_loss_create(const cns_loss_desc *desc,
                                                 const cns_allocator *alloc, cns_loss **out,
                                                 cns_error *err);
CNS_API void cns_loss_free(cns_loss *l);

typedef enum cns_loss_param {
    CNS_LOSS_CL_WEIGHT = 100,         /* double, [0, 1e3], default 0.3 (gamma) */
    CNS_LOSS_TEMPERATURE = 101,       /* double, (0, 1e3], default 2 (tau) */
    CNS_LOSS_POSITIVE_NOISE = 102,    /* double, [0, 10], default 0.01 */
    CNS_LOSS_ALPHA_START = 110,       /* double, (0, 1e3], default 1 */
    CNS_LOSS_BETA_START = 111,        /* double, (0, 1e3], default 9 */
    CNS_LOSS_ALPHA_END = 112,         /* double, (0, 1e3], default 9 */
    CNS_LOSS_BETA_END = 113,          /* double, (0, 1e3], default 1 */
    CNS_LOSS_MIN_MIX = 114,           /* double, [0, 1], default 0 */
    CNS_LOSS_CURRICULUM_EPOCHS = 120, /* int, [1, 1e6], default 120: the horizon of §8 */
    CNS_LOSS_MIXING = 121             /* int, {0, 1}, default 1; 0 forces lambda = 0 */
} cns_loss_param;
CNS_API CNS_NODISCARD cns_status cns_loss_set_double(cns_loss *l, int param, double v);
CNS_API CNS_NODISCARD cns_status cns_loss_get_double(const cns_loss *l, int param, double *v);
CNS_API CNS_NODISCARD cns_status cns_loss_set_int(cns_loss *l, int param, int64_t v);
CNS_API CNS_NODISCARD cns_status cns_loss_get_int(const cns_loss *l, int param, int64_t *v);
CNS_API CNS_NODISCARD cns_status cns_loss_param_bounds(int param, double *min, double *max);

/* Sets the epoch (0-based) that the curriculum's p = min(epoch /
 * curriculum_epochs, 1) is computed from. */
CNS_API CNS_NODISCARD cns_status cns_loss_set_epoch(cns_loss *l, int64_t epoch);

/* The loss terms reported by the last compute. */
typedef enum cns_loss_term {
    CNS_TERM_TOTAL = 0, /* bpr + cl_weight * cl */
    CNS_TERM_BPR = 1,
    CNS_TERM_CL = 2,    /* unweighted contrastive term; 0 without h */
    CNS_TERM_LAMBDA = 3 /* mean lambda of the batch; 0 without h */
} cns_loss_term;
CNS_API double cns_loss_term_value(const cns_loss *l, int term);

/* Computes the loss of n rows and its gradients.
 * u, pos, neg: n x dim rows of the final embeddings (required).
 * synth: n x dim synthesized negatives h, or NULL for plain BPR on neg.
 * lambda: n mixing weights in [0, 1], or NULL to draw them from the
 *   curriculum (ignored without synth).
 * grad_u, grad_pos, grad_neg: n x dim outputs (overwritten), dL/d(row).
 * loss (optional): the total. CNS_E_NUMERIC when the loss or a gradient is
 * not finite (the message names the term). */
CNS_API CNS_NODISCARD cns_status cns_loss_compute(cns_loss *l, const float *u, const float *pos,
                                                  const float *neg, const float *synth,
                                                  const float *lambda, size_t n, float *grad_u,
                                                  float *grad_pos, float *grad_neg, double *loss);

CNS_API const char *cns_loss_last_error(const cns_loss *l);

#ifdef __cplusplus
}
#endif

#endif
