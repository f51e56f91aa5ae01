/* Model selection and early stopping (docs/EVALUATION.md "Model
 * selection"): a smoothed validation score, the best epoch so far, and
 * patience that starts counting after a minimum number of evaluations. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cnsdiff/eval.h"
#include "cnsdiff/select.h"
#include "error.h"
#include "params.h"

/* The library's default rule — the one place it is written down (the
 * tool's `--select-by default`, docs/EVALUATION.md). Plain validation
 * NDCG@20 with patience 20, no smoothing and no minimum: the selection study
 * (docs/BENCHMARKS.md "the study on the development suite", docs/bench/choose.py, its rule fixed in
 * advance) scored it best on the development suite's valid_ood splits for
 * the eligible configuration; the smoothed IPS rule (the tool's
 * `--select-by ood`, ips_ndcg@20:smooth5:min30) scored worse. */
#define SELECT_DEFAULT_METRIC CNS_METRIC_NDCG
#define SELECT_DEFAULT_K 20
#define SELECT_DEFAULT_WINDOW 1
#define SELECT_DEFAULT_MIN_EVALS 0
#define SELECT_DEFAULT_PATIENCE 20

#define SELECT_MAX_WINDOW 64

struct cns_selector {
    cns__alloc al;
    int64_t metric, k, window, min_evals, patience;
    /* History: the last `window` raw scores in a ring, oldest at
     * (head - filled) mod window. */
    double ring[SELECT_MAX_WINDOW];
    int64_t head, filled;
    int64_t evals;      /* updates accepted */
    int64_t last_epoch;
    int64_t best_epoch; /* -1: none */
    int64_t best_eval;  /* 1-based evaluation of the best */
    double best_score, last_score;
    char last_error[CNS__MSG_SIZE];
};

static const cns__param k_params[] = {
    {CNS_SELECT_METRIC, 1, 0, CNS_METRIC_COUNT - 1, 0, 0, "metric"},
    {CNS_SELECT_K, 1, 1, 2147483647.0, 0, 0, "k"},
    {CNS_SELECT_WINDOW, 1, 1, SELECT_MAX_WINDOW, 0, 0, "window"},
    {CNS_SELECT_MIN_EVALS, 1, 0, 2147483647.0, 0, 0, "min_evals"},
    {CNS_SELECT_PATIENCE, 1, 0, 2147483647.0, 0, 0, "patience"},
};
#define N_PARAMS (sizeof k_params / sizeof k_params[0])

static void clear_history(cns_selector *s) {
    s->head = s->filled = s->evals = 0;
    s->best_epoch = -1;
    s->best_eval = 0;
    s->best_score = s->last_score = NAN;
    s->last_epoch = 0;
}

CNS_API cns_status cns_selector_create(const cns_allocator *alloc, cns_selector **out,
                                       cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "cns_selector_create: out is NULL");
    *out = NULL;
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "cns_selector_create: allocator has a NULL function");
    cns_selector *s = cns__calloc(&al, 1, sizeof *s);
    if (s == NULL) return cns__fail(err, CNS_E_NOMEM, "out of memory for a selector");
    s->al = al;
    s->metric = SELECT_DEFAULT_METRIC;
    s->k = SELECT_DEFAULT_K;
    s->window = SELECT_DEFAULT_WINDOW;
    s->min_evals = SELECT_DEFAULT_MIN_EVALS;
    s->patience = SELECT_DEFAULT_PATIENCE;
    clear_history(s);
    *out = s;
    cns__ok(err);
    return CNS_OK;
}

CNS_API void cns_selector_free(cns_selector *s) {
    if (s == NULL) return;
    cns__alloc al = s->al;
    cns__free(&al, s);
}

CNS_API void cns_selector_reset(cns_selector *s) {
    if (s == NULL) return;
    clear_history(s);
    s->last_error[0] = '\0';
}

static int64_t *slot(cns_selector *s, int param) {
    switch (param) {
    case CNS_SELECT_METRIC: return &s->metric;
    case CNS_SELECT_K: return &s->k;
    case CNS_SELECT_WINDOW: return &s->window;
    case CNS_SELECT_MIN_EVALS: return &s->min_evals;
    default: return &s->patience;
    }
}

CNS_API cns_status cns_selector_param_bounds(int param, double *min, double *max) {
    if (min == NULL || max == NULL) /* an unknown id still answers CNS_E_PARAM */
        return cns__param_find(k_params, N_PARAMS, param) ? CNS_E_ARG : CNS_E_PARAM;
    return cns__param_bounds(k_params, N_PARAMS, param, min, max);
}

CNS_API cns_status cns_selector_set_int(cns_selector *s, int param, int64_t v) {
    if (s == NULL) return CNS_E_ARG;
    cns_status st = cns__param_check_int(k_params, N_PARAMS, "selector", param, v, s->last_error);
    if (st != CNS_OK) return st;
    if (s->evals > 0)
        return cns__msg(s->last_error, CNS_E_STATE,
                        "cns_selector_set_int: parameter %d cannot change after %lld evaluations "
                        "(call cns_selector_reset first)",
                        param, (long long)s->evals);
    *slot(s, param) = v;
    return CNS_OK;
}

