/* libcnsdiff — the embedding model (ALGORITHM.md §2).
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
 * runs its own worker threads for propagation (CNS_MODEL_THREADS); they
 * never outlive the call that started them.
 */
#ifndef CNSDIFF_MODEL_H
#define CNSDIFF_MODEL_H

#include "common.h"
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cns_model cns_model;

/* Which embedding table a call refers to. */
typedef enum cns_table { CNS_TABLE_USERS = 0, CNS_TABLE_ITEMS = 1 } cns_table;

/* Shape descriptor: everything that fixes sizes. Fill with
 * cns_model_desc_init(), then change fields. */
typedef struct cns_model_desc {
    size_t struct_size;  /* = sizeof(cns_model_desc), set by _init */
    int32_t dim;         /* embedding width, default 64, [1, 4096] */
    int32_t layers;      /* LightGCN layers, default 2, [0, 8]; 0 = MF */
    uint64_t seed;       /* Xavier initialisation seed, default 1 */
} cns_model_desc;

CNS_API void cns_model_desc_init(cns_model_desc *desc);

/* Builds a model over train (the graph is copied; train may be freed
 * afterwards). Initialises E0 Xavier-uniform from desc->seed and computes
 * the final embeddings once. */
CNS_API CNS_NODISCARD cns_status cns_model_create(const cns_dataset *train,
                                                  const cns_model_desc *desc,
                                                  const cns_allocator *alloc, cns_model **out,
                                                  cns_error *err);
CNS_API void cns_model_free(cns_model *m);

/* Tunables. Doubles through _double, integers through _int; the other
 * setter returns CNS_E_PARAM. Out-of-bounds values return CNS_E_ARG and
 * leave the value unchanged. */
typedef enum cns_model_param {
    CNS_MODEL_LR = 100,          /* double, (0, 1e3], default 0.01 */
    CNS_MODEL_REG = 101,         /* double, [0, 1e3], default 1e-4 */
    CNS_MODEL_ADAM_BETA1 = 102,  /* double, [0, 1), default 0.9 */
    CNS_MODEL_ADAM_BETA2 = 103,  /* double, [0, 1), default 0.999 */
    CNS_MODEL_ADAM_EPS = 104,    /* double, (0, 1], default 1e-8 */
    CNS_MODEL_THREADS = 200      /* int, [1, 256], default 1: propagation threads */
} cns_model_param;
CNS_API CNS_NODISCARD cns_status cns_model_set_double(cns_model *m, int param, double v);
CNS_API CNS_NODISCARD cns_status cns_model_get_double(const cns_model *m, int param, double *v);
CNS_API CNS_NODISCARD cns_status cns_model_set_int(cns_model *m, int param, int64_t v);
CNS_API CNS_NODISCARD cns_status cns_model_get_int(const cns_model *m, int param, int64_t *v);
CNS_API CNS_NODISCARD cns_status cns_model_param_bounds(int param, double *min, double *max);

/* Shape (read-only). */
CNS_API int32_t cns_model_num_users(const cns_model *m);
CNS_API int32_t cns_model_num_items(const cns_model *m);
CNS_API int32_t cns_model_dim(const cns_model *m);
CNS_API int32_t cns_model_layers(const cns_model *m);

/* Recomputes the final embeddings E from E0 (LightGCN propagation). */
CNS_API CNS_NODISCARD cns_status cns_model_forward(cns_model *m);

/* The final embeddings (num_users x dim and num_items x dim, row-major),
 * as of the last forward. Owned by m; valid until the next call that
 * changes m. Read-only. */
CNS_API const float *cns_model_embeddings(const cns_model *m, cns_table table);

/* Copies rows ids[0..n) of the final table into out (n x dim). Read-only.
 * CNS_E_ARG for an id out of range. */
CNS_API CNS_NODISCARD cns_status cns_model_gather(const cns_model *m, cns_table table,
                                                  const int32_t *ids, size_t n, float *out);

