/* libcnsdiff — the negative sampler (ALGORITHM.md §4–§8, §13).
 *
 * One handle and one call for every strategy, so a host switches between
 * them without touching its loop:
 *
 *     cns_sampler_draw(s, user_emb, pos_emb, n_rows, out_neg);
 *
 * Kinds:
 *  - CNS_SAMPLER_DIFFUSION: CNSDiff. A conditional diffusion model over item
 *    embeddings (noise schedule §4, denoiser MLP §5) trained with
 *    cns_sampler_train_step() on the diffusion loss with the causal
 *    regulariser (§6); draw runs the reverse chain from each hardness level
 *    and returns the candidate the user scores highest (§7).
 *    CNS_SAMPLER_MODE selects the trained method (default), the reference
 *    mode of §13 (frozen denoiser, full-length chain, dropout on while
 *    sampling), or a Gaussian ablation.
 *  - CNS_SAMPLER_UNIFORM: a uniformly drawn unobserved item per row.
 *  - CNS_SAMPLER_DNS: dynamic negative sampling: the highest-scored of M
 *    unobserved items drawn uniformly (M = CNS_SAMPLER_DNS_CANDIDATES).
 *  UNIFORM and DNS pick catalogue items, so they need a context
 *  (cns_sampler_set_context) before each draw: the item embeddings, the
 *  training data and the batch's user ids; they can also report the chosen
 *  item ids. DIFFUSION ignores the context.
 *
 * Buffers: all inputs are row-major n_rows x dim floats owned by the
 * caller; out_neg is caller-owned n_rows x dim. No allocation happens
 * inside draw or train_step once a batch of that size has been seen.
 *
 * Threads: one thread at a time per sampler; samplers are independent.
 * Random numbers come from the sampler's own seeded streams: the same seed
 * and the same sequence of calls give the same draws.
 */
#ifndef CNSDIFF_SAMPLER_H
#define CNSDIFF_SAMPLER_H

#include "common.h"
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cns_sampler cns_sampler;

typedef enum cns_sampler_kind {
    CNS_SAMPLER_UNIFORM = 1,
    CNS_SAMPLER_DNS = 2,
    CNS_SAMPLER_DIFFUSION = 3
} cns_sampler_kind;

/* Shape descriptor. Fill with cns_sampler_desc_init(). */
typedef struct cns_sampler_desc {
    size_t struct_size;  /* = sizeof(cns_sampler_desc), set by _init */
    int32_t kind;        /* cns_sampler_kind, default CNS_SAMPLER_DIFFUSION */
    int32_t dim;         /* embedding width, default 64 */
    int32_t steps;       /* diffusion steps T, default 20, [2, 1000] */
    int32_t time_dim;    /* time-embedding width, default 64, even, [2, 4096] */
    int32_t hidden;      /* denoiser hidden width, default 64, [1, 4096] */
    uint64_t seed;       /* denoiser init and all draws, default 1 */
} cns_sampler_desc;

CNS_API void cns_sampler_desc_init(cns_sampler_desc *desc);

CNS_API CNS_NODISCARD cns_status cns_sampler_create(const cns_sampler_desc *desc,
                                                    const cns_allocator *alloc,
                                                    cns_sampler **out, cns_error *err);
CNS_API void cns_sampler_free(cns_sampler *s);

/* Values of CNS_SAMPLER_NOISE_SCHEDULE and CNS_SAMPLER_MODE. */
typedef enum cns_noise_schedule {
    CNS_SCHEDULE_LINEAR = 0,
    CNS_SCHEDULE_LINEAR_VAR = 1
} cns_noise_schedule;

typedef enum cns_diffusion_mode {
    CNS_MODE_TRAINED = 0,   /* the method as described: trained denoiser, chain from each level */
    CNS_MODE_REFERENCE = 1, /* §13: denoiser frozen at init, all T reverse steps, dropout on */
    CNS_MODE_GAUSSIAN = 2   /* ablation: the reference candidate replaced by a Gaussian
                               vector of the same norm */
} cns_diffusion_mode;

