/* Interaction data in memory: CSR per user, popularity, membership
 * (ALGORITHM.md §2). The text loaders live in dataset_load.c. */
#include <string.h>

#include "dataset_internal.h"
#include "cnsdiff/idmap.h"
#include "error.h"

static void dataset_destroy(cns_dataset *ds) {
    if (ds == NULL) return;
    cns__alloc al = ds->al;
    cns__free(&al, ds->user_ptr);
    cns__free(&al, ds->items);
    cns__free(&al, ds->pop);
    cns__free(&al, ds);
}

CNS_API void cns_dataset_free(cns_dataset *ds) { dataset_destroy(ds); }

cns_status cns__dataset_build(const cns__alloc *al, const int32_t *users, const int32_t *items,
                              size_t n, int32_t num_users, int32_t num_items, cns_dataset **out,
                              cns_error *err) {
    if (n == 0) return cns__fail(err, CNS_E_EMPTY, "no interactions");
    int32_t max_u = -1, max_i = -1;
    for (size_t k = 0; k < n; ++k) {
        if (users[k] < 0 || items[k] < 0)
            return cns__fail(err, CNS_E_BAD_ID, "pair %zu: negative id (%d, %d)", k, (int)users[k],
                             (int)items[k]);
        if (users[k] > max_u) max_u = users[k];
        if (items[k] > max_i) max_i = items[k];
    }
    if (max_u == INT32_MAX || max_i == INT32_MAX)
        return cns__fail(err, CNS_E_ID_RANGE, "id %d leaves no room for the count max id + 1",
                         (int)INT32_MAX);
    if (num_users < 0 || num_items < 0)
        return cns__fail(err, CNS_E_ARG, "num_users and num_items must be >= 0");
    if (num_users == 0) num_users = max_u + 1;
    if (num_items == 0) num_items = max_i + 1;
    if (max_u >= num_users)
        return cns__fail(err, CNS_E_ID_RANGE, "user id %d is not below num_users = %d", (int)max_u,
                         (int)num_users);
    if (max_i >= num_items)
        return cns__fail(err, CNS_E_ID_RANGE, "item id %d is not below num_items = %d", (int)max_i,
                         (int)num_items);

    cns_dataset *ds = cns__calloc(al, 1, sizeof *ds);
    if (ds == NULL) return cns__fail(err, CNS_E_NOMEM, "out of memory for the dataset handle");
    ds->al = *al;
    ds->num_users = num_users;
    ds->num_items = num_items;
    size_t *item_ptr = cns__calloc(al, (size_t)num_items + 1, sizeof *item_ptr);
    int32_t *by_item_user = cns__calloc(al, n, sizeof *by_item_user);
    int32_t *by_item_item = cns__calloc(al, n, sizeof *by_item_item);
    ds->user_ptr = cns__calloc(al, (size_t)num_users + 1, sizeof *ds->user_ptr);
    ds->items = cns__calloc(al, n, sizeof *ds->items);
    ds->pop = cns__calloc(al, (size_t)num_items, sizeof *ds->pop);
    if (!item_ptr || !by_item_user || !by_item_item || !ds->user_ptr || !ds->items || !ds->pop) {
        cns__free(al, item_ptr);
        cns__free(al, by_item_user);
        cns__free(al, by_item_item);
        dataset_destroy(ds);
        return cns__fail(err, CNS_E_NOMEM, "out of memory for %zu interactions", n);
    }
    /* Pass 1: counting sort by item. */
    for (size_t k = 0; k < n; ++k) item_ptr[items[k] + 1]++;
    for (int32_t i = 0; i < num_items; ++i) item_ptr[i + 1] += item_ptr[i];
    for (size_t k = 0; k < n; ++k) {
        size_t at = item_ptr[items[k]]++;
        by_item_user[at] = users[k];
        by_item_item[at] = items[k];
    }
    /* Pass 2: stable counting sort by user; items end up sorted per user. */
    for (size_t k = 0; k < n; ++k) ds->user_ptr[by_item_user[k] + 1]++;
    for (int32_t u = 0; u < num_users; ++u) ds->user_ptr[u + 1] += ds->user_ptr[u];
    size_t *fill = item_ptr; /* reuse: needs num_users + 1 slots */
    if ((size_t)num_users > (size_t)num_items) {
        cns__free(al, item_ptr);
        fill = cns__calloc(al, (size_t)num_users + 1, sizeof *fill);
        if (fill == NULL) {
            cns__free(al, by_item_user);
            cns__free(al, by_item_item);
            dataset_destroy(ds);
            return cns__fail(err, CNS_E_NOMEM, "out of memory for %zu interactions", n);
        }
    }
    memcpy(fill, ds->user_ptr, ((size_t)num_users + 1) * sizeof *fill);
    for (size_t k = 0; k < n; ++k) ds->items[fill[by_item_user[k]]++] = by_item_item[k];
    cns__free(al, fill);
    cns__free(al, by_item_user);
    cns__free(al, by_item_item);
    /* De-duplicate in place, rebuilding the offsets. */
    size_t w = 0;
    for (int32_t u = 0; u < num_users; ++u) {
        size_t begin = ds->user_ptr[u], end = ds->user_ptr[u + 1];
        ds->user_ptr[u] = w;
        for (size_t k = begin; k < end; ++k)
            if (k == begin || ds->items[k] != ds->items[k - 1]) ds->items[w++] = ds->items[k];
    }
    ds->user_ptr[num_users] = w;
    ds->duplicates = n - w;
    ds->nnz = w;
    for (size_t k = 0; k < w; ++k) ds->pop[ds->items[k]]++;
    *out = ds;
    cns__ok(err);
    return CNS_OK;
}

