/* Allocation failure through the per-handle cns_allocator: for every k,
 * the k-th allocation of an operation fails (only that one; later ones
 * succeed, so recovery paths that keep going are exercised too). Every
 * such run must return CNS_E_NOMEM, leave *out NULL, leak nothing (the
 * test allocator counts live blocks) and leave handles that existed
 * before the call usable. k runs from 1 until the operation succeeds with
 * no failure injected; the number of injection points is printed
 * ("alloc-failure: <op>: N injection points") for docs/RELIABILITY.md. */
#include <dirent.h>
#include <sys/stat.h>

#include "testutil.h"

/* ---- the counting, failing allocator ------------------------------------ */

typedef struct fail_alloc {
    long count;   /* allocations since arm() */
    long fail_at; /* 1-based index of the one that fails; 0: none */
    long live;    /* blocks handed out and not freed */
    int failed;   /* the injected failure happened */
} fail_alloc;

static void *fa_alloc(void *user, size_t size) {
    fail_alloc *f = user;
    f->count++;
    if (f->fail_at > 0 && f->count == f->fail_at) {
        f->failed = 1;
        return NULL;
    }
    void *p = malloc(size);
    if (p != NULL) f->live++;
    return p;
}

static void fa_free(void *user, void *ptr) {
    fail_alloc *f = user;
    if (ptr == NULL) return;
    f->live--;
    free(ptr);
}

static fail_alloc g_fa; /* test-only state; one test at a time per process */
static const cns_allocator g_alloc = {fa_alloc, fa_free, &g_fa};

static void arm(long k) {
    g_fa.count = 0;
    g_fa.fail_at = k;
    g_fa.failed = 0;
}
static void disarm(void) { g_fa.fail_at = 0; }

/* ---- fixtures ----------------------------------------------------------- */

enum { USERS = 12, ITEMS = 10, DIM = 4 };

/* Users in two groups, each liking every other item of its half. */
static cns_dataset *make_train(const cns_allocator *al) {
    int32_t u[USERS * ITEMS], i[USERS * ITEMS];
    size_t n = 0;
    for (int32_t a = 0; a < USERS; ++a)
        for (int32_t b = 0; b < ITEMS; ++b)
            if ((a % 2) == (b < ITEMS / 2 ? 0 : 1) && (a + b) % 2 == 0) {
                u[n] = a;
                i[n] = b;
                n++;
            }
    cns_dataset *ds = NULL;
    cns_error err;
    ck_assert_status(cns_dataset_from_arrays(u, i, n, USERS, ITEMS, al, &ds, &err), CNS_OK);
    return ds;
}

static void model_desc(cns_model_desc *md) {
    cns_model_desc_init(md);
    md->dim = DIM;
    md->layers = 2;
    md->seed = 3;
}

static void sampler_desc(cns_sampler_desc *sd) {
    cns_sampler_desc_init(sd);
    sd->kind = CNS_SAMPLER_DIFFUSION;
    sd->dim = DIM;
    sd->steps = 4;
    sd->time_dim = 4;
    sd->hidden = 8;
    sd->seed = 5;
}

static void tiny_sampler_params(cns_sampler *s) {
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_SAMPLE_START, 2), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_STRIDE, 1), CNS_OK);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_NUM_STEPS, 4), CNS_OK);
}

/* A scratch directory; returns 1 when it holds no file (no temporary
 * checkpoint left behind). */
