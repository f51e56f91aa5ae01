/* Loss checkpoints (lib/loss_io.c, docs/CHECKPOINT.md kind 3): the byte
 * layout read back field by field, a resumed run that computes bit for bit
 * what an uninterrupted one computes (through the file and the memory
 * form), the memory form against the file form, and every damage and
 * crafted file the shared checks (ckpt_checks.h) know, through both
 * loaders. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_checks.h"
#include "cnsdiff/loss.h"
#include "cnsdiff/preset.h"
#include "fuzz/fuzz_reseal.h"
#include "loss_internal.h"

#define DIM 6
#define ROWS 5
#define LHDR_BYTES (40 + 16 * 11)

/* ---- fixtures -------------------------------------------------------------- */

/* A loss with every saved tunable away from its default, so a loader that
 * dropped one would show (the values are within the documented bounds). */
static cns_loss *make(uint64_t seed) {
    cns_loss_desc d;
    cns_loss_desc_init(&d);
    d.dim = DIM;
    d.seed = seed;
    cns_loss *l;
    ck_assert_status(cns_loss_create(&d, NULL, &l, NULL), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_CL_WEIGHT, 0.7), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_TEMPERATURE, 0.35), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_POSITIVE_NOISE, 0.05), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_ALPHA_START, 2.0), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_BETA_START, 7.0), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_ALPHA_END, 6.5), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_BETA_END, 1.5), CNS_OK);
    ck_assert_status(cns_loss_set_double(l, CNS_LOSS_MIN_MIX, 0.125), CNS_OK);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_CURRICULUM_EPOCHS, 10), CNS_OK);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_MIXING, 1), CNS_OK);
    ck_assert_status(cns_loss_set_int(l, CNS_LOSS_REPEL, 1), CNS_OK);
    return l;
}

/* Batch number b: rows that differ per batch, with synthesized negatives. */
static void batch(int b, float *u, float *pos, float *neg, float *synth) {
    for (int k = 0; k < ROWS * DIM; ++k) {
        u[k] = (float)sin(0.37 * k + 1.1 * b);
        pos[k] = (float)cos(0.53 * k + 0.7 * b);
        neg[k] = (float)sin(0.29 * k - 0.4 * b + 2.0);
        synth[k] = (float)cos(0.61 * k + 0.9 * b + 0.3);
    }
}

/* One compute of batch b with drawn lambdas; everything it returns. */
typedef struct outcome {
    double loss;
    float gu[ROWS * DIM], gp[ROWS * DIM], gn[ROWS * DIM], lam[ROWS];
} outcome;

static outcome run(cns_loss *l, int b) {
    float u[ROWS * DIM], pos[ROWS * DIM], neg[ROWS * DIM], synth[ROWS * DIM];
    batch(b, u, pos, neg, synth);
    outcome o;
    memset(&o, 0, sizeof o);
    cns_loss_rows r;
    cns_loss_rows_init(&r);
    r.dim = DIM;
    r.n = ROWS;
    r.u = u;
    r.pos = pos;
    r.neg = neg;
    r.synth = synth;
    r.grad_u = o.gu;
    r.grad_pos = o.gp;
    r.grad_neg = o.gn;
    r.lambda_out = o.lam;
    ck_assert_status(cns_loss_compute_rows(l, &r, &o.loss), CNS_OK);
    return o;
}

static int same_outcome(const outcome *a, const outcome *b) {
    return memcmp(&a->loss, &b->loss, sizeof a->loss) == 0 &&
           memcmp(a->gu, b->gu, sizeof a->gu) == 0 && memcmp(a->gp, b->gp, sizeof a->gp) == 0 &&
           memcmp(a->gn, b->gn, sizeof a->gn) == 0 && memcmp(a->lam, b->lam, sizeof a->lam) == 0;
}

