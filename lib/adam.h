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

/* Forgets the maxima: the next step checks every entry again. */
static inline void cns__adam_forget_bounds(cns__adam *a) { a->bounded = 0; }

#endif
