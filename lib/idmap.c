/* Id maps: raw user and item ids <-> dense indices (docs/DATA.md "Ids").
 * Keys live back to back in one byte array per table and are found
 * through an open-addressing hash; the final order is sorted (numbers by
 * value, then bytes), so it never depends on the hash or on line order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "error.h"
#include "idmap_internal.h"

/* Tables hold at most this many ids: indices are int32 and counts too. */
#define MAX_KEYS 2147483646

static int all_digits(const char *s, size_t n) {
    for (size_t k = 0; k < n; ++k)
        if ((unsigned)(unsigned char)s[k] - '0' > 9) return 0;
    return n > 0;
}

/* Decimal ids drop their leading zeros, so "007" and 7 are one key. */
static void canonical(const char **s, size_t *n) {
    if (!all_digits(*s, *n)) return;
    while (*n > 1 && **s == '0') ++*s, --*n;
}

const char *cns__id_bytes_bad(const char *tok, size_t len) {
    if (len == 0) return "is empty";
    if (len > CNS_IDMAP_MAX_ID_LEN) return "is longer than 255 bytes";
    for (size_t k = 0; k < len; ++k) {
        unsigned char c = (unsigned char)tok[k];
        if (c < 0x20 || c == 0x7F || c == ' ') return "holds a control character";
    }
    return NULL;
}

/* A seeded multiply-xorshift hash over 8-byte words. */
static uint64_t key_hash(const char *s, size_t n, uint64_t seed) {
    uint64_t h = seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

static const char *key_at(const cns__idtable *t, int32_t k, size_t *len) {
    *len = t->start[k + 1] - t->start[k] - 1;
    return t->bytes + t->start[k];
}

/* The map's order: numbers (canonical, so shorter is smaller) by value,
 * then the other ids by their bytes. */
static int key_cmp(const char *a, size_t na, const char *b, size_t nb) {
    int da = all_digits(a, na), db = all_digits(b, nb);
    if (da != db) return da ? -1 : 1;
    if (da && na != nb) return na < nb ? -1 : 1;
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c != 0) return c;
    return na < nb ? -1 : na > nb;
}

static void table_free(const cns__alloc *al, cns__idtable *t) {
    cns__free(al, t->bytes);
    cns__free(al, t->start);
    cns__free(al, t->slots);
    memset(t, 0, sizeof *t);
}

/* Places every key into a fresh slot array of nslots (a power of two). */
static cns_status rehash(const cns__alloc *al, cns__idtable *t, size_t nslots) {
    int32_t *slots = cns__malloc(al, nslots * sizeof *slots);
    if (slots == NULL) return CNS_E_NOMEM;
    memset(slots, 0xFF, nslots * sizeof *slots);
    for (int32_t k = 0; k < t->count; ++k) {
        size_t len;
        const char *s = key_at(t, k, &len);
        size_t at = (size_t)key_hash(s, len, t->seed) & (nslots - 1);
        while (slots[at] >= 0) at = (at + 1) & (nslots - 1);
        slots[at] = k;
    }
    cns__free(al, t->slots);
    t->slots = slots;
    t->mask = nslots - 1;
    return CNS_OK;
}

static cns_status table_init(const cns__alloc *al, cns__idtable *t, uint64_t seed) {
    memset(t, 0, sizeof *t);
    t->seed = seed;
    t->start = cns__malloc(al, sizeof *t->start);
    if (t->start == NULL) return CNS_E_NOMEM;
    t->start[0] = 0;
    return rehash(al, t, 16);
}

cns_status cns__idmap_new(const cns__alloc *al, cns_idmap **out) {
    cns_idmap *m = cns__calloc(al, 1, sizeof *m);
    if (m == NULL) return CNS_E_NOMEM;
    m->al = *al;
    /* The seed only spreads keys; the address varies between runs. */
    uint64_t seed = (uint64_t)(uintptr_t)m * 0x9E3779B97F4A7C15ull;
    if (table_init(al, &m->t[0], seed) != CNS_OK || table_init(al, &m->t[1], ~seed) != CNS_OK) {
        cns_idmap_free(m);
        return CNS_E_NOMEM;
    }
    *out = m;
    return CNS_OK;
}

CNS_API void cns_idmap_free(cns_idmap *map) {
    if (map == NULL) return;
    cns__alloc al = map->al;
    table_free(&al, &map->t[0]);
    table_free(&al, &map->t[1]);
    cns__free(&al, map);
}

