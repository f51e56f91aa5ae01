/* The checkpoint container (lib/checkpoint.c, docs/CHECKPOINT.md):
 * CRC32C vectors, byte layout, round trip, rejection of every truncation,
 * header/table bit flip and payload bit flip, crafted hostile headers
 * (with an allocator that proves nothing big is allocated), failing
 * write/fsync/rename, and an allocation failure at every point. */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

#include "alloc.h"
#include "checkpoint.h"
#include "ckpt_testutil.h"
#include "rng.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

/* Bit-at-a-time CRC32C straight from the definition (reflected polynomial
 * 0x82F63B78, init and final xor 0xFFFFFFFF): the independent reference
 * for the table-driven code and for resealing crafted headers. */
static uint32_t ref_crc32c(const void *data, size_t n) {
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint32_t ld32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t ld64(const unsigned char *p) { return ld32(p) | (uint64_t)ld32(p + 4) << 32; }
static void st32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = (unsigned char)(v >> (8 * i));
}
static void st64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = (unsigned char)(v >> (8 * i));
}

/* Recomputes the table CRC (when the table fits) and the header CRC after
 * a test edited fields, so the edit reaches the checks behind the CRCs. */
static void reseal(unsigned char *buf, size_t len) {
    uint64_t count = ld32(buf + 16);
    if (48 + count * 32 <= len) st32(buf + 40, ref_crc32c(buf + 48, (size_t)count * 32));
    st32(buf + 44, ref_crc32c(buf, 44));
}

/* Allocator that counts, can fail the k-th call, and refuses (and records)
 * anything larger than limit bytes. */
typedef struct tally {
    size_t live, calls, fail_at, limit, refused, biggest;
} tally;
static void *t_alloc(void *u, size_t n) {
    tally *t = u;
    t->calls++;
    if (n > t->biggest) t->biggest = n;
    if (t->fail_at != 0 && t->calls == t->fail_at) return NULL;
    if (t->limit != 0 && n > t->limit) {
        t->refused++;
        return NULL;
    }
    void *p = malloc(n);
    if (p != NULL) t->live++;
    return p;
}
static void t_free(void *u, void *p) {
    tally *t = u;
    if (p != NULL) t->live--;
    free(p);
}
static cns__alloc tally_alloc(tally *t) {
    cns_allocator a = {t_alloc, t_free, t};
    cns__alloc al;
    ck_assert_status(cns__alloc_init(&al, &a), CNS_OK);
    return al;
}

/* The sample checkpoint: four sections, odd sizes so padding appears, one
 * empty. Layout by hand: table ends at 48 + 4*32 = 176; MHDR [176, 189),
 * pad to 192; EGOU [192, 448); EMPT [448, 448); GRPH [448, 485). */
#define SAMPLE_SIZE 485u
static unsigned char g_mhdr[13];
static float g_egou[64];
static unsigned char g_grph[37];

static size_t sample_sections(cns__ckpt_section s[4]) {
    for (size_t i = 0; i < sizeof g_mhdr; ++i) g_mhdr[i] = (unsigned char)(0xA0 + i);
    for (size_t i = 0; i < 64; ++i) g_egou[i] = 0.25f * (float)i - 3.0f;
    for (size_t i = 0; i < sizeof g_grph; ++i) g_grph[i] = (unsigned char)(i * 7 + 1);
    s[0] = (cns__ckpt_section){CNS__TAG_MHDR, g_mhdr, sizeof g_mhdr};
    s[1] = (cns__ckpt_section){CNS__TAG_EGOU, g_egou, sizeof g_egou};
    s[2] = (cns__ckpt_section){CNS__TAG('E', 'M', 'P', 'T'), NULL, 0};
    s[3] = (cns__ckpt_section){CNS__TAG_GRPH, g_grph, sizeof g_grph};
    return 4;
}

/* Writes the sample to dir/name and returns its bytes. */
static unsigned char *sample_bytes(const char *dir, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "%s/sample.ckpt", dir);
    cns__ckpt_section s[4];
    size_t n = sample_sections(s);
    cns__alloc al;
    cns__alloc_init(&al, NULL);
    char msg[CNS_ERROR_MESSAGE_SIZE];
    ck_assert_status(cns__ckpt_write(path, CNS__CKPT_KIND_MODEL, s, n, NULL, &al, msg), CNS_OK);
    unsigned char *b = ck_read_all(path, len);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(*len, SAMPLE_SIZE);
    return b;
}

/* parse under an allocator that must not be asked for anything: a rejected
 * input may not cost an allocation, let alone one larger than itself. */
static cns_status parse_no_alloc(const unsigned char *buf, size_t len, uint32_t kind, cns_error *e) {
    tally t = {0};
    t.limit = 2 * len + 128; /* 2x the input, plus cns__malloc's alignment slack */
    cns__alloc al = tally_alloc(&t);
    cns__ckpt_file f;
    cns_status st = cns__ckpt_parse(buf, len, kind, &al, &f, e);
    if (st == CNS_OK) cns__ckpt_close(&f);
    ck_assert_uint_eq(t.refused, 0);
    ck_assert_uint_le(t.biggest, 2 * len + 128);
    if (st != CNS_OK) ck_assert_uint_eq(t.calls, 0);
    ck_assert_uint_eq(t.live, 0);
    ck_assert_ptr_null(f.bytes);
    return st;
}

