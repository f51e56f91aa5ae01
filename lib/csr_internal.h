/* Internal: checking a host's CSR arrays (cns_csr) where the library
 * reads them. */
#ifndef CNS_CSR_INTERNAL_H
#define CNS_CSR_INTERNAL_H

#include "cnsdiff/dataset.h"

/* Copies the caller's first struct_size bytes into *out (defaults for the
 * rest) and checks what is O(1) to check: NULL arrays, counts >= 1,
 * row_ptr[0] = 0 and row_ptr[num_users] >= 0. fn prefixes the message
 * written into msg (CNS_ERROR_MESSAGE_SIZE bytes). */
cns_status cns__csr_read(const cns_csr *in, cns_csr *out, const char *fn, char *msg);

/* Checks user u's row of a read CSR (u in range): its offsets within
 * [0, row_ptr[num_users]] and non-decreasing, its ids in [0, num_items)
 * and strictly ascending. O(row length). */
cns_status cns__csr_check_row(const cns_csr *c, int32_t u, const char *fn, char *msg);

#endif
