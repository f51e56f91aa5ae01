/* Model checkpoints (docs/CHECKPOINT.md, kind 1): exact round trips
 * (scores, recommendations, continued training), the training-data view,
 * refusal of non-finite values at save, damage of every kind at load
 * (truncation, bit flips, crafted container-valid files), failing I/O and
 * failing allocations. */
#include <math.h>

#include "ckpt_checks.h"
#include "model_internal.h"

/* 7 users (user 6 has no items), 10 items (item 9 never seen), 15 pairs. */
static const int32_t k_users[] = {0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 5, 5};
static const int32_t k_items[] = {0, 1, 2, 1, 3, 2, 4, 5, 0, 6, 7, 8, 3, 5, 7};
#define NU 7
#define NI 10
#define NNZ 15
#define DIM 8

static const uint32_t k_tags[6] = {CNS__TAG_MHDR, CNS__TAG_GRPH, CNS__TAG_EGOU,
                                   CNS__TAG_EGOI, CNS__TAG_ADMM, CNS__TAG_ADMV};

static cns_dataset *tiny(void) {
    cns_dataset *ds;
    ck_assert_status(cns_dataset_from_arrays(k_users, k_items, NNZ, NU, NI, NULL, &ds, NULL),
                     CNS_OK);
    return ds;
}

static cns_model *make(const cns_dataset *ds, uint64_t seed, const cns_allocator *a) {
    cns_model_desc d;
    cns_model_desc_init(&d);
    d.dim = DIM;
    d.layers = 2;
    d.seed = seed;
    cns_model *m;
    ck_assert_status(cns_model_create(ds, &d, a, &m, NULL), CNS_OK);
    /* Non-default hyperparameters, so a loader that ignored them would show. */
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_LR, 0.05), CNS_OK);
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_REG, 3e-3), CNS_OK);
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_ADAM_BETA1, 0.8), CNS_OK);
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_ADAM_BETA2, 0.99), CNS_OK);
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_ADAM_EPS, 1e-6), CNS_OK);
    return m;
}

/* Adam steps on a fixed pseudo-loss: sum <e_u, e_neg> - <e_u, e_pos> over
 * 4 rows chosen from step and salt; forward at the end, so E is current. */
static void train(cns_model *m, int steps, int salt) {
    enum { B = 4 };
    for (int s = 0; s < steps; ++s) {
        int32_t us[B], ps[B], ns[B];
        for (int b = 0; b < B; ++b) {
            us[b] = (int32_t)((s * 5 + b * 3 + salt) % NU);
            ps[b] = (int32_t)((s * 7 + b + salt) % NI);
            ns[b] = (int32_t)((s * 3 + b * 2 + 1 + salt) % NI);
        }
        float eu[B * DIM], ep[B * DIM], en[B * DIM], gu[B * DIM], gp[B * DIM], gn[B * DIM];
        ck_assert_status(cns_model_forward(m), CNS_OK);
        ck_assert_status(cns_model_gather(m, CNS_TABLE_USERS, us, B, eu), CNS_OK);
        ck_assert_status(cns_model_gather(m, CNS_TABLE_ITEMS, ps, B, ep), CNS_OK);
        ck_assert_status(cns_model_gather(m, CNS_TABLE_ITEMS, ns, B, en), CNS_OK);
        for (int k = 0; k < B * DIM; ++k) {
            gu[k] = en[k] - ep[k];
            gp[k] = -eu[k];
            gn[k] = eu[k];
        }
        ck_assert_status(cns_model_zero_grad(m), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_USERS, us, B, gu), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, ps, B, gp), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, ns, B, gn), CNS_OK);
        ck_assert_status(cns_model_backward(m, us, ps, ns, B, NULL), CNS_OK);
        ck_assert_status(cns_model_step(m), CNS_OK);
    }
    ck_assert_status(cns_model_forward(m), CNS_OK);
}