/* orig with the width-byte little-endian field at off set to v, resealed,
 * into b; its parse as a model checkpoint must be CNS_E_CORRUPT (the
 * message is left in *e). */
static void assert_edit_corrupt(unsigned char *b, const unsigned char *orig, size_t len, size_t off,
                                int width, uint64_t v, cns_error *e) {
    memcpy(b, orig, len);
    for (int i = 0; i < width; ++i) b[off + i] = (unsigned char)(v >> (8 * i));
    reseal(b, len);
    ck_assert_status(parse_no_alloc(b, len, CNS__CKPT_KIND_MODEL, e), CNS_E_CORRUPT);
}

/* ---- CRC32C -------------------------------------------------------------- */

START_TEST(test_crc32c_vectors) {
    /* Check value of the CRC-32C catalogue entry, and RFC 3720 B.4. */
    ck_assert_uint_eq(cns__crc32c(0, "123456789", 9), 0xE3069283u);
    unsigned char b[32];
    memset(b, 0, sizeof b);
    ck_assert_uint_eq(cns__crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xff, sizeof b);
    ck_assert_uint_eq(cns__crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; ++i) b[i] = (unsigned char)i;
    ck_assert_uint_eq(cns__crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; ++i) b[i] = (unsigned char)(31 - i);
    ck_assert_uint_eq(cns__crc32c(0, b, 32), 0x113FDB5Cu);
    ck_assert_uint_eq(cns__crc32c(0, NULL, 0), 0u);
}
END_TEST

START_TEST(test_crc32c_matches_bitwise_reference) {
    /* Every length 0..300 at every alignment 0..7 (the slicing loop and the
     * byte tail), and chaining: crc(a || b) == crc(crc(a), b). */
    unsigned char buf[320];
    cns__rng r;
    cns__rng_seed(&r, 7, 0);
    for (size_t i = 0; i < sizeof buf; ++i) buf[i] = (unsigned char)cns__rng_u64(&r);
    for (size_t al = 0; al < 8; ++al)
        for (size_t n = 0; n + al <= 300; ++n) {
            uint32_t want = ref_crc32c(buf + al, n);
            ck_assert_uint_eq(cns__crc32c(0, buf + al, n), want);
            size_t cut = n / 3;
            ck_assert_uint_eq(cns__crc32c(cns__crc32c(0, buf + al, cut), buf + al + cut, n - cut), want);
        }
}
END_TEST

/* ---- layout and round trip ---------------------------------------------- */

