/** @file
 * libcnsdiff — rows from a host's own tables.
 *
 * The sampler and the loss read float rows. A host that keeps its
 * embeddings elsewhere (double tables, rows scattered by id, a row
 * pointer per entity) gathers a batch's rows with one call instead of a
 * conversion loop of its own:
 *
 *     cns_rows_src src;
 *     cns_rows_src_init(&src);
 *     src.elem = CNS_ELEM_F64; src.dim = 32;
 *     src.base = user_table; src.num_rows = num_users; src.index = batch_users;
 *     cns_rows_gather(&src, n, u_rows, 0, &err);     // n x 32 floats
 *
 * Threads: the call keeps no state; any number of threads may gather
 * concurrently (into different outputs).
 */
#ifndef CNSDIFF_ROWS_H
#define CNSDIFF_ROWS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Element types of a host table. Values are part of the ABI. */
typedef enum cns_elem_type {
    CNS_ELEM_F32 = 1, /**< float */
    CNS_ELEM_F64 = 2  /**< double, rounded to the nearest float when gathered */
} cns_elem_type;

/** Where a batch's rows are in a host table.
 *
 *  Three ways to address row b of the batch (b in [0, n)):
 *   - rows != NULL: it starts at rows[b] (base, stride, index are ignored);
 *   - index != NULL: it is table row index[b], starting at
 *     base + index[b] * stride elements; index[b] must be in [0, num_rows);
 *   - otherwise: it is table row b, at base + b * stride.
 *  Fill with cns_rows_src_init(); the library reads only the first
 *  struct_size bytes. Pointers are borrowed for the call only.
 */
typedef struct cns_rows_src {
    size_t struct_size;       /**< = sizeof(cns_rows_src), set by cns_rows_src_init */
    int32_t elem;             /**< cns_elem_type of the table, default CNS_ELEM_F32 */
    int32_t dim;              /**< elements per row to gather, >= 1 */
    const void *base;         /**< the table's row 0 (with index, or without rows) */
    size_t stride;            /**< elements between the starts of consecutive table rows;
                                   0 means dim */
    const int64_t *index;     /**< optional: the table row of each batch row */
    int64_t num_rows;         /**< rows in the table: bounds index (required with index) */
    const void *const *rows;  /**< optional: the start of each batch row */
} cns_rows_src;

/** Sets src to the defaults: CNS_ELEM_F32, everything else 0/NULL. NULL is
 *  a no-op.
 *  @param src  the struct to fill, or NULL
 */
CNS_API void cns_rows_src_init(cns_rows_src *src);

/** Copies n rows of src->dim elements, converted to float, into out.
 *  @param src         the table and the rows; read only
 *  @param n           rows to gather (0 is allowed and copies nothing)
 *  @param out         n rows out, row b at out + b * out_stride
 *  @param out_stride  floats between out rows, 0 means src->dim
 *  @param err         optional detail, e.g. "cns_rows_gather: index[3] = 90
 *                     is outside [0, 80)"
 *  @return CNS_OK; CNS_E_SIZE for a bad struct_size or a stride below
 *          dim; CNS_E_ARG for a NULL src, out, base, row pointer, an
 *          unknown elem, dim < 1, an index out of range. On failure out
 *          may be partly written. A double too large for a float becomes
 *          an infinity (the loss and the sampler then report it). */
CNS_API CNS_NODISCARD cns_status cns_rows_gather(const cns_rows_src *src, size_t n, float *out,
                                                 size_t out_stride, cns_error *err);

#ifdef __cplusplus
}
#endif

#endif
