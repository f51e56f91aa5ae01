/* libFuzzer target for the id-map loaders (cns_dataset_load_buffer_ids).
 *
 * Every input is loaded in map mode with and without CNS_LOAD_SKIP_BAD,
 * and in auto mode. The run fails (abort) on an undocumented status, a
 * half-built handle, a leak, a failure without its message, a map that
 * breaks its invariants (counts equal to the dataset's, every id round
 * trips through cns_idmap_find, ids in the documented order: numbers by
 * value, then bytes; canonical numbers; every id used by a pair), when
 * the input loaded through its own map does not give the same pairs back,
 * or when a load holds more than FUZZ_MEM_PER_BYTE bytes per input byte
 * plus FUZZ_MEM_CONST (fuzz_mem.h) through an allocator that grants every
 * request. tests/test_fuzz_replay_idmap.c replays the seed corpus
 * tests/fuzz/corpus/idmap/ through the same check.
 *
 * Build (not part of the CMake build; tests/ci/fuzz.sh does this):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/include -Ilib \
 *     tests/fuzz/fuzz_idmap.c lib/[a-z]*.c -DCNS_STATIC -D_POSIX_C_SOURCE=200809L \
 *     $(pkg-config --cflags --libs openblas) -lpthread -lm -o /tmp/fuzz_idmap */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnsdiff/cnsdiff.h"
#include "fuzz_mem.h"

static int idmap_line_status(cns_status st) {
    return st == CNS_E_FIELDS || st == CNS_E_BAD_ID || st == CNS_E_ID_RANGE ||
           st == CNS_E_BAD_VALUE;
}

static int digits_only(const char *s, size_t n) {
    for (size_t k = 0; k < n; ++k)
        if (s[k] < '0' || s[k] > '9') return 0;
    return 1;
}

/* The documented order, written independently of lib/idmap.c: -1, 0, 1. */
static int order(const char *a, size_t na, const char *b, size_t nb) {
    int da = digits_only(a, na), db = digits_only(b, nb);
    if (da != db) return da ? -1 : 1;
    if (da && na != nb) return na < nb ? -1 : 1; /* canonical: longer is larger */
    for (size_t k = 0; k < na && k < nb; ++k)
        if (a[k] != b[k]) return (unsigned char)a[k] < (unsigned char)b[k] ? -1 : 1;
    return na == nb ? 0 : na < nb ? -1 : 1;
}

/* The invariants of a loaded dataset and its map; NULL when they hold. */
static const char *check_map(const cns_dataset *ds, const cns_idmap *m) {
    for (int t = 0; t < 2; ++t) {
        int32_t n = cns_idmap_count(m, (cns_table)t);
        if (n != (t ? cns_dataset_num_items(ds) : cns_dataset_num_users(ds)))
            return "the map's count is not the dataset's";
        const char *prev = NULL;
        size_t prev_len = 0;
        for (int32_t k = 0; k < n; ++k) {
            const char *s;
            size_t len;
            int32_t back = -1;
            if (cns_idmap_raw(m, (cns_table)t, k, &s, &len) != CNS_OK) return "raw failed";
            if (len == 0 || len > CNS_IDMAP_MAX_ID_LEN || strlen(s) != len)
                return "a raw id has a bad length";
            for (size_t c = 0; c < len; ++c)
                if ((unsigned char)s[c] <= 0x20 || s[c] == 0x7F) return "a raw id holds a blank";
            if (len > 1 && s[0] == '0' && digits_only(s, len)) return "a number with a leading 0";
            if (cns_idmap_find(m, (cns_table)t, s, len, &back) != CNS_OK || back != k)
                return "a raw id does not find its own index";
            if (prev != NULL && order(prev, prev_len, s, len) >= 0)
                return "the ids are not in the documented order";
            prev = s;
            prev_len = len;
        }
    }
    /* Every id comes from a kept line: no user without items, no item
     * nobody chose. */
    const int32_t *pop = cns_dataset_item_popularity(ds);
    for (int32_t i = 0; i < cns_dataset_num_items(ds); ++i)
        if (pop[i] < 1) return "an item id without a pair";
    for (int32_t u = 0; u < cns_dataset_num_users(ds); ++u) {
        const int32_t *row;
        size_t cnt;
        if (cns_dataset_user_items(ds, u, &row, &cnt) != CNS_OK || cnt == 0)
            return "a user id without a pair";
    }
    return NULL;
}