START_TEST(test_byte_layout) {
    char dir[64];
    ck_tmpdir(dir, sizeof dir);
    size_t len;
    unsigned char *b = sample_bytes(dir, &len);
    ck_assert_int_eq(memcmp(b, "CNSDIFF\x01", 8), 0);
    ck_assert_uint_eq(ld32(b + 8), 1);          /* version */
    ck_assert_uint_eq(ld32(b + 12), 1);         /* kind: model */
    ck_assert_uint_eq(ld32(b + 16), 4);         /* sections */
    ck_assert_uint_eq(ld32(b + 20), 0);         /* flags */
    ck_assert_uint_eq(ld64(b + 24), SAMPLE_SIZE);
    ck_assert_uint_eq(ld64(b + 32), 0);         /* reserved */
    ck_assert_uint_eq(ld32(b + 40), ref_crc32c(b + 48, 4 * 32));
    ck_assert_uint_eq(ld32(b + 44), ref_crc32c(b, 44));
    /* Hand-computed offsets (see sample_sections). */
    const uint32_t tags[4] = {CNS__TAG_MHDR, CNS__TAG_EGOU, CNS__TAG('E', 'M', 'P', 'T'), CNS__TAG_GRPH};
    const uint64_t offs[4] = {176, 192, 448, 448}, sizes[4] = {13, 256, 0, 37};
    for (int i = 0; i < 4; ++i) {
        const unsigned char *e = b + 48 + 32 * i;
        ck_assert_uint_eq(ld32(e), tags[i]);
        ck_assert_uint_eq(ld32(e + 4), 0);
        ck_assert_uint_eq(ld64(e + 8), offs[i]);
        ck_assert_uint_eq(ld64(e + 16), sizes[i]);
        ck_assert_uint_eq(ld32(e + 24), ref_crc32c(b + offs[i], (size_t)sizes[i]));
        ck_assert_uint_eq(ld32(e + 28), 0);
    }
    ck_assert_int_eq(memcmp(b + 48, "MHDR", 4), 0); /* tags read as text in a hex dump */
    for (int i = 189; i < 192; ++i) ck_assert_uint_eq(b[i], 0);
    ck_assert_int_eq(memcmp(b + 176, g_mhdr, 13), 0);
    ck_assert_int_eq(memcmp(b + 192, g_egou, 256), 0);
    ck_assert_int_eq(memcmp(b + 448, g_grph, 37), 0);
    free(b);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_round_trip) {
    char dir[64], path[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    cns__ckpt_section s[5];
    sample_sections(s);
    /* Plus a section large enough to exercise the 8-byte CRC loop. */
    size_t big_n = (1u << 20) + 3;
    unsigned char *big = malloc(big_n);
    cns__rng r;
    cns__rng_seed(&r, 11, 0);
    for (size_t i = 0; i < big_n; ++i) big[i] = (unsigned char)cns__rng_u64(&r);
    s[4] = (cns__ckpt_section){CNS__TAG_ADMM, big, big_n};
    tally t = {0};
    cns__alloc al = tally_alloc(&t);
    char msg[CNS_ERROR_MESSAGE_SIZE];
    ck_assert_status(cns__ckpt_write(path, CNS__CKPT_KIND_MODEL, s, 5, NULL, &al, msg), CNS_OK);
    ck_assert_uint_eq(t.live, 0);
    ck_assert_int_eq(ck_count_temps(dir), 0);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    /* By hand: table ends at 48 + 5*32 = 208; MHDR [208, 221), pad;
     * EGOU [224, 480); EMPT at 480; GRPH [480, 517), pad; ADMM from 520. */
    ck_assert_uint_eq((uint64_t)sb.st_size, 520 + (uint64_t)big_n);

    cns__ckpt_file f;
    cns_error e;
    ck_assert_status(cns__ckpt_read(path, CNS__CKPT_KIND_MODEL, &al, &f, &e), CNS_OK);
    ck_assert_uint_eq(f.count, 5);
    ck_assert_uint_eq(f.kind, CNS__CKPT_KIND_MODEL);
    for (int i = 0; i < 5; ++i) {
        const void *d = NULL;
        uint64_t n = 0;
        ck_assert_status(cns__ckpt_find(&f, s[i].tag, UINT64_MAX, &d, &n, &e), CNS_OK);
        ck_assert_uint_eq(n, s[i].size);
        ck_assert_uint_eq((uintptr_t)d % 8, 0);
        if (n > 0) ck_assert_int_eq(memcmp(d, s[i].data, (size_t)n), 0);
        /* The exact size passes too. */
        ck_assert_status(cns__ckpt_find(&f, s[i].tag, s[i].size, &d, NULL, &e), CNS_OK);
    }
    const float *eg = NULL;
    ck_assert_status(cns__ckpt_find(&f, CNS__TAG_EGOU, 256, (const void **)&eg, NULL, &e), CNS_OK);
    ck_assert_float_eq(eg[5], -1.75f);
    ck_assert_uint_eq(t.live, 1);
    cns__ckpt_close(&f);
    ck_assert_uint_eq(t.live, 0);
    ck_assert_ptr_null(f.bytes);
    cns__ckpt_close(&f); /* twice is harmless */

    /* A new file is owner-only (mkstemp's 0600). */
    ck_assert_uint_eq(sb.st_mode & 0777, 0600);
    /* An existing target is replaced and keeps its mode. */
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_status(cns__ckpt_write(path, CNS__CKPT_KIND_MODEL, s, 2, NULL, &al, msg), CNS_OK);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0640);
    ck_assert_uint_eq((uint64_t)sb.st_size, 384); /* 112 + MHDR 13, pad 3, EGOU 256 */
    /* Zero sections is a valid (if useless) checkpoint: just the header. */
    ck_assert_status(cns__ckpt_write(path, CNS__CKPT_KIND_SAMPLER, NULL, 0, NULL, &al, msg), CNS_OK);
    ck_assert_status(cns__ckpt_read(path, CNS__CKPT_KIND_SAMPLER, &al, &f, &e), CNS_OK);
    ck_assert_uint_eq(f.size, 48);
    ck_assert_uint_eq(f.count, 0);
    cns__ckpt_close(&f);
    ck_assert_uint_eq(t.live, 0);
    free(big);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_find_missing_and_size) {
    char dir[64];
    ck_tmpdir(dir, sizeof dir);
    size_t len;
    unsigned char *b = sample_bytes(dir, &len);
    cns__alloc al;
    cns__alloc_init(&al, NULL);
    cns__ckpt_file f;
    cns_error e;
    ck_assert_status(cns__ckpt_parse(b, len, CNS__CKPT_KIND_MODEL, &al, &f, &e), CNS_OK);
    const void *d = NULL;
    uint64_t n = 99;
    ck_assert_status(cns__ckpt_find(&f, CNS__TAG_EGOI, UINT64_MAX, &d, &n, &e), CNS_E_CORRUPT);
    ck_assert_str_eq(e.message, "model checkpoint has no section 'EGOI'");
    ck_assert_status(cns__ckpt_find(&f, CNS__TAG_EGOU, 255, &d, &n, &e), CNS_E_CORRUPT);
    ck_assert_str_eq(e.message, "section 'EGOU' is 256 bytes, expected 255");
    ck_assert_status(cns__ckpt_find(&f, CNS__TAG('E', 'M', 'P', 'T'), 0, &d, &n, &e), CNS_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_status(cns__ckpt_find(&f, CNS__TAG_EGOU, 0, NULL, &n, &e), CNS_E_ARG);
    cns__ckpt_close(&f);
    ck_assert_status(cns__ckpt_find(&f, CNS__TAG_EGOU, UINT64_MAX, &d, &n, &e), CNS_E_ARG);
    ck_assert_status(cns__ckpt_find(NULL, CNS__TAG_EGOU, UINT64_MAX, &d, &n, &e), CNS_E_ARG);

    /* The other kind is refused, with both kinds named. */
    ck_assert_status(parse_no_alloc(b, len, CNS__CKPT_KIND_SAMPLER, &e), CNS_E_CORRUPT);
    ck_assert_str_eq(e.message, "holds a model checkpoint, expected a sampler checkpoint");
    free(b);
    ck_rmdir_all(dir);
}
END_TEST

/* ---- damage ------------------------------------------------------------- */

START_TEST(test_every_truncation_rejected) {
    char dir[64];
    ck_tmpdir(dir, sizeof dir);
    size_t len;
    unsigned char *b = sample_bytes(dir, &len);
    cns_error e;
    for (size_t n = 0; n < len; ++n) {
        unsigned char *cut = malloc(n + 1); /* exact-size copy: ASan sees any overread */
        memcpy(cut, b, n);
        ck_assert_msg(parse_no_alloc(cut, n, CNS__CKPT_KIND_MODEL, &e) == CNS_E_CORRUPT,
                      "truncated to %zu bytes: %s", n, e.message);
        free(cut);
    }
    ck_assert_status(parse_no_alloc(b, len, CNS__CKPT_KIND_MODEL, &e), CNS_OK);
    /* The reader names the lengths. */
    ck_assert_status(parse_no_alloc(b, 100, CNS__CKPT_KIND_MODEL, &e), CNS_E_CORRUPT);
    ck_assert_str_eq(e.message, "file is 100 bytes, header says 485");
    ck_assert_status(parse_no_alloc(b, 5, CNS__CKPT_KIND_MODEL, &e), CNS_E_CORRUPT);
    ck_assert_str_eq(e.message, "file is 5 bytes, too short for a checkpoint (the header is 48 bytes)");

    /* The same through files, at a few telling lengths. */
    const size_t cuts[] = {0, 7, 12, 47, 48, 175, 176, 484};
    char path[128];
    snprintf(path, sizeof path, "%s/cut.ckpt", dir);
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; ++i) {
        ck_write_all(path, b, cuts[i]);
        tally t = {0};
        t.limit = 2 * cuts[i] + 128;
        cns__alloc al = tally_alloc(&t);
        cns__ckpt_file f;
        ck_assert_status(cns__ckpt_read(path, CNS__CKPT_KIND_MODEL, &al, &f, &e), CNS_E_CORRUPT);
        ck_assert_uint_eq(t.calls, 0);
        ck_assert_ptr_nonnull(strstr(e.message, path));
    }
    free(b);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_every_header_and_table_bit_flip_rejected) {
    char dir[64];
    ck_tmpdir(dir, sizeof dir);
    size_t len;
    unsigned char *b = sample_bytes(dir, &len);
    cns_error e;
    size_t head = 48 + 4 * 32;
    int versions = 0;
    for (size_t bit = 0; bit < head * 8; ++bit) {
        b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        cns_status want = CNS_E_CORRUPT;
        /* Version 1 with one bit flipped: bit 0 gives 0 (invalid, corrupt),
         * every other bit gives a larger number, which reads as "newer". */
        if (bit / 8 >= 8 && bit / 8 < 12 && bit != 64) want = CNS_E_VERSION;
        cns_status st = parse_no_alloc(b, len, CNS__CKPT_KIND_MODEL, &e);
        ck_assert_msg(st == want, "bit %zu: got %s (%s), expected %s", bit, cns_status_name(st),
                      e.message, cns_status_name(want));
        if (want == CNS_E_VERSION) versions++;
        b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    ck_assert_int_eq(versions, 31);
    ck_assert_status(parse_no_alloc(b, len, CNS__CKPT_KIND_MODEL, &e), CNS_OK);
    free(b);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_random_payload_bit_flips_rejected) {
    char dir[64];
    ck_tmpdir(dir, sizeof dir);
    size_t len;
    unsigned char *b = sample_bytes(dir, &len);
    size_t start = 48 + 4 * 32;
    cns__rng r;
    cns__rng_seed(&r, 2024, 0);
    cns_error e;
    int padding_hits = 0;
    for (int k = 0; k < 10000; ++k) {
        size_t bit = start * 8 + cns__rng_below(&r, (uint32_t)((len - start) * 8));
        size_t byte = bit / 8;
        b[byte] ^= (unsigned char)(1u << (bit % 8));
        cns_status st = parse_no_alloc(b, len, CNS__CKPT_KIND_MODEL, &e);
        ck_assert_msg(st == CNS_E_CORRUPT, "flip of bit %zu: %s", bit, cns_status_name(st));
        if (byte >= 189 && byte < 192) {
            padding_hits++;
            ck_assert_ptr_nonnull(strstr(e.message, "padding"));
        } else {
            ck_assert_ptr_nonnull(strstr(e.message, "checksum mismatch"));
        }
        b[byte] ^= (unsigned char)(1u << (bit % 8));
    }
    ck_assert_int_gt(padding_hits, 0); /* 24 of 2472 bits: ~97 expected */
    /* The message names the section. */
    b[200] ^= 1;
    ck_assert_status(parse_no_alloc(b, len, CNS__CKPT_KIND_MODEL, &e), CNS_E_CORRUPT);
    ck_assert_msg(strncmp(e.message, "section 'EGOU' checksum mismatch", 32) == 0, "%s", e.message);
    free(b);
    ck_rmdir_all(dir);
}
END_TEST

/* ---- hostile headers ------------------------------------------------------ */

/* A buffer of len bytes holding the sample's first section table entry
 * edited by the test, resealed. */
START_TEST(test_crafted_headers_rejected_before_allocation) {
    char dir[64];
    ck_tmpdir(dir, sizeof dir);
    size_t len;
    unsigned char *orig = sample_bytes(dir, &len);
    unsigned char *b = malloc(len);
    cns_error e;

    /* Section sizes near UINT64_MAX (off + size would wrap). */
    const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 7, UINT64_MAX - 175, UINT64_MAX - 176,
                             (uint64_t)1 << 63, 310};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; ++i) {
        assert_edit_corrupt(b, orig, len, 48 + 16, 8, huge[i], &e); /* MHDR's size */
        ck_assert_msg(strstr(e.message, "runs past the end") != NULL, "%s", e.message);
    }
    /* The last section one byte too long, and an inner one overlapping its successor. */
    assert_edit_corrupt(b, orig, len, 48 + 3 * 32 + 16, 8, 38, &e);
    /* MHDR now ends at 193, past EGOU's start. */
    assert_edit_corrupt(b, orig, len, 48 + 16, 8, 17, &e);
    ck_assert_msg(strstr(e.message, "section 'EGOU' at offset 192 overlaps") != NULL, "%s", e.message);

    /* Offsets past the end, misaligned, into the table, leaving a gap. */
    const uint64_t offs[] = {UINT64_MAX - 7, (uint64_t)1 << 62, 488, 184, 177, 0, 168};
    const char *why[] = {"past the end", "past the end", "past the end", "gap", "aligned", "overlaps",
                         "overlaps"};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; ++i) {
        assert_edit_corrupt(b, orig, len, 48 + 8, 8, offs[i], &e);
        ck_assert_msg(strstr(e.message, why[i]) != NULL, "offset %llu: %s",
                      (unsigned long long)offs[i], e.message);
    }

    /* Section counts the file cannot hold, and over the hard limit. */
    const uint32_t counts[] = {5, 14, 1000, 1025, UINT32_MAX};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; ++i)
        assert_edit_corrupt(b, orig, len, 16, 4, counts[i], &e);
    assert_edit_corrupt(b, orig, len, 16, 4, 1000, &e);
    ck_assert_str_eq(e.message,
                     "section count 1000 needs a 32000-byte table, but only 437 bytes follow the header");

    /* A declared file size far beyond the real one. */
    assert_edit_corrupt(b, orig, len, 24, 8, (uint64_t)1 << 60, &e);
    ck_assert_str_eq(e.message, "file is 485 bytes, header says 1152921504606846976");

    /* Future versions: refused as newer even with a header this reader cannot check. */
    const uint32_t vers[] = {2, 77, UINT32_MAX};
    for (size_t i = 0; i < 3; ++i) {
        memcpy(b, orig, len);
        st32(b + 8, vers[i]);
        st64(b + 24, UINT64_MAX); /* a v2 header may mean anything here */
        ck_assert_status(parse_no_alloc(b, len, CNS__CKPT_KIND_MODEL, &e), CNS_E_VERSION);
    }
    ck_assert_str_eq(e.message, "written by checkpoint format version 4294967295; this library reads up to 1");
    ck_assert_status(parse_no_alloc(b, 12, CNS__CKPT_KIND_MODEL, &e), CNS_E_VERSION);

    /* Duplicate tags, unprintable tags, unknown kind, nonzero reserved fields. */
    assert_edit_corrupt(b, orig, len, 48 + 32, 4, CNS__TAG_MHDR, &e);
    ck_assert_str_eq(e.message, "section 'MHDR' appears twice");
    assert_edit_corrupt(b, orig, len, 48, 4, 0x00414141u, &e);
    ck_assert_str_eq(e.message, "section 0 has an invalid tag 0x00414141");
    assert_edit_corrupt(b, orig, len, 12, 4, 4, &e);
    ck_assert_str_eq(e.message, "unknown checkpoint kind 4");
    assert_edit_corrupt(b, orig, len, 12, 4, CNS__CKPT_KIND_LOSS, &e);
    ck_assert_str_eq(e.message, "holds a loss checkpoint, expected a model checkpoint");
    const size_t reserved_at[] = {20, 32, 39, 48 + 4, 48 + 28};
    for (size_t i = 0; i < 5; ++i) assert_edit_corrupt(b, orig, len, reserved_at[i], 1, 1, &e);
    /* Trailing bytes after the last section (file size field agrees). */
    unsigned char *longer = calloc(len + 8, 1);
    memcpy(longer, orig, len);
    st64(longer + 24, len + 8);
    reseal(longer, len + 8);
    ck_assert_status(parse_no_alloc(longer, len + 8, CNS__CKPT_KIND_MODEL, &e), CNS_E_CORRUPT);
    ck_assert_str_eq(e.message, "file is 493 bytes, but its sections end at offset 485");
    free(longer);

    /* The file reader too: a hostile header costs no allocation. */
    char path[128];
    snprintf(path, sizeof path, "%s/hostile.ckpt", dir);
    memcpy(b, orig, len);
    st64(b + 48 + 16, UINT64_MAX);
    reseal(b, len);
    ck_write_all(path, b, len);
    tally t = {0};
    t.limit = 2 * len + 128;
    cns__alloc al = tally_alloc(&t);
    cns__ckpt_file f;
    ck_assert_status(cns__ckpt_read(path, CNS__CKPT_KIND_MODEL, &al, &f, &e), CNS_E_CORRUPT);
    ck_assert_uint_eq(t.refused, 0);
    ck_assert_uint_eq(t.live, 0);
    st64(b + 24, (uint64_t)1 << 40);
    reseal(b, len);
    ck_write_all(path, b, len);
    ck_assert_status(cns__ckpt_read(path, CNS__CKPT_KIND_MODEL, &al, &f, &e), CNS_E_CORRUPT);
    ck_assert_uint_eq(t.calls, 1); /* only the first read got as far as allocating */
    ck_assert_uint_eq(t.refused, 0);
    ck_assert_uint_eq(t.live, 0);
    free(b);
    free(orig);
    ck_rmdir_all(dir);
}
END_TEST

