/* Internal: the id map's tables, shared by the loaders (dataset_load.c)
 * and the model checkpoint ('IDMP', model_io.c). */
#ifndef CNS_IDMAP_INTERNAL_H
#define CNS_IDMAP_INTERNAL_H

#include "alloc.h"
#include "cnsdiff/idmap.h"

/* One side of a map: the raw ids of users or of items. Keys are stored
 * back to back, each followed by a '\0', and found through an
 * open-addressing hash of their indices (load factor at most 1/2). */
typedef struct cns__idtable {
    char *bytes;          /* keys, each NUL-terminated */
    size_t used, cap;     /* bytes in use / allocated */
    size_t *start;        /* count + 1 offsets into bytes: key k is [start[k], start[k+1] - 1) */
    int32_t count, kcap;  /* keys / capacity of start (minus one) */
    int32_t *slots;       /* key index or -1; nslots = mask + 1, a power of two */
    size_t mask;
    uint64_t seed;        /* hash seed (any value; the map's order never depends on it) */
} cns__idtable;

struct cns_idmap {
    cns__alloc al;
    cns__idtable t[2];    /* CNS_TABLE_USERS, CNS_TABLE_ITEMS */
};

/* A new empty map (CNS_E_NOMEM). */
cns_status cns__idmap_new(const cns__alloc *al, cns_idmap **out);

/* Index of raw id tok[0..len) in table, adding it when new. Decimal ids
 * are canonical (leading zeros dropped) before they are stored or looked
 * up. CNS_E_NOMEM, or CNS_E_ID_RANGE when the table is full (2^31 - 2
 * ids). The caller has checked the id's bytes (cns__id_bytes_ok). */
cns_status cns__idmap_intern(cns_idmap *m, int table, const char *tok, size_t len, int32_t *index);

/* Index of a raw id, or -1. */
int32_t cns__idmap_lookup(const cns_idmap *m, int table, const char *tok, size_t len);

/* Renumbers both tables in the map's order (numbers by value before
 * other ids, those by bytes) and writes perm[table][old] = new into two
 * arrays the function allocates (the caller frees them with cns__free).
 * CNS_E_NOMEM leaves the map as it was. */
cns_status cns__idmap_sort(cns_idmap *m, int32_t **perm_users, int32_t **perm_items);

/* 0 when tok[0..len) may be a raw id: 1 to CNS_IDMAP_MAX_ID_LEN bytes,
 * none of them a control character (below 0x20, or 0x7F). Otherwise a
 * static reason. */
const char *cns__id_bytes_bad(const char *tok, size_t len);

/* A deep copy (its own allocator al). */
cns_status cns__idmap_clone(const cns_idmap *src, const cns__alloc *al, cns_idmap **out);

/* The checkpoint section 'IDMP' (docs/CHECKPOINT.md): its size, and its
 * bytes written into dst (of that size, 8-byte aligned). */
uint64_t cns__idmap_section_size(const cns_idmap *m);
void cns__idmap_section_write(const cns_idmap *m, unsigned char *dst);
/* Checks a section in place against the model's shape (CNS_E_CORRUPT
 * with the detail in err; nothing allocated). */
cns_status cns__idmap_section_check(const unsigned char *p, uint64_t size, int32_t num_users,
                                    int32_t num_items, cns_error *err);
/* Builds the map of a checked section. CNS_E_NOMEM. */
cns_status cns__idmap_section_read(const unsigned char *p, const cns__alloc *al, cns_idmap **out,
                                   cns_error *err);

#endif
