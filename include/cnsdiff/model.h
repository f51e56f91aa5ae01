/** @file
 * libcnsdiff — the embedding model (ALGORITHM.md §2).
 *
 * Matrix factorisation (layers = 0) or LightGCN (layers >= 1) over the
 * bipartite graph of a training dataset. The model owns its ego embeddings
 * E0 = [E_u; E_i], the normalised adjacency (CSR, never dense), the final
 * embeddings E = mean_k Â^k E0, a gradient buffer for E and Adam state.
 *
 * The host-driven step (see examples/custom_loop.c):
 *
 *     cns_model_forward(m);                       // E from E0
 *     cns_model_gather(m, CNS_TABLE_USERS, u, n, eu);   // rows of E
 *     ... loss on the rows, gradients dL/dE rows ...
 *     cns_model_zero_grad(m);
 *     cns_model_accumulate_grad(m, CNS_TABLE_USERS, u, n, gu);  // and items
 *     cns_model_backward(m, u, ip, in, n, &reg);  // dL/dE0 (+ L2 on batch rows)
 *     cns_model_step(m);                          // Adam on E0
 *
 * Threads: one thread at a time per model, except the calls marked
 * read-only, which may run concurrently on a const model that no thread is
 * changing (e.g. several threads serving cns_model_recommend()). The model
 * runs its own worker threads for propagation and Adam (CNS_MODEL_THREADS);
 * they never outlive the call that started them. Every result is
 * bit-identical for any thread count.
 *
 * Messages: read-only calls never write the last-error buffer (they may
 * run concurrently); their failures are told by the status alone.
 *
 * Non-finite values (CNS_E_NUMERIC) are caught at the first call that sees
 * them, and never reach the weights:
 *  - cns_model_set_ego_row() stores what it is given; the next
 *    cns_model_forward() scans E0 and reports a non-finite ego value (E
 *    untouched);
 *  - cns_model_backward() reports a non-finite dL/dE0 (from dL/dE or from
 *    the L2 term of a non-finite ego row in the batch) and keeps no
 *    gradient, so a following cns_model_step() returns CNS_E_STATE;
 *  - cns_model_step() reports an update that would make a weight or an Adam
 *    moment non-finite (e.g. a non-finite ego row outside the batch);
 *    weights, moments and the step count stay unchanged.
 *  The message names the table and the row.
 */
#ifndef CNSDIFF_MODEL_H
#define CNSDIFF_MODEL_H

#include "common.h"
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An embedding model, MF or LightGCN (opaque; see model.h). */
typedef struct cns_model cns_model;

/** Which embedding table a call refers to. */
typedef enum cns_table {
    CNS_TABLE_USERS = 0, /**< the user rows */
    CNS_TABLE_ITEMS = 1  /**< the item rows */
} cns_table;

/** Shape descriptor: everything that fixes sizes. Fill with
 * cns_model_desc_init(), then change fields. The library reads only the
 * first struct_size bytes: a struct_size below that of this first version
 * (struct_size, dim, layers, seed: 24 bytes) is CNS_E_SIZE; a larger one
 * (a newer header) is accepted and fields this library does not know are
 * ignored. Fields a future version appends keep their defaults when an
 * older caller's struct_size does not cover them. */
typedef struct cns_model_desc {
    size_t struct_size;  /**< = sizeof(cns_model_desc), set by _init */
    int32_t dim;         /**< embedding width, default 64, [1, 4096] */
    int32_t layers;      /**< LightGCN layers, default 2, [0, 8]; 0 = MF */
    uint64_t seed;       /**< Xavier initialisation seed, default 1 */
} cns_model_desc;

/** Sets desc to the defaults: struct_size = sizeof(cns_model_desc), dim 64,
 *  layers 2, seed 1. NULL is a no-op.
 *  @param desc  the descriptor to fill, or NULL */
CNS_API void cns_model_desc_init(cns_model_desc *desc);

/** Builds a model over train (the graph is copied; train may be freed
 * afterwards). Initialises E0 Xavier-uniform from desc->seed (one seeded
 * stream per table: the same seed gives the same bits at any
 * thread count) and computes the final embeddings once.
 * Returns CNS_E_ARG (a NULL argument, dim or layers out of range, an
 * allocator with a NULL function), CNS_E_SIZE (struct_size too small, or
 * users + items beyond 2^31 - 1) or CNS_E_NOMEM; err names the cause.
 * @param train  the training set; copied, only read
 * @param desc   the shape (see cns_model_desc)
 * @param alloc  NULL for malloc/free
 * @param out    receives the model on success
 * @param err    optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_SIZE, CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_model_create(const cns_dataset *train,
                                                  const cns_model_desc *desc,
                                                  const cns_allocator *alloc, cns_model **out,
                                                  cns_error *err);
/** Frees m and everything it owns. NULL is a no-op.
 *  @param m  the model, or NULL */
