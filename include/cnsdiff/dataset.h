/** @file
 * libcnsdiff — interaction data (ALGORITHM.md §2, §3).
 *
 * A cns_dataset is an immutable set of (user, item) training pairs:
 * users and items are counted as max id + 1, duplicate pairs are removed,
 * each user's items are kept sorted (CSR) for a fast membership test, and
 * item popularity (number of users per item) is precomputed.
 *
 * Text format: one interaction per line, "user item" or "user item weight",
 * separated by spaces or tabs; a final '\\r' (CRLF) is ignored. Blank lines
 * and lines whose first non-blank character is '#' are ignored (a '#'
 * after the fields is an extra field). Ids are decimal digits only (no
 * sign; leading zeros allowed) with a value in [0, 2^31 - 2]; the weight,
 * when present, is a decimal number ([+-]digits[.digits][e[+-]digits]) that
 * must be finite as a double, and is ignored by the losses. Counts are the
 * largest id + 1, so memory grows with the largest id; that is why an id
 * above the dense-id bound (16 x interaction lines + 1048575, see
 * idmap.h) is refused with CNS_E_ID_RANGE before any table is sized. Raw
 * (64-bit, string) ids, a host-set bound, and validation or test files
 * checked against the training ids: the _ids loaders of idmap.h.
 *
 * Errors: each kind of malformed line has its own status (CNS_E_FIELDS,
 * CNS_E_BAD_ID, CNS_E_ID_RANGE (also an id above the bound), CNS_E_BAD_VALUE) and the cns_error message
 * names the file and the 1-based line: "train.txt:2: expected 2 or 3
 * fields, found 1". With CNS_LOAD_SKIP_BAD such lines are skipped instead
 * and counted (cns_dataset_skipped()).
 *
 * Threads: a dataset is read-only once built; any number of threads may
 * read one dataset concurrently. Handles that keep a pointer to a dataset
 * (batcher, model context) require it to outlive them. */
#ifndef CNSDIFF_DATASET_H
#define CNSDIFF_DATASET_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An immutable set of (user, item) training pairs (opaque; see dataset.h). */
typedef struct cns_dataset cns_dataset;

/* Flags for the loaders. */
#define CNS_LOAD_SKIP_BAD 0x1u /**< loader flag: skip malformed lines and count them */

/** Loads a dataset from a text file.
 * path: file to read (must not be NULL). flags: 0 or CNS_LOAD_SKIP_BAD.
 * alloc: NULL for malloc/free. out: receives the new dataset on success.
 * err: optional detail on failure.
 * Returns CNS_OK, CNS_E_ARG, CNS_E_NOFILE, CNS_E_IO, CNS_E_EMPTY,
 * CNS_E_FIELDS, CNS_E_BAD_ID, CNS_E_ID_RANGE, CNS_E_BAD_VALUE, CNS_E_NOMEM.
 * @param path   file to read (must not be NULL)
 * @param flags  0 or CNS_LOAD_SKIP_BAD
 * @param alloc  NULL for malloc/free
 * @param out    receives the new dataset on success
 * @param err    optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_NOFILE, CNS_E_IO, CNS_E_EMPTY,
 *         CNS_E_FIELDS, CNS_E_BAD_ID, CNS_E_ID_RANGE, CNS_E_BAD_VALUE, CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_dataset_load_file(const char *path, unsigned flags,
                                                       const cns_allocator *alloc,
                                                       cns_dataset **out, cns_error *err);

/** The same parser over a caller buffer of size bytes (need not be
 * NUL-terminated). name labels messages ("<buffer>" when NULL).
 *  @param data   the text, size bytes, read during the call only
 *  @param size   bytes at data
 *  @param name   label of messages, NULL for "<buffer>"
 *  @param flags  0 or CNS_LOAD_SKIP_BAD
 *  @param alloc  NULL for malloc/free
 *  @param out    receives the new dataset on success
 *  @param err    optional detail on failure
 *  @return the statuses of cns_dataset_load_file but CNS_E_NOFILE and CNS_E_IO.
 */
