/* The synthetic confounded world (docs/WORLD.md): latent factors decide
 * relevance, item propensity decides exposure, and a user interacts with
 * an item only when it is both exposed and relevant. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dataset_internal.h"
#include "error.h"
#include "rng.h"
#include "world_internal.h"

/* Constants of the generative model; docs/WORLD.md explains each. */
#define WORLD_REL_FRACTION 0.15 /* share of the items relevant to each user (at least) */
#define WORLD_REL_NOISE 0.5     /* std of the per-pair relevance noise (signal std is 1) */
#define WORLD_PROP_SIGMA 1.0    /* std of log propensity: log pi_i ~ N(0, sigma^2) */
#define WORLD_OOD_MIN_POP 5     /* an OOD item must be seen this often in train */
#define WORLD_MAX_CONFOUNDING 5.0

/* Stream purposes: every random draw is keyed by (seed, purpose, id), so a
 * user's data never depends on the order users are generated in. */
enum { STREAM_ITEM = 1, STREAM_USER = 2, STREAM_EXPOSE = 3, STREAM_SPLIT = 4, STREAM_OOD = 5 };

struct cns_world {
    cns__alloc al;
    cns_world_desc desc;
    int32_t relevant; /* R: items relevant to each user */
    double *user_f;   /* num_users x factors */
    double *item_f;   /* num_items x factors */
    double *log_prop; /* num_items */
    cns_dataset *split[4];
};

typedef struct keyed {
    double key;
    int32_t idx;
} keyed;

/* Total order (ties by index) so qsort's result is deterministic. */
static int keyed_asc(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key < y->key) return -1;
    if (x->key > y->key) return 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int keyed_desc(const void *a, const void *b) { return keyed_asc(b, a); }

CNS_API void cns_world_desc_init(cns_world_desc *desc) {
    if (desc == NULL) return;
    memset(desc, 0, sizeof *desc);
    desc->struct_size = sizeof *desc;
    desc->num_users = 2000;
    desc->num_items = 1000;
    desc->factors = 8;
    desc->per_user = 40;
    desc->ood_per_user = 10;
    desc->confounding = 1.5;
    desc->valid_fraction = 0.1;
    desc->test_fraction = 0.2;
    desc->ood_exposure = CNS_OOD_UNIFORM;
    desc->seed = 1;
}

/* Per-user split counts; the same for every user since per_user is fixed. */
static int32_t round_share(double fraction, int32_t n) { return (int32_t)floor(fraction * n + 0.5); }

