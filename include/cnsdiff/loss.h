/** @file
 * libcnsdiff — the causal-regularised recommendation loss (ALGORITHM.md §8, §9).
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
 * The repel column (CNS_LOSS_REPEL, ALGORITHM.md §19): one fixed unit
 * direction r̂ joins every softmax row of the contrastive term as a column
 * of weight n, log(n e^{<a, r̂>/τ} + Σ_j e^{<a, h_j>/τ} + Σ_j e^{<a, n_j>/τ}),
 * whatever the negatives are; with synth NULL the term runs on [r̂; e_neg]
 * alone. That is the term the direction mode (§16) computes through h, so
 * the repulsion can go with any sampler: uniform, DNS, or a trained
 * denoiser whose h then serves BPR mixing and the contrastive term. r̂ is
 * drawn at create from desc.seed exactly as the sampler's direction mode
 * draws its d (so a loss and a sampler with one seed agree), or set by the
 * host with cns_loss_set_repel_direction. Its cost is O(n dim) per compute.
 *
 * Cost: the contrastive term is O(n^2 dim) over the n x 2n similarities
 * (n x (n + 1) with the repel column and synth NULL).
 * When every row of h is bit-identical (the sampler's CNS_MODE_DIRECTION
 * draws them so; one memcmp pass per compute finds out), the n equal h
 * columns of each softmax row are one column of weight n
 * (log(n e^{<a, c>/tau} + sum_j e^{<a, e_neg_j>/tau}), ALGORITHM.md §16):
 * the h half costs O(n dim) and the term about half as much. The result
 * is the same as the general path's up to float rounding.
 *
 * Randomness: the lambda draws and the positive noise of a compute come
 * from streams keyed by (desc.seed, epoch, the number of computes since
 * the last cns_loss_set_epoch); the same key gives the same draws, so a
 * run that sets the epoch at the start of each epoch repeats exactly.
 *
 * Memory: the first compute with synth or the repel column allocates
 * scratch for its batch size (about (7 dim + 2 min(n, 256) + 9) floats per
 * row, plus one dim row, through the
 * handle's allocator); later computes of that size or smaller allocate
 * nothing.
 *
 * Threads: one thread at a time per handle.
 */
#ifndef CNSDIFF_LOSS_H
#define CNSDIFF_LOSS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The causal-regularised loss (opaque; see loss.h). */
typedef struct cns_loss cns_loss;

/** Shapes fixed at creation. Fill with cns_loss_desc_init, then change
 * fields. A desc from an older header (smaller struct_size) keeps the
 * defaults for the fields it lacks; a larger struct is accepted only when
 * the bytes this library does not know are zero (CNS_E_SIZE otherwise). */
typedef struct cns_loss_desc {
    size_t struct_size; /**< = sizeof(cns_loss_desc), set by _init */
    int32_t dim;        /**< embedding width, default 64 */
    uint64_t seed;      /**< lambda draws and positive noise, default 1 */
} cns_loss_desc;

/** Sets desc to the defaults: struct_size = sizeof(cns_loss_desc), dim 64,
 *  seed 1. NULL is a no-op.
 *  @param desc  the descriptor to fill, or NULL */
CNS_API void cns_loss_desc_init(cns_loss_desc *desc);
/** desc NULL means the defaults. dim outside [1, 2^20] or a NULL out:
 * CNS_E_ARG; a bad struct_size: CNS_E_SIZE; CNS_E_NOMEM. The parameters
 * start at the default preset's values, listed below.
 * @param desc   the shapes, or NULL for the defaults
 * @param alloc  NULL for malloc/free
 * @param out    receives the loss on success
 * @param err    optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_SIZE, CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_loss_create(const cns_loss_desc *desc,
                                                 const cns_allocator *alloc, cns_loss **out,
                                                 cns_error *err);
/** Frees l and its scratch. NULL is a no-op.
 *  @param l  the loss, or NULL */
CNS_API void cns_loss_free(cns_loss *l);

/** Tunables. "(0, x]" excludes 0: cns_loss_param_bounds reports 0 as the
 * minimum, and the setter rejects it. Setters return CNS_E_PARAM for an
 * unknown id or the setter of the other type, CNS_E_ARG for a value
 * outside the bounds (or NaN); on any error the value is unchanged and
 * cns_loss_last_error() says why. Changes apply from the next compute.
 * The initial values are the default preset's (preset.h, ALGORITHM.md
 * §15); the "default" below is that value. */