CNS_API void cns_model_free(cns_model *m);

/** Tunables. Doubles through _double, integers through _int; the other
 * setter (or getter) returns CNS_E_PARAM, as does an unknown id.
 * Out-of-bounds values (and NaN) return CNS_E_ARG and leave the value
 * unchanged. cns_model_param_bounds() gives the closed ends of each range;
 * the ends written "(" or ")" below are themselves excluded. Getters are
 * read-only. */
typedef enum cns_model_param {
    CNS_MODEL_LR = 100,          /**< double, (0, 1e30], default 0.01 */
    CNS_MODEL_REG = 101,         /**< double, [0, 1e3], default 1e-4 */
    CNS_MODEL_ADAM_BETA1 = 102,  /**< double, [0, 1), default 0.9 */
    CNS_MODEL_ADAM_BETA2 = 103,  /**< double, [0, 1), default 0.999 */
    CNS_MODEL_ADAM_EPS = 104,    /**< double, (0, 1], default 1e-8 */
    CNS_MODEL_THREADS = 200,     /**< int, [1, 256], default 1: propagation threads */
    /** int, [0, 1e9], default 0. Read by cns_trainer_run_epoch only (a host
     * loop's own forward and backward calls are always exact): 0 or 1 = exact
     * propagation at every step. K >= 2 = stale propagation (ALGORITHM.md
     * §17): within an epoch, steps 0, K, 2K, ... propagate in full and take
     * the exact gradient; the steps between reuse that propagation, corrected
     * by the change of the batch rows' own E0, and take only the E0 term of
     * the gradient. DNS steps stay exact. Setting K >= 2 allocates one more
     * rows x dim float table (CNS_E_NOMEM if it cannot). Not saved in
     * checkpoints (a runtime choice, like the threads). */
    CNS_MODEL_REFRESH_EVERY = 210,
    /* int, [0, 1], default 0. Read by cns_trainer_run_epoch only (a host
     * loop's cns_model_backward and cns_model_step are always dense): 1 =
     * lazy Adam (ALGORITHM.md §17) on the steps whose gradient is zero
     * outside the batch's rows -- the stale path's steps between refreshes
     * (CNS_MODEL_REFRESH_EVERY >= 2) and every step of a model with 0
     * layers (plain MF, which then also skips the per-step copy of E0 to
     * E). Such a step moves only the batch's rows and their Adam moments;
     * the other rows' moments do not decay and their weights stay put,
     * which a dense step would move by their momentum. This changes the
     * results against dense Adam. DNS steps stay dense. Setting 1
     * allocates one int32 per row (CNS_E_NOMEM if it cannot). Not saved in
     * checkpoints (a runtime choice, like the threads). */
    CNS_MODEL_SPARSE_ADAM = 220
} cns_model_param;
/** Sets the double tunable param to v; cns_model_param lists the ids, ranges and rules.
 *  @param m      the handle
 *  @param param  a cns_model_param id of double type
 *  @param v      the new value, within the parameter's bounds
 *  @return CNS_OK; CNS_E_ARG (NULL handle, or v out of bounds: the value is
 *          unchanged); CNS_E_PARAM (unknown id, or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_model_set_double(cns_model *m, int param, double v);
/** Reads the double tunable param. Read-only.
 *  @param m      the handle
 *  @param param  a cns_model_param id of double type
 *  @param v      receives the value
 *  @return CNS_OK; CNS_E_ARG (NULL handle or v); CNS_E_PARAM (unknown id,
 *          or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_model_get_double(const cns_model *m, int param, double *v);
/** Sets the integer tunable param to v (see cns_model_set_double for the rules).
 *  @param m      the handle
 *  @param param  a cns_model_param id of integer type
 *  @param v      the new value, within the parameter's bounds
 *  @return CNS_OK; CNS_E_ARG (NULL handle, or v out of bounds: the value is
 *          unchanged); CNS_E_PARAM (unknown id, or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_model_set_int(cns_model *m, int param, int64_t v);
/** Reads the integer tunable param. Read-only.
 *  @param m      the handle
 *  @param param  a cns_model_param id of integer type
 *  @param v      receives the value
 *  @return CNS_OK; CNS_E_ARG (NULL handle or v); CNS_E_PARAM (unknown id,
 *          or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_model_get_int(const cns_model *m, int param, int64_t *v);
/** The closed range [min, max] that holds the valid values of param
 *  (for a range written with "(" or ")" the end itself is refused by the
 *  setter). Needs no handle; thread-safe.
 *  @param param  a cns_model_param id
 *  @param min    receives the lower end
 *  @param max    receives the upper end
 *  @return CNS_OK; CNS_E_PARAM (unknown id); CNS_E_ARG (NULL min or max). */
