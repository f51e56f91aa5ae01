/* Adam with bias correction (ALGORITHM.md §2). Two passes: the first only
 * checks that the update stays finite, so a NaN gradient or a runaway
 * learning rate never reaches the weights or the moments. */
#include "adam.h"

#include <math.h>

cns_status cns__adam_init(cns__adam *a, size_t n, const cns__alloc *al) {
    a->m = cns__calloc(al, n ? n : 1, sizeof(float));
    a->v = cns__calloc(al, n ? n : 1, sizeof(float));
    if (a->m == NULL || a->v == NULL) {
        cns__adam_destroy(a, al);
        return CNS_E_NOMEM;
    }
    a->n = n;
    a->t = 0;
    a->lr = 0.01;
    a->beta1 = 0.9;
    a->beta2 = 0.999;
    a->eps = 1e-8;
    return CNS_OK;
}

void cns__adam_destroy(cns__adam *a, const cns__alloc *al) {
    cns__free(al, a->m);
    cns__free(al, a->v);
    a->m = a->v = NULL;
    a->n = 0;
}

cns_status cns__adam_step(cns__adam *a, float *params, const float *grads, size_t *bad_index) {
    const uint64_t t = a->t + 1;
    const float b1 = (float)a->beta1, b2 = (float)a->beta2;
    const float c1 = (float)(1.0 - pow(a->beta1, (double)t));
    const float c2 = (float)(1.0 - pow(a->beta2, (double)t));
    const float step = (float)a->lr / c1;
    const float inv_c2 = 1.0f / c2;
    const float eps = (float)a->eps;
    float *restrict m = a->m, *restrict v = a->v;
    const size_t n = a->n;

    /* Pass 1: would every new weight be finite? (vectorizes: a sum, no branch) */
    float probe = 0.0f;
    for (size_t i = 0; i < n; ++i) {
        float g = grads[i];
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        float w = params[i] - step * mi / (sqrtf(vi * inv_c2) + eps);
        probe += w * 0.0f; /* NaN or Inf in w turns probe into NaN */
    }
    if (!isfinite(probe) || probe != 0.0f) {
        for (size_t i = 0; i < n; ++i) {
            float g = grads[i];
            float mi = b1 * m[i] + (1.0f - b1) * g;
            float vi = b2 * v[i] + (1.0f - b2) * g * g;
            float w = params[i] - step * mi / (sqrtf(vi * inv_c2) + eps);
            if (!isfinite(g) || !isfinite(w)) {
                if (bad_index) *bad_index = i;
                return CNS_E_NUMERIC;
            }
        }
        if (bad_index) *bad_index = 0;
        return CNS_E_NUMERIC;
    }
    /* Pass 2: apply. */
    for (size_t i = 0; i < n; ++i) {
        float g = grads[i];
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] -= step * mi / (sqrtf(vi * inv_c2) + eps);
    }
    a->t = t;
    return CNS_OK;
}
