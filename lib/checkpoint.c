/* The checkpoint container: byte layout, validation and crash-safe
 * writing. The format, the validation order and the crash-safety argument
 * are in docs/CHECKPOINT.md; this file follows it step by step. */
#include "checkpoint.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "error.h"

/* Never changes between format versions: the version lives in its own field. */
static const unsigned char k_magic[8] = {'C', 'N', 'S', 'D', 'I', 'F', 'F', 0x01};

/* Header fields (byte offsets). Magic and version stay at these offsets in
 * every future version, so any reader can tell "newer" from "garbage". */
#define H_VERSION 8u
#define H_KIND 12u
#define H_COUNT 16u
#define H_FLAGS 20u
#define H_FILE_SIZE 24u
#define H_RESERVED 32u
#define H_TABLE_CRC 40u
#define H_HEADER_CRC 44u
#define H_PREFIX 12u /* magic + version: what is read before anything else */

/* Section-table entry fields (byte offsets inside one 32-byte entry). */
#define E_TAG 0u
#define E_FLAGS 4u
#define E_OFFSET 8u
#define E_SIZE 16u
#define E_CRC 24u
#define E_RESERVED 28u

typedef unsigned long long ull; /* for printf of uint64_t without PRIu64 clutter */

/* A tag as text for messages: 'EGOU', or its hex value when not printable. */
typedef struct tag_text {
    char s[16];
} tag_text;

static int tag_printable(uint32_t tag) {
    for (int i = 0; i < 4; ++i) {
        unsigned c = (tag >> (8 * i)) & 0xffu;
        if (c < 0x20u || c > 0x7eu) return 0;
    }
    return 1;
}

static tag_text tag_name(uint32_t tag) {
    tag_text t;
    if (tag_printable(tag))
        snprintf(t.s, sizeof t.s, "'%c%c%c%c'", (char)(tag & 0xffu), (char)((tag >> 8) & 0xffu),
                 (char)((tag >> 16) & 0xffu), (char)(tag >> 24));
    else
        snprintf(t.s, sizeof t.s, "0x%08x", (unsigned)tag);
    return t;
}

static const char *kind_name(uint32_t kind) {
    return kind == CNS__CKPT_KIND_MODEL     ? "model"
           : kind == CNS__CKPT_KIND_SAMPLER ? "sampler"
           : kind == CNS__CKPT_KIND_LOSS    ? "loss"
                                            : "unknown";
}

static int kind_known(uint32_t kind) {
    return kind == CNS__CKPT_KIND_MODEL || kind == CNS__CKPT_KIND_SAMPLER ||
           kind == CNS__CKPT_KIND_LOSS;
}

/* x rounded up to a multiple of 8; callers keep x <= UINT64_MAX - 7. */
static uint64_t align8(uint64_t x) { return (x + 7u) & ~(uint64_t)7u; }

/* ---- validation -------------------------------------------------------- */

/* Steps 1-9 of the validation order: everything the 48-byte header alone
 * can tell, checked against the real file length file_len. p holds at
 * least min(file_len, CNS__CKPT_HEADER_SIZE) bytes, so the file reader can
 * run this on a small stack buffer before it allocates anything. */