/* The loss as the shared checkpoint checks see it. */
CK_KIND_FUNCTIONS(cns_loss)
static const ck_kind k_loss = {k_load, k_free, k_save, NULL, k_last_error, 1, k_load_mem,
                               k_save_mem, "cns_loss_save_mem"};

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static double f64(const unsigned char *p) {
    uint64_t u = le64(p);
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* ---- layout ---------------------------------------------------------------- */

START_TEST(test_layout) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    cns_loss *l = make(0x1122334455667788ull);
    ck_assert_status(cns_loss_set_epoch(l, 4), CNS_OK);
    (void)run(l, 0);
    (void)run(l, 1);
    (void)run(l, 2);
    size_t n;
    unsigned char *b = ck_saved_bytes(&k_loss, l, dir, "l.ckpt", p, sizeof p, &n);
    /* header 48, one table entry 32, 'LHDR' at 80: 40 + 11 records of 16. */
    ck_assert_uint_eq(n, 48 + 32 + LHDR_BYTES);
    ck_assert_uint_eq(le32(b + 12), 3);  /* kind: loss */
    ck_assert_uint_eq(le32(b + 16), 1);  /* one section */
    ck_assert(memcmp(b + 48, "LHDR", 4) == 0);
    ck_assert_uint_eq(le64(b + 48 + 8), 80);
    ck_assert_uint_eq(le64(b + 48 + 16), LHDR_BYTES);
    const unsigned char *h = b + 80;
    ck_assert_uint_eq(le32(h + 0), DIM);
    ck_assert_uint_eq(le32(h + 4), 0);
    ck_assert_uint_eq(le64(h + 8), 0x1122334455667788ull);
    ck_assert_uint_eq(le64(h + 16), 4); /* epoch */
    ck_assert_uint_eq(le64(h + 24), 3); /* three computes since set_epoch */
    ck_assert_uint_eq(le32(h + 32), 11);
    ck_assert_uint_eq(le32(h + 36), 0);
    static const struct {
        uint32_t id, type;
        double v;
    } want[11] = {{100, 2, 0.7},  {101, 2, 0.35}, {102, 2, 0.05}, {110, 2, 2.0},
                  {111, 2, 7.0},  {112, 2, 6.5},  {113, 2, 1.5},  {114, 2, 0.125},
                  {120, 1, 10.0}, {121, 1, 1.0},  {122, 1, 1.0}};
    for (int k = 0; k < 11; ++k) {
        const unsigned char *r = h + 40 + 16 * k;
        ck_assert_uint_eq(le32(r), want[k].id);
        ck_assert_uint_eq(le32(r + 4), want[k].type);
        if (want[k].type == 1)
            ck_assert_uint_eq(le64(r + 8), (uint64_t)want[k].v);
        else
            ck_assert(f64(r + 8) == want[k].v);
    }
    free(b);
    cns_loss_free(l);
    ck_rmdir_all(dir);
}
END_TEST

/* ---- resume ---------------------------------------------------------------- */

/* k computes, save, load into a fresh handle (from the file and from
 * memory), more computes across an epoch boundary: the resumed handles
 * compute bit for bit what the uninterrupted one does. A fresh handle that
 * only sets the epoch does not (the draw counter is part of the state). */
