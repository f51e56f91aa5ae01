/** @file
 * libcnsdiff — the negative sampler (ALGORITHM.md §4–§8, §13).
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
 *    CNS_SAMPLER_MODE selects the trained method, the reference mode of
 *    §13 (frozen denoiser, full-length chain, dropout on while sampling;
 *    the default preset's), a Gaussian ablation, or the direction mode
 *    (one fixed vector for every row, §16).
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
 * inside draw or train_step once a batch of that size (or larger) has been
 * seen; the workspace only grows.
 *
 * Cost (DIFFUSION, §12 levels): a draw runs the denoiser 10 + 14 + 18 = 42
 * times per row in the trained mode; the reference mode runs it 3 x 20 =
 * 60 times per row; the direction mode copies one vector per row.
 * CNS_SAMPLER_THREADS splits the rows over the sampler's own workers once
 * per draw; each runs the whole chain of a block of 64 rows while the
 * block is in cache: the library's own small-GEMM kernel where dim x
 * hidden <= 8192 (the defaults: 4096), else OpenBLAS on 64-row blocks,
 * small enough to stay on the calling thread. The random numbers (start
 * noise, dropout masks) are drawn before the split, so the draws do not
 * depend on the thread count. With CNS_SAMPLER_SAMPLING_NOISE the chains
 * run step by step over all rows instead. The reference mode keeps its
 * dropout masks as bits: steps x levels x n_rows x dim bits of workspace
 * (1 MB at the defaults); with more than 32 steps it runs step by step
 * too, which needs less.
 *
 * Threads: one thread at a time per sampler; samplers are independent.
 * Random numbers come from the sampler's own seeded streams: the same seed
 * and the same sequence of calls give the same draws on machines of the
 * same CPU class (the products and the trained mode's tanh are picked from
 * the CPU's vector extensions, which round differently).
 */
#ifndef CNSDIFF_SAMPLER_H
#define CNSDIFF_SAMPLER_H

#include "common.h"
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A negative sampler of any kind (opaque; see sampler.h). */
typedef struct cns_sampler cns_sampler;

/** The strategies (cns_sampler_desc.kind); see above. */
typedef enum cns_sampler_kind {
    CNS_SAMPLER_UNIFORM = 1,  /**< a uniformly drawn unobserved item per row */
    CNS_SAMPLER_DNS = 2,      /**< the highest-scored of M uniformly drawn unobserved items */
    CNS_SAMPLER_DIFFUSION = 3 /**< CNSDiff: negatives synthesized by the diffusion model */
} cns_sampler_kind;

/** Shape descriptor. Fill with cns_sampler_desc_init(). create reads only
 * the first struct_size bytes (older callers get defaults for the rest).
 * Out-of-range fields give CNS_E_ARG naming the field. The denoiser
 * (DIFFUSION only) is initialised from seed as §5 says. */
typedef struct cns_sampler_desc {
    size_t struct_size;  /**< = sizeof(cns_sampler_desc), set by _init */
    int32_t kind;        /**< cns_sampler_kind, default CNS_SAMPLER_DIFFUSION */
    int32_t dim;         /**< embedding width, default 64, [1, 65536] */
    int32_t steps;       /**< diffusion steps T, default 20, [2, 1000] */
    int32_t time_dim;    /**< time-embedding width, default 64, even, [2, 4096] */
    int32_t hidden;      /**< denoiser hidden width, default 64, [1, 4096] */
    uint64_t seed;       /**< denoiser init and all draws, default 1 */
} cns_sampler_desc;

/** Sets desc to the defaults: struct_size = sizeof(cns_sampler_desc), kind
 *  CNS_SAMPLER_DIFFUSION, and the defaults listed in cns_sampler_desc.
 *  NULL is a no-op.
 *  @param desc  the descriptor to fill, or NULL */
CNS_API void cns_sampler_desc_init(cns_sampler_desc *desc);

/** Creates a sampler of desc->kind. The tunables start at the default
 *  preset's values (see cns_sampler_param).
 *  @param desc   the shape (see cns_sampler_desc)
 *  @param alloc  NULL for malloc/free
 *  @param out    receives the sampler on success
 *  @param err    optional detail on failure
 *  @return CNS_OK; CNS_E_ARG (a NULL argument, a field out of range: the
 *          message names it); CNS_E_SIZE (struct_size); CNS_E_NOMEM. */