static cns_status world_validate(const cns_world_desc *in, cns_world_desc *d, cns_error *err) {
    if (in->struct_size != sizeof *d)
        return cns__fail(err, CNS_E_SIZE,
                         "struct_size = %zu, this library's cns_world_desc has %zu bytes "
                         "(call cns_world_desc_init)",
                         in->struct_size, sizeof *d);
    *d = *in;
    if (d->num_users < 1) return cns__fail(err, CNS_E_ARG, "num_users = %d must be >= 1", (int)d->num_users);
    if (d->num_items < 2) return cns__fail(err, CNS_E_ARG, "num_items = %d must be >= 2", (int)d->num_items);
    if (d->factors < 1) return cns__fail(err, CNS_E_ARG, "factors = %d must be >= 1", (int)d->factors);
    if (d->per_user < 1) return cns__fail(err, CNS_E_ARG, "per_user = %d must be >= 1", (int)d->per_user);
    if (d->ood_per_user < 1)
        return cns__fail(err, CNS_E_ARG, "ood_per_user = %d must be >= 1", (int)d->ood_per_user);
    /* Relevance needs R >= 2 (per_user + ood_per_user) items per user to stay selective. */
    if ((int64_t)d->per_user + d->ood_per_user > d->num_items / 2)
        return cns__fail(err, CNS_E_ARG,
                         "per_user + ood_per_user = %lld must be <= num_items / 2 = %d",
                         (long long)d->per_user + d->ood_per_user, (int)(d->num_items / 2));
    if (!(d->confounding >= 0.0 && d->confounding <= WORLD_MAX_CONFOUNDING))
        return cns__fail(err, CNS_E_ARG, "confounding = %g must be in [0, 5]", d->confounding);
    if (!(d->valid_fraction >= 0.0 && d->valid_fraction < 1.0))
        return cns__fail(err, CNS_E_ARG, "valid_fraction = %g must be in [0, 1)", d->valid_fraction);
    if (!(d->test_fraction >= 0.0 && d->test_fraction < 1.0))
        return cns__fail(err, CNS_E_ARG, "test_fraction = %g must be in [0, 1)", d->test_fraction);
    if (!(d->valid_fraction + d->test_fraction < 1.0))
        return cns__fail(err, CNS_E_ARG, "valid_fraction + test_fraction = %g must be < 1",
                         d->valid_fraction + d->test_fraction);
    int32_t nv = round_share(d->valid_fraction, d->per_user);
    int32_t nt = round_share(d->test_fraction, d->per_user);
    if (nv + nt >= d->per_user)
        return cns__fail(err, CNS_E_ARG,
                         "valid_fraction and test_fraction take %d + %d of per_user = %d "
                         "interactions: none is left for training",
                         (int)nv, (int)nt, (int)d->per_user);
    if (d->ood_exposure != CNS_OOD_UNIFORM && d->ood_exposure != CNS_OOD_ANTI_POPULAR)
        return cns__fail(err, CNS_E_ARG, "ood_exposure = %d is not a cns_ood_exposure",
                         (int)d->ood_exposure);
    size_t cells;
    if (!cns__mul_ok((size_t)d->num_users + (size_t)d->num_items, (size_t)d->factors, &cells) ||
        !cns__mul_ok(cells, sizeof(double), &cells) ||
        !cns__mul_ok((size_t)d->num_users, (size_t)d->num_items, &cells))
        return cns__fail(err, CNS_E_ARG, "num_users = %d, num_items = %d, factors = %d overflow sizes",
                         (int)d->num_users, (int)d->num_items, (int)d->factors);
    return CNS_OK;
}

/* A split with no pairs (a zero fraction): the shared builder refuses
 * n == 0, so lay out the same CSR by hand. */
static cns_status empty_dataset(const cns__alloc *al, int32_t nu, int32_t ni, cns_dataset **out,
                                cns_error *err) {
    cns_dataset *ds = cns__calloc(al, 1, sizeof *ds);
    if (ds != NULL) {
        ds->al = *al;
        ds->num_users = nu;
        ds->num_items = ni;
        ds->user_ptr = cns__calloc(al, (size_t)nu + 1, sizeof *ds->user_ptr);
        ds->items = cns__malloc(al, 0);
        ds->pop = cns__calloc(al, (size_t)ni, sizeof *ds->pop);
        if (ds->user_ptr && ds->items && ds->pop) {
            *out = ds;
            return CNS_OK;
        }
        cns_dataset_free(ds);
    }
    return cns__fail(err, CNS_E_NOMEM, "out of memory for an empty split");
}

static cns_status build_split(const cns__alloc *al, const int32_t *u, const int32_t *i, size_t n,
                              int32_t nu, int32_t ni, cns_dataset **out, cns_error *err) {
    if (n == 0) return empty_dataset(al, nu, ni, out, err);
    return cns__dataset_build(al, u, i, n, nu, ni, out, err);
}

static double dot(const double *restrict a, const double *restrict b, int32_t n) {
    double s = 0.0;
    for (int32_t k = 0; k < n; ++k) s += a[k] * b[k];
    return s;
}

/* log E, E ~ Exp(1). Sorting log(E_i) - log(w_i) ascending gives the order
 * of a weighted draw without replacement with probability ∝ w
 * (Efraimidis-Spirakis exponential keys). */
