/* OOD splits of an interaction dataset (docs/DATA.md "OOD splits"): an
 * intervened OOD sample drawn with probability ~ pop^-beta, beta searched
 * for a target popularity ratio, IID validation/test from the rest. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cnsdiff/split.h"
#include "dataset_internal.h"
#include "error.h"
#include "rng.h"

#define SPLIT_BETA_MAX 16.0
#define SPLIT_SEARCH_STEPS 40
#define SPLIT_RATIO_TOL 1e-3 /* the search stops this close to the target */

/* Stream purposes of the three independent random draws. */
enum { STREAM_RACE = 1, STREAM_IID = 2, STREAM_CUT = 3 };

struct cns_split {
    cns__alloc al;
    double ratio;
    double beta;
    cns_dataset *part[CNS_SPLIT_PART_COUNT];
};

static const char *const k_files[CNS_SPLIT_PART_COUNT] = {
    "train.txt", "valid.txt", "valid_ood.txt", "test_iid.txt", "test_ood.txt"};

CNS_API void cns_split_desc_init(cns_split_desc *desc) {
    if (desc == NULL) return;
    memset(desc, 0, sizeof *desc);
    desc->struct_size = sizeof *desc;
    desc->kind = CNS_SPLIT_KIND_POPULARITY;
    desc->item_min_train = 1;
    desc->ood_fraction = 0.2;
    desc->valid_fraction = 0.1;
    desc->test_fraction = 0.1;
    desc->target_ratio = 0.15;
    desc->beta = -1.0;
    desc->seed = 1;
}

CNS_API const char *cns_split_part_file(int part) {
    return part >= 0 && part < CNS_SPLIT_PART_COUNT ? k_files[part] : NULL;
}

/* Everything one trial of beta needs, allocated once. */
typedef struct work {
    size_t n;
    const int32_t *user;  /* n, user-major */
    const int32_t *item;  /* n */
    const int32_t *pop;   /* input popularity per item */
    int32_t num_users, num_items;
    double *log_e;        /* n: log of the Exp(1) race times */
    double *key;          /* n: race keys of the trial */
    size_t *race;         /* n: pair order of the race */
    size_t *iid;          /* n: a uniform random order of the pairs */
    double *cut;          /* n: uniform keys for the OOD valid/test cut */
    size_t *ood;          /* n: OOD pairs of the trial, in race order */
    int32_t *rem_u;       /* num_users: training pairs left */
    int32_t *rem_i;       /* num_items */
    unsigned char *part;  /* n: cns_split_part of each pair */
    size_t count[CNS_SPLIT_PART_COUNT];
} work;

/* qsort cannot pass a context; the keys travel with the indices instead. */
typedef struct keyed {
    double key;
    size_t idx;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx); /* a total order: deterministic */
}

/* Sorts idx[0..m) by key[idx] ascending, ties by index. scratch holds m. */
static void order_by(size_t *idx, size_t m, const double *key, keyed *scratch) {
    for (size_t k = 0; k < m; ++k) scratch[k] = (keyed){key[idx[k]], idx[k]};
    qsort(scratch, m, sizeof *scratch, cmp_keyed);
    for (size_t k = 0; k < m; ++k) idx[k] = scratch[k].idx;
}

/* May pair k leave training? Its user must keep one pair, its item
 * item_min_train pairs. */
static int can_hold_out(const work *w, size_t k, int32_t item_min) {
    return w->rem_u[w->user[k]] >= 2 && w->rem_i[w->item[k]] >= item_min + 1;
}

static void hold_out(work *w, size_t k, int part) {
    w->part[k] = (unsigned char)part;
    --w->rem_u[w->user[k]];
    --w->rem_i[w->item[k]];
}

static size_t round_share(double fraction, size_t n) {
    return (size_t)floor(fraction * (double)n + 0.5);
}