CNS_API CNS_NODISCARD cns_status cns_sampler_create(const cns_sampler_desc *desc,
                                                    const cns_allocator *alloc,
                                                    cns_sampler **out, cns_error *err);
/** Frees s and everything it owns. NULL is a no-op. Free a sampler's
 *  streams first.
 *  @param s  the sampler, or NULL */
CNS_API void cns_sampler_free(cns_sampler *s);

/** Values of CNS_SAMPLER_NOISE_SCHEDULE and CNS_SAMPLER_MODE. */
typedef enum cns_noise_schedule {
    CNS_SCHEDULE_LINEAR = 0,    /**< "linear" schedule of ALGORITHM.md §4 */
    CNS_SCHEDULE_LINEAR_VAR = 1 /**< "linear-var" schedule of ALGORITHM.md §4 */
} cns_noise_schedule;

/** The handle's initial mode is the default preset's (include/cnsdiff/
 * preset.h, ALGORITHM.md §15): CNS_MODE_DIRECTION, with
 * CNS_LOSS_MIXING = 0 and CNS_LOSS_CL_WEIGHT = 0.15 on the loss, the
 * configuration the development suite's OOD validation splits chose by a
 * rule fixed in advance (docs/BENCHMARKS.md, "the study on the development
 * suite"; no eligible configuration beat uniform negatives there; until
 * 0.3 the default was CNS_MODE_REFERENCE). CNS_PRESET_PAPER selects
 * the method as the paper describes it (CNS_MODE_TRAINED, mixing on).
 *
 * "Frozen" means train_step does nothing: the denoiser stays as it is.
 * Select a frozen mode before any train step to sample from the seeded
 * initialisation, as §13 describes. REFERENCE, GAUSSIAN and DIRECTION are
 * frozen. */
typedef enum cns_diffusion_mode {
    CNS_MODE_TRAINED = 0,   /**< the method as described: trained denoiser, chain from each level */
    CNS_MODE_REFERENCE = 1, /**< §13: denoiser frozen, all T reverse steps from each level's
                               noised start, dropout (CNS_SAMPLER_DROPOUT) on while sampling */
    CNS_MODE_GAUSSIAN = 2,  /**< ablation: the reference candidate replaced by a Gaussian
                               vector of the same norm */
    CNS_MODE_DIRECTION = 3  /**< §16: every row gets the same vector c = norm * d, d a unit
                               direction chosen by CNS_SAMPLER_DIRECTION_SOURCE, norm =
                               CNS_SAMPLER_DIRECTION_NORM. No denoiser, no chain: a draw
                               costs O(n_rows x dim) and ignores user_emb and pos_emb
                               (they must still be non-NULL). The reference mode's
                               negatives are nearly this (neighbouring rows' cosine 0.97,
                               |h| ~ 3.9 on Food, ALGORITHM.md §16), so it is that mode's
                               effect on purpose and at a fraction of the cost. */
} cns_diffusion_mode;

/** Values of CNS_SAMPLER_DIRECTION_SOURCE: where CNS_MODE_DIRECTION's unit
 * direction d comes from. Only one source exists; the id leaves room for
 * others (e.g. a data-derived direction) without a new mode. */
typedef enum cns_direction_source {
    CNS_DIRECTION_RANDOM = 0 /**< a Gaussian vector drawn once, at create, from desc.seed on
                                a stream of its own (no other draw shifts), normalised to
                                unit length; the same seed gives the same d for any thread
                                count, and a loaded checkpoint recomputes it from its seed */
} cns_direction_source;

/** Tunables. The initial values are the default preset's (preset.h,
 * ALGORITHM.md §15); the "default" below is that value. Ints through _int, doubles through _double
 * (the other one gives CNS_E_PARAM, as does an unknown id). A value out of
 * range gives CNS_E_ARG and leaves the parameter unchanged. Ranges with a
 * parenthesis exclude that end; cns_sampler_param_bounds reports the ends.
 * The three level parameters are bounded by the handle's steps (their
 * static bound is [1, 1000]); a draw whose level set
 * {sample_start, sample_start + stride, ...} ∩ [1, num_steps] is empty
 * returns CNS_E_STATE. */
