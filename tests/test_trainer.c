/* The one-call trainer (ALGORITHM.md §10) over all three samplers: the loss
 * falls, runs are reproducible, and a NaN stops training with a status
 * that names the step instead of reaching the weights. */
#include "train_rig.h"
#include "model_internal.h"
#include "trainer_internal.h"

/* 60 users in two groups, each liking one half of 40 items, so a trained
 * model must rank the group's half higher; default sampler shapes. */
static void rig_make_kind(rig *r, int kind, int threads, uint64_t seed) {
    const rig_spec s = {.users = 60, .items = 40, .data_state = rig_data_state(7), .dim = 16,
                        .seed = seed, .kind = kind, .model_threads = threads, .batch = 64};
    rig_make(r, &s);
}

static double run_epochs(rig *r, int epochs, cns_epoch_stats *last) {
    double first = 0;
    for (int e = 0; e < epochs; ++e) {
        cns_epoch_stats s;
        memset(&s, 0, sizeof s);
        s.struct_size = sizeof s;
        ck_assert_msg(cns_trainer_run_epoch(r->trainer, e, &s) == CNS_OK, "epoch %d: %s", e,
                      cns_trainer_last_error(r->trainer));
        ck_assert(isfinite(s.loss));
        ck_assert_uint_gt(s.batches, 0);
        if (e == 0) first = s.bpr;
        if (last) *last = s;
    }
    return first;
}

/* The loss falls for every kind of negatives. */
START_TEST(test_loss_falls) {
    const int kinds[] = {0, CNS_SAMPLER_UNIFORM, CNS_SAMPLER_DNS, CNS_SAMPLER_DIFFUSION};
    for (size_t k = 0; k < 4; ++k) {
        rig r;
        rig_make_kind(&r, kinds[k], 1, 3);
        cns_epoch_stats last;
        double first = run_epochs(&r, 30, &last);
        ck_assert_msg(last.bpr < 0.6 * first, "kind %d: BPR %g -> %g", kinds[k], first, last.bpr);
        if (kinds[k] == CNS_SAMPLER_DIFFUSION) {
            ck_assert(last.cl > 0.0);
            ck_assert(last.diffusion_loss > 0.0);
            ck_assert(last.phase_seconds[CNS_PHASE_DRAW] > 0.0);
        }
        /* The trained model ranks the user's own half of the items first. */
        int32_t top[5];
        size_t got = 0;
        ck_assert_status(cns_model_forward(r.model), CNS_OK);
        ck_assert_status(cns_model_recommend(r.model, 0, 5, top, NULL, &got), CNS_OK);
        ck_assert_uint_eq(got, 5);
        int own = 0;
        for (int j = 0; j < 5; ++j) own += top[j] < 20;
        ck_assert_int_ge(own, 4);
        rig_free(&r);
    }
}
END_TEST

/* Same seed, same thread count: bit-identical embeddings after two epochs;
 * and the same again with 2 library threads. */
