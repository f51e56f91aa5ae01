/** @file
 * libcnsdiff — raw ids: id maps, the id-aware loaders, and the model's
 * raw-id calls (docs/DATA.md "Ids").
 *
 * Real logs carry 64-bit user ids, hashed ids and string SKUs rather than
 * dense indices. A cns_idmap maps the raw ids of a training file to dense
 * indices 0..n-1 (one table for users, one for items) and back:
 *
 *  - A raw id is 1 to CNS_IDMAP_MAX_ID_LEN bytes without a blank or a
 *    control character (below 0x20, or 0x7F). An id of decimal digits
 *    only is a number: leading zeros do not count ("007" is "7"), so a
 *    64-bit id is the same key whether it comes as text or through
 *    cns_idmap_find_u64().
 *  - Indices are assigned in sorted order: numbers by value first, then
 *    the other ids by their bytes. A file whose ids are already 0..n-1
 *    therefore maps every id to itself, and trains bit-identically to
 *    dense mode.
 *  - Lookups take expected O(1) (a hash table); memory is linear in the
 *    number and length of the distinct ids.
 *
 * Id modes of a training file (cns_load_options.ids):
 *  - CNS_IDS_DENSE: ids are the indices (the classic format). The largest
 *    id must not pass a bound derived from the file: by default
 *    CNS_DENSE_IDS_PER_LINE x (interaction lines) + CNS_DENSE_IDS_SLACK,
 *    or max_dense_id when the host sets it. A larger id is refused with
 *    CNS_E_ID_RANGE naming the file, the line, the id and the bound,
 *    before any table is sized from it (with CNS_LOAD_SKIP_BAD its lines
 *    are skipped and counted instead). So the memory a file can make the
 *    loader take is linear in the file's size.
 *  - CNS_IDS_MAP: every id goes through a new map (*map_out).
 *  - CNS_IDS_AUTO (the default): dense when the first pair is two
 *    decimal numbers and every id stays within the bound; a map, as if
 *    CNS_IDS_MAP had been given, when the first pair holds a non-numeric
 *    id, a number is above 2147483646, or the largest id passes the bound.
 *    After numeric pairs a non-numeric id is a malformed line
 *    (CNS_E_BAD_ID), as in dense mode. *map_out tells which (NULL: dense).
 *
 * Validation and test files load through the training set's id space
 * (cns_load_options.train, and .map when the training file was mapped):
 * the dataset gets the training set's user and item counts, and a line
 * whose user or item the training set does not know (dense: an id at or
 * beyond its counts; map: an id the map lacks) is an unknown id. Unknown
 * ids fail the load with CNS_E_ID_RANGE ("test.txt:7: user 'bob' is not
 * in the training set's ids"), or with CNS_LOAD_SKIP_BAD are skipped and
 * counted by cns_dataset_unknown().
 *
 * Ownership: *map_out belongs to the caller (cns_idmap_free). A model
 * copies the map it is given (cns_model_set_idmap) and carries it in its
 * checkpoints. Threads: a map is read-only once built; any number of
 * threads may read one map concurrently. */
#ifndef CNSDIFF_IDMAP_H
#define CNSDIFF_IDMAP_H

#include "common.h"
#include "dataset.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A map between raw ids and dense indices (opaque; see idmap.h). */
typedef struct cns_idmap cns_idmap;

/** Longest raw id, in bytes. */
#define CNS_IDMAP_MAX_ID_LEN 255

/** The default dense-mode bound: the largest id accepted is
 * CNS_DENSE_IDS_PER_LINE x (interaction lines of the file) +
 * CNS_DENSE_IDS_SLACK, and never more than 2147483646. */
#define CNS_DENSE_IDS_PER_LINE 16
/** The constant term of the default dense-mode bound
 * (see CNS_DENSE_IDS_PER_LINE). */
#define CNS_DENSE_IDS_SLACK 1048575

/** How a training file's ids are read. Values are part of the ABI. */
typedef enum cns_id_mode {
    CNS_IDS_AUTO = 0,  /**< dense when every id is a number within the bound, else a map */
    CNS_IDS_DENSE = 1, /**< ids are indices, up to the bound */
    CNS_IDS_MAP = 2    /**< every id goes through a new map */
} cns_id_mode;

/** Options of cns_dataset_load_file_ids() / _buffer_ids(). Fill with
 * cns_load_options_init(), then change fields. The library reads only the
 * first struct_size bytes (at least the fields of this first version);
 * fields a later version appends keep their defaults for older callers. */
typedef struct cns_load_options {
    size_t struct_size;        /**< = sizeof(cns_load_options), set by _init */
    unsigned flags;            /**< 0 or CNS_LOAD_SKIP_BAD; default 0 */
    int32_t ids;               /**< cns_id_mode of a training file; default CNS_IDS_AUTO */
    int64_t max_dense_id;      /**< 0 (default): the derived bound; else the largest id dense
                                  mode accepts, in [1, 2147483646] (raises or lowers it) */
    const cns_dataset *train;  /**< NULL (default): this is a training file. Else resolve the
                                  ids in train's id space (ids and max_dense_id are ignored) */
    const cns_idmap *map;      /**< with train: the training file's map, or NULL when it was
                                  dense. Both must outlive the call only. */
} cns_load_options;

