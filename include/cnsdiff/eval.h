/** @file
 * libcnsdiff — top-K evaluation (ALGORITHM.md §11).
 *
 * An evaluator scores every item for every test user with cblas_sgemm over
 * blocks of users, masks the user's training items, selects the top K with
 * a partial selection (no full sort) and averages Recall, NDCG, Precision,
 * HitRatio and the popularity-debiased IPS-Recall and IPS-NDCG over the
 * test users.
 *
 * Rules (documented in docs/EVALUATION.md):
 *  - A test user is evaluated when it has at least one test item and its id
 *    is < the number of users of the embedding matrix and of the training
 *    set (the two must agree); other test users are skipped, and
 *    *num_evaluated tells how many users the averages are over.
 *  - Test items that are also training items of the user are masked and so
 *    can never be hit; they still count in |test_u| (the denominator).
 *    Test items with id >= num_items likewise count but cannot be hit.
 *  - Ties in score are broken by the smaller item id; a NaN score ranks
 *    like -infinity.
 *  - A user with fewer than K unmasked items gets a shorter list; its
 *    Precision\@K still divides by K.
 *
 * Determinism: results do not depend on CNS_EVAL_THREADS. They do not
 * depend on CNS_EVAL_BLOCK_USERS either as long as the BLAS computes each
 * score the same way whatever the block's row count (true of exactly
 * representable products; a BLAS may otherwise differ in the last bit).
 *
 * Threads: one evaluator, one thread at a time. The embeddings and datasets
 * passed in are only read. CNS_EVAL_THREADS workers rank the users of a
 * block; the BLAS uses its own threads for the product.
 */
#ifndef CNSDIFF_EVAL_H
#define CNSDIFF_EVAL_H

#include "common.h"
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Metric ids: columns of a result row. Values are part of the ABI. */
typedef enum cns_metric {
    CNS_METRIC_RECALL = 0,     /**< Recall\@K */
    CNS_METRIC_NDCG = 1,       /**< NDCG\@K */
    CNS_METRIC_PRECISION = 2,  /**< Precision\@K (divides by K) */
    CNS_METRIC_HIT = 3,        /**< HitRatio\@K = sum hits / sum |test_u| (micro) */
    CNS_METRIC_IPS_RECALL = 4, /**< popularity-debiased (IPS) Recall\@K */
    CNS_METRIC_IPS_NDCG = 5    /**< popularity-debiased (IPS) NDCG\@K */
} cns_metric;
#define CNS_METRIC_COUNT 6 /**< may grow in a later minor version; see cns_metric_count() */
/** The number of metric columns this library computes (CNS_METRIC_COUNT of
 *  its own header), to size result arrays. Thread-safe.
 *  @return the count. */
CNS_API int cns_metric_count(void);
/** "recall", "ndcg", "precision", "hit", "ips_recall", "ips_ndcg"; NULL if unknown.
 *  @param metric  a cns_metric
 *  @return the name; static storage.
 */
CNS_API const char *cns_metric_name(int metric);

/** A top-K evaluator (opaque; see eval.h). */
typedef struct cns_evaluator cns_evaluator;

/** train: the training split whose items are masked and whose item
 * popularity gives the IPS weights; kept by pointer, must outlive ev.
 * A host with its own CSR arrays uses cns_evaluator_create_csr.
 * @param train  the training split; kept by pointer, must outlive the evaluator
 * @param alloc  NULL for malloc/free
 * @param out    receives the evaluator on success
 * @param err    optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_evaluator_create(const cns_dataset *train,
                                                      const cns_allocator *alloc,
                                                      cns_evaluator **out, cns_error *err);
/** Frees ev (not the datasets it reads). NULL is a no-op.
 *  @param ev  the evaluator, or NULL */
CNS_API void cns_evaluator_free(cns_evaluator *ev);

/** Tunables (typed; spaced ids). */
typedef enum cns_eval_param {
    CNS_EVAL_IPS_GAMMA = 100,   /**< double, [0, 4], default 1: w_i = 1 / max(pop_i,1)^gamma */
    CNS_EVAL_BLOCK_USERS = 200, /**< int, [1, 65536], default 256: users per sgemm block */
    CNS_EVAL_THREADS = 201      /**< int, [1, 256], default 1: threads ranking a block's users */
} cns_eval_param;
/** Sets the double tunable param to v.
 * Doubles through _double, integers through _int; the other setter (and an
 * unknown id) returns CNS_E_PARAM. Out-of-bounds values return CNS_E_ARG and
 * leave the value unchanged.
 * @param ev      the handle
 * @param param  a cns_eval_param id of double type
 * @param v      the new value, within the parameter's bounds
 * @return CNS_OK; CNS_E_ARG (NULL handle, or v out of bounds: the value is
 *         unchanged); CNS_E_PARAM (unknown id, or an id of the other type).
 */
CNS_API CNS_NODISCARD cns_status cns_evaluator_set_double(cns_evaluator *ev, int param, double v);
/** Reads the double tunable param. Read-only.
 *  @param ev      the handle
 *  @param param  a cns_eval_param id of double type
 *  @param v      receives the value
 *  @return CNS_OK; CNS_E_ARG (NULL handle or v); CNS_E_PARAM (unknown id,
 *          or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_evaluator_get_double(const cns_evaluator *ev, int param, double *v);
/** Sets the integer tunable param to v (see cns_evaluator_set_double for the rules).
 *  @param ev      the handle
 *  @param param  a cns_eval_param id of integer type
 *  @param v      the new value, within the parameter's bounds
 *  @return CNS_OK; CNS_E_ARG (NULL handle, or v out of bounds: the value is
 *          unchanged); CNS_E_PARAM (unknown id, or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_evaluator_set_int(cns_evaluator *ev, int param, int64_t v);
/** Reads the integer tunable param. Read-only.
 *  @param ev      the handle
 *  @param param  a cns_eval_param id of integer type
 *  @param v      receives the value
 *  @return CNS_OK; CNS_E_ARG (NULL handle or v); CNS_E_PARAM (unknown id,
 *          or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_evaluator_get_int(const cns_evaluator *ev, int param, int64_t *v);
/** The closed range [min, max] that holds the valid values of param
 *  (for a range written with "(" or ")" the end itself is refused by the
 *  setter). Needs no handle; thread-safe.
 *  @param param  a cns_eval_param id
 *  @param min    receives the lower end
 *  @param max    receives the upper end
 *  @return CNS_OK; CNS_E_PARAM (unknown id); CNS_E_ARG (NULL min or max). */
