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
#include "ids.h"

#define MECH_TOPK 20
#define MECH_MAX_TESTS 8

static void usage(FILE *f) {
    fprintf(f,
            "usage: cnsdiff bench mechanism --model FILE [--seed S] [--test FILE]... [--csv]\n"
            "\n"
            "Loads a model checkpoint (it holds its training interactions), takes the final\n"
            "(propagated) embeddings, and the unit direction c that `cnsdiff train --mode\n"
            "direction --seed S` uses (the sampler's seeded random direction, §16; S = 1).\n"
            "Prints, per decile of training popularity (items) and of training degree\n"
            "(users), from least to most: count, mean popularity or degree, mean <e, c>,\n"
            "mean cos(e, c) and mean |e|; then the item table's effective rank\n"
            "exp(H(s / sum s)) over its singular values s (Roy and Vetterli), out of dim.\n"
            "Then what c does to the ranking: per item decile the mean score <u_bar, e> over\n"
            "all users (u_bar: the mean user) and its part along c, <u_bar, c><c, e>; the\n"
            "share of every user's top 20 (training items excluded) that falls in the decile,\n"
            "with the full score and with the c part of the score removed (e - <e, c>c), and\n"
            "for each --test FILE, Recall@20 both ways (docs/EVALUATION.md's Recall: hits over\n"
            "the user's test items, mean over users with any), ALGORITHM.md §18.\n"
            "--csv prints every figure as one 'quantity,group,value' line instead.\n");
}

typedef struct keyed {
    int32_t key, id;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key != y->key) return (x->key > y->key) - (x->key < y->key);
    return (x->id > y->id) - (x->id < y->id);
}

/* The decile (0..9) of each of n rows by key: ten equal-count groups in
 * ascending key order, ties broken by id. order (n entries) receives the
 * sorted rows when not NULL. Returns -1 when out of memory. */
static int decile_of(const int32_t *key, int32_t n, uint8_t *dec, keyed *order_out) {
    keyed *order = order_out != NULL ? order_out : malloc((size_t)n * sizeof *order);
    if (order == NULL) return -1;
    for (int32_t i = 0; i < n; ++i) order[i] = (keyed){key[i], i};
    qsort(order, (size_t)n, sizeof *order, cmp_keyed);
    for (int q = 0; q < 10; ++q) {
        const int32_t lo = (int32_t)((int64_t)n * q / 10), hi = (int32_t)((int64_t)n * (q + 1) / 10);
        for (int32_t r = lo; r < hi; ++r) dec[order[r].id] = (uint8_t)q;
    }
    if (order_out == NULL) free(order);
    return 0;
}

