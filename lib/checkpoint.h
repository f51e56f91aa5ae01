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
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "cnsdiff/common.h"

#define CNS__CKPT_VERSION 1u

/* Fixed sizes of format version 1 (docs/CHECKPOINT.md has the layout). */
#define CNS__CKPT_HEADER_SIZE 48u
#define CNS__CKPT_ENTRY_SIZE 32u
/* Upper bound on sections per file: keeps the duplicate-tag check and the
 * table tiny whatever a corrupt header claims. Writers refuse more. */
#define CNS__CKPT_MAX_SECTIONS 1024u

/* What the file holds. */
#define CNS__CKPT_KIND_MODEL 1u
#define CNS__CKPT_KIND_SAMPLER 2u
#define CNS__CKPT_KIND_LOSS 3u

/* Section tags proposed in docs/CHECKPOINT.md. */
#define CNS__TAG_MHDR CNS__TAG('M', 'H', 'D', 'R') /* model: shapes and hyperparameters */
#define CNS__TAG_GRPH CNS__TAG('G', 'R', 'P', 'H') /* model: training graph as CSR */
#define CNS__TAG_EGOU CNS__TAG('E', 'G', 'O', 'U') /* model: user ego embeddings, f32 */
#define CNS__TAG_EGOI CNS__TAG('E', 'G', 'O', 'I') /* model: item ego embeddings, f32 */
#define CNS__TAG_ADMM CNS__TAG('A', 'D', 'M', 'M') /* model: Adam first moments, f32 */
#define CNS__TAG_ADMV CNS__TAG('A', 'D', 'M', 'V') /* model: Adam second moments, f32 */
#define CNS__TAG_IDMP CNS__TAG('I', 'D', 'M', 'P') /* model: raw user and item ids (optional) */
#define CNS__TAG_SHDR CNS__TAG('S', 'H', 'D', 'R') /* sampler: descriptor and tunables */
#define CNS__TAG_DNSR CNS__TAG('D', 'N', 'S', 'R') /* sampler: denoiser weights, f32 */
#define CNS__TAG_DADM CNS__TAG('D', 'A', 'D', 'M') /* sampler: denoiser Adam state */
#define CNS__TAG_LHDR CNS__TAG('L', 'H', 'D', 'R') /* loss: descriptor, tunables, draw key */

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
 * (or CNS_E_NOMEM / CNS_E_ARG; CNS_E_UNSUPPORTED on a big-endian host),
 * path is untouched, the temporary file is removed, and msg
 * (CNS_ERROR_MESSAGE_SIZE bytes, may be NULL) names the failing step.
 * A missing directory is CNS_E_IO. Tags must be four printable ASCII
 * bytes and unique; at most CNS__CKPT_MAX_SECTIONS sections. The one
 * exception to "path is untouched": when only the final fsync of the
 * directory fails, the new file is already in place (still CNS_E_IO). */
cns_status cns__ckpt_write(const char *path, uint32_t kind, const cns__ckpt_section *sections,
                           size_t count, const cns__ckpt_io *io, const cns__alloc *al,
                           char *msg);

/* The same bytes cns__ckpt_write would put in a file, into the caller's
 * buffer: *size always gets the byte count the checkpoint needs (when the
 * arguments are valid). buf NULL is a size query (CNS_OK, nothing
 * written); cap < *size is CNS_E_SIZE with buf untouched. Same argument
 * checks and statuses as the file form otherwise; never allocates. */
cns_status cns__ckpt_write_mem(uint32_t kind, const cns__ckpt_section *sections, size_t count,
                               void *buf, size_t cap, size_t *size, char *msg);

/* Where a save goes: a file (path non-NULL, io as for cns__ckpt_write)
 * or a caller buffer (path NULL; buf, cap, size as for
 * cns__ckpt_write_mem). One save routine per handle serves both forms, so
 * they hand the container the same sections. */
typedef struct cns__ckpt_sink {
    const char *path;
    const cns__ckpt_io *io;
    void *buf;
    size_t cap;
    size_t *size;
} cns__ckpt_sink;

cns_status cns__ckpt_emit(const cns__ckpt_sink *sink, uint32_t kind,
                          const cns__ckpt_section *sections, size_t count, const cns__alloc *al,
                          char *msg);

/* A handle's one save routine: hands its sections to cns__ckpt_emit for
 * sink and, on failure only, puts the message in the handle's buffer. */
typedef cns_status (*cns__ckpt_save_fn)(void *handle, const cns__ckpt_sink *sink);

/* The public save calls around save, for a handle (not NULL) whose
 * message buffer (CNS_ERROR_MESSAGE_SIZE bytes) is msgbuf; fn is the
 * public call's name. The file form refuses a NULL path ("fn: path is
 * NULL"); io as for cns__ckpt_write. The memory form refuses a NULL size
 * ("fn: size is NULL") and prefixes any failure's message with "fn: ". */
cns_status cns__ckpt_save_path(const char *fn, void *handle, char *msgbuf, cns__ckpt_save_fn save,
                               const char *path, const cns__ckpt_io *io);