/** Sets opt to the defaults: struct_size = sizeof(cns_load_options), flags 0,
 *  ids CNS_IDS_AUTO, max_dense_id 0, train and map NULL. NULL is a no-op.
 *  @param opt  the options to fill, or NULL */
CNS_API void cns_load_options_init(cns_load_options *opt);

/** Loads a dataset, building a map or resolving ids as opt says (NULL opt:
 * the defaults). The text format is that of dataset.h, with raw ids in
 * map mode. map_out: receives the new map when the training file was
 * mapped, NULL otherwise (dense, or a file resolved through train); may
 * be NULL only when no map can result (opt->ids == CNS_IDS_DENSE or
 * opt->train set), else CNS_E_ARG.
 * @return CNS_OK, CNS_E_ARG (NULL out/path, unknown flags or mode,
 * max_dense_id out of range, struct_size too small, map without train, a
 * bad allocator), CNS_E_SIZE (map's counts are not train's),
 * CNS_E_NOFILE, CNS_E_IO, CNS_E_EMPTY, CNS_E_FIELDS, CNS_E_BAD_ID,
 * CNS_E_ID_RANGE (an id above the dense bound, an unknown id, more than
 * 2^31 - 2 distinct ids), CNS_E_BAD_VALUE, CNS_E_NOMEM. On failure
 * nothing is allocated and *out and *map_out are NULL.
 * @param path     file to read (must not be NULL)
 * @param opt      the options, or NULL for the defaults
 * @param alloc    NULL for malloc/free
 * @param out      receives the new dataset on success
 * @param map_out  receives the new map, or NULL (see above)
 * @param err      optional detail on failure
 */
CNS_API CNS_NODISCARD cns_status cns_dataset_load_file_ids(const char *path,
                                                           const cns_load_options *opt,
                                                           const cns_allocator *alloc,
                                                           cns_dataset **out, cns_idmap **map_out,
                                                           cns_error *err);

/** The same over a caller buffer of size bytes (need not be
 * NUL-terminated); name labels messages ("<buffer>" when NULL).
 *  @param data     the text, size bytes, read during the call only
 *  @param size     bytes at data
 *  @param name     label of messages, NULL for "<buffer>"
 *  @param opt      the options, or NULL for the defaults
 *  @param alloc    NULL for malloc/free
 *  @param out      receives the new dataset on success
 *  @param map_out  receives the new map, or NULL (as cns_dataset_load_file_ids)
 *  @param err      optional detail on failure
 *  @return the statuses of cns_dataset_load_file_ids but CNS_E_NOFILE and CNS_E_IO.
 */
CNS_API CNS_NODISCARD cns_status cns_dataset_load_buffer_ids(const char *data, size_t size,
                                                             const char *name,
                                                             const cns_load_options *opt,
                                                             const cns_allocator *alloc,
                                                             cns_dataset **out,
                                                             cns_idmap **map_out, cns_error *err);

/** Lines of a file loaded through a training id space that were skipped
 * (CNS_LOAD_SKIP_BAD) because their user or item is unknown. 0 for other
 * datasets and for NULL. Read-only.
 * @param ds  the dataset
 * @return the count.
 */
CNS_API size_t cns_dataset_unknown(const cns_dataset *ds);

/** Writes ds as "user item" lines, like cns_dataset_save_text (same order,
 * same crash-safe steps and failures), with each index replaced by its raw
 * id in map, so that a file loaded through a map is written back in the
 * ids it came with. map NULL writes the indices (= cns_dataset_save_text).
 * CNS_E_SIZE when map holds fewer users or items than ds.
 * @param ds    the dataset
 * @param map   the map of ds's ids, or NULL
 * @param path  the file to write
 * @param err   optional detail on failure
 * @return the statuses of cns_dataset_save_text, and CNS_E_SIZE.
 */
CNS_API CNS_NODISCARD cns_status cns_dataset_save_text_ids(const cns_dataset *ds,
                                                           const cns_idmap *map,
                                                           const char *path, cns_error *err);

/** Frees map. NULL is a no-op.
 *  @param map  the map, or NULL */
CNS_API void cns_idmap_free(cns_idmap *map);

/** Number of ids of table (CNS_TABLE_USERS or CNS_TABLE_ITEMS); 0 for a
 * NULL map or an unknown table. Read-only.
 *  @param map    the map
 *  @param table  CNS_TABLE_USERS or CNS_TABLE_ITEMS
 *  @return the count.
 */
CNS_API int32_t cns_idmap_count(const cns_idmap *map, cns_table table);

