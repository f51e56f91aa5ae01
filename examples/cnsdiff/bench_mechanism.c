/* cnsdiff bench mechanism — how a trained model's embeddings sit against
 * the direction mode's fixed direction ĉ (ALGORITHM.md §16): per
 * popularity decile of the items (and per degree decile of the users) the
 * mean projection on ĉ, the mean cosine with ĉ and the mean norm, and the
 * effective rank of the item table (issue "Beyond the paper", item 1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cnsdiff/cnsdiff.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cnsdiff bench mechanism --model FILE [--seed S]\n"
            "\n"
            "Loads a model checkpoint (it holds its training interactions), takes the final\n"
            "(propagated) embeddings, and the unit direction c that `cnsdiff train --mode\n"
            "direction --seed S` uses (the sampler's seeded random direction, §16; S = 1).\n"
            "Prints, per decile of training popularity (items) and of training degree\n"
            "(users), from least to most: count, mean popularity or degree, mean <e, c>,\n"
            "mean cos(e, c) and mean |e|; then the item table's effective rank\n"
            "exp(H(s / sum s)) over its singular values s (Roy and Vetterli), out of dim.\n");
}

typedef struct keyed {
    int32_t key, id;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key != y->key) return (x->key > y->key) - (x->key < y->key);
    return (x->id > y->id) - (x->id < y->id);
}

/* Rows of emb (n x d) grouped by key into ten equal-count deciles. */
static int print_deciles(const char *what, const float *emb, const int32_t *key, int32_t n,
                         size_t d, const float *c) {
    keyed *order = malloc((size_t)n * sizeof *order);
    if (order == NULL) return -1;
    for (int32_t i = 0; i < n; ++i) order[i] = (keyed){key[i], i};
    qsort(order, (size_t)n, sizeof *order, cmp_keyed);
    printf("%s decile  count  mean_key  mean_proj  mean_cos  mean_norm\n", what);
    for (int q = 0; q < 10; ++q) {
        const int32_t lo = (int32_t)((int64_t)n * q / 10), hi = (int32_t)((int64_t)n * (q + 1) / 10);
        double sk = 0, sp = 0, sc = 0, sn = 0;
        for (int32_t r = lo; r < hi; ++r) {
            const float *e = emb + (size_t)order[r].id * d;
            double dot = 0, nn = 0;
            for (size_t k = 0; k < d; ++k) {
                dot += (double)e[k] * c[k];
                nn += (double)e[k] * e[k];
            }
            const double norm = sqrt(nn);
            sk += order[r].key;
            sp += dot;
            sc += norm > 0 ? dot / norm : 0.0;
            sn += norm;
        }
        const double m = hi > lo ? (double)(hi - lo) : 1.0;
        printf("%s %6d %6d %9.2f %10.4f %9.4f %10.4f\n", what, q + 1, (int)(hi - lo), sk / m,
               sp / m, sc / m, sn / m);
    }
    free(order);
    return 0;
}

/* Eigenvalues of the symmetric d x d matrix a (destroyed) by cyclic
 * Jacobi rotations, into w. */
static void jacobi_eigen(double *a, size_t d, double *w) {
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0.0, diag = 0.0;
        for (size_t p = 0; p < d; ++p)
            for (size_t q = 0; q < d; ++q) {
                const double x2 = a[p * d + q] * a[p * d + q];
                if (p == q)
                    diag += x2;
                else
                    off += x2;
            }
        if (off <= 1e-24 * (diag > 0 ? diag : 1.0)) break;
        for (size_t p = 0; p < d; ++p)
            for (size_t q = p + 1; q < d; ++q) {
                const double apq = a[p * d + q];
                if (apq == 0.0) continue;
                const double theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                const double cs = 1.0 / sqrt(t * t + 1.0), sn = t * cs;
                for (size_t k = 0; k < d; ++k) { /* columns p, q */
                    const double akp = a[k * d + p], akq = a[k * d + q];
                    a[k * d + p] = cs * akp - sn * akq;
                    a[k * d + q] = sn * akp + cs * akq;
                }
                for (size_t k = 0; k < d; ++k) { /* rows p, q */
                    const double apk = a[p * d + k], aqk = a[q * d + k];
                    a[p * d + k] = cs * apk - sn * aqk;
                    a[q * d + k] = sn * apk + cs * aqk;
                }
            }
    }
    for (size_t k = 0; k < d; ++k) w[k] = a[k * d + k];
}

/* exp(entropy of the normalised singular values) of emb (n x d), from the
 * eigenvalues of its d x d Gram matrix. */