/* ---- failing I/O ---------------------------------------------------------- */

typedef struct hooks {
    int write_fail_at, fsync_fail_at, rename_fail, write_zero_at;
    int write_calls, fsync_calls, rename_calls;
    int trickle; /* short writes of at most 5 bytes, EINTR every third call */
} hooks;

static long h_write(void *u, int fd, const void *buf, size_t n) {
    hooks *h = u;
    h->write_calls++;
    if (h->write_calls == h->write_fail_at) {
        errno = ENOSPC;
        return -1;
    }
    if (h->write_calls == h->write_zero_at) return 0;
    if (h->trickle) {
        if (h->write_calls % 3 == 0) {
            errno = EINTR;
            return -1;
        }
        if (n > 5) n = 5;
    }
    return (long)write(fd, buf, n);
}
static int h_fsync(void *u, int fd) {
    hooks *h = u;
    h->fsync_calls++;
    if (h->fsync_calls == h->fsync_fail_at) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}
static int h_rename(void *u, const char *from, const char *to) {
    hooks *h = u;
    h->rename_calls++;
    if (h->rename_fail) {
        errno = EXDEV;
        return -1;
    }
    return rename(from, to);
}

/* Writes the 2-section "new" checkpoint over path with the given hooks. */
static cns_status write_new(const char *path, hooks *h, char *msg) {
    static const unsigned char a[21] = "twenty bytes of data";
    static const unsigned char c[9] = "new data";
    cns__ckpt_section s[2] = {{CNS__TAG_DNSR, a, sizeof a}, {CNS__TAG_SHDR, c, sizeof c}};
    cns__ckpt_io io = {h_write, h_fsync, h_rename, h};
    cns__alloc al;
    cns__alloc_init(&al, NULL);
    return cns__ckpt_write(path, CNS__CKPT_KIND_SAMPLER, s, 2, &io, &al, msg);
}

