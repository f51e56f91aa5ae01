/* The synthetic confounded world (docs/WORLD.md): latent factors decide
 * relevance, item propensity decides exposure, and a user interacts with
 * an item only when it is both exposed and relevant. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dataset_internal.h"
#include "error.h"
#include "rng.h"
#include "world_internal.h"

/* Constants of the generative model; docs/WORLD.md explains each. */
#define WORLD_TOPIC_SHARPNESS 2.0 /* theta_u = softmax(2 h_u), phi_i = softmax(2 g_i) */
#define WORLD_PROP_SIGMA 1.0      /* std of log propensity: log pi_i ~ N(0, sigma^2) */
#define WORLD_OOD_MIN_POP 5       /* an OOD item must be seen this often in train */
#define WORLD_MAX_EXPONENT 5.0    /* bound of confounding and pop_relevance */
#define WORLD_MAX_SPREAD 3.0      /* bound of degree_spread */
#define WORLD_MAX_FACTORS 1024
#define WORLD_DRAWS_PER_ITEM 16 /* rejection budget: 16 k + 256 draws for k distinct items */

/* Bytes of the first release's descriptor (fields up to seed). */
#define WORLD_DESC_V1_SIZE (offsetof(cns_world_desc, seed) + sizeof(uint64_t))

/* Stream purposes: every random draw is keyed by (seed, purpose, id), so a
 * user's data never depends on the order users are generated in. */
enum { STREAM_ITEM = 1, STREAM_USER = 2, STREAM_EXPOSE = 3, STREAM_SPLIT = 4, STREAM_OOD = 5 };

enum { NSPLIT = 5 };

struct cns_world {
    cns__alloc al;
    cns_world_desc desc;
    double *user_f;   /* num_users x factors topic weights theta_u (rows sum to 1) */
    double *item_f;   /* num_items x factors topic weights phi_i (rows sum to 1) */
    double *log_prop; /* num_items */
    cns_dataset *split[NSPLIT];
};

/* The exported cns_world_desc_init is what programs built against 0.1's
 * header call (the header now routes new code to the sized form through a
 * macro): their struct ends at seed, so it writes exactly those bytes and
 * never past them. The parentheses keep the header's macro from expanding. */
CNS_API void(cns_world_desc_init)(cns_world_desc *desc) {
    cns_world_desc_init_sized(desc, WORLD_DESC_V1_SIZE);
}

CNS_API void cns_world_desc_init_sized(cns_world_desc *desc, size_t size) {
    if (desc == NULL || size < WORLD_DESC_V1_SIZE) return;
    cns_world_desc d;
    memset(&d, 0, sizeof d);
    const size_t n = size < sizeof d ? size : sizeof d;
    d.struct_size = n;
    d.num_users = 3000;
    d.num_items = 2400;
    d.factors = 16;
    d.per_user = 22;
    d.ood_per_user = 6;
    d.confounding = 0.55;
    d.valid_fraction = 0.1;
    d.test_fraction = 0.2;
    d.ood_exposure = CNS_OOD_UNIFORM;
    d.seed = 1;
    d.pop_relevance = 0.25;
    d.degree_spread = 1.1;
    /* Only the caller's bytes: a field it does not have keeps its default
     * inside cns_world_create. */
    memcpy(desc, &d, n);
}

static int32_t round_share(double fraction, int32_t n) { return (int32_t)floor(fraction * n + 0.5); }

