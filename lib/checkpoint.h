/* Internal: the checkpoint container (format in docs/CHECKPOINT.md).
 *
 * A checkpoint is a small fixed header followed by tagged sections, each
 * with its own CRC32C. Writers hand over a list of sections; the container
 * writes them crash-safely (temporary file in the same directory, fsync,
 * rename, fsync of the directory). Readers get the whole file validated
 * (magic, version, kind, every size checked against the file length before
 * anything is allocated, every CRC) and then look sections up by tag. */
#ifndef CNS_CHECKPOINT_H
#define CNS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "cnsdiff/common.h"

#define CNS__CKPT_VERSION 1u

/* What the file holds. */
#define CNS__CKPT_KIND_MODEL 1u
#define CNS__CKPT_KIND_SAMPLER 2u

typedef struct cns__ckpt_section {
    uint32_t tag;       /* four ASCII bytes, e.g. CNS__TAG('E','G','O','U') */
    const void *data;
    uint64_t size;      /* bytes */
} cns__ckpt_section;

#define CNS__TAG(a, b, c, d) \
    ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))

/* Injectable I/O, so tests can make a write, fsync or rename fail. NULL
 * members use the POSIX calls. Per call, never global. */
typedef struct cns__ckpt_io {
    long (*write)(void *user, int fd, const void *buf, size_t n);   /* like write(2) */
    int (*fsync)(void *user, int fd);                               /* like fsync(2) */
    int (*rename)(void *user, const char *from, const char *to);    /* like rename(2) */
    void *user;
} cns__ckpt_io;

/* Writes the sections to path crash-safely. On failure returns CNS_E_IO
 * (or CNS_E_NOMEM / CNS_E_ARG), path is untouched, the temporary file is
 * removed, and msg (CNS_ERROR_MESSAGE_SIZE bytes) names the failing step. */
cns_status cns__ckpt_write(const char *path, uint32_t kind, const cns__ckpt_section *sections,
                           size_t count, const cns__ckpt_io *io, const cns__alloc *al,
                           char *msg);

/* A validated checkpoint in memory. */
typedef struct cns__ckpt_file {
    unsigned char *bytes;   /* the whole file, owned */
    size_t size;
    uint32_t kind;
    uint32_t count;
    const unsigned char *table; /* section table inside bytes */
    const cns__alloc *al;
} cns__ckpt_file;

/* Reads and validates path. CNS_E_NOFILE, CNS_E_IO, CNS_E_CORRUPT,
 * CNS_E_VERSION, CNS_E_NOMEM; err gets the detail. */
cns_status cns__ckpt_read(const char *path, uint32_t kind, const cns__alloc *al,
                          cns__ckpt_file *out, cns_error *err);
/* The same validation over a caller buffer (fuzzing); the buffer is copied. */
cns_status cns__ckpt_parse(const void *data, size_t size, uint32_t kind, const cns__alloc *al,
                           cns__ckpt_file *out, cns_error *err);
/* Finds section tag; CNS_E_CORRUPT (with err) when it is missing or, when
 * expect_size != UINT64_MAX, has another size. */
cns_status cns__ckpt_find(const cns__ckpt_file *f, uint32_t tag, uint64_t expect_size,
                          const void **data, uint64_t *size, cns_error *err);
void cns__ckpt_close(cns__ckpt_file *f);

/* CRC32C (Castagnoli) of n bytes, continuing from crc (start with 0). */
uint32_t cns__crc32c(uint32_t crc, const void *data, size_t n);

#endif
