/* cnsdiff bench scale — how an epoch's cost grows with the data: worlds of
 * 0.1 M to 10 M training interactions, MF (layers 0) and LightGCN
 * (layers 2), uniform and CNSDiff negatives (the tool's configuration).
 * Each point runs in its own child process, so its peak RSS is its own:
 * it loads the training file (timed), trains, and evaluates test_iid once
 * (timed). An epoch too long for the time budget is timed over a fixed
 * number of batches and scaled to the whole epoch ("extrapolated").
 * docs/BENCHMARKS.md "Scale" has the method, the table and the plot. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cnsdiff/cnsdiff.h"
#include "parallel.h"
#include "run.h"
#include "trainer_internal.h"

void openblas_set_num_threads(int num_threads);

#define MAX_SIZES 16
#define PROBE_BATCHES 2 /* batches timed twice over for an extrapolated epoch */
#define BATCH 2048        /* the tool's batch size: the exact path */
#define FOOD_BATCHES 52   /* batches of a Food epoch at BATCH (106 253 pairs) */
/* CNSDiff's contrastive term costs O(B^2 d) per batch (ALGORITHM.md §17):
 * the batch-scaled path would make its epoch quadratic, and a single batch
 * above this size takes minutes. Such points are skipped and said so. */
#define CL_BATCH_MAX 32768

typedef struct scale_opts {
    double sizes[MAX_SIZES];
    int n_sizes;
    const char *report;
    int threads, epochs, dim;
    double budget; /* seconds an epoch may take before it is extrapolated */
    int paths;     /* bit p: run path p (0 exact, 1 batch-scaled, 2 stale, 3 stale-sparse) */
    int no_eval;   /* skip the evaluation (eval_seconds 0) */
    uint64_t seed;
} scale_opts;

/* What a child sends back through its pipe. */
typedef struct scale_row {
    int ok;
    size_t interactions;
    int layers, sampler;
    size_t batch, refresh;
    double epoch_seconds, load_seconds, eval_seconds, peak_rss_mb;
    int extrapolated;
    double phase_ms[CNS_PHASE_SLOTS]; /* per batch, of the last timed run */
    char error[1024];
} scale_row;

static void usage(FILE *f) {
    fprintf(f,
            "usage: cnsdiff bench scale [--sizes 0.1,0.3,1,3,10] [--report F.json]\n"
            "                           [--paths exact,batch-scaled,stale,stale-sparse]\n"
            "                           [--threads T]\n"
            "                           [--epochs E] [--budget S] [--seed N] [--no-eval]\n"
            "\n"
            "Generates a world per size (millions of training interactions, docs/WORLD.md;\n"
            "shape in docs/BENCHMARKS.md \"Scale\"), writes its training and IID test\n"
            "splits to a temporary directory, and for MF (layers 0) and LightGCN (layers\n"
            "2), each with uniform and CNSDiff negatives (the tool's configuration), and\n"
            "each on the paths exact (batch 2048), batch-scaled (batch max(2048,\n"
            "ceil(interactions / 52)): Food's 52 batches per epoch) and, for LightGCN,\n"
            "stale (batch 2048, CNS_MODEL_REFRESH_EVERY = ceil(batches / 52): Food's 52\n"
            "propagations per epoch; timed in whole refresh cycles) -- and, only when\n"
            "--paths names it, stale-sparse (the stale path plus CNS_MODEL_SPARSE_ADAM:\n"
            "lazy Adam on the steps between refreshes; for MF every step is row-sparse,\n"
            "ALGORITHM.md §17) -- runs a\n"
            "child process that loads the training file and trains (batch-scaled CNSDiff\n"
            "is skipped above batch %d: its contrastive term is O(B^2)); the first point of\n"
            "a size also evaluates test_iid once (the time is the size's; --no-eval: 0).\n"
            "Prints one table row per point: the median epoch seconds over E epochs\n"
            "(default 3), seconds per million interactions, load and evaluation seconds,\n"
            "and the child's peak RSS. An epoch estimated above S / E seconds (S:\n"
            "default 30) is timed over %d and %d batches (after %d of warm-up), scaled\n"
            "to the whole epoch and marked extrapolated. --report writes the rows as\n"
            "JSON. Threads default to 2. stderr gets each point's milliseconds per batch\n"
            "by phase (cns_epoch_stats.phase_seconds).\n",
            CL_BATCH_MAX, PROBE_BATCHES, 2 * PROBE_BATCHES, PROBE_BATCHES);
}

