/** @file
 * libcnsdiff — out-of-distribution splits of an interaction dataset.
 *
 * cns_split_create() redraws any dataset into five disjoint parts: a
 * training split, IID validation and test splits that follow the training
 * distribution, and an OOD sample cut into an OOD validation and an OOD test
 * split. With CNS_SPLIT_KIND_POPULARITY the OOD sample is *intervened* the
 * way the popularity-shift benchmarks draw their debiased test sets
 * (CausE, DICE, MACR: each interaction kept with a probability that falls
 * with its item's popularity): interactions are drawn without replacement
 * with probability proportional to pop(i)^-beta, pop being the item's
 * number of users in the input. beta is either given or searched by
 * bisection so that the split's popularity ratio comes close to a target.
 * With CNS_SPLIT_KIND_RANDOM the OOD sample is uniform (beta = 0), so all
 * five parts are IID.
 *
 * Popularity ratio: the mean training popularity of the items of the OOD
 * test interactions divided by the mean training popularity over the
 * training interactions, both per interaction and with popularity counted
 * in the training split:
 *     ratio = (1/|T|) sum_{(u,i) in T} p(i)  /  ( sum_i p(i)^2 / sum_i p(i) )
 * where T is the OOD test split and p(i) the item's training count. 1 means
 * no popularity shift; smaller means a stronger shift.
 *
 * The procedure and its constants are in docs/DATA.md ("OOD splits").
 * Every held-out pair leaves its user with at least one training pair and
 * its item with at least item_min_train training pairs, so every user and
 * item of the four held-out parts exists in training.
 *
 * Determinism: the parts are a function of the input's distinct pairs and
 * the descriptor; the same seed gives the same split (across platforms
 * too, as long as their libm's log() rounds alike: the race keys use it).
 *
 * Threads: creation is a pure function of its inputs (the dataset is only
 * read); a split is read-only once built and may be read by several
 * threads. */
#ifndef CNSDIFF_SPLIT_H
#define CNSDIFF_SPLIT_H

#include "common.h"
#include "idmap.h"
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The five parts of a split dataset (opaque; see split.h). */
typedef struct cns_split cns_split;

/** How the OOD sample is drawn (cns_split_desc.kind). */
typedef enum cns_split_kind {
    CNS_SPLIT_KIND_RANDOM = 0,     /**< uniform OOD sample: every part IID */
    CNS_SPLIT_KIND_POPULARITY = 1  /**< OOD sample drawn with probability ~ pop^-beta */
} cns_split_kind;

/** The five parts, for cns_split_dataset() and their file names. */
typedef enum cns_split_part {
    CNS_SPLIT_PART_TRAIN = 0,     /**< train.txt */
    CNS_SPLIT_PART_VALID = 1,     /**< valid.txt (IID) */
    CNS_SPLIT_PART_VALID_OOD = 2, /**< valid_ood.txt */
    CNS_SPLIT_PART_TEST_IID = 3,  /**< test_iid.txt */
    CNS_SPLIT_PART_TEST_OOD = 4   /**< test_ood.txt */
} cns_split_part;

/** The number of parts (cns_split_part values). */
#define CNS_SPLIT_PART_COUNT 5

/** Fill with cns_split_desc_init, then change fields. cns_split_create
 * checks (CNS_E_ARG, the message names the field): kind is one of
 * cns_split_kind; ood_fraction, valid_fraction, test_fraction in (0, 1);
 * target_ratio in (0, 1]; beta NaN-free and either < 0 (search) or in
 * [0, 16]; item_min_train >= 1. struct_size smaller than this header's
 * sizeof, or larger with the unknown bytes not zero, is CNS_E_SIZE. */
typedef struct cns_split_desc {
    size_t struct_size;     /**< = sizeof(cns_split_desc), set by _init */
    int32_t kind;           /**< cns_split_kind, default CNS_SPLIT_KIND_POPULARITY */
    int32_t item_min_train; /**< training pairs a held-out pair leaves its item, default 1 */
    double ood_fraction;    /**< OOD sample: share of all pairs, default 0.2 */
    double valid_fraction;  /**< IID validation: share of the pairs left, default 0.1 */
    double test_fraction;   /**< IID test: share of the pairs left, default 0.1 */
    double target_ratio;    /**< popularity ratio beta is searched for, default 0.15 */
    double beta;            /**< < 0 (default -1): search; >= 0: this exponent (POPULARITY) */
    uint64_t seed;          /**< default 1 */
} cns_split_desc;

