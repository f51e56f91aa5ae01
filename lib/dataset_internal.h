/* Internal: the dataset's layout and the builder shared by every loader. */
#ifndef CNS_DATASET_INTERNAL_H
#define CNS_DATASET_INTERNAL_H

#include "alloc.h"
#include "cnsdiff/dataset.h"

struct cns_dataset {
    cns__alloc al;
    int32_t num_users;
    int32_t num_items;
    size_t nnz;           /* pairs after de-duplication */
    size_t *user_ptr;     /* num_users + 1 offsets into items (CSR) */
    int32_t *items;       /* nnz item ids, sorted within each user */
    int32_t *pop;         /* num_items: users per item */
    size_t skipped;       /* malformed lines skipped by a loader */
    size_t duplicates;    /* duplicate pairs removed */
    size_t unknown;       /* lines with an id unknown to the training set, skipped */
};

/* 1 when v is in the ascending array a[0..n), by binary search: the
 * membership test of a user's CSR row, used by the dataset, the batcher
 * and the evaluator. */
static inline int cns__sorted_contains(const int32_t *a, size_t n, int32_t v) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == v;
}

/* Builds a dataset from n pairs (ids already validated as >= 0).
 * num_users / num_items: 0 to use max id + 1, else counts that must exceed
 * every id (CNS_E_ID_RANGE otherwise). Sorting is a two-pass counting sort
 * (by item, then stably by user), O(n + users + items). */
cns_status cns__dataset_build(const cns__alloc *al, const int32_t *users, const int32_t *items,
                              size_t n, int32_t num_users, int32_t num_items, cns_dataset **out,
                              cns_error *err);

#endif
