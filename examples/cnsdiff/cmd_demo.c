/* cnsdiff demo — the calibrated world (docs/WORLD.md) with uniform and with
 * anti-popular OOD exposure: the library's default pipeline against uniform
 * and DNS negatives, each under the library's default selection rule, over
 * three seeds; IID and OOD test metrics side by side as mean ± sd, and one
 * line that says what they mean. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "cli.h"
#include "report.h"
#include "run.h"

#define DEMO_SEEDS 3
#define DEMO_SAMPLERS 3
#define DEMO_WORLDS 2
#define DEMO_MAX_JOBS (DEMO_WORLDS * DEMO_SEEDS * DEMO_SAMPLERS)

static const char *const k_world_names[DEMO_WORLDS] = {"ood-uniform", "ood-anti-popular"};
static const int k_world_ood[DEMO_WORLDS] = {CNS_OOD_UNIFORM, CNS_OOD_ANTI_POPULAR};
/* Longest runs first, so that the last runs to start are short ones and the
 * threads finish close together. */
static const char *const k_labels[DEMO_SAMPLERS] = {"cnsdiff", "dns", "uniform"};
static const int k_kinds[DEMO_SAMPLERS] = {CNS_SAMPLER_DIFFUSION, CNS_SAMPLER_DNS, CNS_SAMPLER_UNIFORM};
/* Rows of the table and keys of the report, in this order. */
static const int k_show[DEMO_SAMPLERS] = {2, 1, 0}; /* uniform, dns, cnsdiff */

static void usage(FILE *f) {
    cns_world_desc wd;
    cns_world_desc_init(&wd);
    run_select def;
    int def_patience;
    run_default_select(&def, &def_patience);
    char spelling[48];
    run_select_spelling(&def, spelling, sizeof spelling);
    fprintf(f,
            "usage: cnsdiff demo [--epochs N] [--seed S] [--threads T] [--select-by RULE]\n"
            "                    [--preset NAME] [--set NAME=VALUE]... [--users N] [--items M]\n"
            "                    [--report FILE.json] [--quiet]\n"
            "\n"
            "The calibrated synthetic world of docs/WORLD.md (popularity drives exposure,\n"
            "latent factors and some popularity drive relevance), once with uniform and once\n"
            "with anti-popular OOD exposure, for the seeds S, S+1 and S+2. Trains the\n"
            "library's default pipeline (cnsdiff: the default preset unless --preset says\n"
            "otherwise) and, as baselines, uniform negatives (BPR only) and DNS, with the\n"
            "same budget; selects each run's epoch on the world's IID valid.txt with the same\n"
            "rule (--select-by, default the library's) and never on a test split. Prints, per\n"
            "world, IID and OOD Recall@20 and NDCG@20 as mean ± sd over the seeds (sd: the\n"
            "sample standard deviation), then one line computed from them: per world, how\n"
            "cnsdiff's OOD and IID Recall@20 compare with the better baseline's, in percent\n"
            "and in units of the seeds' spread (beyond noise when the gap is at least twice\n"
            "the pooled sd). The two worlds of a seed share their training and IID splits, so\n"
            "each seed's three runs serve both worlds (checked; otherwise each world trains\n"
            "its own). About a minute on 2 quiet cores (docs/BENCHMARKS.md).\n"
            "\n"
            "  --epochs N          training epochs per run (default 15)\n"
            "  --seed S            base seed of worlds and training (default 1)\n"
            "  --threads T         trainings run at once, one thread each (default 2)\n"
            "  --select-by RULE    default (the default): the library's rule, %s,\n"
            "                      patience %d;\n"
            "                      ood: " RUN_SELECT_OOD "; or ndcg@20, ips_ndcg@20, ...\n"
            "                      (cnsdiff train --help)\n"
            "  --preset NAME       default, paper, paper-code or direction, for every run\n"
            "                      (ALGORITHM.md §15; default: default; the presets differ only\n"
            "                      in cnsdiff's mode and mixing)\n"
            "  --set NAME=VALUE    a tunable for every run (see cnsdiff train --help-params)\n"
            "  --users N           users of the world (default %d, the calibrated size)\n"
            "  --items M           items of the world (default %d)\n"
            "  --report FILE.json  {\"worlds\": {\"ood-uniform\": W, \"ood-anti-popular\": W}},\n"
            "                      W = {\"samplers\": {\"uniform\"|\"dns\"|\"cnsdiff\": {\"test_iid\"|\n"
            "                      \"test_ood\": {METRIC: {\"mean\": x, \"sd\": y, \"seeds\": [...]}}}}},\n"
            "                      METRIC: the keys of cnsdiff train --report\n"
            "  --quiet             no progress lines\n"
            "\n"
            "Exit status: 0 success, 1 the library reported an error, 2 usage error.\n",
            spelling, def_patience, (int)wd.num_users, (int)wd.num_items);
}