/* Every piece of state a checkpoint must carry, compared bit for bit. */
static void assert_same_model(const cns_model *a, const cns_model *b) {
    ck_assert_int_eq(cns_model_num_users(a), cns_model_num_users(b));
    ck_assert_int_eq(cns_model_num_items(a), cns_model_num_items(b));
    ck_assert_int_eq(cns_model_dim(a), cns_model_dim(b));
    ck_assert_int_eq(cns_model_layers(a), cns_model_layers(b));
    ck_assert_uint_eq(cns_model_steps_taken(a), cns_model_steps_taken(b));
    ck_assert_uint_eq(a->shape.seed, b->shape.seed);
    static const int ids[5] = {CNS_MODEL_LR, CNS_MODEL_REG, CNS_MODEL_ADAM_BETA1,
                               CNS_MODEL_ADAM_BETA2, CNS_MODEL_ADAM_EPS};
    for (int k = 0; k < 5; ++k) {
        double va, vb;
        ck_assert_status(cns_model_get_double(a, ids[k], &va), CNS_OK);
        ck_assert_status(cns_model_get_double(b, ids[k], &vb), CNS_OK);
        ck_assert(memcmp(&va, &vb, sizeof va) == 0);
    }
    const size_t n = a->rows * a->d * sizeof(float);
    ck_assert(memcmp(a->ego, b->ego, n) == 0);
    ck_assert(memcmp(a->adam.m, b->adam.m, n) == 0);
    ck_assert(memcmp(a->adam.v, b->adam.v, n) == 0);
    ck_assert(memcmp(cns_model_embeddings(a, CNS_TABLE_USERS),
                     cns_model_embeddings(b, CNS_TABLE_USERS), NU * DIM * sizeof(float)) == 0);
    ck_assert(memcmp(cns_model_embeddings(a, CNS_TABLE_ITEMS),
                     cns_model_embeddings(b, CNS_TABLE_ITEMS), NI * DIM * sizeof(float)) == 0);
}

static void assert_same_recommend(const cns_model *a, const cns_model *b) {
    for (int32_t u = 0; u < NU; ++u) {
        int32_t ia[NI], ib[NI];
        float sa[NI], sb[NI];
        size_t na, nb;
        ck_assert_status(cns_model_recommend(a, u, NI, ia, sa, &na), CNS_OK);
        ck_assert_status(cns_model_recommend(b, u, NI, ib, sb, &nb), CNS_OK);
        ck_assert_uint_eq(na, nb);
        ck_assert_uint_gt(na, 0);
        ck_assert(memcmp(ia, ib, na * sizeof *ia) == 0);
        ck_assert(memcmp(sa, sb, na * sizeof *sa) == 0);
    }
}

static void assert_same_dataset(const cns_dataset *a, const cns_dataset *b) {
    ck_assert_int_eq(cns_dataset_num_users(a), cns_dataset_num_users(b));
    ck_assert_int_eq(cns_dataset_num_items(a), cns_dataset_num_items(b));
    ck_assert_uint_eq(cns_dataset_num_interactions(a), cns_dataset_num_interactions(b));
    for (int32_t u = 0; u < cns_dataset_num_users(a); ++u) {
        const int32_t *ra, *rb;
        size_t na, nb;
        ck_assert_status(cns_dataset_user_items(a, u, &ra, &na), CNS_OK);
        ck_assert_status(cns_dataset_user_items(b, u, &rb, &nb), CNS_OK);
        ck_assert_uint_eq(na, nb);
        if (na) ck_assert(memcmp(ra, rb, na * sizeof *ra) == 0);
    }
    ck_assert(memcmp(cns_dataset_item_popularity(a), cns_dataset_item_popularity(b),
                     (size_t)cns_dataset_num_items(a) * sizeof(int32_t)) == 0);
    for (size_t k = 0; k < cns_dataset_num_interactions(a); ++k) {
        int32_t ua, ia, ub, ib;
        ck_assert_status(cns_dataset_pair(a, k, &ua, &ia), CNS_OK);
        ck_assert_status(cns_dataset_pair(b, k, &ub, &ib), CNS_OK);
        ck_assert_int_eq(ua, ub);
        ck_assert_int_eq(ia, ib);
    }
}

/* The model as the shared checkpoint checks see it. */
CK_KIND_FUNCTIONS(cns_model)
static cns_status k_save_io(void *m, const char *path, const cns__ckpt_io *io) {
    return cns__model_save_io(m, path, io);
}
static const ck_kind k_model = {k_load,      k_free,     k_save,     k_save_io,
                            k_last_error, 6,          k_load_mem, k_save_mem,
                            "cns_model_save_mem"};

/* A trained model saved to dir/name; returns the file's bytes. */
static unsigned char *saved_model(const char *dir, const char *name, char *path, size_t plen,
                                  size_t *len) {
    cns_dataset *ds = tiny();
    cns_model *m = make(ds, 11, NULL);
    train(m, 5, 0);
    unsigned char *b = ck_saved_bytes(&k_model, m, dir, name, path, plen, len);
    cns_model_free(m);
    cns_dataset_free(ds);
    return b;
}

