/* Sampler checkpoints (docs/CHECKPOINT.md, kind 2): exact round trips in
 * every mode and kind (weights, Adam state, tunables, random streams), so
 * that a loaded sampler draws and trains exactly like the saved one;
 * damage of every kind at load; failing I/O and allocations. */
#include <math.h>

#include "ckpt_checks.h"
#include "sampler_internal.h"

#define DIM 8
#define T 6
#define TD 4
#define HID 6
#define ROWS 5
#ifndef THREADS_ORIG
#define THREADS_ORIG 2
#endif
/* td*td + td + hid*(d+td) + hid + d*hid + d = 16 + 4 + 72 + 6 + 48 + 8 */
#define P 154

#define TAG_SSTA CNS__TAG('S', 'S', 'T', 'A')
static const uint32_t k_tags[4] = {CNS__TAG_SHDR, TAG_SSTA, CNS__TAG_DNSR, CNS__TAG_DADM};

/* Deterministic inputs: rows of user and positive-item embeddings. */
static void inputs(float *user, float *pos, int salt) {
    for (int k = 0; k < ROWS * DIM; ++k) {
        user[k] = (float)sin(0.37 * k + salt);
        pos[k] = (float)cos(0.23 * k - 0.5 * salt);
    }
}

static cns_sampler *make(int32_t kind, int64_t mode, const cns_allocator *a) {
    cns_sampler_desc d;
    cns_sampler_desc_init(&d);
    d.kind = kind;
    d.dim = DIM;
    d.steps = T;
    d.time_dim = TD;
    d.hidden = HID;
    d.seed = 42;
    cns_sampler *s;
    ck_assert_status(cns_sampler_create(&d, a, &s, NULL), CNS_OK);
    /* Non-default tunables everywhere; noise_min above the default
     * noise_max, so a loader replaying setters one by one would refuse it. */
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_NOISE_MAX, 0.06), CNS_OK);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_NOISE_MIN, 0.03), CNS_OK);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_NOISE_SCALE, 0.5), CNS_OK);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_CAUSAL_WEIGHT, 0.2), CNS_OK);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DENOISER_LR, 0.01), CNS_OK);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DROPOUT, 0.3), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_REWEIGHT, 0), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_SAMPLE_START, 2), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_STRIDE, 2), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_NUM_STEPS, 5), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_SAMPLING_NOISE, 1), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_DNS_CANDIDATES, 7), CNS_OK);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DIRECTION_NORM, 2.5), CNS_OK);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SCORE_DISCOUNT, 0.375), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, mode), CNS_OK);
    return s;
}

static void train(cns_sampler *s, int steps, int salt) {
    float user[ROWS * DIM], pos[ROWS * DIM];
    for (int k = 0; k < steps; ++k) {
        inputs(user, pos, salt + k);
        double loss;
        ck_assert_status(cns_sampler_train_step(s, pos, ROWS, &loss), CNS_OK);
    }
}

static const int k_ints[] = {CNS_SAMPLER_NOISE_SCHEDULE, CNS_SAMPLER_REWEIGHT,
                             CNS_SAMPLER_NORM,           CNS_SAMPLER_SAMPLE_START,
                             CNS_SAMPLER_STRIDE,         CNS_SAMPLER_NUM_STEPS,
                             CNS_SAMPLER_SAMPLING_NOISE, CNS_SAMPLER_MODE,
                             CNS_SAMPLER_DNS_CANDIDATES, CNS_SAMPLER_DIRECTION_SOURCE};
static const int k_doubles[] = {CNS_SAMPLER_NOISE_SCALE,   CNS_SAMPLER_NOISE_MIN,
                                CNS_SAMPLER_NOISE_MAX,     CNS_SAMPLER_CAUSAL_WEIGHT,
                                CNS_SAMPLER_DENOISER_LR,   CNS_SAMPLER_DROPOUT,
                                CNS_SAMPLER_DIRECTION_NORM, CNS_SAMPLER_SCORE_DISCOUNT};

static void assert_same_rng(const cns__rng *a, const cns__rng *b) {
    ck_assert(memcmp(a->s, b->s, sizeof a->s) == 0);
    ck_assert_int_eq(a->has_spare, b->has_spare);
    ck_assert(memcmp(&a->spare, &b->spare, sizeof a->spare) == 0);
}