typedef enum cns_sampler_param {
    CNS_SAMPLER_NOISE_SCHEDULE = 100, /**< int, cns_noise_schedule, default LINEAR_VAR */
    CNS_SAMPLER_NOISE_SCALE = 101,    /**< double, (0, 100], default 0.1 */
    CNS_SAMPLER_NOISE_MIN = 102,      /**< double, (0, 1), default 1e-4 */
    CNS_SAMPLER_NOISE_MAX = 103,      /**< double, (0, 1), default 0.02 */
    CNS_SAMPLER_REWEIGHT = 104,       /**< int, {0, 1}, default 1: SNR step weights */
    CNS_SAMPLER_CAUSAL_WEIGHT = 105,  /**< double, [0, 1e3], default 0.1 */
    CNS_SAMPLER_DENOISER_LR = 106,    /**< double, [0, 10], default 1e-3 */
    CNS_SAMPLER_NORM = 107,           /**< int, {0, 1}, default 1: normalise x_t */
    CNS_SAMPLER_DROPOUT = 108,        /**< double, [0, 1), default 0.5 */
    CNS_SAMPLER_SAMPLE_START = 120,   /**< int, [1, steps], default 10 */
    CNS_SAMPLER_STRIDE = 121,         /**< int, [1, steps], default 4 */
    CNS_SAMPLER_NUM_STEPS = 122,      /**< int, [1, steps], default steps (20) */
    CNS_SAMPLER_SAMPLING_NOISE = 123, /**< int, {0, 1}, default 0 */
    CNS_SAMPLER_MODE = 130,           /**< int, cns_diffusion_mode, [0, 3], default DIRECTION (the default preset) */
    CNS_SAMPLER_DIRECTION_NORM = 131, /**< double, (0, 1e3], default 3.9: |c| of the DIRECTION
                                         mode; 3.9 is the norm measured for the reference
                                         mode's h on Food (ALGORITHM.md §16) */
    CNS_SAMPLER_DIRECTION_SOURCE = 132, /**< int, cns_direction_source, {0}, default RANDOM */
    CNS_SAMPLER_SCORE_DISCOUNT = 133, /**< double, [0, 1], default 0: the share a of the
                                         direction's component that
                                         cns_sampler_score_items removes from the item
                                         rows (ALGORITHM.md §16); draws and train steps
                                         ignore it */
    CNS_SAMPLER_DNS_CANDIDATES = 200, /**< int, [1, 4096], default 32 */
    CNS_SAMPLER_THREADS = 300         /**< int, [1, 256], default 1 */
} cns_sampler_param;
/** Sets the double tunable param to v.
 * Changing the schedule parameters recomputes the schedule; they may be
 * changed at any time. A value whose schedule would be degenerate (a beta
 * outside (0, 1): e.g. noise_scale * noise_max >= 1, or with linear-var
 * noise_min >= noise_max) is refused with CNS_E_ARG and leaves both the
 * value and the schedule unchanged, so raise noise_max before noise_min.
 * DENOISER_LR takes effect at the next train step; THREADS applies to
 * draw and the forward half of train_step.
 * @param s      the handle
 * @param param  a cns_sampler_param id of double type
 * @param v      the new value, within the parameter's bounds
 * @return CNS_OK; CNS_E_ARG (NULL handle, or v out of bounds: the value is
 *         unchanged); CNS_E_PARAM (unknown id, or an id of the other type).
 */