START_TEST(test_failing_io_leaves_old_file) {
    char dir[64], path[128];
    ck_tmpdir(dir, sizeof dir);
    size_t old_len;
    unsigned char *old = sample_bytes(dir, &old_len);
    snprintf(path, sizeof path, "%s/sample.ckpt", dir);
    char msg[CNS_ERROR_MESSAGE_SIZE];

    /* A write failing at each of its calls in turn, until none fails. */
    int k;
    for (k = 1;; ++k) {
        hooks h = {0};
        h.write_fail_at = k;
        cns_status st = write_new(path, &h, msg);
        if (h.write_calls < k) { /* finished before call k */
            ck_assert_status(st, CNS_OK);
            break;
        }
        ck_assert_status(st, CNS_E_IO);
        ck_assert_msg(strstr(msg, "writing") && strstr(msg, "No space left on device"), "%s", msg);
        ck_assert_int_eq(h.rename_calls, 0);
        ck_assert(ck_file_equals(path, old, old_len));
        ck_assert_int_eq(ck_count_temps(dir), 0);
    }
    /* Four write calls: header+table, DNSR, 3 padding bytes, SHDR. */
    ck_assert_int_eq(k, 5);
    ck_write_all(path, old, old_len);

    /* A write making no progress fails instead of spinning. */
    hooks hz = {0};
    hz.write_zero_at = 1;
    ck_assert_status(write_new(path, &hz, msg), CNS_E_IO);
    ck_assert_int_eq(ck_count_temps(dir), 0);

    /* fsync of the file, and rename: the old file stays byte-identical. */
    hooks hf = {0};
    hf.fsync_fail_at = 1;
    ck_assert_status(write_new(path, &hf, msg), CNS_E_IO);
    ck_assert_msg(strstr(msg, "fsync of") && strstr(msg, "Input/output error"), "%s", msg);
    ck_assert_int_eq(hf.rename_calls, 0);
    hooks hr = {0};
    hr.rename_fail = 1;
    ck_assert_status(write_new(path, &hr, msg), CNS_E_IO);
    ck_assert_msg(strstr(msg, "rename of") && strstr(msg, "cross-device"), "%s", msg);
    ck_assert(ck_file_equals(path, old, old_len));
    ck_assert_int_eq(ck_count_temps(dir), 0);

    /* Short writes and EINTR are absorbed: the result equals a plain write. */
    hooks ht = {0};
    ht.trickle = 1;
    ck_assert_status(write_new(path, &ht, msg), CNS_OK);
    ck_assert_int_gt(ht.write_calls, 20);
    size_t n;
    unsigned char *trickled = ck_read_all(path, &n);
    hooks hp = {0};
    ck_assert_status(write_new(path, &hp, msg), CNS_OK);
    size_t n2;
    unsigned char *plain = ck_read_all(path, &n2);
    ck_assert_uint_eq(n, n2);
    ck_assert_int_eq(memcmp(trickled, plain, n), 0);
    ck_assert_int_eq(hp.fsync_calls, 2); /* the file, then the directory */
    free(trickled);
    free(plain);

    /* Only the directory fsync fails: the new file is in place (documented). */
    ck_write_all(path, old, old_len);
    hooks hd = {0};
    hd.fsync_fail_at = 2;
    ck_assert_status(write_new(path, &hd, msg), CNS_E_IO);
    ck_assert_msg(strstr(msg, "fsync of its directory") != NULL, "%s", msg);
    cns__alloc al;
    cns__alloc_init(&al, NULL);
    cns__ckpt_file f;
    cns_error e;
    ck_assert_status(cns__ckpt_read(path, CNS__CKPT_KIND_SAMPLER, &al, &f, &e), CNS_OK);
    cns__ckpt_close(&f);
    ck_assert_int_eq(ck_count_temps(dir), 0);

    /* A failed first write of a new path leaves no file at all. */
    char fresh[160];
    snprintf(fresh, sizeof fresh, "%s/fresh.ckpt", dir);
    hooks h1 = {0};
    h1.write_fail_at = 1;
    ck_assert_status(write_new(fresh, &h1, msg), CNS_E_IO);
    ck_assert_int_eq(access(fresh, F_OK), -1);
    ck_assert_int_eq(ck_count_temps(dir), 0);
    free(old);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_missing_paths) {
    cns__alloc al;
    cns__alloc_init(&al, NULL);
    char msg[CNS_ERROR_MESSAGE_SIZE];
    hooks h = {0};
    /* Writing into a directory that does not exist: CNS_E_IO (documented). */
    ck_assert_status(write_new("/nonexistent-cns-dir/x.ckpt", &h, msg), CNS_E_IO);
    ck_assert_msg(strstr(msg, "temporary file") && strstr(msg, "No such file or directory"), "%s", msg);
    ck_assert_int_eq(h.write_calls, 0);

    cns__ckpt_file f;
    cns_error e;
    ck_assert_status(cns__ckpt_read("/nonexistent-cns-dir/x.ckpt", CNS__CKPT_KIND_MODEL, &al, &f, &e),
                     CNS_E_NOFILE);
    ck_assert_ptr_nonnull(strstr(e.message, "x.ckpt"));
    ck_assert_ptr_null(f.bytes);
    ck_assert_status(cns__ckpt_read("/tmp", CNS__CKPT_KIND_MODEL, &al, &f, &e), CNS_E_NOFILE);
}
END_TEST

