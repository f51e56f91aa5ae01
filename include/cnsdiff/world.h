/** @file
 * libcnsdiff — a synthetic confounded world (the `cnsdiff demo` data).
 *
 * Users and items have latent topic weights that decide relevance (with
 * item popularity carrying some of it); item popularity decides exposure
 * (the confounder). A user interacts with an item only when the item was
 * exposed to the user and is relevant, so the observed data over-represent
 * popular items. Train, validation and IID test splits come from the
 * confounded exposure; the OOD test and validation splits come from
 * exposure that ignores popularity (uniform) or runs against it, over the
 * user's other items. The model, its constants, its calibration to real
 * data and the measured statistics are in docs/WORLD.md.
 *
 * Every random draw is keyed by (seed, purpose, user or item): the same
 * descriptor gives the same world, and a user's draws do not depend on the
 * order users are generated in. The defaults (3000 users x 2400 items, a
 * mean of 22 + 6 interactions per user: a 45 600-pair training split)
 * reproduce the shape of Food and Coat: sparsity, long-tailed user
 * degrees, popularity that carries some relevance (docs/WORLD.md §2).
 *
 * Threads: generation is a pure function of the descriptor; a world is
 * read-only once built, and its datasets may be read by several threads.
 */
#ifndef CNSDIFF_WORLD_H
#define CNSDIFF_WORLD_H

#include "common.h"
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A synthetic confounded world (opaque; see world.h). */
typedef struct cns_world cns_world;

/** How the OOD splits are exposed (cns_world_desc.ood_exposure). */
typedef enum cns_ood_exposure {
    CNS_OOD_UNIFORM = 0,        /**< every item equally likely to be exposed */
    CNS_OOD_ANTI_POPULAR = 1    /**< exposure inversely related to popularity */
} cns_ood_exposure;

/** Shape of a world. Fill with cns_world_desc_init, then change fields.
 * cns_world_create checks (CNS_E_ARG, the message names the field):
 * num_users >= 1, num_items >= 2, factors in [1, 1024], per_user >= 1,
 * ood_per_user >= 1, per_user + ood_per_user <= num_items / 2,
 * confounding in [0, 5], pop_relevance in [0, 5], degree_spread in [0, 3],
 * both fractions in [0, 1) with a sum below 1. struct_size must be at least
 * the size of the first release's struct (the fields up to seed); fields an
 * older caller does not know take their defaults, and a newer caller's
 * extra bytes must be zero (else CNS_E_SIZE). The defaults are calibrated to
 * statistics measured on real data (docs/WORLD.md §2 gives each source). */
typedef struct cns_world_desc {
    size_t struct_size;         /**< = sizeof(cns_world_desc), set by _init */
    int32_t num_users;          /**< default 3000 */
    int32_t num_items;          /**< default 2400 */
    int32_t factors;            /**< latent topics of relevance, default 16 */
    int32_t per_user;           /**< mean confounded interactions per user, default 22 */
    int32_t ood_per_user;       /**< mean OOD test interactions per user, default 6 */
    double confounding;         /**< popularity exponent of exposure, default 0.55; 0 = none */
    double valid_fraction;      /**< share of confounded pairs for validation, default 0.1 */
    double test_fraction;       /**< share for the IID test, default 0.2 */
    int32_t ood_exposure;       /**< cns_ood_exposure, default CNS_OOD_UNIFORM */
    uint64_t seed;              /**< default 1 */
    /* Appended after 0.1 (older callers get the defaults): */
    double pop_relevance;       /**< propensity exponent of relevance, default 0.25; 0 = none
                                     (appended after 0.1: older callers get the default) */
    double degree_spread;       /**< std of log user activity, default 1.1; 0 = equal degrees
                                     (appended after 0.1: older callers get the default) */
} cns_world_desc;

/** Fills the first size bytes of desc (size = sizeof *desc from the
 * caller's header) with the defaults and sets struct_size = size (at most
 * this version's size), so an older, smaller struct is never written past.
 * A size below the first release's struct does nothing.
 * @param desc  the descriptor to fill, or NULL (a no-op)
 * @param size  sizeof *desc in the caller's header
 */