/* The slot holding key s, or the empty slot where it would go. */
static size_t probe(const cns__idtable *t, const char *s, size_t len) {
    size_t at = (size_t)key_hash(s, len, t->seed) & t->mask;
    for (;;) {
        int32_t k = t->slots[at];
        if (k < 0) return at;
        size_t kl;
        const char *ks = key_at(t, k, &kl);
        if (kl == len && memcmp(ks, s, len) == 0) return at;
        at = (at + 1) & t->mask;
    }
}

int32_t cns__idmap_lookup(const cns_idmap *m, int table, const char *tok, size_t len) {
    const cns__idtable *t = &m->t[table];
    canonical(&tok, &len);
    return t->slots[probe(t, tok, len)];
}

cns_status cns__idmap_intern(cns_idmap *m, int table, const char *tok, size_t len,
                             int32_t *index) {
    cns__idtable *t = &m->t[table];
    const cns__alloc *al = &m->al;
    canonical(&tok, &len);
    size_t at = probe(t, tok, len);
    if (t->slots[at] >= 0) {
        *index = t->slots[at];
        return CNS_OK;
    }
    if (t->count == MAX_KEYS) return CNS_E_ID_RANGE;
    /* Grow what the new key needs, each array by doubling (amortised O(1)). */
    if (t->count == t->kcap) {
        size_t cap = t->kcap ? (size_t)t->kcap * 2 : 64;
        if (cap > MAX_KEYS) cap = MAX_KEYS;
        size_t *ns = cns__realloc(al, t->start, ((size_t)t->kcap + 1) * sizeof *ns,
                                  (cap + 1) * sizeof *ns);
        if (ns == NULL) return CNS_E_NOMEM;
        t->start = ns;
        t->kcap = (int32_t)cap;
    }
    if (t->cap - t->used < len + 1) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap - t->used < len + 1) cap *= 2;
        char *nb = cns__realloc(al, t->bytes, t->cap, cap);
        if (nb == NULL) return CNS_E_NOMEM;
        t->bytes = nb;
        t->cap = cap;
    }
    if ((size_t)(t->count + 1) * 2 > t->mask + 1) {
        if (rehash(al, t, (t->mask + 1) * 2) != CNS_OK) return CNS_E_NOMEM;
        at = probe(t, tok, len);
    }
    memcpy(t->bytes + t->used, tok, len);
    t->bytes[t->used + len] = '\0';
    t->used += len + 1;
    t->start[t->count + 1] = t->used;
    t->slots[at] = t->count;
    *index = t->count++;
    return CNS_OK;
}

typedef struct sort_key {
    const char *s;
    size_t len;
    int32_t old;
} sort_key;

static int sort_key_cmp(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    return key_cmp(x->s, x->len, y->s, y->len);
}

/* Rewrites table t in sorted order into fresh arrays; perm[old] = new. */
static cns_status table_sort(const cns__alloc *al, cns__idtable *t, int32_t **perm_out) {
    const size_t n = (size_t)t->count;
    sort_key *keys = cns__malloc(al, (n ? n : 1) * sizeof *keys);
    int32_t *perm = cns__malloc(al, (n ? n : 1) * sizeof *perm);
    char *bytes = cns__malloc(al, t->used ? t->used : 1);
    size_t *start = cns__malloc(al, (n + 1) * sizeof *start);
    if (!keys || !perm || !bytes || !start) {
        cns__free(al, keys);
        cns__free(al, perm);
        cns__free(al, bytes);
        cns__free(al, start);
        return CNS_E_NOMEM;
    }
    for (size_t k = 0; k < n; ++k) {
        keys[k].s = key_at(t, (int32_t)k, &keys[k].len);
        keys[k].old = (int32_t)k;
    }
    qsort(keys, n, sizeof *keys, sort_key_cmp);
    size_t used = 0;
    start[0] = 0;
    for (size_t k = 0; k < n; ++k) {
        memcpy(bytes + used, keys[k].s, keys[k].len + 1);
        used += keys[k].len + 1;
        start[k + 1] = used;
        perm[keys[k].old] = (int32_t)k;
    }
    cns__free(al, keys);
    /* The slots hold old indices: renumber them in place. */
    for (size_t s = 0; s <= t->mask; ++s)
        if (t->slots[s] >= 0) t->slots[s] = perm[t->slots[s]];
    cns__free(al, t->bytes);
    cns__free(al, t->start);
    t->bytes = bytes;
    t->cap = t->used ? t->used : 1;
    t->start = start;
    t->kcap = t->count;
    *perm_out = perm;
    return CNS_OK;
}