static void assert_same_sampler(const cns_sampler *a, const cns_sampler *b) {
    ck_assert_int_eq(a->desc.kind, b->desc.kind);
    ck_assert_int_eq(a->desc.dim, b->desc.dim);
    ck_assert_int_eq(a->desc.steps, b->desc.steps);
    ck_assert_int_eq(a->desc.time_dim, b->desc.time_dim);
    ck_assert_int_eq(a->desc.hidden, b->desc.hidden);
    ck_assert_uint_eq(a->desc.seed, b->desc.seed);
    for (size_t k = 0; k < sizeof k_ints / sizeof k_ints[0]; ++k) {
        int64_t va, vb;
        ck_assert_status(cns_sampler_get_int(a, k_ints[k], &va), CNS_OK);
        ck_assert_status(cns_sampler_get_int(b, k_ints[k], &vb), CNS_OK);
        ck_assert_int_eq(va, vb);
    }
    for (size_t k = 0; k < sizeof k_doubles / sizeof k_doubles[0]; ++k) {
        double va, vb;
        ck_assert_status(cns_sampler_get_double(a, k_doubles[k], &va), CNS_OK);
        ck_assert_status(cns_sampler_get_double(b, k_doubles[k], &vb), CNS_OK);
        ck_assert(memcmp(&va, &vb, sizeof va) == 0);
    }
    ck_assert_uint_eq(a->train_steps, b->train_steps);
    assert_same_rng(&a->rng_draw, &b->rng_draw);
    assert_same_rng(&a->rng_train, &b->rng_train);
    assert_same_rng(&a->rng_pick, &b->rng_pick);
    if (a->desc.kind == CNS_SAMPLER_DIFFUSION) {
        ck_assert_uint_eq(a->den.n_params, P);
        ck_assert_uint_eq(b->den.n_params, P);
        ck_assert(memcmp(a->den.params, b->den.params, P * sizeof(float)) == 0);
        ck_assert(memcmp(a->adam.m, b->adam.m, P * sizeof(float)) == 0);
        ck_assert(memcmp(a->adam.v, b->adam.v, P * sizeof(float)) == 0);
        ck_assert_uint_eq(a->adam.t, b->adam.t);
        ck_assert(memcmp(&a->adam.lr, &b->adam.lr, sizeof(double)) == 0);
        ck_assert(memcmp(a->sched.beta, b->sched.beta, T * sizeof(double)) == 0);
        ck_assert(memcmp(a->sched.c1f, b->sched.c1f, T * sizeof(float)) == 0);
        ck_assert(memcmp(a->direction, b->direction, DIM * sizeof(float)) == 0);
    }
}

/* Each draws once on the same inputs: same bits (c may be NULL). */
static void assert_same_draw3(cns_sampler *a, cns_sampler *b, cns_sampler *c, int salt) {
    float user[ROWS * DIM], pos[ROWS * DIM], oa[ROWS * DIM], ob[ROWS * DIM], oc[ROWS * DIM];
    inputs(user, pos, salt);
    ck_assert_status(cns_sampler_draw(a, user, pos, ROWS, oa), CNS_OK);
    ck_assert_status(cns_sampler_draw(b, user, pos, ROWS, ob), CNS_OK);
    ck_assert(memcmp(oa, ob, sizeof oa) == 0);
    if (c != NULL) {
        ck_assert_status(cns_sampler_draw(c, user, pos, ROWS, oc), CNS_OK);
        ck_assert(memcmp(oa, oc, sizeof oa) == 0);
    }
}
static void assert_same_draw(cns_sampler *a, cns_sampler *b, int salt) {
    assert_same_draw3(a, b, NULL, salt);
}

/* The sampler as the shared checkpoint checks see it. */
CK_KIND_FUNCTIONS(cns_sampler)
static cns_status k_save_io(void *s, const char *path, const cns__ckpt_io *io) {
    return cns__sampler_save_io(s, path, io);
}
static const ck_kind k_sampler = {k_load,      k_free,     k_save,     k_save_io,
                            k_last_error, 4,          k_load_mem, k_save_mem,
                            "cns_sampler_save_mem"};

/* A trained sampler saved to dir/name; returns the file's bytes. */
static unsigned char *saved_sampler(const char *dir, const char *name, char *path, size_t plen,
                                    size_t *len) {
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_TRAINED, NULL);
    train(s, 3, 0);
    unsigned char *b = ck_saved_bytes(&k_sampler, s, dir, name, path, plen, len);
    cns_sampler_free(s);
    return b;
}

