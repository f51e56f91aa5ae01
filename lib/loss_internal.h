/* Internal: test hooks of the loss (ALGORITHM.md §8, §9). */
#ifndef CNS_LOSS_INTERNAL_H
#define CNS_LOSS_INTERNAL_H

#include <stddef.h>

#include "cnsdiff/loss.h"

/* Replaces the positive-noise draw: the next computes use eps (n x dim,
 * borrowed, must outlive them and hold at least n x dim values) as the
 * N(0, I) sample of §9. NULL returns to drawing. */
void cns__loss_fix_noise(cns_loss *l, const float *eps);

/* The n mixing weights of the last successful compute with synth (the
 * drawn or the caller's ones after clamping), or NULL before one. Valid
 * until the next compute or free. */
const float *cns__loss_lambdas(const cns_loss *l, size_t *n);

#endif