CNS_API cns_status cns_selector_get_int(const cns_selector *s, int param, int64_t *v) {
    if (s == NULL || v == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL || !p->is_int) return CNS_E_PARAM;
    *v = *slot((cns_selector *)s, param);
    return CNS_OK;
}

CNS_API cns_status cns_selector_set_double(cns_selector *s, int param, double v) {
    if (s == NULL) return CNS_E_ARG;
    return cns__param_check_double(k_params, N_PARAMS, "selector", param, v, s->last_error);
}

CNS_API cns_status cns_selector_get_double(const cns_selector *s, int param, double *v) {
    if (s == NULL || v == NULL) return CNS_E_ARG;
    (void)param;
    return CNS_E_PARAM; /* no double tunable yet */
}

static void clear_outputs(int *improved, int *stop) {
    if (improved != NULL) *improved = 0;
    if (stop != NULL) *stop = 0;
}

static int stop_now(const cns_selector *s) {
    if (s->patience == 0 || s->evals == 0) return 0;
    int64_t from = s->best_eval > s->min_evals ? s->best_eval : s->min_evals;
    return s->evals - from >= s->patience;
}

/* The update both entry points share; `what` names the score in messages. */
static cns_status feed(cns_selector *s, int64_t epoch, double value, const char *what,
                       int *improved, int *stop) {
    if (s->evals > 0 && epoch <= s->last_epoch)
        return cns__msg(s->last_error, CNS_E_ARG,
                        "cns_selector_update: epoch %lld is not above the previous update's %lld",
                        (long long)epoch, (long long)s->last_epoch);
    if (!isfinite(value))
        return cns__msg(s->last_error, CNS_E_NUMERIC,
                        "cns_selector_update: %s is %s at epoch %lld (evaluation %lld); refusing "
                        "to select on it",
                        what, isnan(value) ? "NaN" : "infinite", (long long)epoch,
                        (long long)s->evals + 1);
    /* Window: the last min(W, t) raw scores, summed oldest first (the
     * order docs/bench/summarize.py sums in, so the two agree bit for bit). */
    s->ring[s->head] = value;
    s->head = (s->head + 1) % s->window;
    if (s->filled < s->window) ++s->filled;
    double sum = 0.0;
    for (int64_t j = 0; j < s->filled; ++j)
        sum += s->ring[(s->head - s->filled + j + s->window) % s->window];
    double smooth = sum / (double)s->filled;
    ++s->evals;
    s->last_epoch = epoch;
    s->last_score = smooth;
    int better = s->best_epoch < 0 || smooth > s->best_score; /* a tie keeps the earlier */
    if (better) {
        s->best_epoch = epoch;
        s->best_eval = s->evals;
        s->best_score = smooth;
    }
    if (improved != NULL) *improved = better;
    if (stop != NULL) *stop = stop_now(s);
    return CNS_OK;
}

CNS_API cns_status cns_selector_update_value(cns_selector *s, int64_t epoch, double value,
                                             int *improved, int *stop) {
    clear_outputs(improved, stop);
    if (s == NULL) return CNS_E_ARG;
    return feed(s, epoch, value, "the score", improved, stop);
}

CNS_API cns_status cns_selector_update(cns_selector *s, int64_t epoch, const int32_t *ks,
                                       size_t num_ks, const double *metrics, size_t num_metrics,
                                       int *improved, int *stop) {
    clear_outputs(improved, stop);
    if (s == NULL) return CNS_E_ARG;
    if (ks == NULL) return cns__msg(s->last_error, CNS_E_ARG, "cns_selector_update: ks is NULL");
    if (metrics == NULL)
        return cns__msg(s->last_error, CNS_E_ARG, "cns_selector_update: metrics is NULL");
    if (num_ks == 0) return cns__msg(s->last_error, CNS_E_ARG, "cns_selector_update: num_ks is 0");
    if (num_metrics <= (size_t)s->metric)
        return cns__msg(s->last_error, CNS_E_ARG,
                        "cns_selector_update: num_metrics = %zu has no column %lld (%s)",
                        num_metrics, (long long)s->metric, cns_metric_name((int)s->metric));
    size_t row = num_ks;
    for (size_t r = 0; r < num_ks && row == num_ks; ++r)
        if (ks[r] == s->k) row = r;
    if (row == num_ks)
        return cns__msg(s->last_error, CNS_E_ARG,
                        "cns_selector_update: K = %lld is not among the %zu cut-offs in ks",
                        (long long)s->k, num_ks);
    char what[48];
    snprintf(what, sizeof what, "%s@%lld", cns_metric_name((int)s->metric), (long long)s->k);
    return feed(s, epoch, metrics[row * num_metrics + (size_t)s->metric], what, improved, stop);
}

CNS_API int64_t cns_selector_best_epoch(const cns_selector *s) { return s ? s->best_epoch : -1; }
CNS_API double cns_selector_best_score(const cns_selector *s) { return s ? s->best_score : NAN; }
CNS_API double cns_selector_last_score(const cns_selector *s) { return s ? s->last_score : NAN; }
CNS_API int64_t cns_selector_evaluations(const cns_selector *s) { return s ? s->evals : 0; }
CNS_API int cns_selector_should_stop(const cns_selector *s) { return s ? stop_now(s) : 0; }

CNS_API const char *cns_selector_last_error(const cns_selector *s) {
    return s ? s->last_error : "selector is NULL";
}