/* One training: a sampler on one seed's training split, evaluated on every
 * test split it serves. */
typedef struct demo_job {
    run_config cfg;
    char label[48];
    const cns_dataset *train;
    const cns_dataset *valid;
    const char *test_names[1 + DEMO_WORLDS];
    const cns_dataset *tests[1 + DEMO_WORLDS];
    size_t n_tests;
    run_result res;
    int status;
    int ran;
} demo_job;

/* The jobs and the index of the next one to start; lock guards next and
 * failed. Each job's fields are written only by the thread that runs it. */
typedef struct demo_pool {
    demo_job *jobs;
    size_t n;
    size_t next;
    int failed;
    pthread_mutex_t lock;
} demo_pool;

static void *demo_worker(void *arg) {
    demo_pool *pool = arg;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        if (pool->failed || pool->next == pool->n) {
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
        demo_job *j = &pool->jobs[pool->next++];
        pthread_mutex_unlock(&pool->lock);
        j->status = run_training(&j->cfg, j->train, j->valid, j->test_names, j->tests, j->n_tests, &j->res);
        j->ran = 1;
        if (j->status != CNS_OK) {
            pthread_mutex_lock(&pool->lock);
            pool->failed = 1; /* the other threads finish their run and start no other */
            pthread_mutex_unlock(&pool->lock);
        }
    }
}

/* 1 when a and b hold the same shape and the same pairs. */
static int same_dataset(const cns_dataset *a, const cns_dataset *b) {
    size_t n = cns_dataset_num_interactions(a);
    if (cns_dataset_num_users(a) != cns_dataset_num_users(b) ||
        cns_dataset_num_items(a) != cns_dataset_num_items(b) || n != cns_dataset_num_interactions(b))
        return 0;
    for (size_t k = 0; k < n; ++k) {
        int32_t ua, ia, ub, ib;
        if (cns_dataset_pair(a, k, &ua, &ia) != CNS_OK || cns_dataset_pair(b, k, &ub, &ib) != CNS_OK ||
            ua != ub || ia != ib)
            return 0;
    }
    return 1;
}

/* One figure over the seeds. */
typedef struct demo_stat {
    double seeds[DEMO_SEEDS];
    double mean;
    double sd; /* sample standard deviation (n - 1); 0 with one seed */
} demo_stat;

static void stat_finish(demo_stat *s, int n) {
    double sum = 0.0, sq = 0.0;
    for (int i = 0; i < n; ++i) sum += s->seeds[i];
    s->mean = sum / n;
    for (int i = 0; i < n; ++i) sq += (s->seeds[i] - s->mean) * (s->seeds[i] - s->mean);
    s->sd = n > 1 ? sqrt(sq / (n - 1)) : 0.0;
}

/* [world][sampler as in k_labels][0 test_iid, 1 test_ood][metric of k_report_metrics] */
typedef demo_stat demo_table[DEMO_WORLDS][DEMO_SAMPLERS][2][REPORT_NUM_METRICS];

static int metric_index(const char *key) {
    for (int m = 0; m < REPORT_NUM_METRICS; ++m)
        if (strcmp(k_report_metrics[m].key, key) == 0) return m;
    return 0; /* not reached: callers pass keys of the table */
}

/* "+12.3% vs dns (2.4 sd, beyond noise)": sampler c against the better
 * baseline b on one figure. The gap in units of the pooled sd of the two,
 * sqrt((sd_c^2 + sd_b^2) / 2); beyond noise at 2 or more. */