static cns_status world_validate(const cns_world_desc *in, cns_world_desc *d, cns_error *err) {
    size_t sz = in->struct_size;
    if (sz < WORLD_DESC_V1_SIZE || sz > 65536)
        return cns__fail(err, CNS_E_SIZE,
                         "struct_size = %zu, expected %zu to %zu bytes (call cns_world_desc_init)",
                         sz, (size_t)WORLD_DESC_V1_SIZE, sizeof *d);
    /* A newer caller's extra fields are accepted only when left at zero. */
    for (size_t k = sizeof *d; k < sz; ++k)
        if (((const unsigned char *)in)[k] != 0)
            return cns__fail(err, CNS_E_SIZE,
                             "struct_size = %zu: fields beyond the %zu bytes this library knows are set",
                             sz, sizeof *d);
    cns_world_desc_init(d);
    memcpy(d, in, sz < sizeof *d ? sz : sizeof *d);
    d->struct_size = sizeof *d;
    if (d->num_users < 1) return cns__fail(err, CNS_E_ARG, "num_users = %d must be >= 1", (int)d->num_users);
    if (d->num_items < 2) return cns__fail(err, CNS_E_ARG, "num_items = %d must be >= 2", (int)d->num_items);
    if (d->factors < 1 || d->factors > WORLD_MAX_FACTORS)
        return cns__fail(err, CNS_E_ARG, "factors = %d must be in [1, %d]", (int)d->factors,
                         WORLD_MAX_FACTORS);
    if (d->per_user < 1) return cns__fail(err, CNS_E_ARG, "per_user = %d must be >= 1", (int)d->per_user);
    if (d->ood_per_user < 1)
        return cns__fail(err, CNS_E_ARG, "ood_per_user = %d must be >= 1", (int)d->ood_per_user);
    /* Distinct items per user are drawn by rejection: keep them a minority. */
    if ((int64_t)d->per_user + d->ood_per_user > d->num_items / 2)
        return cns__fail(err, CNS_E_ARG,
                         "per_user + ood_per_user = %lld must be <= num_items / 2 = %d",
                         (long long)d->per_user + d->ood_per_user, (int)(d->num_items / 2));
    if (!(d->confounding >= 0.0 && d->confounding <= WORLD_MAX_EXPONENT))
        return cns__fail(err, CNS_E_ARG, "confounding = %g must be in [0, 5]", d->confounding);
    if (!(d->pop_relevance >= 0.0 && d->pop_relevance <= WORLD_MAX_EXPONENT))
        return cns__fail(err, CNS_E_ARG, "pop_relevance = %g must be in [0, 5]", d->pop_relevance);
    if (!(d->degree_spread >= 0.0 && d->degree_spread <= WORLD_MAX_SPREAD))
        return cns__fail(err, CNS_E_ARG, "degree_spread = %g must be in [0, 3]", d->degree_spread);
    if (!(d->valid_fraction >= 0.0 && d->valid_fraction < 1.0))
        return cns__fail(err, CNS_E_ARG, "valid_fraction = %g must be in [0, 1)", d->valid_fraction);
    if (!(d->test_fraction >= 0.0 && d->test_fraction < 1.0))
        return cns__fail(err, CNS_E_ARG, "test_fraction = %g must be in [0, 1)", d->test_fraction);
    if (!(d->valid_fraction + d->test_fraction < 1.0))
        return cns__fail(err, CNS_E_ARG, "valid_fraction + test_fraction = %g must be < 1",
                         d->valid_fraction + d->test_fraction);
    if (d->ood_exposure != CNS_OOD_UNIFORM && d->ood_exposure != CNS_OOD_ANTI_POPULAR)
        return cns__fail(err, CNS_E_ARG, "ood_exposure = %d is not a cns_ood_exposure",
                         (int)d->ood_exposure);
    size_t cells;
    if (!cns__mul_ok((size_t)d->num_users + (size_t)d->num_items, (size_t)d->factors, &cells) ||
        !cns__mul_ok(cells, sizeof(double) + sizeof(int32_t), &cells))
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

/* row = softmax(sharpness * z), z ~ N(0, I): a point of the simplex whose
 * mass sits on a few topics. */
static void topic_weights(cns__rng *r, double *row, int32_t F) {
    double mx = -INFINITY, sum = 0.0;
    for (int32_t k = 0; k < F; ++k) {
        row[k] = WORLD_TOPIC_SHARPNESS * cns__rng_normal(r);
        if (row[k] > mx) mx = row[k];
    }
    for (int32_t k = 0; k < F; ++k) sum += row[k] = exp(row[k] - mx);
    for (int32_t k = 0; k < F; ++k) row[k] /= sum;
}

/* Walker's alias tables, one per topic, over the items (Vose's stable
 * construction): drawing item i of topic z costs O(1) whatever M. */
typedef struct alias_set {
    int32_t F, M;
    double *prob;   /* F x M acceptance probabilities */
    int32_t *alias; /* F x M alias items */
    double *mass;   /* F: total weight of each topic */
    int32_t *small, *large; /* M: construction work lists */
    double *scaled;         /* M */
} alias_set;

/* Table z from weights w (>= 0); mass[z] = their sum (0 leaves the table unused). */
static void alias_build(alias_set *a, int32_t z, const double *w) {
    const int32_t M = a->M;
    double *prob = a->prob + (size_t)z * M;
    int32_t *alias = a->alias + (size_t)z * M;
    double total = 0.0;
    for (int32_t i = 0; i < M; ++i) total += w[i];
    a->mass[z] = total;
    if (!(total > 0.0)) return;
    int32_t ns = 0, nl = 0;
    for (int32_t i = 0; i < M; ++i) {
        a->scaled[i] = w[i] * (double)M / total;
        if (a->scaled[i] < 1.0)
            a->small[ns++] = i;
        else
            a->large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
        int32_t s = a->small[--ns], l = a->large[nl - 1];
        prob[s] = a->scaled[s];
        alias[s] = l;
        a->scaled[l] -= 1.0 - a->scaled[s];
        if (a->scaled[l] < 1.0) {
            --nl;
            a->small[ns++] = l;
        }
    }
    /* What is left has weight 1 up to rounding. */
    while (nl > 0) {
        int32_t l = a->large[--nl];
        prob[l] = 1.0;
        alias[l] = l;
    }
    while (ns > 0) {
        int32_t s = a->small[--ns];
        prob[s] = 1.0;
        alias[s] = s;
    }
}

/* All topics' tables from item weights phi_iz * exp(expo * log pi_i), with
 * items where keep[i] == 0 (if keep) at weight 0. w: M scratch. */
static void alias_build_all(alias_set *a, const double *phi, const double *log_prop, double expo,
                            const uint8_t *keep, double *w) {
    for (int32_t z = 0; z < a->F; ++z) {
        for (int32_t i = 0; i < a->M; ++i)
            w[i] = (keep == NULL || keep[i]) ? phi[(size_t)i * a->F + z] * exp(expo * log_prop[i]) : 0.0;
        alias_build(a, z, w);
    }
}

static int32_t alias_draw(const alias_set *a, int32_t z, cns__rng *r) {
    int32_t j = (int32_t)cns__rng_below(r, (uint32_t)a->M);
    return cns__rng_uniform(r) < a->prob[(size_t)z * a->M + j] ? j : a->alias[(size_t)z * a->M + j];
}

/* Draws up to want distinct items, none marked, from the user's mixture
 * sum_z theta_uz mass_z (table z); cum: F scratch. Marks what it draws and
 * returns how many it got (fewer only when 16 want + 256 draws kept
 * repeating items). Returns -1 when the mixture has no mass. */
static int32_t draw_distinct(const alias_set *a, const double *theta, double *cum, uint8_t *mark,
                             int32_t want, int32_t *out, cns__rng *r) {
    double total = 0.0;
    for (int32_t z = 0; z < a->F; ++z) cum[z] = total += theta[z] * a->mass[z];
    if (!(total > 0.0)) return -1;
    int32_t got = 0;
    int64_t budget = (int64_t)WORLD_DRAWS_PER_ITEM * want + 256;
    while (got < want && budget-- > 0) {
        double x = cns__rng_uniform(r) * total;
        int32_t lo = 0, hi = a->F - 1; /* first z with cum[z] > x */
        while (lo < hi) {
            int32_t mid = (lo + hi) / 2;
            if (cum[mid] > x)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (!(a->mass[lo] > 0.0)) continue; /* x fell on a rounding edge of an empty topic */
        int32_t i = alias_draw(a, lo, r);
        if (mark[i]) continue;
        mark[i] = 1;
        out[got++] = i;
    }
    return got;
}

static void shuffle(int32_t *v, int32_t n, cns__rng *r) {
    for (int32_t j = n - 1; j > 0; --j) {
        int32_t t = (int32_t)cns__rng_below(r, (uint32_t)j + 1);
        int32_t tmp = v[j];
        v[j] = v[t];
        v[t] = tmp;
    }
}

/* Scratch of one generation, freed together. */
typedef struct gen_scratch {
    alias_set a;
    int32_t *kc, *ko;   /* num_users: target confounded and OOD test counts */
    size_t *conf_ptr;   /* num_users + 1 */
    int32_t *conf;      /* drawn confounded items, user-major */
    double *w;          /* num_items */
    double *cum;        /* factors */
    uint8_t *mark;      /* num_items */
    uint8_t *keep;      /* num_items */
    int32_t *draw;      /* draws of one user */
    int32_t *pu[NSPLIT]; /* pair users per split */
    int32_t *pi[NSPLIT]; /* pair items per split */
    size_t n[NSPLIT];
} gen_scratch;

static void scratch_free(const cns__alloc *al, gen_scratch *s) {
    cns__free(al, s->a.prob);
    cns__free(al, s->a.alias);
    cns__free(al, s->a.mass);
    cns__free(al, s->a.small);
    cns__free(al, s->a.large);
    cns__free(al, s->a.scaled);
    cns__free(al, s->kc);
    cns__free(al, s->ko);
    cns__free(al, s->conf_ptr);
    cns__free(al, s->conf);
    cns__free(al, s->w);
    cns__free(al, s->cum);
    cns__free(al, s->mark);
    cns__free(al, s->keep);
    cns__free(al, s->draw);
    for (int k = 0; k < NSPLIT; ++k) {
        cns__free(al, s->pu[k]);
        cns__free(al, s->pi[k]);
    }
}

/* OOD validation pairs that go with o OOD test pairs: a valid_fraction
 * share of the user's OOD sample, as valid is of its confounded one. */
static int32_t ood_valid_count(const cns_world_desc *d, int32_t o) {
    return round_share(d->valid_fraction / (1.0 - d->valid_fraction), o);
}

static void push(gen_scratch *s, int k, int32_t u, int32_t i) {
    s->pu[k][s->n[k]] = u;
    s->pi[k][s->n[k]] = i;
    s->n[k]++;
}

static cns_status world_generate(cns_world *w, cns_error *err) {
    const cns_world_desc *d = &w->desc;
    const cns__alloc *al = &w->al;
    const int32_t U = d->num_users, M = d->num_items, F = d->factors;
    const int32_t kc_max = d->per_user > M / 4 ? d->per_user : M / 4;
    const int32_t ko_max = d->ood_per_user > M / 8 ? d->ood_per_user : M / 8;
    const double sig = d->degree_spread;

    gen_scratch s;
    memset(&s, 0, sizeof s);
    s.a.F = F;
    s.a.M = M;
    w->user_f = cns__calloc(al, (size_t)U * (size_t)F, sizeof(double));
    w->item_f = cns__calloc(al, (size_t)M * (size_t)F, sizeof(double));
    w->log_prop = cns__calloc(al, (size_t)M, sizeof(double));
    s.a.prob = cns__calloc(al, (size_t)F * (size_t)M, sizeof(double));
    s.a.alias = cns__calloc(al, (size_t)F * (size_t)M, sizeof(int32_t));
    s.a.mass = cns__calloc(al, (size_t)F, sizeof(double));
    s.a.small = cns__calloc(al, (size_t)M, sizeof(int32_t));
    s.a.large = cns__calloc(al, (size_t)M, sizeof(int32_t));
    s.a.scaled = cns__calloc(al, (size_t)M, sizeof(double));
    s.kc = cns__calloc(al, (size_t)U, sizeof(int32_t));
    s.ko = cns__calloc(al, (size_t)U, sizeof(int32_t));
    s.conf_ptr = cns__calloc(al, (size_t)U + 1, sizeof(size_t));
    s.w = cns__calloc(al, (size_t)M, sizeof(double));
    s.cum = cns__calloc(al, (size_t)F, sizeof(double));
    s.mark = cns__calloc(al, (size_t)M, 1);
    s.keep = cns__calloc(al, (size_t)M, 1);
    int ok = w->user_f && w->item_f && w->log_prop && s.a.prob && s.a.alias && s.a.mass &&
             s.a.small && s.a.large && s.a.scaled && s.kc && s.ko && s.conf_ptr && s.w && s.cum &&
             s.mark && s.keep;

    /* Items: topic weights and propensity. Users: topic weights and activity. */
    cns__rng r;
    if (ok) {
        for (int32_t i = 0; i < M; ++i) {
            cns__rng_seed(&r, d->seed, cns__rng_key(STREAM_ITEM, (uint64_t)i, 0));
            topic_weights(&r, w->item_f + (size_t)i * F, F);
            w->log_prop[i] = WORLD_PROP_SIGMA * cns__rng_normal(&r);
        }
    }
    size_t total_c = 0, total_o = 0, total_vo = 0;
    int32_t draw_max = 1;
    for (int32_t u = 0; u < U && ok; ++u) {
        cns__rng_seed(&r, d->seed, cns__rng_key(STREAM_USER, (uint64_t)u, 0));
        topic_weights(&r, w->user_f + (size_t)u * F, F);
        /* Log-normal activity of mean 1: long-tailed degrees (WORLD.md §2). */
        double act = exp(sig * cns__rng_normal(&r) - 0.5 * sig * sig);
        double kc = floor(d->per_user * act + 0.5), ko = floor(d->ood_per_user * act + 0.5);
        s.kc[u] = kc < 1 ? 1 : kc > kc_max ? kc_max : (int32_t)kc;
        s.ko[u] = ko < 1 ? 1 : ko > ko_max ? ko_max : (int32_t)ko;
        total_c += (size_t)s.kc[u];
        total_o += (size_t)s.ko[u];
        total_vo += (size_t)ood_valid_count(d, s.ko[u]);
        if (s.kc[u] > draw_max) draw_max = s.kc[u];
        if (s.ko[u] + ood_valid_count(d, s.ko[u]) > draw_max)
            draw_max = s.ko[u] + ood_valid_count(d, s.ko[u]);
    }
    if (ok) {
        s.conf = cns__calloc(al, total_c + 1, sizeof(int32_t));
        s.draw = cns__calloc(al, (size_t)draw_max, sizeof(int32_t));
        const size_t cap[NSPLIT] = {total_c, total_c, total_c, total_o, total_vo};
        for (int k = 0; k < NSPLIT && ok; ++k) {
            s.pu[k] = cns__calloc(al, cap[k] + 1, sizeof(int32_t));
            s.pi[k] = cns__calloc(al, cap[k] + 1, sizeof(int32_t));
            ok = s.pu[k] && s.pi[k];
        }
        ok = ok && s.conf && s.draw;
    }
    if (!ok) {
        scratch_free(al, &s);
        return cns__fail(err, CNS_E_NOMEM, "out of memory for a world of %d users x %d items",
                         (int)U, (int)M);
    }

    /* Confounded interactions: u meets item i with probability
     * ∝ pi_i^confounding (exposure) x pi_i^pop_relevance <theta_u, phi_i>
     * (relevance), without replacement. */
    alias_build_all(&s.a, w->item_f, w->log_prop, d->confounding + d->pop_relevance, NULL, s.w);
    for (int32_t u = 0; u < U; ++u) {
        int32_t *conf = s.conf + s.conf_ptr[u];
        cns__rng_seed(&r, d->seed, cns__rng_key(STREAM_EXPOSE, (uint64_t)u, 0));
        int32_t k = draw_distinct(&s.a, w->user_f + (size_t)u * F, s.cum, s.mark, s.kc[u], conf, &r);
        if (k < 0) k = 0; /* cannot happen: every phi_iz and pi_i is positive */
        for (int32_t j = 0; j < k; ++j) s.mark[conf[j]] = 0;
        s.conf_ptr[u + 1] = s.conf_ptr[u] + (size_t)k;
        /* Draw order favours heavy items: shuffle before splitting. */
        cns__rng_seed(&r, d->seed, cns__rng_key(STREAM_SPLIT, (uint64_t)u, 0));
        shuffle(conf, k, &r);
        int32_t nv = round_share(d->valid_fraction, k), nt = round_share(d->test_fraction, k);
        while (nv + nt >= k && nv + nt > 0) { /* keep a training pair */
            if (nt > 0)
                --nt;
            else
                --nv;
        }
        for (int32_t j = 0; j < k; ++j)
            push(&s, j < nv ? CNS_SPLIT_VALID : j < nv + nt ? CNS_SPLIT_TEST_IID : CNS_SPLIT_TRAIN, u, conf[j]);
    }
    cns_status st = CNS_OK;
    for (int k = 0; k < 3 && st == CNS_OK; ++k)
        st = build_split(al, s.pu[k], s.pi[k], s.n[k], U, M, &w->split[k], err);
    if (st != CNS_OK) {
        scratch_free(al, &s);
        return st;
    }

    /* OOD: the same relevance under exposure that ignores popularity (or
     * runs against it), over the items the training split shows often
     * enough for their topics to be learnable, outside the user's
     * confounded items. */
    const int32_t *train_pop = w->split[CNS_SPLIT_TRAIN]->pop;
    for (int32_t i = 0; i < M; ++i) s.keep[i] = train_pop[i] >= WORLD_OOD_MIN_POP;
    const double ood_c = d->ood_exposure == CNS_OOD_ANTI_POPULAR ? -d->confounding : 0.0;
    alias_build_all(&s.a, w->item_f, w->log_prop, ood_c + d->pop_relevance, s.keep, s.w);
    for (int32_t u = 0; u < U && st == CNS_OK; ++u) {
        const int32_t *conf = s.conf + s.conf_ptr[u];
        const int32_t nc = (int32_t)(s.conf_ptr[u + 1] - s.conf_ptr[u]);
        const int32_t nvo = ood_valid_count(d, s.ko[u]);
        for (int32_t j = 0; j < nc; ++j) s.mark[conf[j]] = 1;
        cns__rng_seed(&r, d->seed, cns__rng_key(STREAM_OOD, (uint64_t)u, 0));
        int32_t k = draw_distinct(&s.a, w->user_f + (size_t)u * F, s.cum, s.mark, s.ko[u] + nvo, s.draw, &r);
        for (int32_t j = 0; j < nc; ++j) s.mark[conf[j]] = 0;
        for (int32_t j = 0; j < k; ++j) s.mark[s.draw[j]] = 0;
        if (k < 1) {
            st = cns__fail(err, CNS_E_ARG,
                           "ood_per_user = %d: user %d has no item outside its interactions seen "
                           ">= %d times in train (lower confounding, or raise num_users)",
                           (int)d->ood_per_user, (int)u, WORLD_OOD_MIN_POP);
            break;
        }
        shuffle(s.draw, k, &r);
        /* The test share is filled first: a short draw costs validation pairs. */
        int32_t nt = k < s.ko[u] ? k : s.ko[u];
        for (int32_t j = 0; j < k; ++j) push(&s, j < nt ? CNS_SPLIT_TEST_OOD : CNS_SPLIT_VALID_OOD, u, s.draw[j]);
    }
    for (int k = CNS_SPLIT_TEST_OOD; k < NSPLIT && st == CNS_OK; ++k)
        st = build_split(al, s.pu[k], s.pi[k], s.n[k], U, M, &w->split[k], err);
    scratch_free(al, &s);
    return st;
}

CNS_API void cns_world_free(cns_world *w) {
    if (w == NULL) return;
    cns__alloc al = w->al;
    for (int k = 0; k < NSPLIT; ++k) cns_dataset_free(w->split[k]);
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
    if (w == NULL || split < CNS_SPLIT_TRAIN || split > CNS_SPLIT_VALID_OOD) return NULL;
    return w->split[split];
}

CNS_API cns_status cns_world_write(const cns_world *w, const char *dir, cns_error *err) {
    if (w == NULL) return cns__fail(err, CNS_E_ARG, "w is NULL");
    if (dir == NULL) return cns__fail(err, CNS_E_ARG, "dir is NULL");
    static const char *const names[NSPLIT] = {"train.txt", "valid.txt", "test_iid.txt",
                                              "test_ood.txt", "valid_ood.txt"};
    size_t len = strlen(dir) + 16;
    char *path = cns__malloc(&w->al, len);
    if (path == NULL) return cns__fail(err, CNS_E_NOMEM, "out of memory for a path");
    cns_status st = CNS_OK;
    /* Each file is crash-safe on its own (temporary file, fsync, rename,
     * directory fsync): the shared writer of dataset_load.c. */
    for (int k = 0; k < NSPLIT && st == CNS_OK; ++k) {
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
double cns__world_log_relevance(const cns_world *w, int32_t u, int32_t i) {
    const int32_t F = w->desc.factors;
    const double *t = w->user_f + (size_t)u * F, *p = w->item_f + (size_t)i * F;
    double s = 0.0;
    for (int32_t k = 0; k < F; ++k) s += t[k] * p[k];
    return log(s) + w->desc.pop_relevance * w->log_prop[i];
}
int32_t cns__world_ood_min_pop(void) { return WORLD_OOD_MIN_POP; }