typedef enum cns_loss_param {
    CNS_LOSS_CL_WEIGHT = 100,         /**< double, [0, 1e3], default 0.15 (gamma; the default preset; §12 and the other presets: 0.3) */
    CNS_LOSS_TEMPERATURE = 101,       /**< double, (0, 1e3], default 2 (tau) */
    CNS_LOSS_POSITIVE_NOISE = 102,    /**< double, [0, 10], default 0.01 */
    CNS_LOSS_ALPHA_START = 110,       /**< double, (0, 1e3], default 1 */
    CNS_LOSS_BETA_START = 111,        /**< double, (0, 1e3], default 9 */
    CNS_LOSS_ALPHA_END = 112,         /**< double, (0, 1e3], default 9 */
    CNS_LOSS_BETA_END = 113,          /**< double, (0, 1e3], default 1 */
    CNS_LOSS_MIN_MIX = 114,           /**< double, [0, 1], default 0 */
    CNS_LOSS_CURRICULUM_EPOCHS = 120, /**< int, [1, 1e6], default 120: the horizon of §8 */
    CNS_LOSS_MIXING = 121,            /**< int, {0, 1}, default 0 (the default preset; §12 and
                                         CNS_PRESET_PAPER: 1); 0 forces drawn lambda = 0 */
    CNS_LOSS_REPEL = 122,             /**< int, {0, 1}, default 0: 1 adds the fixed direction r̂
                                         as a contrastive column of weight n (§19), with or
                                         without synth. Only its direction matters (the term
                                         normalises every column), so it has no norm. */
    CNS_LOSS_THREADS = 300            /**< int, [1, 256], default 1: worker threads of the
                                         contrastive term; results do not depend on it */
} cns_loss_param;
/** Sets the double tunable param to v; cns_loss_param lists the ids, ranges and rules.
 *  @param l      the handle
 *  @param param  a cns_loss_param id of double type
 *  @param v      the new value, within the parameter's bounds
 *  @return CNS_OK; CNS_E_ARG (NULL handle, or v out of bounds: the value is
 *          unchanged); CNS_E_PARAM (unknown id, or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_loss_set_double(cns_loss *l, int param, double v);
/** Reads the double tunable param. Read-only.
 *  @param l      the handle
 *  @param param  a cns_loss_param id of double type
 *  @param v      receives the value
 *  @return CNS_OK; CNS_E_ARG (NULL handle or v); CNS_E_PARAM (unknown id,
 *          or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_loss_get_double(const cns_loss *l, int param, double *v);
/** Sets the integer tunable param to v (see cns_loss_set_double for the rules).
 *  @param l      the handle
 *  @param param  a cns_loss_param id of integer type
 *  @param v      the new value, within the parameter's bounds
 *  @return CNS_OK; CNS_E_ARG (NULL handle, or v out of bounds: the value is
 *          unchanged); CNS_E_PARAM (unknown id, or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_loss_set_int(cns_loss *l, int param, int64_t v);
/** Reads the integer tunable param. Read-only.
 *  @param l      the handle
 *  @param param  a cns_loss_param id of integer type
 *  @param v      receives the value
 *  @return CNS_OK; CNS_E_ARG (NULL handle or v); CNS_E_PARAM (unknown id,
 *          or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_loss_get_int(const cns_loss *l, int param, int64_t *v);
/** The closed range [min, max] that holds the valid values (see the open
 * bounds above). Read-only, needs no handle. CNS_E_PARAM for an unknown id.
 *  @param param  a cns_loss_param id
 *  @param min    receives the lower end
 *  @param max    receives the upper end
 *  @return CNS_OK; CNS_E_PARAM (unknown id); CNS_E_ARG (NULL min or max).
 */
CNS_API CNS_NODISCARD cns_status cns_loss_param_bounds(int param, double *min, double *max);

/** Sets the epoch (0-based, CNS_E_ARG when negative) that the curriculum's
 * p = min(epoch / curriculum_epochs, 1) is computed from, and restarts the
 * count of computes that keys the draws (see Randomness above).
 * @param l      the loss
 * @param epoch  the epoch, >= 0
 * @return CNS_OK, or CNS_E_ARG (NULL l, negative epoch).
 */
CNS_API CNS_NODISCARD cns_status cns_loss_set_epoch(cns_loss *l, int64_t epoch);

/** The loss terms of the last successful compute (0 before one). A failed
 * compute leaves them unchanged. */
