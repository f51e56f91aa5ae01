/* Helpers shared by the checkpoint suites (model, sampler, crash): a
 * scratch directory, whole-file reads and writes, a counting and failing
 * allocator, I/O hooks that fail on demand, and crafting of
 * container-valid files with chosen sections. */
#ifndef CNS_CKPT_TESTUTIL_H
#define CNS_CKPT_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "testutil.h"

/* ---- files --------------------------------------------------------------- */

/* A fresh directory under /tmp; path in buf. */
static inline const char *ck_tmpdir(char *buf, size_t len) {
    snprintf(buf, len, "/tmp/cns_ckpt_XXXXXX");
    const char *d = mkdtemp(buf);
    ck_assert_ptr_nonnull(d);
    return d;
}

/* Entries of dir other than . and ..; counts names starting with
 * keep_prefix (may be NULL) separately in *kept. */
static inline int ck_dir_count(const char *dir, const char *keep_prefix, int *kept) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0, k = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        ++n;
        if (keep_prefix && strncmp(e->d_name, keep_prefix, strlen(keep_prefix)) == 0) ++k;
    }
    closedir(d);
    if (kept) *kept = k;
    return n;
}

/* Entries of dir whose name contains ".tmp-" (a save's temporary file);
 * with unlink_them, each is also unlinked. Returns how many. */
static inline int ck_temps(const char *dir, int unlink_them) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".tmp-") == NULL) continue;
        if (unlink_them) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            ck_assert_int_eq(unlink(p), 0);
        }
        ++n;
    }
    closedir(d);
    return n;
}
static inline int ck_count_temps(const char *dir) { return ck_temps(dir, 0); }
static inline int ck_remove_temps(const char *dir) { return ck_temps(dir, 1); }

