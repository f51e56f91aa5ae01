/* The item table to rank by, with a share a of the direction mode's axis
 * removed (ALGORITHM.md §16, "Scoring with a discount on the axis"):
 * out_i = e_i - a <e_i, d> d. Training with the direction mode carries the
 * model's popularity term on d (§18), so the share kept is the knob
 * between the popularity-following and the popularity-blind ranking. */
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "sampler_internal.h"

#define FN "cns_sampler_score_items"

CNS_API cns_status cns_sampler_score_items(const cns_sampler *s, const float *items,
                                           int64_t n_items, int32_t dim, float *out,
                                           cns_error *err) {
    if (s == NULL) return cns__fail(err, CNS_E_ARG, FN ": s is NULL");
    if (items == NULL) return cns__fail(err, CNS_E_ARG, FN ": items is NULL");
    if (out == NULL) return cns__fail(err, CNS_E_ARG, FN ": out is NULL");
    if (n_items < 0)
        return cns__fail(err, CNS_E_ARG, FN ": n_items is %lld, below 0", (long long)n_items);
    if (dim != s->desc.dim)
        return cns__fail(err, CNS_E_SIZE, FN ": dim is %d, the sampler's is %d", (int)dim,
                         (int)s->desc.dim);
    const size_t D = (size_t)dim;
    if ((uint64_t)n_items > SIZE_MAX / sizeof(float) / D)
        return cns__fail(err, CNS_E_SIZE, FN ": %lld rows of %d floats cannot be addressed",
                         (long long)n_items, (int)dim);
    const size_t n = (size_t)n_items;
    const double a = s->score_discount;
    if (a == 0.0) {
        /* The default: the table as it is, bit for bit. */
        if (out != items && n > 0) memmove(out, items, n * D * sizeof(float));
        cns__ok(err);
        return CNS_OK;
    }
    /* Only the direction mode's negatives lie on one known axis; in other
     * modes d exists (DIFFUSION) but the model was not trained against it. */
    if (s->desc.kind != CNS_SAMPLER_DIFFUSION || s->mode != CNS_MODE_DIRECTION ||
        s->direction == NULL)
        return cns__fail(err, CNS_E_STATE, FN ": score_discount needs the direction mode");
    const float *d = s->direction;
    for (size_t i = 0; i < n; ++i) {
        const float *e = items + i * D;
        float *o = out + i * D;
        /* The whole row's projection is read before any element of it is
         * written, which is what makes out == items safe. */
        double p = 0.0;
        for (size_t k = 0; k < D; ++k) p += (double)e[k] * (double)d[k];
        const double ap = a * p;
        for (size_t k = 0; k < D; ++k) o[k] = (float)((double)e[k] - ap * (double)d[k]);
    }
    cns__ok(err);
    return CNS_OK;
}