CNS_API void cns_world_desc_init_sized(cns_world_desc *desc, size_t size);
/** The first release's entry point, kept for programs built against it; it
 * fills the first release's fields only. Code compiled against this header
 * calls cns_world_desc_init_sized with its own sizeof through the macro.
 * @param desc  the descriptor to fill, or NULL (a no-op)
 */
CNS_API void cns_world_desc_init(cns_world_desc *desc);
/** cns_world_desc_init for code compiled against this header: calls
 * cns_world_desc_init_sized with the caller's sizeof *desc.
 * @param desc  the descriptor to fill, or NULL (a no-op) */
#define cns_world_desc_init(desc) cns_world_desc_init_sized((desc), sizeof *(desc))

/** Generates the world: O(interactions + (users + items) * factors) time
 * and memory, never users x items (about 0.02 s at the defaults and 3 s for
 * 10 M interactions on one core, docs/WORLD.md §5).
 * alloc: NULL for malloc/free. Returns CNS_OK, CNS_E_ARG (a NULL argument,
 * a field out of range, or parameters under which some user gets no OOD
 * test item because no item outside its interactions is seen often enough
 * in training: the message names the field and the user), CNS_E_SIZE
 * (struct_size), CNS_E_NOMEM.
 * @param desc   the world's shape
 * @param alloc  NULL for malloc/free
 * @param out    receives the world on success
 * @param err    optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_SIZE, CNS_E_NOMEM (see above).
 */
CNS_API CNS_NODISCARD cns_status cns_world_create(const cns_world_desc *desc,
                                                  const cns_allocator *alloc, cns_world **out,
                                                  cns_error *err);
/** Frees w and its datasets. NULL is a no-op.
 *  @param w  the world, or NULL */
CNS_API void cns_world_free(cns_world *w);

/** The splits of a world, for cns_world_dataset(). */
typedef enum cns_world_split {
    CNS_SPLIT_TRAIN = 0,        /**< training pairs (confounded exposure) */
    CNS_SPLIT_VALID = 1,        /**< IID validation (confounded exposure) */
    CNS_SPLIT_TEST_IID = 2,     /**< IID test (confounded exposure) */
    CNS_SPLIT_TEST_OOD = 3,     /**< OOD test (exposure of cns_world_desc.ood_exposure) */
    CNS_SPLIT_VALID_OOD = 4     /**< OOD validation, drawn like CNS_SPLIT_TEST_OOD */
} cns_world_split;

/** The split's dataset, owned by w (valid while w lives); all five share
 * the world's user and item counts. User u draws an activity a_u (log-normal,
 * mean 1, log-std degree_spread) and has k_u = round(per_user * a_u)
 * confounded pairs (at least 1; at most max(per_user, num_items / 4)), of
 * which round(valid_fraction * k_u) go to valid and round(test_fraction *
 * k_u) to test_iid (lowered when they would leave no training pair), and
 * o_u = round(ood_per_user * a_u) OOD test pairs (at least 1; at most
 * max(ood_per_user, num_items / 8)) plus
 * round(valid_fraction / (1 - valid_fraction) * o_u) OOD validation pairs.
 * A user whose draws keep repeating items may get fewer (docs/WORLD.md).
 * A user's five item sets are disjoint. A zero valid_fraction gives empty
 * validation splits, a zero test_fraction an empty test_iid, of the same
 * shape. NULL for an unknown split or a NULL world.
 * @param w      the world
 * @param split  a cns_world_split
 * @return the dataset, or NULL.
 */
CNS_API const cns_dataset *cns_world_dataset(const cns_world *w, int split);

/** Writes train.txt, valid.txt, test_iid.txt, test_ood.txt and valid_ood.txt
 * into the existing directory dir as "user item" lines in user-major order, each
 * crash-safely (temporary file, fsync, rename, then the directory is
 * synced); existing files are replaced. An empty split is an empty file.
 * A file does not record the counts: load the test files with the training
 * split's shape. Returns CNS_OK, CNS_E_ARG, CNS_E_IO (message names the
 * path), CNS_E_NOMEM.
 * @param w    the world
 * @param dir  an existing directory
 * @param err  optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_IO, CNS_E_NOMEM (see above).
 */
CNS_API CNS_NODISCARD cns_status cns_world_write(const cns_world *w, const char *dir,
                                                 cns_error *err);

#ifdef __cplusplus
}
#endif

#endif
