/* cnsdiff world — generate the confounded world (docs/WORLD.md), write its
 * five splits and, with --stats, measure how the OOD split is shifted. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "cnsdiff/cnsdiff.h"
#include "world_internal.h"

static void world_usage(FILE *f) {
    cns_world_desc d;
    cns_world_desc_init(&d);
    fprintf(f,
            "usage: cnsdiff world --out DIR [OPTIONS]\n"
            "       cnsdiff world --stats [--out DIR] [OPTIONS]\n"
            "\n"
            "Generates a synthetic confounded world: latent user/item factors decide\n"
            "relevance, item popularity decides exposure. Writes train.txt, valid.txt,\n"
            "test_iid.txt (confounded exposure), test_ood.txt and valid_ood.txt (exposure\n"
            "that ignores or opposes popularity) as \"user item\" lines into DIR (created\n"
            "if missing), and prints the number of interactions of each and the\n"
            "generation time. The model and its calibration are in docs/WORLD.md.\n"
            "\n"
            "options:\n"
            "  --out DIR            directory for the five split files\n"
            "  --users N            users (default %d)\n"
            "  --items M            items (default %d)\n"
            "  --factors F          latent relevance factors (default %d)\n"
            "  --per-user K         mean confounded interactions per user (default %d)\n"
            "  --ood-per-user K     mean OOD test interactions per user (default %d)\n"
            "  --confounding C      popularity exponent of exposure, 0..5 (default %g)\n"
            "  --pop-relevance R    popularity exponent of relevance, 0..5 (default %g)\n"
            "  --degree-spread S    std of log user activity, 0..3 (default %g)\n"
            "  --ood uniform|anti-popular\n"
            "                       exposure of the OOD test (default uniform)\n"
            "  --seed S             random seed (default %llu)\n"
            "  --stats              print the statistics the defaults are calibrated to:\n"
            "                       density, user-degree and item-popularity distributions,\n"
            "                       the popularity ratio (mean training popularity of the\n"
            "                       OOD test items / of the training interactions), and\n"
            "                       Recall@20 of the true relevance, of popularity and of\n"
            "                       a random ranking\n"
            "  --help               this text\n"
            "\n"
            "Exit status: 0 success, 1 the library reported an error, 2 usage error.\n",
            (int)d.num_users, (int)d.num_items, (int)d.factors, (int)d.per_user,
            (int)d.ood_per_user, d.confounding, d.pop_relevance, d.degree_spread,
            (unsigned long long)d.seed);
}

static int parse_i32(const char *s, int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < INT32_MIN || v > INT32_MAX) return 0;
    *out = (int32_t)v;
    return 1;
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (*s == '-') return 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') return 0;
    *out = (uint64_t)v;
    return 1;
}

static int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0') return 0;
    *out = v;
    return 1;
}

/* Gini coefficient of non-negative counts: 0 when all equal, -> 1 when one
 * item takes everything. */
static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static double gini(const int32_t *counts, int32_t n) {
    int32_t *v = malloc((size_t)n * sizeof *v);
    if (v == NULL) return NAN;
    memcpy(v, counts, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_i32);
    double num = 0.0, total = 0.0;
    for (int32_t i = 0; i < n; ++i) {
        num += (2.0 * (i + 1) - n - 1) * v[i];
        total += v[i];
    }
    free(v);
    return total > 0 ? num / (n * total) : 0.0;
}

/* Mean training popularity of the items of a split, per interaction. */
static double mean_train_pop(const cns_dataset *split, const int32_t *train_pop) {
    size_t n = cns_dataset_num_interactions(split);
    double s = 0.0;
    for (size_t k = 0; k < n; ++k) {
        int32_t u, i;
        if (cns_dataset_pair(split, k, &u, &i) != CNS_OK) return NAN;
        s += train_pop[i];
    }
    return n ? s / (double)n : 0.0;
}