START_TEST(test_reproducible) {
    for (int kind = 0; kind <= CNS_SAMPLER_DIFFUSION; kind += CNS_SAMPLER_DIFFUSION) {
        rig a, b, c;
        rig_make_kind(&a, kind, 1, 5);
        rig_make_kind(&b, kind, 1, 5);
        rig_make_kind(&c, kind, 2, 5);
        run_epochs(&a, 2, NULL);
        run_epochs(&b, 2, NULL);
        run_epochs(&c, 2, NULL);
        size_t n = (size_t)cns_model_num_items(a.model) * 16;
        ck_assert_int_eq(memcmp(cns_model_embeddings(a.model, CNS_TABLE_ITEMS),
                                cns_model_embeddings(b.model, CNS_TABLE_ITEMS), n * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(cns_model_embeddings(a.model, CNS_TABLE_ITEMS),
                                cns_model_embeddings(c.model, CNS_TABLE_ITEMS), n * sizeof(float)), 0);
        rig_free(&a);
        rig_free(&b);
        rig_free(&c);
    }
}
END_TEST

/* A NaN planted in an embedding row stops the epoch with CNS_E_NUMERIC
 * and a message naming the epoch and batch; the weights that were finite
 * stay finite. */
START_TEST(test_nan_stops_training) {
    rig r;
    rig_make_kind(&r, CNS_SAMPLER_DIFFUSION, 1, 9);
    run_epochs(&r, 1, NULL);
    float row[16];
    ck_assert_status(cns_model_get_ego_row(r.model, CNS_TABLE_USERS, 3, row), CNS_OK);
    row[5] = NAN;
    ck_assert_status(cns_model_set_ego_row(r.model, CNS_TABLE_USERS, 3, row), CNS_OK);
    cns_epoch_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    ck_assert_status(cns_trainer_run_epoch(r.trainer, 1, &s), CNS_E_NUMERIC);
    const char *msg = cns_trainer_last_error(r.trainer);
    ck_assert_msg(strstr(msg, "epoch 1, batch ") != NULL, "message: %s", msg);
    /* Every other user row is still finite. */
    for (int32_t u = 0; u < cns_model_num_users(r.model); ++u) {
        if (u == 3) continue;
        ck_assert_status(cns_model_get_ego_row(r.model, CNS_TABLE_USERS, u, row), CNS_OK);
        for (int j = 0; j < 16; ++j) ck_assert(isfinite(row[j]));
    }
    rig_free(&r);
}
END_TEST

/* One epoch of the host-driven loop of ALGORITHM.md §10 through the
 * public calls only, with a full forward per batch: what the trainer's
 * epoch must reproduce although its forward computes only the batch's
 * rows. Mirrors the trainer's order of calls, so every random draw lines
 * up. */
static void host_epoch(rig *r, cns_batcher *b, int kind, int64_t epoch) {
    const size_t cap = 64, d = 16;
    float *buf = malloc(7 * cap * d * sizeof *buf);
    float *eu = buf, *ep = eu + cap * d, *en = ep + cap * d, *h = en + cap * d;
    float *gu = h + cap * d, *gp = gu + cap * d, *gn = gp + cap * d;
    ck_assert_status(cns_loss_set_epoch(r->loss, epoch), CNS_OK);
    ck_assert_status(cns_batcher_begin_epoch(b, (uint64_t)epoch), CNS_OK);
    for (;;) {
        ck_assert_status(cns_model_forward(r->model), CNS_OK);
        const int32_t *users, *pos, *neg;
        size_t n;
        ck_assert_status(cns_batcher_next(b, &users, &pos, &neg, &n), CNS_OK);
        if (n == 0) break;
        ck_assert_status(cns_model_gather(r->model, CNS_TABLE_USERS, users, n, eu), CNS_OK);
        ck_assert_status(cns_model_gather(r->model, CNS_TABLE_ITEMS, pos, n, ep), CNS_OK);
        ck_assert_status(cns_model_gather(r->model, CNS_TABLE_ITEMS, neg, n, en), CNS_OK);
        const float *synth = NULL;
        if (kind == CNS_SAMPLER_DIFFUSION) {
            double dl;
            ck_assert_status(cns_sampler_train_step(r->sampler, ep, n, &dl), CNS_OK);
            ck_assert_status(cns_sampler_draw(r->sampler, eu, ep, n, h), CNS_OK);
            synth = h;
        }
        double loss, reg;
        ck_assert_status(cns_loss_compute(r->loss, eu, ep, en, synth, NULL, n, gu, gp, gn, &loss),
                         CNS_OK);
        ck_assert_status(cns_model_zero_grad(r->model), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(r->model, CNS_TABLE_USERS, users, n, gu),
                         CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(r->model, CNS_TABLE_ITEMS, pos, n, gp), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(r->model, CNS_TABLE_ITEMS, neg, n, gn), CNS_OK);
        ck_assert_status(cns_model_backward(r->model, users, pos, neg, n, &reg), CNS_OK);
        ck_assert_status(cns_model_step(r->model), CNS_OK);
    }
    free(buf);
}

/* The trainer's forward skips the rows a batch does not read; the weights
 * and embeddings after its epochs are bit for bit those of the host loop
 * with full forwards, for uniform and diffusion negatives (DNS reads the
 * whole catalogue and takes full forwards anyway). Batches of 32 over 120
 * users and 240 items leave most rows out of every batch. */
START_TEST(test_trainer_matches_host_loop) {
    const int kinds[] = {0, CNS_SAMPLER_DIFFUSION};
    for (size_t k = 0; k < 2; ++k) {
        rig a, h;
        const rig_spec spec = {.users = 120, .items = 240, .data_state = rig_data_state(7),
                               .dim = 16, .seed = 13, .kind = kinds[k], .model_threads = 2,
                               .batch = 32};
        rig_make(&a, &spec);
        rig_make(&h, &spec);
        cns_batcher *b = NULL;
        ck_assert_status(cns_batcher_create(h.train, 32, 13, NULL, &b, NULL), CNS_OK);
        run_epochs(&a, 2, NULL);
        host_epoch(&h, b, kinds[k], 0);
        host_epoch(&h, b, kinds[k], 1);
        const cns_table tables[2] = {CNS_TABLE_USERS, CNS_TABLE_ITEMS};
        for (int t = 0; t < 2; ++t) {
            const int32_t rows = t ? cns_model_num_items(a.model) : cns_model_num_users(a.model);
            const size_t n = (size_t)rows * 16;
            ck_assert_msg(memcmp(cns_model_embeddings(a.model, tables[t]),
                                 cns_model_embeddings(h.model, tables[t]), n * sizeof(float)) == 0,
                          "kind %d: %s embeddings differ", kinds[k], t ? "item" : "user");
        }
        float ra[16], rh[16];
        for (int32_t u = 0; u < cns_model_num_users(a.model); ++u) {
            ck_assert_status(cns_model_get_ego_row(a.model, CNS_TABLE_USERS, u, ra), CNS_OK);
            ck_assert_status(cns_model_get_ego_row(h.model, CNS_TABLE_USERS, u, rh), CNS_OK);
            ck_assert_int_eq(memcmp(ra, rh, sizeof ra), 0);
        }
        cns_batcher_free(b);
        rig_free(&a);
        rig_free(&h);
    }
}
END_TEST

/* The internal partial epoch of `cnsdiff bench scale`: k batches take k
 * Adam steps and end with a full forward; a limit beyond the epoch is the
 * whole epoch, bit for bit; 0 is refused. */
START_TEST(test_partial_epoch) {
    const int kinds[] = {0, CNS_SAMPLER_DIFFUSION};
    for (size_t q = 0; q < 2; ++q) {
        const rig_spec spec = {.users = 120, .items = 240, .data_state = rig_data_state(7),
                               .dim = 16, .seed = 13, .kind = kinds[q], .model_threads = 2,
                               .batch = 32};
        rig a, b, c;
        rig_make(&a, &spec);
        rig_make(&b, &spec);
        rig_make(&c, &spec);
        /* ceil(interactions / 32) batches, counted independently. */
        const size_t n = cns_dataset_num_interactions(a.train);
        ck_assert_uint_eq(cns__trainer_batches_per_epoch(a.trainer), (n + 31) / 32);
        ck_assert_uint_gt(n, 3 * 32);
        cns_epoch_stats s;
        memset(&s, 0, sizeof s);
        s.struct_size = sizeof s;
        ck_assert_status(cns__trainer_run_batches(a.trainer, 0, 3, &s), CNS_OK);
        ck_assert_uint_eq(s.batches, 3);
        ck_assert_uint_eq(cns_model_steps_taken(a.model), 3);
        /* The embeddings are a full forward of the weights, not batch rows only. */
        const size_t items = (size_t)cns_model_num_items(a.model) * 16;
        float *keep = malloc(items * sizeof *keep);
        ck_assert_ptr_nonnull(keep);
        memcpy(keep, cns_model_embeddings(a.model, CNS_TABLE_ITEMS), items * sizeof *keep);
        ck_assert_status(cns_model_forward(a.model), CNS_OK);
        ck_assert_int_eq(memcmp(keep, cns_model_embeddings(a.model, CNS_TABLE_ITEMS), items * sizeof *keep), 0);
        free(keep);
        /* A limit past the end is the whole epoch. */
        ck_assert_status(cns__trainer_run_batches(b.trainer, 0, (size_t)1 << 40, &s), CNS_OK);
        cns_epoch_stats w;
        memset(&w, 0, sizeof w);
        w.struct_size = sizeof w;
        ck_assert_status(cns_trainer_run_epoch(c.trainer, 0, &w), CNS_OK);
        ck_assert_uint_eq(s.batches, w.batches);
        ck_assert_uint_eq(s.batches, (n + 31) / 32);
        ck_assert_int_eq(memcmp(cns_model_embeddings(b.model, CNS_TABLE_ITEMS),
                                cns_model_embeddings(c.model, CNS_TABLE_ITEMS), items * sizeof(float)), 0);
        ck_assert_status(cns__trainer_run_batches(a.trainer, 1, 0, &s), CNS_E_ARG);
        ck_assert_ptr_nonnull(strstr(cns_trainer_last_error(a.trainer), "max_batches"));
        rig_free(&a);
        rig_free(&b);
        rig_free(&c);
    }
    ck_assert_status(cns__trainer_run_batches(NULL, 0, 1, NULL), CNS_E_ARG);
    ck_assert_uint_eq(cns__trainer_batches_per_epoch(NULL), 0);
}
END_TEST

/* CNS_MODEL_REFRESH_EVERY 0 and 1 are the exact path, bit for bit. */
START_TEST(test_refresh_one_is_exact) {
    const int kinds[] = {0, CNS_SAMPLER_DIFFUSION};
    for (size_t q = 0; q < 2; ++q) {
        rig a, b, c;
        rig_make_kind(&a, kinds[q], 2, 9);
        rig_make_kind(&b, kinds[q], 2, 9);
        rig_make_kind(&c, kinds[q], 2, 9);
        ck_assert_status(cns_model_set_int(b.model, CNS_MODEL_REFRESH_EVERY, 1), CNS_OK);
        ck_assert_status(cns_model_set_int(c.model, CNS_MODEL_REFRESH_EVERY, 0), CNS_OK);
        run_epochs(&a, 2, NULL);
        run_epochs(&b, 2, NULL);
        run_epochs(&c, 2, NULL);
        const size_t n = (size_t)cns_model_num_items(a.model) * 16;
        ck_assert_int_eq(memcmp(cns_model_embeddings(a.model, CNS_TABLE_ITEMS),
                                cns_model_embeddings(b.model, CNS_TABLE_ITEMS), n * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(cns_model_embeddings(a.model, CNS_TABLE_ITEMS),
                                cns_model_embeddings(c.model, CNS_TABLE_ITEMS), n * sizeof(float)), 0);
        rig_free(&a);
        rig_free(&b);
        rig_free(&c);
    }
}
END_TEST

/* K >= 2 propagates at steps 0, K, 2K, ... only (a forward and a backward
 * each) plus the epoch's closing forward; the exact path propagates at
 * every step. DNS ignores K. The stale model still learns the two groups. */
START_TEST(test_stale_reuses_propagation) {
    const int kinds[] = {0, CNS_SAMPLER_DIFFUSION, CNS_SAMPLER_DNS};
    for (size_t q = 0; q < 3; ++q) {
        rig a, b;
        rig_make_kind(&a, kinds[q], 1, 3);
        rig_make_kind(&b, kinds[q], 1, 3);
        ck_assert_status(cns_model_set_int(b.model, CNS_MODEL_REFRESH_EVERY, 4), CNS_OK);
        int64_t k = 0;
        ck_assert_status(cns_model_get_int(b.model, CNS_MODEL_REFRESH_EVERY, &k), CNS_OK);
        ck_assert_int_eq(k, 4);
        const size_t nb = (cns_dataset_num_interactions(a.train) + 63) / 64; /* batch 64 */
        ck_assert_uint_ge(nb, 6); /* two refreshes and a partial cycle at K = 4 */
        const uint64_t pa = a.model->propagations, pb = b.model->propagations;
        run_epochs(&a, 1, NULL);
        cns_epoch_stats first;
        run_epochs(&b, 1, &first);
        ck_assert_uint_eq(a.model->propagations - pa, 2 * nb + 1);
        const uint64_t expect = kinds[q] == CNS_SAMPLER_DNS ? 2 * nb + 1 : 2 * ((nb + 3) / 4) + 1;
        ck_assert_uint_eq(b.model->propagations - pb, expect);
        if (kinds[q] != CNS_SAMPLER_DNS) {
            cns_epoch_stats last;
            run_epochs(&b, 29, &last);
            ck_assert_msg(last.bpr < 0.6 * first.bpr, "kind %d: BPR %g -> %g", kinds[q], first.bpr, last.bpr);
            int32_t top[5];
            size_t got = 0;
            ck_assert_status(cns_model_recommend(b.model, 0, 5, top, NULL, &got), CNS_OK);
            int own = 0;
            for (size_t j = 0; j < got; ++j) own += top[j] < 20;
            ck_assert_int_ge(own, 4);
        }
        rig_free(&a);
        rig_free(&b);
    }
}
END_TEST

/* The stale step's arithmetic against values computed here from the
 * public getters: reused rows = E + (E0 - E0_snap) / (L + 1), and the
 * gradient = dL/dE / (L + 1) on the accumulated rows, 0 elsewhere (L2 0). */
START_TEST(test_stale_step_arithmetic) {
    rig r;
    rig_make_kind(&r, 0, 1, 4);
    cns_model *m = r.model;
    const int32_t ids[2] = {3, 7};
    float out[2 * 16], e[16], e0[16], snap[2][16], g[2 * 16];
    ck_assert_status(cns__model_gather_stale(m, CNS_TABLE_ITEMS, ids, 2, out), CNS_E_STATE);
    ck_assert_status(cns_model_set_int(m, CNS_MODEL_REFRESH_EVERY, 1000000000), CNS_OK);
    ck_assert_status(cns_model_set_int(m, CNS_MODEL_REFRESH_EVERY, -1), CNS_E_ARG);
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_REFRESH_EVERY, 2.0), CNS_E_PARAM);
    double lo, hi;
    ck_assert_status(cns_model_param_bounds(CNS_MODEL_REFRESH_EVERY, &lo, &hi), CNS_OK);
    ck_assert(lo == 0.0 && hi == 1e9);
    ck_assert_status(cns_model_forward(m), CNS_OK);
    cns__model_snapshot(m);
    for (int j = 0; j < 2; ++j) {
        ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_ITEMS, ids[j], snap[j]), CNS_OK);
        for (int k = 0; k < 16; ++k) e0[k] = snap[j][k] + 0.25f * (float)(k - 8);
        ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, ids[j], e0), CNS_OK);
    }
    ck_assert_status(cns__model_gather_stale(m, CNS_TABLE_ITEMS, ids, 2, out), CNS_OK);
    const float *E = cns_model_embeddings(m, CNS_TABLE_ITEMS); /* still the forward's: no forward since */
    for (int j = 0; j < 2; ++j) {
        memcpy(e, E + (size_t)ids[j] * 16, sizeof e);
        ck_assert_status(cns_model_get_ego_row(m, CNS_TABLE_ITEMS, ids[j], e0), CNS_OK);
        for (int k = 0; k < 16; ++k)
            ck_assert_float_eq_tol(out[j * 16 + k], e[k] + (e0[k] - snap[j][k]) / 3.0f, 1e-6f);
    }
    /* The gradient: rows 3 and 7 get g / 3, every other row 0. */
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_REG, 0.0), CNS_OK);
    for (int k = 0; k < 32; ++k) g[k] = 0.5f - 0.03f * (float)k;
    ck_assert_status(cns_model_zero_grad(m), CNS_OK);
    ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, ids, 2, g), CNS_OK);
    const int32_t users[1] = {0}, pos[1] = {3}, neg[1] = {7};
    ck_assert_status(cns__model_backward_self(m, users, pos, neg, 1, NULL), CNS_OK);
    const size_t nu = (size_t)cns_model_num_users(m), rows = nu + (size_t)cns_model_num_items(m);
    for (size_t row = 0; row < rows; ++row)
        for (int k = 0; k < 16; ++k) {
            float want = 0.0f;
            if (row == nu + 3) want = g[k] / 3.0f;
            if (row == nu + 7) want = g[16 + k] / 3.0f;
            ck_assert_float_eq_tol(m->grad_ego[row * 16 + k], want, 1e-7f);
        }
    ck_assert_status(cns_model_step(m), CNS_OK); /* the gradient is ready for Adam */
    rig_free(&r);
}
END_TEST