static double effective_rank(const float *emb, int32_t n, size_t d) {
    double *g = calloc(d * d, sizeof *g), *w = calloc(d, sizeof *w);
    if (g == NULL || w == NULL) {
        free(g);
        free(w);
        return NAN;
    }
    for (int32_t i = 0; i < n; ++i) {
        const float *e = emb + (size_t)i * d;
        for (size_t p = 0; p < d; ++p)
            for (size_t q = p; q < d; ++q) g[p * d + q] += (double)e[p] * e[q];
    }
    for (size_t p = 0; p < d; ++p)
        for (size_t q = 0; q < p; ++q) g[p * d + q] = g[q * d + p];
    jacobi_eigen(g, d, w);
    double sum = 0.0, h = 0.0;
    for (size_t k = 0; k < d; ++k) sum += w[k] = sqrt(w[k] > 0 ? w[k] : 0.0);
    for (size_t k = 0; k < d; ++k)
        if (w[k] > 0 && sum > 0) h -= w[k] / sum * log(w[k] / sum);
    free(g);
    free(w);
    return exp(h);
}

int bench_mechanism(int argc, char **argv) {
    const char *model_path = NULL;
    unsigned long long seed = 1;
    for (int a = 1; a < argc; ++a) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "cnsdiff bench mechanism: unknown or incomplete option '%s'\n", argv[a]);
            usage(stderr);
            return 2;
        }
        const char *opt = argv[a], *v = argv[++a];
        if (strcmp(opt, "--model") == 0) {
            model_path = v;
        } else if (strcmp(opt, "--seed") == 0) {
            char *end;
            seed = strtoull(v, &end, 10);
            if (*v == '\0' || *v == '-' || *end != '\0') {
                fprintf(stderr, "cnsdiff bench mechanism: --seed takes a non-negative integer, got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "cnsdiff bench mechanism: unknown option '%s'\n", opt);
            usage(stderr);
            return 2;
        }
    }
    if (model_path == NULL) {
        fprintf(stderr, "cnsdiff bench mechanism: --model FILE is required\n");
        usage(stderr);
        return 2;
    }
    int rc = 1;
    cns_error err;
    cns_model *m = NULL;
    cns_sampler *s = NULL;
    float *c = NULL, *zero = NULL;
    int32_t *deg = NULL;
    if (cns_model_load(model_path, NULL, &m, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff bench mechanism: %s\n", err.message);
        return 1;
    }
    int st = cns_model_forward(m);
    if (st != CNS_OK) {
        fprintf(stderr, "cnsdiff bench mechanism: forward: %s\n", cns_model_last_error(m));
        goto out;
    }
    const size_t d = (size_t)cns_model_dim(m);
    const int32_t nu = cns_model_num_users(m), ni = cns_model_num_items(m);
    /* c: one row of a direction-mode draw of norm 1 with the run's seed */
    cns_sampler_desc sd;
    cns_sampler_desc_init(&sd);
    sd.dim = (int32_t)d;
    sd.seed = seed;
    c = calloc(d, sizeof *c);
    zero = calloc(d, sizeof *zero);
    deg = malloc((size_t)nu * sizeof *deg);
    if (c == NULL || zero == NULL || deg == NULL) {
        fprintf(stderr, "cnsdiff bench mechanism: out of memory\n");
        goto out;
    }
    if ((st = cns_sampler_create(&sd, NULL, &s, &err)) != CNS_OK ||
        (st = cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_DIRECTION)) != CNS_OK ||
        (st = cns_sampler_set_double(s, CNS_SAMPLER_DIRECTION_NORM, 1.0)) != CNS_OK ||
        (st = cns_sampler_draw(s, zero, zero, 1, c)) != CNS_OK) {
        fprintf(stderr, "cnsdiff bench mechanism: direction: %s\n",
                s ? cns_sampler_last_error(s) : err.message);
        goto out;
    }
    const cns_dataset *train = cns_model_train_data(m);
    for (int32_t u = 0; u < nu; ++u) {
        const int32_t *items;
        size_t n;
        if (cns_dataset_user_items(train, u, &items, &n) != CNS_OK) {
            fprintf(stderr, "cnsdiff bench mechanism: user %d: no training row\n", (int)u);
            goto out;
        }
        deg[u] = (int32_t)n;
    }
    printf("model %s  users %d items %d dim %zu  direction seed %llu\n", model_path, (int)nu,
           (int)ni, d, seed);
    if (print_deciles("items", cns_model_embeddings(m, CNS_TABLE_ITEMS), cns_dataset_item_popularity(train),
                      ni, d, c) != 0 ||
        print_deciles("users", cns_model_embeddings(m, CNS_TABLE_USERS), deg, nu, d, c) != 0) {
        fprintf(stderr, "cnsdiff bench mechanism: out of memory\n");
        goto out;
    }
    printf("items effective_rank %.3f of %zu\n",
           effective_rank(cns_model_embeddings(m, CNS_TABLE_ITEMS), ni, d), d);
    rc = 0;
out:
    free(c);
    free(zero);
    free(deg);
    cns_sampler_free(s);
    cns_model_free(m);
    return rc;
}
