/* libcnsdiff — a synthetic confounded world (the `cnsdiff demo` data).
 *
 * Users and items have latent factors that decide relevance; item
 * popularity decides exposure (the confounder). A user interacts with an
 * item only when the item was exposed to the user and is relevant, so the
 * observed data over-represent popular items. Train, validation and IID
 * test splits come from the confounded exposure; the OOD test split comes
 * from exposure that ignores popularity (uniform) or runs against it.
 * The model is documented in docs/WORLD.md.
 *
 * Threads: generation is a pure function of the descriptor; a world is
 * read-only once built.
 */
#ifndef CNSDIFF_WORLD_H
#define CNSDIFF_WORLD_H

#include "common.h"
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cns_world cns_world;

typedef enum cns_ood_exposure {
    CNS_OOD_UNIFORM = 0,        /* every item equally likely to be exposed */
    CNS_OOD_ANTI_POPULAR = 1    /* exposure inversely related to popularity */
} cns_ood_exposure;

typedef struct cns_world_desc {
    size_t struct_size;         /* = sizeof(cns_world_desc), set by _init */
    int32_t num_users;          /* default 2000 */
    int32_t num_items;          /* default 1000 */
    int32_t factors;            /* latent relevance factors, default 8 */
    int32_t per_user;           /* confounded interactions per user, default 40 */
    int32_t ood_per_user;       /* OOD test interactions per user, default 10 */
    double confounding;         /* popularity exponent of exposure, default 1.5; 0 = none */
    double valid_fraction;      /* share of confounded pairs for validation, default 0.1 */
    double test_fraction;       /* share for the IID test, default 0.2 */
    int32_t ood_exposure;       /* cns_ood_exposure, default CNS_OOD_UNIFORM */
    uint64_t seed;              /* default 1 */
} cns_world_desc;

CNS_API void cns_world_desc_init(cns_world_desc *desc);
CNS_API CNS_NODISCARD cns_status cns_world_create(const cns_world_desc *desc,
                                                  const cns_allocator *alloc, cns_world **out,
                                                  cns_error *err);
CNS_API void cns_world_free(cns_world *w);

typedef enum cns_world_split {
    CNS_SPLIT_TRAIN = 0,
    CNS_SPLIT_VALID = 1,
    CNS_SPLIT_TEST_IID = 2,
    CNS_SPLIT_TEST_OOD = 3
} cns_world_split;

/* The split's dataset, owned by w (valid while w lives); all four share
 * the world's user and item counts. NULL for an unknown split. */
CNS_API const cns_dataset *cns_world_dataset(const cns_world *w, int split);

/* Writes train.txt, valid.txt, test_iid.txt, test_ood.txt into the
 * existing directory dir (each crash-safely). */
CNS_API CNS_NODISCARD cns_status cns_world_write(const cns_world *w, const char *dir,
                                                 cns_error *err);

#ifdef __cplusplus
}
#endif

#endif