START_TEST(test_resume_bit_for_bit) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/l.ckpt", dir);
    for (int k = 0; k <= 3; ++k) {
        cns_loss *a = make(99), *ref = make(99);
        ck_assert_status(cns_loss_set_epoch(a, 2), CNS_OK);
        ck_assert_status(cns_loss_set_epoch(ref, 2), CNS_OK);
        for (int b = 0; b < k; ++b) {
            outcome x = run(a, b), y = run(ref, b);
            ck_assert(same_outcome(&x, &y));
        }
        ck_assert_status(cns_loss_set_int(a, CNS_LOSS_THREADS, 2), CNS_OK);
        ck_assert_status(cns_loss_save(a, p), CNS_OK);
        size_t n = 0;
        ck_assert_status(cns_loss_save_mem(a, NULL, 0, &n), CNS_OK);
        unsigned char *mem = malloc(n);
        ck_assert_status(cns_loss_save_mem(a, mem, n, &n), CNS_OK);
        cns_loss_free(a);
        cns_loss *f = NULL, *m = NULL;
        cns_error e;
        ck_assert_status(cns_loss_load(p, NULL, &f, &e), CNS_OK);
        ck_assert_str_eq(e.message, "");
        ck_assert_status(cns_loss_load_mem(mem, n, NULL, &m, &e), CNS_OK);
        free(mem);
        /* The shapes and tunables come back; THREADS is the process's. */
        ck_assert_int_eq(cns_loss_dim(f), DIM);
        int64_t th;
        ck_assert_status(cns_loss_get_int(m, CNS_LOSS_THREADS, &th), CNS_OK);
        ck_assert_int_eq(th, 1);
        double v;
        ck_assert_status(cns_loss_get_double(f, CNS_LOSS_MIN_MIX, &v), CNS_OK);
        ck_assert(v == 0.125);
        /* The last compute's terms are not state. */
        ck_assert(cns_loss_term_value(m, CNS_TERM_TOTAL) == 0.0);

        cns_loss *fresh = make(99);
        ck_assert_status(cns_loss_set_epoch(fresh, 2), CNS_OK);
        for (int b = k; b < k + 3; ++b) {
            outcome r = run(ref, b), x = run(f, b), y = run(m, b), z = run(fresh, b);
            ck_assert_msg(same_outcome(&r, &x), "k = %d, batch %d: file form differs", k, b);
            ck_assert_msg(same_outcome(&r, &y), "k = %d, batch %d: memory form differs", k, b);
            /* The counter matters: without it the draws repeat from 0. */
            if (k > 0 && b == k)
                ck_assert_msg(memcmp(r.lam, z.lam, sizeof r.lam) != 0,
                              "k = %d: a fresh handle drew the same lambdas", k);
        }
        /* Across an epoch boundary (counter restarts, curriculum moves). */
        cns_loss *all[3] = {ref, f, m};
        for (int h = 0; h < 3; ++h) ck_assert_status(cns_loss_set_epoch(all[h], 3), CNS_OK);
        for (int b = 10; b < 12; ++b) {
            outcome r = run(ref, b), x = run(f, b), y = run(m, b);
            ck_assert(same_outcome(&r, &x));
            ck_assert(same_outcome(&r, &y));
        }
        cns_loss_free(fresh);
        cns_loss_free(ref);
        cns_loss_free(f);
        cns_loss_free(m);
    }
    ck_rmdir_all(dir);
}
END_TEST

/* A different seed, epoch or counter in the file gives different draws:
 * each field is read, not just carried. */
START_TEST(test_key_fields_are_used) {
    cns_loss *l = make(5);
    ck_assert_status(cns_loss_set_epoch(l, 1), CNS_OK);
    (void)run(l, 0);
    size_t n = 0;
    ck_assert_status(cns_loss_save_mem(l, NULL, 0, &n), CNS_OK);
    unsigned char *b = malloc(n);
    ck_assert_status(cns_loss_save_mem(l, b, n, &n), CNS_OK);
    cns_loss *base;
    ck_assert_status(cns_loss_load_mem(b, n, NULL, &base, NULL), CNS_OK);
    outcome ob = run(base, 7);
    const size_t offs[3] = {80 + 8, 80 + 16, 80 + 24}; /* seed, epoch, calls */
    for (int f = 0; f < 3; ++f) {
        unsigned char *c = malloc(n);
        memcpy(c, b, n);
        c[offs[f]] ^= 1; /* seed 5 -> 4, epoch 1 -> 0, calls 1 -> 0 */
        reseal(c, n);
        cns_loss *x;
        ck_assert_status(cns_loss_load_mem(c, n, NULL, &x, NULL), CNS_OK);
        outcome ox = run(x, 7);
        ck_assert_msg(memcmp(ob.lam, ox.lam, sizeof ob.lam) != 0, "field %d ignored", f);
        cns_loss_free(x);
        free(c);
    }
    cns_loss_free(base);
    cns_loss_free(l);
    free(b);
}
END_TEST

/* ---- memory form ----------------------------------------------------------- */