CNS_API CNS_NODISCARD cns_status cns_model_param_bounds(int param, double *min, double *max);

/** Shape (read-only). */
/** Number of users. Read-only.
 *  @param m  the model
 *  @return the count; 0 for a NULL model. */
CNS_API int32_t cns_model_num_users(const cns_model *m);
/** Number of items. Read-only.
 *  @param m  the model
 *  @return the count; 0 for a NULL model. */
CNS_API int32_t cns_model_num_items(const cns_model *m);
/** Embedding width (desc.dim). Read-only.
 *  @param m  the model
 *  @return the width; 0 for a NULL model. */
CNS_API int32_t cns_model_dim(const cns_model *m);
/** LightGCN layers (desc.layers, 0 = MF). Read-only.
 *  @param m  the model
 *  @return the count; 0 for a NULL model. */
CNS_API int32_t cns_model_layers(const cns_model *m);

/** Recomputes the final embeddings E from E0 (LightGCN propagation).
 *  @param m  the model
 *  @return CNS_OK; CNS_E_ARG (NULL m); CNS_E_NUMERIC (a non-finite ego value,
 *          E untouched, or a final embedding that overflowed; the message
 *          names the table and the row).
 */
CNS_API CNS_NODISCARD cns_status cns_model_forward(cns_model *m);

/** The final embeddings (num_users x dim and num_items x dim, row-major),
 * as of the last forward. Owned by m; valid until the next call that
 * changes m. Read-only.
 * @param m      the model
 * @param table  CNS_TABLE_USERS or CNS_TABLE_ITEMS
 * @return the table, or NULL for a NULL model or an unknown table.
 */
CNS_API const float *cns_model_embeddings(const cns_model *m, cns_table table);

/** Copies rows ids[0..n) of the final table into out (n x dim). Read-only.
 * CNS_E_ARG for an id out of range (nothing copied), an unknown table, or
 * NULL ids / out with n > 0.
 * @param m      the model
 * @param table  CNS_TABLE_USERS or CNS_TABLE_ITEMS
 * @param ids    n row ids
 * @param n      number of rows
 * @param out    n x dim floats out
 * @return CNS_OK or CNS_E_ARG.
 */
CNS_API CNS_NODISCARD cns_status cns_model_gather(const cns_model *m, cns_table table,
                                                  const int32_t *ids, size_t n, float *out);

/** Overwrites ego row `row` of table with dim values (e.g. pretrained
 * embeddings), as given: a non-finite value is reported by the next
 * cns_model_forward(). Call cns_model_forward() afterwards.
 * @param m       the model
 * @param table   CNS_TABLE_USERS or CNS_TABLE_ITEMS
 * @param row     the row, in [0, rows of table)
 * @param values  dim floats, copied
 * @return CNS_OK, or CNS_E_ARG (NULL m or values, unknown table, row out of
 *         range; nothing changed).
 */
CNS_API CNS_NODISCARD cns_status cns_model_set_ego_row(cns_model *m, cns_table table, int32_t row,
                                                       const float *values);
/** Copies ego row `row` into values (dim floats). Read-only.
 *  @param m       the model
 *  @param table   CNS_TABLE_USERS or CNS_TABLE_ITEMS
 *  @param row     the row, in [0, rows of table)
 *  @param values  dim floats out
 *  @return CNS_OK, or CNS_E_ARG (NULL m or values, unknown table, row out of
 *          range).
 */
CNS_API CNS_NODISCARD cns_status cns_model_get_ego_row(const cns_model *m, cns_table table,
                                                       int32_t row, float *values);

/** Gradient of the loss with respect to the final embeddings: zero it,
 * then add n rows grad (n x dim) into rows ids of table (repeated ids add).
 * Every id is checked before anything is added (CNS_E_ARG). Non-finite
 * values are accepted here and reported by cns_model_backward().
 * @param m  the model
 * @return CNS_OK, or CNS_E_ARG for a NULL m.
 */