static double log_exp_key(cns__rng *r) { return log(-log(1.0 - cns__rng_uniform(r))); }

/* Scratch of one generation, freed together. */
typedef struct gen_scratch {
    int32_t *rel;   /* num_users x R relevant items, by decreasing noisy score */
    int32_t *conf;  /* num_users x per_user confounded items, in split order */
    keyed *keys;    /* num_items */
    uint8_t *mark;  /* num_items */
    int32_t *pu[4]; /* pair users per split */
    int32_t *pi[4]; /* pair items per split */
} gen_scratch;

static void scratch_free(const cns__alloc *al, gen_scratch *s) {
    cns__free(al, s->rel);
    cns__free(al, s->conf);
    cns__free(al, s->keys);
    cns__free(al, s->mark);
    for (int k = 0; k < 4; ++k) {
        cns__free(al, s->pu[k]);
        cns__free(al, s->pi[k]);
    }
}

static cns_status world_generate(cns_world *w, cns_error *err) {
    const cns_world_desc *d = &w->desc;
    const cns__alloc *al = &w->al;
    const int32_t U = d->num_users, M = d->num_items, F = d->factors, K = d->per_user;
    const int32_t KO = d->ood_per_user;
    const int32_t nv = round_share(d->valid_fraction, K), nt = round_share(d->test_fraction, K);
    const int32_t ntr = K - nv - nt;
    int32_t R = (int32_t)ceil(WORLD_REL_FRACTION * M);
    if (R < 2 * (K + KO)) R = 2 * (K + KO); /* <= M by validation */
    w->relevant = R;

    w->user_f = cns__calloc(al, (size_t)U * (size_t)F, sizeof(double));
    w->item_f = cns__calloc(al, (size_t)M * (size_t)F, sizeof(double));
    w->log_prop = cns__calloc(al, (size_t)M, sizeof(double));
    gen_scratch s;
    memset(&s, 0, sizeof s);
    const size_t per_split[4] = {(size_t)ntr, (size_t)nv, (size_t)nt, (size_t)KO};
    s.rel = cns__calloc(al, (size_t)U * (size_t)R, sizeof *s.rel);
    s.conf = cns__calloc(al, (size_t)U * (size_t)K, sizeof *s.conf);
    s.keys = cns__calloc(al, (size_t)M, sizeof *s.keys);
    s.mark = cns__calloc(al, (size_t)M, sizeof *s.mark);
    int ok = w->user_f && w->item_f && w->log_prop && s.rel && s.conf && s.keys && s.mark;
    for (int k = 0; k < 4 && ok; ++k) {
        s.pu[k] = cns__calloc(al, (size_t)U * per_split[k] + 1, sizeof(int32_t));
        s.pi[k] = cns__calloc(al, (size_t)U * per_split[k] + 1, sizeof(int32_t));
        ok = s.pu[k] && s.pi[k];
    }
    if (!ok) {
        scratch_free(al, &s);
        return cns__fail(err, CNS_E_NOMEM, "out of memory for a world of %d users x %d items",
                         (int)U, (int)M);
    }

    /* Factors with per-coordinate variance 1/sqrt(F): <p_u, q_i> has unit variance. */
    const double fscale = pow((double)F, -0.25);
    cns__rng r;
    for (int32_t i = 0; i < M; ++i) {
        cns__rng_seed(&r, d->seed, cns__rng_key(STREAM_ITEM, (uint64_t)i, 0));
        for (int32_t k = 0; k < F; ++k) w->item_f[(size_t)i * F + k] = fscale * cns__rng_normal(&r);
        w->log_prop[i] = WORLD_PROP_SIGMA * cns__rng_normal(&r);
    }
    for (int32_t u = 0; u < U; ++u) {
        cns__rng_seed(&r, d->seed, cns__rng_key(STREAM_USER, (uint64_t)u, 0));
        for (int32_t k = 0; k < F; ++k) w->user_f[(size_t)u * F + k] = fscale * cns__rng_normal(&r);
    }

    /* Confounded interactions: the first K relevant items in the user's
     * exposure order, exposure ∝ pi_i^confounding. */
    for (int32_t u = 0; u < U; ++u) {
        const double *p = w->user_f + (size_t)u * F;
        int32_t *rel = s.rel + (size_t)u * R, *conf = s.conf + (size_t)u * K;
        cns__rng_seed(&r, d->seed, cns__rng_key(STREAM_EXPOSE, (uint64_t)u, 0));
        for (int32_t i = 0; i < M; ++i) {
            s.keys[i].key = dot(p, w->item_f + (size_t)i * F, F) + WORLD_REL_NOISE * cns__rng_normal(&r);
            s.keys[i].idx = i;
        }
        qsort(s.keys, (size_t)M, sizeof *s.keys, keyed_desc);
        for (int32_t j = 0; j < R; ++j) rel[j] = s.keys[j].idx;
        /* Exposing items one by one and keeping the relevant ones draws the
         * relevant items in the same weighted order as this. */
        for (int32_t j = 0; j < R; ++j) {
            s.keys[j].idx = rel[j];
            s.keys[j].key = log_exp_key(&r) - d->confounding * w->log_prop[rel[j]];
        }
        qsort(s.keys, (size_t)R, sizeof *s.keys, keyed_asc);
        for (int32_t j = 0; j < K; ++j) conf[j] = s.keys[j].idx;
        /* The exposure order favours popular items: shuffle before splitting. */
        cns__rng_seed(&r, d->seed, cns__rng_key(STREAM_SPLIT, (uint64_t)u, 0));
        for (int32_t j = K - 1; j > 0; --j) {
            int32_t t = (int32_t)cns__rng_below(&r, (uint32_t)j + 1);
            int32_t tmp = conf[j];
            conf[j] = conf[t];
            conf[t] = tmp;
        }
        const int32_t first[3] = {nv + nt, 0, nv}, count[3] = {ntr, nv, nt};
        for (int k = 0; k < 3; ++k)
            for (int32_t j = 0; j < count[k]; ++j) {
                size_t at = (size_t)u * (size_t)count[k] + (size_t)j;
                s.pu[k][at] = u;
                s.pi[k][at] = conf[first[k] + j];
            }
    }
    cns_status st = CNS_OK;
    for (int k = 0; k < 3 && st == CNS_OK; ++k)
        st = build_split(al, s.pu[k], s.pi[k], (size_t)U * per_split[k], U, M, &w->split[k], err);
    if (st != CNS_OK) {
        scratch_free(al, &s);
        return st;
    }

    /* OOD test: relevant items outside the user's confounded ones, drawn
     * under popularity-free (or anti-popular) exposure, among the items the
     * training split shows often enough for their factors to be learnable. */
    const int32_t *train_pop = w->split[CNS_SPLIT_TRAIN]->pop;
    const double ood_c = d->ood_exposure == CNS_OOD_ANTI_POPULAR ? -d->confounding : 0.0;
    for (int32_t u = 0; u < U && st == CNS_OK; ++u) {
        const int32_t *rel = s.rel + (size_t)u * R, *conf = s.conf + (size_t)u * K;
        for (int32_t j = 0; j < K; ++j) s.mark[conf[j]] = 1;
        cns__rng_seed(&r, d->seed, cns__rng_key(STREAM_OOD, (uint64_t)u, 0));
        int32_t n = 0;
        for (int32_t j = 0; j < R; ++j) {
            double key = log_exp_key(&r) - ood_c * w->log_prop[rel[j]];
            if (s.mark[rel[j]] || train_pop[rel[j]] < WORLD_OOD_MIN_POP) continue;
            s.keys[n].idx = rel[j];
            s.keys[n].key = key;
            ++n;
        }
        for (int32_t j = 0; j < K; ++j) s.mark[conf[j]] = 0;
        if (n < KO) {
            st = cns__fail(err, CNS_E_ARG,
                           "ood_per_user = %d: user %d has only %d relevant items outside its "
                           "interactions seen >= %d times in train (lower ood_per_user or "
                           "confounding, or raise num_users)",
                           (int)KO, (int)u, (int)n, WORLD_OOD_MIN_POP);
            break;
        }
        qsort(s.keys, (size_t)n, sizeof *s.keys, keyed_asc);
        for (int32_t j = 0; j < KO; ++j) {
            s.pu[3][(size_t)u * KO + j] = u;
            s.pi[3][(size_t)u * KO + j] = s.keys[j].idx;
        }
    }
    if (st == CNS_OK)
        st = build_split(al, s.pu[3], s.pi[3], (size_t)U * (size_t)KO, U, M,
                         &w->split[CNS_SPLIT_TEST_OOD], err);
    scratch_free(al, &s);
    return st;
}

