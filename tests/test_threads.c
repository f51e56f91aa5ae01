/* Threads (docs/THREADING.md rules 2 and 3): independent handles trained
 * concurrently give the same bits as the same work done on one thread, and
 * the read-only model calls (recommend, gather, embeddings) run
 * concurrently on one shared model with the single-threaded answers.
 * tests/ci/tsan.sh runs this suite under ThreadSanitizer. */
#include <pthread.h>

#include "train_rig.h"

enum { NTHREADS = 4, NJOBS = 5, USERS = 40, ITEMS = 30, DIM = 8, EPOCHS = 2, TOPK = 5 };

static const uint64_t k_data_state = 12345;

/* ---- independent training ---------------------------------------------- */

typedef struct job {
    int kind;       /* sampler kind, 0 = none */
    int direction;  /* the direction-mode preset (its collapsed loss) instead of PAPER */
    uint64_t seed;
    int lib_threads;
    float ego[(USERS + ITEMS) * DIM]; /* result: every ego row */
    int status;
    char where[RIG_WHERE_SIZE];
} job;

/* Builds its own dataset, model, sampler, loss and trainer, trains, and
 * copies the ego embeddings out. No Check macros: they are not for use
 * off the main thread; failures go into status/where. */
static void *train_job(void *arg) {
    job *j = arg;
    const rig_spec spec = {.users = USERS, .items = ITEMS, .data_state = k_data_state, .dim = DIM,
                           .seed = j->seed, .kind = j->kind, .steps = 6, .time_dim = 8,
                           .hidden = 16, .sample_start = 2, .stride = 2, .num_steps = 6,
                           .model_threads = j->lib_threads, .sampler_threads = j->lib_threads,
                           .loss_threads = j->lib_threads, .direction = j->direction,
                           .batch = 32};
    rig r;
    int st = rig_build(&r, &spec);
    if (st == CNS_OK) st = rig_epochs(&r, EPOCHS);
    /* A failed build leaves no trainer; a failed epoch's trainer says where. */
    if (st != CNS_OK)
        snprintf(j->where, sizeof j->where, "%s",
                 r.trainer ? cns_trainer_last_error(r.trainer) : r.where);
    for (int32_t k = 0; k < USERS && st == CNS_OK; ++k)
        st = cns_model_get_ego_row(r.model, CNS_TABLE_USERS, k, j->ego + (size_t)k * DIM);
    for (int32_t k = 0; k < ITEMS && st == CNS_OK; ++k)
        st = cns_model_get_ego_row(r.model, CNS_TABLE_ITEMS, k,
                                   j->ego + (size_t)(USERS + k) * DIM);
    rig_free(&r);
    j->status = st;
    return NULL;
}

static job g_ref[NJOBS], g_par[NJOBS];

static void train_concurrently(int lib_threads) {
    static const int kinds[NJOBS] = {CNS_SAMPLER_DIFFUSION, CNS_SAMPLER_DNS, 0,
                                      CNS_SAMPLER_DIFFUSION, CNS_SAMPLER_DIFFUSION};
    for (int k = 0; k < NJOBS; ++k) {
        memset(&g_ref[k], 0, sizeof g_ref[k]);
        g_ref[k].kind = kinds[k];
        g_ref[k].direction = k == 4;
        g_ref[k].seed = 100 + (uint64_t)k;
        g_ref[k].lib_threads = lib_threads;
        g_par[k] = g_ref[k];
        /* The reference: the same job, alone, on this thread. */
        train_job(&g_ref[k]);
        ck_assert_msg(g_ref[k].status == CNS_OK, "reference %d: %s: %s", k,
                      cns_status_name(g_ref[k].status), g_ref[k].where);
    }
    pthread_t th[NJOBS];
    for (int k = 0; k < NJOBS; ++k)
        ck_assert_int_eq(pthread_create(&th[k], NULL, train_job, &g_par[k]), 0);
    for (int k = 0; k < NJOBS; ++k) ck_assert_int_eq(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < NJOBS; ++k) {
        ck_assert_msg(g_par[k].status == CNS_OK, "thread %d: %s: %s", k,
                      cns_status_name(g_par[k].status), g_par[k].where);
        ck_assert_msg(memcmp(g_par[k].ego, g_ref[k].ego, sizeof g_ref[k].ego) == 0,
                      "thread %d (kind %d) differs from its single-threaded run", k, g_ref[k].kind);
    }
    /* Jobs 0 and 3 differ only in seed: a sanity check that the
     * comparison can tell two models apart. */
    ck_assert(memcmp(g_ref[0].ego, g_ref[3].ego, sizeof g_ref[0].ego) != 0);
    /* Job 4 (direction mode, collapsed contrastive term on the loss's
     * threads) trains a model of its own too. */
    ck_assert(memcmp(g_ref[4].ego, g_ref[3].ego, sizeof g_ref[4].ego) != 0);
}