CNS_API CNS_NODISCARD cns_status cns_model_zero_grad(cns_model *m);
/** Adds n rows grad (n x dim) into rows ids of table of the gradient
 *  dL/dE (repeated ids add); see cns_model_zero_grad. Every id is checked
 *  before anything is added.
 *  @param m      the model
 *  @param table  CNS_TABLE_USERS or CNS_TABLE_ITEMS
 *  @param ids    n row ids
 *  @param n      number of rows
 *  @param grad   n x dim gradient rows
 *  @return CNS_OK, or CNS_E_ARG (nothing added). */
CNS_API CNS_NODISCARD cns_status cns_model_accumulate_grad(cns_model *m, cns_table table,
                                                           const int32_t *ids, size_t n,
                                                           const float *grad);

/** Turns the accumulated dL/dE into dL/dE0 (dE0 = 1/(L+1) sum_k Â^k dE) and
 * adds the L2 term reg * (|e0_u|^2 + |e0_pos|^2 + |e0_neg|^2) / (2n) of the
 * batch rows (users[b], pos[b], neg[b]), i.e. reg * e0 / n per occurrence;
 * neg may be NULL; n = 0 adds no L2 term. dL/dE itself is left as it is.
 * reg_loss (optional) receives that term's value (in double).
 * CNS_E_ARG for an id out of range or NULL users / pos with n > 0 (nothing
 * changed); CNS_E_NUMERIC when a gradient is not finite (no gradient is
 * kept; reg_loss untouched).
 * @param m         the model
 * @param users     n user ids of the batch
 * @param pos       n positive item ids
 * @param neg       n negative item ids, or NULL
 * @param n         rows of the batch (0: no L2 term)
 * @param reg_loss  optional out: the L2 term's value
 * @return CNS_OK, CNS_E_ARG, CNS_E_NUMERIC.
 */
CNS_API CNS_NODISCARD cns_status cns_model_backward(cns_model *m, const int32_t *users,
                                                    const int32_t *pos, const int32_t *neg,
                                                    size_t n, double *reg_loss);

/** One Adam step on E0 (all rows) with the gradient of the last backward.
 * CNS_E_STATE when no backward succeeded since the last step.
 * CNS_E_NUMERIC (E0, the moments and the step count left unchanged) when
 * the update would make a weight or a moment non-finite; the gradient is
 * kept, so the step may be retried after lowering CNS_MODEL_LR. The final
 * embeddings are stale until the next cns_model_forward().
 * @param m  the model
 * @return CNS_OK, CNS_E_STATE, CNS_E_NUMERIC (or CNS_E_ARG for a NULL m).
 */
CNS_API CNS_NODISCARD cns_status cns_model_step(cns_model *m);

/** Number of Adam steps taken so far.
 *  @param m  the model
 *  @return the count; 0 for a NULL model.
 */
CNS_API uint64_t cns_model_steps_taken(const cns_model *m);

/** Top-k items for user by <e_u, e_i> over the final embeddings, excluding
 * the user's training items, best first. Ties go to the smaller item id.
 * items (and scores, optional) hold at least k entries; *n_out receives
 * how many were written (fewer than k when fewer items are left; 0 for
 * k = 0, when items may be NULL). CNS_E_ARG for a NULL model / n_out, NULL
 * items with k > 0, or a user out of range. Read-only and allocation-free:
 * safe from many threads on one shared model.
 * @param m       the model
 * @param user    the user id
 * @param k       how many items to return
 * @param items   k entries out: item ids, best first
 * @param scores  optional, k entries out: their scores
 * @param n_out   receives the number of items written
 * @return CNS_OK or CNS_E_ARG.
 */
CNS_API CNS_NODISCARD cns_status cns_model_recommend(const cns_model *m, int32_t user, size_t k,
                                                     int32_t *items, float *scores,
                                                     size_t *n_out);

/** Checkpoints (format: docs/CHECKPOINT.md). save writes the ego
 * embeddings, the graph, the hyperparameters and the Adam state to path
 * crash-safely: a temporary file in the same directory, fsync, rename,
 * fsync of the directory. On failure the temporary file is removed and
 * path holds the previous file, except when only the final directory
 * fsync fails: then CNS_E_IO is returned but the new, complete file is in
 * place. save returns CNS_E_NUMERIC (nothing written) when a weight or
 * Adam moment is not finite, CNS_E_IO, CNS_E_NOMEM or CNS_E_ARG.
 * load rebuilds the model and recomputes its final embeddings from the ego
 * embeddings, so it scores exactly like the saved model did after its
 * last cns_model_forward(); it returns CNS_E_NOFILE, CNS_E_IO,
 * CNS_E_CORRUPT (any failed check, including a non-finite value),
 * CNS_E_VERSION or CNS_E_NOMEM. Thread counts are runtime settings and
 * are not saved.
 * @param m     the model; its weights are not modified
 * @param path  the file to write
 * @return CNS_OK, CNS_E_NUMERIC, CNS_E_IO, CNS_E_NOMEM, CNS_E_ARG.
 */
