/* The checks the model, sampler and loss checkpoint suites all make,
 * written once over a ck_kind (the suite's loader, saver and free, which
 * CK_KIND_FUNCTIONS defines): the memory forms against the file form;
 * every truncation, every header/table bit flip and random payload bit
 * flips refused; crafted container-valid files (a ck_crafted table)
 * refused without allocating by the header; failing writes, fsyncs,
 * renames and allocations leaving the old file. Where the suites checked
 * different details the detail is a parameter. */
#ifndef CNS_CKPT_CHECKS_H
#define CNS_CKPT_CHECKS_H

#include "ckpt_testutil.h"

/* One checkpoint kind as the checks see it; handles are void *. */
typedef struct ck_kind {
    /* Loads path; *out is the handle the loader left (the wrapper sets it
     * non-NULL first, so a failing loader must clear it). */
    cns_status (*load)(const char *path, const cns_allocator *a, void **out, cns_error *e);
    void (*free)(void *h);
    cns_status (*save)(void *h, const char *path);
    cns_status (*save_io)(void *h, const char *path, const cns__ckpt_io *io);
    const char *(*last_error)(const void *h);
    size_t sections; /* entries in the file's section table */
    /* The memory form of load (NULL: the kind has none). Every damage
     * check below feeds the same bytes to it and requires the file's
     * status and the file's message without its "'path': " prefix. */
    cns_status (*load_mem)(const void *buf, size_t n, const cns_allocator *a, void **out,
                           cns_error *e);
    /* The memory form of save (NULL: none); fn is its name for messages. */
    cns_status (*save_mem)(void *h, void *buf, size_t cap, size_t *size);
    const char *save_mem_name;
} ck_kind;

/* The ck_kind functions of a handle type T whose calls are T_load,
 * T_load_mem, T_free, T_save, T_save_mem and T_last_error (cns_model,
 * cns_sampler, cns_loss), as static k_load, k_load_mem, k_free, k_save,
 * k_save_mem and k_last_error of the including suite. Both loads start
 * the handle at a non-NULL value: a failing load must clear it.
 * k_check_arguments(h) pins the message of every argument check of the
 * two loads (out, path or buf, allocator) and the two saves of h (path,
 * size): "function: detail", a failing load clearing the handle. */