typedef enum cns_loss_term {
    CNS_TERM_TOTAL = 0, /**< bpr + cl_weight * cl */
    CNS_TERM_BPR = 1,   /**< the BPR term (on the mixed negative with h) */
    CNS_TERM_CL = 2,    /**< unweighted contrastive term; 0 without h and without
                           the repel column, or when cl_weight = 0 (it is then
                           not computed) */
    CNS_TERM_LAMBDA = 3 /**< mean lambda of the batch; 0 without h */
} cns_loss_term;
/** The value of a term (cns_loss_term) of the last successful compute.
 * NaN for an unknown term or a NULL handle. Read-only.
 *  @param l     the loss
 *  @param term  a cns_loss_term
 *  @return the term's value.
 */
CNS_API double cns_loss_term_value(const cns_loss *l, int term);

/** Computes the loss of n >= 1 rows and its gradients.
 * u, pos, neg: n x dim rows of the final embeddings (required).
 * synth: n x dim synthesized negatives h, or NULL for plain BPR on neg
 *   (plus the contrastive term on [r̂; neg] when CNS_LOSS_REPEL = 1).
 * lambda: n mixing weights in [0, 1], or NULL to draw them from the
 *   curriculum (ignored without synth). Given weights are used as they
 *   are: min_mix and CNS_LOSS_MIXING shape only the drawn ones.
 * grad_u, grad_pos, grad_neg: n x dim outputs (overwritten), dL/d(row);
 *   they must not overlap the inputs.
 * loss (optional): the total.
 * Rows are normalised for the contrastive term as x / max(|x|, 1e-12).
 * CNS_E_ARG for a NULL row or output, n = 0, or a lambda outside [0, 1]
 * (the message names it); CNS_E_NOMEM when the scratch cannot grow;
 * CNS_E_NUMERIC when an input, the loss or a gradient is not finite (the
 * message names the term and the row). On failure the gradient buffers
 * hold unspecified values.
 * The widths of the rows are not checked here (the call cannot see them):
 * prefer cns_loss_compute_rows, which is told the width and the strides
 * and refuses a width other than the loss's with CNS_E_SIZE.
 * @param l         the loss (one thread at a time)
 * @param u         n x dim user rows
 * @param pos       n x dim positive rows
 * @param neg       n x dim random negative rows
 * @param synth     n x dim synthesized negatives, or NULL
 * @param lambda    n mixing weights, or NULL
 * @param n         rows, >= 1
 * @param grad_u    n x dim out: dL/du
 * @param grad_pos  n x dim out: dL/dpos
 * @param grad_neg  n x dim out: dL/dneg
 * @param loss      optional out: the total
 * @return CNS_OK, CNS_E_ARG, CNS_E_NOMEM, CNS_E_NUMERIC.
 */
CNS_API CNS_NODISCARD cns_status cns_loss_compute(cns_loss *l, const float *u, const float *pos,
                                                  const float *neg, const float *synth,
                                                  const float *lambda, size_t n, float *grad_u,
                                                  float *grad_pos, float *grad_neg, double *loss);

/** The embedding width the loss was created with (desc.dim), or 0 for a
 *  NULL handle. Read-only.
 *  @param l  the loss
 *  @return the width, or 0.
 */
CNS_API int32_t cns_loss_dim(const cns_loss *l);

/** A batch for cns_loss_compute_rows: where its rows are, how wide they
 *  are, and which form of the gradients to return.
 *
 *  Fill with cns_loss_rows_init(), then set the fields. The library reads
 *  only the first struct_size bytes (fields a newer header appends keep
 *  their defaults for an older caller). Every pointer is borrowed for the
 *  call only. Row b of a table x starts at x + b * x_stride (in floats);
 *  a stride of 0 means dim (packed rows), a stride smaller than dim gives
 *  CNS_E_SIZE. Inputs and outputs must not overlap.
 */
typedef struct cns_loss_rows {
    size_t struct_size;      /**< = sizeof(cns_loss_rows), set by cns_loss_rows_init */
    int32_t dim;             /**< width of every row; must equal cns_loss_dim(), else CNS_E_SIZE */
    int32_t per_row;         /**< 0 (default): gradients of the batch mean, as cns_loss_compute;
                                  1: gradients of the batch sum (n times the mean's), for a
                                  host that applies its own learning rate per row */
    size_t n;                /**< rows in the batch, >= 1 */
    const float *u;          /**< n rows: the users' final embeddings (required) */
    size_t u_stride;         /**< floats between u rows, 0 = dim */
    const float *pos;        /**< n rows: the positives (required) */
    size_t pos_stride;       /**< floats between pos rows, 0 = dim */
    const float *neg;        /**< n rows: the random negatives (required) */
    size_t neg_stride;       /**< floats between neg rows, 0 = dim */
    const float *synth;      /**< n rows: the synthesized negatives h, or NULL for plain BPR */
    size_t synth_stride;     /**< floats between synth rows, 0 = dim */
    const float *lambda;     /**< n mixing weights in [0, 1], or NULL to draw them (§8) */
    float *grad_u;           /**< n rows out: dL/du (overwritten) */
    size_t grad_u_stride;    /**< floats between grad_u rows, 0 = dim */
    float *grad_pos;         /**< n rows out: dL/dpos (overwritten) */
    size_t grad_pos_stride;  /**< floats between grad_pos rows, 0 = dim */
    float *grad_neg;         /**< n rows out: dL/dneg (overwritten) */
    size_t grad_neg_stride;  /**< floats between grad_neg rows, 0 = dim */
    float *lambda_out;       /**< optional n out: the lambda used for each row (the drawn or
                                  the given ones; all 0 without synth) */
} cns_loss_rows;