START_TEST(test_bad_arguments) {
    cns__alloc al;
    cns__alloc_init(&al, NULL);
    char msg[CNS_ERROR_MESSAGE_SIZE];
    unsigned char d[4] = {1, 2, 3, 4};
    cns__ckpt_section ok = {CNS__TAG_MHDR, d, 4};
    cns__ckpt_section two[2] = {ok, ok};
    cns__ckpt_section nul = {CNS__TAG_MHDR, NULL, 4};
    cns__ckpt_section badtag = {CNS__TAG('M', 'H', '\n', 'R'), d, 4};
    const char *p = "/tmp/cns_ckpt_args_never_written";
    ck_assert_status(cns__ckpt_write(NULL, 1, &ok, 1, NULL, &al, msg), CNS_E_ARG);
    ck_assert_status(cns__ckpt_write("", 1, &ok, 1, NULL, &al, msg), CNS_E_ARG);
    ck_assert_status(cns__ckpt_write(p, 0, &ok, 1, NULL, &al, msg), CNS_E_ARG);
    ck_assert_status(cns__ckpt_write(p, 4, &ok, 1, NULL, &al, msg), CNS_E_ARG);
    ck_assert_str_eq(msg, "kind 4 is not model (1), sampler (2) or loss (3)");
    ck_assert_status(cns__ckpt_write(p, 1, NULL, 1, NULL, &al, msg), CNS_E_ARG);
    ck_assert_status(cns__ckpt_write(p, 1, &ok, 1, NULL, NULL, msg), CNS_E_ARG);
    ck_assert_status(cns__ckpt_write(p, 1, two, 2, NULL, &al, msg), CNS_E_ARG);
    ck_assert_str_eq(msg, "section 'MHDR' is given twice");
    ck_assert_status(cns__ckpt_write(p, 1, &nul, 1, NULL, &al, msg), CNS_E_ARG);
    ck_assert_status(cns__ckpt_write(p, 1, &badtag, 1, NULL, &al, NULL), CNS_E_ARG);
    ck_assert_status(cns__ckpt_write(p, 1, &ok, CNS__CKPT_MAX_SECTIONS + 1, NULL, &al, msg), CNS_E_ARG);
    ck_assert_int_eq(access(p, F_OK), -1);

    cns__ckpt_file f;
    cns_error e;
    ck_assert_status(cns__ckpt_read(NULL, 1, &al, &f, &e), CNS_E_ARG);
    ck_assert_status(cns__ckpt_read(p, 1, NULL, &f, &e), CNS_E_ARG);
    ck_assert_status(cns__ckpt_read(p, 9, &al, &f, &e), CNS_E_ARG);
    ck_assert_status(cns__ckpt_read(p, 1, &al, NULL, &e), CNS_E_ARG);
    ck_assert_status(cns__ckpt_parse(NULL, 10, 1, &al, &f, &e), CNS_E_ARG);
    ck_assert_status(cns__ckpt_parse(NULL, 0, 1, &al, &f, NULL), CNS_E_CORRUPT);
    cns__ckpt_close(NULL);
}
END_TEST