CNS_API CNS_NODISCARD cns_status cns_sampler_set_double(cns_sampler *s, int param, double v);
/** Reads the double tunable param. Read-only.
 *  @param s      the handle
 *  @param param  a cns_sampler_param id of double type
 *  @param v      receives the value
 *  @return CNS_OK; CNS_E_ARG (NULL handle or v); CNS_E_PARAM (unknown id,
 *          or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_sampler_get_double(const cns_sampler *s, int param, double *v);
/** Sets the integer tunable param to v (see cns_sampler_set_double for the rules).
 *  @param s      the handle
 *  @param param  a cns_sampler_param id of integer type
 *  @param v      the new value, within the parameter's bounds
 *  @return CNS_OK; CNS_E_ARG (NULL handle, or v out of bounds: the value is
 *          unchanged); CNS_E_PARAM (unknown id, or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_sampler_set_int(cns_sampler *s, int param, int64_t v);
/** Reads the integer tunable param. Read-only.
 *  @param s      the handle
 *  @param param  a cns_sampler_param id of integer type
 *  @param v      receives the value
 *  @return CNS_OK; CNS_E_ARG (NULL handle or v); CNS_E_PARAM (unknown id,
 *          or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_sampler_get_int(const cns_sampler *s, int param, int64_t *v);
/** The closed range [min, max] that holds the valid values of param
 *  (for a range written with "(" or ")" the end itself is refused by the
 *  setter). Needs no handle; thread-safe.
 *  @param param  a cns_sampler_param id
 *  @param min    receives the lower end (may be NULL)
 *  @param max    receives the upper end (may be NULL)
 *  @return CNS_OK; CNS_E_PARAM (unknown id). */
CNS_API CNS_NODISCARD cns_status cns_sampler_param_bounds(int param, double *min, double *max);

/** The sampler's kind (a cns_sampler_kind). Read-only.
 *  @param s  the sampler
 *  @return the kind; 0 for a NULL handle. */
CNS_API int32_t cns_sampler_kind_of(const cns_sampler *s);
/** The embedding width (desc.dim). Read-only.
 *  @param s  the sampler
 *  @return the width; 0 for a NULL handle. */
CNS_API int32_t cns_sampler_dim(const cns_sampler *s);

/** Context for the catalogue samplers (UNIFORM, DNS), set before each draw.
 * Pointers are borrowed until the next set_context or draw returns; a
 * draw consumes the context (the next draw needs a new set_context),
 * whether it succeeds or fails: a failed draw never leaves an old
 * context behind for the next one.
 * set_context checks: NULL pointers and n_rows == 0 (CNS_E_ARG),
 * struct_size smaller than this version's and num_items differing from the
 * dataset's (CNS_E_SIZE). User ids are checked by the draw (CNS_E_ARG).
 * DNS draws its M candidates uniformly, with replacement, from the user's
 * unobserved items and keeps the one with the largest <e_u, e_i>.
 * The width of item_emb is not checked here: prefer
 * cns_sampler_set_context_rows, which also takes CSR arrays. */
typedef struct cns_sampler_context {
    size_t struct_size;          /**< = sizeof(cns_sampler_context) */
    const cns_dataset *train;    /**< observed items per user */
    const float *item_emb;       /**< num_items x dim final item embeddings */
    int32_t num_items;           /**< must equal cns_dataset_num_items(train) */
    const int32_t *users;        /**< n_rows user ids of the batch */
    size_t n_rows;               /**< rows the next draw will be called with */
    int32_t *out_ids;            /**< optional: receives the chosen item id per row */
} cns_sampler_context;

/** Sets ctx to struct_size = sizeof(cns_sampler_context) and everything
 *  else to 0/NULL. NULL is a no-op.
 *  @param ctx  the context to fill, or NULL */
CNS_API void cns_sampler_context_init(cns_sampler_context *ctx);
/** Sets the context of the next draw of a UNIFORM or DNS sampler; see
 *  cns_sampler_context for what is borrowed and checked.
 *  @param s    the sampler
 *  @param ctx  the context; its pointers are borrowed until the next draw
 *  @return CNS_OK, CNS_E_ARG, CNS_E_SIZE. */
CNS_API CNS_NODISCARD cns_status cns_sampler_set_context(cns_sampler *s,
                                                         const cns_sampler_context *ctx);

/** cns_sampler_set_context with the item rows' width checked, item rows at
 *  any stride, and the observed items as the host's CSR arrays if wished.
 *
 *  @param s           the sampler (UNIFORM or DNS; DIFFUSION ignores contexts)
 *  @param ctx         as for cns_sampler_set_context, except that train
 *                     must be NULL when csr is given
 *  @param dim         the width of item_emb's rows; must equal
 *                     cns_sampler_dim(s), else CNS_E_SIZE naming both
 *  @param item_stride floats between item_emb rows, 0 means dim
 *  @param csr         NULL to use ctx->train, or the observed items as CSR
 *                     arrays (dataset.h); the struct and its arrays are
 *                     borrowed until the draw, like ctx's pointers.
 *                     num_items must equal csr->num_items. The draw checks
 *                     the CSR rows of the batch's users (CNS_E_ARG naming
 *                     the entry), O(row length) per row.
 *  @return CNS_OK; the statuses of cns_sampler_set_context; CNS_E_SIZE for
 *          the width or a stride below it; CNS_E_ARG for both or neither
 *          of ctx->train and csr, or a malformed csr header. On failure
 *          no context is set. */