/** Sets rows to the defaults: struct_size, every pointer NULL, every
 *  stride 0 (packed), dim 0 (must be set), per_row 0. NULL is a no-op.
 *  @param rows  the struct to fill, or NULL
 */
CNS_API void cns_loss_rows_init(cns_loss_rows *rows);

/** The loss and gradients of cns_loss_compute, with the width checked,
 *  rows at any stride, and optionally per-row gradients and the lambdas.
 *
 *  The loss itself (and cns_loss_term_value) is always the batch mean. The
 *  gradients: with per_row = 0 they are those of the mean, exactly as
 *  cns_loss_compute returns them; with per_row = 1 they are those of the
 *  batch sum, n times larger (computed without the 1/n, not multiplied
 *  back). For the BPR term row b's gradient is then the gradient of row
 *  b's own triplet loss. The contrastive term couples the rows: every
 *  anchor's softmax runs over all 2n negatives (and r̂ with CNS_LOSS_REPEL), so the neg row b also
 *  receives the push from the other rows' anchors, and its per-row
 *  gradient is d(sum of all rows' terms)/d(neg_b), not row b's term
 *  alone. An SGD or Hogwild host applies row -= lr * grad per row.
 *
 *  @param l     the loss handle (used by one thread at a time)
 *  @param rows  the batch; read only, borrowed for the call
 *  @param loss  optional out: the total (batch mean)
 *  @return CNS_OK; CNS_E_SIZE for a bad struct_size, a dim other than the
 *          loss's (the message names both) or a stride below dim;
 *          CNS_E_ARG for a NULL handle, row table or output, n = 0,
 *          per_row not 0 or 1, a lambda outside [0, 1]; CNS_E_NOMEM;
 *          CNS_E_NUMERIC (the message names the term and the row). The
 *          messages start with "cns_loss_compute_rows: ". On failure the
 *          outputs hold unspecified values.
 */
CNS_API CNS_NODISCARD cns_status cns_loss_compute_rows(cns_loss *l, const cns_loss_rows *rows,
                                                       double *loss);

/** Sets the repel direction r̂ of CNS_LOSS_REPEL (§19): dir holds dim
 * values (dim must equal desc.dim), copied and scaled to unit length; the
 * caller keeps ownership. dir NULL (dim 0 or desc.dim) restores the seeded
 * direction, the one the sampler's CNS_MODE_DIRECTION draws from the same
 * seed. CNS_E_ARG for a NULL handle, a dim mismatch, a non-finite value or
 * a zero vector (r̂ unchanged; the message says which). Applies from the
 * next compute; the repel column is used only while CNS_LOSS_REPEL = 1.
 * Not saved by cns_loss_save (see "state" below). Not thread-safe with
 * other calls on l.
 * @param l    the loss
 * @param dir  dim floats (copied), or NULL for the seeded direction
 * @param dim  the length of dir: desc.dim (or 0 with dir NULL)
 * @return CNS_OK or CNS_E_ARG.
 */
CNS_API CNS_NODISCARD cns_status cns_loss_set_repel_direction(cns_loss *l, const float *dir,
                                                              size_t dim);
/** Copies the current unit r̂ (dim values, dim = desc.dim) into out.
 * CNS_E_ARG for NULL l or out, or a dim mismatch (no message: read-only,
 * as the other getters, so concurrent getters are safe).
 * @param l    the loss
 * @param out  dim floats out
 * @param dim  must equal desc.dim
 * @return CNS_OK or CNS_E_ARG.
 */
CNS_API CNS_NODISCARD cns_status cns_loss_get_repel_direction(const cns_loss *l, float *out,
                                                              size_t dim);

/** The detail of the most recent failed call on l ("" if none; a success
 * does not clear it). Never NULL; valid until the next call on l.
 *  @param l  the loss
 *  @return the message.
 */