START_TEST(test_round_trip_diffusion) {
    static const int64_t modes[4] = {CNS_MODE_TRAINED, CNS_MODE_REFERENCE, CNS_MODE_GAUSSIAN,
                                     CNS_MODE_DIRECTION};
    char dir[64], p[128], q[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/s.ckpt", dir);
    snprintf(q, sizeof q, "%s/t.ckpt", dir);
    for (int mi = 0; mi < 4; ++mi) {
        cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_TRAINED, NULL);
        train(s, 4, 1); /* trained, then (maybe) frozen, as §13 allows */
        ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, modes[mi]), CNS_OK);
        ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_THREADS, THREADS_ORIG), CNS_OK);
        float user[ROWS * DIM], pos[ROWS * DIM], out[ROWS * DIM];
        inputs(user, pos, 9);
        ck_assert_status(cns_sampler_draw(s, user, pos, ROWS, out), CNS_OK); /* streams move */
        ck_assert_uint_eq(s->train_steps, 4);

        ck_assert_status(cns_sampler_save(s, p), CNS_OK);
        ck_assert_int_eq(ck_dir_count(dir, NULL, NULL), 1);
        cns_sampler *l = (cns_sampler *)1, *l2;
        cns_error e;
        ck_assert_status(cns_sampler_load(p, NULL, &l, &e), CNS_OK);
        ck_assert_str_eq(e.message, "");
        ck_assert_status(cns_sampler_load(p, NULL, &l2, &e), CNS_OK);
        assert_same_sampler(s, l);
        /* THREADS is a property of the process: the loaded one has the default. */
        int64_t th;
        ck_assert_status(cns_sampler_get_int(l, CNS_SAMPLER_THREADS, &th), CNS_OK);
        ck_assert_int_eq(th, 1);

        /* Saving the loaded one gives the same bytes. */
        ck_assert_status(cns_sampler_save(l, q), CNS_OK);
        size_t n1, n2;
        unsigned char *b1 = ck_read_all(p, &n1), *b2 = ck_read_all(q, &n2);
        ck_assert_uint_eq(n1, n2);
        ck_assert(memcmp(b1, b2, n1) == 0);
        free(b1);
        free(b2);
        ck_assert_int_eq(unlink(q), 0);

        /* The saved one and two loaded copies go on identically: draws,
         * train steps (losses and weights), more draws. */
        for (int round = 0; round < 2; ++round) {
            assert_same_draw3(s, l, l2, 20 + round);
            float pos2[ROWS * DIM];
            inputs(user, pos2, 30 + round);
            double la, lb, lc;
            ck_assert_status(cns_sampler_train_step(s, pos2, ROWS, &la), CNS_OK);
            ck_assert_status(cns_sampler_train_step(l, pos2, ROWS, &lb), CNS_OK);
            ck_assert_status(cns_sampler_train_step(l2, pos2, ROWS, &lc), CNS_OK);
            ck_assert(memcmp(&la, &lb, sizeof la) == 0);
            ck_assert(memcmp(&lb, &lc, sizeof lb) == 0);
            if (modes[mi] == CNS_MODE_TRAINED) ck_assert(la > 0.0);
            assert_same_sampler(s, l);
            assert_same_sampler(l, l2);
        }
        ck_assert_uint_eq(l->train_steps, modes[mi] == CNS_MODE_TRAINED ? 6 : 4);
        cns_sampler_free(s);
        cns_sampler_free(l);
        cns_sampler_free(l2);
    }
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_round_trip_catalogue) {
    /* UNIFORM and DNS: no denoiser; the pick stream must round-trip. */
    static const int32_t users[] = {0, 0, 1, 1, 2, 2, 3, 4, 4, 4};
    static const int32_t items[] = {0, 1, 1, 2, 3, 5, 4, 0, 6, 7};
    cns_dataset *ds;
    ck_assert_status(cns_dataset_from_arrays(users, items, 10, 5, 9, NULL, &ds, NULL), CNS_OK);
    float emb[9 * DIM];
    for (int k = 0; k < 9 * DIM; ++k) emb[k] = (float)sin(1.3 * k);
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/s.ckpt", dir);
    for (int32_t kind = CNS_SAMPLER_UNIFORM; kind <= CNS_SAMPLER_DNS; ++kind) {
        cns_sampler *s = make(kind, CNS_MODE_TRAINED, NULL), *l;
        cns_sampler *both[2] = {s, NULL};
        int32_t ids[2][ROWS], batch[ROWS] = {0, 1, 2, 3, 4};
        float user[ROWS * DIM], pos[ROWS * DIM], out[2][ROWS * DIM];
        inputs(user, pos, 3);
        for (int round = 0; round < 4; ++round) {
            if (round == 1) { /* after one draw: save, load */
                ck_assert_status(cns_sampler_save(s, p), CNS_OK);
                ck_assert_status(cns_sampler_load(p, NULL, &l, NULL), CNS_OK);
                assert_same_sampler(s, l);
                ck_assert_int_eq(cns_sampler_kind_of(l), kind);
                both[1] = l;
            }
            for (int w = 0; w < 2; ++w) {
                if (both[w] == NULL) continue;
                cns_sampler_context c;
                cns_sampler_context_init(&c);
                c.train = ds;
                c.item_emb = emb;
                c.num_items = 9;
                c.users = batch;
                c.n_rows = ROWS;
                c.out_ids = ids[w];
                ck_assert_status(cns_sampler_set_context(both[w], &c), CNS_OK);
                ck_assert_status(cns_sampler_draw(both[w], user, pos, ROWS, out[w]), CNS_OK);
            }
            if (both[1] != NULL) {
                ck_assert(memcmp(ids[0], ids[1], sizeof ids[0]) == 0);
                ck_assert(memcmp(out[0], out[1], sizeof out[0]) == 0);
            }
        }
        /* No denoiser sections in the file. */
        ck_sections sec;
        static const uint32_t two[2] = {CNS__TAG_SHDR, TAG_SSTA};
        ck_sections_read(p, CNS__CKPT_KIND_SAMPLER, two, 2, &sec);
        ck_assert_uint_eq(sec.size[0], 40 + 16 * 18);
        ck_assert_uint_eq(sec.size[1], 8 + 3 * 48);
        ck_sections_free(&sec);
        cns_sampler_free(s);
        cns_sampler_free(l);
    }
    cns_dataset_free(ds);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_deterministic_bytes) {
    char dir[64], pa[128], pb[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(pa, sizeof pa, "%s/a.ckpt", dir);
    snprintf(pb, sizeof pb, "%s/b.ckpt", dir);
    cns_sampler *a = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_TRAINED, NULL);
    cns_sampler *b = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_TRAINED, NULL);
    train(a, 3, 2);
    train(b, 3, 2);
    ck_assert_status(cns_sampler_save(a, pa), CNS_OK);
    ck_assert_status(cns_sampler_save(b, pb), CNS_OK);
    size_t na, nb;
    unsigned char *ba = ck_read_all(pa, &na), *bb = ck_read_all(pb, &nb);
    /* 48 + 4 x 32 + SHDR 328 + SSTA 152 + DNSR 4P = 616 + DADM 8 + 8P = 1240 */
    ck_assert_uint_eq(na, 48 + 128 + 328 + 152 + 616 + 1240);
    ck_assert_uint_eq(na, nb);
    ck_assert(memcmp(ba, bb, na) == 0);
    /* One more step: other bytes. */
    train(b, 1, 7);
    ck_assert_status(cns_sampler_save(b, pb), CNS_OK);
    ck_assert(!ck_file_equals(pb, ba, na));
    free(ba);
    free(bb);
    cns_sampler_free(a);
    cns_sampler_free(b);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_nonfinite_refused_at_save) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_TRAINED, NULL);
    train(s, 2, 0);
    size_t n;
    unsigned char *before = ck_saved_bytes(&k_sampler, s, dir, "s.ckpt", p, sizeof p, &n);
    float keep = s->den.params[77];
    s->den.params[77] = NAN;
    ck_assert_status(cns_sampler_save(s, p), CNS_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(cns_sampler_last_error(s), "'DNSR' denoiser weight 77"));
    ck_assert(ck_file_equals(p, before, n));
    s->den.params[77] = keep;
    s->adam.v[P - 1] = -INFINITY;
    ck_assert_status(cns_sampler_save(s, p), CNS_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(cns_sampler_last_error(s), "'DADM' Adam second moment 153"));
    ck_assert(ck_file_equals(p, before, n));
    ck_assert_int_eq(ck_dir_count(dir, NULL, NULL), 1);
    free(before);
    cns_sampler_free(s);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_truncation_and_bit_flips) {
    char dir[64], p[128], q[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    unsigned char *b = saved_sampler(dir, "s.ckpt", p, sizeof p, &n);
    snprintf(q, sizeof q, "%s/t.ckpt", dir);
    ck_check_truncations(&k_sampler, b, n, q, 0);
    ck_check_header_flips(&k_sampler, b, n, q);
    ck_check_payload_flips(&k_sampler, b, n, q, 0xD1B54A32D192ED03ull, 10000);
    free(b);
    ck_rmdir_all(dir);
}
END_TEST

/* ---- crafted files ------------------------------------------------------------ */

static unsigned char *sec(ck_sections *s, uint32_t tag) { return ck_sections_data(s, tag); }
/* Record k of 'SHDR' (the writer's order: schedule, scale, min, max,
 * reweight, causal, lr, norm, dropout, start, stride, num_steps,
 * sampling_noise, mode, dns_candidates, direction_norm, direction_source;
 * the last two are optional: files older than them lack them). */
static unsigned char *rec(ck_sections *s, int k) { return sec(s, CNS__TAG_SHDR) + 40 + 16 * k; }
static void rec_f64(ck_sections *s, int k, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    cns__le64_put(rec(s, k) + 8, u);
}
static float *fsec(ck_sections *s, uint32_t tag, size_t off) {
    return (float *)(void *)(sec(s, tag) + off);
}

static void c_unknown_id(ck_sections *s) { cns__le32_put(rec(s, 3), 999); }
static void c_threads_id(ck_sections *s) { cns__le32_put(rec(s, 3), CNS_SAMPLER_THREADS); }
static void c_duplicate(ck_sections *s) { cns__le32_put(rec(s, 1), CNS_SAMPLER_NOISE_SCHEDULE); }
static void c_missing(ck_sections *s) { /* dns_candidates (a required record) dropped */
    memmove(rec(s, 14), rec(s, 15), 3 * 16);
    s->size[ck_sections_index(s, CNS__TAG_SHDR)] -= 16;
    cns__le32_put(sec(s, CNS__TAG_SHDR) + 32, 17);
}
static void c_count(ck_sections *s) { cns__le32_put(sec(s, CNS__TAG_SHDR) + 32, 14); }
static void c_type(ck_sections *s) { cns__le32_put(rec(s, 5) + 4, 3); }
static void c_nan_value(ck_sections *s) { rec_f64(s, 1, NAN); }
static void c_type_mismatch(ck_sections *s) { cns__le32_put(rec(s, 0) + 4, 2); }
static void c_dropout_one(ck_sections *s) { rec_f64(s, 8, 1.0); }
static void c_degenerate(ck_sections *s) { rec_f64(s, 2, 0.07); } /* min 0.07 > max 0.06 */
static void c_start_past_steps(ck_sections *s) { cns__le64_put(rec(s, 9) + 8, T + 1); }
static void c_mode4(ck_sections *s) { cns__le64_put(rec(s, 13) + 8, 4); }
static void c_direction_norm0(ck_sections *s) { rec_f64(s, 15, 0.0); }
static void c_direction_source1(ck_sections *s) { cns__le64_put(rec(s, 16) + 8, 1); }
static void c_discount_over(ck_sections *s) { rec_f64(s, 17, 1.5); }
static void c_discount_type(ck_sections *s) { cns__le32_put(rec(s, 17) + 4, 1); }
static void c_reserved(ck_sections *s) { cns__le32_put(sec(s, CNS__TAG_SHDR) + 20, 1); }
static void c_dim0(ck_sections *s) { cns__le32_put(sec(s, CNS__TAG_SHDR) + 4, 0); }
static void c_kind4(ck_sections *s) { cns__le32_put(sec(s, CNS__TAG_SHDR) + 0, 4); }
static void c_td_odd(ck_sections *s) { cns__le32_put(sec(s, CNS__TAG_SHDR) + 12, 5); }
static void c_huge(ck_sections *s) { /* a ~1 GB denoiser promised by a small file */
    cns__le32_put(sec(s, CNS__TAG_SHDR) + 4, 65536);
    cns__le32_put(sec(s, CNS__TAG_SHDR) + 16, 4096);
}
static void c_hidden_other(ck_sections *s) { cns__le32_put(sec(s, CNS__TAG_SHDR) + 16, 7); }
static void c_uniform_with_denoiser(ck_sections *s) {
    cns__le32_put(sec(s, CNS__TAG_SHDR) + 0, CNS_SAMPLER_UNIFORM);
}
static void c_dnsr_nan(ck_sections *s) { fsec(s, CNS__TAG_DNSR, 0)[10] = NAN; }
static void c_dnsr_short(ck_sections *s) { s->size[ck_sections_index(s, CNS__TAG_DNSR)] -= 4; }
static void c_dadm_m_inf(ck_sections *s) { fsec(s, CNS__TAG_DADM, 8)[5] = INFINITY; }
static void c_dadm_v_neg(ck_sections *s) { fsec(s, CNS__TAG_DADM, 8)[P + 6] = -1.0f; }
static void c_dadm_missing(ck_sections *s) { ck_sections_drop(s, CNS__TAG_DADM); }
static void c_ssta_missing(ck_sections *s) { ck_sections_drop(s, TAG_SSTA); }
static void c_ssta_zero(ck_sections *s) { memset(sec(s, TAG_SSTA) + 8 + 48, 0, 32); }
static void c_ssta_spare(ck_sections *s) { cns__le32_put(sec(s, TAG_SSTA) + 8 + 40, 2); }
static void c_ssta_nan(ck_sections *s) {
    double v = NAN;
    memcpy(sec(s, TAG_SSTA) + 8 + 2 * 48 + 32, &v, sizeof v);
}

static const ck_crafted k_crafted[] = {
    {"unknown parameter id", c_unknown_id, CNS_E_VERSION, "parameter 999 is unknown"},
    {"THREADS record", c_threads_id, CNS_E_CORRUPT, "parameter 300 is never saved"},
    {"duplicate record", c_duplicate, CNS_E_CORRUPT, "parameter 100 appears twice"},
    {"missing record", c_missing, CNS_E_CORRUPT, "parameter 200 is missing"},
    {"record count", c_count, CNS_E_CORRUPT, "not 40 plus 16"},
    {"record type 3", c_type, CNS_E_CORRUPT, "has type 3"},
    {"NaN tunable", c_nan_value, CNS_E_CORRUPT, "non-finite"},
    {"int stored as double", c_type_mismatch, CNS_E_CORRUPT, "is an int"},
    {"dropout 1", c_dropout_one, CNS_E_CORRUPT, "DROPOUT"},
    {"degenerate schedule", c_degenerate, CNS_E_CORRUPT, "section 'SHDR'"},
    {"sample_start > steps", c_start_past_steps, CNS_E_CORRUPT, "SAMPLE_START = 7"},
    {"mode 4", c_mode4, CNS_E_CORRUPT, "MODE = 4"},
    {"direction norm 0", c_direction_norm0, CNS_E_CORRUPT, "DIRECTION_NORM = 0"},
    {"direction source 1", c_direction_source1, CNS_E_CORRUPT, "DIRECTION_SOURCE = 1"},
    {"score discount 1.5", c_discount_over, CNS_E_CORRUPT, "SCORE_DISCOUNT = 1.5"},
    {"score discount as an int", c_discount_type, CNS_E_CORRUPT, "is a double"},
    {"reserved field", c_reserved, CNS_E_CORRUPT, "reserved"},
    {"dim 0", c_dim0, CNS_E_CORRUPT, "dim 0"},
    {"kind 4", c_kind4, CNS_E_CORRUPT, "kind 4"},
    {"odd time_dim", c_td_odd, CNS_E_CORRUPT, "time_dim 5"},
    {"huge denoiser", c_huge, CNS_E_CORRUPT, "section 'DNSR' is 616 bytes"},
    {"hidden disagrees", c_hidden_other, CNS_E_CORRUPT, "section 'DNSR' is 616 bytes"},
    {"UNIFORM with a denoiser", c_uniform_with_denoiser, CNS_E_CORRUPT, "has no denoiser"},
    {"NaN weight", c_dnsr_nan, CNS_E_CORRUPT, "section 'DNSR': weight 10 is nan"},
    {"DNSR short", c_dnsr_short, CNS_E_CORRUPT, "section 'DNSR' is 612 bytes, expected 616"},
    {"inf first moment", c_dadm_m_inf, CNS_E_CORRUPT, "first moment 5 is inf"},
    {"negative second moment", c_dadm_v_neg, CNS_E_CORRUPT, "second moment 6 is -1"},
    {"no DADM", c_dadm_missing, CNS_E_CORRUPT, "no section 'DADM'"},
    {"no SSTA", c_ssta_missing, CNS_E_CORRUPT, "no section 'SSTA'"},
    {"zero stream", c_ssta_zero, CNS_E_CORRUPT, "random stream 1 is invalid"},
    {"has_spare 2", c_ssta_spare, CNS_E_CORRUPT, "random stream 0 is invalid"},
    {"NaN spare", c_ssta_nan, CNS_E_CORRUPT, "random stream 2 is invalid"},
};

START_TEST(test_crafted_files) {
    char dir[64], p[128], q[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    free(saved_sampler(dir, "s.ckpt", p, sizeof p, &n));
    snprintf(q, sizeof q, "%s/c.ckpt", dir);
    ck_check_crafted_cases(&k_sampler, CNS__CKPT_KIND_SAMPLER, p, q, k_tags, 4, k_crafted,
                           sizeof k_crafted / sizeof k_crafted[0]);
    ck_rmdir_all(dir);
}
END_TEST

/* A file written before the direction mode existed (15 records, the
 * two direction ones and the score discount absent) loads: those take the
 * handle's initial values (norm 3.9, source RANDOM, discount 0) and the
 * direction is the one the seed gives, so the loaded sampler draws in
 * DIRECTION mode exactly as a fresh one of that seed. */
static void c_old_format(ck_sections *s) {
    s->size[ck_sections_index(s, CNS__TAG_SHDR)] -= 3 * 16;
    cns__le32_put(sec(s, CNS__TAG_SHDR) + 32, 15);
}

/* Saves a sampler into dir, writes a copy whose sections edit() changed
 * (an older file's layout), and loads both: *old from the copy, *now from
 * the original. */
static void load_edited_copy(const char *dir, void (*edit)(ck_sections *), cns_sampler **old,
                             cns_sampler **now) {
    char p[128], q[128];
    size_t n;
    free(saved_sampler(dir, "s.ckpt", p, sizeof p, &n));
    snprintf(q, sizeof q, "%s/old.ckpt", dir);
    ck_sections sections;
    ck_sections_read(p, CNS__CKPT_KIND_SAMPLER, k_tags, 4, &sections);
    edit(&sections);
    ck_sections_write(&sections, q);
    ck_sections_free(&sections);
    cns_error e;
    ck_assert_status(cns_sampler_load(q, NULL, old, &e), CNS_OK);
    ck_assert_status(cns_sampler_load(p, NULL, now, &e), CNS_OK);
}

START_TEST(test_old_file_loads) {
    char dir[64];
    ck_tmpdir(dir, sizeof dir);
    cns_sampler *old = NULL, *now = NULL;
    load_edited_copy(dir, c_old_format, &old, &now);
    double norm;
    int64_t src, mode;
    ck_assert_status(cns_sampler_get_double(old, CNS_SAMPLER_DIRECTION_NORM, &norm), CNS_OK);
    ck_assert(norm == 3.9);
    ck_assert_status(cns_sampler_get_int(old, CNS_SAMPLER_DIRECTION_SOURCE, &src), CNS_OK);
    ck_assert_int_eq(src, CNS_DIRECTION_RANDOM);
    double discount;
    ck_assert_status(cns_sampler_get_double(old, CNS_SAMPLER_SCORE_DISCOUNT, &discount), CNS_OK);
    ck_assert(discount == 0.0);
    ck_assert_status(cns_sampler_get_int(old, CNS_SAMPLER_MODE, &mode), CNS_OK);
    ck_assert_int_eq(mode, CNS_MODE_TRAINED); /* the file's, not the preset's */
    /* the rest as saved: the same draws in the trained mode */
    assert_same_draw(old, now, 5);
    /* the direction from the seed */
    cns_sampler *fresh = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_DIRECTION, NULL);
    ck_assert_status(cns_sampler_set_double(fresh, CNS_SAMPLER_DIRECTION_NORM, 3.9), CNS_OK);
    ck_assert_status(cns_sampler_set_int(old, CNS_SAMPLER_MODE, CNS_MODE_DIRECTION), CNS_OK);
    assert_same_draw(old, fresh, 6);
    cns_sampler_free(fresh);
    cns_sampler_free(old);
    cns_sampler_free(now);
    ck_rmdir_all(dir);
}
END_TEST

/* A file written after the direction mode but before the score discount
 * (17 records) loads with discount 0, the scores its users ranked by,
 * while the records it has keep their saved values; the current file
 * carries the saved discount (make() sets 0.375). */
static void c_pre_discount(ck_sections *s) {
    s->size[ck_sections_index(s, CNS__TAG_SHDR)] -= 16;
    cns__le32_put(sec(s, CNS__TAG_SHDR) + 32, 17);
}

START_TEST(test_pre_discount_file_loads) {
    char dir[64];
    ck_tmpdir(dir, sizeof dir);
    cns_sampler *old = NULL, *now = NULL;
    load_edited_copy(dir, c_pre_discount, &old, &now);
    double v;
    ck_assert_status(cns_sampler_get_double(old, CNS_SAMPLER_SCORE_DISCOUNT, &v), CNS_OK);
    ck_assert(v == 0.0);
    ck_assert_status(cns_sampler_get_double(old, CNS_SAMPLER_DIRECTION_NORM, &v), CNS_OK);
    ck_assert(v == 2.5); /* the file's record, not the initial 3.9 */
    ck_assert_status(cns_sampler_get_double(now, CNS_SAMPLER_SCORE_DISCOUNT, &v), CNS_OK);
    ck_assert(v == 0.375);
    cns_sampler_free(old);
    cns_sampler_free(now);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_arguments_and_missing) {
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_TRAINED, NULL), *l = (cns_sampler *)1;
    cns_error e;
    ck_assert_status(cns_sampler_save(NULL, "/tmp/x"), CNS_E_ARG);
    k_check_arguments(s);
    ck_assert_status(cns_sampler_load("/nonexistent-dir-cns/s.ckpt", NULL, &l, &e), CNS_E_NOFILE);
    ck_assert_ptr_null(l);
    ck_assert_status(cns_sampler_save(s, "/nonexistent-dir-cns/s.ckpt"), CNS_E_IO);
    cns_sampler_free(s);
}
END_TEST