START_TEST(test_independent_training) { train_concurrently(1); }
END_TEST

/* The same with each handle running 2 library threads of its own. */
START_TEST(test_independent_training_lib_threads) { train_concurrently(2); }
END_TEST

/* ---- shared read-only model --------------------------------------------- */

typedef struct reader {
    const cns_model *m;
    int offset;      /* start user, so threads interleave differently */
    int rounds;
    int32_t items[USERS][TOPK];
    float scores[USERS][TOPK];
    size_t got[USERS];
    float rows[USERS * DIM];
    float emb_items[ITEMS * DIM];
    int status;
} reader;

static void read_model(reader *r) {
    int32_t ids[USERS];
    for (int32_t u = 0; u < USERS; ++u) ids[u] = (u * 7 + r->offset) % USERS;
    for (int round = 0; round < r->rounds; ++round) {
        for (int32_t k = 0; k < USERS; ++k) {
            int32_t u = (k + r->offset) % USERS;
            int st = cns_model_recommend(r->m, u, TOPK, r->items[u], r->scores[u], &r->got[u]);
            if (st != CNS_OK) r->status = st;
        }
        float tmp[USERS * DIM];
        int st = cns_model_gather(r->m, CNS_TABLE_USERS, ids, USERS, tmp);
        if (st != CNS_OK) r->status = st;
        /* Back in user order. */
        for (int32_t k = 0; k < USERS; ++k)
            memcpy(r->rows + (size_t)ids[k] * DIM, tmp + (size_t)k * DIM, DIM * sizeof(float));
        const float *e = cns_model_embeddings(r->m, CNS_TABLE_ITEMS);
        if (e == NULL) r->status = CNS_E_STATE;
        else memcpy(r->emb_items, e, sizeof r->emb_items);
    }
}

static void *reader_thread(void *arg) {
    read_model(arg);
    return NULL;
}

static reader g_readers[NTHREADS + 1];

