/* Shared by the checkpoint fuzz targets (fuzz_checkpoint.c,
 * fuzz_model_load.c): recomputes every CRC the layout lets us reach, so
 * mutations get past the checksums to the structural checks behind them
 * (a random mutation almost never keeps a CRC32C valid). */
#ifndef CNS_FUZZ_RESEAL_H
#define CNS_FUZZ_RESEAL_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"

/* The table's payload CRCs (for entries inside the buffer), the table CRC
 * and the header CRC. */
static void reseal(unsigned char *b, size_t size) {
    if (size < CNS__CKPT_HEADER_SIZE) return;
    uint64_t count = cns__le32_get(b + 16);
    if (count > (size - CNS__CKPT_HEADER_SIZE) / CNS__CKPT_ENTRY_SIZE) count = 0;
    unsigned char *table = b + CNS__CKPT_HEADER_SIZE;
    for (uint64_t i = 0; i < count; ++i) {
        unsigned char *e = table + i * CNS__CKPT_ENTRY_SIZE;
        uint64_t off = cns__le64_get(e + 8), n = cns__le64_get(e + 16);
        if (off <= size && n <= size - off) cns__le32_put(e + 24, cns__crc32c(0, b + off, (size_t)n));
    }
    cns__le32_put(b + 40, cns__crc32c(0, table, (size_t)count * CNS__CKPT_ENTRY_SIZE));
    cns__le32_put(b + 44, cns__crc32c(0, b, 44));
}

#endif