/** Sets desc to the defaults listed in cns_split_desc (struct_size =
 *  sizeof(cns_split_desc)). NULL is a no-op.
 *  @param desc  the descriptor to fill, or NULL */
CNS_API void cns_split_desc_init(cns_split_desc *desc);

/** Splits ds (only read; it may be freed afterwards). Every part keeps ds's
 * user and item counts, so ids line up. alloc: NULL for malloc/free.
 * Returns CNS_OK, CNS_E_ARG (NULL argument, a field out of range), CNS_E_SIZE
 * (struct_size), CNS_E_EMPTY (a part would be empty: too few pairs, or
 * none that may be held out; the message names the part), CNS_E_NOMEM.
 * On failure *out is NULL. Cost: O(n log n) per beta tried (at most 40).
 * @param ds     the dataset to split; only read
 * @param desc   the split's parameters
 * @param alloc  NULL for malloc/free
 * @param out    receives the split on success
 * @param err    optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_SIZE, CNS_E_EMPTY, CNS_E_NOMEM (see above).
 */
CNS_API CNS_NODISCARD cns_status cns_split_create(const cns_dataset *ds, const cns_split_desc *desc,
                                                  const cns_allocator *alloc, cns_split **out,
                                                  cns_error *err);
/** Frees s and its datasets. NULL is a no-op.
 *  @param s  the split, or NULL */
CNS_API void cns_split_free(cns_split *s);

/** The part's dataset (a cns_split_part), owned by s and valid while s
 * lives; NULL for an unknown part or a NULL split.
 *  @param s     the split
 *  @param part  a cns_split_part
 *  @return the dataset, or NULL.
 */
CNS_API const cns_dataset *cns_split_dataset(const cns_split *s, int part);

/** The achieved popularity ratio of the split (see above); NaN for NULL.
 *  @param s  the split
 *  @return the ratio.
 */
CNS_API double cns_split_ratio(const cns_split *s);

/** The exponent used for the OOD sample (0 for a random split); NaN for
 * NULL.
 *  @param s  the split
 *  @return the exponent.
 */
CNS_API double cns_split_beta(const cns_split *s);

/** Writes train.txt, valid.txt, valid_ood.txt, test_iid.txt, test_ood.txt
 * into the existing directory dir as "user item" lines in user-major order,
 * each crash-safely (cns_dataset_save_text); existing files are replaced.
 * A failure can leave the earlier files written. Returns CNS_OK, CNS_E_ARG,
 * CNS_E_IO (the message names the path), CNS_E_NOMEM.
 * @param s    the split
 * @param dir  an existing directory
 * @param err  optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_IO, CNS_E_NOMEM (see above).
 */
CNS_API CNS_NODISCARD cns_status cns_split_write(const cns_split *s, const char *dir,
                                                 cns_error *err);

/** cns_split_write with every index written as its raw id in map (the map
 * the input was loaded through, cns_dataset_load_file_ids); map NULL is
 * cns_split_write. CNS_E_SIZE when map holds fewer users or items than the
 * input.
 * @param s    the split
 * @param dir  an existing directory
 * @param map  the map of the input's ids, or NULL
 * @param err  optional detail on failure
 * @return the statuses of cns_split_write, and CNS_E_SIZE.
 */
CNS_API CNS_NODISCARD cns_status cns_split_write_ids(const cns_split *s, const char *dir,
                                                     const cns_idmap *map, cns_error *err);

/** The file name of a part ("train.txt", ...); NULL for an unknown part.
 *  @param part  a cns_split_part
 *  @return the name (static storage), or NULL.
 */
CNS_API const char *cns_split_part_file(int part);

#ifdef __cplusplus
}
#endif

#endif