cns_status cns__idmap_sort(cns_idmap *m, int32_t **perm_users, int32_t **perm_items) {
    /* Each table's rewrite is all-or-nothing; the users' is kept if the
     * items' fails, which changes indices but not the map's content. */
    cns_status st = table_sort(&m->al, &m->t[0], perm_users);
    if (st != CNS_OK) return st;
    st = table_sort(&m->al, &m->t[1], perm_items);
    if (st != CNS_OK) {
        cns__free(&m->al, *perm_users);
        *perm_users = NULL;
    }
    return st;
}

cns_status cns__idmap_clone(const cns_idmap *src, const cns__alloc *al, cns_idmap **out) {
    cns_idmap *m;
    if (cns__idmap_new(al, &m) != CNS_OK) return CNS_E_NOMEM;
    for (int t = 0; t < 2; ++t) {
        const cns__idtable *s = &src->t[t];
        for (int32_t k = 0; k < s->count; ++k) {
            size_t len;
            const char *key = key_at(s, k, &len);
            int32_t idx;
            if (cns__idmap_intern(m, t, key, len, &idx) != CNS_OK) {
                cns_idmap_free(m);
                return CNS_E_NOMEM;
            }
        }
    }
    *out = m;
    return CNS_OK;
}

/* ---- public lookups --------------------------------------------------------- */

CNS_API int32_t cns_idmap_count(const cns_idmap *map, cns_table table) {
    if (map == NULL || (table != CNS_TABLE_USERS && table != CNS_TABLE_ITEMS)) return 0;
    return map->t[table].count;
}

CNS_API cns_status cns_idmap_find(const cns_idmap *map, cns_table table, const char *id,
                                  size_t len, int32_t *index) {
    if (map == NULL || index == NULL || (id == NULL && len > 0) ||
        (table != CNS_TABLE_USERS && table != CNS_TABLE_ITEMS))
        return CNS_E_ARG;
    if (cns__id_bytes_bad(id, len) != NULL) return CNS_E_ID_RANGE;
    int32_t k = cns__idmap_lookup(map, table, id, len);
    if (k < 0) return CNS_E_ID_RANGE;
    *index = k;
    return CNS_OK;
}

CNS_API cns_status cns_idmap_find_u64(const cns_idmap *map, cns_table table, uint64_t id,
                                      int32_t *index) {
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)id);
    return cns_idmap_find(map, table, buf, (size_t)n, index);
}

CNS_API cns_status cns_idmap_raw(const cns_idmap *map, cns_table table, int32_t index,
                                 const char **id, size_t *len) {
    if (map == NULL || id == NULL || (table != CNS_TABLE_USERS && table != CNS_TABLE_ITEMS))
        return CNS_E_ARG;
    const cns__idtable *t = &map->t[table];
    if (index < 0 || index >= t->count) return CNS_E_ARG;
    size_t n;
    *id = key_at(t, index, &n);
    if (len != NULL) *len = n;
    return CNS_OK;
}

CNS_API cns_status cns_idmap_raw_u64(const cns_idmap *map, cns_table table, int32_t index,
                                     uint64_t *id) {
    const char *s;
    size_t n;
    if (id == NULL) return CNS_E_ARG;
    cns_status st = cns_idmap_raw(map, table, index, &s, &n);
    if (st != CNS_OK) return st;
    /* Canonical digits: more than 20 never fit, 20 may overflow. */
    if (!all_digits(s, n) || n > 20) return CNS_E_UNSUPPORTED;
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) {
        uint64_t d = (uint64_t)(s[k] - '0');
        if (v > (UINT64_MAX - d) / 10) return CNS_E_UNSUPPORTED;
        v = v * 10 + d;
    }
    *id = v;
    return CNS_OK;
}

/* ---- the checkpoint section 'IDMP' ----------------------------------------- */

/* u32 num_users, u32 num_items, u64 key bytes B, u64 end[U + I] (each
 * key's end, NUL included, in the key area), then the B key bytes. */
enum { IDMP_HEAD = 16 };

uint64_t cns__idmap_section_size(const cns_idmap *m) {
    uint64_t n = (uint64_t)m->t[0].count + (uint64_t)m->t[1].count;
    return IDMP_HEAD + 8u * n + m->t[0].used + m->t[1].used;
}

void cns__idmap_section_write(const cns_idmap *m, unsigned char *dst) {
    const cns__idtable *u = &m->t[0], *i = &m->t[1];
    cns__le32_put(dst, (uint32_t)u->count);
    cns__le32_put(dst + 4, (uint32_t)i->count);
    cns__le64_put(dst + 8, (uint64_t)u->used + i->used);
    unsigned char *ends = dst + IDMP_HEAD;
    unsigned char *keys = ends + 8u * ((uint64_t)u->count + i->count);
    for (int32_t k = 0; k < u->count; ++k) cns__le64_put(ends + 8u * (size_t)k, u->start[k + 1]);
    for (int32_t k = 0; k < i->count; ++k)
        cns__le64_put(ends + 8u * ((size_t)u->count + (size_t)k), u->used + i->start[k + 1]);
    if (u->used) memcpy(keys, u->bytes, u->used);
    if (i->used) memcpy(keys + u->used, i->bytes, i->used);
}