static cns_status check_header(const unsigned char *p, uint64_t file_len, uint32_t kind,
                               uint32_t *count_out, cns_error *err) {
    if (file_len < H_PREFIX)
        return cns__fail(err, CNS_E_CORRUPT,
                         "file is %llu bytes, too short for a checkpoint (the header is %u bytes)",
                         (ull)file_len, CNS__CKPT_HEADER_SIZE);
    if (memcmp(p, k_magic, sizeof k_magic) != 0)
        return cns__fail(err, CNS_E_CORRUPT, "not a libcnsdiff checkpoint (bad magic)");
    uint32_t version = cns__le32_get(p + H_VERSION);
    if (version == 0) return cns__fail(err, CNS_E_CORRUPT, "format version 0 is invalid");
    /* Before the header CRC: a newer version may lay out (and checksum) its
     * header differently, so only magic and version can be trusted here. */
    if (version > CNS__CKPT_VERSION)
        return cns__fail(err, CNS_E_VERSION,
                         "written by checkpoint format version %u; this library reads up to %u",
                         (unsigned)version, CNS__CKPT_VERSION);
    if (file_len < CNS__CKPT_HEADER_SIZE)
        return cns__fail(err, CNS_E_CORRUPT, "file is %llu bytes, smaller than the %u-byte header",
                         (ull)file_len, CNS__CKPT_HEADER_SIZE);
    uint32_t stored = cns__le32_get(p + H_HEADER_CRC);
    uint32_t computed = cns__crc32c(0, p, H_HEADER_CRC);
    if (stored != computed)
        return cns__fail(err, CNS_E_CORRUPT,
                         "header checksum mismatch (stored 0x%08x, computed 0x%08x)",
                         (unsigned)stored, (unsigned)computed);
    if (cns__le32_get(p + H_FLAGS) != 0 || cns__le64_get(p + H_RESERVED) != 0)
        return cns__fail(err, CNS_E_CORRUPT, "header flags or reserved field is not zero");
    uint64_t declared = cns__le64_get(p + H_FILE_SIZE);
    if (declared != file_len)
        return cns__fail(err, CNS_E_CORRUPT, "file is %llu bytes, header says %llu", (ull)file_len,
                         (ull)declared);
    uint32_t k = cns__le32_get(p + H_KIND);
    if (!kind_known(k)) return cns__fail(err, CNS_E_CORRUPT, "unknown checkpoint kind %u", (unsigned)k);
    if (k != kind)
        return cns__fail(err, CNS_E_CORRUPT, "holds a %s checkpoint, expected a %s checkpoint",
                         kind_name(k), kind_name(kind));
    uint32_t count = cns__le32_get(p + H_COUNT);
    if (count > CNS__CKPT_MAX_SECTIONS)
        return cns__fail(err, CNS_E_CORRUPT, "section count %u exceeds the limit of %u",
                         (unsigned)count, CNS__CKPT_MAX_SECTIONS);
    /* count <= 1024, so the table size cannot overflow. */
    uint64_t table_bytes = (uint64_t)count * CNS__CKPT_ENTRY_SIZE;
    if (table_bytes > file_len - CNS__CKPT_HEADER_SIZE)
        return cns__fail(err, CNS_E_CORRUPT,
                         "section count %u needs a %llu-byte table, but only %llu bytes follow the header",
                         (unsigned)count, (ull)table_bytes,
                         (ull)(file_len - CNS__CKPT_HEADER_SIZE));
    *count_out = count;
    return CNS_OK;
}

/* The whole validation over len bytes at p (docs/CHECKPOINT.md,
 * "Validation order"). Reads nothing outside [p, p + len) and allocates
 * nothing. */
static cns_status validate(const unsigned char *p, size_t len, uint32_t kind, uint32_t *count_out,
                           cns_error *err) {
    uint32_t count = 0;
    cns_status st = check_header(p, len, kind, &count, err);
    if (st != CNS_OK) return st;
    const unsigned char *table = p + CNS__CKPT_HEADER_SIZE;
    size_t table_bytes = (size_t)count * CNS__CKPT_ENTRY_SIZE;
    uint32_t stored = cns__le32_get(p + H_TABLE_CRC);
    uint32_t computed = cns__crc32c(0, table, table_bytes);
    if (stored != computed)
        return cns__fail(err, CNS_E_CORRUPT,
                         "section table checksum mismatch (stored 0x%08x, computed 0x%08x)",
                         (unsigned)stored, (unsigned)computed);

    /* Sections must follow the table in order, each at the next 8-byte
     * boundary, zero padding between them, the last one ending the file:
     * one canonical layout, so nothing can overlap and no byte is unchecked. */
    uint64_t prev_end = CNS__CKPT_HEADER_SIZE + (uint64_t)table_bytes;
    for (uint32_t i = 0; i < count; ++i) {
        const unsigned char *e = table + (size_t)i * CNS__CKPT_ENTRY_SIZE;
        uint32_t tag = cns__le32_get(e + E_TAG);
        tag_text tn = tag_name(tag);
        if (!tag_printable(tag))
            return cns__fail(err, CNS_E_CORRUPT, "section %u has an invalid tag %s", (unsigned)i, tn.s);
        if (cns__le32_get(e + E_FLAGS) != 0 || cns__le32_get(e + E_RESERVED) != 0)
            return cns__fail(err, CNS_E_CORRUPT, "section %s has a nonzero reserved field", tn.s);
        for (uint32_t j = 0; j < i; ++j)
            if (cns__le32_get(table + (size_t)j * CNS__CKPT_ENTRY_SIZE + E_TAG) == tag)
                return cns__fail(err, CNS_E_CORRUPT, "section %s appears twice", tn.s);
        uint64_t off = cns__le64_get(e + E_OFFSET);
        uint64_t size = cns__le64_get(e + E_SIZE);
        if (off % 8u != 0)
            return cns__fail(err, CNS_E_CORRUPT, "section %s offset %llu is not 8-byte aligned", tn.s,
                             (ull)off);
        if (off < prev_end)
            return cns__fail(err, CNS_E_CORRUPT,
                             "section %s at offset %llu overlaps what precedes it (ends at %llu)",
                             tn.s, (ull)off, (ull)prev_end);
        if (off > len)
            return cns__fail(err, CNS_E_CORRUPT,
                             "section %s starts at offset %llu, past the end of the %zu-byte file",
                             tn.s, (ull)off, len);
        uint64_t expect = align8(prev_end); /* prev_end <= len, no overflow */
        if (off != expect)
            return cns__fail(err, CNS_E_CORRUPT,
                             "section %s at offset %llu leaves a gap (expected offset %llu)", tn.s,
                             (ull)off, (ull)expect);
        if (size > len - off) /* off <= len: overflow-safe form of off + size > len */
            return cns__fail(err, CNS_E_CORRUPT,
                             "section %s (%llu bytes at offset %llu) runs past the end of the %zu-byte file",
                             tn.s, (ull)size, (ull)off, len);
        for (uint64_t b = prev_end; b < off; ++b)
            if (p[b] != 0)
                return cns__fail(err, CNS_E_CORRUPT, "nonzero padding byte at offset %llu before section %s",
                                 (ull)b, tn.s);
        prev_end = off + size;
    }
    if (prev_end != len)
        return cns__fail(err, CNS_E_CORRUPT,
                         "file is %zu bytes, but its sections end at offset %llu", len, (ull)prev_end);

    /* Checksums last: the structure is known to be sound, and the costly
     * pass runs only over files that can be valid. */
    for (uint32_t i = 0; i < count; ++i) {
        const unsigned char *e = table + (size_t)i * CNS__CKPT_ENTRY_SIZE;
        uint64_t off = cns__le64_get(e + E_OFFSET);
        uint64_t size = cns__le64_get(e + E_SIZE);
        uint32_t want = cns__le32_get(e + E_CRC);
        uint32_t got = cns__crc32c(0, p + off, (size_t)size);
        if (want != got) {
            tag_text tn = tag_name(cns__le32_get(e + E_TAG));
            return cns__fail(err, CNS_E_CORRUPT,
                             "section %s checksum mismatch (stored 0x%08x, computed 0x%08x)", tn.s,
                             (unsigned)want, (unsigned)got);
        }
    }
    *count_out = count;
    return CNS_OK;
}