CNS_API CNS_NODISCARD cns_status cns_sampler_set_context_rows(cns_sampler *s,
                                                              const cns_sampler_context *ctx,
                                                              int32_t dim, size_t item_stride,
                                                              const cns_csr *csr);

/** One synthesized (or chosen) negative per row into out_neg.
 * user_emb, pos_emb: n_rows x dim. For UNIFORM and DNS the context must be
 * set with the same n_rows (else CNS_E_STATE); UNIFORM ignores user_emb
 * and pos_emb may be NULL for it. Returns CNS_E_ARG (NULL, n_rows == 0),
 * CNS_E_STATE, CNS_E_SATURATED, CNS_E_NUMERIC (a non-finite candidate),
 * CNS_E_NOMEM (first call at a new size only).
 * DIFFUSION: for each level s, x = sqrt(abar_{s-1}) e_pos +
 * sqrt(1 - abar_{s-1}) eps (fresh eps), then x <- c1_t f(x, t) + c2_t x for
 * t = s-1 .. 0 (T-1 .. 0 in the reference and Gaussian modes); the
 * candidate with the largest <e_u, x> is written (ties: the lowest level).
 * The DIRECTION mode writes c = norm * d into every row instead (the
 * level parameters are not used, and no random number is drawn).
 * The width of the rows is not checked here (the call cannot see it):
 * prefer cns_sampler_draw_rows, which is told the width and the strides.
 * @param s         the sampler (one thread at a time)
 * @param user_emb  n_rows x dim user rows
 * @param pos_emb   n_rows x dim positive rows
 * @param n_rows    rows, >= 1
 * @param out_neg   n_rows x dim out: the negatives
 * @return CNS_OK, CNS_E_ARG, CNS_E_STATE, CNS_E_SATURATED, CNS_E_NUMERIC,
 *         CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_sampler_draw(cns_sampler *s, const float *user_emb,
                                                  const float *pos_emb, size_t n_rows,
                                                  float *out_neg);

/** cns_sampler_draw with the row width checked and rows at any stride.
 *
 *  Draws exactly what cns_sampler_draw draws for the same rows (the same
 *  random streams advance the same way).
 *  @param s          the sampler (one thread at a time)
 *  @param dim        the width of every row; must equal cns_sampler_dim(s),
 *                    else CNS_E_SIZE naming both
 *  @param user_emb   n_rows user rows, row r at user_emb + r * user_stride
 *                    (NULL allowed for UNIFORM)
 *  @param user_stride floats between user rows, 0 means dim
 *  @param pos_emb    n_rows positive rows (NULL allowed for UNIFORM and DNS)
 *  @param pos_stride floats between pos rows, 0 means dim
 *  @param n_rows     rows, >= 1
 *  @param out_neg    n_rows rows out, row r at out_neg + r * out_stride
 *  @param out_stride floats between out rows, 0 means dim
 *  @return the statuses of cns_sampler_draw, and CNS_E_SIZE for a width
 *          mismatch or a stride below dim. Strided rows are packed into
 *          the sampler's workspace first (grown once per batch size,
 *          CNS_E_NOMEM if that fails). */
CNS_API CNS_NODISCARD cns_status cns_sampler_draw_rows(cns_sampler *s, int32_t dim,
                                                       const float *user_emb, size_t user_stride,
                                                       const float *pos_emb, size_t pos_stride,
                                                       size_t n_rows, float *out_neg,
                                                       size_t out_stride);