/* One trial: assigns every pair for this beta and returns the ratio. */
static double trial(work *w, const cns_split_desc *d, double beta, keyed *scratch) {
    const size_t n = w->n;
    /* Exponential race (Efraimidis–Spirakis): pair k finishes at E_k / w_k
     * with w_k = pop^-beta; the first finishers are a weighted sample
     * without replacement. In logs: log E_k + beta log pop. */
    for (size_t k = 0; k < n; ++k) {
        w->race[k] = k;
        w->key[k] = w->log_e[k] + beta * log((double)w->pop[w->item[k]]);
    }
    order_by(w->race, n, w->key, scratch);
    memset(w->part, CNS_SPLIT_PART_TRAIN, n);
    memset(w->count, 0, sizeof w->count);
    for (int32_t u = 0; u < w->num_users; ++u) w->rem_u[u] = 0;
    for (size_t k = 0; k < n; ++k) ++w->rem_u[w->user[k]];
    memcpy(w->rem_i, w->pop, (size_t)w->num_items * sizeof *w->rem_i);

    const size_t want_ood = round_share(d->ood_fraction, n);
    size_t n_ood = 0;
    for (size_t r = 0; r < n && n_ood < want_ood; ++r) {
        size_t k = w->race[r];
        if (!can_hold_out(w, k, d->item_min_train)) continue;
        hold_out(w, k, CNS_SPLIT_PART_TEST_OOD);
        w->ood[n_ood++] = k;
    }
    /* IID parts: a uniform order over what the OOD sample left. */
    const size_t rest = n - n_ood;
    const size_t want_valid = round_share(d->valid_fraction, rest);
    const size_t want_test = round_share(d->test_fraction, rest);
    size_t got_valid = 0, got_test = 0;
    for (size_t r = 0; r < n && got_valid + got_test < want_valid + want_test; ++r) {
        size_t k = w->iid[r];
        if (w->part[k] != CNS_SPLIT_PART_TRAIN || !can_hold_out(w, k, d->item_min_train)) continue;
        if (got_valid < want_valid) {
            hold_out(w, k, CNS_SPLIT_PART_VALID);
            ++got_valid;
        } else {
            hold_out(w, k, CNS_SPLIT_PART_TEST_IID);
            ++got_test;
        }
    }
    /* The OOD sample is cut per interaction, uniformly: the first half (by
     * a key independent of the race) is OOD validation, the rest OOD test. */
    order_by(w->ood, n_ood, w->cut, scratch);
    for (size_t r = 0; r < n_ood / 2; ++r) w->part[w->ood[r]] = CNS_SPLIT_PART_VALID_OOD;
    for (size_t k = 0; k < n; ++k) ++w->count[w->part[k]];

    /* Popularity ratio over the training counts left in rem_i. */
    double s1 = 0.0, s2 = 0.0, so = 0.0;
    for (int32_t i = 0; i < w->num_items; ++i) {
        s1 += (double)w->rem_i[i];
        s2 += (double)w->rem_i[i] * (double)w->rem_i[i];
    }
    for (size_t k = 0; k < n; ++k)
        if (w->part[k] == CNS_SPLIT_PART_TEST_OOD) so += (double)w->rem_i[w->item[k]];
    const size_t nt = w->count[CNS_SPLIT_PART_TEST_OOD];
    if (nt == 0 || s2 == 0.0) return NAN;
    return (so / (double)nt) / (s2 / s1);
}

static cns_status check_desc(const cns_split_desc *in, cns_split_desc *d, cns_error *err) {
    cns_split_desc_init(d);
    size_t sz = in->struct_size;
    if (sz < sizeof *d)
        return cns__fail(err, CNS_E_SIZE,
                         "desc->struct_size = %zu is smaller than the %zu bytes of cns_split_desc "
                         "(call cns_split_desc_init)",
                         sz, sizeof *d);
    /* A newer caller's extra fields are accepted only when left at zero. */
    for (size_t k = sizeof *d; k < sz; ++k)
        if (((const unsigned char *)in)[k] != 0)
            return cns__fail(err, CNS_E_SIZE,
                             "desc->struct_size = %zu: fields beyond the %zu bytes this library "
                             "knows are set",
                             sz, sizeof *d);
    memcpy(d, in, sizeof *d);
    d->struct_size = sizeof *d;
    if (d->kind != CNS_SPLIT_KIND_RANDOM && d->kind != CNS_SPLIT_KIND_POPULARITY)
        return cns__fail(err, CNS_E_ARG, "desc->kind = %d is not a cns_split_kind", (int)d->kind);
    if (!(d->ood_fraction > 0.0 && d->ood_fraction < 1.0))
        return cns__fail(err, CNS_E_ARG, "desc->ood_fraction = %g is outside (0, 1)", d->ood_fraction);
    if (!(d->valid_fraction > 0.0 && d->valid_fraction < 1.0))
        return cns__fail(err, CNS_E_ARG, "desc->valid_fraction = %g is outside (0, 1)",
                         d->valid_fraction);
    if (!(d->test_fraction > 0.0 && d->test_fraction < 1.0))
        return cns__fail(err, CNS_E_ARG, "desc->test_fraction = %g is outside (0, 1)", d->test_fraction);
    if (!(d->valid_fraction + d->test_fraction < 1.0))
        return cns__fail(err, CNS_E_ARG, "desc->valid_fraction + test_fraction = %g is not below 1",
                         d->valid_fraction + d->test_fraction);
    if (!(d->target_ratio > 0.0 && d->target_ratio <= 1.0))
        return cns__fail(err, CNS_E_ARG, "desc->target_ratio = %g is outside (0, 1]", d->target_ratio);
    if (isnan(d->beta) || d->beta > SPLIT_BETA_MAX)
        return cns__fail(err, CNS_E_ARG, "desc->beta = %g is NaN or above %g", d->beta, SPLIT_BETA_MAX);
    if (d->item_min_train < 1)
        return cns__fail(err, CNS_E_ARG, "desc->item_min_train = %d is below 1", (int)d->item_min_train);
    return CNS_OK;
}