/* Shared argument checks of parse and read. */
static cns_status check_read_args(uint32_t kind, const cns__alloc *al, cns__ckpt_file *out,
                                  cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "out is NULL");
    memset(out, 0, sizeof *out);
    if (al == NULL) return cns__fail(err, CNS_E_ARG, "allocator is NULL");
    if (!kind_known(kind))
        return cns__fail(err, CNS_E_ARG, "kind %u is not model (1), sampler (2) or loss (3)",
                         (unsigned)kind);
    if (!cns__host_is_le())
        return cns__fail(err, CNS_E_UNSUPPORTED,
                         "checkpoint format %u supports little-endian hosts only", CNS__CKPT_VERSION);
    return CNS_OK;
}

cns_status cns__ckpt_parse(const void *data, size_t size, uint32_t kind, const cns__alloc *al,
                           cns__ckpt_file *out, cns_error *err) {
    cns_status st = check_read_args(kind, al, out, err);
    if (st != CNS_OK) return st;
    if (data == NULL && size > 0) return cns__fail(err, CNS_E_ARG, "data is NULL");
    uint32_t count = 0;
    /* Validate the caller's bytes in place: nothing is allocated for input
     * that is not a sound checkpoint. */
    st = validate(data, size, kind, &count, err);
    if (st != CNS_OK) return st;
    unsigned char *bytes = cns__malloc(al, size);
    if (bytes == NULL)
        return cns__fail(err, CNS_E_NOMEM, "cannot allocate %zu bytes for the checkpoint", size);
    memcpy(bytes, data, size);
    out->bytes = bytes;
    out->size = size;
    out->kind = kind;
    out->count = count;
    out->table = bytes + CNS__CKPT_HEADER_SIZE;
    out->al = al;
    cns__ok(err);
    return CNS_OK;
}

static void errno_text(int e, char *buf, size_t n) {
    /* XSI strerror_r (we build with _POSIX_C_SOURCE): thread-safe, unlike strerror. */
    if (strerror_r(e, buf, n) != 0) snprintf(buf, n, "errno %d", e);
}

/* Reads exactly n bytes at offset off; 0, or an errno value, or -1 when
 * the file ended early. */