/* Hill estimator of the tail exponent alpha (P(X > x) ~ x^-alpha) over the
 * largest 10% of the positive counts; docs/bench/real_stats.py computes
 * the same on real data. v is sorted ascending. */
static double hill(const int32_t *v, int32_t n) {
    int32_t first = 0;
    while (first < n && v[first] <= 0) ++first;
    int32_t pos = n - first, k = pos / 10 > 2 ? pos / 10 : 2;
    if (pos <= k) return NAN;
    double xk = v[n - 1 - k], s = 0.0;
    for (int32_t j = 0; j < k; ++j) s += log(v[n - 1 - j] / xk);
    return s > 0 ? k / s : NAN;
}

static void print_dist(const char *name, const int32_t *counts, int32_t n) {
    int32_t *v = malloc((size_t)n * sizeof *v);
    if (v == NULL) return;
    memcpy(v, counts, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_i32);
    double sum = 0.0;
    for (int32_t i = 0; i < n; ++i) sum += v[i];
    printf("  %-28s mean %.1f  q10 %d  q50 %d  q90 %d  q99 %d  max %d  Gini %.3f  Hill %.2f\n",
           name, sum / n, (int)v[n / 10], (int)v[n / 2], (int)v[(int64_t)n * 9 / 10],
           (int)v[(int64_t)n * 99 / 100], (int)v[n - 1], gini(v, n), hill(v, n));
    free(v);
}

#define TOPK 20
#define STATS_USERS 2000 /* users scored for Recall@20: a full ranking each */

/* Recall@20 of a fixed score per (user, item), training items excluded
 * (ALGORITHM.md §11), over the first STATS_USERS users with test pairs.
 * by_truth: score the true relevance, else train popularity. rnd: the
 * expected Recall@20 of a random ranking over the same users. */
static double recall_at_k(const cns_world *w, const cns_dataset *test, int by_truth, double *rnd) {
    const cns_world_desc *d = cns__world_desc(w);
    const cns_dataset *train = cns_world_dataset(w, CNS_SPLIT_TRAIN);
    const int32_t *pop = cns_dataset_item_popularity(train);
    double *score = malloc((size_t)d->num_items * sizeof *score);
    if (score == NULL) return NAN;
    double sum = 0.0, rsum = 0.0;
    int32_t users = 0;
    for (int32_t u = 0; u < d->num_users && users < STATS_USERS; ++u) {
        const int32_t *ti, *tr;
        size_t tn, trn;
        if (cns_dataset_user_items(test, u, &ti, &tn) != CNS_OK || tn == 0) continue;
        if (cns_dataset_user_items(train, u, &tr, &trn) != CNS_OK) continue;
        for (int32_t i = 0; i < d->num_items; ++i)
            score[i] = by_truth ? cns__world_log_relevance(w, u, i) : (double)pop[i];
        for (size_t j = 0; j < trn; ++j) score[tr[j]] = -INFINITY;
        int32_t top[TOPK];
        int n = 0;
        for (int32_t i = 0; i < d->num_items; ++i) {
            if (score[i] == -INFINITY) continue;
            /* Insertion into a short sorted list; ties keep the lower id. */
            int at = n < TOPK ? n : TOPK;
            while (at > 0 && score[top[at - 1]] < score[i]) --at;
            if (at >= TOPK) continue;
            int last = n < TOPK ? n : TOPK - 1;
            for (int j = last; j > at; --j) top[j] = top[j - 1];
            top[at] = i;
            if (n < TOPK) ++n;
        }
        int hits = 0;
        for (int j = 0; j < n; ++j) hits += cns_dataset_contains(test, u, top[j]);
        sum += (double)hits / (double)tn;
        rsum += (double)TOPK / (double)(d->num_items - (int32_t)trn);
        ++users;
    }
    free(score);
    if (rnd) *rnd = users ? rsum / users : NAN;
    return users ? sum / users : 0.0;
}