/* Setting K >= 2 allocates the E0 snapshot: a failed allocation is
 * CNS_E_NOMEM with the value unchanged, and the exact path keeps working. */
typedef struct gate {
    int fail;
} gate;
static void *gate_alloc(void *user, size_t n) { return ((gate *)user)->fail ? NULL : malloc(n); }
static void gate_free(void *user, void *p) {
    (void)user;
    free(p);
}

/* A model parameter whose non-zero values allocate: under a failing
 * allocator, setting want is CNS_E_NOMEM naming the parameter, with the
 * value left at 0; free_value needs no memory; once memory is back, want is
 * taken and the model still propagates. */
static void check_setter_out_of_memory(int id, const char *name, int64_t want,
                                       int64_t free_value) {
    cns_dataset *train = NULL;
    ck_assert_status(rig_dataset(20, 16, rig_data_state(3), &train), CNS_OK);
    gate g = {0};
    cns_allocator a = {gate_alloc, gate_free, &g};
    cns_model_desc md;
    cns_model_desc_init(&md);
    md.dim = 8;
    cns_model *m = NULL;
    ck_assert_status(cns_model_create(train, &md, &a, &m, NULL), CNS_OK);
    g.fail = 1;
    ck_assert_status(cns_model_set_int(m, id, want), CNS_E_NOMEM);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), name));
    int64_t v = -1;
    ck_assert_status(cns_model_get_int(m, id, &v), CNS_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_status(cns_model_set_int(m, id, free_value), CNS_OK); /* needs no memory */
    g.fail = 0;
    ck_assert_status(cns_model_set_int(m, id, want), CNS_OK);
    ck_assert_status(cns_model_forward(m), CNS_OK);
    cns_model_free(m);
    cns_dataset_free(train);
}