CNS_API CNS_NODISCARD cns_status cns_dataset_load_buffer(const char *data, size_t size,
                                                         const char *name, unsigned flags,
                                                         const cns_allocator *alloc,
                                                         cns_dataset **out, cns_error *err);

/** Builds a dataset from caller arrays of n pairs (copied).
 * num_users / num_items: 0 to count them as max id + 1, or a count that
 * must exceed every id (lets a test split share the training split's
 * shape). Returns CNS_E_BAD_ID for a negative id, CNS_E_ID_RANGE for an id
 * at or beyond a given count, CNS_E_EMPTY for n == 0.
 * @param users      n user ids (copied)
 * @param items      n item ids (copied)
 * @param n          number of pairs, >= 1
 * @param num_users  0 to count, or a count above every user id
 * @param num_items  0 to count, or a count above every item id
 * @param alloc      NULL for malloc/free
 * @param out        receives the new dataset on success
 * @param err        optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_BAD_ID, CNS_E_ID_RANGE, CNS_E_EMPTY,
 *         CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_dataset_from_arrays(const int32_t *users, const int32_t *items,
                                                         size_t n, int32_t num_users,
                                                         int32_t num_items,
                                                         const cns_allocator *alloc,
                                                         cns_dataset **out, cns_error *err);

/** A host's interactions as borrowed CSR arrays (compressed sparse rows):
 *  user u's items are item_ids[row_ptr[u] .. row_ptr[u + 1]).
 *
 *  Fill with cns_csr_init(). The library reads only the first struct_size
 *  bytes and never keeps the pointers past the call that received them
 *  (a sampler context keeps them until its draw, see sampler.h).
 *  Requirements, checked where the arrays are used (CNS_E_ARG naming the
 *  field and the index): row_ptr[0] = 0, row_ptr non-decreasing, item ids
 *  in [0, num_items), strictly ascending within each user's row.
 */
typedef struct cns_csr {
    size_t struct_size;       /**< = sizeof(cns_csr), set by cns_csr_init */
    int32_t num_users;        /**< rows, >= 1 */
    int32_t num_items;        /**< columns: every item id is below it, >= 1 */
    const int64_t *row_ptr;   /**< num_users + 1 offsets into item_ids */
    const int32_t *item_ids;  /**< row_ptr[num_users] item ids */
} cns_csr;

/** Sets csr to struct_size = sizeof(cns_csr) and everything else to 0/NULL.
 *  NULL is a no-op.
 *  @param csr  the struct to fill, or NULL
 */
CNS_API void cns_csr_init(cns_csr *csr);

/** Builds a dataset (a copy) from CSR arrays, with the CSR's user and item
 *  counts. Every row is checked as cns_csr describes.
 *  @param csr    the arrays; read only during the call
 *  @param alloc  NULL for malloc/free
 *  @param out    receives the dataset on success, NULL on failure
 *  @param err    optional detail ("cns_dataset_from_csr: item_ids[7] = 3
 *                does not ascend in user 2's row")
 *  @return CNS_OK, CNS_E_ARG (NULL, counts < 1, a broken array),
 *          CNS_E_SIZE (bad struct_size), CNS_E_EMPTY (no interaction),
 *          CNS_E_NOMEM. Thread-safe. */
CNS_API CNS_NODISCARD cns_status cns_dataset_from_csr(const cns_csr *csr,
                                                      const cns_allocator *alloc,
                                                      cns_dataset **out, cns_error *err);