static int pread_full(int fd, unsigned char *buf, size_t n, off_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, off + (off_t)got);
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (r == 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static cns_status read_fd(int fd, const char *path, uint32_t kind, const cns__alloc *al,
                          cns__ckpt_file *out, cns_error *err) {
    char et[128];
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        errno_text(errno, et, sizeof et);
        return cns__fail(err, CNS_E_IO, "cannot stat '%s': %s", path, et);
    }
    if (!S_ISREG(sb.st_mode)) return cns__fail(err, CNS_E_NOFILE, "'%s' is not a regular file", path);
    if (sb.st_size < 0) return cns__fail(err, CNS_E_IO, "'%s' reports a negative size", path);
    uint64_t file_len = (uint64_t)sb.st_size;

    /* The header first, into the stack, and checked against the real
     * length: a wrong or hostile file costs no allocation. */
    unsigned char hdr[CNS__CKPT_HEADER_SIZE];
    size_t hn = file_len < sizeof hdr ? (size_t)file_len : sizeof hdr;
    int rc = pread_full(fd, hdr, hn, 0);
    if (rc != 0) {
        if (rc < 0) return cns__fail(err, CNS_E_IO, "'%s' shrank while being read", path);
        errno_text(rc, et, sizeof et);
        return cns__fail(err, CNS_E_IO, "cannot read '%s': %s", path, et);
    }
    uint32_t count = 0;
    cns_status st = check_header(hdr, file_len, kind, &count, err);
    if (st != CNS_OK) return st;
    if (file_len > SIZE_MAX)
        return cns__fail(err, CNS_E_NOMEM, "'%s' is %llu bytes, more than this process can address",
                         path, (ull)file_len);

    /* One bounded read of exactly the length the header was checked against. */
    size_t len = (size_t)file_len;
    unsigned char *bytes = cns__malloc(al, len);
    if (bytes == NULL)
        return cns__fail(err, CNS_E_NOMEM, "cannot allocate %zu bytes to read '%s'", len, path);
    rc = pread_full(fd, bytes, len, 0);
    if (rc != 0) {
        cns__free(al, bytes);
        if (rc < 0) return cns__fail(err, CNS_E_IO, "'%s' shrank while being read", path);
        errno_text(rc, et, sizeof et);
        return cns__fail(err, CNS_E_IO, "cannot read '%s': %s", path, et);
    }
    st = validate(bytes, len, kind, &count, err);
    if (st != CNS_OK) {
        cns__free(al, bytes);
        return st;
    }
    out->bytes = bytes;
    out->size = len;
    out->kind = kind;
    out->count = count;
    out->table = bytes + CNS__CKPT_HEADER_SIZE;
    out->al = al;
    return CNS_OK;
}

/* Names the file in content errors ("'x.ckpt': section 'EGOU' ..."):
 * damage (CNS_E_CORRUPT) or a newer format (CNS_E_VERSION), whether the
 * container or a handle's builder found it. Open, read and memory
 * failures already name it or are not about the file's content. */
static void name_the_file(cns_error *err, cns_status st, const char *path) {
    if (err == NULL || (st != CNS_E_CORRUPT && st != CNS_E_VERSION)) return;
    char detail[CNS_ERROR_MESSAGE_SIZE];
    memcpy(detail, err->message, sizeof detail);
    cns__fail(err, st, "'%s': %s", path, detail);
}

cns_status cns__ckpt_read(const char *path, uint32_t kind, const cns__alloc *al,
                          cns__ckpt_file *out, cns_error *err) {
    cns_status st = check_read_args(kind, al, out, err);
    if (st != CNS_OK) return st;
    if (path == NULL) return cns__fail(err, CNS_E_ARG, "path is NULL");
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        char et[128];
        errno_text(errno, et, sizeof et);
        return cns__fail(err, CNS_E_NOFILE, "cannot open '%s': %s", path, et);
    }
    st = read_fd(fd, path, kind, al, out, err);
    close(fd); /* read-only: a close error cannot lose data */
    if (st != CNS_OK) {
        /* read_fd's other failures (CNS_E_NOFILE, _IO, _NOMEM) name it already. */
        name_the_file(err, st, path);
        memset(out, 0, sizeof *out);
        return st;
    }
    cns__ok(err);
    return CNS_OK;
}