START_TEST(test_refresh_setter_out_of_memory) {
    check_setter_out_of_memory(CNS_MODEL_REFRESH_EVERY, "CNS_MODEL_REFRESH_EVERY", 3, 1);
}
END_TEST

/* A step that fails after the batch-rows forward leaves the host no stale
 * rows: the embeddings are those of a full forward of the weights. */
START_TEST(test_failed_epoch_leaves_full_embeddings) {
    rig r;
    rig_make_kind(&r, 0, 1, 17);
    run_epochs(&r, 1, NULL);
    ck_assert_status(cns_model_set_double(r.model, CNS_MODEL_LR, 1e30), CNS_OK);
    cns_epoch_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    ck_assert_status(cns_trainer_run_epoch(r.trainer, 1, &s), CNS_E_NUMERIC);
    ck_assert_msg(strstr(cns_trainer_last_error(r.trainer), ": adam step: "), "%s",
                  cns_trainer_last_error(r.trainer));
    /* Both tables: a batch of 64 lists most items but leaves many users out. */
    const int32_t nu = cns_model_num_users(r.model), ni = cns_model_num_items(r.model);
    const size_t n = (size_t)(nu + ni) * 16;
    float *seen = malloc(n * sizeof *seen);
    memcpy(seen, cns_model_embeddings(r.model, CNS_TABLE_USERS), (size_t)nu * 16 * sizeof *seen);
    memcpy(seen + (size_t)nu * 16, cns_model_embeddings(r.model, CNS_TABLE_ITEMS),
           (size_t)ni * 16 * sizeof *seen);
    ck_assert_status(cns_model_forward(r.model), CNS_OK);
    ck_assert_int_eq(memcmp(seen, cns_model_embeddings(r.model, CNS_TABLE_USERS),
                            (size_t)nu * 16 * sizeof *seen), 0);
    ck_assert_int_eq(memcmp(seen + (size_t)nu * 16, cns_model_embeddings(r.model, CNS_TABLE_ITEMS),
                            (size_t)ni * 16 * sizeof *seen), 0);
    free(seen);
    rig_free(&r);
}
END_TEST