/** One Adam step of the denoiser on the diffusion loss of the batch
 * pos_emb (n_rows x dim, treated as constants). loss (optional) receives
 * L_diff (§6: mean_rows(w_t mse) + causal_weight mean_elements(KL), with
 * dropout on the denoiser's input). A no-op returning CNS_OK and loss 0
 * for UNIFORM, DNS and the frozen modes (REFERENCE, GAUSSIAN, DIRECTION). CNS_E_ARG for NULL or
 * n_rows == 0. CNS_E_NUMERIC when the loss or a gradient is not finite
 * (the denoiser and its Adam moments are left unchanged; the message
 * names the first row whose loss is not finite). With reweight
 * on, rows at t = 1 (w_1 ~ 9.1e4) carry ~90% of mean_rows(w_t mse).
 * The width is not checked: prefer cns_sampler_train_step_rows.
 * @param s        the sampler (one thread at a time)
 * @param pos_emb  n_rows x dim positive rows
 * @param n_rows   rows, >= 1
 * @param loss     optional out: L_diff
 * @return CNS_OK, CNS_E_ARG, CNS_E_NUMERIC (or CNS_E_NOMEM at a new batch
 *         size).
 */
CNS_API CNS_NODISCARD cns_status cns_sampler_train_step(cns_sampler *s, const float *pos_emb,
                                                        size_t n_rows, double *loss);

/** cns_sampler_train_step with the row width checked and rows at any
 *  stride.
 *  @param s          the sampler
 *  @param dim        the width of every row; must equal cns_sampler_dim(s),
 *                    else CNS_E_SIZE naming both
 *  @param pos_emb    n_rows positive rows, row r at pos_emb + r * pos_stride
 *  @param pos_stride floats between rows, 0 means dim
 *  @param n_rows     rows, >= 1
 *  @param loss       optional out: L_diff, as cns_sampler_train_step
 *  @return the statuses of cns_sampler_train_step, and CNS_E_SIZE. */
CNS_API CNS_NODISCARD cns_status cns_sampler_train_step_rows(cns_sampler *s, int32_t dim,
                                                             const float *pos_emb,
                                                             size_t pos_stride, size_t n_rows,
                                                             double *loss);

/** A per-thread draw state of a DIFFUSION sampler ("many threads, one
 *  sampler"): its own workspace and its own random stream, sharing the
 *  sampler's denoiser weights, schedule and tunables, which it reads at
 *  each draw.
 *
 *  Threads: any number of streams of one sampler may draw at the same time,
 *  each stream used by one thread at a time, as long as nothing changes
 *  the sampler meanwhile: no cns_sampler_train_step, _set_*, _set_weights,
 *  cns_sampler_draw on the sampler itself, and no free. In the frozen
 *  modes (reference, Gaussian) the sampler never changes, so streams draw
 *  freely. In trained mode, the host runs train steps while no stream
 *  draws (e.g. a reader-writer lock: draws shared, the train step
 *  exclusive, or a barrier per batch); a draw then sees the weights of the
 *  last train step that completed before it started. The sampler must
 *  outlive its streams.
 *
 *  Reproducibility: a stream's draws depend only on the sampler's seed,
 *  weights and tunables, the stream_id and the stream's own sequence of
 *  draws: the same stream_id replays the same draws in any thread, and
 *  different stream_ids give independent draws. They differ from the
 *  sampler's own cns_sampler_draw stream.
 */
typedef struct cns_sampler_stream cns_sampler_stream;

/** Creates a draw stream of a DIFFUSION sampler.
 *  @param s          the sampler, only read (now and at each draw)
 *  @param stream_id  selects the random stream (e.g. the thread index)
 *  @param alloc      the stream's allocator, NULL for malloc/free
 *  @param out        receives the stream on success, NULL on failure
 *  @param err        optional detail
 *  @return CNS_OK; CNS_E_ARG (NULL); CNS_E_UNSUPPORTED (a UNIFORM or DNS
 *          sampler: give each thread its own); CNS_E_NOMEM. */
CNS_API CNS_NODISCARD cns_status cns_sampler_stream_create(const cns_sampler *s,
                                                           uint64_t stream_id,
                                                           const cns_allocator *alloc,
                                                           cns_sampler_stream **out,
                                                           cns_error *err);
/** Frees a stream (NULL is a no-op); the sampler is untouched.
 *  @param st  the stream, or NULL
 */
CNS_API void cns_sampler_stream_free(cns_sampler_stream *st);