CNS_API void cns_world_free(cns_world *w) {
    if (w == NULL) return;
    cns__alloc al = w->al;
    for (int k = 0; k < 4; ++k) cns_dataset_free(w->split[k]);
    cns__free(&al, w->user_f);
    cns__free(&al, w->item_f);
    cns__free(&al, w->log_prop);
    cns__free(&al, w);
}

CNS_API cns_status cns_world_create(const cns_world_desc *desc, const cns_allocator *alloc,
                                    cns_world **out, cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "out is NULL");
    *out = NULL;
    if (desc == NULL) return cns__fail(err, CNS_E_ARG, "desc is NULL");
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "allocator has a NULL function");
    cns_world_desc d;
    cns_status st = world_validate(desc, &d, err);
    if (st != CNS_OK) return st;
    cns_world *w = cns__calloc(&al, 1, sizeof *w);
    if (w == NULL) return cns__fail(err, CNS_E_NOMEM, "out of memory for the world handle");
    w->al = al;
    w->desc = d;
    st = world_generate(w, err);
    if (st != CNS_OK) {
        cns_world_free(w);
        return st;
    }
    *out = w;
    cns__ok(err);
    return CNS_OK;
}

CNS_API const cns_dataset *cns_world_dataset(const cns_world *w, int split) {
    if (w == NULL || split < CNS_SPLIT_TRAIN || split > CNS_SPLIT_TEST_OOD) return NULL;
    return w->split[split];
}