static void make_dir(char *buf, size_t len) {
    snprintf(buf, len, "/tmp/cns_alloc_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(buf));
}
static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

/* ---- the loop ------------------------------------------------------------ */

/* One operation: runs with the allocator armed, frees what it created on
 * success, returns the status. */
typedef int (*op_fn)(void *ctx);

/* Runs op with the k-th allocation failing for k = 1, 2, ... until it
 * succeeds with no failure injected. Checks every failure is
 * CNS_E_NOMEM and leaks nothing, then calls after(ctx) (a check that the
 * surrounding handles still work) when given. Returns the number of
 * injection points. */
static long failure_loop(const char *name, op_fn op, int (*after)(void *), void *ctx) {
    long before = g_fa.live;
    for (long k = 1;; ++k) {
        arm(k);
        int st = op(ctx);
        disarm();
        if (!g_fa.failed) {
            ck_assert_msg(st == CNS_OK, "%s: no failure injected at k=%ld but %s", name, k,
                          cns_status_name(st));
            ck_assert_msg(g_fa.live == before, "%s: %ld blocks leaked on success", name,
                          g_fa.live - before);
            printf("alloc-failure: %s: %ld injection points, 0 leaks\n", name, k - 1);
            return k - 1;
        }
        ck_assert_msg(st == CNS_E_NOMEM, "%s: allocation %ld failed but the call returned %s",
                      name, k, cns_status_name(st));
        ck_assert_msg(g_fa.live == before, "%s: allocation %ld failed and %ld blocks leaked",
                      name, k, g_fa.live - before);
        if (after != NULL)
            ck_assert_msg(after(ctx) == CNS_OK, "%s: handle unusable after allocation %ld failed",
                          name, k);
        ck_assert_msg(k < 100000, "%s: does not terminate", name);
    }
}

/* ---- operations ----------------------------------------------------------- */

static int op_dataset_load(void *ctx) {
    cns_dataset *ds = (cns_dataset *)1;
    cns_error err;
    int st = cns_dataset_load_file(ctx, 0, &g_alloc, &ds, &err);
    if (st != CNS_OK) {
        ck_assert_ptr_null(ds);
        ck_assert_int_eq(err.status, st);
        return st;
    }
    ck_assert_int_eq(cns_dataset_num_interactions(ds), 6);
    cns_dataset_free(ds);
    return st;
}

START_TEST(test_dataset_load) {
    char path[64];
    ck_assert_ptr_nonnull(cns_test_write_temp("# tiny\n0 1\n0 2 1.5\n1 0\n2 3\n2 1\n3 3\n0 1\n",
                                              path, sizeof path));
    ck_assert_int_gt(failure_loop("dataset_load_file", op_dataset_load, NULL, path), 0);
    unlink(path);
    ck_assert_int_eq(g_fa.live, 0);
}
END_TEST

static int op_dataset_misc(void *ctx) {
    (void)ctx;
    cns_dataset *ds = NULL, *kept = NULL, *held = NULL;
    cns_error err;
    static const char text[] = "0 1\n0 2\nx y\n1 0\n1 3\n1 2\n2 3\n2 1\n2 0\n";
    int st = cns_dataset_load_buffer(text, sizeof text - 1, "t", CNS_LOAD_SKIP_BAD, &g_alloc, &ds,
                                     &err);
    if (st != CNS_OK) {
        ck_assert_ptr_null(ds);
        return st;
    }
    st = cns_dataset_split(ds, 0.4, 1, &g_alloc, &kept, &held, &err);
    if (st != CNS_OK) {
        ck_assert_ptr_null(kept);
        ck_assert_ptr_null(held);
        cns_dataset_free(ds);
        return st;
    }
    cns_batcher *b = NULL;
    st = cns_batcher_create(kept, 2, 1, &g_alloc, &b, &err);
    if (st != CNS_OK) ck_assert_ptr_null(b);
    cns_batcher_free(b);
    cns_dataset_free(kept);
    cns_dataset_free(held);
    cns_dataset_free(ds);
    return st;
}

START_TEST(test_dataset_buffer_split_batcher) {
    failure_loop("dataset_load_buffer+split+batcher_create", op_dataset_misc, NULL, NULL);
    ck_assert_int_eq(g_fa.live, 0);
}
END_TEST

static int op_model_create(void *ctx) {
    cns_model_desc md;
    model_desc(&md);
    cns_model *m = (cns_model *)1;
    cns_error err;
    int st = cns_model_create(ctx, &md, &g_alloc, &m, &err);
    if (st != CNS_OK) {
        ck_assert_ptr_null(m);
        return st;
    }
    cns_model_free(m);
    return st;
}

START_TEST(test_model_create) {
    cns_dataset *ds = make_train(NULL);
    ck_assert_int_gt(failure_loop("model_create", op_model_create, NULL, ds), 0);
    cns_dataset_free(ds);
    ck_assert_int_eq(g_fa.live, 0);
}
END_TEST

static int op_sampler_create(void *ctx) {
    (void)ctx;
    cns_sampler_desc sd;
    sampler_desc(&sd);
    cns_sampler *s = (cns_sampler *)1;
    cns_error err;
    int st = cns_sampler_create(&sd, &g_alloc, &s, &err);
    if (st != CNS_OK) {
        ck_assert_ptr_null(s);
        return st;
    }
    cns_sampler_free(s);
    return st;
}

static int op_loss_create(void *ctx) {
    (void)ctx;
    cns_loss_desc ld;
    cns_loss_desc_init(&ld);
    ld.dim = DIM;
    cns_loss *l = (cns_loss *)1;
    cns_error err;
    int st = cns_loss_create(&ld, &g_alloc, &l, &err);
    if (st != CNS_OK) {
        ck_assert_ptr_null(l);
        return st;
    }
    cns_loss_free(l);
    return st;
}

START_TEST(test_sampler_loss_create) {
    ck_assert_int_gt(failure_loop("sampler_create(diffusion)", op_sampler_create, NULL, NULL), 0);
    ck_assert_int_gt(failure_loop("loss_create", op_loss_create, NULL, NULL), 0);
    ck_assert_int_eq(g_fa.live, 0);
}
END_TEST

/* A training rig whose every handle uses the failing allocator. */
typedef struct rig {
    cns_dataset *train;
    cns_model *model;
    cns_sampler *sampler;
    cns_loss *loss;
    int64_t epoch;
    char dir[64];
    char path[128];
} rig;

static void rig_make(rig *r, int kind) {
    memset(r, 0, sizeof *r);
    cns_error err;
    r->train = make_train(&g_alloc);
    cns_model_desc md;
    model_desc(&md);
    ck_assert_status(cns_model_create(r->train, &md, &g_alloc, &r->model, &err), CNS_OK);
    if (kind != 0) {
        cns_sampler_desc sd;
        sampler_desc(&sd);
        sd.kind = kind;
        ck_assert_status(cns_sampler_create(&sd, &g_alloc, &r->sampler, &err), CNS_OK);
        if (kind == CNS_SAMPLER_DIFFUSION) tiny_sampler_params(r->sampler);
    }
    cns_loss_desc ld;
    cns_loss_desc_init(&ld);
    ld.dim = DIM;
    ck_assert_status(cns_loss_create(&ld, &g_alloc, &r->loss, &err), CNS_OK);
    make_dir(r->dir, sizeof r->dir);
    snprintf(r->path, sizeof r->path, "%s/ckpt", r->dir);
}

static void rig_free(rig *r) {
    cns_loss_free(r->loss);
    cns_sampler_free(r->sampler);
    cns_model_free(r->model);
    cns_dataset_free(r->train);
    unlink(r->path);
    rmdir(r->dir);
}

/* trainer_create + one epoch, fresh handles each k so the first-epoch
 * workspace growth (sampler, loss) is what fails. */
static int op_trainer_epoch(void *ctx) {
    rig *r = ctx;
    cns_trainer *t = (cns_trainer *)1;
    cns_error err;
    int st = cns_trainer_create(r->model, r->sampler, r->loss, r->train, 16, 7, &g_alloc, &t, &err);
    if (st != CNS_OK) {
        ck_assert_ptr_null(t);
        return st;
    }
    st = cns_trainer_run_epoch(t, r->epoch, NULL);
    if (st != CNS_OK) {
        ck_assert_msg(strlen(cns_trainer_last_error(t)) > 0, "no message");
        /* The trainer and its borrowed handles still work: the same epoch
         * again, with allocations allowed, succeeds. */
        long armed = g_fa.fail_at;
        disarm();
        ck_assert_msg(cns_trainer_run_epoch(t, r->epoch, NULL) == CNS_OK,
                      "epoch after a failed one: %s", cns_trainer_last_error(t));
        g_fa.fail_at = armed;
    }
    cns_trainer_free(t);
    return st;
}

static void epoch_loop(int kind, int mode, const char *name) {
    /* Each k on fresh handles: a failed first epoch followed by a retry
     * already grew the workspaces, so reusing them would test less. */
    long points = 0;
    for (long k = 1;; ++k) {
        rig r;
        rig_make(&r, kind);
        if (mode != CNS_MODE_TRAINED)
            ck_assert_status(cns_sampler_set_int(r.sampler, CNS_SAMPLER_MODE, mode), CNS_OK);
        arm(k);
        int st = op_trainer_epoch(&r);
        disarm();
        int failed = g_fa.failed;
        /* Now the handles run a further epoch after whatever happened. */
        r.epoch = 1;
        ck_assert_status(op_trainer_epoch(&r), CNS_OK);
        rig_free(&r);
        /* Workspaces grown by the epochs belong to the handles: after
         * freeing them all, nothing may be left. */
        ck_assert_msg(g_fa.live == 0, "%s: allocation %ld failed, %ld blocks leaked", name, k,
                      g_fa.live);
        if (!failed) {
            ck_assert_status(st, CNS_OK);
            points = k - 1;
            break;
        }
        ck_assert_msg(st == CNS_E_NOMEM, "%s: allocation %ld failed but got %s", name, k,
                      cns_status_name(st));
    }
    printf("alloc-failure: %s: %ld injection points, 0 leaks\n", name, points);
    ck_assert_int_gt(points, 0);
}

START_TEST(test_epoch_diffusion) {
    epoch_loop(CNS_SAMPLER_DIFFUSION, CNS_MODE_TRAINED, "trainer_create+epoch(diffusion)");
}
END_TEST

/* The reference mode grows one more workspace (the packed dropout masks). */
START_TEST(test_epoch_diffusion_reference) {
    epoch_loop(CNS_SAMPLER_DIFFUSION, CNS_MODE_REFERENCE,
               "trainer_create+epoch(diffusion, reference)");
}
END_TEST

START_TEST(test_epoch_dns_uniform) {
    epoch_loop(CNS_SAMPLER_DNS, CNS_MODE_TRAINED, "trainer_create+epoch(dns)");
    epoch_loop(0, CNS_MODE_TRAINED, "trainer_create+epoch(no sampler)");
}
END_TEST

static int op_model_save(void *ctx) {
    rig *r = ctx;
    int st = cns_model_save(r->model, r->path);
    if (st != CNS_OK) {
        ck_assert_msg(strlen(cns_model_last_error(r->model)) > 0, "no message");
        /* Nothing at path, no temporary file left. */
        ck_assert_int_eq(dir_entries(r->dir), 0);
    } else {
        ck_assert_int_eq(dir_entries(r->dir), 1);
        unlink(r->path);
    }
    return st;
}

static int model_works(void *ctx) {
    rig *r = ctx;
    int32_t top[3];
    size_t n = 0;
    int st = cns_model_forward(r->model);
    if (st == CNS_OK) st = cns_model_recommend(r->model, 1, 3, top, NULL, &n);
    return st == CNS_OK && n == 3 ? CNS_OK : CNS_E_STATE;
}

static int op_model_load(void *ctx) {
    rig *r = ctx;
    cns_model *m = (cns_model *)1;
    cns_error err;
    int st = cns_model_load(r->path, &g_alloc, &m, &err);
    if (st != CNS_OK) {
        ck_assert_ptr_null(m);
        ck_assert_int_eq(err.status, st);
        return st;
    }
    ck_assert_int_eq(memcmp(cns_model_embeddings(m, CNS_TABLE_ITEMS),
                            cns_model_embeddings(r->model, CNS_TABLE_ITEMS),
                            (size_t)ITEMS * DIM * sizeof(float)), 0);
    cns_model_free(m);
    return st;
}

START_TEST(test_model_save_load) {
    rig r;
    rig_make(&r, 0);
    ck_assert_int_gt(failure_loop("model_save", op_model_save, model_works, &r), 0);
    ck_assert_status(cns_model_save(r.model, r.path), CNS_OK);
    ck_assert_status(cns_model_forward(r.model), CNS_OK);
    ck_assert_int_gt(failure_loop("model_load", op_model_load, NULL, &r), 0);
    rig_free(&r);
    ck_assert_int_eq(g_fa.live, 0);
}
END_TEST

static int op_sampler_save(void *ctx) {
    rig *r = ctx;
    int st = cns_sampler_save(r->sampler, r->path);
    if (st != CNS_OK) {
        ck_assert_int_eq(dir_entries(r->dir), 0);
    } else {
        ck_assert_int_eq(dir_entries(r->dir), 1);
        unlink(r->path);
    }
    return st;
}

static int sampler_works(void *ctx) {
    rig *r = ctx;
    float pos[2 * DIM] = {0.1f, 0.2f, 0.3f, 0.4f, -0.1f, 0.0f, 0.5f, 0.2f};
    float out[2 * DIM];
    double loss = 0;
    int st = cns_sampler_train_step(r->sampler, pos, 2, &loss);
    if (st == CNS_OK) st = cns_sampler_draw(r->sampler, pos, pos, 2, out);
    return st;
}

static int op_sampler_load(void *ctx) {
    rig *r = ctx;
    cns_sampler *s = (cns_sampler *)1;
    cns_error err;
    int st = cns_sampler_load(r->path, &g_alloc, &s, &err);
    if (st != CNS_OK) {
        ck_assert_ptr_null(s);
        return st;
    }
    ck_assert_int_eq(cns_sampler_kind_of(s), CNS_SAMPLER_DIFFUSION);
    cns_sampler_free(s);
    return st;
}

START_TEST(test_sampler_save_load) {
    rig r;
    rig_make(&r, CNS_SAMPLER_DIFFUSION);
    ck_assert_status(sampler_works(&r), CNS_OK);
    ck_assert_int_gt(failure_loop("sampler_save", op_sampler_save, sampler_works, &r), 0);
    ck_assert_status(cns_sampler_save(r.sampler, r.path), CNS_OK);
    ck_assert_int_gt(failure_loop("sampler_load", op_sampler_load, NULL, &r), 0);
    rig_free(&r);
    ck_assert_int_eq(g_fa.live, 0);
}
END_TEST

/* The evaluator: create and run (its scratch) under failures. */
static int op_evaluator(void *ctx) {
    rig *r = ctx;
    cns_evaluator *ev = (cns_evaluator *)1;
    cns_error err;
    int st = cns_evaluator_create(r->train, &g_alloc, &ev, &err);
    if (st != CNS_OK) {
        ck_assert_ptr_null(ev);
        return st;
    }
    const int32_t ks[2] = {2, 5};
    double out[2 * CNS_METRIC_COUNT];
    size_t evaluated = 0;
    st = cns_evaluator_run(ev, cns_model_embeddings(r->model, CNS_TABLE_USERS), USERS,
                           cns_model_embeddings(r->model, CNS_TABLE_ITEMS), ITEMS, DIM, r->train,
                           ks, 2, out, &evaluated);
    if (st == CNS_OK) {
        st = cns_evaluator_run_popularity(ev, r->train, ks, 2, out, &evaluated);
    } else {
        ck_assert_int_eq(evaluated, 0);
    }
    cns_evaluator_free(ev);
    return st;
}

START_TEST(test_evaluator) {
    rig r;
    rig_make(&r, 0);
    ck_assert_int_gt(failure_loop("evaluator_create+run+run_popularity", op_evaluator, NULL, &r), 0);
    rig_free(&r);
    ck_assert_int_eq(g_fa.live, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("alloc_failure");
    TCase *tc = tcase_create("alloc_failure");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_dataset_load);
    tcase_add_test(tc, test_dataset_buffer_split_batcher);
    tcase_add_test(tc, test_model_create);
    tcase_add_test(tc, test_sampler_loss_create);
    tcase_add_test(tc, test_epoch_diffusion);
    tcase_add_test(tc, test_epoch_diffusion_reference);
    tcase_add_test(tc, test_epoch_dns_uniform);
    tcase_add_test(tc, test_model_save_load);
    tcase_add_test(tc, test_sampler_save_load);
    tcase_add_test(tc, test_evaluator);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