/** cns_sampler_draw_rows through a stream: the same arguments, checks and
 *  statuses, the stream's workspace and random stream. CNS_SAMPLER_THREADS
 *  of the sampler applies to each stream's draw: a host drawing from many
 *  threads usually leaves it at 1.
 *  @param st           the stream (one thread at a time)
 *  @param dim          the width of every row; must equal cns_sampler_dim()
 *  @param user_emb     n_rows user rows, row r at user_emb + r * user_stride
 *  @param user_stride  floats between user rows, 0 means dim
 *  @param pos_emb      n_rows positive rows
 *  @param pos_stride   floats between pos rows, 0 means dim
 *  @param n_rows       rows, >= 1
 *  @param out_neg      n_rows rows out, row r at out_neg + r * out_stride
 *  @param out_stride   floats between out rows, 0 means dim
 *  @return the statuses of cns_sampler_draw_rows.
 */
CNS_API CNS_NODISCARD cns_status cns_sampler_stream_draw_rows(cns_sampler_stream *st, int32_t dim,
                                                              const float *user_emb,
                                                              size_t user_stride,
                                                              const float *pos_emb,
                                                              size_t pos_stride, size_t n_rows,
                                                              float *out_neg, size_t out_stride);

/** The detail of the stream's most recent failed draw ("" if none). Never
 *  NULL.
 *  @param st  the stream
 *  @return the message.
 */
CNS_API const char *cns_sampler_stream_last_error(const cns_sampler_stream *st);

/** The number of denoiser weights of a DIFFUSION sampler (0 for UNIFORM,
 *  DNS or a NULL handle): td*td + td + hidden*(dim + td) + hidden +
 *  dim*hidden + dim with td = time_dim. Read-only.
 *  @param s  the sampler
 *  @return the count.
 */
CNS_API size_t cns_sampler_weight_count(const cns_sampler *s);

/** Copies the denoiser's weights into out, flat, in the order of the
 *  checkpoint's 'DNSR' section (docs/CHECKPOINT.md): samplers with the
 *  same dim, time_dim and hidden share the layout, so data-parallel
 *  workers can average or broadcast them.
 *  @param s      the sampler; read-only (may run concurrently with other
 *                read-only calls, not with a train step or a set)
 *  @param out    count floats out
 *  @param count  must equal cns_sampler_weight_count(s)
 *  @return CNS_OK; CNS_E_ARG (NULL); CNS_E_UNSUPPORTED (not DIFFUSION);
 *          CNS_E_SIZE (count differs). The handle's message is not
 *          written (the handle is const). */
CNS_API CNS_NODISCARD cns_status cns_sampler_get_weights(const cns_sampler *s, float *out,
                                                         size_t count);

/** Replaces the denoiser's weights with w (same layout as
 *  cns_sampler_get_weights). The denoiser's Adam moments and step count
 *  are kept, as a data-parallel step that averages weights expects.
 *  @param s      the sampler (one thread at a time)
 *  @param w      count floats, copied
 *  @param count  must equal cns_sampler_weight_count(s)
 *  @return CNS_OK; CNS_E_ARG (NULL); CNS_E_UNSUPPORTED (not DIFFUSION);
 *          CNS_E_SIZE (count differs, the message names both counts);
 *          CNS_E_NUMERIC (a weight is not finite; the message names its
 *          index). On failure nothing changes. */
CNS_API CNS_NODISCARD cns_status cns_sampler_set_weights(cns_sampler *s, const float *w,
                                                         size_t count);

/** Denoiser checkpoints, same container and guarantees as cns_model_save.
 *  @param s     the sampler; not modified (its message changes on failure)
 *  @param path  the file to write
 *  @return the statuses of cns_model_save.
 */
CNS_API CNS_NODISCARD cns_status cns_sampler_save(cns_sampler *s, const char *path);
/** Loads a sampler saved by cns_sampler_save, with the guarantees and
 *  statuses of cns_model_load.
 *  @param path   the file to read
 *  @param alloc  NULL for malloc/free
 *  @param out    receives the sampler on success
 *  @param err    optional detail on failure
 *  @return the statuses of cns_model_load. */
CNS_API CNS_NODISCARD cns_status cns_sampler_load(const char *path, const cns_allocator *alloc,
                                                  cns_sampler **out, cns_error *err);

