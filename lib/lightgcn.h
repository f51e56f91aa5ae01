/* Internal: LightGCN propagation over the normalised bipartite adjacency
 * (ALGORITHM.md §2). Used by the model handle (model.c); kept apart so the
 * kernels can be tested on their own. */
#ifndef CNS_LIGHTGCN_H
#define CNS_LIGHTGCN_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "cnsdiff/common.h"

/* Â = D^-1/2 A D^-1/2 over n = num_users + num_items nodes (users first,
 * then items at num_users + i), as CSR. Symmetric; columns sorted within
 * each row; rows of zero-degree nodes are empty. */
typedef struct cns__adj {
    size_t n;          /* nodes */
    size_t nnz;        /* stored entries = 2 * interactions */
    size_t *row_ptr;   /* n + 1 */
    int32_t *col;      /* nnz node ids */
    float *val;        /* nnz values 1 / sqrt(deg_r * deg_c) */
    double max_row_sum; /* max over rows of the sum of their values: a bound on
                           how much one layer can grow the largest |entry| */
    int kernel;        /* 0: pick from the CPU. Tests force 1 (SSE2 / plain C),
                          2 (AVX2) or 3 (AVX-512), each used only if the CPU has it. */
} cns__adj;

/* Builds Â from the user-item CSR (user_ptr: num_users + 1 offsets,
 * items: user_ptr[num_users] item ids, sorted per user, < num_items).
 * The caller has validated the CSR and that num_users + num_items fits an
 * int32. CNS_E_NOMEM on allocation failure (adj left empty). */
cns_status cns__adj_build(cns__adj *adj, int32_t num_users, int32_t num_items,
                          const size_t *user_ptr, const int32_t *items, const cns__alloc *al);
void cns__adj_destroy(cns__adj *adj, const cns__alloc *al);

/* Rows a propagation may skip. */
typedef struct cns__prop_rows {
    /* NULL, or n flags where 0 promises that row of `in` is all zero (the
     * backward's dL/dE touches only the batch rows): the first layer then
     * reads only the entries of the live columns (same values, up to the
     * sign of a zero), copied first into the caller's scratch below. */
    const unsigned char *live;
    size_t *live_row_ptr; /* with live: n + 1 offsets of scratch */
    int32_t *live_col;    /* with live: nnz entries of scratch */
    float *live_val;      /* with live: nnz entries of scratch */
    /* NULL, or the rows of out wanted, ascending, n_dst of them. The last
     * layer computes only these; every other row of out is left stale (a
     * partial sum of the layers before, or an earlier call's value), to be
     * recomputed before anyone reads it, and is not checked for overflow.
     * The listed rows get the values a full pass gives them, bit for bit. */
    const int32_t *dst;
    size_t n_dst;
} cns__prop_rows;

/* out = (1/(L+1)) sum_{k=0..L} Â^k in, for n x d row-major matrices.
 * The forward pass applies it to E0, the backward pass to dL/dE (Â is
 * symmetric, so the same operator is its own adjoint).
 * rows: NULL (every row, dense in), or the rows to skip (above).
 * s1, s2: n x d scratch (s1 used for layers >= 2, s2 for layers >= 3);
 *   in, out, s1, s2 must not overlap.
 * Rows are split across `threads` workers, but every row is computed by
 * one worker in a fixed order, so out is bit-identical for any thread
 * count. Returns 1 when a computed row of out holds an infinity or a NaN,
 * else 0. */
int cns__lightgcn_propagate(const cns__adj *adj, int layers, size_t d, const float *in,
                            const cns__prop_rows *rows, float *out, float *s1, float *s2,
                            int threads);

#endif
