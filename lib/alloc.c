/* The per-handle allocator layer: alignment on top of the caller's
 * alloc/free, and overflow-checked sizes. */
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CNS_ALIGN 64

static void *default_alloc(void *user, size_t size) {
    (void)user;
    return malloc(size);
}

static void default_free(void *user, void *ptr) {
    (void)user;
    free(ptr);
}

cns_status cns__alloc_init(cns__alloc *dst, const cns_allocator *src) {
    if (src == NULL) {
        dst->a.alloc = default_alloc;
        dst->a.free = default_free;
        dst->a.user = NULL;
        return CNS_OK;
    }
    if (src->alloc == NULL || src->free == NULL) return CNS_E_ARG;
    dst->a = *src;
    return CNS_OK;
}

int cns__mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Layout: [raw ... pad][raw pointer][aligned block]. The raw pointer sits
 * just before the aligned block so free can find it. */
void *cns__malloc(const cns__alloc *al, size_t n) {
    if (n > SIZE_MAX - CNS_ALIGN - sizeof(void *)) return NULL;
    unsigned char *raw = al->a.alloc(al->a.user, n + CNS_ALIGN + sizeof(void *));
    if (raw == NULL) return NULL;
    uintptr_t start = (uintptr_t)(raw + sizeof(void *));
    uintptr_t aligned = (start + CNS_ALIGN - 1) & ~(uintptr_t)(CNS_ALIGN - 1);
    void **slot = (void **)(aligned - sizeof(void *));
    *slot = raw;
    return (void *)aligned;
}

void *cns__calloc(const cns__alloc *al, size_t count, size_t size) {
    size_t n;
    if (!cns__mul_ok(count, size, &n)) return NULL;
    void *p = cns__malloc(al, n);
    if (p != NULL) memset(p, 0, n);
    return p;
}

void cns__free(const cns__alloc *al, void *p) {
    if (p == NULL) return;
    void *raw = ((void **)p)[-1];
    al->a.free(al->a.user, raw);
}

void *cns__realloc(const cns__alloc *al, void *p, size_t old_n, size_t new_n) {
    void *q = cns__malloc(al, new_n);
    if (q == NULL) return NULL;
    if (p != NULL) {
        memcpy(q, p, old_n < new_n ? old_n : new_n);
        cns__free(al, p);
    }
    return q;
}
