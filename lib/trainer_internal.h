/* Internal: partial epochs, for `cnsdiff bench scale`, which times a fixed
 * number of batches of an epoch too long to run whole and scales it up. */
#ifndef CNS_TRAINER_INTERNAL_H
#define CNS_TRAINER_INTERNAL_H

#include "cnsdiff/train.h"

/* cns_trainer_run_epoch stopped after max_batches (>= 1) batches of epoch
 * `epoch`'s order; like a whole epoch it ends with a full forward, and
 * stats describe the batches run. CNS_E_ARG for max_batches 0. */
cns_status cns__trainer_run_batches(cns_trainer *t, int64_t epoch, size_t max_batches,
                                    cns_epoch_stats *stats);

/* Batches of a whole epoch: ceil(interactions / batch_size). */
size_t cns__trainer_batches_per_epoch(const cns_trainer *t);

#endif
