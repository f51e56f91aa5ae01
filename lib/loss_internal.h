/* Internal: test hooks of the loss (ALGORITHM.md §8, §9). */
#ifndef CNS_LOSS_INTERNAL_H
#define CNS_LOSS_INTERNAL_H

#include <stddef.h>

#include <stdint.h>

#include "alloc.h"
#include "cnsdiff/loss.h"

/* Replaces the positive-noise draw: the next computes use eps (n x dim,
 * borrowed, must outlive them and hold at least n x dim values) as the
 * N(0, I) sample of §9. NULL returns to drawing. */
void cns__loss_fix_noise(cns_loss *l, const float *eps);

/* The n mixing weights of the last successful compute with synth (the
 * drawn or the caller's ones after clamping), or NULL before one. Valid
 * until the next compute or free. */
const float *cns__loss_lambdas(const cns_loss *l, size_t *n);

/* Stores the values vals[0, n) of the loss tunables ids[0, n) (the preset
 * tables, preset.c): all are checked first (unknown id, bounds, integer
 * values); on failure nothing changes and msg (CNS_ERROR_MESSAGE_SIZE
 * bytes) says which. check_only: only the checks. */
cns_status cns__loss_apply_values(cns_loss *l, const int *ids, const double *vals, size_t n,
                                  int check_only, char *msg);

/* Tests: 1 makes the contrastive term take the general path even when
 * every synth row is the same (see contrastive_term), 0 restores the
 * detection. */
void cns__loss_force_general(cns_loss *l, int on);

/* Tests: 1 when the last computed contrastive term took the collapsed
 * path (every synth row the same), else 0. */
int cns__loss_last_collapsed(const cns_loss *l);

/* The state a loss checkpoint holds beyond the tunables (lib/loss_io.c):
 * the seed of the draws, the epoch and the computes since the last
 * set_epoch, which key them. */
typedef struct cns__loss_key {
    uint64_t seed;
    int64_t epoch;
    uint64_t calls;
} cns__loss_key;
cns__loss_key cns__loss_key_get(const cns_loss *l);
/* Sets epoch (>= 0, the caller checked) and the compute count. */
void cns__loss_key_put(cns_loss *l, int64_t epoch, uint64_t calls);
/* The handle's allocator and its message buffer (CNS_ERROR_MESSAGE_SIZE
 * bytes), for the checkpoint code. */
const cns__alloc *cns__loss_alloc(const cns_loss *l);
char *cns__loss_msgbuf(cns_loss *l);

#endif