CNS_API const char *cns_loss_last_error(const cns_loss *l);

/* ---- state (added with state in memory) ---------------------------------- */

/** Saves l to path (a loss checkpoint).
 *
 * A loss checkpoint (docs/CHECKPOINT.md, kind 3) holds the descriptor
 * (dim, seed), every tunable except CNS_LOSS_THREADS (a runtime setting,
 * 1 after a load), the epoch and the number of computes since the last
 * cns_loss_set_epoch. Those last two key the lambda draws and the
 * positive noise, so a loaded loss draws exactly what the saved one would
 * have drawn next: a run saved after k computes and resumed from the
 * checkpoint computes bit for bit what an uninterrupted run computes. The
 * terms of the last compute (cns_loss_term_value) and the scratch are not
 * saved: they read 0 until the loaded loss first computes. Nor is a repel
 * direction set with cns_loss_set_repel_direction: a loaded loss holds the
 * direction seeded from the saved seed (§19), so a host that set its own
 * sets it again after the load. CNS_LOSS_REPEL itself is saved; files
 * written before it existed load with CNS_LOSS_REPEL = 0.
 *
 * cns_loss_save writes path crash-safely, with the guarantees of
 * cns_model_save: CNS_OK, CNS_E_ARG (NULL l or path), CNS_E_IO,
 * CNS_E_NOMEM. cns_loss_load: CNS_E_NOFILE, CNS_E_IO, CNS_E_CORRUPT (any
 * failed check, including a file of another kind), CNS_E_VERSION (a newer
 * format, or a tunable this library does not know), CNS_E_NOMEM,
 * CNS_E_ARG (NULL out or path, bad allocator); on failure *out is NULL and
 * err says why.
 *
 * The memory forms hold the same bytes as the file, with the contract of
 * cns_model_save_mem / cns_model_load_mem: buf NULL is a size query
 * (*size gets the byte count); cap below it is CNS_E_SIZE with *size set
 * to the count needed and buf untouched; a loaded buffer passes the same
 * checks with the same statuses as a file, is borrowed for the call and
 * needs no alignment. A loss checkpoint is a few hundred bytes.
 *
 * Threads: save reads l (no other call on l meanwhile); load touches no
 * shared state.
 *  @param l     the loss; not modified (its message changes on failure)
 *  @param path  the file to write
 *  @return CNS_OK, CNS_E_ARG, CNS_E_IO, CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_loss_save(cns_loss *l, const char *path);
/** Loads a loss checkpoint written by cns_loss_save (or the bytes of
 *  cns_loss_save_mem); see cns_loss_save for the contents, statuses and
 *  threads.
 *  @param path   the file to read
 *  @param alloc  NULL for malloc/free
 *  @param out    receives the loss on success, NULL on failure
 *  @param err    optional detail on failure
 *  @return CNS_OK, CNS_E_NOFILE, CNS_E_IO, CNS_E_CORRUPT, CNS_E_VERSION,
 *          CNS_E_NOMEM, CNS_E_ARG. */
CNS_API CNS_NODISCARD cns_status cns_loss_load(const char *path, const cns_allocator *alloc,
                                               cns_loss **out, cns_error *err);
/** cns_loss_save into the caller's buffer (see cns_loss_save for the
 *  memory forms' contract).
 *  @param l     the loss; not modified (its message changes on failure)
 *  @param buf   caller memory of cap bytes, or NULL for the size query
 *  @param cap   bytes at buf (ignored when buf is NULL)
 *  @param size  out: the checkpoint's size in bytes (required)
 *  @return CNS_OK, CNS_E_ARG, CNS_E_SIZE, CNS_E_NOMEM. */
CNS_API CNS_NODISCARD cns_status cns_loss_save_mem(cns_loss *l, void *buf, size_t cap,
                                                   size_t *size);
/** cns_loss_load from size bytes at buf (see cns_loss_save for the memory
 *  forms' contract). The buffer is borrowed for the call only.
 *  @param buf    the checkpoint's bytes
 *  @param size   bytes at buf
 *  @param alloc  NULL for malloc/free
 *  @param out    receives the loss on success, NULL on failure
 *  @param err    optional detail on failure
 *  @return the statuses of cns_loss_load but CNS_E_NOFILE and CNS_E_IO. */
CNS_API CNS_NODISCARD cns_status cns_loss_load_mem(const void *buf, size_t size,
                                                   const cns_allocator *alloc, cns_loss **out,
                                                   cns_error *err);

#ifdef __cplusplus
}
#endif

#endif