START_TEST(test_memory_form) {
    char dir[64];
    ck_tmpdir(dir, sizeof dir);
    cns_loss *fresh;
    ck_assert_status(cns_loss_create(NULL, NULL, &fresh, NULL), CNS_OK);
    ck_check_memory_form(&k_loss, fresh, dir);
    cns_loss *l = make(3);
    ck_assert_status(cns_loss_set_epoch(l, 7), CNS_OK);
    (void)run(l, 0);
    ck_check_memory_form(&k_loss, l, dir);
    cns_loss_free(fresh);
    cns_loss_free(l);
    ck_rmdir_all(dir);
}
END_TEST

/* ---- damage ---------------------------------------------------------------- */

static unsigned char *saved(const char *dir, char *p, size_t plen, size_t *n) {
    cns_loss *l = make(17);
    ck_assert_status(cns_loss_set_epoch(l, 2), CNS_OK);
    (void)run(l, 0);
    unsigned char *b = ck_saved_bytes(&k_loss, l, dir, "l.ckpt", p, plen, n);
    cns_loss_free(l);
    return b;
}

START_TEST(test_damage) {
    char dir[64], p[128], q[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    unsigned char *b = saved(dir, p, sizeof p, &n);
    snprintf(q, sizeof q, "%s/d.ckpt", dir);
    ck_check_truncations(&k_loss, b, n, q, 1);
    ck_assert_int_eq(ck_check_header_flips(&k_loss, b, n, q), 31);
    ck_assert_int_eq(ck_check_payload_flips(&k_loss, b, n, q, 0xA0761D6478BD642Full, 3000), 3000);
    free(b);
    ck_rmdir_all(dir);
}
END_TEST

static unsigned char *lhdr(ck_sections *s) { return ck_sections_data(s, CNS__TAG_LHDR); }
/* Record k of 'LHDR' (cl_weight, temperature, positive_noise, alpha_start,
 * beta_start, alpha_end, beta_end, min_mix, curriculum_epochs, mixing,
 * repel). */
static unsigned char *rec(ck_sections *s, int k) { return lhdr(s) + 40 + 16 * k; }
static void rec_f64(ck_sections *s, int k, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    cns__le64_put(rec(s, k) + 8, u);
}

static void c_unknown_id(ck_sections *s) { cns__le32_put(rec(s, 3), 999); }
static void c_threads_id(ck_sections *s) { cns__le32_put(rec(s, 3), CNS_LOSS_THREADS); }
static void c_duplicate(ck_sections *s) { cns__le32_put(rec(s, 1), CNS_LOSS_CL_WEIGHT); }
static void c_missing(ck_sections *s) { /* mixing dropped: repel moves into its place */
    memcpy(rec(s, 9), rec(s, 10), 16);
    s->size[ck_sections_index(s, CNS__TAG_LHDR)] -= 16;
    cns__le32_put(lhdr(s) + 32, 10);
}
static void c_count(ck_sections *s) { cns__le32_put(lhdr(s) + 32, 10); }
static void c_repel2(ck_sections *s) { cns__le64_put(rec(s, 10) + 8, 2); }
static void c_repel_double(ck_sections *s) { cns__le32_put(rec(s, 10) + 4, 2); }
static void c_type(ck_sections *s) { cns__le32_put(rec(s, 5) + 4, 3); }
static void c_nan_value(ck_sections *s) { rec_f64(s, 1, NAN); }
static void c_int_as_double(ck_sections *s) { cns__le32_put(rec(s, 8) + 4, 2); }
static void c_double_as_int(ck_sections *s) { cns__le32_put(rec(s, 0) + 4, 1); }
static void c_temperature0(ck_sections *s) { rec_f64(s, 1, 0.0); }
static void c_mixing2(ck_sections *s) { cns__le64_put(rec(s, 9) + 8, 2); }
static void c_reserved0(ck_sections *s) { cns__le32_put(lhdr(s) + 4, 1); }
static void c_reserved1(ck_sections *s) { cns__le32_put(lhdr(s) + 36, 1); }
static void c_dim0(ck_sections *s) { cns__le32_put(lhdr(s), 0); }
static void c_dim_huge(ck_sections *s) { cns__le32_put(lhdr(s), (1u << 20) + 1); }
static void c_epoch_negative(ck_sections *s) { cns__le64_put(lhdr(s) + 16, UINT64_MAX); }
static void c_short(ck_sections *s) { s->size[ck_sections_index(s, CNS__TAG_LHDR)] = 39; }
static void c_no_lhdr(ck_sections *s) { s->tag[0] = CNS__TAG('L', 'H', 'D', 'Q'); }

static const ck_crafted k_crafted[] = {
    {"unknown parameter id", c_unknown_id, CNS_E_VERSION, "loss parameter 999 is unknown"},
    {"THREADS record", c_threads_id, CNS_E_CORRUPT, "parameter 300 is never saved"},
    {"duplicate record", c_duplicate, CNS_E_CORRUPT, "parameter 100 appears twice"},
    {"missing record", c_missing, CNS_E_CORRUPT, "parameter 121 is missing"},
    {"record count", c_count, CNS_E_CORRUPT, "not 40 plus 16"},
    {"record type 3", c_type, CNS_E_CORRUPT, "parameter 112 has type 3"},
    {"NaN tunable", c_nan_value, CNS_E_CORRUPT, "non-finite"},
    {"int stored as double", c_int_as_double, CNS_E_CORRUPT,
     "parameter 120 is stored as a double, it is an int"},
    {"double stored as int", c_double_as_int, CNS_E_CORRUPT,
     "parameter 100 is stored as an int, it is a double"},
    {"temperature 0", c_temperature0, CNS_E_CORRUPT, "CNS_LOSS_TEMPERATURE"},
    {"mixing 2", c_mixing2, CNS_E_CORRUPT, "CNS_LOSS_MIXING"},
    {"repel 2", c_repel2, CNS_E_CORRUPT, "CNS_LOSS_REPEL"},
    {"repel stored as double", c_repel_double, CNS_E_CORRUPT,
     "parameter 122 is stored as a double, it is an int"},
    {"reserved field 4", c_reserved0, CNS_E_CORRUPT, "reserved fields are not zero"},
    {"reserved field 36", c_reserved1, CNS_E_CORRUPT, "reserved fields are not zero"},
    {"dim 0", c_dim0, CNS_E_CORRUPT, "dim = 0 is outside [1, 1048576]"},
    {"dim 2^20 + 1", c_dim_huge, CNS_E_CORRUPT, "dim = 1048577 is outside"},
    {"negative epoch", c_epoch_negative, CNS_E_CORRUPT, "epoch = -1 is negative"},
    {"LHDR 39 bytes", c_short, CNS_E_CORRUPT, "section 'LHDR' is 39 bytes"},
    {"no LHDR", c_no_lhdr, CNS_E_CORRUPT, "loss checkpoint has no section 'LHDR'"},
};

START_TEST(test_crafted_files) {
    char dir[64], p[128], q[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    free(saved(dir, p, sizeof p, &n));
    snprintf(q, sizeof q, "%s/c.ckpt", dir);
    const uint32_t tags[1] = {CNS__TAG_LHDR};
    ck_check_crafted_cases(&k_loss, CNS__CKPT_KIND_LOSS, p, q, tags, 1, k_crafted,
                           sizeof k_crafted / sizeof k_crafted[0]);
    ck_rmdir_all(dir);
}
END_TEST

/* ---- the repel parameter, appended after the first format ------------------- */

/* A file from before CNS_LOSS_REPEL (its record dropped, the count one
 * less) still loads, with repel at its create default 0: it computes what
 * the saved handle computes with repel switched off, not what it computes
 * with repel on. The committed corpus file was written by the library
 * before the parameter existed and loads the same way. */
START_TEST(test_before_repel) {
    char dir[64], p[128], q[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    free(saved(dir, p, sizeof p, &n));
    snprintf(q, sizeof q, "%s/old.ckpt", dir);
    const uint32_t tags[1] = {CNS__TAG_LHDR};
    ck_sections s;
    ck_sections_read(p, CNS__CKPT_KIND_LOSS, tags, 1, &s);
    ck_assert_uint_eq(le32(rec(&s, 10)), CNS_LOSS_REPEL);
    s.size[ck_sections_index(&s, CNS__TAG_LHDR)] -= 16;
    cns__le32_put(lhdr(&s) + 32, 10);
    ck_sections_write(&s, q);
    ck_sections_free(&s);

    cns_loss *old, *now, *off;
    cns_error e;
    ck_assert_status(cns_loss_load(q, NULL, &old, &e), CNS_OK);
    ck_assert_status(cns_loss_load(p, NULL, &now, NULL), CNS_OK);
    ck_assert_status(cns_loss_load(p, NULL, &off, NULL), CNS_OK);
    int64_t v;
    ck_assert_status(cns_loss_get_int(old, CNS_LOSS_REPEL, &v), CNS_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_status(cns_loss_get_int(now, CNS_LOSS_REPEL, &v), CNS_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_status(cns_loss_get_int(old, CNS_LOSS_MIXING, &v), CNS_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_status(cns_loss_set_int(off, CNS_LOSS_REPEL, 0), CNS_OK);
    outcome a = run(old, 3), b = run(off, 3), c = run(now, 3);
    ck_assert(same_outcome(&a, &b));
    ck_assert(!same_outcome(&a, &c));
    cns_loss_free(old);
    cns_loss_free(now);
    cns_loss_free(off);

    cns_loss *corpus;
    ck_assert_status(cns_loss_load(CNS_SOURCE_DIR "/tests/fuzz/corpus/checkpoint/loss-computed.ckpt",
                                   NULL, &corpus, &e),
                     CNS_OK);
    ck_assert_status(cns_loss_get_int(corpus, CNS_LOSS_REPEL, &v), CNS_OK);
    ck_assert_int_eq(v, 0);
    cns_loss_free(corpus);
    ck_rmdir_all(dir);
}
END_TEST

/* The host's repel direction is not saved (include/cnsdiff/loss.h): the
 * loaded loss holds the direction seeded from the saved seed, which a
 * fresh loss of that seed holds too. */
START_TEST(test_repel_direction_not_saved) {
    cns_loss *l = make(41), *fresh = make(41);
    float mine[DIM] = {0, 0, 3, 0, 0, 4}, got[DIM], seeded[DIM];
    ck_assert_status(cns_loss_set_repel_direction(l, mine, DIM), CNS_OK);
    ck_assert_status(cns_loss_get_repel_direction(l, got, DIM), CNS_OK);
    ck_assert(got[2] == 0.6f && got[5] == 0.8f);
    size_t n = 0;
    ck_assert_status(cns_loss_save_mem(l, NULL, 0, &n), CNS_OK);
    unsigned char *b = malloc(n);
    ck_assert_status(cns_loss_save_mem(l, b, n, &n), CNS_OK);
    cns_loss *x;
    ck_assert_status(cns_loss_load_mem(b, n, NULL, &x, NULL), CNS_OK);
    ck_assert_status(cns_loss_get_repel_direction(x, got, DIM), CNS_OK);
    ck_assert_status(cns_loss_get_repel_direction(fresh, seeded, DIM), CNS_OK);
    ck_assert(memcmp(got, seeded, sizeof got) == 0);
    ck_assert(!(got[2] == 0.6f && got[5] == 0.8f));
    free(b);
    cns_loss_free(x);
    cns_loss_free(fresh);
    cns_loss_free(l);
}
END_TEST

/* Other kinds are refused both ways, naming both kinds. */
START_TEST(test_wrong_kind) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/s.ckpt", dir);
    cns_sampler_desc sd;
    cns_sampler_desc_init(&sd);
    sd.kind = CNS_SAMPLER_UNIFORM;
    sd.dim = DIM;
    cns_sampler *s;
    ck_assert_status(cns_sampler_create(&sd, NULL, &s, NULL), CNS_OK);
    ck_assert_status(cns_sampler_save(s, p), CNS_OK);
    cns_loss *l = (cns_loss *)1;
    cns_error e;
    ck_assert_status(cns_loss_load(p, NULL, &l, &e), CNS_E_CORRUPT);
    ck_assert_ptr_null(l);
    ck_assert_ptr_nonnull(strstr(e.message, "holds a sampler checkpoint, expected a loss checkpoint"));
    ck_mem_agrees(&k_loss, p, NULL, CNS_E_CORRUPT, e.message);
    /* And a loss checkpoint is no sampler. */
    cns_loss *x = make(1);
    ck_assert_status(cns_loss_save(x, p), CNS_OK);
    cns_sampler *t = (cns_sampler *)1;
    ck_assert_status(cns_sampler_load(p, NULL, &t, &e), CNS_E_CORRUPT);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(e.message, "holds a loss checkpoint, expected a sampler checkpoint"));
    cns_loss_free(x);
    cns_sampler_free(s);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_arguments) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/none.ckpt", dir);
    cns_loss *l = make(1), *out = (cns_loss *)1;
    cns_error e;
    ck_assert_status(cns_loss_save(NULL, p), CNS_E_ARG);
    k_check_arguments(l);
    ck_assert_status(cns_loss_load(p, NULL, &out, &e), CNS_E_NOFILE);
    ck_assert_ptr_null(out);
    /* A missing directory: CNS_E_IO, nothing written. */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/l.ckpt", dir);
    ck_assert_status(cns_loss_save(l, bad), CNS_E_IO);
    ck_assert_int_eq(ck_dir_count(dir, NULL, NULL), 0);
    cns_loss_free(l);
    ck_rmdir_all(dir);
}
END_TEST

static void same_loaded(void *ref, void *l, ck_counting *c) {
    (void)c;
    outcome a = run(ref, 4), b = run(l, 4);
    ck_assert(same_outcome(&a, &b));
}

/* Every failing allocation of a load is CNS_E_NOMEM with nothing left. */
START_TEST(test_allocation_failures) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    cns_loss *l = make(8);
    ck_assert_status(cns_loss_set_epoch(l, 1), CNS_OK);
    (void)run(l, 0);
    snprintf(p, sizeof p, "%s/l.ckpt", dir);
    ck_assert_status(cns_loss_save(l, p), CNS_OK);
    /* The reference must compute what each loaded copy computes first:
     * same_loaded runs batch 4 on both, so give it a fresh copy per call. */
    size_t failures = 0;
    for (;; ++failures) {
        ck_counting c = {0, 0, failures, 0};
        cns_allocator a = ck_allocator(&c);
        cns_loss *x = (cns_loss *)1;
        cns_status st = cns_loss_load(p, &a, &x, NULL);
        if (st == CNS_OK) {
            c.fail_at = SIZE_MAX; /* the compute's scratch may allocate now */
            cns_loss *ref;
            ck_assert_status(cns_loss_load(p, NULL, &ref, NULL), CNS_OK);
            same_loaded(ref, x, &c);
            cns_loss_free(ref);
            cns_loss_free(x);
            ck_assert_uint_eq(c.live, 0);
            break;
        }
        ck_assert_status(st, CNS_E_NOMEM);
        ck_assert_ptr_null(x);
        ck_assert_uint_eq(c.live, 0);
        ck_assert(failures < 50);
    }
    ck_assert_uint_ge(failures, 2); /* the file's bytes and the handle */
    cns_loss_free(l);
    ck_rmdir_all(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("loss_io");
    TCase *tc = tcase_create("loss_io");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_resume_bit_for_bit);
    tcase_add_test(tc, test_key_fields_are_used);
    tcase_add_test(tc, test_memory_form);
    tcase_add_test(tc, test_damage);
    tcase_add_test(tc, test_crafted_files);
    tcase_add_test(tc, test_before_repel);
    tcase_add_test(tc, test_repel_direction_not_saved);
    tcase_add_test(tc, test_wrong_kind);
    tcase_add_test(tc, test_arguments);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