/* Removes dir and the files in it. */
static inline void ck_rmdir_all(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Whole file into a malloc'd buffer (NULL when missing). */
static inline unsigned char *ck_read_all(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static inline void ck_write_all(const char *path, const void *b, size_t n) {
    /* A fresh inode each time: truncating an existing file makes ext4
     * flush it on close (auto_da_alloc), which costs thousands of loops. */
    unlink(path);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* 1 when path holds exactly b[0..n). */
static inline int ck_file_equals(const char *path, const unsigned char *b, size_t n) {
    size_t m;
    unsigned char *c = ck_read_all(path, &m);
    int same = c != NULL && m == n && memcmp(b, c, n) == 0;
    free(c);
    return same;
}

/* ---- allocator ------------------------------------------------------------ */

/* Counts live blocks and the largest request; fails call number fail_at
 * (0-based; SIZE_MAX never). */
typedef struct ck_counting {
    size_t calls, live, fail_at, max_size;
} ck_counting;

static inline void *ck_alloc(void *u, size_t n) {
    ck_counting *c = u;
    if (c->calls++ == c->fail_at) return NULL;
    if (n > c->max_size) c->max_size = n;
    c->live++;
    return malloc(n);
}
static inline void ck_free(void *u, void *p) {
    ck_counting *c = u;
    if (p) c->live--;
    free(p);
}
static inline cns_allocator ck_allocator(ck_counting *c) {
    cns_allocator a = {ck_alloc, ck_free, c};
    return a;
}

/* ---- I/O hooks -------------------------------------------------------------- */

/* Fails the write call number fail_write, the fsync number fail_fsync or
 * the rename number fail_rename (0-based; -1 never); short > 0 makes every
 * write take at most that many bytes. Counts the calls. */
typedef struct ck_io {
    long writes, fsyncs, renames;
    long fail_write, fail_fsync, fail_rename;
    size_t short_writes;
} ck_io;

static inline long ck_io_write(void *u, int fd, const void *b, size_t n) {
    ck_io *s = u;
    if (s->writes++ == s->fail_write) {
        errno = ENOSPC;
        return -1;
    }
    if (s->short_writes && n > s->short_writes) n = s->short_writes;
    return (long)write(fd, b, n);
}
static inline int ck_io_fsync(void *u, int fd) {
    ck_io *s = u;
    if (s->fsyncs++ == s->fail_fsync) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}
static inline int ck_io_rename(void *u, const char *a, const char *b) {
    ck_io *s = u;
    if (s->renames++ == s->fail_rename) {
        errno = EXDEV;
        return -1;
    }
    return rename(a, b);
}
static inline cns__ckpt_io ck_hooks(ck_io *s) {
    cns__ckpt_io io = {ck_io_write, ck_io_fsync, ck_io_rename, s};
    return io;
}
static inline ck_io ck_io_never(void) {
    ck_io s = {0, 0, 0, -1, -1, -1, 0};
    return s;
}

/* ---- crafting ---------------------------------------------------------------- */

/* The sections of a checkpoint as editable copies. */
#define CK_MAX_SECTIONS 8
typedef struct ck_sections {
    uint32_t kind;
    size_t n;
    uint32_t tag[CK_MAX_SECTIONS];
    unsigned char *data[CK_MAX_SECTIONS];
    size_t size[CK_MAX_SECTIONS];
} ck_sections;

static inline void ck_sections_read(const char *path, uint32_t kind, const uint32_t *tags,
                                    size_t n, ck_sections *out) {
    cns__alloc al;
    ck_assert_status(cns__alloc_init(&al, NULL), CNS_OK);
    cns__ckpt_file f;
    cns_error e;
    ck_assert_status(cns__ckpt_read(path, kind, &al, &f, &e), CNS_OK);
    ck_assert_uint_eq(f.count, n);
    out->kind = kind;
    out->n = n;
    for (size_t i = 0; i < n; ++i) {
        const void *p;
        uint64_t s;
        ck_assert_status(cns__ckpt_find(&f, tags[i], UINT64_MAX, &p, &s, &e), CNS_OK);
        out->tag[i] = tags[i];
        out->size[i] = (size_t)s;
        out->data[i] = malloc((size_t)s + 64); /* room to grow a little */
        ck_assert_ptr_nonnull(out->data[i]);
        memcpy(out->data[i], p, (size_t)s);
    }
    cns__ckpt_close(&f);
}

static inline ck_sections ck_sections_copy(const ck_sections *s) {
    ck_sections c = *s;
    for (size_t i = 0; i < s->n; ++i) {
        c.data[i] = malloc(s->size[i] + 64);
        ck_assert_ptr_nonnull(c.data[i]);
        memcpy(c.data[i], s->data[i], s->size[i]);
    }
    return c;
}

static inline void ck_sections_free(ck_sections *s) {
    for (size_t i = 0; i < s->n; ++i) free(s->data[i]);
    s->n = 0;
}

static inline size_t ck_sections_index(const ck_sections *s, uint32_t tag) {
    for (size_t i = 0; i < s->n; ++i)
        if (s->tag[i] == tag) return i;
    ck_abort_msg("no such section");
    return 0;
}

/* The bytes of section tag, to edit in place. */
static inline unsigned char *ck_sections_data(ck_sections *s, uint32_t tag) {
    return s->data[ck_sections_index(s, tag)];
}

/* Drops section tag. */
static inline void ck_sections_drop(ck_sections *s, uint32_t tag) {
    size_t i = ck_sections_index(s, tag);
    free(s->data[i]);
    for (size_t j = i + 1; j < s->n; ++j) {
        s->tag[j - 1] = s->tag[j];
        s->data[j - 1] = s->data[j];
        s->size[j - 1] = s->size[j];
    }
    s->n--;
}

/* Writes the sections as a container-valid file (fresh CRCs). */
static inline void ck_sections_write(const ck_sections *s, const char *path) {
    cns__alloc al;
    ck_assert_status(cns__alloc_init(&al, NULL), CNS_OK);
    cns__ckpt_section sec[CK_MAX_SECTIONS];
    for (size_t i = 0; i < s->n; ++i) {
        sec[i].tag = s->tag[i];
        sec[i].data = s->data[i];
        sec[i].size = s->size[i];
    }
    char msg[CNS_ERROR_MESSAGE_SIZE];
    ck_assert_status(cns__ckpt_write(path, s->kind, sec, s->n, NULL, &al, msg), CNS_OK);
}

/* xorshift64*, for seeded choices in the tests. */
static inline uint64_t ck_rand(uint64_t *x) {
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

#endif