START_TEST(test_io_failures) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    unsigned char *before = saved_sampler(dir, "s.ckpt", p, sizeof p, &n);
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_TRAINED, NULL);
    train(s, 5, 4);
    char q[128];
    snprintf(q, sizeof q, "%s/count.ckpt", dir);
    ck_io count = ck_count_save_calls(&k_sampler, s, q);
    ck_assert_int_ge(count.writes, 5);
    ck_assert_int_eq(unlink(q), 0);
    ck_check_failed_saves(&k_sampler, s, p, dir, before, n, count.writes, NULL);
    free(before);
    cns_sampler_free(s);
    ck_rmdir_all(dir);
}
END_TEST

static void same_loaded(void *ref, void *l, ck_counting *c) {
    assert_same_sampler(ref, l);
    c->fail_at = SIZE_MAX; /* the draw's workspace */
    assert_same_draw(ref, l, 5);
}

START_TEST(test_allocation_failures) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    unsigned char *before = saved_sampler(dir, "s.ckpt", p, sizeof p, &n);
    cns_sampler *ref;
    ck_assert_status(cns_sampler_load(p, NULL, &ref, NULL), CNS_OK);
    size_t k = ck_check_load_alloc_failures(&k_sampler, p, ref, same_loaded, 0);
    ck_assert_uint_gt(k, 8);

    /* Save with every allocation failing in turn. */
    ck_counting c = {0, 0, SIZE_MAX, 0};
    cns_allocator a = ck_allocator(&c);
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_TRAINED, &a);
    train(s, 2, 8);
    k = ck_check_save_alloc_failures(&k_sampler, s, p, dir, &c, before, n);
    ck_assert_uint_ge(k, 3); /* Adam buffer, header, temporary name */
    cns_sampler *l;
    ck_assert_status(cns_sampler_load(p, NULL, &l, NULL), CNS_OK);
    assert_same_sampler(s, l);
    cns_sampler_free(l);
    cns_sampler_free(s);
    ck_assert_uint_eq(c.live, 0);
    cns_sampler_free(ref);
    free(before);
    ck_rmdir_all(dir);
}
END_TEST