/** The memory forms of cns_sampler_save / cns_sampler_load, with the
 * contract of cns_model_save_mem / cns_model_load_mem: the buffer holds
 * the same bytes as the file, buf NULL is a size query, a short buffer is
 * CNS_E_SIZE (with *size set to the count needed), and a loaded buffer
 * passes the same checks with the same statuses as a file. Messages start
 * "cns_sampler_save_mem: " / "cns_sampler_load_mem: " for argument
 * errors. Threads: save as cns_sampler_save (no other call on s
 * meanwhile); load is thread-safe.
 * @param s     the sampler; not modified (its message changes on failure)
 * @param buf   caller memory of cap bytes, or NULL for the size query
 * @param cap   bytes at buf (ignored when buf is NULL)
 * @param size  out: the checkpoint's size in bytes (required)
 * @return CNS_OK, CNS_E_ARG, CNS_E_SIZE, CNS_E_NUMERIC, CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_sampler_save_mem(cns_sampler *s, void *buf, size_t cap,
                                                      size_t *size);
/** The memory form of cns_sampler_load (see cns_sampler_save_mem for the
 *  contract). Thread-safe.
 *  @param buf    the checkpoint's bytes, borrowed for the call
 *  @param size   bytes at buf
 *  @param alloc  NULL for malloc/free
 *  @param out    receives the sampler on success
 *  @param err    optional detail on failure
 *  @return the statuses of cns_model_load_mem. */
CNS_API CNS_NODISCARD cns_status cns_sampler_load_mem(const void *buf, size_t size,
                                                      const cns_allocator *alloc,
                                                      cns_sampler **out, cns_error *err);

/** The item table to rank by, with a share of the direction mode's axis
 *  removed from every item row (ALGORITHM.md §16, "Scoring with a discount
 *  on the axis"): out_i = e_i - a <e_i, d> d, with d the sampler's unit
 *  direction and a = CNS_SAMPLER_SCORE_DISCOUNT. Training with the
 *  direction mode puts the model's popularity term on d (§18); a host
 *  that ranks by <e_u, out_i> instead of <e_u, e_i> discounts that term by
 *  a. a = 1 removes the component entirely; a = 0 (the default) copies
 *  the table bit for bit. The model's tables are not changed: call this on
 *  the item table the host ranks with (e.g. cns_model_embeddings(m,
 *  CNS_TABLE_ITEMS)), for every evaluation.
 *
 *  The projection is computed in double per row and rounded to float once
 *  per element.
 *
 *  Threads: s is only read, so any number of threads may call this on one
 *  sampler at the same time, and alongside other read-only calls (draw
 *  streams, cns_sampler_get_*); not alongside a call that changes s
 *  (cns_sampler_set_*, train steps, free).
 *
 *  @param s        the sampler; with a > 0 a DIFFUSION sampler in
 *                  CNS_MODE_DIRECTION (the only mode with a known axis)
 *  @param items    n_items x dim floats, row-major, caller-owned, read only
 *  @param n_items  rows, >= 0 (0 writes nothing)
 *  @param dim      the width of the rows; must equal cns_sampler_dim(s)
 *  @param out      n_items x dim floats out, caller-owned; may equal items
 *                  (in place) but must not otherwise overlap it
 *  @param err      optional detail of a failure (the handle's message is
 *                  not written: the handle is const)
 *  @return CNS_OK; CNS_E_ARG for a NULL s, items or out, or n_items < 0
 *          ("cns_sampler_score_items: ..." naming the argument);
 *          CNS_E_SIZE for dim differing from the sampler's (the message
 *          names both) or a table too large to address; CNS_E_STATE for
 *          a > 0 on a sampler not in the direction mode ("score_discount
 *          needs the direction mode"). On failure out is not written. */
CNS_API CNS_NODISCARD cns_status cns_sampler_score_items(const cns_sampler *s, const float *items,
                                                         int64_t n_items, int32_t dim, float *out,
                                                         cns_error *err);

/** The detail of the last failed call on s. Valid until the
 *  next call on s.
 *  @param s  the sampler
 *  @return the message; never NULL. */
CNS_API const char *cns_sampler_last_error(const cns_sampler *s);

#ifdef __cplusplus
}
#endif

#endif