static void print_stats(const cns_world *w) {
    const cns_world_desc *d = cns__world_desc(w);
    const cns_dataset *tr = cns_world_dataset(w, CNS_SPLIT_TRAIN);
    const cns_dataset *iid = cns_world_dataset(w, CNS_SPLIT_TEST_IID);
    const cns_dataset *ood = cns_world_dataset(w, CNS_SPLIT_TEST_OOD);
    const int32_t U = cns_dataset_num_users(tr), M = cns_dataset_num_items(tr);
    const int32_t *train_pop = cns_dataset_item_popularity(tr);
    int32_t rare = 0;
    for (int32_t i = 0; i < M; ++i) rare += train_pop[i] < cns__world_ood_min_pop();
    int32_t *deg = calloc((size_t)U, sizeof *deg), *pop = calloc((size_t)M, sizeof *pop);
    if (deg == NULL || pop == NULL) {
        free(deg);
        free(pop);
        fprintf(stderr, "cnsdiff world: out of memory for the statistics\n");
        return;
    }
    size_t all = 0;
    for (int k = 0; k < 5; ++k) {
        const cns_dataset *s = cns_world_dataset(w, k);
        const int32_t *p = cns_dataset_item_popularity(s);
        for (int32_t i = 0; i < M; ++i) pop[i] += p[i];
        for (int32_t u = 0; u < U; ++u) {
            const int32_t *it;
            size_t n;
            if (cns_dataset_user_items(s, u, &it, &n) == CNS_OK) deg[u] += (int32_t)n;
        }
        all += cns_dataset_num_interactions(s);
    }
    printf("\nstatistics (docs/WORLD.md §4; real data: docs/bench/real_stats.py):\n");
    printf("  density                      all splits %.5f  train %.5f\n", (double)all / U / M,
           (double)cns_dataset_num_interactions(tr) / U / M);
    print_dist("user degree, all splits", deg, U);
    print_dist("item popularity, all splits", pop, M);
    print_dist("item popularity, train", train_pop, M);
    printf("  items in train < %d times     %d of %d (never OOD items)\n",
           (int)cns__world_ood_min_pop(), (int)rare, (int)M);
    printf("  popularity Gini              train %.3f  test_iid %.3f  test_ood %.3f\n",
           gini(train_pop, M), gini(cns_dataset_item_popularity(iid), M),
           gini(cns_dataset_item_popularity(ood), M));
    double mt = mean_train_pop(tr, train_pop);
    double mi = mean_train_pop(iid, train_pop), mo = mean_train_pop(ood, train_pop);
    printf("  mean train popularity        train pairs %.1f  test_iid items %.1f  test_ood items %.1f\n",
           mt, mi, mo);
    printf("  popularity ratio             test_ood %.3f  test_iid %.3f  (mean train popularity of the\n"
           "                               test items / of the training interactions)\n",
           mt > 0 ? mo / mt : NAN, mt > 0 ? mi / mt : NAN);
    double ri, ro;
    double pi = recall_at_k(w, iid, 0, &ri), po = recall_at_k(w, ood, 0, &ro);
    int32_t su = d->num_users < STATS_USERS ? d->num_users : STATS_USERS;
    printf("  Recall@%d true relevance     test_iid %.4f  test_ood %.4f  (first %d users)\n", TOPK,
           recall_at_k(w, iid, 1, NULL), recall_at_k(w, ood, 1, NULL), (int)su);
    printf("  Recall@%d popularity         test_iid %.4f  test_ood %.4f\n", TOPK, pi, po);
    printf("  Recall@%d random ranking     test_iid %.4f  test_ood %.4f\n", TOPK, ri, ro);
    printf("  popularity lift (/ random)   test_iid %.2f  test_ood %.2f\n", pi / ri, po / ro);
    free(deg);
    free(pop);
}