typedef unsigned long long ull;

cns_status cns__idmap_section_check(const unsigned char *p, uint64_t size, int32_t num_users,
                                    int32_t num_items, cns_error *err) {
    if (size < IDMP_HEAD)
        return cns__fail(err, CNS_E_CORRUPT, "section 'IDMP' is %llu bytes, under its %d-byte head",
                         (ull)size, IDMP_HEAD);
    const uint32_t nu = cns__le32_get(p), ni = cns__le32_get(p + 4);
    const uint64_t b = cns__le64_get(p + 8);
    if (nu != (uint32_t)num_users || ni != (uint32_t)num_items)
        return cns__fail(err, CNS_E_CORRUPT,
                         "section 'IDMP' maps %u users and %u items, the model has %d and %d",
                         (unsigned)nu, (unsigned)ni, (int)num_users, (int)num_items);
    const uint64_t n = (uint64_t)nu + ni; /* < 2^32: no overflow below */
    if (size - IDMP_HEAD < 8u * n || size - IDMP_HEAD - 8u * n != b)
        return cns__fail(err, CNS_E_CORRUPT,
                         "section 'IDMP' is %llu bytes, its counts and key bytes make %llu",
                         (ull)size, (ull)(IDMP_HEAD + 8u * n + b));
    const unsigned char *ends = p + IDMP_HEAD, *keys = ends + 8u * n;
    uint64_t prev_end = 0;
    const char *prev = NULL;
    size_t prev_len = 0;
    for (uint64_t k = 0; k < n; ++k) {
        const int items = k >= nu;
        const uint64_t e = cns__le64_get(ends + 8u * k);
        if (e <= prev_end || e > b || e - prev_end - 1 > CNS_IDMAP_MAX_ID_LEN)
            return cns__fail(err, CNS_E_CORRUPT,
                             "section 'IDMP': key %llu ends at %llu after %llu (of %llu bytes)",
                             (ull)k, (ull)e, (ull)prev_end, (ull)b);
        const char *s = (const char *)keys + prev_end;
        const size_t len = (size_t)(e - prev_end - 1);
        const char *why = cns__id_bytes_bad(s, len);
        if (why == NULL && s[len] != '\0') why = "is not NUL-terminated";
        if (why == NULL && len > 1 && s[0] == '0' && all_digits(s, len))
            why = "is a number with a leading zero";
        if (why == NULL && prev != NULL && k != nu && key_cmp(prev, prev_len, s, len) >= 0)
            why = "is not after the previous key (keys are sorted and unique)";
        if (why != NULL)
            return cns__fail(err, CNS_E_CORRUPT, "section 'IDMP': %s key %llu %s",
                             items ? "item" : "user", (ull)(items ? k - nu : k), why);
        prev = s;
        prev_len = len;
        prev_end = e;
    }
    if (prev_end != b)
        return cns__fail(err, CNS_E_CORRUPT, "section 'IDMP': keys end at %llu of %llu bytes",
                         (ull)prev_end, (ull)b);
    return CNS_OK;
}

cns_status cns__idmap_section_read(const unsigned char *p, const cns__alloc *al, cns_idmap **out,
                                   cns_error *err) {
    const uint32_t nu = cns__le32_get(p), ni = cns__le32_get(p + 4);
    const uint64_t n = (uint64_t)nu + ni;
    const unsigned char *ends = p + IDMP_HEAD, *keys = ends + 8u * n;
    cns_idmap *m;
    if (cns__idmap_new(al, &m) != CNS_OK)
        return cns__fail(err, CNS_E_NOMEM, "out of memory for the id map");
    uint64_t prev = 0;
    for (uint64_t k = 0; k < n; ++k) {
        const uint64_t e = cns__le64_get(ends + 8u * k);
        int32_t idx;
        /* Sorted and unique (checked): interning gives index k. */
        if (cns__idmap_intern(m, k >= nu, (const char *)keys + prev, (size_t)(e - prev - 1), &idx) !=
            CNS_OK) {
            cns_idmap_free(m);
            return cns__fail(err, CNS_E_NOMEM, "out of memory for the id map (%llu ids)", (ull)n);
        }
        prev = e;
    }
    *out = m;
    return CNS_OK;
}