/* ---- allocation failure at every point ------------------------------------ */

START_TEST(test_allocation_failure_everywhere) {
    char dir[64], path[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/alloc.ckpt", dir);
    cns__ckpt_section s[4];
    size_t ns = sample_sections(s);
    char msg[CNS_ERROR_MESSAGE_SIZE];
    int k;
    for (k = 1;; ++k) {
        tally t = {0};
        t.fail_at = (size_t)k;
        cns__alloc al = tally_alloc(&t);
        cns_status st = cns__ckpt_write(path, CNS__CKPT_KIND_MODEL, s, ns, NULL, &al, msg);
        ck_assert_uint_eq(t.live, 0);
        ck_assert_int_eq(ck_count_temps(dir), 0);
        if (t.calls < (size_t)k) {
            ck_assert_status(st, CNS_OK);
            break;
        }
        ck_assert_status(st, CNS_E_NOMEM);
        ck_assert_int_eq(access(path, F_OK), -1);
    }
    ck_assert_int_eq(k, 3); /* header buffer, temporary name */

    size_t len;
    unsigned char *b = ck_read_all(path, &len);
    for (k = 1;; ++k) {
        tally t = {0};
        t.fail_at = (size_t)k;
        cns__alloc al = tally_alloc(&t);
        cns__ckpt_file f, g;
        cns_error e;
        cns_status st = cns__ckpt_read(path, CNS__CKPT_KIND_MODEL, &al, &f, &e);
        cns_status st2 = cns__ckpt_parse(b, len, CNS__CKPT_KIND_MODEL, &al, &g, &e);
        if (t.calls < (size_t)k) {
            ck_assert_status(st, CNS_OK);
            ck_assert_status(st2, CNS_OK);
            cns__ckpt_close(&f);
            cns__ckpt_close(&g);
            ck_assert_uint_eq(t.live, 0);
            break;
        }
        ck_assert_msg(st == CNS_E_NOMEM || st2 == CNS_E_NOMEM, "k=%d", k);
        if (st == CNS_OK) cns__ckpt_close(&f);
        else ck_assert_ptr_null(f.bytes);
        if (st2 == CNS_OK) cns__ckpt_close(&g);
        else ck_assert_ptr_null(g.bytes);
        ck_assert_uint_eq(t.live, 0);
    }
    ck_assert_int_eq(k, 3); /* one buffer each for read and parse */
    free(b);
    ck_rmdir_all(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_test(tc, test_crc32c_vectors);
    tcase_add_test(tc, test_crc32c_matches_bitwise_reference);
    tcase_add_test(tc, test_byte_layout);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_find_missing_and_size);
    tcase_add_test(tc, test_every_truncation_rejected);
    tcase_add_test(tc, test_every_header_and_table_bit_flip_rejected);
    tcase_add_test(tc, test_random_payload_bit_flips_rejected);
    tcase_add_test(tc, test_crafted_headers_rejected_before_allocation);
    tcase_add_test(tc, test_failing_io_leaves_old_file);
    tcase_add_test(tc, test_missing_paths);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_allocation_failure_everywhere);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