int cmd_world(int argc, char **argv) {
    cns_world_desc d;
    cns_world_desc_init(&d);
    const char *out = NULL;
    int stats = 0;
    for (int a = 1; a < argc; ++a) {
        const char *opt = argv[a];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            world_usage(stdout);
            return 0;
        }
        if (strcmp(opt, "--stats") == 0) {
            stats = 1;
            continue;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "cnsdiff world: %s needs a value (see cnsdiff world --help)\n", opt);
            return 2;
        }
        const char *val = argv[++a];
        int good = 1;
        if (strcmp(opt, "--out") == 0)
            out = val;
        else if (strcmp(opt, "--users") == 0)
            good = parse_i32(val, &d.num_users);
        else if (strcmp(opt, "--items") == 0)
            good = parse_i32(val, &d.num_items);
        else if (strcmp(opt, "--factors") == 0)
            good = parse_i32(val, &d.factors);
        else if (strcmp(opt, "--per-user") == 0)
            good = parse_i32(val, &d.per_user);
        else if (strcmp(opt, "--ood-per-user") == 0)
            good = parse_i32(val, &d.ood_per_user);
        else if (strcmp(opt, "--confounding") == 0)
            good = parse_double(val, &d.confounding);
        else if (strcmp(opt, "--pop-relevance") == 0)
            good = parse_double(val, &d.pop_relevance);
        else if (strcmp(opt, "--degree-spread") == 0)
            good = parse_double(val, &d.degree_spread);
        else if (strcmp(opt, "--seed") == 0)
            good = parse_u64(val, &d.seed);
        else if (strcmp(opt, "--ood") == 0) {
            if (strcmp(val, "uniform") == 0)
                d.ood_exposure = CNS_OOD_UNIFORM;
            else if (strcmp(val, "anti-popular") == 0)
                d.ood_exposure = CNS_OOD_ANTI_POPULAR;
            else
                good = 0;
        } else {
            fprintf(stderr, "cnsdiff world: unknown option '%s' (see cnsdiff world --help)\n", opt);
            return 2;
        }
        if (!good) {
            fprintf(stderr, "cnsdiff world: bad value '%s' for %s\n", val, opt);
            return 2;
        }
    }
    if (out == NULL && !stats) {
        fprintf(stderr, "cnsdiff world: --out DIR is required (or --stats)\n");
        world_usage(stderr);
        return 2;
    }

    cns_error err;
    cns_world *w = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cns_status gst = cns_world_create(&d, NULL, &w, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (gst != CNS_OK) {
        fprintf(stderr, "cnsdiff world: %s\n", err.message);
        return 1;
    }
    if (out != NULL) {
        if (mkdir(out, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "cnsdiff world: cannot create %s: %s\n", out, strerror(errno));
            cns_world_free(w);
            return 1;
        }
        if (cns_world_write(w, out, &err) != CNS_OK) {
            fprintf(stderr, "cnsdiff world: %s\n", err.message);
            cns_world_free(w);
            return 1;
        }
    }
    static const char *const names[5] = {"train.txt", "valid.txt", "test_iid.txt", "test_ood.txt",
                                         "valid_ood.txt"};
    printf("world: %d users, %d items, confounding %g, OOD exposure %s, seed %llu"
           " (generated in %.2f s)\n",
           (int)d.num_users, (int)d.num_items, d.confounding,
           d.ood_exposure == CNS_OOD_ANTI_POPULAR ? "anti-popular" : "uniform",
           (unsigned long long)d.seed,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    for (int k = 0; k < 5; ++k) {
        if (out != NULL)
            printf("  %s/%-13s %7zu interactions\n", out, names[k],
                   cns_dataset_num_interactions(cns_world_dataset(w, k)));
        else
            printf("  %-13s %7zu interactions\n", names[k],
                   cns_dataset_num_interactions(cns_world_dataset(w, k)));
    }
    if (stats) print_stats(w);
    cns_world_free(w);
    return 0;
}