cns_status cns__ckpt_load(const char *fn, const cns__ckpt_source *src, uint32_t kind,
                          const cns_allocator *alloc, cns__ckpt_build_fn build, void *out,
                          cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "%s: out is NULL", fn);
    if (src->from_file && src->path == NULL)
        return cns__fail(err, CNS_E_ARG, "%s: path is NULL", fn);
    if (!src->from_file && src->buf == NULL && src->size > 0)
        return cns__fail(err, CNS_E_ARG, "%s: buf is NULL but size is %zu", fn, src->size);
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "%s: allocator has a NULL function", fn);
    cns__ckpt_file f;
    cns_status st = src->from_file ? cns__ckpt_read(src->path, kind, &al, &f, err)
                                   : cns__ckpt_parse(src->buf, src->size, kind, &al, &f, err);
    if (st != CNS_OK) return st;
    st = build(&f, alloc, &al, out, err);
    cns__ckpt_close(&f);
    if (st != CNS_OK) {
        if (src->from_file) name_the_file(err, st, src->path);
        return st;
    }
    cns__ok(err);
    return CNS_OK;
}

cns_status cns__ckpt_find(const cns__ckpt_file *f, uint32_t tag, uint64_t expect_size,
                          const void **data, uint64_t *size, cns_error *err) {
    if (f == NULL || f->bytes == NULL) return cns__fail(err, CNS_E_ARG, "checkpoint is NULL or closed");
    if (data == NULL) return cns__fail(err, CNS_E_ARG, "data is NULL");
    tag_text tn = tag_name(tag);
    for (uint32_t i = 0; i < f->count; ++i) {
        const unsigned char *e = f->table + (size_t)i * CNS__CKPT_ENTRY_SIZE;
        if (cns__le32_get(e + E_TAG) != tag) continue;
        uint64_t s = cns__le64_get(e + E_SIZE);
        if (expect_size != UINT64_MAX && s != expect_size)
            return cns__fail(err, CNS_E_CORRUPT, "section %s is %llu bytes, expected %llu", tn.s,
                             (ull)s, (ull)expect_size);
        *data = f->bytes + cns__le64_get(e + E_OFFSET);
        if (size != NULL) *size = s;
        return CNS_OK;
    }
    return cns__fail(err, CNS_E_CORRUPT, "%s checkpoint has no section %s", kind_name(f->kind), tn.s);
}

int cns__ckpt_has(const cns__ckpt_file *f, uint32_t tag) {
    if (f == NULL || f->bytes == NULL) return 0;
    for (uint32_t i = 0; i < f->count; ++i)
        if (cns__le32_get(f->table + (size_t)i * CNS__CKPT_ENTRY_SIZE + E_TAG) == tag) return 1;
    return 0;
}

void cns__ckpt_close(cns__ckpt_file *f) {
    if (f == NULL) return;
    if (f->bytes != NULL && f->al != NULL) cns__free(f->al, f->bytes);
    memset(f, 0, sizeof *f);
}

/* ---- the handles' save calls --------------------------------------------- */

cns_status cns__ckpt_save_path(const char *fn, void *handle, char *msgbuf, cns__ckpt_save_fn save,
                               const char *path, const cns__ckpt_io *io) {
    if (path == NULL) return cns__msg(msgbuf, CNS_E_ARG, "%s: path is NULL", fn);
    const cns__ckpt_sink sink = {path, io, NULL, 0, NULL};
    return save(handle, &sink);
}

cns_status cns__ckpt_save_buffer(const char *fn, void *handle, char *msgbuf,
                                 cns__ckpt_save_fn save, void *buf, size_t cap, size_t *size) {
    if (size == NULL) return cns__msg(msgbuf, CNS_E_ARG, "%s: size is NULL", fn);
    const cns__ckpt_sink sink = {NULL, NULL, buf, cap, size};
    cns_status st = save(handle, &sink);
    if (st != CNS_OK) {
        char detail[CNS_ERROR_MESSAGE_SIZE];
        memcpy(detail, msgbuf, sizeof detail);
        cns__msg(msgbuf, st, "%s: %s", fn, detail);
    }
    return st;
}

/* ---- writing ----------------------------------------------------------- */

static long sys_write(void *user, int fd, const void *buf, size_t n) {
    (void)user;
    return (long)write(fd, buf, n);
}
static int sys_fsync(void *user, int fd) {
    (void)user;
    return fsync(fd);
}
static int sys_rename(void *user, const char *from, const char *to) {
    (void)user;
    return rename(from, to);
}

typedef struct io_calls {
    long (*write)(void *, int, const void *, size_t);
    int (*fsync)(void *, int);
    int (*rename)(void *, const char *, const char *);
    void *user;
} io_calls;