/* An overflow that only the last layer of a row outside the batch would
 * show must still stop the epoch at its first forward, as a full forward
 * does: user 0 and item 0 have degree 1, so a weight of 2.5e38 in user 0
 * stays finite through layer 1 and doubles past FLT_MAX in layer 2, in
 * user 0's row only. */
START_TEST(test_overflow_outside_the_batch_is_caught) {
    enum { PAIRS = 1 + 20 * 5 };
    int32_t u[PAIRS], it[PAIRS];
    u[0] = 0;
    it[0] = 0;
    for (int k = 1; k < PAIRS; ++k) {
        u[k] = 1 + (k - 1) / 5;
        it[k] = 1 + (k * 7) % 10;
    }
    /* (k * 7) % 10 over five consecutive k repeats no item: valid pairs. */
    cns_dataset *ds = NULL;
    ck_assert_status(cns_dataset_from_arrays(u, it, PAIRS, 21, 11, NULL, &ds, NULL), CNS_OK);
    cns_model_desc md;
    cns_model_desc_init(&md);
    md.dim = 8;
    md.seed = 3;
    cns_model *m = NULL;
    ck_assert_status(cns_model_create(ds, &md, NULL, &m, NULL), CNS_OK);
    cns_loss_desc ld;
    cns_loss_desc_init(&ld);
    ld.dim = 8;
    cns_loss *l = NULL;
    ck_assert_status(cns_loss_create(&ld, NULL, &l, NULL), CNS_OK);
    cns_trainer *t = NULL;
    ck_assert_status(cns_trainer_create(m, NULL, l, ds, 2, 5, NULL, &t, NULL), CNS_OK);
    ck_assert_status(cns_trainer_run_epoch(t, 0, NULL), CNS_OK); /* Adam now has its bounds */
    const uint64_t steps = cns_model_steps_taken(m);
    float row[8];
    for (int j = 0; j < 8; ++j) row[j] = 2.5e38f;
    ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_USERS, 0, row), CNS_OK);
    ck_assert_status(cns_trainer_run_epoch(t, 1, NULL), CNS_E_NUMERIC);
    ck_assert_msg(strstr(cns_trainer_last_error(t), "epoch 1, batch 0: forward: final embedding "
                                                    "of user row 0 overflowed"),
                  "%s", cns_trainer_last_error(t));
    ck_assert_uint_eq(cns_model_steps_taken(m), steps);
    cns_trainer_free(t);
    cns_loss_free(l);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* A learning rate of 1e30 is refused within one epoch, every time. */
START_TEST(test_huge_lr_refused) {
    rig r;
    rig_make_kind(&r, 0, 1, 11);
    ck_assert_status(cns_model_set_double(r.model, CNS_MODEL_LR, 1e30), CNS_OK);
    cns_epoch_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    int st = CNS_OK;
    for (int e = 0; e < 3 && st == CNS_OK; ++e) st = cns_trainer_run_epoch(r.trainer, e, &s);
    ck_assert_status(st, CNS_E_NUMERIC);
    rig_free(&r);
}
END_TEST

START_TEST(test_misuse) {
    cns_error err;
    rig r;
    rig_make_kind(&r, 0, 1, 1);
    cns_trainer *t = NULL;
    ck_assert_status(cns_trainer_create(NULL, NULL, r.loss, r.train, 8, 1, NULL, &t, &err), CNS_E_ARG);
    ck_assert_ptr_null(t);
    ck_assert(strlen(err.message) > 0);
    ck_assert_status(cns_trainer_create(r.model, NULL, NULL, r.train, 8, 1, NULL, &t, &err), CNS_E_ARG);
    ck_assert_status(cns_trainer_create(r.model, NULL, r.loss, r.train, 0, 1, NULL, &t, &err), CNS_E_ARG);
    ck_assert_status(cns_trainer_create(r.model, NULL, r.loss, NULL, 8, 1, NULL, &t, &err), CNS_E_ARG);
    ck_assert_status(cns_trainer_create(r.model, NULL, r.loss, r.train, 8, 1, NULL, NULL, &err), CNS_E_ARG);
    /* A training set of another shape than the model's. */
    cns_dataset *other;
    ck_assert_status(rig_dataset(10, 40, rig_data_state(1), &other), CNS_OK);
    ck_assert_status(cns_trainer_create(r.model, NULL, r.loss, other, 8, 1, NULL, &t, &err), CNS_E_SIZE);
    ck_assert(strstr(err.message, "users") != NULL);
    cns_dataset_free(other);
    cns_epoch_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = 4;
    ck_assert_status(cns_trainer_run_epoch(r.trainer, 0, &s), CNS_E_SIZE);
    ck_assert_status(cns_trainer_run_epoch(r.trainer, -1, NULL), CNS_E_ARG);
    ck_assert_status(cns_trainer_run_epoch(NULL, 0, NULL), CNS_E_ARG);
    ck_assert(strlen(cns_trainer_last_error(r.trainer)) > 0);
    cns_trainer_free(NULL);
    rig_free(&r);
}
END_TEST