/** Splits ds: for every user, round(fraction * n_u) of its pairs (halves
 * round up; at most n_u - 1 so every user keeps a pair, hence none for
 * users with a single pair) go to *held_out, the rest to *kept. Which pairs
 * is a uniform choice that depends only on (seed, user). Both keep ds's
 * user and item counts. fraction in (0, 1), else CNS_E_ARG; CNS_E_EMPTY
 * when no pair would be held out. alloc (NULL for malloc/free) serves both
 * new datasets. On failure *kept and *held_out are NULL.
 * @param ds        the dataset to split; only read
 * @param fraction  share of each user's pairs held out, in (0, 1)
 * @param seed      fixes the choice of pairs
 * @param alloc     NULL for malloc/free; serves both new datasets
 * @param kept      receives the remaining pairs
 * @param held_out  receives the held-out pairs
 * @param err       optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_EMPTY, CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_dataset_split(const cns_dataset *ds, double fraction,
                                                   uint64_t seed, const cns_allocator *alloc,
                                                   cns_dataset **kept, cns_dataset **held_out,
                                                   cns_error *err);

/** Frees ds and everything it owns. NULL is a no-op.
 *  @param ds  the dataset, or NULL */
CNS_API void cns_dataset_free(cns_dataset *ds);

/** Shape. All read-only and thread-safe; 0 for a NULL handle.
 *  @param ds  the dataset
 *  @return the number of users (largest user id + 1, or the count given).
 */
CNS_API int32_t cns_dataset_num_users(const cns_dataset *ds);
/** Number of items (largest item id + 1, or the count given). Read-only,
 *  thread-safe.
 *  @param ds  the dataset
 *  @return the count; 0 for a NULL handle. */
CNS_API int32_t cns_dataset_num_items(const cns_dataset *ds);
/** Number of (user, item) pairs, after de-duplication. Read-only,
 *  thread-safe.
 *  @param ds  the dataset
 *  @return the count; 0 for a NULL handle. */
CNS_API size_t cns_dataset_num_interactions(const cns_dataset *ds);
/** Lines skipped by CNS_LOAD_SKIP_BAD. Read-only, thread-safe.
 *  @param ds  the dataset
 *  @return the count; 0 for a NULL handle. */
CNS_API size_t cns_dataset_skipped(const cns_dataset *ds);
/** Duplicate pairs removed. Read-only, thread-safe.
 *  @param ds  the dataset
 *  @return the count; 0 for a NULL handle. */
CNS_API size_t cns_dataset_duplicates(const cns_dataset *ds);

/** The sorted items of user (CSR row). *items stays valid while ds lives.
 * A user id in range with no items gives count 0. CNS_E_ARG out of range.
 *  @param ds     the dataset
 *  @param user   a user id in [0, num_users)
 *  @param items  receives the user's sorted item ids
 *  @param count  receives their number
 *  @return CNS_OK, or CNS_E_ARG (NULL argument, user out of range).
 */
CNS_API CNS_NODISCARD cns_status cns_dataset_user_items(const cns_dataset *ds, int32_t user,
                                                        const int32_t **items, size_t *count);

/** 1 when (user, item) is in ds, 0 otherwise (also for out-of-range ids).
 * O(log degree).
 *  @param ds    the dataset
 *  @param user  the user id
 *  @param item  the item id
 *  @return 1 or 0.
 */
CNS_API int cns_dataset_contains(const cns_dataset *ds, int32_t user, int32_t item);

/** Number of users per item, an array of cns_dataset_num_items() counts,
 * valid while ds lives.
 *  @param ds  the dataset
 *  @return the counts, owned by ds; NULL for a NULL handle.
 */
CNS_API const int32_t *cns_dataset_item_popularity(const cns_dataset *ds);

/** The k-th pair in user-major sorted order, k < num_interactions.
 *  @param ds    the dataset
 *  @param k     the pair's rank, in [0, num_interactions)
 *  @param user  receives the pair's user
 *  @param item  receives the pair's item
 *  @return CNS_OK, or CNS_E_ARG (NULL argument, k out of range).
 */
CNS_API CNS_NODISCARD cns_status cns_dataset_pair(const cns_dataset *ds, size_t k,
                                                  int32_t *user, int32_t *item);

/** Writes ds as "user item" lines (user-major order) to path, crash-safely:
 * a temporary file beside path, write, fsync, rename over path, fsync of the
 * directory. On any failure (CNS_E_IO, CNS_E_NOMEM, CNS_E_ARG) the
 * temporary file is removed and path is left as it was; err names the path,
 * the step and the system's reason.
 * @param ds    the dataset
 * @param path  the file to write
 * @param err   optional detail on failure
 * @return CNS_OK, CNS_E_IO, CNS_E_NOMEM, CNS_E_ARG.
 */
