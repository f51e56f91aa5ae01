/* The allocator of the loader fuzz targets (fuzz_dataset.c,
 * fuzz_idmap.c): it grants every request (no per-block cap, so a target
 * sees what a host with malloc would see) and counts the bytes the
 * library holds through it, so a target can fail when an input of n
 * bytes makes the loader hold more than FUZZ_MEM_PER_BYTE * n +
 * FUZZ_MEM_CONST bytes at any moment.
 *
 * Why these numbers (docs/DATA.md "Memory"): a dense file's ids are
 * bounded by 16 x lines + 1048575 and a line takes at least 3 bytes, so
 * the tables sized by the largest id take at most about 28 bytes per id:
 * about 150 bytes per input byte beyond a constant of about 30 MB (the
 * 1048575 ids of slack). A map costs a few dozen bytes per distinct id.
 * The old loader held 8 x (largest id) bytes for a 14-byte input. */
#ifndef CNS_FUZZ_MEM_H
#define CNS_FUZZ_MEM_H

#include <stddef.h>
#include <stdlib.h>

#define FUZZ_MEM_PER_BYTE ((size_t)256)
#define FUZZ_MEM_CONST ((size_t)64 << 20)

typedef struct fuzz_alloc {
    size_t live;   /* blocks held */
    size_t held;   /* bytes held */
    size_t peak;   /* the most bytes held at once */
} fuzz_alloc;

/* Each block carries its size in front, so frees can count bytes. */
static void *fuzz_alloc_fn(void *user, size_t n) {
    fuzz_alloc *f = user;
    if (n > ((size_t)1 << 40)) return NULL; /* beyond any machine: malloc would fail too */
    max_align_t *p = malloc(n + sizeof(max_align_t));
    if (p == NULL) return NULL;
    *(size_t *)(void *)p = n;
    f->live++;
    f->held += n;
    if (f->held > f->peak) f->peak = f->held;
    return p + 1;
}

static void fuzz_free_fn(void *user, void *q) {
    fuzz_alloc *f = user;
    if (q == NULL) return;
    max_align_t *p = (max_align_t *)q - 1;
    f->live--;
    f->held -= *(size_t *)(void *)p;
    free(p);
}

/* 1 when the peak stayed within the bound for an input of n bytes. */
static int fuzz_mem_ok(const fuzz_alloc *f, size_t n) {
    return f->peak <= FUZZ_MEM_PER_BYTE * n + FUZZ_MEM_CONST;
}

#endif