/* Writes all n bytes (short writes continue, EINTR retries); 0 or an errno. */
static int write_all(const io_calls *io, int fd, const void *buf, size_t n) {
    const unsigned char *p = buf;
    while (n > 0) {
        /* Chunks below 1 GiB: some kernels cap or reject larger writes. */
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        errno = 0;
        long r = io->write(io->user, fd, p, chunk);
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno != 0 ? errno : EIO;
        }
        /* No progress, or a claim of more than was asked: give up, never spin. */
        if (r == 0 || (unsigned long)r > chunk) return EIO;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The checks every writer shares (file or memory) and the total size. */
static cns_status check_sections(uint32_t kind, const cns__ckpt_section *sections, size_t count,
                                 char *msg, uint64_t *total_out) {
    if (!kind_known(kind))
        return cns__msg(msg, CNS_E_ARG, "kind %u is not model (1), sampler (2) or loss (3)",
                        (unsigned)kind);
    if (count > CNS__CKPT_MAX_SECTIONS)
        return cns__msg(msg, CNS_E_ARG, "%zu sections exceed the limit of %u", count,
                        CNS__CKPT_MAX_SECTIONS);
    if (sections == NULL && count > 0) return cns__msg(msg, CNS_E_ARG, "sections is NULL");
    uint64_t end = CNS__CKPT_HEADER_SIZE + (uint64_t)count * CNS__CKPT_ENTRY_SIZE;
    for (size_t i = 0; i < count; ++i) {
        const cns__ckpt_section *s = &sections[i];
        tag_text tn = tag_name(s->tag);
        if (!tag_printable(s->tag))
            return cns__msg(msg, CNS_E_ARG, "section %zu: tag %s is not four printable ASCII bytes", i,
                            tn.s);
        for (size_t j = 0; j < i; ++j)
            if (sections[j].tag == s->tag)
                return cns__msg(msg, CNS_E_ARG, "section %s is given twice", tn.s);
        if (s->data == NULL && s->size > 0)
            return cns__msg(msg, CNS_E_ARG, "section %s: data is NULL", tn.s);
        if (s->size > SIZE_MAX || end > UINT64_MAX - 7u || s->size > UINT64_MAX - align8(end))
            return cns__msg(msg, CNS_E_ARG, "section %s: size %llu is too large", tn.s, (ull)s->size);
        end = align8(end) + s->size;
    }
    if (!cns__host_is_le())
        return cns__msg(msg, CNS_E_UNSUPPORTED,
                        "checkpoint format %u supports little-endian hosts only", CNS__CKPT_VERSION);
    *total_out = end;
    return CNS_OK;
}

static cns_status check_write_args(const char *path, uint32_t kind, const cns__ckpt_section *sections,
                                   size_t count, const cns__alloc *al, char *msg,
                                   uint64_t *total_out) {
    if (path == NULL || path[0] == '\0') return cns__msg(msg, CNS_E_ARG, "path is NULL or empty");
    if (al == NULL) return cns__msg(msg, CNS_E_ARG, "allocator is NULL");
    return check_sections(kind, sections, count, msg, total_out);
}

/* Header and section table of the file about to be written. */
static void build_head(unsigned char *head, uint32_t kind, const cns__ckpt_section *sections,
                       size_t count, uint64_t total) {
    size_t table_bytes = count * CNS__CKPT_ENTRY_SIZE;
    memset(head, 0, CNS__CKPT_HEADER_SIZE + table_bytes);
    unsigned char *table = head + CNS__CKPT_HEADER_SIZE;
    uint64_t end = CNS__CKPT_HEADER_SIZE + (uint64_t)table_bytes;
    for (size_t i = 0; i < count; ++i) {
        unsigned char *e = table + i * CNS__CKPT_ENTRY_SIZE;
        uint64_t off = align8(end);
        cns__le32_put(e + E_TAG, sections[i].tag);
        cns__le64_put(e + E_OFFSET, off);
        cns__le64_put(e + E_SIZE, sections[i].size);
        cns__le32_put(e + E_CRC, cns__crc32c(0, sections[i].data, (size_t)sections[i].size));
        end = off + sections[i].size;
    }
    memcpy(head, k_magic, sizeof k_magic);
    cns__le32_put(head + H_VERSION, CNS__CKPT_VERSION);
    cns__le32_put(head + H_KIND, kind);
    cns__le32_put(head + H_COUNT, (uint32_t)count);
    cns__le64_put(head + H_FILE_SIZE, total);
    cns__le32_put(head + H_TABLE_CRC, cns__crc32c(0, table, table_bytes));
    cns__le32_put(head + H_HEADER_CRC, cns__crc32c(0, head, H_HEADER_CRC));
}

cns_status cns__ckpt_write_mem(uint32_t kind, const cns__ckpt_section *sections, size_t count,
                               void *buf, size_t cap, size_t *size, char *msg) {
    char scratch[CNS_ERROR_MESSAGE_SIZE];
    if (msg == NULL) msg = scratch;
    msg[0] = '\0';
    if (size == NULL) return cns__msg(msg, CNS_E_ARG, "size is NULL");
    uint64_t total = 0;
    cns_status st = check_sections(kind, sections, count, msg, &total);
    if (st != CNS_OK) return st;
    if (total > SIZE_MAX)
        return cns__msg(msg, CNS_E_NOMEM, "the checkpoint is %llu bytes, more than size_t holds",
                        (ull)total);
    *size = (size_t)total;
    if (buf == NULL) return CNS_OK; /* the size query */
    if (cap < total)
        return cns__msg(msg, CNS_E_SIZE, "the buffer holds %zu bytes, the checkpoint needs %llu",
                        cap, (ull)total);
    /* Header and table straight into the buffer (they fit: total covers
     * them), then each payload at its offset with zeroed padding: the
     * layout write_body streams into a file. */
    unsigned char *p = buf;
    size_t head_len = CNS__CKPT_HEADER_SIZE + count * CNS__CKPT_ENTRY_SIZE;
    build_head(p, kind, sections, count, total);
    uint64_t end = head_len;
    for (size_t i = 0; i < count; ++i) {
        uint64_t off = align8(end);
        memset(p + end, 0, (size_t)(off - end));
        if (sections[i].size > 0) memcpy(p + off, sections[i].data, (size_t)sections[i].size);
        end = off + sections[i].size;
    }
    return CNS_OK;
}

cns_status cns__ckpt_emit(const cns__ckpt_sink *sink, uint32_t kind,
                          const cns__ckpt_section *sections, size_t count, const cns__alloc *al,
                          char *msg) {
    if (sink->path != NULL)
        return cns__ckpt_write(sink->path, kind, sections, count, sink->io, al, msg);
    return cns__ckpt_write_mem(kind, sections, count, sink->buf, sink->cap, sink->size, msg);
}

/* Streams header, table, padding and payloads into fd; 0 or an errno. */
static int write_body(const io_calls *io, int fd, const unsigned char *head, size_t head_len,
                      const cns__ckpt_section *sections, size_t count) {
    static const unsigned char zeros[8] = {0};
    int rc = write_all(io, fd, head, head_len);
    uint64_t end = head_len;
    for (size_t i = 0; i < count && rc == 0; ++i) {
        uint64_t off = align8(end);
        rc = write_all(io, fd, zeros, (size_t)(off - end));
        if (rc == 0) rc = write_all(io, fd, sections[i].data, (size_t)sections[i].size);
        end = off + sections[i].size;
    }
    return rc;
}

cns_status cns__ckpt_write(const char *path, uint32_t kind, const cns__ckpt_section *sections,
                           size_t count, const cns__ckpt_io *hooks, const cns__alloc *al,
                           char *msg) {
    char scratch[CNS_ERROR_MESSAGE_SIZE];
    if (msg == NULL) msg = scratch;
    msg[0] = '\0';
    uint64_t total = 0;
    cns_status st = check_write_args(path, kind, sections, count, al, msg, &total);
    if (st != CNS_OK) return st;

    io_calls io = {sys_write, sys_fsync, sys_rename, NULL};
    if (hooks != NULL) {
        if (hooks->write != NULL) io.write = hooks->write;
        if (hooks->fsync != NULL) io.fsync = hooks->fsync;
        if (hooks->rename != NULL) io.rename = hooks->rename;
        io.user = hooks->user;
    }

    size_t head_len = CNS__CKPT_HEADER_SIZE + count * CNS__CKPT_ENTRY_SIZE;
    unsigned char *head = cns__malloc(al, head_len);
    if (head == NULL) return cns__msg(msg, CNS_E_NOMEM, "cannot allocate %zu bytes for the header", head_len);
    build_head(head, kind, sections, count, total);

    /* "<path>.tmp-XXXXXX": same directory as path, so rename is atomic. */
    static const char suffix[] = ".tmp-XXXXXX";
    size_t plen = strlen(path);
    char *tmp = cns__malloc(al, plen + sizeof suffix);
    if (tmp == NULL) {
        cns__free(al, head);
        return cns__msg(msg, CNS_E_NOMEM, "cannot allocate the temporary file name");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);

    char et[128];
    int fd = mkstemp(tmp);
    if (fd < 0) {
        errno_text(errno, et, sizeof et);
        st = cns__msg(msg, CNS_E_IO, "cannot create a temporary file next to '%s': %s", path, et);
        goto done;
    }
    /* mkstemp makes the file 0600; a replaced checkpoint keeps its mode. */
    struct stat old;
    if (stat(path, &old) == 0 && S_ISREG(old.st_mode) && fchmod(fd, old.st_mode & 07777) != 0) {
        errno_text(errno, et, sizeof et);
        st = cns__msg(msg, CNS_E_IO, "fchmod of '%s' failed: %s", tmp, et);
        goto fail_open;
    }
    int rc = write_body(&io, fd, head, head_len, sections, count);
    if (rc != 0) {
        errno_text(rc, et, sizeof et);
        st = cns__msg(msg, CNS_E_IO, "writing '%s' failed: %s", tmp, et);
        goto fail_open;
    }
    if (io.fsync(io.user, fd) != 0) {
        errno_text(errno, et, sizeof et);
        st = cns__msg(msg, CNS_E_IO, "fsync of '%s' failed: %s", tmp, et);
        goto fail_open;
    }
    /* A close error after fsync still means the data may not be on disk. */
    rc = close(fd);
    fd = -1;
    if (rc != 0) {
        errno_text(errno, et, sizeof et);
        st = cns__msg(msg, CNS_E_IO, "close of '%s' failed: %s", tmp, et);
        goto fail_open;
    }
    if (io.rename(io.user, tmp, path) != 0) {
        errno_text(errno, et, sizeof et);
        st = cns__msg(msg, CNS_E_IO, "rename of '%s' to '%s' failed: %s", tmp, path, et);
        goto fail_open;
    }

    /* The rename is durable only once the directory entry is: fsync the
     * directory. The temporary name is gone, so its buffer holds the
     * directory name now. */
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        memcpy(tmp, ".", 2);
    } else {
        size_t dlen = slash == path ? 1 : (size_t)(slash - path);
        memcpy(tmp, path, dlen);
        tmp[dlen] = '\0';
    }
    int dfd;
    do dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (dfd < 0 && errno == EINTR);
    if (dfd < 0) {
        errno_text(errno, et, sizeof et);
        st = cns__msg(msg, CNS_E_IO,
                      "'%s' is written, but opening its directory '%s' for fsync failed: %s", path,
                      tmp, et);
        goto done;
    }
    /* EINVAL: this file system cannot sync directories; nothing more to do. */
    if (io.fsync(io.user, dfd) != 0 && errno != EINVAL) {
        errno_text(errno, et, sizeof et);
        st = cns__msg(msg, CNS_E_IO,
                      "'%s' is written, but fsync of its directory '%s' failed: %s", path, tmp, et);
    }
    close(dfd);
    goto done;

fail_open:
    if (fd >= 0) close(fd);
    unlink(tmp);
done:
    cns__free(al, tmp);
    cns__free(al, head);
    return st;
}