/* Tunables (§12 defaults). Ints through _int, doubles through _double. */
typedef enum cns_sampler_param {
    CNS_SAMPLER_NOISE_SCHEDULE = 100, /* int, cns_noise_schedule, default LINEAR_VAR */
    CNS_SAMPLER_NOISE_SCALE = 101,    /* double, (0, 100], default 0.1 */
    CNS_SAMPLER_NOISE_MIN = 102,      /* double, (0, 1), default 1e-4 */
    CNS_SAMPLER_NOISE_MAX = 103,      /* double, (0, 1), default 0.02 */
    CNS_SAMPLER_REWEIGHT = 104,       /* int, {0, 1}, default 1: SNR step weights */
    CNS_SAMPLER_CAUSAL_WEIGHT = 105,  /* double, [0, 1e3], default 0.1 */
    CNS_SAMPLER_DENOISER_LR = 106,    /* double, [0, 10], default 1e-3 */
    CNS_SAMPLER_NORM = 107,           /* int, {0, 1}, default 1: normalise x_t */
    CNS_SAMPLER_DROPOUT = 108,        /* double, [0, 1), default 0.5 */
    CNS_SAMPLER_SAMPLE_START = 120,   /* int, [1, steps], default 10 */
    CNS_SAMPLER_STRIDE = 121,         /* int, [1, steps], default 4 */
    CNS_SAMPLER_NUM_STEPS = 122,      /* int, [1, steps], default 20 */
    CNS_SAMPLER_SAMPLING_NOISE = 123, /* int, {0, 1}, default 0 */
    CNS_SAMPLER_MODE = 130,           /* int, cns_diffusion_mode, default TRAINED */
    CNS_SAMPLER_DNS_CANDIDATES = 200, /* int, [1, 4096], default 32 */
    CNS_SAMPLER_THREADS = 300         /* int, [1, 256], default 1 */
} cns_sampler_param;
/* Changing the schedule parameters recomputes the schedule; they may be
 * changed at any time. */
CNS_API CNS_NODISCARD cns_status cns_sampler_set_double(cns_sampler *s, int param, double v);
CNS_API CNS_NODISCARD cns_status cns_sampler_get_double(const cns_sampler *s, int param, double *v);
CNS_API CNS_NODISCARD cns_status cns_sampler_set_int(cns_sampler *s, int param, int64_t v);
CNS_API CNS_NODISCARD cns_status cns_sampler_get_int(const cns_sampler *s, int param, int64_t *v);
CNS_API CNS_NODISCARD cns_status cns_sampler_param_bounds(int param, double *min, double *max);

CNS_API int32_t cns_sampler_kind_of(const cns_sampler *s);
CNS_API int32_t cns_sampler_dim(const cns_sampler *s);

/* Context for the catalogue samplers (UNIFORM, DNS), set before each draw.
 * Pointers are borrowed until the next set_context or draw returns. */
typedef struct cns_sampler_context {
    size_t struct_size;          /* = sizeof(cns_sampler_context) */
    const cns_dataset *train;    /* observed items per user */
    const float *item_emb;       /* num_items x dim final item embeddings */
    int32_t num_items;           /* must equal cns_dataset_num_items(train) */
    const int32_t *users;        /* n_rows user ids of the batch */
    size_t n_rows;               /* rows the next draw will be called with */
    int32_t *out_ids;            /* optional: receives the chosen item id per row */
} cns_sampler_context;

CNS_API void cns_sampler_context_init(cns_sampler_context *ctx);
CNS_API CNS_NODISCARD cns_status cns_sampler_set_context(cns_sampler *s,
                                                         const cns_sampler_context *ctx);

/* One synthesized (or chosen) negative per row into out_neg.
 * user_emb, pos_emb: n_rows x dim. For UNIFORM and DNS the context must be
 * set with the same n_rows (else CNS_E_STATE); UNIFORM ignores user_emb
 * and pos_emb may be NULL for it. Returns CNS_E_ARG (NULL, n_rows == 0),
 * CNS_E_STATE, CNS_E_SATURATED, CNS_E_NUMERIC (a non-finite candidate),
 * CNS_E_NOMEM (first call at a new size only). */
CNS_API CNS_NODISCARD cns_status cns_sampler_draw(cns_sampler *s, const float *user_emb,
                                                  const float *pos_emb, size_t n_rows,
                                                  float *out_neg);

/* One Adam step of the denoiser on the diffusion loss of the batch
 * pos_emb (n_rows x dim, treated as constants). loss (optional) receives
 * L_diff. A no-op returning 0 for UNIFORM, DNS and the frozen modes.
 * CNS_E_NUMERIC when the loss or a gradient is not finite (the denoiser is
 * left unchanged). */
CNS_API CNS_NODISCARD cns_status cns_sampler_train_step(cns_sampler *s, const float *pos_emb,
                                                        size_t n_rows, double *loss);

/* Denoiser checkpoints, same container and guarantees as cns_model_save. */
CNS_API CNS_NODISCARD cns_status cns_sampler_save(cns_sampler *s, const char *path);
CNS_API CNS_NODISCARD cns_status cns_sampler_load(const char *path, const cns_allocator *alloc,
                                                  cns_sampler **out, cns_error *err);

CNS_API const char *cns_sampler_last_error(const cns_sampler *s);

#ifdef __cplusplus
}
#endif

#endif
