/* libFuzzer target for the interaction-text parser.
 *
 * Every input goes through cns_dataset_load_buffer with and without
 * CNS_LOAD_SKIP_BAD. The run fails (abort) when a call returns a status the
 * header does not document for it, leaves a half-built handle or leaks, or
 * when a loaded dataset breaks its invariants (sorted rows, ids in range,
 * popularity sums to the pair count), or when the one-pass fast path and
 * the full per-field path disagree, or when a load holds more than
 * FUZZ_MEM_PER_BYTE bytes per input byte plus FUZZ_MEM_CONST (fuzz_mem.h)
 * through the allocator, which grants every request as malloc would. tests/test_fuzz_replay_dataset.c
 * includes this file and replays the seed corpus through the same check.
 *
 * Build (not part of the CMake build):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/include -Ilib \
 *     tests/fuzz/fuzz_dataset.c lib/[a-z]*.c -DCNS_STATIC -D_POSIX_C_SOURCE=200809L \
 *     $(pkg-config --cflags --libs openblas) -lpthread -lm -o /tmp/fuzz_dataset
 *   cp -r tests/fuzz/corpus/dataset /tmp/corpus && /tmp/fuzz_dataset /tmp/corpus */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnsdiff/cnsdiff.h"

#include "fuzz_mem.h"

static int is_line_status(cns_status st) {
    return st == CNS_E_FIELDS || st == CNS_E_BAD_ID || st == CNS_E_ID_RANGE ||
           st == CNS_E_BAD_VALUE;
}

/* The invariants of a built dataset; NULL when they hold. */
static const char *fuzz_check_dataset(const cns_dataset *ds) {
    int32_t nu = cns_dataset_num_users(ds), ni = cns_dataset_num_items(ds);
    size_t nnz = cns_dataset_num_interactions(ds);
    if (nu < 1 || ni < 1 || nnz < 1) return "a loaded dataset is empty";
    size_t total = 0;
    for (int32_t u = 0; u < nu; ++u) {
        const int32_t *row;
        size_t cnt;
        if (cns_dataset_user_items(ds, u, &row, &cnt) != CNS_OK) return "user_items failed";
        for (size_t k = 0; k < cnt; ++k) {
            if (row[k] < 0 || row[k] >= ni) return "an item id is out of range";
            if (k > 0 && row[k - 1] >= row[k]) return "a user's row is not strictly sorted";
        }
        if (cnt > 0 && !cns_dataset_contains(ds, u, row[cnt - 1])) return "contains() misses";
        total += cnt;
    }
    if (total != nnz) return "row lengths do not sum to the pair count";
    const int32_t *pop = cns_dataset_item_popularity(ds);
    size_t sum = 0;
    for (int32_t i = 0; i < ni; ++i) sum += (size_t)pop[i];
    if (sum != nnz) return "popularity does not sum to the pair count";
    return NULL;
}

/* The parser has a one-pass fast path for lines that start with a digit;
 * a leading blank never changes a line's meaning but always takes the
 * full per-field path. Loading the input with every line so prefixed must
 * give the same status and the same pairs. NULL when it does. */
static const char *fuzz_check_fast_path(const uint8_t *data, size_t size, cns_status strict_st,
                                        const cns_dataset *strict) {
    fuzz_alloc own = {0}, *fa = &own;
    char *alt = malloc(2 * size + 1);
    if (alt == NULL) return NULL;
    size_t n = 0;
    alt[n++] = ' ';
    for (size_t k = 0; k < size; ++k) {
        alt[n++] = (char)data[k];
        if (data[k] == '\n' && k + 1 < size) alt[n++] = ' ';
    }
    cns_allocator a = {fuzz_alloc_fn, fuzz_free_fn, fa};
    cns_dataset *ds = NULL;
    cns_error e;
    cns_status st = cns_dataset_load_buffer(alt, n, "fuzz", 0, &a, &ds, &e);
    const char *bad = NULL;
    if (st != strict_st && st != CNS_E_NOMEM && strict_st != CNS_E_NOMEM)
        bad = "a leading blank changed the status (fast and full paths disagree)";
    else if (st == CNS_OK && strict_st == CNS_OK) {
        size_t nnz = cns_dataset_num_interactions(ds);
        if (nnz != cns_dataset_num_interactions(strict) ||
            cns_dataset_num_users(ds) != cns_dataset_num_users(strict) ||
            cns_dataset_num_items(ds) != cns_dataset_num_items(strict))
            bad = "a leading blank changed the dataset's shape";
        for (size_t k = 0; k < nnz && bad == NULL; ++k) {
            int32_t u1, i1, u2, i2;
            if (cns_dataset_pair(ds, k, &u1, &i1) != CNS_OK ||
                cns_dataset_pair(strict, k, &u2, &i2) != CNS_OK || u1 != u2 || i1 != i2)
                bad = "a leading blank changed a pair";
        }
    }
    if (st == CNS_OK) cns_dataset_free(ds);
    free(alt);
    if (bad == NULL && fa->live != 0) bad = "memory leaked (leading-blank load)";
    if (bad == NULL && !fuzz_mem_ok(fa, n))
        bad = "the loader held more memory than the input's bound (fuzz_mem.h)";
    return bad;
}