cns_status cns__ckpt_param_records(const unsigned char *p, uint32_t count, size_t record_size,
                                   const char *tag, const char *what,
                                   cns_status (*bounds)(int, double *, double *),
                                   const int *saved, size_t n_saved, size_t n_required,
                                   const unsigned char **rec, cns_error *err) {
    for (size_t k = 0; k < n_saved; ++k) rec[k] = NULL;
    for (uint32_t r = 0; r < count; ++r) {
        const unsigned char *e = p + record_size * r;
        const uint32_t id = cns__le32_get(e), type = cns__le32_get(e + 4);
        double lo, hi;
        if (id > (uint32_t)INT32_MAX || bounds((int)id, &lo, &hi) != CNS_OK)
            return cns__fail(err, CNS_E_VERSION,
                             "section '%s': %s parameter %u is unknown to this library "
                             "(written by a newer version?)",
                             tag, what, (unsigned)id);
        size_t k = 0;
        while (k < n_saved && saved[k] != (int)id) ++k;
        if (k == n_saved)
            return cns__fail(err, CNS_E_CORRUPT, "section '%s': parameter %u is never saved", tag,
                             (unsigned)id);
        if (rec[k] != NULL)
            return cns__fail(err, CNS_E_CORRUPT, "section '%s': parameter %u appears twice", tag,
                             (unsigned)id);
        if (type != CNS__CKPT_TYPE_INT &&
            (type != CNS__CKPT_TYPE_DOUBLE || !isfinite(cns__lef64_get(e + 8))))
            return cns__fail(err, CNS_E_CORRUPT,
                             "section '%s': parameter %u has type %u or a non-finite value", tag,
                             (unsigned)id, (unsigned)type);
        rec[k] = e;
    }
    for (size_t k = 0; k < n_required; ++k)
        if (rec[k] == NULL)
            return cns__fail(err, CNS_E_CORRUPT, "section '%s': parameter %d is missing", tag,
                             saved[k]);
    return CNS_OK;
}