/** The index of raw id id[0..len) (not necessarily NUL-terminated).
 * CNS_E_ID_RANGE when the map does not hold it (also for a string no id
 * can be); CNS_E_ARG for a NULL map / index, NULL id with len > 0, or an
 * unknown table. Read-only, allocation-free, expected O(len).
 * @param map    the map
 * @param table  CNS_TABLE_USERS or CNS_TABLE_ITEMS
 * @param id     the raw id's bytes
 * @param len    their number
 * @param index  receives the index
 * @return CNS_OK, CNS_E_ID_RANGE, CNS_E_ARG.
 */
CNS_API CNS_NODISCARD cns_status cns_idmap_find(const cns_idmap *map, cns_table table,
                                                const char *id, size_t len, int32_t *index);
/** The same for a 64-bit numeric id (the key of its decimal digits). */
/** The index of a 64-bit numeric id (the key of its decimal digits), as
 *  cns_idmap_find. Read-only, allocation-free.
 *  @param map    the map
 *  @param table  CNS_TABLE_USERS or CNS_TABLE_ITEMS
 *  @param id     the numeric id
 *  @param index  receives the index
 *  @return CNS_OK; CNS_E_ID_RANGE when the map does not hold it; CNS_E_ARG
 *          as cns_idmap_find. */
CNS_API CNS_NODISCARD cns_status cns_idmap_find_u64(const cns_idmap *map, cns_table table,
                                                    uint64_t id, int32_t *index);

/** The raw id of index: *id points to its NUL-terminated bytes (owned by
 * map, valid until it is freed), *len (optional) gets its length.
 * CNS_E_ARG for an index out of range, a NULL map / id, an unknown table.
 * Read-only.
 * @param map    the map
 * @param table  CNS_TABLE_USERS or CNS_TABLE_ITEMS
 * @param index  the index
 * @param id     receives the raw id (owned by map)
 * @param len    optional out: its length
 * @return CNS_OK or CNS_E_ARG.
 */
CNS_API CNS_NODISCARD cns_status cns_idmap_raw(const cns_idmap *map, cns_table table,
                                               int32_t index, const char **id, size_t *len);
/** The raw id of index as a 64-bit number. CNS_E_UNSUPPORTED when the id
 * is not a decimal number below 2^64; CNS_E_ARG as cns_idmap_raw.
 *  @param map    the map
 *  @param table  CNS_TABLE_USERS or CNS_TABLE_ITEMS
 *  @param index  the index
 *  @param id     receives the number
 *  @return CNS_OK, CNS_E_UNSUPPORTED, CNS_E_ARG.
 */
CNS_API CNS_NODISCARD cns_status cns_idmap_raw_u64(const cns_idmap *map, cns_table table,
                                                   int32_t index, uint64_t *id);

/* ---- the model's raw ids --------------------------------------------------- */

/** Gives m a copy of map (its users and items must be m's counts, else
 * CNS_E_SIZE); NULL removes m's map. The copy goes into m's checkpoints
 * (section 'IDMP', docs/CHECKPOINT.md) and cns_model_load restores it.
 * CNS_E_ARG (NULL m), CNS_E_NOMEM (m's map unchanged); the detail is in
 * cns_model_last_error(). Pointers from cns_model_idmap() or
 * cns_model_recommend_raw() die with the previous map.
 * @param m    the model
 * @param map  the map to copy (the caller keeps it), or NULL to remove m's map
 * @return CNS_OK, CNS_E_SIZE, CNS_E_ARG, CNS_E_NOMEM.
 */
CNS_API CNS_NODISCARD cns_status cns_model_set_idmap(cns_model *m, const cns_idmap *map);

/** m's map, NULL when m has none (dense ids). Owned by m. Read-only.
 *  @param m  the model
 *  @return the map, or NULL (also for a NULL m).
 */
CNS_API const cns_idmap *cns_model_idmap(const cns_model *m);

/** cns_model_recommend for raw user id user[0..user_len): items receives
 * the k best item indices (as cns_model_recommend), raw_items (optional,
 * k entries) their raw ids (NUL-terminated, owned by m's map), scores
 * (optional) their scores. CNS_E_UNSUPPORTED when m has no map;
 * CNS_E_ID_RANGE when the map does not hold the user; otherwise the
 * statuses of cns_model_recommend. Read-only and allocation-free.
 * @param m          the model
 * @param user       the raw user id's bytes
 * @param user_len   their number
 * @param k          how many items to return
 * @param items      k entries out: the item indices
 * @param raw_items  optional, k entries out: their raw ids
 * @param scores     optional, k entries out: their scores
 * @param n_out      receives the number of items written
 * @return CNS_OK, CNS_E_UNSUPPORTED, CNS_E_ID_RANGE, or a status of
 *         cns_model_recommend.
 */
CNS_API CNS_NODISCARD cns_status cns_model_recommend_raw(const cns_model *m, const char *user,
                                                         size_t user_len, size_t k,
                                                         int32_t *items, const char **raw_items,
                                                         float *scores, size_t *n_out);

#ifdef __cplusplus
}
#endif

#endif