/* Loads data through (train, map) and compares the pairs with train's. */
static const char *check_resolve(const uint8_t *data, size_t size, const cns_dataset *train,
                                 const cns_idmap *map) {
    fuzz_alloc fa = {0};
    cns_allocator a = {fuzz_alloc_fn, fuzz_free_fn, &fa};
    cns_load_options o;
    cns_load_options_init(&o);
    o.train = train;
    o.map = map;
    cns_dataset *ds = NULL;
    cns_error e;
    const char *bad = NULL;
    cns_status st = cns_dataset_load_buffer_ids((const char *)data, size, "fuzz", &o, &a, &ds,
                                                NULL, &e);
    if (st != CNS_OK) {
        if (st != CNS_E_NOMEM) bad = "the training input does not load through its own map";
    } else if (cns_dataset_unknown(ds) != 0 ||
               cns_dataset_num_interactions(ds) != cns_dataset_num_interactions(train) ||
               cns_dataset_num_users(ds) != cns_dataset_num_users(train) ||
               cns_dataset_num_items(ds) != cns_dataset_num_items(train)) {
        bad = "loading through its own map changed the dataset's shape";
    } else {
        for (size_t k = 0; k < cns_dataset_num_interactions(ds) && bad == NULL; ++k) {
            int32_t u1, i1, u2, i2;
            if (cns_dataset_pair(ds, k, &u1, &i1) != CNS_OK ||
                cns_dataset_pair(train, k, &u2, &i2) != CNS_OK || u1 != u2 || i1 != i2)
                bad = "loading through its own map changed a pair";
        }
    }
    if (st == CNS_OK) cns_dataset_free(ds);
    if (bad == NULL && fa.live != 0) bad = "memory leaked (resolve)";
    if (bad == NULL && !fuzz_mem_ok(&fa, size)) bad = "resolve held more than the memory bound";
    return bad;
}

/* Three loads: map strict, map skipping, auto strict. NULL when all
 * behaved as documented. st_out (optional) receives their statuses. */
static const char *fuzz_idmap_check(const uint8_t *data, size_t size, cns_status st_out[3]) {
    static const int modes[3] = {CNS_IDS_MAP, CNS_IDS_MAP, CNS_IDS_AUTO};
    static const unsigned flags[3] = {0, CNS_LOAD_SKIP_BAD, 0};
    fuzz_alloc fa[3] = {{0}, {0}, {0}};
    cns_dataset *ds[3];
    cns_idmap *map[3];
    cns_status st[3];
    const char *bad = NULL;
    for (int k = 0; k < 3; ++k) {
        cns_allocator a = {fuzz_alloc_fn, fuzz_free_fn, &fa[k]};
        cns_load_options o;
        cns_load_options_init(&o);
        o.ids = modes[k];
        o.flags = flags[k];
        cns_error e;
        ds[k] = (cns_dataset *)&fa[k];
        map[k] = (cns_idmap *)&fa[k];
        st[k] = cns_dataset_load_buffer_ids((const char *)data, size, "fuzz", &o, &a, &ds[k],
                                            &map[k], &e);
        if (st_out) st_out[k] = st[k];
        if (bad != NULL) continue;
        if (st[k] != CNS_OK && !idmap_line_status(st[k]) && st[k] != CNS_E_EMPTY &&
            st[k] != CNS_E_NOMEM)
            bad = "an undocumented status";
        else if (k == 1 && st[k] != CNS_OK && st[k] != CNS_E_EMPTY && st[k] != CNS_E_NOMEM)
            bad = "the skipping load failed on a line";
        else if (st[k] != CNS_OK && (ds[k] != NULL || map[k] != NULL))
            bad = "a failed load left *out or *map_out set";
        else if (st[k] != CNS_OK && (e.status != (int)st[k] || e.message[0] == '\0'))
            bad = "a failure without its cns_error detail";
        else if (idmap_line_status(st[k]) && strncmp(e.message, "fuzz:", 5) != 0)
            bad = "a line error that does not name the input";
        else if (st[k] == CNS_OK && k < 2 && map[k] == NULL)
            bad = "map mode returned no map";
        else if (st[k] == CNS_OK && map[k] != NULL && (bad = check_map(ds[k], map[k])) != NULL) {
        }
    }
    if (bad == NULL && st[0] == CNS_OK && st[1] != CNS_OK) bad = "skipping failed, strict did not";
    if (bad == NULL && st[0] == CNS_OK &&
        cns_dataset_num_interactions(ds[0]) != cns_dataset_num_interactions(ds[1]))
        bad = "a clean input loads differently when skipping";
    /* Auto reads raw ids like map mode whenever it needs a map at all. */
    if (bad == NULL && st[2] == CNS_OK && map[2] != NULL &&
        (st[0] != CNS_OK || cns_dataset_num_interactions(ds[0]) != cns_dataset_num_interactions(ds[2]) ||
         cns_dataset_num_users(ds[0]) != cns_dataset_num_users(ds[2])))
        bad = "auto's map disagrees with map mode";
    if (bad == NULL && st[0] == CNS_OK) bad = check_resolve(data, size, ds[0], map[0]);
    for (int k = 0; k < 3; ++k) {
        if (st[k] == CNS_OK) {
            cns_dataset_free(ds[k]);
            cns_idmap_free(map[k]);
        }
        if (bad == NULL && fa[k].live != 0) bad = "memory leaked";
        if (bad == NULL && !fuzz_mem_ok(&fa[k], size))
            bad = "the loader held more memory than the input's bound (fuzz_mem.h)";
    }
    return bad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *bad = fuzz_idmap_check(data, size, NULL);
    if (bad != NULL) {
        fprintf(stderr, "fuzz_idmap: %s\n", bad);
        abort();
    }
    return 0;
}
