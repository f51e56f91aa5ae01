/* Gathering a batch's rows from a host's tables (float or double,
 * strided, indexed or by row pointer) into float rows: the conversion a
 * bring-your-own-model host would otherwise write itself. */
#include <string.h>

#include "cnsdiff/rows.h"
#include "error.h"

CNS_API void cns_rows_src_init(cns_rows_src *src) {
    if (src == NULL) return;
    memset(src, 0, sizeof *src);
    src->struct_size = sizeof *src;
    src->elem = CNS_ELEM_F32;
}

CNS_API cns_status cns_rows_gather(const cns_rows_src *src, size_t n, float *out,
                                   size_t out_stride, cns_error *err) {
    static const char fn[] = "cns_rows_gather";
    if (src == NULL || out == NULL)
        return cns__fail(err, CNS_E_ARG, "%s: %s is NULL", fn, src == NULL ? "src" : "out");
    if (src->struct_size < offsetof(cns_rows_src, rows) + sizeof(void *) ||
        src->struct_size > 65536)
        return cns__fail(err, CNS_E_SIZE, "%s: src->struct_size = %zu (use cns_rows_src_init)", fn,
                         src->struct_size);
    cns_rows_src s;
    cns_rows_src_init(&s);
    memcpy(&s, src, src->struct_size < sizeof s ? src->struct_size : sizeof s);
    if (s.elem != CNS_ELEM_F32 && s.elem != CNS_ELEM_F64)
        return cns__fail(err, CNS_E_ARG, "%s: src->elem = %d is not CNS_ELEM_F32 (1) or F64 (2)",
                         fn, (int)s.elem);
    if (s.dim < 1) return cns__fail(err, CNS_E_ARG, "%s: src->dim = %d is below 1", fn, (int)s.dim);
    const size_t d = (size_t)s.dim;
    if (s.stride == 0) s.stride = d;
    if (out_stride == 0) out_stride = d;
    if (s.stride < d || out_stride < d)
        return cns__fail(err, CNS_E_SIZE, "%s: %s = %zu is smaller than dim %zu", fn,
                         s.stride < d ? "src->stride" : "out_stride",
                         s.stride < d ? s.stride : out_stride, d);
    if (s.rows == NULL && s.base == NULL && n > 0)
        return cns__fail(err, CNS_E_ARG, "%s: src->base and src->rows are both NULL", fn);
    if (s.rows == NULL && s.index != NULL && s.num_rows < 1)
        return cns__fail(err, CNS_E_ARG, "%s: src->num_rows = %lld: index needs the table's rows",
                         fn, (long long)s.num_rows);
    const size_t esz = s.elem == CNS_ELEM_F64 ? sizeof(double) : sizeof(float);
    for (size_t b = 0; b < n; ++b) {
        const void *row;
        if (s.rows != NULL) {
            row = s.rows[b];
            if (row == NULL) return cns__fail(err, CNS_E_ARG, "%s: src->rows[%zu] is NULL", fn, b);
        } else {
            size_t r = b;
            if (s.index != NULL) {
                if (s.index[b] < 0 || s.index[b] >= s.num_rows)
                    return cns__fail(err, CNS_E_ARG, "%s: src->index[%zu] = %lld is outside [0, %lld)",
                                     fn, b, (long long)s.index[b], (long long)s.num_rows);
                r = (size_t)s.index[b];
            }
            row = (const char *)s.base + r * s.stride * esz;
        }
        float *o = out + b * out_stride;
        if (s.elem == CNS_ELEM_F32) {
            memcpy(o, row, d * sizeof *o);
        } else {
            const double *x = row;
            for (size_t k = 0; k < d; ++k) o[k] = (float)x[k];
        }
    }
    cns__ok(err);
    return CNS_OK;
}