#define CK_KIND_FUNCTIONS(T)                                                                    \
    static cns_status k_load(const char *path, const cns_allocator *a, void **out,             \
                             cns_error *e) {                                                   \
        T *h = (T *)1;                                                                         \
        cns_status st = T##_load(path, a, &h, e);                                              \
        *out = h;                                                                              \
        return st;                                                                             \
    }                                                                                          \
    static cns_status k_load_mem(const void *buf, size_t n, const cns_allocator *a, void **out, \
                                 cns_error *e) {                                               \
        T *h = (T *)1;                                                                         \
        cns_status st = T##_load_mem(buf, n, a, &h, e);                                        \
        *out = h;                                                                              \
        return st;                                                                             \
    }                                                                                          \
    static void k_free(void *h) { T##_free(h); }                                               \
    static cns_status k_save(void *h, const char *path) { return T##_save(h, path); }          \
    static cns_status k_save_mem(void *h, void *buf, size_t cap, size_t *size) {               \
        return T##_save_mem(h, buf, cap, size);                                                \
    }                                                                                          \
    static const char *k_last_error(const void *h) { return T##_last_error(h); }                \
    static void k_check_arguments(T *h) {                                                      \
        const cns_allocator bad = {NULL, NULL, NULL};                                          \
        cns_error e;                                                                           \
        T *l = (T *)1;                                                                         \
        ck_assert_status(T##_save(h, NULL), CNS_E_ARG);                                        \
        ck_assert_str_eq(T##_last_error(h), #T "_save: path is NULL");                         \
        ck_assert_status(T##_save_mem(h, NULL, 0, NULL), CNS_E_ARG);                           \
        ck_assert_str_eq(T##_last_error(h), #T "_save_mem: size is NULL");                     \
        ck_assert_status(T##_load(NULL, NULL, &l, &e), CNS_E_ARG);                             \
        ck_assert_ptr_null(l);                                                                 \
        ck_assert_str_eq(e.message, #T "_load: path is NULL");                                 \
        ck_assert_status(T##_load("x.ckpt", NULL, NULL, &e), CNS_E_ARG);                       \
        ck_assert_str_eq(e.message, #T "_load: out is NULL");                                  \
        l = (T *)1;                                                                            \
        ck_assert_status(T##_load("x.ckpt", &bad, &l, &e), CNS_E_ARG);                         \
        ck_assert_ptr_null(l);                                                                 \
        ck_assert_str_eq(e.message, #T "_load: allocator has a NULL function");                \
        ck_assert_status(T##_load_mem("x", 1, NULL, NULL, &e), CNS_E_ARG);                     \
        ck_assert_str_eq(e.message, #T "_load_mem: out is NULL");                              \
        l = (T *)1;                                                                            \
        ck_assert_status(T##_load_mem(NULL, 1, NULL, &l, &e), CNS_E_ARG);                      \
        ck_assert_ptr_null(l);                                                                 \
        ck_assert_str_eq(e.message, #T "_load_mem: buf is NULL but size is 1");                \
        l = (T *)1;                                                                            \
        ck_assert_status(T##_load_mem("x", 1, &bad, &l, &e), CNS_E_ARG);                       \
        ck_assert_ptr_null(l);                                                                 \
        ck_assert_str_eq(e.message, #T "_load_mem: allocator has a NULL function");            \
    }

/* The bytes of q through k->load_mem (in an exact-size heap copy, so ASan
 * sees any read past the end) give status want, clear the handle and,
 * when file_msg is given, the file's message minus the "'q': " prefix.
 * a (may be NULL) is the allocator. */
static inline void ck_mem_agrees(const ck_kind *k, const char *q, const cns_allocator *a,
                                 cns_status want, const char *file_msg) {
    if (k->load_mem == NULL) return;
    size_t n;
    unsigned char *b = ck_read_all(q, &n);
    ck_assert_ptr_nonnull(b);
    unsigned char *exact = malloc(n > 0 ? n : 1);
    ck_assert_ptr_nonnull(exact);
    if (n > 0) memcpy(exact, b, n);
    free(b);
    void *l;
    cns_error e;
    memset(&e, 0, sizeof e);
    cns_status st = k->load_mem(exact, n, a, &l, &e);
    free(exact);
    ck_assert_msg(st == want, "memory form: %s, file form: %s (%s)", cns_status_name(st),
                  cns_status_name(want), e.message);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(e.status, (int)want);
    if (file_msg != NULL) {
        char prefix[300];
        snprintf(prefix, sizeof prefix, "'%s': ", q);
        const char *detail = file_msg;
        if (strncmp(detail, prefix, strlen(prefix)) == 0) detail += strlen(prefix);
        ck_assert_str_eq(e.message, detail);
    }
}

/* Saves h to dir/name (the path goes into path) and returns the file's bytes. */
static inline unsigned char *ck_saved_bytes(const ck_kind *k, void *h, const char *dir,
                                            const char *name, char *path, size_t plen,
                                            size_t *len) {
    snprintf(path, plen, "%s/%s", dir, name);
    ck_assert_status(k->save(h, path), CNS_OK);
    unsigned char *b = ck_read_all(path, len);
    ck_assert_ptr_nonnull(b);
    return b;
}

/* ---- the memory forms ------------------------------------------------------- */

/* h saved to memory is byte for byte h saved to dir/mem-check.ckpt: the
 * size query gives the file's length, a buffer one byte short is
 * CNS_E_SIZE (size still reported, buffer untouched, the message names the
 * call and both counts), a larger buffer is filled only up to the size;
 * loading the bytes from an unaligned copy and saving that handle again
 * gives the same bytes. Argument errors are CNS_E_ARG. */
static inline void ck_check_memory_form(const ck_kind *k, void *h, const char *dir) {
    char path[256];
    size_t n_file;
    unsigned char *file = ck_saved_bytes(k, h, dir, "mem-check.ckpt", path, sizeof path, &n_file);
    ck_assert_int_eq(unlink(path), 0);

    size_t n = 0;
    ck_assert_status(k->save_mem(h, NULL, 0, &n), CNS_OK);
    ck_assert_uint_eq(n, n_file);
    ck_assert_status(k->save_mem(h, NULL, 12345, &n), CNS_OK); /* cap ignored */
    ck_assert_uint_eq(n, n_file);

    unsigned char *buf = malloc(n + 16);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 0xA5, n + 16);
    size_t got = 0;
    ck_assert_status(k->save_mem(h, buf, n - 1, &got), CNS_E_SIZE);
    ck_assert_uint_eq(got, n);
    for (size_t i = 0; i < n + 16; ++i) ck_assert_uint_eq(buf[i], 0xA5);
    char want[256];
    snprintf(want, sizeof want, "%s: the buffer holds %zu bytes, the checkpoint needs %zu",
             k->save_mem_name, n - 1, n);
    ck_assert_str_eq(k->last_error(h), want);

    got = 0;
    ck_assert_status(k->save_mem(h, buf, n + 16, &got), CNS_OK);
    ck_assert_uint_eq(got, n);
    ck_assert(memcmp(buf, file, n) == 0);
    for (size_t i = n; i < n + 16; ++i) ck_assert_uint_eq(buf[i], 0xA5);

    /* Loaded from an odd address, saved again: the same bytes. */
    unsigned char *odd = malloc(n + 1);
    ck_assert_ptr_nonnull(odd);
    memcpy(odd + 1, buf, n);
    void *l;
    cns_error e;
    ck_assert_status(k->load_mem(odd + 1, n, NULL, &l, &e), CNS_OK);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(e.status, CNS_OK);
    ck_assert_str_eq(e.message, "");
    memset(buf, 0, n);
    ck_assert_status(k->save_mem(l, buf, n, &got), CNS_OK);
    ck_assert_uint_eq(got, n);
    ck_assert(memcmp(buf, file, n) == 0);
    k->free(l);

    /* Arguments. */
    ck_assert_status(k->save_mem(h, buf, n, NULL), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(k->last_error(h), "size is NULL"));
    ck_assert_status(k->save_mem(NULL, buf, n, &got), CNS_E_ARG);
    ck_assert_status(k->load_mem(NULL, 5, NULL, &l, &e), CNS_E_ARG);
    ck_assert_ptr_null(l);
    ck_assert_ptr_nonnull(strstr(e.message, "buf is NULL but size is 5"));
    ck_assert_status(k->load_mem(NULL, 0, NULL, &l, &e), CNS_E_CORRUPT); /* an empty checkpoint */
    ck_assert_ptr_null(l);
    cns_allocator bad = {NULL, NULL, NULL};
    ck_assert_status(k->load_mem(odd + 1, n, &bad, &l, &e), CNS_E_ARG);
    ck_assert_ptr_null(l);
    free(odd);
    free(buf);
    free(file);
}

/* ---- damage ---------------------------------------------------------------- */

/* Every proper prefix of b[0..n), written to q, is CNS_E_CORRUPT. With
 * with_error the loader gets a cns_error, whose status and message (which
 * must name q) are checked; without, it gets NULL. */
static inline void ck_check_truncations(const ck_kind *k, const unsigned char *b, size_t n,
                                        const char *q, int with_error) {
    for (size_t len = 0; len < n; ++len) {
        ck_write_all(q, b, len);
        void *l;
        cns_error e;
        ck_assert_status(k->load(q, NULL, &l, with_error ? &e : NULL), CNS_E_CORRUPT);
        ck_assert_ptr_null(l);
        if (with_error) {
            ck_assert_int_eq(e.status, CNS_E_CORRUPT);
            ck_assert_ptr_nonnull(strstr(e.message, q));
        }
        ck_mem_agrees(k, q, NULL, CNS_E_CORRUPT, with_error ? e.message : NULL);
    }
}

/* Each single bit flip of the header and section table of b[0..n),
 * written to q, is refused: CNS_E_VERSION in the version field (bytes
 * 8-11, value 1) except clearing its only set bit, CNS_E_CORRUPT
 * elsewhere. b is restored; returns how many flips read as a newer version. */
static inline int ck_check_header_flips(const ck_kind *k, unsigned char *b, size_t n,
                                        const char *q) {
    const size_t head = CNS__CKPT_HEADER_SIZE + k->sections * CNS__CKPT_ENTRY_SIZE;
    int versions = 0;
    for (size_t byte = 0; byte < head; ++byte)
        for (int bit = 0; bit < 8; ++bit) {
            b[byte] ^= (unsigned char)(1u << bit);
            ck_write_all(q, b, n);
            b[byte] ^= (unsigned char)(1u << bit);
            void *l;
            cns_error e;
            cns_status st = k->load(q, NULL, &l, &e);
            ck_assert_ptr_null(l);
            ck_mem_agrees(k, q, NULL, st, e.message);
            if (byte >= 8 && byte < 12 && !(byte == 8 && bit == 0)) {
                ck_assert_status(st, CNS_E_VERSION);
                ++versions;
            } else {
                ck_assert_msg(st == CNS_E_CORRUPT, "byte %zu bit %d: %s", byte, bit,
                              cns_status_name(st));
            }
        }
    return versions;
}

/* trials single bit flips past the section table, chosen by ck_rand from
 * seed, each written to q and refused with CNS_E_CORRUPT. b is restored;
 * returns how many were refused. */
static inline int ck_check_payload_flips(const ck_kind *k, unsigned char *b, size_t n,
                                         const char *q, uint64_t seed, int trials) {
    const size_t head = CNS__CKPT_HEADER_SIZE + k->sections * CNS__CKPT_ENTRY_SIZE;
    uint64_t x = seed;
    int rejected = 0;
    for (int t = 0; t < trials; ++t) {
        size_t byte = head + (size_t)(ck_rand(&x) % (n - head));
        int bit = (int)(ck_rand(&x) % 8);
        b[byte] ^= (unsigned char)(1u << bit);
        ck_write_all(q, b, n);
        b[byte] ^= (unsigned char)(1u << bit);
        void *l;
        cns_error e;
        cns_status st = k->load(q, NULL, &l, &e);
        ck_assert_msg(st == CNS_E_CORRUPT, "byte %zu bit %d: %s", byte, bit, cns_status_name(st));
        ck_assert_ptr_null(l);
        ck_mem_agrees(k, q, NULL, st, e.message);
        ++rejected;
    }
    return rejected;
}

/* ---- crafted files ------------------------------------------------------------ */

typedef void (*ck_mutate_fn)(ck_sections *s);

/* The good sections edited by fn, written to q, load as want with a
 * message holding expect and q, nothing left allocated, and no block
 * larger than twice the file (nothing sized from the header). */
static inline void ck_check_crafted(const ck_kind *k, const ck_sections *good, const char *q,
                                    const char *name, ck_mutate_fn fn, cns_status want,
                                    const char *expect) {
    ck_sections s = ck_sections_copy(good);
    fn(&s);
    ck_sections_write(&s, q);
    ck_sections_free(&s);
    size_t fsize;
    free(ck_read_all(q, &fsize));
    ck_counting cnt = {0, 0, SIZE_MAX, 0};
    cns_allocator a = ck_allocator(&cnt);
    void *l;
    cns_error e;
    cns_status st = k->load(q, &a, &l, &e);
    ck_assert_msg(st == want, "%s: %s (%s)", name, cns_status_name(st), e.message);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(e.status, (int)want);
    ck_assert_msg(strstr(e.message, expect) != NULL, "%s: message '%s'", name, e.message);
    ck_assert_ptr_nonnull(strstr(e.message, q));
    ck_assert_uint_eq(cnt.live, 0);
    ck_assert_msg(cnt.max_size <= 2 * fsize, "%s: allocated %zu for a %zu-byte file", name,
                  cnt.max_size, fsize);
    /* The memory form: same status and detail, the same bound. */
    ck_counting mc = {0, 0, SIZE_MAX, 0};
    cns_allocator ma = ck_allocator(&mc);
    ck_mem_agrees(k, q, &ma, want, e.message);
    ck_assert_uint_eq(mc.live, 0);
    ck_assert_msg(mc.max_size <= 2 * fsize, "%s: memory form allocated %zu for %zu bytes", name,
                  mc.max_size, fsize);
}

/* One crafted file: fn edits the good sections; the load must give status
 * with a message holding expect. */
typedef struct ck_crafted {
    const char *name;
    ck_mutate_fn fn;
    cns_status status;
    const char *expect;
} ck_crafted;

/* The sections tags[0..ntags) of the checkpoint p (of kind), written back
 * to q unchanged, are p's bytes and load (the crafting is faithful); then
 * every case of cases[0..ncases) through ck_check_crafted on them. */
static inline void ck_check_crafted_cases(const ck_kind *k, uint32_t kind, const char *p,
                                          const char *q, const uint32_t *tags, size_t ntags,
                                          const ck_crafted *cases, size_t ncases) {
    ck_sections good;
    ck_sections_read(p, kind, tags, ntags, &good);
    ck_sections_write(&good, q);
    size_t n;
    unsigned char *orig = ck_read_all(p, &n);
    ck_assert_ptr_nonnull(orig);
    ck_assert(ck_file_equals(q, orig, n));
    free(orig);
    void *ok;
    ck_assert_status(k->load(q, NULL, &ok, NULL), CNS_OK);
    k->free(ok);
    for (size_t c = 0; c < ncases; ++c)
        ck_check_crafted(k, &good, q, cases[c].name, cases[c].fn, cases[c].status,
                         cases[c].expect);
    ck_sections_free(&good);
}

/* ---- failing I/O and allocations ------------------------------------------------ */

/* The calls one successful save of h to path makes (path is left written). */
static inline ck_io ck_count_save_calls(const ck_kind *k, void *h, const char *path) {
    ck_io count = ck_io_never();
    cns__ckpt_io io = ck_hooks(&count);
    ck_assert_status(k->save_io(h, path, &io), CNS_OK);
    return count;
}

/* Saves of h over p with write number 0 .. writes-1 failing, then the
 * first fsync, then the rename: each CNS_E_IO (the fsync and rename
 * messages say so; the write messages hold write_message unless it is
 * NULL), p still holds before[0..n) and dir holds nothing else. */
static inline void ck_check_failed_saves(const ck_kind *k, void *h, const char *p, const char *dir,
                                         const unsigned char *before, size_t n, long writes,
                                         const char *write_message) {
    for (long w = 0; w < writes; ++w) {
        ck_io s = ck_io_never();
        s.fail_write = w;
        cns__ckpt_io io = ck_hooks(&s);
        ck_assert_status(k->save_io(h, p, &io), CNS_E_IO);
        if (write_message != NULL)
            ck_assert_ptr_nonnull(strstr(k->last_error(h), write_message));
        ck_assert(ck_file_equals(p, before, n));
        ck_assert_int_eq(ck_dir_count(dir, NULL, NULL), 1);
    }
    ck_io s = ck_io_never();
    s.fail_fsync = 0;
    cns__ckpt_io io = ck_hooks(&s);
    ck_assert_status(k->save_io(h, p, &io), CNS_E_IO);
    ck_assert_ptr_nonnull(strstr(k->last_error(h), "fsync"));
    ck_assert(ck_file_equals(p, before, n));
    ck_assert_int_eq(ck_dir_count(dir, NULL, NULL), 1);

    s = ck_io_never();
    s.fail_rename = 0;
    io = ck_hooks(&s);
    ck_assert_status(k->save_io(h, p, &io), CNS_E_IO);
    ck_assert_ptr_nonnull(strstr(k->last_error(h), "rename"));
    ck_assert(ck_file_equals(p, before, n));
    ck_assert_int_eq(ck_dir_count(dir, NULL, NULL), 1);
}

/* Loads p with allocation number f failing, f = 0, 1, ... until a load
 * succeeds: every failure is CNS_E_NOMEM, clears the handle and leaves
 * nothing allocated (at most 200 of them). The load that succeeds goes to
 * same(ref, loaded, allocator's counts), is freed and must leave nothing
 * allocated. with_error: the loader gets a cns_error rather than NULL.
 * Returns how many failed. */
static inline size_t ck_check_load_alloc_failures(const ck_kind *k, const char *p, void *ref,
                                                  void (*same)(void *ref, void *l, ck_counting *c),
                                                  int with_error) {
    size_t f = 0;
    for (;; ++f) {
        ck_counting c = {0, 0, f, 0};
        cns_allocator a = ck_allocator(&c);
        void *l;
        cns_error e;
        cns_status st = k->load(p, &a, &l, with_error ? &e : NULL);
        if (st == CNS_OK) {
            same(ref, l, &c);
            k->free(l);
            ck_assert_uint_eq(c.live, 0);
            break;
        }
        ck_assert_msg(st == CNS_E_NOMEM, "k = %zu: %s", f, cns_status_name(st));
        ck_assert_ptr_null(l);
        ck_assert_uint_eq(c.live, 0);
        ck_assert(f < 200);
    }
    return f;
}

/* Saves h (allocating through c) over p with the allocation f calls ahead
 * failing, f = 0, 1, ... until a save succeeds: every failure is
 * CNS_E_NOMEM, frees what it took, leaves p holding before[0..n) and dir
 * nothing else (at most 50 of them). Allocations stop failing after;
 * returns how many failed. */
static inline size_t ck_check_save_alloc_failures(const ck_kind *k, void *h, const char *p,
                                                  const char *dir, ck_counting *c,
                                                  const unsigned char *before, size_t n) {
    const size_t live = c->live;
    size_t f = 0;
    for (;; ++f) {
        c->fail_at = c->calls + f;
        cns_status st = k->save(h, p);
        if (st == CNS_OK) break;
        ck_assert_status(st, CNS_E_NOMEM);
        ck_assert_uint_eq(c->live, live);
        ck_assert(ck_file_equals(p, before, n));
        ck_assert_int_eq(ck_dir_count(dir, NULL, NULL), 1);
        ck_assert(f < 50);
    }
    c->fail_at = SIZE_MAX;
    return f;
}

#endif