/* Rows of emb (n x d) grouped by key into ten equal-count deciles. */
static int print_deciles(const char *what, const float *emb, const int32_t *key, int32_t n,
                         size_t d, const float *c, int csv) {
    keyed *order = malloc((size_t)n * sizeof *order);
    uint8_t *dec = malloc((size_t)n);
    if (order == NULL || dec == NULL || decile_of(key, n, dec, order) != 0) {
        free(order);
        free(dec);
        return -1;
    }
    free(dec);
    const char *unit = what[0] == 'i' ? "item" : "user";
    if (csv) printf("%s_count,all,%d\n", unit, (int)n);
    else printf("%s decile  count  mean_key  mean_proj  mean_cos  mean_norm\n", what);
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
        if (csv)
            printf("%s_key,%d,%.6g\n%s_proj,%d,%.6g\n%s_cos,%d,%.6g\n%s_norm,%d,%.6g\n", unit, q + 1, sk / m,
                   unit, q + 1, sp / m, unit, q + 1, sc / m, unit, q + 1, sn / m);
        else
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

/* Inserts (item, score) into the best-first list top/ts of *n <= k entries.
 * Items arrive in ascending id order and only a strictly higher score moves
 * ahead, so ties go to the smaller item id, as in cns_model_recommend. */
static void topk_push(int32_t *top, float *ts, size_t *n, size_t k, int32_t item, float score) {
    if (*n == k && !(score > ts[k - 1])) return;
    size_t at = *n < k ? (*n)++ : k - 1;
    while (at > 0 && score > ts[at - 1]) {
        top[at] = top[at - 1];
        ts[at] = ts[at - 1];
        --at;
    }
    top[at] = item;
    ts[at] = score;
}

/* What c does to the ranking. Variant 0 scores <u, e_i>; variant 1 drops
 * the part along c, <u, e_i> - <u, c><e_i, c>. */
typedef struct rank_effect {
    double mean_score[10];   /* per item decile: mean over items of <u_bar, e_i> */
    double mean_score_c[10]; /* ... and its part along c, <u_bar, c><c, e_i> */
    double share[2][10];     /* share of all top-K slots that are items of the decile */
    double recall[2][MECH_MAX_TESTS];
    int32_t users[MECH_MAX_TESTS]; /* users with test items, per test */
} rank_effect;

/* ue (nu x d), ie (ni x d): final embeddings; c: unit direction; idec: the
 * decile of each item; train's items are never recommended. Returns -1 when
 * out of memory or a test split disagrees with the model's sizes. */
static int measure_rank_effect(const float *ue, int32_t nu, const float *ie, int32_t ni, size_t d,
                               const float *c, const cns_dataset *train, const uint8_t *idec,
                               const cns_dataset *const *tests, size_t n_tests, rank_effect *out) {
    memset(out, 0, sizeof *out);
    double *ubar = calloc(d, sizeof *ubar);
    float *pi = malloc((size_t)ni * sizeof *pi);
    int32_t *stamp = malloc((size_t)ni * sizeof *stamp), *hit = malloc((size_t)ni * sizeof *hit);
    if (ubar == NULL || pi == NULL || stamp == NULL || hit == NULL) {
        free(ubar);
        free(pi);
        free(stamp);
        free(hit);
        return -1;
    }
    for (int32_t u = 0; u < nu; ++u)
        for (size_t k = 0; k < d; ++k) ubar[k] += ue[(size_t)u * d + k] / (double)nu;
    double ubar_c = 0.0;
    for (size_t k = 0; k < d; ++k) ubar_c += ubar[k] * c[k];
    int32_t per_dec[10] = {0};
    for (int32_t i = 0; i < ni; ++i) {
        const float *e = ie + (size_t)i * d;
        double p = 0.0, s = 0.0;
        for (size_t k = 0; k < d; ++k) {
            p += (double)e[k] * c[k];
            s += (double)e[k] * ubar[k];
        }
        pi[i] = (float)p;
        out->mean_score[idec[i]] += s;
        out->mean_score_c[idec[i]] += ubar_c * p;
        per_dec[idec[i]]++;
        stamp[i] = hit[i] = -1;
    }
    for (int q = 0; q < 10; ++q)
        if (per_dec[q] > 0) {
            out->mean_score[q] /= per_dec[q];
            out->mean_score_c[q] /= per_dec[q];
        }
    double slots[2] = {0, 0};
    int32_t top[2][MECH_TOPK];
    float ts[2][MECH_TOPK];
    for (int32_t u = 0; u < nu; ++u) {
        const float *eu = ue + (size_t)u * d;
        double pu = 0.0;
        for (size_t k = 0; k < d; ++k) pu += (double)eu[k] * c[k];
        const int32_t *seen;
        size_t n_seen;
        if (cns_dataset_user_items(train, u, &seen, &n_seen) == CNS_OK)
            for (size_t j = 0; j < n_seen; ++j) stamp[seen[j]] = u;
        size_t n[2] = {0, 0};
        for (int32_t i = 0; i < ni; ++i) {
            if (stamp[i] == u) continue;
            const float *e = ie + (size_t)i * d;
            float s = 0.0f;
            for (size_t k = 0; k < d; ++k) s += eu[k] * e[k];
            topk_push(top[0], ts[0], &n[0], MECH_TOPK, i, s);
            topk_push(top[1], ts[1], &n[1], MECH_TOPK, i, s - (float)(pu * pi[i]));
        }
        for (int v = 0; v < 2; ++v) {
            for (size_t r = 0; r < n[v]; ++r) out->share[v][idec[top[v][r]]] += 1.0;
            slots[v] += (double)n[v];
        }
        for (size_t t = 0; t < n_tests; ++t) {
            const int32_t *ti;
            size_t nt;
            if (cns_dataset_user_items(tests[t], u, &ti, &nt) != CNS_OK || nt == 0) continue;
            for (int v = 0; v < 2; ++v) {
                for (size_t r = 0; r < n[v]; ++r) hit[top[v][r]] = u * 2 + v;
                size_t h = 0;
                for (size_t j = 0; j < nt; ++j) h += ti[j] >= 0 && ti[j] < ni && hit[ti[j]] == u * 2 + v;
                out->recall[v][t] += (double)h / (double)nt;
            }
            out->users[t]++;
        }
    }
    for (int v = 0; v < 2; ++v)
        for (int q = 0; q < 10; ++q) out->share[v][q] /= slots[v] > 0 ? slots[v] : 1.0;
    for (size_t t = 0; t < n_tests; ++t)
        for (int v = 0; v < 2; ++v) out->recall[v][t] /= out->users[t] > 0 ? out->users[t] : 1;
    free(ubar);
    free(pi);
    free(stamp);
    free(hit);
    return 0;
}

int bench_mechanism(int argc, char **argv) {
    const char *model_path = NULL, *test_paths[MECH_MAX_TESTS];
    size_t n_tests = 0;
    int csv = 0;
    unsigned long long seed = 1;
    for (int a = 1; a < argc; ++a) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[a], "--csv") == 0) {
            csv = 1;
            continue;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "cnsdiff bench mechanism: unknown or incomplete option '%s'\n", argv[a]);
            usage(stderr);
            return 2;
        }
        const char *opt = argv[a], *v = argv[++a];
        if (strcmp(opt, "--model") == 0) {
            model_path = v;
        } else if (strcmp(opt, "--test") == 0) {
            if (n_tests == MECH_MAX_TESTS) {
                fprintf(stderr, "cnsdiff bench mechanism: at most %d --test files\n", MECH_MAX_TESTS);
                return 2;
            }
            test_paths[n_tests++] = v;
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
    uint8_t *idec = NULL;
    cns_dataset *tests[MECH_MAX_TESTS] = {0};
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
    {
        int bad = 0;
        const cns_idmap *map = ids_model_map("bench mechanism", m, CNS_IDS_AUTO, &bad);
        if (bad) goto out;
        for (size_t t = 0; t < n_tests; ++t)
            if ((tests[t] = ids_load_through(test_paths[t], 0, train, map)) == NULL) goto out;
    }
    const float *ue = cns_model_embeddings(m, CNS_TABLE_USERS), *ie = cns_model_embeddings(m, CNS_TABLE_ITEMS);
    if (!csv)
        printf("model %s  users %d items %d dim %zu  direction seed %llu\n", model_path, (int)nu, (int)ni, d,
               seed);
    else
        printf("quantity,group,value\n");
    if (print_deciles("items", ie, cns_dataset_item_popularity(train), ni, d, c, csv) != 0 ||
        print_deciles("users", ue, deg, nu, d, c, csv) != 0) {
        fprintf(stderr, "cnsdiff bench mechanism: out of memory\n");
        goto out;
    }
    const double erank = effective_rank(ie, ni, d);
    if (csv)
        printf("item_effective_rank,all,%.6g\n", erank);
    else
        printf("items effective_rank %.3f of %zu\n", erank, d);
    rank_effect re;
    idec = malloc((size_t)ni);
    if (idec == NULL || decile_of(cns_dataset_item_popularity(train), ni, idec, NULL) != 0 ||
        measure_rank_effect(ue, nu, ie, ni, d, c, train, idec, (const cns_dataset *const *)tests, n_tests, &re) !=
            0) {
        fprintf(stderr, "cnsdiff bench mechanism: out of memory\n");
        goto out;
    }
    if (!csv)
        printf("items decile  mean_score  score_along_c  top%d_share  top%d_share_without_c\n", MECH_TOPK,
               MECH_TOPK);
    for (int q = 0; q < 10; ++q) {
        if (csv)
            printf("item_score,%d,%.6g\nitem_score_c,%d,%.6g\nitem_top20_share,%d,%.6g\n"
                   "item_top20_share_noc,%d,%.6g\n",
                   q + 1, re.mean_score[q], q + 1, re.mean_score_c[q], q + 1, re.share[0][q], q + 1,
                   re.share[1][q]);
        else
            printf("items %6d %11.4f %14.4f %12.4f %22.4f\n", q + 1, re.mean_score[q], re.mean_score_c[q],
                   re.share[0][q], re.share[1][q]);
    }
    for (size_t t = 0; t < n_tests; ++t) {
        /* the split's name: the file name without directory and extension */
        const char *base = strrchr(test_paths[t], '/');
        base = base != NULL ? base + 1 : test_paths[t];
        const char *dot = strrchr(base, '.');
        const int len = dot != NULL && dot != base ? (int)(dot - base) : (int)strlen(base);
        if (csv)
            printf("recall@20,%.*s,%.6g\nrecall@20_noc,%.*s,%.6g\n", len, base, re.recall[0][t], len, base,
                   re.recall[1][t]);
        else
            printf("%.*s recall@20 %.4f  without c %.4f  (%d users)\n", len, base, re.recall[0][t],
                   re.recall[1][t], (int)re.users[t]);
    }
    rc = 0;
out:
    for (size_t t = 0; t < n_tests; ++t) cns_dataset_free(tests[t]);
    free(idec);
    free(c);
    free(zero);
    free(deg);
    cns_sampler_free(s);
    cns_model_free(m);
    return rc;
}