/* The memory forms: the file's bytes, through the shared checks, for every
 * kind and every mode of the diffusion sampler (ckpt_checks.h). */
START_TEST(test_memory_form) {
    static const int64_t modes[4] = {CNS_MODE_TRAINED, CNS_MODE_REFERENCE, CNS_MODE_GAUSSIAN,
                                     CNS_MODE_DIRECTION};
    char dir[64];
    ck_tmpdir(dir, sizeof dir);
    for (int mi = 0; mi < 4; ++mi) {
        cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_TRAINED, NULL);
        train(s, 3, 2);
        ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, modes[mi]), CNS_OK);
        ck_check_memory_form(&k_sampler, s, dir);
        cns_sampler_free(s);
    }
    for (int32_t kind = CNS_SAMPLER_UNIFORM; kind <= CNS_SAMPLER_DNS; ++kind) {
        cns_sampler *s = make(kind, CNS_MODE_TRAINED, NULL);
        ck_check_memory_form(&k_sampler, s, dir);
        cns_sampler_free(s);
    }
    ck_rmdir_all(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sampler_io");
    TCase *tc = tcase_create("sampler_io");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_round_trip_diffusion);
    tcase_add_test(tc, test_round_trip_catalogue);
    tcase_add_test(tc, test_deterministic_bytes);
    tcase_add_test(tc, test_nonfinite_refused_at_save);
    tcase_add_test(tc, test_truncation_and_bit_flips);
    tcase_add_test(tc, test_crafted_files);
    tcase_add_test(tc, test_old_file_loads);
    tcase_add_test(tc, test_pre_discount_file_loads);
    tcase_add_test(tc, test_arguments_and_missing);
    tcase_add_test(tc, test_io_failures);
    tcase_add_test(tc, test_allocation_failures);
    tcase_add_test(tc, test_memory_form);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
