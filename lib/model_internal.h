/* Internal: the model handle's layout (ALGORITHM.md §2), shared with the
 * checkpoint code. What a checkpoint must hold to rebuild a model that
 * scores exactly like the saved one:
 *   - shape: num_users, num_items, dim, layers, seed;
 *   - the graph: user_ptr (num_users + 1) and items (user_ptr[num_users]);
 *     the normalised adjacency and every other buffer are derived from it;
 *   - ego (E0, (num_users + num_items) x dim, users first);
 *   - the hyperparameters: adam.lr, adam.beta1, adam.beta2, adam.eps, reg
 *     (threads is a runtime choice; saving it is optional);
 *   - Adam state: adam.m, adam.v (each adam.n = (num_users + num_items) x
 *     dim floats, same layout as ego) and adam.t (= steps taken).
 * A loader calls cns__model_new() with the saved shape and graph (it
 * validates the graph), copies ego / adam.m / adam.v / adam.t and the
 * hyperparameters in, sets ego_unchecked = 1 (or validates ego itself),
 * then cns__model_refresh() to compute E. */
#ifndef CNS_MODEL_INTERNAL_H
#define CNS_MODEL_INTERNAL_H

#include "adam.h"
#include "alloc.h"
#include "cnsdiff/model.h"
#include "lightgcn.h"

/* The shape that fixes every size. */
typedef struct cns__model_shape {
    int32_t num_users;
    int32_t num_items;
    int32_t dim;     /* [1, CNS__MODEL_MAX_DIM] */
    int32_t layers;  /* [0, CNS__MODEL_MAX_LAYERS] */
    uint64_t seed;   /* Xavier seed (kept so a checkpoint can record it) */
} cns__model_shape;

#define CNS__MODEL_MAX_DIM 4096
#define CNS__MODEL_MAX_LAYERS 8
#define CNS__MODEL_MAX_THREADS 256

struct cns_model {
    cns__alloc al;
    cns__model_shape shape;
    size_t rows;         /* num_users + num_items */
    size_t d;            /* dim as size_t */

    /* The training graph, copied: sorted items per user (CSR). recommend
     * walks these rows to skip training items. */
    size_t *user_ptr;    /* num_users + 1 */
    int32_t *items;      /* user_ptr[num_users] */
    cns__adj adj;        /* Â, derived from the graph */

    /* rows x d each, row-major, users first then items. */
    float *ego;          /* E0: the parameters */
    float *emb;          /* E: final embeddings as of the last forward */
    float *grad;         /* dL/dE, accumulated by the host */
    unsigned char *grad_live; /* rows: 1 when grad's row may be nonzero */
    unsigned char *row_mark;  /* rows: scratch flags of cns__model_forward_batch */
    int32_t *row_list;   /* rows: ascending row ids handed to the propagation */
    size_t *live_row_ptr; /* rows + 1: the backward's copy of Â's live entries */
    int32_t *live_col;   /* 2 x interactions, the same */
    float *live_val;     /* 2 x interactions, the same */
    float *grad_ego;     /* dL/dE0 from the last backward */
    float *s1, *s2;      /* propagation scratch (s1 for layers >= 2, s2 for >= 3) */

    cns__adam adam;      /* lr, betas, eps, moments and t (steps taken) */
    double reg;          /* L2 weight */
    int threads;         /* propagation workers */
    int grad_ready;      /* grad_ego holds a backward not yet stepped */
    int ego_unchecked;   /* ego written from outside (set_ego_row, a loader):
                            the next forward scans it for non-finite values */
    int64_t refresh_every; /* CNS_MODEL_REFRESH_EVERY; >= 2: the trainer's stale path */
    float *ego_snap;     /* rows x d, with refresh_every >= 2: E0 of the last refresh */
    int sparse_adam;     /* CNS_MODEL_SPARSE_ADAM: the trainer's row-sparse steps */
    int32_t *step_rows;  /* rows, with sparse_adam: the rows of a row-sparse gradient */
    size_t n_step_rows;  /* how many step_rows hold, ascending */
    int grad_rows;       /* grad_ready and grad_ego is valid on step_rows only */
    uint64_t propagations; /* calls of the propagation kernel (forward or backward) */

    char last_error[CNS_ERROR_MESSAGE_SIZE];

    /* cns_model_train_data(): a read-only dataset over user_ptr / items
     * (shared, not copied) plus its own popularity array (model_io.c). */
    struct cns_dataset *train_view;

    /* The raw ids of users and items (cns_model_set_idmap, checkpoint
     * section 'IDMP'), or NULL for dense ids. Owned. */
    struct cns_idmap *idmap;
};

/* Allocates a model over the given graph with zero ego embeddings, zero
 * Adam state and default hyperparameters; nothing is initialised or
 * propagated. Validates the shape and the graph (offsets non-decreasing
 * from 0, item ids in range and strictly increasing per user): CNS_E_ARG
 * with err naming the first problem (a loader reports it as
 * CNS_E_CORRUPT), CNS_E_SIZE when the graph is too large for int32 node
 * ids, CNS_E_NOMEM. On failure *out is NULL. */