/* Loads data both ways; NULL when everything behaved as documented,
 * else what went wrong. *st_out (optional) receives the two statuses. */
static const char *fuzz_dataset_check(const uint8_t *data, size_t size, cns_status st_out[2]) {
    /* One allocator per load: each load's peak is held to the bound. */
    fuzz_alloc fa = {0}, fb = {0};
    cns_allocator a = {fuzz_alloc_fn, fuzz_free_fn, &fa};
    cns_allocator b = {fuzz_alloc_fn, fuzz_free_fn, &fb};
    cns_dataset *strict = (cns_dataset *)&fa, *lax = (cns_dataset *)&fa;
    cns_error e1, e2;
    const char *bad = NULL;
    cns_status s1 =
        cns_dataset_load_buffer((const char *)data, size, "fuzz", 0, &a, &strict, &e1);
    cns_status s2 = cns_dataset_load_buffer((const char *)data, size, "fuzz", CNS_LOAD_SKIP_BAD,
                                            &b, &lax, &e2);
    if (st_out) st_out[0] = s1, st_out[1] = s2;
    if (s1 != CNS_OK && !is_line_status(s1) && s1 != CNS_E_EMPTY && s1 != CNS_E_NOMEM)
        bad = "strict load returned an undocumented status";
    else if (s2 != CNS_OK && s2 != CNS_E_EMPTY && s2 != CNS_E_NOMEM)
        bad = "skipping load returned a status other than OK, EMPTY or NOMEM";
    else if ((s1 != CNS_OK && strict != NULL) || (s2 != CNS_OK && lax != NULL))
        bad = "a failed load left *out set";
    else if ((s1 != CNS_OK && (e1.status != (int)s1 || e1.message[0] == '\0')) ||
             (s2 != CNS_OK && (e2.status != (int)s2 || e2.message[0] == '\0')))
        bad = "a failure without its cns_error detail";
    else if (is_line_status(s1) && strncmp(e1.message, "fuzz:", 5) != 0)
        bad = "a line error that does not name the input";
    else if (s1 == CNS_OK && s2 != CNS_OK)
        bad = "skipping failed where the strict load succeeded";
    else if (s1 == CNS_OK && (cns_dataset_skipped(lax) != 0 ||
                              cns_dataset_num_interactions(lax) !=
                                  cns_dataset_num_interactions(strict) ||
                              cns_dataset_num_users(lax) != cns_dataset_num_users(strict) ||
                              cns_dataset_num_items(lax) != cns_dataset_num_items(strict)))
        bad = "the two loads of a clean input differ";
    else if (is_line_status(s1) && s2 == CNS_OK && cns_dataset_skipped(lax) == 0)
        bad = "a malformed input loaded with nothing skipped";
    else if (s1 == CNS_OK && (bad = fuzz_check_dataset(strict)) != NULL) {
    } else if (s2 == CNS_OK && (bad = fuzz_check_dataset(lax)) != NULL) {
    } else if ((bad = fuzz_check_fast_path(data, size, s1, strict)) != NULL) {
    }
    if (s1 == CNS_OK) cns_dataset_free(strict);
    if (s2 == CNS_OK) cns_dataset_free(lax);
    if (bad == NULL && (fa.live != 0 || fb.live != 0)) bad = "memory leaked";
    if (bad == NULL && (!fuzz_mem_ok(&fa, size) || !fuzz_mem_ok(&fb, size)))
        bad = "the loader held more memory than the input's bound (fuzz_mem.h)";
    return bad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *bad = fuzz_dataset_check(data, size, NULL);
    if (bad != NULL) {
        fprintf(stderr, "fuzz_dataset: %s\n", bad);
        abort();
    }
    return 0;
}