START_TEST(test_shared_read_only_model) {
    cns_error err;
    cns_dataset *ds;
    ck_assert_status(rig_dataset(USERS, ITEMS, k_data_state, &ds), CNS_OK);
    cns_model_desc md;
    cns_model_desc_init(&md);
    md.dim = DIM;
    md.seed = 77;
    cns_model *m = NULL;
    ck_assert_status(cns_model_create(ds, &md, NULL, &m, &err), CNS_OK);
    /* Give it trained-looking, distinct rows. */
    float row[DIM];
    for (int32_t r = 0; r < ITEMS; ++r) {
        for (int d = 0; d < DIM; ++d) row[d] = (float)((r * 31 + d * 17) % 23) / 23.0f - 0.5f;
        ck_assert_status(cns_model_set_ego_row(m, CNS_TABLE_ITEMS, r, row), CNS_OK);
    }
    ck_assert_status(cns_model_forward(m), CNS_OK);

    reader *ref = &g_readers[NTHREADS];
    memset(ref, 0, sizeof *ref);
    ref->m = m;
    ref->rounds = 1;
    read_model(ref);
    ck_assert_status(ref->status, CNS_OK);
    for (int32_t u = 0; u < USERS; ++u) ck_assert_uint_eq(ref->got[u], TOPK);

    pthread_t th[NTHREADS];
    for (int k = 0; k < NTHREADS; ++k) {
        memset(&g_readers[k], 0, sizeof g_readers[k]);
        g_readers[k].m = m;
        g_readers[k].offset = k * 11;
        g_readers[k].rounds = 20;
        ck_assert_int_eq(pthread_create(&th[k], NULL, reader_thread, &g_readers[k]), 0);
    }
    for (int k = 0; k < NTHREADS; ++k) ck_assert_int_eq(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < NTHREADS; ++k) {
        reader *r = &g_readers[k];
        ck_assert_status(r->status, CNS_OK);
        ck_assert_int_eq(memcmp(r->items, ref->items, sizeof ref->items), 0);
        ck_assert_int_eq(memcmp(r->scores, ref->scores, sizeof ref->scores), 0);
        ck_assert_int_eq(memcmp(r->got, ref->got, sizeof ref->got), 0);
        ck_assert_int_eq(memcmp(r->rows, ref->rows, sizeof ref->rows), 0);
        ck_assert_int_eq(memcmp(r->emb_items, ref->emb_items, sizeof ref->emb_items), 0);
    }
    /* The reference itself matches the embeddings table. */
    ck_assert_int_eq(memcmp(ref->rows, cns_model_embeddings(m, CNS_TABLE_USERS), sizeof ref->rows), 0);
    cns_model_free(m);
    cns_dataset_free(ds);
}
END_TEST

/* ---- many threads, one sampler (cns_sampler_stream) --------------------- */

enum { SN = 16, SD = 8, ROUNDS = 3, NSTREAMS = 4 };

static cns_sampler *stream_sampler(int mode) {
    cns_sampler_desc sd;
    cns_sampler_desc_init(&sd);
    sd.dim = SD, sd.steps = 6, sd.time_dim = 8, sd.hidden = 16, sd.seed = 5;
    cns_sampler *s = NULL;
    if (cns_sampler_create(&sd, NULL, &s, NULL) != CNS_OK) return NULL;
    if (cns_sampler_set_int(s, CNS_SAMPLER_MODE, mode) != CNS_OK ||
        cns_sampler_set_int(s, CNS_SAMPLER_SAMPLE_START, 2) != CNS_OK ||
        cns_sampler_set_int(s, CNS_SAMPLER_STRIDE, 2) != CNS_OK) {
        cns_sampler_free(s);
        return NULL;
    }
    return s;
}

static void stream_inputs(float *u, float *p) {
    for (int i = 0; i < SN * SD; ++i) {
        u[i] = (float)((i * 37 % 23) - 11) / 11.0f;
        p[i] = (float)((i * 53 % 29) - 14) / 14.0f;
    }
}

typedef struct stream_job {
    cns_sampler *s;
    uint64_t id;
    const float *u, *p;
    pthread_rwlock_t *lock; /* trained mode: draws take it shared */
    float out[ROUNDS][SN * SD];
    int status;
    char where[CNS_ERROR_MESSAGE_SIZE];
} stream_job;

/* One thread's stream: ROUNDS draws (no Check macros off the main thread). */
static void *stream_draws(void *arg) {
    stream_job *j = arg;
    cns_sampler_stream *st = NULL;
    cns_error err;
    j->status = cns_sampler_stream_create(j->s, j->id, NULL, &st, &err);
    if (j->status != CNS_OK) {
        snprintf(j->where, sizeof j->where, "%s", err.message);
        return NULL;
    }
    for (int r = 0; r < ROUNDS && j->status == CNS_OK; ++r) {
        if (j->lock) pthread_rwlock_rdlock(j->lock);
        j->status = cns_sampler_stream_draw_rows(st, SD, j->u, 0, j->p, 0, SN, j->out[r], 0);
        if (j->lock) pthread_rwlock_unlock(j->lock);
        if (j->status != CNS_OK) snprintf(j->where, sizeof j->where, "%s", cns_sampler_stream_last_error(st));
    }
    cns_sampler_stream_free(st);
    return NULL;
}