/* ---- lazy Adam on row-sparse steps (CNS_MODEL_SPARSE_ADAM, §17) ----------- */

static void rig_make_layers(rig *r, int kind, int mf, uint64_t seed) {
    const rig_spec s = {.users = 60, .items = 40, .data_state = rig_data_state(7), .dim = 16,
                        .seed = seed, .kind = kind, .model_threads = 2, .batch = 64, .mf = mf};
    rig_make(r, &s);
}

static int same_embeddings(const cns_model *a, const cns_model *b) {
    const size_t nu = (size_t)cns_model_num_users(a) * 16, ni = (size_t)cns_model_num_items(a) * 16;
    return memcmp(cns_model_embeddings(a, CNS_TABLE_USERS), cns_model_embeddings(b, CNS_TABLE_USERS),
                  nu * sizeof(float)) == 0 &&
           memcmp(cns_model_embeddings(a, CNS_TABLE_ITEMS), cns_model_embeddings(b, CNS_TABLE_ITEMS),
                  ni * sizeof(float)) == 0;
}

/* The setter's range and types, and its allocation (the row list). */
START_TEST(test_sparse_adam_param) {
    rig r;
    rig_make_kind(&r, 0, 1, 4);
    cns_model *m = r.model;
    int64_t v = -1;
    ck_assert_status(cns_model_get_int(m, CNS_MODEL_SPARSE_ADAM, &v), CNS_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_status(cns_model_set_int(m, CNS_MODEL_SPARSE_ADAM, 1), CNS_OK);
    ck_assert_status(cns_model_get_int(m, CNS_MODEL_SPARSE_ADAM, &v), CNS_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_status(cns_model_set_int(m, CNS_MODEL_SPARSE_ADAM, 2), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(cns_model_last_error(m), "CNS_MODEL_SPARSE_ADAM"));
    ck_assert_status(cns_model_set_int(m, CNS_MODEL_SPARSE_ADAM, -1), CNS_E_ARG);
    ck_assert_status(cns_model_get_int(m, CNS_MODEL_SPARSE_ADAM, &v), CNS_OK);
    ck_assert_int_eq(v, 1); /* refused values change nothing */
    ck_assert_status(cns_model_set_double(m, CNS_MODEL_SPARSE_ADAM, 1.0), CNS_E_PARAM);
    double d = 0;
    ck_assert_status(cns_model_get_double(m, CNS_MODEL_SPARSE_ADAM, &d), CNS_E_PARAM);
    double lo = -1, hi = -1;
    ck_assert_status(cns_model_param_bounds(CNS_MODEL_SPARSE_ADAM, &lo, &hi), CNS_OK);
    ck_assert(lo == 0.0 && hi == 1.0);
    ck_assert_status(cns_model_set_int(m, CNS_MODEL_SPARSE_ADAM, 0), CNS_OK);
    ck_assert_status(cns_model_get_int(m, CNS_MODEL_SPARSE_ADAM, &v), CNS_OK);
    ck_assert_int_eq(v, 0);
    rig_free(&r);
    check_setter_out_of_memory(CNS_MODEL_SPARSE_ADAM, "CNS_MODEL_SPARSE_ADAM", 1, 0);
}
END_TEST

/* The default path does not depend on the new code: a model that had
 * sparse Adam on and off again trains bit-identically to an untouched one,
 * for MF and LightGCN, uniform and diffusion negatives; so does exact
 * LightGCN with sparse Adam on (it has no row-sparse step), while MF with
 * it on takes another path (so the comparison can fail). */
START_TEST(test_sparse_off_is_the_default_path) {
    const int kinds[] = {0, CNS_SAMPLER_DIFFUSION};
    for (size_t q = 0; q < 2; ++q)
        for (int mf = 0; mf <= 1; ++mf) {
            rig a, b, c;
            rig_make_layers(&a, kinds[q], mf, 9);
            rig_make_layers(&b, kinds[q], mf, 9);
            rig_make_layers(&c, kinds[q], mf, 9);
            ck_assert_status(cns_model_set_int(b.model, CNS_MODEL_SPARSE_ADAM, 1), CNS_OK);
            ck_assert_status(cns_model_set_int(b.model, CNS_MODEL_SPARSE_ADAM, 0), CNS_OK);
            ck_assert_status(cns_model_set_int(c.model, CNS_MODEL_SPARSE_ADAM, 1), CNS_OK);
            run_epochs(&a, 2, NULL);
            run_epochs(&b, 2, NULL);
            run_epochs(&c, 2, NULL);
            ck_assert_msg(same_embeddings(a.model, b.model), "kind %d mf %d", kinds[q], mf);
            if (mf)
                ck_assert_msg(!same_embeddings(a.model, c.model), "kind %d: lazy MF = dense", kinds[q]);
            else
                ck_assert_msg(same_embeddings(a.model, c.model), "kind %d: exact LightGCN moved", kinds[q]);
            ck_assert_uint_eq(cns_model_steps_taken(a.model), cns_model_steps_taken(c.model));
            rig_free(&a);
            rig_free(&b);
            rig_free(&c);
        }
}
END_TEST

/* One row-sparse backward and lazy step against float64 values computed
 * here, for MF and for LightGCN (the stale step's gradient, 1/3 of dL/dE
 * with 2 layers), after a dense step left a gradient on every row of
 * grad_ego and nonzero moments everywhere: the listed rows are the
 * accumulated ones and the batch's (item 9 gets only the L2 term); each
 * gets g / (L + 1) + reg e0 / n per occurrence; the step moves exactly
 * those rows by lazy Adam with the global t; every other weight and moment
 * keeps its bits; and the next cns_model_zero_grad clears the rows. */
START_TEST(test_sparse_row_step_arithmetic) {
    for (int mf = 0; mf <= 1; ++mf) {
        rig r;
        rig_make_layers(&r, 0, mf, 4);
        cns_model *m = r.model;
        const size_t d = 16, nu = (size_t)cns_model_num_users(m);
        const size_t rows = nu + (size_t)cns_model_num_items(m), total = rows * d;
        const double reg = 0.05, L1 = mf ? 1.0 : 3.0;
        ck_assert_status(cns_model_set_double(m, CNS_MODEL_REG, reg), CNS_OK);
        /* Without the parameter there is no row list: refused. */
        const int32_t users[2] = {0, 5}, pos[2] = {3, 3}, neg[2] = {7, 9};
        ck_assert_status(cns__model_backward_rows(m, users, pos, neg, 2, NULL), CNS_E_STATE);
        ck_assert_status(cns_model_set_int(m, CNS_MODEL_SPARSE_ADAM, 1), CNS_OK);
        /* A dense step first: a gradient on every row, moments everywhere. */
        ck_assert_status(cns_model_forward(m), CNS_OK);
        float *gall = malloc(total * sizeof *gall);
        for (size_t i = 0; i < total; ++i) gall[i] = (float)sin(0.37 * (double)i);
        const int32_t *ids_u = NULL;
        ck_assert_status(cns_model_zero_grad(m), CNS_OK);
        int32_t *every = malloc(rows * sizeof *every);
        for (size_t i = 0; i < rows; ++i) every[i] = (int32_t)i;
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_USERS, every, nu, gall), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, every, rows - nu, gall + nu * d),
                         CNS_OK);
        ck_assert_status(cns_model_backward(m, users, pos, neg, 2, NULL), CNS_OK);
        ck_assert_status(cns_model_step(m), CNS_OK);
        (void)ids_u;
        /* The row-sparse step. */
        float *e0 = malloc(total * sizeof *e0), *m0 = malloc(total * sizeof *m0),
              *v0 = malloc(total * sizeof *v0);
        memcpy(e0, m->ego, total * sizeof *e0);
        memcpy(m0, m->adam.m, total * sizeof *m0);
        memcpy(v0, m->adam.v, total * sizeof *v0);
        const uint64_t t = cns_model_steps_taken(m) + 1;
        float gu[2 * 16], gi[2 * 16];
        for (size_t k = 0; k < 32; ++k) {
            gu[k] = 0.4f - 0.02f * (float)k;
            gi[k] = -0.3f + 0.025f * (float)k;
        }
        const int32_t acc_items[2] = {3, 7};
        ck_assert_status(cns_model_zero_grad(m), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_USERS, users, 2, gu), CNS_OK);
        ck_assert_status(cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, acc_items, 2, gi), CNS_OK);
        double regl = -1;
        ck_assert_status(cns__model_backward_rows(m, users, pos, neg, 2, &regl), CNS_OK);
        const size_t want_rows[5] = {0, 5, nu + 3, nu + 7, nu + 9};
        ck_assert_uint_eq(m->n_step_rows, 5);
        for (size_t q = 0; q < 5; ++q) ck_assert_uint_eq((size_t)m->step_rows[q], want_rows[q]);
        double want_reg = 0;
        double *g = calloc(total, sizeof *g);
        for (size_t q = 0; q < 5; ++q) {
            const size_t r0 = want_rows[q];
            const double occ = r0 == nu + 3 ? 2.0 : 1.0; /* item 3 is both batches' positive */
            for (size_t k = 0; k < d; ++k) {
                double acc = 0;
                if (r0 == 0) acc = gu[k];
                if (r0 == 5) acc = gu[16 + k];
                if (r0 == nu + 3) acc = gi[k];
                if (r0 == nu + 7) acc = gi[16 + k];
                const double e = e0[r0 * d + k];
                g[r0 * d + k] = acc / L1 + occ * reg * e / 2.0;
                want_reg += occ * e * e;
                ck_assert_msg(fabs((double)m->grad_ego[r0 * d + k] - g[r0 * d + k]) <= 1e-6,
                              "mf %d row %zu: %g vs %g", mf, r0, (double)m->grad_ego[r0 * d + k],
                              g[r0 * d + k]);
            }
        }
        ck_assert(fabs(regl - reg * want_reg / 4.0) <= 1e-6 * (1.0 + regl));
        ck_assert_status(cns_model_step(m), CNS_OK);
        ck_assert_uint_eq(cns_model_steps_taken(m), t);
        const double b1 = (double)0.9f, b2 = (double)0.999f;
        const double c1 = 1.0 - pow(0.9, (double)t), c2 = 1.0 - pow(0.999, (double)t);
        for (size_t r0 = 0; r0 < rows; ++r0) {
            int listed = 0;
            for (size_t q = 0; q < 5; ++q) listed |= want_rows[q] == r0;
            for (size_t k = 0; k < d; ++k) {
                const size_t i = r0 * d + k;
                if (!listed) {
                    ck_assert_msg(memcmp(&m->ego[i], &e0[i], 4) == 0 && memcmp(&m->adam.m[i], &m0[i], 4) == 0 &&
                                      memcmp(&m->adam.v[i], &v0[i], 4) == 0,
                                  "mf %d: untouched row %zu moved", mf, r0);
                    continue;
                }
                const double mm = b1 * m0[i] + (1 - b1) * g[i], vv = b2 * v0[i] + (1 - b2) * g[i] * g[i];
                const double want = e0[i] - 0.01 * (mm / c1) / (sqrt(vv / c2) + 1e-8);
                ck_assert_msg(fabs((double)m->ego[i] - want) <= 1e-6 + 1e-5 * fabs(want),
                              "mf %d row %zu: %.9g vs %.9g", mf, r0, (double)m->ego[i], want);
            }
        }
        /* The accumulated rows are cleared for the next batch. */
        ck_assert_status(cns_model_zero_grad(m), CNS_OK);
        for (size_t i = 0; i < total; ++i) ck_assert(m->grad[i] == 0.0f);
        ck_assert_status(cns_model_step(m), CNS_E_STATE); /* the gradient was used */
        free(g);
        free(e0);
        free(m0);
        free(v0);
        free(every);
        free(gall);
        rig_free(&r);
    }
}
END_TEST