static void compare(char *buf, size_t len, const demo_stat *c, const demo_stat *b, const char *b_name,
                    int seeds) {
    double gap = c->mean - b->mean;
    char rel[32];
    if (b->mean > 0.0)
        snprintf(rel, sizeof rel, "%+.1f%%", 100.0 * gap / b->mean);
    else
        snprintf(rel, sizeof rel, "%+.4f", gap);
    double pooled = sqrt((c->sd * c->sd + b->sd * b->sd) / 2.0);
    if (seeds < 2)
        snprintf(buf, len, "%s vs %s (1 seed: no spread to judge by)", rel, b_name);
    else if (pooled == 0.0)
        snprintf(buf, len, "%s vs %s (%s)", rel, b_name, gap == 0.0 ? "equal" : "sd 0, beyond noise");
    else
        snprintf(buf, len, "%s vs %s (%.1f sd, %s)", rel, b_name, fabs(gap) / pooled,
                 fabs(gap) >= 2.0 * pooled ? "beyond noise" : "within noise");
}

/* The one line: per world, cnsdiff's OOD and IID Recall@20 against the
 * baseline with the higher mean on that split. */
static void print_verdict(const demo_table *t, int seeds) {
    const int r20 = metric_index("recall@20");
    printf("verdict: Recall@20 of cnsdiff against the better baseline, mean over %d seed%s:", seeds,
           seeds == 1 ? "" : "s");
    for (int w = 0; w < DEMO_WORLDS; ++w) {
        char part[2][128];
        for (int split = 1; split >= 0; --split) {
            const demo_stat *c = &(*t)[w][0][split][r20]; /* k_labels[0] = cnsdiff */
            int b = (*t)[w][1][split][r20].mean >= (*t)[w][2][split][r20].mean ? 1 : 2;
            compare(part[split], sizeof part[split], c, &(*t)[w][b][split][r20], k_labels[b], seeds);
        }
        printf("%s %s: OOD %s, IID %s", w ? ";" : "", k_world_names[w], part[1], part[0]);
    }
    printf("\n");
}

static void print_world(const demo_table *t, int w, const demo_job *jobs, size_t n_jobs,
                        const demo_stat popular[2][REPORT_NUM_METRICS]) {
    const int r20 = metric_index("recall@20"), n20 = metric_index("ndcg@20");
    printf("\n%-8s %-9s  %-15s  %-15s  %-15s  %s\n", "sampler", "epochs", "IID recall@20", "IID ndcg@20",
           "OOD recall@20", "OOD ndcg@20");
    for (int row = 0; row < DEMO_SAMPLERS; ++row) {
        int s = k_show[row];
        char epochs[32] = "";
        size_t used = 0;
        for (size_t j = 0; j < n_jobs; ++j) /* jobs of this world and sampler, in seed order */
            if (jobs[j].cfg.sampler == k_kinds[s] &&
                (jobs[j].n_tests == 1 + DEMO_WORLDS || strcmp(jobs[j].test_names[1], k_world_names[w]) == 0) &&
                used + 8 < sizeof epochs)
                used += (size_t)snprintf(epochs + used, sizeof epochs - used, "%s%d", used ? "," : "",
                                         jobs[j].res.best_epoch);
        printf("%-8s %-9s", k_labels[s], epochs);
        for (int split = 0; split < 2; ++split)
            for (int m = 0; m < 2; ++m) {
                const demo_stat *x = &(*t)[w][s][split][m ? n20 : r20];
                printf("  %.4f ± %.4f", x->mean, x->sd);
            }
        printf("\n");
    }
    printf("%-8s %-9s", "popular", "-");
    for (int split = 0; split < 2; ++split)
        for (int m = 0; m < 2; ++m)
            printf("  %.4f ± %.4f", popular[split][m ? n20 : r20].mean, popular[split][m ? n20 : r20].sd);
    printf("\n");
}