static void work_free(const cns__alloc *al, work *w) {
    cns__free(al, (void *)w->user);
    cns__free(al, (void *)w->item);
    cns__free(al, w->log_e);
    cns__free(al, w->key);
    cns__free(al, w->race);
    cns__free(al, w->iid);
    cns__free(al, w->cut);
    cns__free(al, w->ood);
    cns__free(al, w->rem_u);
    cns__free(al, w->rem_i);
    cns__free(al, w->part);
}

CNS_API void cns_split_free(cns_split *s) {
    if (s == NULL) return;
    cns__alloc al = s->al;
    for (int p = 0; p < CNS_SPLIT_PART_COUNT; ++p) cns_dataset_free(s->part[p]);
    cns__free(&al, s);
}

/* Builds the five datasets from the final assignment. */
static cns_status build_parts(const cns__alloc *al, const work *w, cns_split *s, cns_error *err) {
    int32_t *pu = cns__malloc(al, w->n * sizeof *pu);
    int32_t *pi = cns__malloc(al, w->n * sizeof *pi);
    cns_status st = CNS_OK;
    if (pu == NULL || pi == NULL) st = cns__fail(err, CNS_E_NOMEM, "out of memory for the split's parts");
    for (int p = 0; p < CNS_SPLIT_PART_COUNT && st == CNS_OK; ++p) {
        size_t m = 0;
        for (size_t k = 0; k < w->n; ++k)
            if (w->part[k] == p) {
                pu[m] = w->user[k];
                pi[m] = w->item[k];
                ++m;
            }
        st = cns__dataset_build(al, pu, pi, m, w->num_users, w->num_items, &s->part[p], err);
    }
    cns__free(al, pu);
    cns__free(al, pi);
    return st;
}