CNS_API CNS_NODISCARD cns_status cns_model_save(cns_model *m, const char *path);
/** Loads a model saved by cns_model_save (or the bytes of
 *  cns_model_save_mem written to a file); see cns_model_save.
 *  @param path   the file to read
 *  @param alloc  NULL for malloc/free
 *  @param out    receives the model on success
 *  @param err    optional detail on failure
 *  @return CNS_OK, CNS_E_NOFILE, CNS_E_IO, CNS_E_CORRUPT, CNS_E_VERSION, CNS_E_ARG,
 *          CNS_E_NOMEM. */
CNS_API CNS_NODISCARD cns_status cns_model_load(const char *path, const cns_allocator *alloc,
                                                cns_model **out, cns_error *err);

/** The detail of the last failed call on m that is not read-only ("" if
 * none; successful calls leave it as it is). Valid until the next call on
 * m. "" for a NULL model.
 * @param m  the model
 * @return the message; never NULL.
 */
CNS_API const char *cns_model_last_error(const cns_model *m);

/* ---- added with checkpoints ---------------------------------------------- */

/** The model's training graph as a read-only dataset (the same users,
 * items and interactions as the dataset it was created from, or the graph
 * a checkpoint holds), e.g. to mask training items when evaluating a
 * loaded model. Owned by m: valid until cns_model_free(m); never free it.
 * Its skipped and duplicates counts are 0. NULL when m is NULL.
 * Read-only.
 * @param m  the model
 * @return the dataset, or NULL.
 */
CNS_API const cns_dataset *cns_model_train_data(const cns_model *m);

/* ---- added with state in memory ------------------------------------------ */

/** The checkpoint of cns_model_save, into the caller's buffer instead of a
 * file: the same bytes, byte for byte (raw ids included when the model
 * has them), so a buffer may be written to a file and loaded with
 * cns_model_load, and the reverse.
 *
 * buf NULL asks for the size: *size gets the byte count and nothing is
 * written (cap is ignored). Otherwise a buffer of cap < the byte count is
 * CNS_E_SIZE with *size set to the count needed and buf untouched; on
 * CNS_OK *size gets the bytes written. The size query does the work of a
 * save except the copy (including the finiteness check), so the count
 * holds until the model next changes.
 *
 * @param m     the model; not modified (its message changes on failure)
 * @param buf   caller memory of cap bytes, or NULL for the size query
 * @param size  out: the checkpoint's size in bytes (required)
 * @return CNS_OK; CNS_E_ARG (NULL m or size); CNS_E_SIZE (buf too small);
 *         CNS_E_NUMERIC (a weight or moment is not finite, nothing
 *         written); CNS_E_NOMEM. Messages start "cns_model_save_mem: ".
 * Threads: as cns_model_save (no other call on m meanwhile).
 * @param cap   bytes at buf (ignored when buf is NULL)
 */
CNS_API CNS_NODISCARD cns_status cns_model_save_mem(cns_model *m, void *buf, size_t cap,
                                                    size_t *size);

/** cns_model_load from size bytes at buf (what cns_model_save_mem or
 * cns_model_save produced). The buffer is borrowed for the call only and
 * is read, never written; it needs no alignment. The same validation as
 * the file form, with the same statuses: CNS_E_CORRUPT (including a
 * truncated buffer), CNS_E_VERSION, CNS_E_NOMEM; CNS_E_ARG for a NULL
 * out, a NULL buf with size > 0, or a bad allocator. On failure *out is
 * NULL and err (may be NULL) says why. Nothing is allocated before the
 * container's header, table and checksums have passed. Thread-safe
 * (touches no shared state).
 * @param buf    the checkpoint's bytes
 * @param size   bytes at buf
 * @param alloc  NULL for malloc/free
 * @param out    receives the model on success
 * @param err    optional detail on failure
 * @return CNS_OK, CNS_E_CORRUPT, CNS_E_VERSION, CNS_E_NOMEM, CNS_E_ARG.
 */
CNS_API CNS_NODISCARD cns_status cns_model_load_mem(const void *buf, size_t size,
                                                    const cns_allocator *alloc, cns_model **out,
                                                    cns_error *err);

#ifdef __cplusplus
}
#endif

#endif