cns_status cns__model_new(const cns__alloc *al, const cns__model_shape *shape,
                          const size_t *user_ptr, const int32_t *items, cns_model **out,
                          cns_error *err);

/* Xavier-uniform E0 per table from shape.seed (ALGORITHM.md §2). */
void cns__model_init_xavier(cns_model *m);

/* E from E0 without the finiteness checks of cns_model_forward() (for a
 * loader that has validated the values itself). */
void cns__model_refresh(cns_model *m);

/* The trainer's forward: as cns_model_forward(), but the last layer
 * computes only the rows of the batch (users, and items pos and neg: n
 * each, all required), about half the entries of Â on Food. Every other
 * row of the final embeddings is left stale, so the caller must run a
 * full forward before anyone else reads them. The listed rows are
 * bit-identical to a full forward's. The skipped rows are never checked,
 * so this runs only when no row can overflow: when the weights' maximum
 * (known from Adam's last step) times the growth the layers allow stays
 * far below FLT_MAX; otherwise it runs the full forward. Either way a
 * status is what cns_model_forward() would return. CNS_E_ARG for an id
 * out of range. */
cns_status cns__model_forward_batch(cns_model *m, const int32_t *users, const int32_t *pos,
                                    const int32_t *neg, size_t n);

/* ---- the stale path of ALGORITHM.md §17 (CNS_MODEL_REFRESH_EVERY >= 2) ---- */

/* Records E0 as the ego of the full forward just run (ego_snap must exist). */
void cns__model_snapshot(cns_model *m);

/* out[b] = E[ids[b]] + (E0 - E0_snap)[ids[b]] / (layers + 1): the last full
 * forward's rows, corrected by the change of the rows' own ego term since.
 * CNS_E_NUMERIC (rows unchanged in E) when a value is not finite,
 * CNS_E_STATE without a snapshot, CNS_E_ARG for an id out of range. */
cns_status cns__model_gather_stale(cns_model *m, cns_table table, const int32_t *ids, size_t n,
                                   float *out);

/* The backward of a stale step: dL/dE0 = dL/dE / (layers + 1) on the rows
 * the host accumulated (the E0 term of the exact backward), zero elsewhere,
 * plus the L2 term of cns_model_backward; same statuses and the same
 * grad_ready contract, no propagation. */
cns_status cns__model_backward_self(cns_model *m, const int32_t *users, const int32_t *pos,
                                    const int32_t *neg, size_t n, double *reg_loss);

/* ---- row-sparse steps (CNS_MODEL_SPARSE_ADAM, ALGORITHM.md §17) ---------- */

/* The backward of a step whose gradient is zero outside the batch: the
 * rows the host accumulated and the batch's rows (users, pos, neg: the L2
 * term's) are listed in step_rows, and only they of grad_ego are written:
 * dL/dE / (layers + 1) plus the L2 term of cns_model_backward. With 0
 * layers that is the exact gradient, bit for bit; with more, it is the
 * stale step's (cns__model_backward_self). The other rows of grad_ego
 * are left as they were and never read: the next cns_model_step is the
 * lazy Adam step over step_rows. Same statuses as backward_self;
 * CNS_E_STATE without CNS_MODEL_SPARSE_ADAM. */
cns_status cns__model_backward_rows(cns_model *m, const int32_t *users, const int32_t *pos,
                                    const int32_t *neg, size_t n, double *reg_loss);

/* out[b] = E0[ids[b]]: the final embeddings of a model with 0 layers,
 * current even when E was not recomputed since the last step.
 * CNS_E_NUMERIC when a value is not finite (only cns_model_set_ego_row or
 * a loader can plant one), CNS_E_ARG for an id out of range or a model
 * with layers. */
cns_status cns__model_gather_ego(cns_model *m, cns_table table, const int32_t *ids, size_t n,
                                 float *out);

/* ---- checkpoints and the training-data view (model_io.c) ---------------- */

struct cns__ckpt_io;

/* cns_model_save with injectable I/O (tests make write, fsync or rename
 * fail); io may be NULL. */
cns_status cns__model_save_io(cns_model *m, const char *path, const struct cns__ckpt_io *io);

/* Builds m->train_view over the graph (allocates the view and its
 * popularity array): CNS_E_NOMEM. Called once the graph is in place. */
cns_status cns__model_train_view_build(cns_model *m);
/* Frees m->train_view (the graph arrays stay); NULL view is a no-op. */
void cns__model_train_view_free(cns_model *m);

/* Stores the values vals[0, n) of the model tunables ids[0, n) (the preset
 * tables, preset.c): all are checked first; on failure nothing changes
 * and msg (CNS_ERROR_MESSAGE_SIZE bytes) says which. check_only: only
 * the checks. */
cns_status cns__model_apply_values(cns_model *m, const int *ids, const double *vals, size_t n,
                                   int check_only, char *msg);

#endif