cns_status cns__ckpt_save_buffer(const char *fn, void *handle, char *msgbuf,
                                 cns__ckpt_save_fn save, void *buf, size_t cap, size_t *size);

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
 * CNS_E_VERSION, CNS_E_NOMEM (CNS_E_UNSUPPORTED on a big-endian host);
 * err gets the detail. A file of the other kind is CNS_E_CORRUPT. On
 * failure *out is zeroed (cns__ckpt_close on it is harmless). Nothing is
 * allocated before the header has been checked against the file length. */
cns_status cns__ckpt_read(const char *path, uint32_t kind, const cns__alloc *al,
                          cns__ckpt_file *out, cns_error *err);
/* The same validation over a caller buffer (fuzzing); the buffer is copied
 * only after it has passed every check. */
cns_status cns__ckpt_parse(const void *data, size_t size, uint32_t kind, const cns__alloc *al,
                           cns__ckpt_file *out, cns_error *err);
/* Finds section tag; CNS_E_CORRUPT (with err) when it is missing or, when
 * expect_size != UINT64_MAX, has another size. *data is 8-byte aligned and
 * stays valid until cns__ckpt_close. */
cns_status cns__ckpt_find(const cns__ckpt_file *f, uint32_t tag, uint64_t expect_size,
                          const void **data, uint64_t *size, cns_error *err);
void cns__ckpt_close(cns__ckpt_file *f);
/* 1 when f holds section tag (for optional sections), else 0. */
int cns__ckpt_has(const cns__ckpt_file *f, uint32_t tag);

/* What a handle's load reads: a file (from_file 1, path) or a caller
 * buffer (from_file 0, buf and size: the memory form). */
typedef struct cns__ckpt_source {
    int from_file;
    const char *path;
    const void *buf;
    size_t size;
} cns__ckpt_source;

/* Builds a handle from a validated checkpoint of its kind: out is the
 * public loader's cns_X ** (set only on success), alloc the caller's
 * allocator (NULL for malloc) and al its checked form. err gets the
 * detail without the path; nothing is left allocated on failure. */
typedef cns_status (*cns__ckpt_build_fn)(const cns__ckpt_file *f, const cns_allocator *alloc,
                                         const cns__alloc *al, void *out, cns_error *err);

/* The one prologue of every public loader (cns_model_load, _load_mem and
 * the sampler's and loss's): checks out, the source and the allocator
 * (CNS_E_ARG, "fn: detail"), reads or parses the checkpoint of kind, runs
 * build and closes the file. A CNS_E_CORRUPT or CNS_E_VERSION from the
 * file form, the container's or the builder's, names the file
 * ("'x.ckpt': section ..."); the memory form has no name to give. The
 * caller clears its *out before the call (out may be NULL: that is the
 * CNS_E_ARG reported here). */
cns_status cns__ckpt_load(const char *fn, const cns__ckpt_source *src, uint32_t kind,
                          const cns_allocator *alloc, cns__ckpt_build_fn build, void *out,
                          cns_error *err);

/* Types of the typed parameter records that handles' header sections
 * ('SHDR', 'LHDR') carry: {u32 id, u32 type, 8-byte value}. */
#define CNS__CKPT_TYPE_INT 1u
#define CNS__CKPT_TYPE_DOUBLE 2u

/* Reads count parameter records of record_size bytes starting at p, for
 * section tag (e.g. "SHDR") of a handle whose parameters are named what
 * ("sampler", "loss") and bounded by bounds. Each id must be known to
 * bounds (else CNS_E_VERSION: a newer writer), be one of saved[0..n_saved)
 * and appear once, with type int or a finite double (else CNS_E_CORRUPT);
 * saved[0..n_required) must all be present. rec[k] receives the record of
 * saved[k], or NULL for an optional one that is absent. Values are not
 * checked against their bounds here. */
cns_status cns__ckpt_param_records(const unsigned char *p, uint32_t count, size_t record_size,
                                   const char *tag, const char *what,
                                   cns_status (*bounds)(int, double *, double *),
                                   const int *saved, size_t n_saved, size_t n_required,
                                   const unsigned char **rec, cns_error *err);

/* CRC32C (Castagnoli) of n bytes, continuing from crc (start with 0). */
uint32_t cns__crc32c(uint32_t crc, const void *data, size_t n);

/* 1 when the host stores integers little-endian (the only byte order this
 * format version supports, since payloads are raw host arrays). */
static inline int cns__host_is_le(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* Little-endian stores and loads for building and reading headers such as
 * 'MHDR' byte by byte; p need not be aligned. */
static inline void cns__le32_put(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void cns__le64_put(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint32_t cns__le32_get(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t cns__le64_get(const unsigned char *p) {
    return (uint64_t)cns__le32_get(p) | ((uint64_t)cns__le32_get(p + 4) << 32);
}
/* IEEE-754 doubles by their bit pattern, little-endian. */
static inline void cns__lef64_put(unsigned char *p, double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    cns__le64_put(p, b);
}
static inline double cns__lef64_get(const unsigned char *p) {
    uint64_t b = cns__le64_get(p);
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* Index of the first non-finite value of x[0..n) (with nonneg, also the
 * first negative one), else n: the finiteness check of every payload a
 * model or sampler saves or loads. */
static inline size_t cns__first_bad_float(const float *x, size_t n, int nonneg) {
    for (size_t k = 0; k < n; ++k)
        if (!isfinite(x[k]) || (nonneg && x[k] < 0.0f)) return k;
    return n;
}

#endif
