/* Internal: Adam (ALGORITHM.md §2) over one flat float array, shared by
 * the embedding model and the denoiser. */
#ifndef CNS_ADAM_H
#define CNS_ADAM_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "cnsdiff/common.h"

typedef struct cns__adam {
    float *m;          /* first moments, n */
    float *v;          /* second moments, n */
    size_t n;
    uint64_t t;        /* steps taken */
    double lr, beta1, beta2, eps;
    /* Bounds that let a step skip its checking pass (cns__adam_step_mt).
     * Only a user that sets track_bounds gets them, and it must call
     * cns__adam_forget_bounds() whenever it writes params, m or v itself. */
    int track_bounds;
    int bounded;       /* the three maxima below hold for params, m and v */
    float max_param;   /* max |params| after the last step */
    float max_m;       /* max |m| */
    float max_v;       /* max v (every v was >= 0) */
} cns__adam;

/* Allocates zeroed moments for n parameters; defaults lr 0.01, 0.9, 0.999, 1e-8. */
cns_status cns__adam_init(cns__adam *a, size_t n, const cns__alloc *al);
void cns__adam_destroy(cns__adam *a, const cns__alloc *al);

/* Checks that the step would keep every weight and moment finite; only
 * then applies it and returns CNS_OK. Otherwise returns CNS_E_NUMERIC with
 * params and the moments untouched and *bad_index set to the first
 * offending entry (a non-finite gradient, or a weight or moment that would
 * overflow). */
cns_status cns__adam_step(cns__adam *a, float *params, const float *grads, size_t *bad_index);

/* The same step on up to `threads` threads (elementwise: the result is
 * bit-identical to cns__adam_step for any thread count).
 * With track_bounds set, the apply pass also records the maxima above, and
 * the next step first takes max |grads| (one read of one array instead of
 * the check's four): when every weight and moment provably stays finite
 * the checking pass is skipped. Same results and same refusals, only
 * fewer passes. */
#define CNS__ADAM_MAX_THREADS 256
cns_status cns__adam_step_mt(cns__adam *a, float *params, const float *grads, size_t *bad_index,
                             int threads);

/* The lazy (row-sparse) step for a gradient known to be zero outside a
 * set of rows (ALGORITHM.md §17, CNS_MODEL_SPARSE_ADAM): params, grads
 * and the moments are (a->n / width) rows of width floats, and only the
 * n_rows distinct rows listed move, their moments included; every other
 * row's weights and moments are neither read nor written (its grads row
 * is never read either). t advances by one, and the bias correction uses
 * it, as for a dense step: the global step count, as TensorFlow's
 * LazyAdam and PyTorch's SparseAdam do. The same contract as the dense
 * step: on CNS_E_NUMERIC nothing is written and *bad_index is the flat
 * index of the first offending entry in the order of rows. With
 * track_bounds, the recorded maxima stay upper bounds over every entry
 * (the old maxima cover the untouched rows) when they held before the
 * step; otherwise they stay unknown. Single-threaded: a batch's rows are a
 * few hundred thousand floats (docs/BENCHMARKS.md "Scale"). */
cns_status cns__adam_step_rows(cns__adam *a, float *params, const float *grads, size_t width,
                               const int32_t *rows, size_t n_rows, size_t *bad_index);

/* Forgets the maxima: the next step checks every entry again. */
static inline void cns__adam_forget_bounds(cns__adam *a) { a->bounded = 0; }

#endif
