/* Host CSR arrays (cns_csr): their checks, and a dataset built from them,
 * so the evaluator and the catalogue samplers take a host's own arrays. */
#include <string.h>

#include "alloc.h"
#include "csr_internal.h"
#include "dataset_internal.h"
#include "error.h"

CNS_API void cns_csr_init(cns_csr *csr) {
    if (csr == NULL) return;
    memset(csr, 0, sizeof *csr);
    csr->struct_size = sizeof *csr;
}

cns_status cns__csr_read(const cns_csr *in, cns_csr *out, const char *fn, char *msg) {
    cns_csr_init(out);
    if (in == NULL) return cns__msg(msg, CNS_E_ARG, "%s: csr is NULL", fn);
    /* Every version of the struct has item_ids. */
    if (in->struct_size < offsetof(cns_csr, item_ids) + sizeof(int32_t *) ||
        in->struct_size > 65536)
        return cns__msg(msg, CNS_E_SIZE, "%s: csr->struct_size = %zu (use cns_csr_init)", fn,
                        in->struct_size);
    memcpy(out, in, in->struct_size < sizeof *out ? in->struct_size : sizeof *out);
    out->struct_size = sizeof *out;
    if (out->row_ptr == NULL || out->item_ids == NULL)
        return cns__msg(msg, CNS_E_ARG, "%s: csr->%s is NULL", fn,
                        out->row_ptr == NULL ? "row_ptr" : "item_ids");
    if (out->num_users < 1 || out->num_items < 1)
        return cns__msg(msg, CNS_E_ARG, "%s: csr has %d users x %d items (both must be >= 1)", fn,
                        (int)out->num_users, (int)out->num_items);
    if (out->row_ptr[0] != 0)
        return cns__msg(msg, CNS_E_ARG, "%s: csr->row_ptr[0] = %lld, expected 0", fn,
                        (long long)out->row_ptr[0]);
    if (out->row_ptr[out->num_users] < 0)
        return cns__msg(msg, CNS_E_ARG, "%s: csr->row_ptr[%d] = %lld is negative", fn,
                        (int)out->num_users, (long long)out->row_ptr[out->num_users]);
    return CNS_OK;
}

cns_status cns__csr_check_row(const cns_csr *c, int32_t u, const char *fn, char *msg) {
    const int64_t lo = c->row_ptr[u], hi = c->row_ptr[u + 1], end = c->row_ptr[c->num_users];
    if (lo < 0 || hi < lo || hi > end)
        return cns__msg(msg, CNS_E_ARG,
                        "%s: csr->row_ptr[%d..%d] = %lld..%lld is not a range within [0, %lld]",
                        fn, (int)u, (int)u + 1, (long long)lo, (long long)hi, (long long)end);
    for (int64_t p = lo; p < hi; ++p) {
        const int32_t it = c->item_ids[p];
        if (it < 0 || it >= c->num_items)
            return cns__msg(msg, CNS_E_ARG, "%s: csr->item_ids[%lld] = %d is outside [0, %d)", fn,
                            (long long)p, (int)it, (int)c->num_items);
        if (p > lo && it <= c->item_ids[p - 1])
            return cns__msg(msg, CNS_E_ARG,
                            "%s: csr->item_ids[%lld] = %d does not ascend in user %d's row", fn,
                            (long long)p, (int)it, (int)u);
    }
    return CNS_OK;
}

CNS_API cns_status cns_dataset_from_csr(const cns_csr *csr, const cns_allocator *alloc,
                                        cns_dataset **out, cns_error *err) {
    static const char fn[] = "cns_dataset_from_csr";
    char msg[CNS_ERROR_MESSAGE_SIZE];
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "%s: out is NULL", fn);
    *out = NULL;
    cns_csr c;
    cns_status st = cns__csr_read(csr, &c, fn, msg);
    for (int32_t u = 0; st == CNS_OK && u < c.num_users; ++u) st = cns__csr_check_row(&c, u, fn, msg);
    if (st != CNS_OK) return cns__fail(err, st, "%s", msg);
    const int64_t nnz = c.row_ptr[c.num_users];
    if (nnz == 0) return cns__fail(err, CNS_E_EMPTY, "%s: the CSR holds no interaction", fn);
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "%s: allocator has a NULL function", fn);
    /* The builder takes pairs: expand the rows' user ids once. */
    int32_t *users = cns__calloc(&al, (size_t)nnz, sizeof *users);
    if (users == NULL)
        return cns__fail(err, CNS_E_NOMEM, "%s: out of memory for %lld pairs", fn, (long long)nnz);
    for (int32_t u = 0; u < c.num_users; ++u)
        for (int64_t p = c.row_ptr[u]; p < c.row_ptr[u + 1]; ++p) users[p] = u;
    st = cns__dataset_build(&al, users, c.item_ids, (size_t)nnz, c.num_users, c.num_items, out, err);
    cns__free(&al, users);
    return st;
}
