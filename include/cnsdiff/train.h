/** @file
 * libcnsdiff — one training epoch for hosts that don't need the control
 * (ALGORITHM.md §10).
 *
 * A trainer ties a model, an optional sampler and a loss to a training set
 * and runs whole epochs of the host-driven step:
 *
 *   batch (u, i+, j) -> forward -> [sampler train_step -> draw] -> loss
 *   -> backward (+L2) -> Adam
 *
 * With no sampler, or a CNS_SAMPLER_UNIFORM one, the batch's uniform
 * negatives are used with plain BPR. With CNS_SAMPLER_DNS the chosen
 * catalogue items replace them (and receive gradients). With
 * CNS_SAMPLER_DIFFUSION the synthesized negatives enter the mixed BPR and
 * the contrastive term (§8, §9).
 *
 * The trainer borrows model, sampler, loss and train: they must outlive
 * it, and no other thread may use them while an epoch runs.
 */
#ifndef CNSDIFF_TRAIN_H
#define CNSDIFF_TRAIN_H

#include "common.h"
#include "dataset.h"
#include "loss.h"
#include "model.h"
#include "sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Runs whole training epochs (opaque; see train.h). */
typedef struct cns_trainer cns_trainer;

/** Phases timed by cns_trainer_run_epoch, indices into phase_seconds. */
typedef enum cns_phase {
    CNS_PHASE_PROPAGATION = 0, /**< forward */
    CNS_PHASE_BATCH = 1,       /**< shuffling and random negatives */
    CNS_PHASE_SAMPLER_TRAIN = 2, /**< the sampler's train steps */
    CNS_PHASE_DRAW = 3,          /**< the sampler's draws */
    CNS_PHASE_LOSS = 4,          /**< the loss and its gradients */
    CNS_PHASE_BACKWARD = 5,      /**< backward (+L2) */
    CNS_PHASE_ADAM = 6           /**< the Adam step */
} cns_phase;
/** Length of cns_epoch_stats::phase_seconds (at least the number of
 * cns_phase values). */
#define CNS_PHASE_SLOTS 8

/** The figures of one epoch, filled by cns_trainer_run_epoch. */
typedef struct cns_epoch_stats {
    size_t struct_size;       /**< caller sets = sizeof(cns_epoch_stats) */
    size_t batches;           /**< batches run */
    double loss;              /**< mean total loss over batches (incl. L2) */
    double bpr;               /**< mean BPR term */
    double cl;                /**< mean contrastive term (unweighted) */
    double reg;               /**< mean L2 term */
    double diffusion_loss;    /**< mean L_diff of the sampler's train steps */
    double mean_lambda;       /**< mean mixing weight */
    double seconds;           /**< wall time of the epoch */
    double phase_seconds[CNS_PHASE_SLOTS]; /**< wall time per phase, indexed by cns_phase */
} cns_epoch_stats;

/** sampler may be NULL (uniform negatives). batch_size in [1, 2^24];
 * seed fixes the batch order and random negatives.
 *  @param model       the model to train; borrowed, must outlive the trainer
 *  @param sampler     the sampler, or NULL (uniform negatives); borrowed
 *  @param loss        the loss; borrowed
 *  @param train       the training set; borrowed
 *  @param batch_size  triples per batch, in [1, 2^24]
 *  @param seed        fixes the batch order and the random negatives
 *  @param alloc       NULL for malloc/free
 *  @param out         receives the trainer on success
 *  @param err         optional detail on failure
 *  @return CNS_OK, CNS_E_ARG, CNS_E_SIZE, CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_trainer_create(cns_model *model, cns_sampler *sampler,
                                                    cns_loss *loss, const cns_dataset *train,
                                                    size_t batch_size, uint64_t seed,
                                                    const cns_allocator *alloc,
                                                    cns_trainer **out, cns_error *err);
/** Frees t (not the handles it borrows). NULL is a no-op.
 *  @param t  the trainer, or NULL */
CNS_API void cns_trainer_free(cns_trainer *t);

/** Runs epoch number epoch (0-based; it also drives the loss curriculum).
 * stats (optional, struct_size set by the caller) receives the figures.
 * On failure the status of the failing call is returned and
 * cns_trainer_last_error() names the step ("epoch 3, batch 17: loss: ...").
 * A CNS_E_NUMERIC failure leaves the model's weights as they were before
 * the failing batch.
 * Within the epoch, uniform and diffusion steps propagate the last layer
 * only for the batch's rows (the others are not read) whenever the
 * weights are provably too small for any row to overflow; the results and
 * statuses are bit for bit those of full forwards. Once the epoch has
 * started its batches, the call returns (success or failure) with the
 * model's final embeddings a full forward of its current weights, unless
 * that forward itself fails, as cns_model_forward reports. Refusals
 * before the first batch (a negative epoch, a short stats, the loss's or
 * the batcher's start) touch nothing.
 * @param t      the trainer
 * @param epoch  the epoch number, >= 0
 * @param stats  optional out: the epoch's figures
 * @return CNS_OK, or the status of the failing step.
 */
CNS_API CNS_NODISCARD cns_status cns_trainer_run_epoch(cns_trainer *t, int64_t epoch,
                                                       cns_epoch_stats *stats);

/** The detail of the last failed call on t. Valid until the next call on t.
 *  @param t  the trainer
 *  @return the message; never NULL. */
CNS_API const char *cns_trainer_last_error(const cns_trainer *t);

#ifdef __cplusplus
}
#endif

#endif
