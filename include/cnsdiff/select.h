/** @file
 * libcnsdiff — model selection and early stopping on validation metrics.
 *
 * A host's training loop evaluates its validation split every few epochs
 * (cns_evaluator_run) and hands each result to a selector, which answers
 * the two questions of model selection: "is this the best epoch so far?"
 * and "stop now?". The host keeps (or saves) the model of the best epoch.
 * `cnsdiff train` and `cnsdiff demo` use this same helper, so a host gets
 * the tool's rule without reimplementing it.
 *
 * The rule (docs/EVALUATION.md "Model selection"):
 *  - score: the chosen metric (CNS_SELECT_METRIC) at the chosen cut-off
 *    (CNS_SELECT_K) of the validation result; IPS metrics use the
 *    evaluator's CNS_EVAL_IPS_GAMMA, set where the metric is computed;
 *  - smoothed score at evaluation t: the mean of the scores of the last
 *    min(W, t) evaluations, W = CNS_SELECT_WINDOW (W = 1: the raw score),
 *    summed oldest first;
 *  - best: the evaluation with the highest smoothed score; a tie keeps the
 *    earlier one. The selected epoch is the last epoch of the best window
 *    (the model the host has in hand when the smoothed score improves);
 *  - stop: patience counts only the evaluations after the first
 *    M = CNS_SELECT_MIN_EVALS: after evaluation t (1-based) with the best at
 *    evaluation b, stop when t - max(b, M) >= P, P = CNS_SELECT_PATIENCE
 *    (P = 0: never). With M = 0 this is plain patience; the best is tracked
 *    from the first evaluation whatever M.
 *
 * The initial values of the parameters are the library's default rule
 * (the tool's `--select-by default`): plain NDCG@20 (window 1, min_evals 0),
 * patience 20. The selection study chose them (docs/BENCHMARKS.md "the study on the development suite",
 * docs/bench/choose.py, a rule fixed in advance): on the development
 * suite's valid_ood splits this rule scored best for the eligible
 * configuration, and the smoothed IPS rule (the tool's `--select-by ood`,
 * IPS-NDCG@20, window 5, min_evals 30) scored worse. They live in one place
 * (lib/select.c, documented in docs/EVALUATION.md).
 *
 * Errors: a NaN or infinite score is refused with CNS_E_NUMERIC (the
 * message names the metric, the epoch and the evaluation) and leaves the
 * selector as it was. Changing a parameter after the first update is
 * CNS_E_STATE until cns_selector_reset(): the rule cannot change mid-run.
 *
 * Threads: one selector, one thread at a time. It allocates only at
 * creation and holds at most 64 scores.
 */
#ifndef CNSDIFF_SELECT_H
#define CNSDIFF_SELECT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Model selection and early stopping (opaque; see select.h). */
typedef struct cns_selector cns_selector;

/** Creates a selector with the library's default rule (see above).
 * alloc: NULL for malloc/free. Returns CNS_OK, CNS_E_ARG (NULL out, an
 * allocator with a NULL function), CNS_E_NOMEM.
 * @param alloc  NULL for malloc/free
 * @param out    receives the selector on success
 * @param err    optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_selector_create(const cns_allocator *alloc, cns_selector **out,
                                                     cns_error *err);
/** Frees s. NULL is a no-op.
 *  @param s  the selector, or NULL */
CNS_API void cns_selector_free(cns_selector *s);

/** Tunables (typed; spaced ids). All are integers. */
typedef enum cns_select_param {
    CNS_SELECT_METRIC = 100,    /**< a cns_metric, default CNS_METRIC_NDCG */
    CNS_SELECT_K = 101,         /**< cut-off whose row is read, [1, 2^31-1], default 20 */
    CNS_SELECT_WINDOW = 200,    /**< smoothing window W in evaluations, [1, 64], default 1 */
    CNS_SELECT_MIN_EVALS = 201, /**< evaluations before the rule may stop, [0, 2^31-1], default 0 */
    CNS_SELECT_PATIENCE = 202   /**< evaluations without improvement, [0, 2^31-1], 0 = never
                                   stop; default 20 */
} cns_select_param;

/** Sets the integer tunable param to v.
 * Integers through _int; _double answers CNS_E_PARAM for every current id
 * (kept for double tunables of later versions). CNS_E_PARAM for an unknown
 * id, CNS_E_ARG for a value out of bounds (the value is kept), CNS_E_STATE
 * for a set after the first update (see above).
 * @param s      the handle
 * @param param  a cns_select_param id of integer type
 * @param v      the new value, within the parameter's bounds
 * @return CNS_OK; CNS_E_ARG (NULL handle, or v out of bounds: the value is
 *         unchanged); CNS_E_PARAM (unknown id, or an id of the other type);
 *         CNS_E_STATE (after the first update, until cns_selector_reset).
 */
