/* Internal: the per-handle allocator layer. Every allocation of the
 * library goes through here, so a caller's allocator (and the
 * failure-injection tests) see all of them. */
#ifndef CNS_ALLOC_H
#define CNS_ALLOC_H

#include <stddef.h>

#include "cnsdiff/common.h"

/* A handle's copy of the caller's allocator (or malloc/free). */
typedef struct cns__alloc {
    cns_allocator a;
} cns__alloc;

/* Copies src, or installs malloc/free when src is NULL. Returns CNS_E_ARG
 * when src has a NULL function pointer. */
cns_status cns__alloc_init(cns__alloc *dst, const cns_allocator *src);

/* 64-byte aligned memory (SIMD rows, no false sharing); NULL on failure or
 * size overflow. n == 0 still returns a unique pointer. */
void *cns__malloc(const cns__alloc *al, size_t n);
/* count * size bytes, zeroed; NULL on overflow or failure. */
void *cns__calloc(const cns__alloc *al, size_t count, size_t size);
/* Frees what cns__malloc/cns__calloc returned; NULL is a no-op. */
void cns__free(const cns__alloc *al, void *p);
/* Grows (or shrinks) p from old_n to new_n bytes keeping the contents;
 * on failure returns NULL and leaves p untouched. */
void *cns__realloc(const cns__alloc *al, void *p, size_t old_n, size_t new_n);

/* a * b without overflow: 0 and *out untouched on overflow, else 1. */
int cns__mul_ok(size_t a, size_t b, size_t *out);

#endif