START_TEST(test_round_trip) {
    char dir[64], p1[128], p2[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(p1, sizeof p1, "%s/a.ckpt", dir);
    snprintf(p2, sizeof p2, "%s/b.ckpt", dir);
    cns_dataset *ds = tiny();
    cns_model *m = make(ds, 11, NULL);
    train(m, 5, 0);
    ck_assert_uint_eq(cns_model_steps_taken(m), 5);
    ck_assert_status(cns_model_save(m, p1), CNS_OK);
    ck_assert_int_eq(ck_dir_count(dir, NULL, NULL), 1); /* no temporary file left */

    cns_model *l = (cns_model *)1;
    cns_error e;
    ck_assert_status(cns_model_load(p1, NULL, &l, &e), CNS_OK);
    ck_assert_int_eq(e.status, CNS_OK);
    ck_assert_str_eq(e.message, "");
    assert_same_model(m, l);
    assert_same_recommend(m, l);

    /* The training graph comes back, as a dataset equal to the original. */
    assert_same_dataset(ds, cns_model_train_data(m));
    assert_same_dataset(ds, cns_model_train_data(l));
    ck_assert(cns_model_train_data(l) == cns_model_train_data(l));
    ck_assert_ptr_null(cns_model_train_data(NULL));
    ck_assert_uint_eq(cns_dataset_duplicates(cns_model_train_data(l)), 0);

    /* Saving the loaded model gives the same bytes. */
    ck_assert_status(cns_model_save(l, p2), CNS_OK);
    size_t n1, n2;
    unsigned char *b1 = ck_read_all(p1, &n1), *b2 = ck_read_all(p2, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);

    /* Adam state round-trips: continuing from both gives the same weights
     * (a lost moment or step count would change the very next update). */
    train(m, 4, 3);
    train(l, 4, 3);
    assert_same_model(m, l);
    assert_same_recommend(m, l);
    ck_assert_uint_eq(cns_model_steps_taken(l), 9);

    /* The runtime thread count is not part of the file: any count, same E. */
    ck_assert_status(cns_model_set_int(l, CNS_MODEL_THREADS, 2), CNS_OK);
    ck_assert_status(cns_model_forward(l), CNS_OK);
    assert_same_model(m, l);

    cns_model_free(m);
    cns_model_free(l);
    cns_dataset_free(ds);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_untrained_and_mf_round_trip) {
    /* An untrained model (zero moments, step 0) and an MF model (layers 0). */
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/m.ckpt", dir);
    cns_dataset *ds = tiny();
    for (int layers = 0; layers <= 3; layers += 3) {
        cns_model_desc d;
        cns_model_desc_init(&d);
        d.dim = 5;
        d.layers = layers;
        d.seed = 99;
        cns_model *m, *l;
        ck_assert_status(cns_model_create(ds, &d, NULL, &m, NULL), CNS_OK);
        ck_assert_status(cns_model_save(m, p), CNS_OK);
        ck_assert_status(cns_model_load(p, NULL, &l, NULL), CNS_OK);
        ck_assert_int_eq(cns_model_layers(l), layers);
        ck_assert_int_eq(cns_model_dim(l), 5);
        ck_assert_uint_eq(cns_model_steps_taken(l), 0);
        ck_assert(memcmp(m->ego, l->ego, m->rows * m->d * sizeof(float)) == 0);
        ck_assert(memcmp(m->emb, l->emb, m->rows * m->d * sizeof(float)) == 0);
        cns_model_free(m);
        cns_model_free(l);
    }
    cns_dataset_free(ds);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_deterministic_bytes) {
    char dir[64], pa[128], pb[128], pc[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(pa, sizeof pa, "%s/a.ckpt", dir);
    snprintf(pb, sizeof pb, "%s/b.ckpt", dir);
    snprintf(pc, sizeof pc, "%s/c.ckpt", dir);
    cns_dataset *ds = tiny();
    cns_model *a = make(ds, 5, NULL), *b = make(ds, 5, NULL), *c = make(ds, 6, NULL);
    train(a, 3, 1);
    train(b, 3, 1);
    train(c, 3, 1);
    ck_assert_status(cns_model_save(a, pa), CNS_OK);
    ck_assert_status(cns_model_save(b, pb), CNS_OK);
    ck_assert_status(cns_model_save(c, pc), CNS_OK);
    size_t na, nb, nc;
    unsigned char *ba = ck_read_all(pa, &na), *bb = ck_read_all(pb, &nb), *bc = ck_read_all(pc, &nc);
    ck_assert_uint_eq(na, nb);
    ck_assert(memcmp(ba, bb, na) == 0);
    ck_assert_uint_eq(na, nc);
    ck_assert(memcmp(ba, bc, na) != 0); /* another seed: other weights */
    /* header 48 + table 6 x 32 + MHDR 72 + GRPH 8*8+4*15 = 124 (+4 pad)
     * + EGOU 7*8*4 + EGOI 10*8*4 + 2 x (17*8*4) = 48+192+72+128+224+320+544+544 */
    ck_assert_uint_eq(na, 48 + 192 + 72 + 128 + 224 + 320 + 544 + 544);
    free(ba);
    free(bb);
    free(bc);
    cns_model_free(a);
    cns_model_free(b);
    cns_model_free(c);
    cns_dataset_free(ds);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_nonfinite_refused_at_save) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    cns_dataset *ds = tiny();
    cns_model *m = make(ds, 11, NULL);
    train(m, 2, 0);
    size_t n;
    unsigned char *before = ck_saved_bytes(&k_model, m, dir, "m.ckpt", p, sizeof p, &n);

    float row[DIM];
    ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_ITEMS, 3, row), CNS_OK);
    float keep = row[5];
    row[5] = NAN;
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, 3, row), CNS_OK);
    ck_assert_status(cns_model_save(m, p), CNS_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "'EGOI' value 29"));
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "row 3, column 5"));
    ck_assert(ck_file_equals(p, before, n));
    ck_assert_int_eq(ck_dir_count(dir, NULL, NULL), 1);

    row[5] = keep;
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, 3, row), CNS_OK);
    ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_USERS, 6, row), CNS_OK);
    row[0] = -INFINITY;
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_USERS, 6, row), CNS_OK);
    ck_assert_status(cns_model_save(m, p), CNS_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "'EGOU' value 48"));
    ck_assert(ck_file_equals(p, before, n));

    /* A non-finite Adam moment (only reachable from inside) is refused too. */
    row[0] = 0.5f;
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_USERS, 6, row), CNS_OK);
    m->adam.v[20] = INFINITY;
    ck_assert_status(cns_model_save(m, p), CNS_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "'ADMV' value 20"));
    ck_assert(ck_file_equals(p, before, n));
    m->adam.v[20] = 0.0f;
    ck_assert_status(cns_model_save(m, p), CNS_OK);
    ck_assert(!ck_file_equals(p, before, n));

    free(before);
    cns_model_free(m);
    cns_dataset_free(ds);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_truncation_every_offset) {
    char dir[64], p[128], q[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    unsigned char *b = saved_model(dir, "m.ckpt", p, sizeof p, &n);
    snprintf(q, sizeof q, "%s/t.ckpt", dir);
    ck_check_truncations(&k_model, b, n, q, 1);
    /* Appended bytes are damage as well. */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    ck_write_all(q, longer, n + 1);
    cns_model *l;
    ck_assert_status(cns_model_load(q, NULL, &l, NULL), CNS_E_CORRUPT);
    free(longer);
    free(b);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_header_and_table_bit_flips) {
    char dir[64], p[128], q[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    unsigned char *b = saved_model(dir, "m.ckpt", p, sizeof p, &n);
    snprintf(q, sizeof q, "%s/f.ckpt", dir);
    /* The version field (bytes 8-11, value 1): clearing its only set bit
     * gives 0 (corrupt), each of the other 31 flips a newer version. */
    ck_assert_int_eq(ck_check_header_flips(&k_model, b, n, q), 31);
    free(b);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_random_payload_bit_flips) {
    char dir[64], p[128], q[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    unsigned char *b = saved_model(dir, "m.ckpt", p, sizeof p, &n);
    snprintf(q, sizeof q, "%s/f.ckpt", dir);
    int rejected = ck_check_payload_flips(&k_model, b, n, q, 0x9E3779B97F4A7C15ull, 10000);
    ck_assert_int_eq(rejected, 10000);
    free(b);
    ck_rmdir_all(dir);
}
END_TEST

/* ---- crafted files ------------------------------------------------------------ */

static void put32(ck_sections *s, uint32_t tag, size_t off, uint32_t v) {
    cns__le32_put(ck_sections_data(s, tag) + off, v);
}
static void putf64(ck_sections *s, uint32_t tag, size_t off, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    cns__le64_put(ck_sections_data(s, tag) + off, u);
}
static uint64_t *uptr(ck_sections *s) {
    return (uint64_t *)(void *)ck_sections_data(s, CNS__TAG_GRPH);
}
static int32_t *gitems(ck_sections *s) {
    return (int32_t *)(void *)(ck_sections_data(s, CNS__TAG_GRPH) + 8 * (NU + 1));
}
static float *fsec(ck_sections *s, uint32_t tag) {
    return (float *)(void *)ck_sections_data(s, tag);
}

static void m_dim0(ck_sections *s) { put32(s, CNS__TAG_MHDR, 0, 0); }
static void m_dim_big(ck_sections *s) { put32(s, CNS__TAG_MHDR, 0, 4097); }
static void m_dim_other(ck_sections *s) { put32(s, CNS__TAG_MHDR, 0, 4); } /* sizes disagree */
static void m_layers9(ck_sections *s) { put32(s, CNS__TAG_MHDR, 4, 9); }
static void m_users0(ck_sections *s) { put32(s, CNS__TAG_MHDR, 8, 0); }
static void m_users_huge(ck_sections *s) { put32(s, CNS__TAG_MHDR, 8, 0x7ffffff0u); }
static void m_users_max(ck_sections *s) { put32(s, CNS__TAG_MHDR, 8, 0xffffffffu); }
static void m_items_overflow(ck_sections *s) { put32(s, CNS__TAG_MHDR, 12, 0x7ffffffcu); }
static void m_lr_nan(ck_sections *s) { putf64(s, CNS__TAG_MHDR, 24, NAN); }
static void m_lr_neg(ck_sections *s) { putf64(s, CNS__TAG_MHDR, 24, -0.01); }
static void m_reg_inf(ck_sections *s) { putf64(s, CNS__TAG_MHDR, 32, INFINITY); }
static void m_beta1_one(ck_sections *s) { putf64(s, CNS__TAG_MHDR, 40, 1.0); }
static void m_eps_zero(ck_sections *s) { putf64(s, CNS__TAG_MHDR, 56, 0.0); }
static void m_ptr0(ck_sections *s) { uptr(s)[0] = 1; }
static void m_ptr_decrease(ck_sections *s) { uptr(s)[2] = 9; } /* user_ptr = 0 3 9 8 ... */
static void m_ptr_huge(ck_sections *s) { uptr(s)[3] = 0x8000000000000000ull; }
static void m_ptr_last(ck_sections *s) { /* ends before the section's interactions end */
    uptr(s)[NU] = NNZ - 1;
    uptr(s)[NU - 1] = NNZ - 1;
}
static void m_item_range(ck_sections *s) { gitems(s)[4] = NI; }
static void m_item_negative(ck_sections *s) { gitems(s)[0] = -1; }
static void m_item_unsorted(ck_sections *s) {
    gitems(s)[0] = 1; /* user 0: 1 1 2 */
}
static void m_item_swapped(ck_sections *s) {
    int32_t t = gitems(s)[5];
    gitems(s)[5] = gitems(s)[6]; /* user 2: 4 2 5 */
    gitems(s)[6] = t;
}
static void m_grph_ragged(ck_sections *s) {
    size_t i = ck_sections_index(s, CNS__TAG_GRPH);
    memset(s->data[i] + s->size[i], 0, 2);
    s->size[i] += 2;
}
static void m_grph_extra(ck_sections *s) { /* one more item than user_ptr covers */
    size_t i = ck_sections_index(s, CNS__TAG_GRPH);
    memset(s->data[i] + s->size[i], 0, 4);
    s->size[i] += 4;
}
static void m_grph_short(ck_sections *s) { s->size[ck_sections_index(s, CNS__TAG_GRPH)] = 8; }
static void m_egou_nan(ck_sections *s) { fsec(s, CNS__TAG_EGOU)[17] = NAN; }
static void m_egoi_inf(ck_sections *s) { fsec(s, CNS__TAG_EGOI)[79] = INFINITY; }
static void m_admm_nan(ck_sections *s) { fsec(s, CNS__TAG_ADMM)[0] = -NAN; }
static void m_admv_neg(ck_sections *s) { fsec(s, CNS__TAG_ADMV)[3] = -1e-3f; }
static void m_admv_inf(ck_sections *s) { fsec(s, CNS__TAG_ADMV)[100] = INFINITY; }
static void m_egou_short(ck_sections *s) { s->size[ck_sections_index(s, CNS__TAG_EGOU)] -= 4; }
static void m_egoi_long(ck_sections *s) {
    size_t i = ck_sections_index(s, CNS__TAG_EGOI);
    memset(s->data[i] + s->size[i], 0, 32);
    s->size[i] += 32;
}
static void m_admm_missing(ck_sections *s) { ck_sections_drop(s, CNS__TAG_ADMM); }
static void m_mhdr_missing(ck_sections *s) { ck_sections_drop(s, CNS__TAG_MHDR); }
static void m_grph_missing(ck_sections *s) { ck_sections_drop(s, CNS__TAG_GRPH); }
static void m_mhdr_short(ck_sections *s) { s->size[ck_sections_index(s, CNS__TAG_MHDR)] = 71; }
static void m_overflowing_ego(ck_sections *s) {
    /* Finite, but the first propagation layer overflows float:
     * user 0 sums 3 x 3e38 / sqrt(3 x 2). */
    float *u = fsec(s, CNS__TAG_EGOU), *i = fsec(s, CNS__TAG_EGOI);
    for (int k = 0; k < NU * DIM; ++k) u[k] = 3e38f;
    for (int k = 0; k < NI * DIM; ++k) i[k] = 3e38f;
}

/* Every one is damage: CNS_E_CORRUPT, with a message holding expect. */
static const ck_crafted k_crafted[] = {
    {"dim 0", m_dim0, CNS_E_CORRUPT, "dim = 0"},
    {"dim 4097", m_dim_big, CNS_E_CORRUPT, "dim = 4097"},
    {"dim 4, sections for 8", m_dim_other, CNS_E_CORRUPT,
     "section 'EGOU' is 224 bytes, expected 112"},
    {"layers 9", m_layers9, CNS_E_CORRUPT, "layers = 9"},
    {"no users", m_users0, CNS_E_CORRUPT, "0 users"},
    {"2^31 users", m_users_huge, CNS_E_CORRUPT, "section 'GRPH' is"},
    {"2^32-1 users", m_users_max, CNS_E_CORRUPT, "4294967295 users"},
    {"users + items overflow int32", m_items_overflow, CNS_E_CORRUPT, "2147483644 items"},
    {"lr NaN", m_lr_nan, CNS_E_CORRUPT, "lr = nan"},
    {"lr negative", m_lr_neg, CNS_E_CORRUPT, "lr = -0.01"},
    {"reg inf", m_reg_inf, CNS_E_CORRUPT, "reg = inf"},
    {"beta1 1", m_beta1_one, CNS_E_CORRUPT, "beta1 = 1"},
    {"eps 0", m_eps_zero, CNS_E_CORRUPT, "eps = 0"},
    {"user_ptr[0] 1", m_ptr0, CNS_E_CORRUPT, "user_ptr[0] = 1"},
    {"user_ptr decreases", m_ptr_decrease, CNS_E_CORRUPT, "user_ptr[3] = 8 after 9"},
    {"user_ptr 2^63", m_ptr_huge, CNS_E_CORRUPT, "user_ptr[3] = 9223372036854775808"},
    {"user_ptr ends early", m_ptr_last, CNS_E_CORRUPT, "user_ptr[7] = 14"},
    {"item id = num_items", m_item_range, CNS_E_CORRUPT, "item 10 is outside [0, 10)"},
    {"item id -1", m_item_negative, CNS_E_CORRUPT, "item -1"},
    {"duplicate item", m_item_unsorted, CNS_E_CORRUPT, "items 1, 1"},
    {"unsorted items", m_item_swapped, CNS_E_CORRUPT, "items 4, 2"},
    {"GRPH size ragged", m_grph_ragged, CNS_E_CORRUPT, "section 'GRPH' is 126 bytes"},
    {"GRPH extra item", m_grph_extra, CNS_E_CORRUPT, "holds 16 interactions"},
    {"GRPH shorter than offsets", m_grph_short, CNS_E_CORRUPT, "section 'GRPH' is 8 bytes"},
    {"NaN in EGOU", m_egou_nan, CNS_E_CORRUPT, "section 'EGOU': value 17 (row 2) is nan"},
    {"inf in EGOI", m_egoi_inf, CNS_E_CORRUPT, "section 'EGOI': value 79 (row 9) is inf"},
    {"NaN in ADMM", m_admm_nan, CNS_E_CORRUPT, "section 'ADMM': value 0"},
    {"negative ADMV", m_admv_neg, CNS_E_CORRUPT, "section 'ADMV': value 3"},
    {"inf in ADMV", m_admv_inf, CNS_E_CORRUPT, "section 'ADMV': value 100"},
    {"EGOU 4 bytes short", m_egou_short, CNS_E_CORRUPT,
     "section 'EGOU' is 220 bytes, expected 224"},
    {"EGOI 32 bytes long", m_egoi_long, CNS_E_CORRUPT, "section 'EGOI' is 352 bytes, expected 320"},
    {"no ADMM", m_admm_missing, CNS_E_CORRUPT, "no section 'ADMM'"},
    {"no MHDR", m_mhdr_missing, CNS_E_CORRUPT, "no section 'MHDR'"},
    {"no GRPH", m_grph_missing, CNS_E_CORRUPT, "no section 'GRPH'"},
    {"MHDR 71 bytes", m_mhdr_short, CNS_E_CORRUPT, "section 'MHDR' is 71 bytes"},
    {"ego overflows in propagation", m_overflowing_ego, CNS_E_CORRUPT, "do not propagate"},
};

START_TEST(test_crafted_files) {
    char dir[64], p[128], q[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    free(saved_model(dir, "m.ckpt", p, sizeof p, &n));
    snprintf(q, sizeof q, "%s/c.ckpt", dir);
    ck_check_crafted_cases(&k_model, CNS__CKPT_KIND_MODEL, p, q, k_tags, 6, k_crafted,
                           sizeof k_crafted / sizeof k_crafted[0]);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_wrong_kind_and_missing) {
    char dir[64], p[128], q[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/s.ckpt", dir);
    cns_sampler_desc d;
    cns_sampler_desc_init(&d);
    d.kind = CNS_SAMPLER_UNIFORM;
    d.dim = DIM;
    cns_sampler *s;
    ck_assert_status(cns_sampler_create(&d, NULL, &s, NULL), CNS_OK);
    ck_assert_status(cns_sampler_save(s, p), CNS_OK);
    cns_sampler_free(s);
    cns_model *l = (cns_model *)1;
    cns_error e;
    ck_assert_status(cns_model_load(p, NULL, &l, &e), CNS_E_CORRUPT);
    ck_assert_ptr_null(l);
    ck_assert_ptr_nonnull(strstr(e.message, "sampler checkpoint"));

    size_t n;
    free(saved_model(dir, "m.ckpt", q, sizeof q, &n));
    cns_sampler *ls = (cns_sampler *)1;
    ck_assert_status(cns_sampler_load(q, NULL, &ls, &e), CNS_E_CORRUPT);
    ck_assert_ptr_null(ls);

    snprintf(q, sizeof q, "%s/none.ckpt", dir);
    ck_assert_status(cns_model_load(q, NULL, &l, &e), CNS_E_NOFILE);
    ck_assert_ptr_null(l);
    ck_assert_ptr_nonnull(strstr(e.message, "none.ckpt"));
    ck_assert_status(cns_model_load(dir, NULL, &l, &e), CNS_E_NOFILE); /* a directory */
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_arguments) {
    cns_dataset *ds = tiny();
    cns_model *m = make(ds, 1, NULL);
    ck_assert_status(cns_model_save(NULL, "/tmp/x"), CNS_E_ARG);
    ck_assert_status(cns_model_save(m, NULL), CNS_E_ARG);
    ck_assert_str_eq(cns_model_last_error(m), "cns_model_save: path is NULL");
    /* A successful save leaves the last message as it is (model.h). */
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/m.ckpt", dir);
    ck_assert_status(cns_model_save(m, p), CNS_OK);
    ck_assert_str_eq(cns_model_last_error(m), "cns_model_save: path is NULL");
    ck_rmdir_all(dir);
    ck_assert_status(cns_model_save(m, ""), CNS_E_ARG);
    k_check_arguments(m);
    /* A missing directory: the temporary file cannot be created. */
    ck_assert_status(cns_model_save(m, "/nonexistent-dir-cns/m.ckpt"), CNS_E_IO);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "nonexistent-dir-cns"));
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* ---- failing I/O and allocations ---------------------------------------------- */

START_TEST(test_io_failures) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    cns_dataset *ds = tiny();
    cns_model *old = make(ds, 3, NULL), *m = make(ds, 4, NULL);
    train(m, 2, 0);
    size_t n;
    unsigned char *before = ck_saved_bytes(&k_model, old, dir, "m.ckpt", p, sizeof p, &n);

    /* How many calls a successful save makes. */
    char q[128];
    snprintf(q, sizeof q, "%s/count.ckpt", dir);
    ck_io count = ck_count_save_calls(&k_model, m, q);
    ck_assert_int_ge(count.writes, 7); /* header+table, padding, six payloads */
    ck_assert_int_eq(count.fsyncs, 2);  /* the file, then the directory */
    ck_assert_int_eq(count.renames, 1);
    ck_assert_int_eq(unlink(q), 0);

    ck_check_failed_saves(&k_model, m, p, dir, before, n, count.writes, "No space left");

    /* One byte per write: the container keeps going; same bytes as a plain save. */
    ck_io s = ck_io_never();
    s.short_writes = 1;
    cns__ckpt_io io = ck_hooks(&s);
    ck_assert_status(cns__model_save_io(m, p, &io), CNS_OK);
    size_t n2;
    unsigned char *after = ck_read_all(p, &n2);
    ck_assert_int_eq((long)n2, s.writes);
    ck_assert_status(cns_model_save(m, q), CNS_OK);
    ck_assert(ck_file_equals(q, after, n2));
    ck_assert_int_eq(unlink(q), 0);

    /* Only the directory fsync fails: the new file is in place (documented),
     * the call still reports CNS_E_IO. */
    ck_write_all(p, before, n);
    s = ck_io_never();
    s.fail_fsync = 1;
    io = ck_hooks(&s);
    ck_assert_status(cns__model_save_io(m, p, &io), CNS_E_IO);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "is written, but fsync of its directory"));
    ck_assert(ck_file_equals(p, after, n2));
    ck_assert_int_eq(ck_dir_count(dir, NULL, NULL), 1);

    free(before);
    free(after);
    cns_model_free(old);
    cns_model_free(m);
    cns_dataset_free(ds);
    ck_rmdir_all(dir);
}
END_TEST

static void same_loaded(void *ref, void *l, ck_counting *c) {
    (void)c;
    assert_same_model(ref, l);
}

START_TEST(test_allocation_failures_load) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    size_t n;
    free(saved_model(dir, "m.ckpt", p, sizeof p, &n));
    cns_model *ref;
    ck_assert_status(cns_model_load(p, NULL, &ref, NULL), CNS_OK);
    size_t k = ck_check_load_alloc_failures(&k_model, p, ref, same_loaded, 1);
    ck_assert_uint_gt(k, 10); /* the file buffer and every model buffer failed once */
    cns_model_free(ref);
    ck_rmdir_all(dir);
}
END_TEST