CNS_API cns_status cns_world_write(const cns_world *w, const char *dir, cns_error *err) {
    if (w == NULL) return cns__fail(err, CNS_E_ARG, "w is NULL");
    if (dir == NULL) return cns__fail(err, CNS_E_ARG, "dir is NULL");
    static const char *const names[4] = {"train.txt", "valid.txt", "test_iid.txt", "test_ood.txt"};
    size_t len = strlen(dir) + 16;
    char *path = cns__malloc(&w->al, len);
    if (path == NULL) return cns__fail(err, CNS_E_NOMEM, "out of memory for a path");
    cns_status st = CNS_OK;
    /* Each file is crash-safe on its own (temporary file, fsync, rename,
     * directory fsync): the shared writer of dataset_load.c. */
    for (int k = 0; k < 4 && st == CNS_OK; ++k) {
        snprintf(path, len, "%s/%s", dir, names[k]);
        st = cns_dataset_save_text(w->split[k], path, err);
    }
    cns__free(&w->al, path);
    return st;
}

const cns_world_desc *cns__world_desc(const cns_world *w) { return &w->desc; }
const double *cns__world_user_factors(const cns_world *w) { return w->user_f; }
const double *cns__world_item_factors(const cns_world *w) { return w->item_f; }
const double *cns__world_log_propensity(const cns_world *w) { return w->log_prop; }
int32_t cns__world_relevant(const cns_world *w) { return w->relevant; }
int32_t cns__world_ood_min_pop(void) { return WORLD_OOD_MIN_POP; }