CNS_API CNS_NODISCARD cns_status cns_evaluator_param_bounds(int param, double *min, double *max);

/** Evaluates test against embeddings.
 * user_emb: num_users x dim, item_emb: num_items x dim, row-major float.
 * ks: num_ks cut-offs, each in [1, num_items], at most 16 of them.
 * out: num_ks x CNS_METRIC_COUNT doubles, row r for ks[r], column cns_metric.
 * num_evaluated (optional): how many test users were averaged over.
 * Recall, NDCG, Precision, IPS-Recall and IPS-NDCG are means over users;
 * HitRatio is the micro ratio. On failure out is untouched and
 * *num_evaluated is 0.
 * @return CNS_OK, CNS_E_ARG, CNS_E_SIZE (num_items or num_users disagree
 * with train), CNS_E_NOMEM, CNS_E_EMPTY (no test user could be evaluated).
 * @param ev             the evaluator (one thread at a time)
 * @param user_emb       num_users x dim user rows
 * @param num_users      rows of user_emb
 * @param item_emb       num_items x dim item rows
 * @param num_items      rows of item_emb
 * @param dim            the embedding width
 * @param test           the test split; only read
 * @param ks             num_ks cut-offs
 * @param num_ks         number of cut-offs, at most 16
 * @param out            num_ks x CNS_METRIC_COUNT results
 * @param num_evaluated  optional out: users averaged over
 */
CNS_API CNS_NODISCARD cns_status cns_evaluator_run(cns_evaluator *ev, const float *user_emb,
                                                   int32_t num_users, const float *item_emb,
                                                   int32_t num_items, int32_t dim,
                                                   const cns_dataset *test, const int32_t *ks,
                                                   size_t num_ks, double *out,
                                                   size_t *num_evaluated);

/** Ranks items by training popularity for every user (the most-popular
 * floor; ties by the smaller id) and evaluates it like cns_evaluator_run,
 * with the same masking and rules; ks[r] must be in [1, train items].
 * @param ev             the evaluator (one thread at a time)
 * @param test           the test split; only read
 * @param ks             num_ks cut-offs
 * @param num_ks         number of cut-offs, at most 16
 * @param out            num_ks x CNS_METRIC_COUNT results
 * @param num_evaluated  optional out: users averaged over
 * @return the statuses of cns_evaluator_run.
 */
CNS_API CNS_NODISCARD cns_status cns_evaluator_run_popularity(cns_evaluator *ev,
                                                              const cns_dataset *test,
                                                              const int32_t *ks, size_t num_ks,
                                                              double *out, size_t *num_evaluated);

/** cns_evaluator_create for a host's own CSR arrays: the training split
 *  is copied into a dataset the evaluator owns (the arrays need not
 *  outlive the call), with the CSR's user and item counts.
 *  @param train  the training interactions (dataset.h, cns_csr)
 *  @param alloc  NULL for malloc/free
 *  @param out    receives the evaluator on success
 *  @param err    optional detail
 *  @return the statuses of cns_dataset_from_csr and cns_evaluator_create. */
CNS_API CNS_NODISCARD cns_status cns_evaluator_create_csr(const cns_csr *train,
                                                          const cns_allocator *alloc,
                                                          cns_evaluator **out, cns_error *err);

/** cns_evaluator_run with the test split as CSR arrays: the same rules,
 *  metrics and statuses, plus those of a malformed CSR (CNS_E_ARG,
 *  CNS_E_SIZE, CNS_E_EMPTY; the message starts "cns_evaluator_run_csr:
 *  test: "). The test rows are copied once per call, O(interactions).
 *  Works with an evaluator made by either create call.
 *  @param ev             the evaluator (one thread at a time)
 *  @param user_emb       num_users x dim user rows
 *  @param num_users      rows of user_emb
 *  @param item_emb       num_items x dim item rows
 *  @param num_items      rows of item_emb
 *  @param dim            the embedding width
 *  @param test           the test split as CSR arrays (dataset.h), read during the call
 *  @param ks             num_ks cut-offs
 *  @param num_ks         number of cut-offs, at most 16
 *  @param out            num_ks x CNS_METRIC_COUNT results
 *  @param num_evaluated  optional out: users averaged over
 *  @return the statuses of cns_evaluator_run and of a malformed CSR.
 */
CNS_API CNS_NODISCARD cns_status cns_evaluator_run_csr(cns_evaluator *ev, const float *user_emb,
                                                       int32_t num_users, const float *item_emb,
                                                       int32_t num_items, int32_t dim,
                                                       const cns_csr *test, const int32_t *ks,
                                                       size_t num_ks, double *out,
                                                       size_t *num_evaluated);

/** The detail of the last failed call on ev. Valid until the
 *  next call on ev.
 *  @param ev  the evaluator
 *  @return the message; never NULL. */
CNS_API const char *cns_evaluator_last_error(const cns_evaluator *ev);

#ifdef __cplusplus
}
#endif

#endif