CNS_API cns_status cns_split_create(const cns_dataset *ds, const cns_split_desc *desc,
                                    const cns_allocator *alloc, cns_split **out, cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "cns_split_create: out is NULL");
    *out = NULL;
    if (ds == NULL) return cns__fail(err, CNS_E_ARG, "cns_split_create: ds is NULL");
    if (desc == NULL) return cns__fail(err, CNS_E_ARG, "cns_split_create: desc is NULL");
    cns_split_desc d;
    cns_status st = check_desc(desc, &d, err);
    if (st != CNS_OK) return st;
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "cns_split_create: allocator has a NULL function");

    const size_t n = ds->nnz;
    work w;
    memset(&w, 0, sizeof w);
    w.n = n;
    w.pop = ds->pop;
    w.num_users = ds->num_users;
    w.num_items = ds->num_items;
    int32_t *user = cns__malloc(&al, n * sizeof *user);
    w.user = user;
    int32_t *item = cns__malloc(&al, n * sizeof *item);
    w.item = item;
    w.log_e = cns__malloc(&al, n * sizeof *w.log_e);
    w.key = cns__malloc(&al, n * sizeof *w.key);
    w.race = cns__malloc(&al, n * sizeof *w.race);
    w.iid = cns__malloc(&al, n * sizeof *w.iid);
    w.cut = cns__malloc(&al, n * sizeof *w.cut);
    w.ood = cns__malloc(&al, n * sizeof *w.ood);
    w.rem_u = cns__malloc(&al, (size_t)w.num_users * sizeof *w.rem_u);
    w.rem_i = cns__malloc(&al, (size_t)w.num_items * sizeof *w.rem_i);
    w.part = cns__malloc(&al, n);
    keyed *scratch = cns__malloc(&al, n * sizeof *scratch);
    cns_split *s = cns__calloc(&al, 1, sizeof *s);
    if (s != NULL) s->al = al;
    if (user == NULL || item == NULL || w.log_e == NULL || w.key == NULL || w.race == NULL ||
        w.iid == NULL || w.cut == NULL || w.ood == NULL || w.rem_u == NULL || w.rem_i == NULL ||
        w.part == NULL || scratch == NULL || s == NULL) {
        st = cns__fail(err, CNS_E_NOMEM, "out of memory for a split of %zu interactions", n);
        goto done;
    }
    for (int32_t u = 0; u < ds->num_users; ++u)
        for (size_t k = ds->user_ptr[u]; k < ds->user_ptr[u + 1]; ++k) {
            user[k] = u;
            item[k] = ds->items[k];
        }
    /* Three independent streams, each drawn in the pairs' user-major order. */
    cns__rng r;
    cns__rng_seed(&r, d.seed, cns__rng_key(STREAM_RACE, 0, 0));
    for (size_t k = 0; k < n; ++k) w.log_e[k] = log(-log(1.0 - cns__rng_uniform(&r)));
    cns__rng_seed(&r, d.seed, cns__rng_key(STREAM_IID, 0, 0));
    for (size_t k = 0; k < n; ++k) {
        w.iid[k] = k;
        w.key[k] = cns__rng_uniform(&r);
    }
    order_by(w.iid, n, w.key, scratch);
    cns__rng_seed(&r, d.seed, cns__rng_key(STREAM_CUT, 0, 0));
    for (size_t k = 0; k < n; ++k) w.cut[k] = cns__rng_uniform(&r);

    double beta;
    if (d.kind == CNS_SPLIT_KIND_RANDOM)
        beta = 0.0;
    else if (d.beta >= 0.0)
        beta = d.beta;
    else {
        /* The ratio falls as beta grows (up to the race's noise): bisect on
         * [0, BETA_MAX] and keep the trial closest to the target. */
        double lo = 0.0, hi = SPLIT_BETA_MAX;
        double best = 0.0, best_gap = INFINITY;
        for (int step = 0; step < SPLIT_SEARCH_STEPS; ++step) {
            double b = step == 0 ? lo : step == 1 ? hi : 0.5 * (lo + hi);
            double rr = trial(&w, &d, b, scratch);
            if (isnan(rr)) break; /* an empty OOD test: reported below */
            double gap = fabs(rr - d.target_ratio);
            if (gap < best_gap) {
                best_gap = gap;
                best = b;
            }
            if (step == 0 && rr <= d.target_ratio) break; /* reached without shifting */
            if (step == 1 && rr >= d.target_ratio) break; /* the strongest shift on offer */
            if (step >= 2) {
                if (rr > d.target_ratio)
                    lo = b;
                else
                    hi = b;
            }
            if (gap <= SPLIT_RATIO_TOL) break;
        }
        beta = best;
    }
    s->beta = beta;
    s->ratio = trial(&w, &d, beta, scratch);
    for (int p = 0; p < CNS_SPLIT_PART_COUNT; ++p)
        if (w.count[p] == 0) {
            st = cns__fail(err, CNS_E_EMPTY,
                           "splitting %zu interactions: %s would be empty (too few interactions, "
                           "or none that may leave training)",
                           n, k_files[p]);
            goto done;
        }
    st = build_parts(&al, &w, s, err);
done:
    work_free(&al, &w);
    cns__free(&al, scratch);
    if (st == CNS_OK) {
        *out = s;
        cns__ok(err);
    } else {
        cns_split_free(s);
    }
    return st;
}

CNS_API const cns_dataset *cns_split_dataset(const cns_split *s, int part) {
    if (s == NULL || part < 0 || part >= CNS_SPLIT_PART_COUNT) return NULL;
    return s->part[part];
}

CNS_API double cns_split_ratio(const cns_split *s) { return s ? s->ratio : NAN; }

CNS_API double cns_split_beta(const cns_split *s) { return s ? s->beta : NAN; }

CNS_API cns_status cns_split_write(const cns_split *s, const char *dir, cns_error *err) {
    return cns_split_write_ids(s, dir, NULL, err);
}

CNS_API cns_status cns_split_write_ids(const cns_split *s, const char *dir, const cns_idmap *map,
                                       cns_error *err) {
    if (s == NULL) return cns__fail(err, CNS_E_ARG, "cns_split_write: s is NULL");
    if (dir == NULL) return cns__fail(err, CNS_E_ARG, "cns_split_write: dir is NULL");
    size_t len = strlen(dir) + 32;
    char *path = cns__malloc(&s->al, len);
    if (path == NULL) return cns__fail(err, CNS_E_NOMEM, "out of memory for a path");
    cns_status st = CNS_OK;
    for (int p = 0; p < CNS_SPLIT_PART_COUNT && st == CNS_OK; ++p) {
        snprintf(path, len, "%s/%s", dir, k_files[p]);
        st = cns_dataset_save_text_ids(s->part[p], map, path, err);
    }
    cns__free(&s->al, path);
    return st;
}