static int write_report(const char *path, const demo_table *t, int seeds) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "cnsdiff: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    static const char *const split_names[2] = {"test_iid", "test_ood"};
    fprintf(f, "{\"worlds\": {");
    for (int w = 0; w < DEMO_WORLDS; ++w) {
        fprintf(f, "%s\n  \"%s\": {\"samplers\": {", w ? "," : "", k_world_names[w]);
        for (int row = 0; row < DEMO_SAMPLERS; ++row) {
            int s = k_show[row];
            fprintf(f, "%s\n    \"%s\": {", row ? "," : "", k_labels[s]);
            for (int split = 0; split < 2; ++split) {
                fprintf(f, "%s\n      \"%s\": {", split ? "," : "", split_names[split]);
                for (int m = 0; m < REPORT_NUM_METRICS; ++m) {
                    const demo_stat *x = &(*t)[w][s][split][m];
                    fprintf(f, "%s\"%s\": {\"mean\": %.6f, \"sd\": %.6f, \"seeds\": [", m ? ", " : "",
                            k_report_metrics[m].key, x->mean, x->sd);
                    for (int i = 0; i < seeds; ++i) fprintf(f, "%s%.6f", i ? ", " : "", x->seeds[i]);
                    fprintf(f, "]}");
                }
                fprintf(f, "}");
            }
            fprintf(f, "}");
        }
        fprintf(f, "}}");
    }
    fprintf(f, "\n}}\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "cnsdiff: writing %s failed\n", path);
        return -1;
    }
    return 0;
}