/* The trainer's row-sparse steps: MF propagates only at the epoch's end
 * (E is E0) and LightGCN with K = 4 as often as the stale path; DNS stays
 * dense. Both still learn the two groups, and the stale path's results
 * change with lazy Adam (its reusing steps take it). */
START_TEST(test_sparse_trainer_paths) {
    const int kinds[] = {0, CNS_SAMPLER_DIFFUSION, CNS_SAMPLER_DNS};
    for (size_t q = 0; q < 3; ++q)
        for (int mf = 0; mf <= 1; ++mf) {
            rig a, b;
            rig_make_layers(&a, kinds[q], mf, 3);
            rig_make_layers(&b, kinds[q], mf, 3);
            ck_assert_status(cns_model_set_int(a.model, CNS_MODEL_REFRESH_EVERY, 4), CNS_OK);
            ck_assert_status(cns_model_set_int(b.model, CNS_MODEL_REFRESH_EVERY, 4), CNS_OK);
            ck_assert_status(cns_model_set_int(b.model, CNS_MODEL_SPARSE_ADAM, 1), CNS_OK);
            const size_t nb = (cns_dataset_num_interactions(b.train) + 63) / 64;
            const uint64_t pb = b.model->propagations;
            cns_epoch_stats first;
            run_epochs(&a, 1, NULL);
            run_epochs(&b, 1, &first);
            const int dns = kinds[q] == CNS_SAMPLER_DNS;
            const uint64_t expect = dns ? 2 * nb + 1 : mf ? 1 : 2 * ((nb + 3) / 4) + 1;
            ck_assert_msg(b.model->propagations - pb == expect, "kind %d mf %d: %llu propagations",
                          kinds[q], mf, (unsigned long long)(b.model->propagations - pb));
            ck_assert_uint_eq(cns_model_steps_taken(b.model), nb);
            ck_assert_msg(dns == same_embeddings(a.model, b.model), "kind %d mf %d", kinds[q], mf);
            if (!dns) {
                cns_epoch_stats last;
                run_epochs(&b, 29, &last);
                ck_assert_msg(last.bpr < 0.6 * first.bpr, "kind %d mf %d: BPR %g -> %g", kinds[q], mf,
                              first.bpr, last.bpr);
                int32_t top[5];
                size_t got = 0;
                ck_assert_status(cns_model_recommend(b.model, 0, 5, top, NULL, &got), CNS_OK);
                int own = 0;
                for (size_t j = 0; j < got; ++j) own += top[j] < 20;
                ck_assert_int_ge(own, 4);
                /* The host sees E of the last weights: a full forward changes nothing. */
                const size_t n = (size_t)cns_model_num_items(b.model) * 16;
                float *seen = malloc(n * sizeof *seen);
                memcpy(seen, cns_model_embeddings(b.model, CNS_TABLE_ITEMS), n * sizeof *seen);
                ck_assert_status(cns_model_forward(b.model), CNS_OK);
                ck_assert_int_eq(memcmp(seen, cns_model_embeddings(b.model, CNS_TABLE_ITEMS), n * sizeof *seen), 0);
                free(seen);
            }
            rig_free(&a);
            rig_free(&b);
        }
}
END_TEST