static int parse_sizes(const char *s, scale_opts *o) {
    o->n_sizes = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !(v >= 0.001 && v <= 100) || o->n_sizes == MAX_SIZES) return 0;
        o->sizes[o->n_sizes++] = v;
        if (*end == ',')
            ++end;
        else if (*end != '\0')
            return 0;
        s = end;
    }
    return o->n_sizes > 0;
}

/* The world of a size: training degree d = 14 (10 s)^0.43 (Food's 14 at
 * 0.1 M, 100 at 10 M as the 100 k x 50 k world), users = N / d,
 * items = users / 2, the calibrated defaults otherwise. */
static void scale_world(double millions, uint64_t seed, cns_world_desc *d) {
    cns_world_desc_init(d);
    double n = millions * 1e6, deg = 14.0 * pow(10.0 * millions, 0.43);
    double keep = 1.0 - d->valid_fraction - d->test_fraction;
    d->num_users = (int32_t)ceil(n / deg);
    d->num_items = d->num_users / 2 > 100 ? d->num_users / 2 : 100;
    d->per_user = (int32_t)floor(deg / keep + 0.5);
    d->ood_per_user = d->per_user * 6 / 22 > 1 ? d->per_user * 6 / 22 : 1;
    d->seed = seed;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Loads a test file and gives it the training split's shape. */
static int load_shaped(const char *path, const cns_dataset *train, cns_dataset **out, cns_error *err) {
    cns_dataset *raw = NULL;
    int st = cns_dataset_load_file(path, 0, NULL, &raw, err);
    if (st != CNS_OK) return st;
    size_t n = cns_dataset_num_interactions(raw);
    int32_t *u = malloc((n + 1) * sizeof *u), *i = malloc((n + 1) * sizeof *i);
    if (u == NULL || i == NULL) {
        st = CNS_E_NOMEM;
    } else {
        for (size_t k = 0; k < n && st == CNS_OK; ++k) st = cns_dataset_pair(raw, k, &u[k], &i[k]);
        if (st == CNS_OK)
            st = cns_dataset_from_arrays(u, i, n, cns_dataset_num_users(train),
                                         cns_dataset_num_items(train), NULL, out, err);
    }
    free(u);
    free(i);
    cns_dataset_free(raw);
    return st;
}

#define FAIL(...)                                                        \
    do {                                                                 \
        snprintf(row->error, sizeof row->error, __VA_ARGS__);            \
        goto done;                                                       \
    } while (0)

/* One point, in the child. */
/* path: 0 exact, 1 batch-scaled, 2 stale propagation refreshed 52 times an
 * epoch, 3 the same with lazy Adam on its row-sparse steps (every MF step). */
static void run_point(const scale_opts *o, const char *dir, int layers, int sampler_kind,
                      int scaled, int eval, scale_row *row) {
    char path[4096];
    cns_error err = {0, ""};
    cns_dataset *train = NULL, *test = NULL;
    cns_model *model = NULL;
    cns_sampler *sampler = NULL;
    cns_loss *loss = NULL;
    cns_trainer *trainer = NULL;
    cns_evaluator *ev = NULL;
    double *times = NULL;
    openblas_set_num_threads(o->threads);

    snprintf(path, sizeof path, "%s/train.txt", dir);
    double t0 = cns__now();
    if (cns_dataset_load_file(path, 0, NULL, &train, &err) != CNS_OK) FAIL("%s", err.message);
    row->load_seconds = cns__now() - t0;
    row->interactions = cns_dataset_num_interactions(train);
    snprintf(path, sizeof path, "%s/test_iid.txt", dir);
    if (load_shaped(path, train, &test, &err) != CNS_OK) FAIL("test_iid: %s", err.message);

    run_config cfg;
    run_config_init(&cfg);
    cfg.sampler = sampler_kind;
    cfg.threads = o->threads;
    cfg.seed = o->seed;
    cfg.dim = o->dim;
    cfg.layers = layers;
    run_result res;
    memset(&res, 0, sizeof res);
    cns_model_desc md;
    cns_model_desc_init(&md);
    md.dim = o->dim;
    md.layers = layers;
    md.seed = o->seed;
    if (cns_model_create(train, &md, NULL, &model, &err) != CNS_OK) FAIL("model: %s", err.message);
    if (cns_model_set_int(model, CNS_MODEL_THREADS, o->threads) != CNS_OK)
        FAIL("model: %s", cns_model_last_error(model));
    if (sampler_kind != CNS_SAMPLER_UNIFORM) {
        cns_sampler_desc sd;
        cns_sampler_desc_init(&sd);
        sd.kind = sampler_kind;
        sd.dim = o->dim;
        sd.seed = o->seed;
        if (cns_sampler_create(&sd, NULL, &sampler, &err) != CNS_OK) FAIL("sampler: %s", err.message);
        if (cns_sampler_set_int(sampler, CNS_SAMPLER_THREADS, o->threads) != CNS_OK)
            FAIL("sampler: %s", cns_sampler_last_error(sampler));
    }
    cns_loss_desc ld;
    cns_loss_desc_init(&ld);
    ld.dim = o->dim;
    ld.seed = o->seed;
    if (cns_loss_create(&ld, NULL, &loss, &err) != CNS_OK) FAIL("loss: %s", err.message);
    if (cns_loss_set_int(loss, CNS_LOSS_THREADS, o->threads) != CNS_OK)
        FAIL("loss: %s", cns_loss_last_error(loss));
    if (run_apply_config(&cfg, model, sampler, loss, &res) != CNS_OK) FAIL("%s", res.error);
    /* The batch-scaled path keeps Food's number of batches per epoch. */
    row->batch = BATCH;
    if (scaled == 1 && (row->interactions + FOOD_BATCHES - 1) / FOOD_BATCHES > BATCH)
        row->batch = (row->interactions + FOOD_BATCHES - 1) / FOOD_BATCHES;
    /* The stale path keeps Food's 52 propagations per epoch: K = ceil(batches / 52). */
    size_t refresh = 1;
    if (scaled == 3 && cns_model_set_int(model, CNS_MODEL_SPARSE_ADAM, 1) != CNS_OK)
        FAIL("model: %s", cns_model_last_error(model));
    if (scaled >= 2 && layers > 0) {
        size_t nbat = (row->interactions + BATCH - 1) / BATCH;
        refresh = (nbat + FOOD_BATCHES - 1) / FOOD_BATCHES;
        if (cns_model_set_int(model, CNS_MODEL_REFRESH_EVERY, (int64_t)refresh) != CNS_OK)
            FAIL("model: %s", cns_model_last_error(model));
    }
    row->refresh = refresh;
    if (cns_trainer_create(model, sampler, loss, train, row->batch, o->seed, NULL, &trainer, &err) !=
        CNS_OK)
        FAIL("trainer: %s", err.message);

    /* A warm-up of k batches (threads, caches), then k timed batches decide. */
    const size_t nb = cns__trainer_batches_per_epoch(trainer);
    /* A stale run is timed in whole refresh cycles of K batches. */
    const size_t want = refresh > 1 ? refresh : PROBE_BATCHES;
    const size_t k = nb < want ? nb : want;
    cns_epoch_stats es;
    memset(&es, 0, sizeof es);
    es.struct_size = sizeof es;
    if (cns__trainer_run_batches(trainer, 0, k, &es) != CNS_OK ||
        cns__trainer_run_batches(trainer, 1, k, &es) != CNS_OK)
        FAIL("%s", cns_trainer_last_error(trainer));
    double t1 = es.seconds;
    if (t1 / (double)k * (double)nb <= o->budget / o->epochs || 2 * k > nb) {
        times = calloc((size_t)o->epochs, sizeof *times);
        if (times == NULL) FAIL("out of memory");
        for (int e = 0; e < o->epochs; ++e) {
            if (cns_trainer_run_epoch(trainer, e + 2, &es) != CNS_OK)
                FAIL("%s", cns_trainer_last_error(trainer));
            times[e] = es.seconds;
        }
        qsort(times, (size_t)o->epochs, sizeof *times, cmp_double);
        row->epoch_seconds = o->epochs % 2 ? times[o->epochs / 2]
                                           : 0.5 * (times[o->epochs / 2 - 1] + times[o->epochs / 2]);
    } else {
        /* T(2k) - T(k) is k batches without the fixed costs (the epoch's
         * shuffle and its closing full forward), which T(k) holds once. */
        if (cns__trainer_run_batches(trainer, 2, 2 * k, &es) != CNS_OK)
            FAIL("%s", cns_trainer_last_error(trainer));
        double t2 = es.seconds, per = (t2 - t1) / (double)k;
        if (!(per > 0)) per = t2 / (double)(2 * k);
        row->epoch_seconds = t2 + per * (double)(nb - 2 * k);
        row->extrapolated = 1;
    }

    for (int p = 0; p < CNS_PHASE_SLOTS; ++p)
        row->phase_ms[p] = es.batches ? 1e3 * es.phase_seconds[p] / (double)es.batches : 0.0;

    if (!eval) {
        row->ok = 1;
        goto done;
    }
    if (cns_evaluator_create(train, NULL, &ev, &err) != CNS_OK) FAIL("evaluator: %s", err.message);
    if (cns_evaluator_set_int(ev, CNS_EVAL_THREADS, o->threads) != CNS_OK)
        FAIL("evaluator: %s", cns_evaluator_last_error(ev));
    const int32_t ks[1] = {20};
    double metrics[CNS_METRIC_COUNT];
    t0 = cns__now();
    if (cns_evaluator_run(ev, cns_model_embeddings(model, CNS_TABLE_USERS), cns_model_num_users(model),
                          cns_model_embeddings(model, CNS_TABLE_ITEMS), cns_model_num_items(model),
                          cns_model_dim(model), test, ks, 1, metrics, NULL) != CNS_OK)
        FAIL("evaluation: %s", cns_evaluator_last_error(ev));
    row->eval_seconds = cns__now() - t0;
    row->ok = 1;
done:
    row->peak_rss_mb = peak_rss_mb();
    free(times);
    cns_evaluator_free(ev);
    cns_trainer_free(trainer);
    cns_loss_free(loss);
    cns_sampler_free(sampler);
    cns_model_free(model);
    cns_dataset_free(test);
    cns_dataset_free(train);
}
#undef FAIL

/* Runs fn in a child and reads its row; the parent's memory stays small. */
static int in_child(const scale_opts *o, const char *dir, double millions, int layers, int kind,
                    int scaled, int generate, int eval, scale_row *row) {
    int fd[2];
    memset(row, 0, sizeof *row);
    if (pipe(fd) != 0) {
        snprintf(row->error, sizeof row->error, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(row->error, sizeof row->error, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        scale_row r;
        memset(&r, 0, sizeof r);
        if (generate) {
            cns_world_desc d;
            scale_world(millions, o->seed, &d);
            cns_world *w = NULL;
            cns_error err;
            double t0 = cns__now();
            if (cns_world_create(&d, NULL, &w, &err) != CNS_OK ||
                cns_world_write(w, dir, &err) != CNS_OK)
                snprintf(r.error, sizeof r.error, "world: %s", err.message);
            else
                r.ok = 1;
            r.epoch_seconds = cns__now() - t0; /* generation + writing */
            if (w) r.interactions = cns_dataset_num_interactions(cns_world_dataset(w, CNS_SPLIT_TRAIN));
            cns_world_free(w);
        } else {
            r.layers = layers;
            r.sampler = kind;
            run_point(o, dir, layers, kind, scaled, eval, &r);
        }
        ssize_t wr = write(fd[1], &r, sizeof r);
        _exit(wr == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof *row) {
        ssize_t k = read(fd[0], (char *)row + got, sizeof *row - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (got != sizeof *row) {
        memset(row, 0, sizeof *row);
        snprintf(row->error, sizeof row->error, "the child process died (status %d)", status);
        return -1;
    }
    return row->ok ? 0 : -1;
}

static void remove_dir(const char *dir) {
    static const char *const names[] = {"train.txt", "valid.txt", "test_iid.txt", "test_ood.txt",
                                        "valid_ood.txt"};
    char path[4096];
    for (size_t k = 0; k < sizeof names / sizeof names[0]; ++k) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        unlink(path);
    }
    rmdir(dir);
}

int bench_scale(int argc, char **argv) {
    scale_opts o;
    memset(&o, 0, sizeof o);
    parse_sizes("0.1,0.3,1,3,10", &o);
    o.threads = 2;
    o.epochs = 3;
    o.dim = 64;
    o.budget = 30.0;
    o.seed = 1;
    o.paths = 7;
    for (int a = 1; a < argc; ++a) {
        const char *opt = argv[a];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(opt, "--no-eval") == 0) {
            o.no_eval = 1;
            continue;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "cnsdiff bench scale: %s needs a value\n", opt);
            usage(stderr);
            return 2;
        }
        const char *val = argv[++a];
        char *end = NULL;
        int good = 1;
        if (strcmp(opt, "--sizes") == 0) {
            good = parse_sizes(val, &o);
        } else if (strcmp(opt, "--report") == 0) {
            o.report = val;
        } else if (strcmp(opt, "--threads") == 0) {
            long v = strtol(val, &end, 10);
            good = *end == '\0' && v >= 1 && v <= 256;
            o.threads = (int)v;
        } else if (strcmp(opt, "--epochs") == 0) {
            long v = strtol(val, &end, 10);
            good = *end == '\0' && v >= 1 && v <= 100;
            o.epochs = (int)v;
        } else if (strcmp(opt, "--budget") == 0) {
            o.budget = strtod(val, &end);
            good = *end == '\0' && o.budget > 0 && o.budget <= 1e6;
        } else if (strcmp(opt, "--paths") == 0) {
            o.paths = 0;
            for (const char *p = val; good && *p;) {
                size_t len = strcspn(p, ",");
                if (len == 5 && strncmp(p, "exact", 5) == 0)
                    o.paths |= 1;
                else if (len == 12 && strncmp(p, "batch-scaled", 12) == 0)
                    o.paths |= 2;
                else if (len == 5 && strncmp(p, "stale", 5) == 0)
                    o.paths |= 4;
                else if (len == 12 && strncmp(p, "stale-sparse", 12) == 0)
                    o.paths |= 8;
                else
                    good = 0;
                p += len;
                if (*p == ',') ++p;
            }
            good = good && o.paths != 0;
        } else if (strcmp(opt, "--seed") == 0) {
            unsigned long long v = strtoull(val, &end, 10);
            good = *end == '\0' && *val != '-';
            o.seed = v;
        } else {
            fprintf(stderr, "cnsdiff bench scale: unknown option '%s'\n", opt);
            usage(stderr);
            return 2;
        }
        if (!good || (end != NULL && end == val)) {
            fprintf(stderr, "cnsdiff bench scale: bad value '%s' for %s\n", val, opt);
            return 2;
        }
    }
    FILE *rep = NULL;
    if (o.report != NULL && (rep = fopen(o.report, "w")) == NULL) {
        fprintf(stderr, "cnsdiff bench scale: cannot write %s: %s\n", o.report, strerror(errno));
        return 1;
    }
    if (rep) fprintf(rep, "{\"rows\": [");
    printf("%12s  %-8s  %-7s  %-12s  %6s  %9s  %8s  %7s  %7s  %8s  %s\n", "interactions", "encoder",
           "sampler", "path", "batch", "epoch s", "s / M", "load s", "eval s", "peak MB", "extrapolated");
    int failed = 0, first = 1;
    static const int layers_of[2] = {0, 2};
    static const int kinds[2] = {CNS_SAMPLER_UNIFORM, CNS_SAMPLER_DIFFUSION};
    for (int s = 0; s < o.n_sizes && !failed; ++s) {
        char dir[] = "/tmp/cnsdiff_scale_XXXXXX";
        if (mkdtemp(dir) == NULL) {
            fprintf(stderr, "cnsdiff bench scale: mkdtemp: %s\n", strerror(errno));
            failed = 1;
            break;
        }
        scale_row g;
        if (in_child(&o, dir, o.sizes[s], 0, 0, 0, 1, 0, &g) != 0) {
            fprintf(stderr, "cnsdiff bench scale: %g M: %s\n", o.sizes[s], g.error);
            remove_dir(dir);
            failed = 1;
            break;
        }
        fprintf(stderr, "world of %.2f M training interactions: %zu, generated and written in %.1f s\n",
                o.sizes[s], g.interactions, g.epoch_seconds);
        double eval_seconds = 0.0;
        int evaluated = 0;
        for (int e = 0; e < 2 && !failed; ++e)
            for (int k = 0; k < 2 && !failed; ++k) {
                scale_row exact;
                int have_exact = 0;
                for (int scaled = 0; scaled < 4 && !failed; ++scaled) {
                    if (!(o.paths & (1 << scaled)) || (scaled == 2 && !e)) continue;
                    scale_row r;
                    static const char *const paths[4] = {"exact", "batch-scaled", "stale",
                                                         "stale-sparse"};
                    const char *path = paths[scaled];
                    const size_t sb = (g.interactions + FOOD_BATCHES - 1) / FOOD_BATCHES;
                    const size_t nbat = (g.interactions + BATCH - 1) / BATCH;
                    /* LightGCN's stale-sparse at K = 1 has no row-sparse step. */
                    if (have_exact && ((scaled == 1 && sb <= BATCH) ||
                                       (scaled >= 2 && e && nbat <= FOOD_BATCHES))) {
                        r = exact; /* the same run: the rule keeps the batch, or refreshes every step */
                    } else if (scaled == 1 && kinds[k] == CNS_SAMPLER_DIFFUSION && sb > CL_BATCH_MAX) {
                        printf("%12zu  %-8s  %-7s  %-12s  %6zu  skipped: the contrastive term is O(B^2)\n",
                               g.interactions, e ? "lightgcn" : "mf", "cnsdiff", path, sb);
                        continue;
                    } else if (in_child(&o, dir, o.sizes[s], layers_of[e], kinds[k], scaled, 0,
                                        !evaluated && !o.no_eval, &r) != 0) {
                        fprintf(stderr, "cnsdiff bench scale: %g M, %s, %s, %s: %s\n", o.sizes[s],
                                e ? "lightgcn" : "mf", k ? "cnsdiff" : "uniform", path, r.error);
                        failed = 1;
                        break;
                    }
                    if (!scaled) {
                        exact = r;
                        have_exact = 1;
                    }
                    /* One evaluation per size (the first point run): its
                     * cost depends on the shapes only, which all points share. */
                    if (!evaluated) {
                        eval_seconds = r.eval_seconds;
                        evaluated = 1;
                    } else {
                        r.eval_seconds = eval_seconds;
                    }
                    double spm = r.epoch_seconds / ((double)r.interactions / 1e6);
                    printf("%12zu  %-8s  %-7s  %-12s  %6zu  %9.3f  %8.3f  %7.2f  %7.2f  %8.0f  %s\n",
                           r.interactions, e ? "lightgcn" : "mf", k ? "cnsdiff" : "uniform", path,
                           r.batch, r.epoch_seconds, spm, r.load_seconds, r.eval_seconds, r.peak_rss_mb,
                           r.extrapolated ? "yes" : "no");
                    fflush(stdout);
                    fprintf(stderr, "  ms per batch: propagation %.2f  batch %.2f  sampler train %.2f  draw %.2f"
                            "  loss %.2f  backward %.2f  adam %.2f\n", r.phase_ms[0], r.phase_ms[1],
                            r.phase_ms[2], r.phase_ms[3], r.phase_ms[4], r.phase_ms[5], r.phase_ms[6]);
                    if (rep) {
                        fprintf(rep,
                                "%s\n  {\"interactions\": %zu, \"encoder\": \"%s\", \"sampler\": \"%s\", "
                                "\"path\": \"%s\", \"batch_size\": %zu, \"refresh_every\": %zu, "
                                "\"epoch_seconds_median\": %.6f, "
                                "\"seconds_per_million\": %.6f, \"load_seconds\": %.6f, "
                                "\"eval_seconds\": %.6f, \"peak_rss_mb\": %.1f, \"extrapolated\": %s}",
                                first ? "" : ",", r.interactions, e ? "lightgcn" : "mf",
                                k ? "cnsdiff" : "uniform", path, r.batch,
                                r.refresh ? r.refresh : (size_t)1, r.epoch_seconds, spm,
                                r.load_seconds, r.eval_seconds, r.peak_rss_mb,
                                r.extrapolated ? "true" : "false");
                        first = 0;
                    }
                }
            }
        remove_dir(dir);
    }
    if (rep) {
        fprintf(rep, "\n]}\n");
        if (fclose(rep) != 0) {
            fprintf(stderr, "cnsdiff bench scale: writing %s failed\n", o.report);
            return 1;
        }
    }
    return failed ? 1 : 0;
}