/* Frozen (reference) mode: NSTREAMS threads draw from one sampler at once,
 * each through its own stream, and get exactly what the same stream ids
 * give one after another on one thread; different ids draw differently. */
START_TEST(test_streams_share_one_sampler) {
    cns_sampler *s = stream_sampler(CNS_MODE_REFERENCE);
    ck_assert_ptr_nonnull(s);
    float u[SN * SD], p[SN * SD];
    stream_inputs(u, p);
    static stream_job seq[NSTREAMS], par[NSTREAMS];
    for (int k = 0; k < NSTREAMS; ++k) {
        seq[k] = (stream_job){.s = s, .id = (uint64_t)k, .u = u, .p = p};
        stream_draws(&seq[k]);
        ck_assert_msg(seq[k].status == CNS_OK, "%s", seq[k].where);
    }
    pthread_t th[NSTREAMS];
    for (int k = 0; k < NSTREAMS; ++k) {
        par[k] = (stream_job){.s = s, .id = (uint64_t)k, .u = u, .p = p};
        ck_assert_int_eq(pthread_create(&th[k], NULL, stream_draws, &par[k]), 0);
    }
    for (int k = 0; k < NSTREAMS; ++k) ck_assert_int_eq(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < NSTREAMS; ++k) {
        ck_assert_msg(par[k].status == CNS_OK, "%s", par[k].where);
        ck_assert(memcmp(par[k].out, seq[k].out, sizeof par[k].out) == 0);
        for (int r = 1; r < ROUNDS; ++r) /* the stream moves on between draws */
            ck_assert(memcmp(seq[k].out[r], seq[k].out[0], sizeof seq[k].out[0]) != 0);
    }
    ck_assert(memcmp(seq[0].out, seq[1].out, sizeof seq[0].out) != 0);
    /* misuse */
    cns_sampler_stream *st = NULL;
    cns_error err;
    ck_assert_int_eq(cns_sampler_stream_create(NULL, 0, NULL, &st, &err), CNS_E_ARG);
    ck_assert_ptr_null(st);
    cns_sampler_desc ud;
    cns_sampler_desc_init(&ud);
    ud.kind = CNS_SAMPLER_UNIFORM;
    cns_sampler *uni = NULL;
    ck_assert_int_eq(cns_sampler_create(&ud, NULL, &uni, NULL), CNS_OK);
    ck_assert_int_eq(cns_sampler_stream_create(uni, 0, NULL, &st, &err), CNS_E_UNSUPPORTED);
    ck_assert_int_eq(cns_sampler_stream_create(s, 0, NULL, &st, &err), CNS_OK);
    float o[SN * SD];
    ck_assert_int_eq(cns_sampler_stream_draw_rows(st, SD + 1, u, 0, p, 0, SN, o, 0), CNS_E_SIZE);
    const char *m = cns_sampler_stream_last_error(st);
    ck_assert_msg(strncmp(m, "cns_sampler_stream_draw_rows: ", 30) == 0 && strstr(m, "9"), "%s", m);
    cns_sampler_stream_free(st);
    cns_sampler_stream_free(NULL);
    cns_sampler_free(uni);
    cns_sampler_free(s);
}
END_TEST

/* Every frozen mode through streams, the default's direction mode among them
 * (a stream once lacked the parent's direction and crashed): concurrent
 * stream draws equal the parent's own draw_rows of the same rows, row for
 * row and bit for bit in the direction mode (no random number is drawn),
 * and are finite in the others. */