START_TEST(test_allocation_failures_save) {
    char dir[64], p[128];
    ck_tmpdir(dir, sizeof dir);
    cns_dataset *ds = tiny();
    cns_model *old = make(ds, 3, NULL);
    size_t n;
    unsigned char *before = ck_saved_bytes(&k_model, old, dir, "m.ckpt", p, sizeof p, &n);
    ck_counting c = {0, 0, SIZE_MAX, 0};
    cns_allocator a = ck_allocator(&c);
    cns_model *m = make(ds, 4, &a);
    train(m, 2, 0);
    const size_t live = c.live;
    size_t k = ck_check_save_alloc_failures(&k_model, m, p, dir, &c, before, n);
    ck_assert_uint_ge(k, 3); /* graph buffer, header, temporary name */
    ck_assert_uint_eq(c.live, live);
    /* The model is intact and still saves, loads and frees. */
    cns_model *l;
    ck_assert_status(cns_model_load(p, NULL, &l, NULL), CNS_OK);
    assert_same_model(m, l);
    cns_model_free(l);
    cns_model_free(m);
    ck_assert_uint_eq(c.live, 0);
    free(before);
    cns_model_free(old);
    cns_dataset_free(ds);
    ck_rmdir_all(dir);
}
END_TEST

/* The memory forms: the file's bytes, through the shared checks, for a
 * trained and an untrained model (ckpt_checks.h). */