CNS_API CNS_NODISCARD cns_status cns_selector_set_int(cns_selector *s, int param, int64_t v);
/** Reads the integer tunable param. Read-only.
 *  @param s      the handle
 *  @param param  a cns_select_param id of integer type
 *  @param v      receives the value
 *  @return CNS_OK; CNS_E_ARG (NULL handle or v); CNS_E_PARAM (unknown id,
 *          or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_selector_get_int(const cns_selector *s, int param, int64_t *v);
/** Sets the double tunable param to v (see cns_selector_set_int for the rules).
 *  @param s      the handle
 *  @param param  a cns_select_param id of double type
 *  @param v      the new value, within the parameter's bounds
 *  @return CNS_OK; CNS_E_ARG (NULL handle, or v out of bounds: the value is
 *          unchanged); CNS_E_PARAM (unknown id, or an id of the other type);
 *          CNS_E_STATE (after the first update, until cns_selector_reset). */
CNS_API CNS_NODISCARD cns_status cns_selector_set_double(cns_selector *s, int param, double v);
/** Reads the double tunable param. Read-only.
 *  @param s      the handle
 *  @param param  a cns_select_param id of double type
 *  @param v      receives the value
 *  @return CNS_OK; CNS_E_ARG (NULL handle or v); CNS_E_PARAM (unknown id,
 *          or an id of the other type). */
CNS_API CNS_NODISCARD cns_status cns_selector_get_double(const cns_selector *s, int param, double *v);
/** The closed range [min, max] that holds the valid values of param
 *  (for a range written with "(" or ")" the end itself is refused by the
 *  setter). Needs no handle; thread-safe.
 *  @param param  a cns_select_param id
 *  @param min    receives the lower end
 *  @param max    receives the upper end
 *  @return CNS_OK; CNS_E_PARAM (unknown id); CNS_E_ARG (NULL min or max). */
CNS_API CNS_NODISCARD cns_status cns_selector_param_bounds(int param, double *min, double *max);

/** Feeds one evaluation. epoch: the host's label for the model evaluated
 * (any value, strictly greater than the previous update's). ks / num_ks /
 * metrics: the arguments and output of cns_evaluator_run (metrics holds
 * num_ks rows of num_metrics values, num_metrics being the caller's
 * CNS_METRIC_COUNT); the row whose ks[r] equals CNS_SELECT_K is read.
 * improved, stop (each optional): 1 when this evaluation became the best,
 * 1 when the rule says stop now (as cns_selector_should_stop).
 * @return CNS_OK; CNS_E_ARG for a NULL s / ks / metrics, num_ks 0,
 * num_metrics not above CNS_SELECT_METRIC, K not among ks, or an epoch not
 * above the previous one; CNS_E_NUMERIC for a NaN or infinite score. On
 * failure nothing changes and *improved / *stop are 0.
 * @param s            the selector
 * @param epoch        the host's label of the evaluated model
 * @param ks           num_ks cut-offs, as given to cns_evaluator_run
 * @param num_ks       number of cut-offs
 * @param metrics      num_ks rows of num_metrics values
 * @param num_metrics  values per row (the caller's CNS_METRIC_COUNT)
 * @param improved     optional out: 1 when this evaluation became the best
 * @param stop         optional out: 1 when the rule says stop now
 */
CNS_API CNS_NODISCARD cns_status cns_selector_update(cns_selector *s, int64_t epoch,
                                                     const int32_t *ks, size_t num_ks,
                                                     const double *metrics, size_t num_metrics,
                                                     int *improved, int *stop);

/** The same for a host that computes its own score: value is the raw score
 * of this evaluation (CNS_SELECT_METRIC and CNS_SELECT_K are not used).
 *  @param s         the selector
 *  @param epoch     the host's label, above the previous update's
 *  @param value     the raw score of this evaluation
 *  @param improved  optional out: 1 when this evaluation became the best
 *  @param stop      optional out: 1 when the rule says stop now
 *  @return the statuses of cns_selector_update that apply.
 */
CNS_API CNS_NODISCARD cns_status cns_selector_update_value(cns_selector *s, int64_t epoch,
                                                           double value, int *improved, int *stop);

/** The selected epoch so far, or -1 before any update (and for NULL).
 *  @param s  the selector
 *  @return the epoch, or -1.
 */
CNS_API int64_t cns_selector_best_epoch(const cns_selector *s);
/** The smoothed score of the selected epoch; NaN before any update.
 *  @param s  the selector
 *  @return the score, or NaN (also for NULL).
 */
CNS_API double cns_selector_best_score(const cns_selector *s);
/** The smoothed score of the latest evaluation; NaN before any update.
 *  @param s  the selector
 *  @return the score, or NaN (also for NULL).
 */
CNS_API double cns_selector_last_score(const cns_selector *s);
/** Updates accepted since creation or reset; 0 for NULL.
 *  @param s  the selector
 *  @return the count.
 */
CNS_API int64_t cns_selector_evaluations(const cns_selector *s);
/** 1 when the rule says stop (see above), else 0 (also for NULL).
 *  @param s  the selector
 *  @return 1 or 0.
 */
CNS_API int cns_selector_should_stop(const cns_selector *s);

/** Forgets every evaluation and keeps the parameters (a new run).
 *  @param s  the selector; NULL is a no-op
 */
CNS_API void cns_selector_reset(cns_selector *s);

/** The detail of the last failed call on s ("" if none); valid until the
 * next call on s.
 *  @param s  the selector
 *  @return the message; never NULL.
 */
CNS_API const char *cns_selector_last_error(const cns_selector *s);

#ifdef __cplusplus
}
#endif

#endif