START_TEST(test_streams_every_frozen_mode) {
    static const int modes[] = {CNS_MODE_DIRECTION, CNS_MODE_REFERENCE, CNS_MODE_GAUSSIAN};
    for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; ++mi) {
        cns_sampler *s = stream_sampler(modes[mi]);
        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(cns_sampler_set_double(s, CNS_SAMPLER_DIRECTION_NORM, 2.5), CNS_OK);
        float u[SN * SD], p[SN * SD], own[SN * SD];
        stream_inputs(u, p);
        ck_assert_int_eq(cns_sampler_draw_rows(s, SD, u, 0, p, 0, SN, own, 0), CNS_OK);
        static stream_job par[NSTREAMS];
        pthread_t th[NSTREAMS];
        for (int k = 0; k < NSTREAMS; ++k) {
            par[k] = (stream_job){.s = s, .id = (uint64_t)k, .u = u, .p = p};
            ck_assert_int_eq(pthread_create(&th[k], NULL, stream_draws, &par[k]), 0);
        }
        for (int k = 0; k < NSTREAMS; ++k) ck_assert_int_eq(pthread_join(th[k], NULL), 0);
        for (int k = 0; k < NSTREAMS; ++k) {
            ck_assert_msg(par[k].status == CNS_OK, "mode %d: %s", modes[mi], par[k].where);
            for (int r = 0; r < ROUNDS; ++r)
                for (int i = 0; i < SN * SD; ++i) ck_assert(isfinite(par[k].out[r][i]));
            if (modes[mi] == CNS_MODE_DIRECTION) {
                for (int r = 0; r < ROUNDS; ++r)
                    ck_assert(memcmp(par[k].out[r], own, sizeof own) == 0);
                double n2 = 0; /* the row is the norm times a unit vector */
                for (int i = 0; i < SD; ++i) n2 += (double)own[i] * own[i];
                ck_assert_close(sqrt(n2), 2.5, 1e-6, 0);
            }
        }
        cns_sampler_free(s);
    }
}
END_TEST

typedef struct train_ctx {
    cns_sampler *s;
    const float *p;
    pthread_rwlock_t *lock;
    int status;
} train_ctx;

static void *stream_trainer(void *arg) {
    train_ctx *c = arg;
    for (int k = 0; k < 6 && c->status == CNS_OK; ++k) {
        pthread_rwlock_wrlock(c->lock);
        c->status = cns_sampler_train_step(c->s, c->p, SN, NULL);
        pthread_rwlock_unlock(c->lock);
    }
    return NULL;
}

/* Trained mode: one thread trains while the others draw, the host holding
 * a reader-writer lock as sampler.h asks (TSan checks that nothing else is
 * shared); every draw succeeds and is finite. */
START_TEST(test_streams_with_a_trainer) {
    cns_sampler *s = stream_sampler(CNS_MODE_TRAINED);
    ck_assert_ptr_nonnull(s);
    float u[SN * SD], p[SN * SD];
    stream_inputs(u, p);
    pthread_rwlock_t lock;
    ck_assert_int_eq(pthread_rwlock_init(&lock, NULL), 0);
    static stream_job jobs[NSTREAMS - 1];
    train_ctx tc = {s, p, &lock, CNS_OK};
    pthread_t th[NSTREAMS];
    ck_assert_int_eq(pthread_create(&th[0], NULL, stream_trainer, &tc), 0);
    for (int k = 0; k < NSTREAMS - 1; ++k) {
        jobs[k] = (stream_job){.s = s, .id = (uint64_t)k, .u = u, .p = p, .lock = &lock};
        ck_assert_int_eq(pthread_create(&th[k + 1], NULL, stream_draws, &jobs[k]), 0);
    }
    for (int k = 0; k < NSTREAMS; ++k) ck_assert_int_eq(pthread_join(th[k], NULL), 0);
    ck_assert_int_eq(tc.status, CNS_OK);
    for (int k = 0; k < NSTREAMS - 1; ++k) {
        ck_assert_msg(jobs[k].status == CNS_OK, "%s", jobs[k].where);
        for (int r = 0; r < ROUNDS; ++r)
            for (int i = 0; i < SN * SD; ++i) ck_assert(isfinite(jobs[k].out[r][i]));
    }
    pthread_rwlock_destroy(&lock);
    cns_sampler_free(s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_independent_training);
    tcase_add_test(tc, test_independent_training_lib_threads);
    tcase_add_test(tc, test_shared_read_only_model);
    tcase_add_test(tc, test_streams_share_one_sampler);
    tcase_add_test(tc, test_streams_every_frozen_mode);
    tcase_add_test(tc, test_streams_with_a_trainer);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