CNS_API cns_status cns_dataset_from_arrays(const int32_t *users, const int32_t *items, size_t n,
                                           int32_t num_users, int32_t num_items,
                                           const cns_allocator *alloc, cns_dataset **out,
                                           cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "cns_dataset_from_arrays: out is NULL");
    *out = NULL;
    if (n > 0 && (users == NULL || items == NULL))
        return cns__fail(err, CNS_E_ARG, "cns_dataset_from_arrays: %s is NULL", users == NULL ? "users" : "items");
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "cns_dataset_from_arrays: allocator has a NULL function");
    return cns__dataset_build(&al, users, items, n, num_users, num_items, out, err);
}

CNS_API int32_t cns_dataset_num_users(const cns_dataset *ds) { return ds ? ds->num_users : 0; }
CNS_API int32_t cns_dataset_num_items(const cns_dataset *ds) { return ds ? ds->num_items : 0; }
CNS_API size_t cns_dataset_num_interactions(const cns_dataset *ds) { return ds ? ds->nnz : 0; }
CNS_API size_t cns_dataset_skipped(const cns_dataset *ds) { return ds ? ds->skipped : 0; }
CNS_API size_t cns_dataset_duplicates(const cns_dataset *ds) { return ds ? ds->duplicates : 0; }
CNS_API size_t cns_dataset_unknown(const cns_dataset *ds) { return ds ? ds->unknown : 0; }

CNS_API cns_status cns_dataset_user_items(const cns_dataset *ds, int32_t user,
                                          const int32_t **items, size_t *count) {
    if (ds == NULL || items == NULL || count == NULL) return CNS_E_ARG;
    if (user < 0 || user >= ds->num_users) return CNS_E_ARG;
    *items = ds->items + ds->user_ptr[user];
    *count = ds->user_ptr[user + 1] - ds->user_ptr[user];
    return CNS_OK;
}

CNS_API int cns_dataset_contains(const cns_dataset *ds, int32_t user, int32_t item) {
    if (ds == NULL || user < 0 || user >= ds->num_users) return 0;
    size_t begin = ds->user_ptr[user];
    return cns__sorted_contains(ds->items + begin, ds->user_ptr[user + 1] - begin, item);
}

CNS_API const int32_t *cns_dataset_item_popularity(const cns_dataset *ds) {
    return ds ? ds->pop : NULL;
}

CNS_API cns_status cns_dataset_pair(const cns_dataset *ds, size_t k, int32_t *user, int32_t *item) {
    if (ds == NULL || user == NULL || item == NULL || k >= ds->nnz) return CNS_E_ARG;
    /* Binary search for the user whose row holds k. */
    size_t lo = 0, hi = (size_t)ds->num_users;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ds->user_ptr[mid] <= k)
            lo = mid;
        else
            hi = mid;
    }
    *user = (int32_t)lo;
    *item = ds->items[k];
    return CNS_OK;
}
