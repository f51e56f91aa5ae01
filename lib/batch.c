/* Mini-batches of (user, positive, random negative) triples
 * (ALGORITHM.md §3): a per-epoch shuffle of every training pair and one
 * uniform negative per pair from the user's unobserved items. */
#include <string.h>

#include "dataset_internal.h"
#include "error.h"
#include "rng.h"

/* Stream purposes: the shuffle and the negatives never share a stream. */
#define SHUFFLE_PURPOSE 0x73687566666c65ull /* "shuffle" */
#define NEGATIVE_PURPOSE 0x6e6567ull        /* "neg" */

typedef struct pair32 {
    int32_t u, i;
} pair32;

struct cns_batcher {
    cns__alloc al;
    const cns_dataset *ds;
    size_t batch_size;  /* as given */
    size_t cap;         /* min(batch_size, nnz): the output arrays' length */
    size_t num_batches;
    uint64_t seed;
    uint64_t epoch;
    int started;        /* begin_epoch was called */
    size_t next_batch;  /* index of the batch next() returns */
    pair32 *order;      /* nnz pairs in this epoch's order */
    int32_t *users, *pos, *neg;
    char last_error[CNS__MSG_SIZE];
};

static void batcher_destroy(cns_batcher *b) {
    if (b == NULL) return;
    cns__alloc al = b->al;
    cns__free(&al, b->order);
    cns__free(&al, b->users);
    cns__free(&al, b->pos);
    cns__free(&al, b->neg);
    cns__free(&al, b);
}

CNS_API void cns_batcher_free(cns_batcher *b) { batcher_destroy(b); }

CNS_API cns_status cns_batcher_create(const cns_dataset *train, size_t batch_size, uint64_t seed,
                                      const cns_allocator *alloc, cns_batcher **out,
                                      cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "cns_batcher_create: out is NULL");
    *out = NULL;
    if (train == NULL) return cns__fail(err, CNS_E_ARG, "cns_batcher_create: train is NULL");
    if (batch_size == 0) return cns__fail(err, CNS_E_ARG, "cns_batcher_create: batch_size must be at least 1");
    if (train->nnz == 0) return cns__fail(err, CNS_E_EMPTY, "cns_batcher_create: the training set has no pairs");
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "cns_batcher_create: allocator has a NULL function");
    cns_batcher *b = cns__calloc(&al, 1, sizeof *b);
    if (b == NULL) return cns__fail(err, CNS_E_NOMEM, "cns_batcher_create: out of memory for the batcher");
    b->al = al;
    b->ds = train;
    b->batch_size = batch_size;
    b->cap = batch_size < train->nnz ? batch_size : train->nnz;
    b->num_batches = train->nnz / batch_size + (train->nnz % batch_size != 0);
    b->seed = seed;
    b->order = cns__calloc(&al, train->nnz, sizeof *b->order);
    b->users = cns__calloc(&al, b->cap, sizeof *b->users);
    b->pos = cns__calloc(&al, b->cap, sizeof *b->pos);
    b->neg = cns__calloc(&al, b->cap, sizeof *b->neg);
    if (!b->order || !b->users || !b->pos || !b->neg) {
        batcher_destroy(b);
        return cns__fail(err, CNS_E_NOMEM, "cns_batcher_create: out of memory for a batcher over %zu pairs",
                         train->nnz);
    }
    *out = b;
    cns__ok(err);
    return CNS_OK;
}

/* Uniform in [0, n) for any n >= 1 (the pair count may exceed 2^32). */
static size_t below_size(cns__rng *r, size_t n) {
    if (n <= UINT32_MAX) return cns__rng_below(r, (uint32_t)n);
    uint64_t limit = UINT64_MAX - UINT64_MAX % (uint64_t)n; /* reject the biased tail */
    uint64_t x;
    do x = cns__rng_u64(r);
    while (x >= limit);
    return (size_t)(x % (uint64_t)n);
}