static int parse_int(const char *opt, const char *v, long lo, long hi, int *out) {
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "cnsdiff demo: %s takes an integer in [%ld, %ld], got '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int cmd_demo(int argc, char **argv) {
    run_config base;
    run_config_init(&base);
    /* 15 epochs keep the demo near a minute on 2 cores (docs/BENCHMARKS.md);
     * the selection rule is the library's (run_config_init). */
    base.epochs = 15;
    int workers = 2;
    cns_world_desc wd0;
    cns_world_desc_init(&wd0);
    int users = wd0.num_users, items = wd0.num_items;
    const char *report_path = NULL;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--quiet") == 0) {
            base.quiet = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "cnsdiff demo: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        if (strcmp(a, "--epochs") == 0) {
            if (parse_int(a, v, 1, 10000, &base.epochs)) return 2;
        } else if (strcmp(a, "--preset") == 0) {
            if ((base.preset = run_preset(v)) < 0) {
                fprintf(stderr, "cnsdiff demo: --preset takes default, paper, paper-code or direction\n");
                return 2;
            }
        } else if (strcmp(a, "--seed") == 0) {
            char *end = NULL;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-' || s > UINT64_MAX - DEMO_SEEDS) {
                fprintf(stderr, "cnsdiff demo: --seed takes a non-negative integer below 2^64 - %d\n",
                        DEMO_SEEDS);
                return 2;
            }
            base.seed = s;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_int(a, v, 1, 256, &workers)) return 2;
        } else if (strcmp(a, "--users") == 0) {
            if (parse_int(a, v, 1, 100000000, &users)) return 2;
        } else if (strcmp(a, "--items") == 0) {
            if (parse_int(a, v, 2, 100000000, &items)) return 2;
        } else if (strcmp(a, "--select-by") == 0) {
            char why[256];
            if (run_parse_select(v, &base.select, why, sizeof why) != 0) {
                fprintf(stderr, "cnsdiff demo: --select-by %s\n", why);
                return 2;
            }
        } else if (strcmp(a, "--set") == 0) {
            if (run_config_add_param(&base, v)) return 2;
        } else if (strcmp(a, "--report") == 0) {
            report_path = v;
        } else {
            fprintf(stderr, "cnsdiff demo: unknown option '%s'\n", a);
            return 2;
        }
        ++i;
    }
    /* One thread per training: measured cheaper in CPU time than two threads
     * per training, and the runs are independent (docs/BENCHMARKS.md). The
     * OpenBLAS count is process-wide, so it is set here once, before any
     * thread starts, and not by the runs. */
    base.threads = 1;
    base.blas_threads_set = 1;
    openblas_set_num_threads(1);

    int rc = 1;
    cns_world *worlds[DEMO_WORLDS][DEMO_SEEDS] = {{NULL}};
    demo_job *jobs = calloc(DEMO_MAX_JOBS, sizeof *jobs);
    size_t n_jobs = 0;
    demo_table *table = calloc(1, sizeof *table);
    int shared = 1;
    if (jobs == NULL || table == NULL) {
        fprintf(stderr, "cnsdiff: out of memory\n");
        goto out;
    }
    for (int w = 0; w < DEMO_WORLDS; ++w)
        for (int s = 0; s < DEMO_SEEDS; ++s) {
            cns_world_desc wd = wd0;
            wd.num_users = users;
            wd.num_items = items;
            wd.ood_exposure = k_world_ood[w];
            wd.seed = base.seed + (uint64_t)s;
            cns_error err;
            if (cns_world_create(&wd, NULL, &worlds[w][s], &err) != CNS_OK) {
                fprintf(stderr, "cnsdiff: world %s, seed %llu: %s\n", k_world_names[w],
                        (unsigned long long)wd.seed, err.message);
                goto out;
            }
            if (w > 0)
                shared = shared && same_dataset(cns_world_dataset(worlds[0][s], CNS_SPLIT_TRAIN),
                                                cns_world_dataset(worlds[w][s], CNS_SPLIT_TRAIN)) &&
                         same_dataset(cns_world_dataset(worlds[0][s], CNS_SPLIT_VALID),
                                      cns_world_dataset(worlds[w][s], CNS_SPLIT_VALID)) &&
                         same_dataset(cns_world_dataset(worlds[0][s], CNS_SPLIT_TEST_IID),
                                      cns_world_dataset(worlds[w][s], CNS_SPLIT_TEST_IID));
        }
    const cns_dataset *train0 = cns_world_dataset(worlds[0][0], CNS_SPLIT_TRAIN);
    fprintf(stderr, "calibrated world: %d users, %d items, %zu training interactions (seed %llu); seeds %llu-%llu\n",
            (int)cns_dataset_num_users(train0), (int)cns_dataset_num_items(train0),
            cns_dataset_num_interactions(train0), (unsigned long long)base.seed,
            (unsigned long long)base.seed, (unsigned long long)(base.seed + DEMO_SEEDS - 1));

    /* Sampler-major, longest first; within a sampler, by world and seed. */
    for (int k = 0; k < DEMO_SAMPLERS; ++k)
        for (int w = 0; w < (shared ? 1 : DEMO_WORLDS); ++w)
            for (int s = 0; s < DEMO_SEEDS; ++s) {
                demo_job *j = &jobs[n_jobs++];
                j->cfg = base;
                j->cfg.sampler = k_kinds[k];
                j->cfg.seed = base.seed + (uint64_t)s;
                if (shared)
                    snprintf(j->label, sizeof j->label, "seed %llu %s", (unsigned long long)j->cfg.seed,
                             k_labels[k]);
                else
                    snprintf(j->label, sizeof j->label, "%s seed %llu %s", k_world_names[w],
                             (unsigned long long)j->cfg.seed, k_labels[k]);
                j->cfg.label = j->label;
                j->train = cns_world_dataset(worlds[w][s], CNS_SPLIT_TRAIN);
                j->valid = cns_world_dataset(worlds[w][s], CNS_SPLIT_VALID); /* IID validation */
                j->test_names[0] = "test_iid";
                j->tests[0] = cns_world_dataset(worlds[w][s], CNS_SPLIT_TEST_IID);
                if (shared) {
                    for (int v = 0; v < DEMO_WORLDS; ++v) {
                        j->test_names[1 + v] = k_world_names[v];
                        j->tests[1 + v] = cns_world_dataset(worlds[v][s], CNS_SPLIT_TEST_OOD);
                    }
                    j->n_tests = 1 + DEMO_WORLDS;
                } else {
                    j->test_names[1] = k_world_names[w];
                    j->tests[1] = cns_world_dataset(worlds[w][s], CNS_SPLIT_TEST_OOD);
                    j->n_tests = 2;
                }
            }
    if (shared)
        fprintf(stderr, "the two worlds of a seed share train, valid and test_iid: %zu runs serve both\n",
                n_jobs);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    demo_pool pool = {jobs, n_jobs, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    if (workers > (int)n_jobs) workers = (int)n_jobs;
    pthread_t threads[256];
    int started = 0;
    for (int i = 0; i + 1 < workers; ++i) {
        if (pthread_create(&threads[started], NULL, demo_worker, &pool) != 0) break; /* fewer threads */
        ++started;
    }
    demo_worker(&pool); /* the calling thread is one of the workers */
    for (int i = 0; i < started; ++i) pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&pool.lock);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (size_t j = 0; j < n_jobs; ++j)
        if (jobs[j].ran && jobs[j].status != CNS_OK) {
            fprintf(stderr, "cnsdiff: %s: %s (%s)\n", jobs[j].label, jobs[j].res.error,
                    cns_status_name(jobs[j].status));
            goto out;
        }
    fprintf(stderr, "%zu runs on %d thread%s in %.1f s\n", n_jobs, started + 1, started ? "s" : "",
            (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));

    /* Gather: job (sampler k, world w or all, seed s) -> table[w][k][split][metric][s]. */
    demo_stat popular[DEMO_WORLDS][2][REPORT_NUM_METRICS];
    memset(popular, 0, sizeof popular);
    for (size_t j = 0; j < n_jobs; ++j) {
        const demo_job *jb = &jobs[j];
        int k = 0, s = (int)(jb->cfg.seed - base.seed);
        while (k_kinds[k] != jb->cfg.sampler) ++k;
        for (int w = 0; w < DEMO_WORLDS; ++w) {
            size_t ood = 0; /* the index of world w's OOD test in this job, if it has one */
            for (size_t x = 1; x < jb->n_tests; ++x)
                if (strcmp(jb->test_names[x], k_world_names[w]) == 0) ood = x;
            if (ood == 0) continue;
            for (int m = 0; m < REPORT_NUM_METRICS; ++m) {
                const report_metric *rm = &k_report_metrics[m];
                (*table)[w][k][0][m].seeds[s] = jb->res.test[0].at[rm->row][rm->metric];
                (*table)[w][k][1][m].seeds[s] = jb->res.test[ood].at[rm->row][rm->metric];
                if (jb->cfg.sampler == CNS_SAMPLER_UNIFORM) { /* most-popular: any run's, once */
                    popular[w][0][m].seeds[s] = jb->res.popular[0].at[rm->row][rm->metric];
                    popular[w][1][m].seeds[s] = jb->res.popular[ood].at[rm->row][rm->metric];
                }
            }
        }
    }
    for (int w = 0; w < DEMO_WORLDS; ++w)
        for (int split = 0; split < 2; ++split)
            for (int m = 0; m < REPORT_NUM_METRICS; ++m) {
                stat_finish(&popular[w][split][m], DEMO_SEEDS);
                for (int k = 0; k < DEMO_SAMPLERS; ++k) stat_finish(&(*table)[w][k][split][m], DEMO_SEEDS);
            }

    for (int w = 0; w < DEMO_WORLDS; ++w) {
        printf("%sworld %s (OOD test exposure %s)", w ? "\n" : "", k_world_names[w],
               k_world_ood[w] == CNS_OOD_UNIFORM ? "uniform" : "anti-popular");
        print_world(table, w, jobs, n_jobs, popular[w]);
    }
    printf("\n(mean ± sd over seeds %llu-%llu; cnsdiff: preset %s; each run's epoch selected on the IID\n"
           " valid.txt by %s; test splits never used for selection)\n",
           (unsigned long long)base.seed, (unsigned long long)(base.seed + DEMO_SEEDS - 1),
           cns_preset_name(base.preset), base.select.name);
    print_verdict(table, DEMO_SEEDS);
    if (report_path != NULL && write_report(report_path, table, DEMO_SEEDS) != 0) goto out;
    rc = 0;
out:
    if (jobs != NULL)
        for (size_t j = 0; j < n_jobs; ++j)
            if (jobs[j].ran) run_result_free(&jobs[j].res);
    free(jobs);
    free(table);
    for (int w = 0; w < DEMO_WORLDS; ++w)
        for (int s = 0; s < DEMO_SEEDS; ++s) cns_world_free(worlds[w][s]);
    return rc;
}