START_TEST(test_memory_form) {
    char dir[64];
    ck_tmpdir(dir, sizeof dir);
    cns_dataset *ds = tiny();
    cns_model *fresh = make(ds, 3, NULL), *m = make(ds, 11, NULL);
    train(m, 5, 0);
    ck_check_memory_form(&k_model, fresh, dir);
    ck_check_memory_form(&k_model, m, dir);
    /* A non-finite weight is refused before anything is written, the
     * size query included. */
    float row[DIM];
    ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_ITEMS, 3, row), CNS_OK);
    row[5] = NAN;
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, 3, row), CNS_OK);
    size_t n = 7;
    ck_assert_status(cns_model_save_mem(m, NULL, 0, &n), CNS_E_NUMERIC);
    ck_assert_uint_eq(n, 7);
    ck_assert_ptr_nonnull(
        strstr(cns_model_last_error(m), "cns_model_save_mem: cannot save: section 'EGOI' value 29"));
    cns_model_free(fresh);
    cns_model_free(m);
    cns_dataset_free(ds);
    ck_rmdir_all(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("model_io");
    TCase *tc = tcase_create("model_io");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_untrained_and_mf_round_trip);
    tcase_add_test(tc, test_deterministic_bytes);
    tcase_add_test(tc, test_nonfinite_refused_at_save);
    tcase_add_test(tc, test_truncation_every_offset);
    tcase_add_test(tc, test_header_and_table_bit_flips);
    tcase_add_test(tc, test_random_payload_bit_flips);
    tcase_add_test(tc, test_crafted_files);
    tcase_add_test(tc, test_wrong_kind_and_missing);
    tcase_add_test(tc, test_arguments);
    tcase_add_test(tc, test_io_failures);
    tcase_add_test(tc, test_allocation_failures_load);
    tcase_add_test(tc, test_allocation_failures_save);
    tcase_add_test(tc, test_memory_form);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