CNS_API cns_status cns_batcher_begin_epoch(cns_batcher *b, uint64_t epoch) {
    if (b == NULL) return CNS_E_ARG;
    const cns_dataset *ds = b->ds;
    /* Start from the canonical (user-major) order so the epoch's order is
     * a function of (seed, epoch) alone, not of the previous epoch. */
    size_t k = 0;
    for (int32_t u = 0; u < ds->num_users; ++u)
        for (size_t p = ds->user_ptr[u]; p < ds->user_ptr[u + 1]; ++p) {
            b->order[k].u = u;
            b->order[k++].i = ds->items[p];
        }
    cns__rng r;
    cns__rng_seed(&r, b->seed, cns__rng_key(SHUFFLE_PURPOSE, epoch, 0));
    for (size_t n = ds->nnz; n > 1; --n) { /* Fisher–Yates */
        size_t j = below_size(&r, n);
        pair32 t = b->order[n - 1];
        b->order[n - 1] = b->order[j];
        b->order[j] = t;
    }
    b->epoch = epoch;
    b->started = 1;
    b->next_batch = 0;
    b->last_error[0] = '\0';
    return CNS_OK;
}

/* Number of row entries x with x - (its index) <= k: the observed items
 * below the k-th unobserved one. row is sorted and distinct, so
 * row[j] - j is non-decreasing and a binary search finds the count. */
static size_t observed_before(const int32_t *row, size_t deg, uint32_t k) {
    size_t lo = 0, hi = deg;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uint64_t)row[mid] - mid <= k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

CNS_API cns_status cns_batcher_next(cns_batcher *b, const int32_t **users, const int32_t **pos,
                                    const int32_t **neg, size_t *n) {
    if (b == NULL) return CNS_E_ARG;
    if (users == NULL || pos == NULL || neg == NULL || n == NULL)
        return cns__msg(b->last_error, CNS_E_ARG, "cns_batcher_next: users, pos, neg and n must not be NULL");
    if (!b->started)
        return cns__msg(b->last_error, CNS_E_STATE, "cns_batcher_next: next() called before begin_epoch()");
    *users = b->users;
    *pos = b->pos;
    *neg = b->neg;
    *n = 0;
    if (b->next_batch >= b->num_batches) return CNS_OK;
    const cns_dataset *ds = b->ds;
    const uint32_t m = (uint32_t)ds->num_items;
    size_t first = b->next_batch * b->batch_size;
    size_t count = ds->nnz - first < b->batch_size ? ds->nnz - first : b->batch_size;
    /* One stream per (epoch, batch): a batch's negatives depend on nothing
     * else, so batches could be drawn in any order or in parallel. */
    cns__rng r;
    cns__rng_seed(&r, b->seed, cns__rng_key(NEGATIVE_PURPOSE, b->epoch, b->next_batch));
    for (size_t k = 0; k < count; ++k) {
        int32_t u = b->order[first + k].u;
        const int32_t *row = ds->items + ds->user_ptr[u];
        size_t deg = ds->user_ptr[u + 1] - ds->user_ptr[u];
        int32_t j;
        if (deg >= m) {
            *n = 0;
            return cns__msg(b->last_error, CNS_E_SATURATED,
                            "epoch %llu, batch %zu: user %d has interacted with all %u items, so "
                            "no negative exists",
                            (unsigned long long)b->epoch, b->next_batch, (int)u, (unsigned)m);
        }
        if (deg > m / 2) {
            /* Dense row: rejection would take m / (m - deg) tries on
             * average; pick the k-th unobserved item directly instead. */
            uint32_t want = cns__rng_below(&r, m - (uint32_t)deg);
            j = (int32_t)(want + observed_before(row, deg, want));
        } else {
            do j = (int32_t)cns__rng_below(&r, m);
            while (cns__sorted_contains(row, deg, j));
        }
        b->users[k] = u;
        b->pos[k] = b->order[first + k].i;
        b->neg[k] = j;
    }
    b->next_batch++;
    *n = count;
    return CNS_OK;
}

CNS_API size_t cns_batcher_num_batches(const cns_batcher *b) { return b ? b->num_batches : 0; }
CNS_API size_t cns_batcher_batch_size(const cns_batcher *b) { return b ? b->batch_size : 0; }

CNS_API const char *cns_batcher_last_error(const cns_batcher *b) {
    return b ? b->last_error : "the batcher is NULL";
}