CNS_API CNS_NODISCARD cns_status cns_dataset_save_text(const cns_dataset *ds, const char *path,
                                                       cns_error *err);

/* ---- Mini-batches (ALGORITHM.md §3) ------------------------------------ */

/** A batcher (opaque) walks a training dataset in a shuffled order per epoch, in
 * batches of batch_size triples (user, positive, negative), where the
 * negative is drawn uniformly from the items the user has not interacted
 * with. Order and negatives depend only on (seed, epoch): never on thread
 * scheduling, nor on which epochs ran before. The last batch of an epoch
 * may be shorter. Memory: the handle holds one shuffled copy of the pairs
 * (8 bytes each) and three batch arrays; next() allocates nothing.
 *
 * The batcher keeps a pointer to train: train must outlive it.
 * Threads: one thread at a time. */
typedef struct cns_batcher cns_batcher;

/** batch_size >= 1 (a size above the pair count gives one batch).
 * CNS_E_ARG for a NULL train/out, batch_size 0 or a bad allocator;
 * CNS_E_NOMEM.
 * @param train       the training set; kept by pointer, must outlive the batcher
 * @param batch_size  triples per batch, >= 1
 * @param seed        fixes the shuffles and the negatives
 * @param alloc       NULL for malloc/free
 * @param out         receives the new batcher on success
 * @param err         optional detail on failure
 * @return CNS_OK, CNS_E_ARG, CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_batcher_create(const cns_dataset *train, size_t batch_size,
                                                    uint64_t seed, const cns_allocator *alloc,
                                                    cns_batcher **out, cns_error *err);
/** Frees b (not the dataset it reads). NULL is a no-op.
 *  @param b  the batcher, or NULL */
CNS_API void cns_batcher_free(cns_batcher *b);

/** Starts epoch number epoch (any value; the shuffle is a function of seed
 * and epoch).
 *  @param b      the batcher
 *  @param epoch  the epoch number
 *  @return CNS_OK, or CNS_E_ARG for a NULL b.
 */
CNS_API CNS_NODISCARD cns_status cns_batcher_begin_epoch(cns_batcher *b, uint64_t epoch);

/** Next batch: *users, *pos, *neg point to *n ids each, valid until the next
 * call on b. *n == 0 (with CNS_OK) marks the end of the epoch (and stays
 * so until the next begin_epoch).
 * CNS_E_STATE before begin_epoch; CNS_E_SATURATED when a user of the batch
 * has interacted with every item (the message names the user; *n is 0 and
 * the batch is not consumed, so the same call fails again).
 * @param b      the batcher
 * @param users  receives the batch's user ids
 * @param pos    receives the batch's positive items
 * @param neg    receives the batch's uniform negatives
 * @param n      receives the batch's length (0 at the end of the epoch)
 * @return CNS_OK, CNS_E_ARG (NULL argument), CNS_E_STATE, CNS_E_SATURATED.
 */
CNS_API CNS_NODISCARD cns_status cns_batcher_next(cns_batcher *b, const int32_t **users,
                                                  const int32_t **pos, const int32_t **neg,
                                                  size_t *n);

/** Batches per epoch: ceil(pairs / batch_size). Read-only.
 *  @param b  the batcher
 *  @return the count; 0 for a NULL handle. */
CNS_API size_t cns_batcher_num_batches(const cns_batcher *b);
/** The batch size given at create. Read-only.
 *  @param b  the batcher
 *  @return the size; 0 for a NULL handle. */
CNS_API size_t cns_batcher_batch_size(const cns_batcher *b);
/** The detail of the last failed call on b ("" if none since the last
 * begin_epoch). Valid until the next call on b.
 *  @param b  the batcher
 *  @return the message; never NULL.
 */
CNS_API const char *cns_batcher_last_error(const cns_batcher *b);

#ifdef __cplusplus
}
#endif

#endif