/* A non-finite weight planted by the host stops an MF row-sparse epoch at
 * the gather of its batch, named, without reaching Adam. */
START_TEST(test_sparse_mf_planted_nan) {
    rig r;
    rig_make_layers(&r, 0, 1, 5);
    ck_assert_status(cns_model_set_int(r.model, CNS_MODEL_SPARSE_ADAM, 1), CNS_OK);
    float row[16];
    for (int k = 0; k < 16; ++k) row[k] = k == 3 ? NAN : 0.1f;
    for (int32_t u = 0; u < cns_model_num_users(r.model); ++u)
        ck_assert_status(cns_model_set_ego_row(r.model, CNS_TABLE_USERS, u, row), CNS_OK);
    ck_assert_status(cns_trainer_run_epoch(r.trainer, 0, NULL), CNS_E_NUMERIC);
    ck_assert_msg(strstr(cns_trainer_last_error(r.trainer), "batch 0: gather:") != NULL, "%s",
                  cns_trainer_last_error(r.trainer));
    ck_assert_uint_eq(cns_model_steps_taken(r.model), 0);
    rig_free(&r);
}
END_TEST

int main(void) {
    Suite *s = suite_create("trainer");
    TCase *tc = tcase_create("trainer");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_loss_falls);
    tcase_add_test(tc, test_reproducible);
    tcase_add_test(tc, test_trainer_matches_host_loop);
    tcase_add_test(tc, test_partial_epoch);
    tcase_add_test(tc, test_refresh_one_is_exact);
    tcase_add_test(tc, test_stale_reuses_propagation);
    tcase_add_test(tc, test_stale_step_arithmetic);
    tcase_add_test(tc, test_refresh_setter_out_of_memory);
    tcase_add_test(tc, test_failed_epoch_leaves_full_embeddings);
    tcase_add_test(tc, test_overflow_outside_the_batch_is_caught);
    tcase_add_test(tc, test_nan_stops_training);
    tcase_add_test(tc, test_huge_lr_refused);
    tcase_add_test(tc, test_misuse);
    tcase_add_test(tc, test_sparse_adam_param);
    tcase_add_test(tc, test_sparse_off_is_the_default_path);
    tcase_add_test(tc, test_sparse_row_step_arithmetic);
    tcase_add_test(tc, test_sparse_trainer_paths);
    tcase_add_test(tc, test_sparse_mf_planted_nan);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
