/* libFuzzer target for the checkpoint container (lib/checkpoint.c).
 *
 * Feeds arbitrary bytes to cns__ckpt_parse as a model, a sampler and a
 * loss checkpoint and looks up the tags the three use; then the
 * same bytes again with every reachable CRC recomputed, so the structural
 * checks behind the checksums get fuzzed too. Beyond
 * memory safety (ASan/UBSan) it checks the contract: a rejection is
 * CNS_E_CORRUPT or CNS_E_VERSION with a message and nothing allocated, at
 * most one kind accepts a given input, every section found lies inside
 * the file with the size the table gives, and an accepted input written
 * back through cns__ckpt_write_mem is the input again.
 *
 * Build and run (not part of the CMake build; see docs/CHECKPOINT.md):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/include -Ilib \
 *     tests/fuzz/fuzz_checkpoint.c lib/[a-z]*.c -DCNS_STATIC -D_POSIX_C_SOURCE=200809L \
 *     $(pkg-config --cflags --libs openblas) -lpthread -lm -o /tmp/fuzz_ckpt
 *   cp -r tests/fuzz/corpus/checkpoint /tmp/ckpt_corpus
 *   /tmp/fuzz_ckpt -max_total_time=60 /tmp/ckpt_corpus */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "checkpoint.h"
#include "fuzz_reseal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t k_kinds[3] = {CNS__CKPT_KIND_MODEL, CNS__CKPT_KIND_SAMPLER,
                                    CNS__CKPT_KIND_LOSS};
static const uint32_t k_tags[] = {CNS__TAG_MHDR, CNS__TAG_GRPH, CNS__TAG_EGOU, CNS__TAG_EGOI,
                                  CNS__TAG_ADMM, CNS__TAG_ADMV, CNS__TAG_SHDR, CNS__TAG_DNSR,
                                  CNS__TAG_DADM, CNS__TAG_LHDR, CNS__TAG('A', 'A', 'A', 'A')};

#define REQUIRE(c) \
    do {                   \
        if (!(c)) __builtin_trap(); \
    } while (0)

static void check(const uint8_t *data, size_t size) {
    cns__alloc al;
    REQUIRE(cns__alloc_init(&al, NULL) == CNS_OK);
    int accepted = 0;
    for (size_t k = 0; k < 3; ++k) {
        cns__ckpt_file f;
        cns_error e;
        memset(&e, 0, sizeof e);
        cns_status st = cns__ckpt_parse(data, size, k_kinds[k], &al, &f, &e);
        if (st != CNS_OK) {
            REQUIRE(st == CNS_E_CORRUPT || st == CNS_E_VERSION);
            REQUIRE(e.status == (int)st && e.message[0] != '\0');
            REQUIRE(f.bytes == NULL);
            continue;
        }
        accepted++;
        REQUIRE(f.size == size && f.kind == k_kinds[k]);
        REQUIRE(f.count <= CNS__CKPT_MAX_SECTIONS);
        unsigned sum = 0;
        for (size_t t = 0; t < sizeof k_tags / sizeof k_tags[0]; ++t) {
            const void *d = NULL;
            uint64_t n = 0;
            if (cns__ckpt_find(&f, k_tags[t], UINT64_MAX, &d, &n, &e) != CNS_OK) {
                REQUIRE(e.status == CNS_E_CORRUPT);
                continue;
            }
            const unsigned char *p = d;
            REQUIRE(p >= f.bytes + CNS__CKPT_HEADER_SIZE && n <= f.size);
            REQUIRE((size_t)(p - f.bytes) <= f.size - (size_t)n);
            REQUIRE((uintptr_t)p % 8 == 0);
            for (uint64_t i = 0; i < n; ++i) sum += p[i]; /* ASan checks every byte */
            REQUIRE(cns__ckpt_find(&f, k_tags[t], n, &d, NULL, &e) == CNS_OK);
            REQUIRE(cns__ckpt_find(&f, k_tags[t], n + 1, &d, NULL, &e) == CNS_E_CORRUPT);
        }
        (void)sum;
        /* The layout is canonical: the sections written back to memory
         * give the input again, byte for byte (and one byte less room is
         * CNS_E_SIZE with the size still reported). */
        if (f.count <= 64) {
            cns__ckpt_section sec[64];
            for (uint32_t i = 0; i < f.count; ++i) {
                const unsigned char *t = f.table + (size_t)i * CNS__CKPT_ENTRY_SIZE;
                sec[i].tag = cns__le32_get(t);
                sec[i].size = cns__le64_get(t + 16);
                sec[i].data = f.bytes + cns__le64_get(t + 8);
            }
            unsigned char *again = malloc(size);
            REQUIRE(again != NULL);
            size_t n = 0;
            REQUIRE(cns__ckpt_write_mem(k_kinds[k], sec, f.count, NULL, 0, &n, NULL) == CNS_OK);
            REQUIRE(n == size);
            REQUIRE(cns__ckpt_write_mem(k_kinds[k], sec, f.count, again, size - 1, &n, NULL) ==
                    CNS_E_SIZE);
            REQUIRE(n == size);
            REQUIRE(cns__ckpt_write_mem(k_kinds[k], sec, f.count, again, size, &n, NULL) == CNS_OK);
            REQUIRE(memcmp(again, data, size) == 0);
            free(again);
        }
        cns__ckpt_close(&f);
        REQUIRE(f.bytes == NULL);
    }
    REQUIRE(accepted <= 1); /* the kind field decides */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check(data, size);
    /* The same bytes with valid checksums, in an exact-size heap copy so
     * ASan catches any read past the end. */
    unsigned char *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL) return 0;
    if (size > 0) memcpy(copy, data, size);
    reseal(copy, size);
    check(copy, size);
    free(copy);
    return 0;
}