/* Overwrites ego row `row` of table with dim values (e.g. pretrained
 * embeddings). Call cns_model_forward() afterwards. */
CNS_API CNS_NODISCARD cns_status cns_model_set_ego_row(cns_model *m, cns_table table, int32_t row,
                                                       const float *values);
/* Copies ego row `row` into values (dim floats). Read-only. */
CNS_API CNS_NODISCARD cns_status cns_model_get_ego_row(const cns_model *m, cns_table table,
                                                       int32_t row, float *values);

/* Gradient of the loss with respect to the final embeddings: zero it,
 * then add n rows grad (n x dim) into rows ids of table (repeated ids add). */
CNS_API CNS_NODISCARD cns_status cns_model_zero_grad(cns_model *m);
CNS_API CNS_NODISCARD cns_status cns_model_accumulate_grad(cns_model *m, cns_table table,
                                                           const int32_t *ids, size_t n,
                                                           const float *grad);

/* Turns the accumulated dL/dE into dL/dE0 (dE0 = 1/(L+1) sum_k Â^k dE) and
 * adds the L2 term reg * (|e0_u|^2 + |e0_pos|^2 + |e0_neg|^2) / (2n) of the
 * batch rows (users[b], pos[b], neg[b]); neg may be NULL. reg_loss
 * (optional) receives that term's value. CNS_E_NUMERIC when a gradient is
 * not finite (nothing is changed). */
CNS_API CNS_NODISCARD cns_status cns_model_backward(cns_model *m, const int32_t *users,
                                                    const int32_t *pos, const int32_t *neg,
                                                    size_t n, double *reg_loss);

/* One Adam step on E0 with the gradient of the last backward. CNS_E_NUMERIC
 * (and E0 left unchanged) when the update would make a weight non-finite. */
CNS_API CNS_NODISCARD cns_status cns_model_step(cns_model *m);

/* Number of Adam steps taken so far. */
CNS_API uint64_t cns_model_steps_taken(const cns_model *m);

/* Top-k items for user by <e_u, e_i> over the final embeddings, excluding
 * the user's training items. Ties go to the smaller item id. items (and
 * scores, optional) hold at least k entries; *n_out receives how many were
 * written (fewer than k when fewer items are left). Read-only and
 * allocation-free: safe from many threads on one shared model. */
CNS_API CNS_NODISCARD cns_status cns_model_recommend(const cns_model *m, int32_t user, size_t k,
                                                     int32_t *items, float *scores,
                                                     size_t *n_out);

/* Checkpoints (format: docs/CHECKPOINT.md). save writes the ego
 * embeddings, the graph, the hyperparameters and the Adam state to path
 * crash-safely: a temporary file in the same directory, fsync, rename; on
 * failure path is untouched and no temporary file remains (CNS_E_IO).
 * load rebuilds a model that scores exactly like the saved one; it returns
 * CNS_E_NOFILE, CNS_E_IO, CNS_E_CORRUPT (any failed check, including a
 * non-finite value), CNS_E_VERSION or CNS_E_NOMEM. */
CNS_API CNS_NODISCARD cns_status cns_model_save(cns_model *m, const char *path);
CNS_API CNS_NODISCARD cns_status cns_model_load(const char *path, const cns_allocator *alloc,
                                                cns_model **out, cns_error *err);

/* The detail of the last failed call on m ("" if none). Valid until the
 * next call on m. */
CNS_API const char *cns_model_last_error(const cns_model *m);

/* ---- added with checkpoints ---------------------------------------------- */

/* The model's training graph as a read-only dataset (the same users,
 * items and interactions as the dataset it was created from, or the graph
 * a checkpoint holds), e.g. to mask training items when evaluating a
 * loaded model. Owned by m: valid until cns_model_free(m); never free it.
 * Its skipped and duplicates counts are 0. NULL when m is NULL.
 * Read-only. */
CNS_API const cns_dataset *cns_model_train_data(const cns_model *m);

#ifdef __cplusplus
}
#endif

#endif
