/* Top-K evaluation: blocked sgemm scoring, masked partial selection,
 * Recall/NDCG/Precision/HitRatio and IPS metrics (ALGORITHM.md §11). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cnsdiff/eval.h"
#include "dataset_internal.h"
#include "error.h"
#include "parallel.h"
#include "params.h"

#define EVAL_MAX_KS 16
#define EVAL_MAX_THREADS 256
#define EVAL_USERS_PER_CHUNK 8 /* smallest share of a block one thread ranks */
/* Bytes of scores per sgemm call: the size of a core's L2 here (2 MiB).
 * Fewer, larger calls matter more than cache residency: every call pays
 * OpenBLAS's thread hand-off and a thread start for the selection. On
 * Food (7724 users x 6293 items) 512 KiB gave 182-211 ms, 2 MiB 133-156 ms,
 * 4 and 8 MiB no better (cnsdiff bench eval, idle machine). */
#define EVAL_SCORE_BYTES (2048u * 1024u)

/* One result row per user and cut-off: the cns_metric columns. The HIT
 * column holds the raw hit count until the micro ratio is taken. */
#define NM CNS_METRIC_COUNT

static const char *const k_metric_names[NM] = {"recall",    "ndcg",       "precision",
                                               "hit",       "ips_recall", "ips_ndcg"};

struct cns_evaluator {
    cns__alloc al;
    const cns_dataset *train;
    cns_dataset *owned_train; /* built from a CSR by cns_evaluator_create_csr */
    double ips_gamma;
    int64_t block_users;
    int64_t threads;
    int32_t *pop_order; /* train items by (popularity desc, id asc) */
    double *w;          /* train items: IPS weight, refreshed per run */
    /* Scratch grown on demand and kept between runs. */
    float *scores;
    size_t scores_cap;
    float *ublk;
    size_t ublk_cap;
    int32_t *blk_users;
    size_t blk_users_cap;
    double *blk_rows;
    size_t blk_rows_cap;
    uint64_t *heaps;    /* block x kmax selection heaps */
    size_t heaps_cap;
    struct sel_state *states; /* block */
    size_t states_cap;
    int32_t *lists;     /* threads x kmax */
    size_t lists_cap;
    double *wsorted;    /* threads x max test degree */
    size_t wsorted_cap;
    double *disc;       /* kmax: 1 / log2(r + 2) */
    size_t disc_cap;
    char last_error[CNS__MSG_SIZE];
};

CNS_API int cns_metric_count(void) { return NM; }

CNS_API const char *cns_metric_name(int metric) {
    return metric >= 0 && metric < NM ? k_metric_names[metric] : NULL;
}

/* ---- lifecycle and parameters ----------------------------------------- */

typedef struct pop_key {
    int32_t pop, id;
} pop_key;

static int pop_key_cmp(const void *a, const void *b) {
    const pop_key *x = a, *y = b;
    if (x->pop != y->pop) return x->pop > y->pop ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

CNS_API cns_status cns_evaluator_create(const cns_dataset *train, const cns_allocator *alloc,
                                        cns_evaluator **out, cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "cns_evaluator_create: out is NULL");
    *out = NULL;
    if (train == NULL) return cns__fail(err, CNS_E_ARG, "cns_evaluator_create: train is NULL");
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "cns_evaluator_create: allocator has a NULL function");
    cns_evaluator *ev = cns__calloc(&al, 1, sizeof *ev);
    if (ev == NULL)
        return cns__fail(err, CNS_E_NOMEM, "cns_evaluator_create: out of memory for the evaluator");
    ev->al = al;
    ev->train = train;
    ev->ips_gamma = 1.0;
    ev->block_users = 256;
    ev->threads = 1;
    size_t ni = (size_t)train->num_items;
    ev->pop_order = cns__calloc(&al, ni, sizeof *ev->pop_order);
    ev->w = cns__calloc(&al, ni, sizeof *ev->w);
    pop_key *keys = cns__calloc(&al, ni, sizeof *keys);
    if (ev->pop_order == NULL || ev->w == NULL || keys == NULL) {
        cns__free(&al, keys);
        cns_evaluator_free(ev);
        return cns__fail(err, CNS_E_NOMEM, "cns_evaluator_create: out of memory for %zu items", ni);
    }
    /* The most-popular ranking is fixed by train: compute it once. */
    for (size_t i = 0; i < ni; ++i) keys[i] = (pop_key){train->pop[i], (int32_t)i};
    qsort(keys, ni, sizeof *keys, pop_key_cmp);
    for (size_t i = 0; i < ni; ++i) ev->pop_order[i] = keys[i].id;
    cns__free(&al, keys);
    *out = ev;
    cns__ok(err);
    return CNS_OK;
}

CNS_API void cns_evaluator_free(cns_evaluator *ev) {
    if (ev == NULL) return;
    cns__alloc al = ev->al;
    cns_dataset_free(ev->owned_train);
    cns__free(&al, ev->pop_order);
    cns__free(&al, ev->w);
    cns__free(&al, ev->scores);
    cns__free(&al, ev->ublk);
    cns__free(&al, ev->blk_users);
    cns__free(&al, ev->blk_rows);
    cns__free(&al, ev->heaps);
    cns__free(&al, ev->states);
    cns__free(&al, ev->lists);
    cns__free(&al, ev->wsorted);
    cns__free(&al, ev->disc);
    cns__free(&al, ev);
}

CNS_API const char *cns_evaluator_last_error(const cns_evaluator *ev) {
    return ev ? ev->last_error : "evaluator is NULL";
}

static const cns__param k_params[] = {
    {CNS_EVAL_IPS_GAMMA, 0, 0.0, 4.0, 0, 0, "CNS_EVAL_IPS_GAMMA"},
    {CNS_EVAL_BLOCK_USERS, 1, 1.0, 65536.0, 0, 0, "CNS_EVAL_BLOCK_USERS"},
    {CNS_EVAL_THREADS, 1, 1.0, (double)EVAL_MAX_THREADS, 0, 0, "CNS_EVAL_THREADS"},
};
#define N_PARAMS (sizeof k_params / sizeof k_params[0])

CNS_API cns_status cns_evaluator_param_bounds(int param, double *min, double *max) {
    if (min == NULL || max == NULL) /* an unknown id still answers CNS_E_PARAM */
        return cns__param_find(k_params, N_PARAMS, param) ? CNS_E_ARG : CNS_E_PARAM;
    return cns__param_bounds(k_params, N_PARAMS, param, min, max);
}

CNS_API cns_status cns_evaluator_set_double(cns_evaluator *ev, int param, double v) {
    if (ev == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL || p->is_int)
        return cns__msg(ev->last_error, CNS_E_PARAM, "cns_evaluator_set_double: parameter %d is not a double parameter",
                        param);
    if (!cns__param_in_bounds(p, v))
        return cns__msg(ev->last_error, CNS_E_ARG, "cns_evaluator_set_double: parameter %d: %g is outside [%g, %g]", param,
                        v, p->min, p->max);
    ev->ips_gamma = v;
    return CNS_OK;
}

CNS_API cns_status cns_evaluator_get_double(const cns_evaluator *ev, int param, double *v) {
    if (ev == NULL || v == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL || p->is_int) return CNS_E_PARAM;
    *v = ev->ips_gamma;
    return CNS_OK;
}

CNS_API cns_status cns_evaluator_set_int(cns_evaluator *ev, int param, int64_t v) {
    if (ev == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL || !p->is_int)
        return cns__msg(ev->last_error, CNS_E_PARAM, "cns_evaluator_set_int: parameter %d is not an int parameter",
                        param);
    if (!cns__param_in_bounds(p, (double)v))
        return cns__msg(ev->last_error, CNS_E_ARG, "cns_evaluator_set_int: parameter %d: %lld is outside [%g, %g]",
                        param, (long long)v, p->min, p->max);
    if (param == CNS_EVAL_BLOCK_USERS)
        ev->block_users = v;
    else
        ev->threads = v;
    return CNS_OK;
}

CNS_API cns_status cns_evaluator_get_int(const cns_evaluator *ev, int param, int64_t *v) {
    if (ev == NULL || v == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL || !p->is_int) return CNS_E_PARAM;
    *v = param == CNS_EVAL_BLOCK_USERS ? ev->block_users : ev->threads;
    return CNS_OK;
}

/* ---- selection (ALGORITHM.md §11: top K of the unmasked items) -------- */

/* A candidate is one 64-bit key whose unsigned order is the ranking's total
 * order: the score mapped to an order-preserving integer in the high half,
 * the complemented id in the low half (so the smaller id ranks higher on a
 * tie). One integer compare per heap step, and every key is distinct. */
typedef uint64_t cand;

static inline uint32_t float_to_ord(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline float ord_to_float(uint32_t o) {
    uint32_t u = (o & 0x80000000u) ? (o & 0x7fffffffu) : ~o;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline cand make_cand(float s, int32_t id) {
    if (s != s) s = -INFINITY; /* NaN ranks as -inf */
    s += 0.0f;                 /* -0 and +0 are the same score */
    return ((uint64_t)float_to_ord(s) << 32) | (uint32_t)~(uint32_t)id;
}

static inline int32_t cand_id(cand c) { return (int32_t)~(uint32_t)c; }
static inline float cand_score(cand c) { return ord_to_float((uint32_t)(c >> 32)); }

/* Min-heap on rank: the root is the worst kept candidate. */
static void sift_down(cand *h, size_t n, size_t i) {
    cand x = h[i];
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t c = (l + 1 < n && h[l + 1] < h[l]) ? l + 1 : l;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void heapify(cand *h, size_t n) {
    for (size_t i = n / 2; i-- > 0;) sift_down(h, n, i);
}

/* Pops the heap worst-first into list from the back: list[0] is the best.
 * Only the kept K are sorted, never the whole row. */
static void heap_to_list(cand *h, size_t n, int32_t *list) {
    heapify(h, n);
    for (size_t r = n; r-- > 0;) {
        list[r] = cand_id(h[0]);
        h[0] = h[r];
        sift_down(h, r, 0);
    }
}

#define EVAL_VEC 16

/* 1 when some x[0..EVAL_VEC) > thr; a branch-free reduction the compiler
 * turns into vector compares. */
static inline int any_above(const float *restrict x, float thr) {
    int m = 0;
    for (int j = 0; j < EVAL_VEC; ++j) m |= x[j] > thr;
    return m;
}

/* A user's selection in progress across the item chunks of a block. */
typedef struct sel_state {
    size_t p;    /* next training item of the user not yet passed */
    size_t fill; /* candidates in the heap (kmax once full) */
} sel_state;

/* Feeds items [c0, c1) (scores row[0 .. c1-c0)) into the user's top-kmax
 * heap, skipping the sorted training items tr. Items arrive in increasing
 * id, so a later item of equal score never displaces a kept one: once the
 * heap is full, "score > threshold" alone decides, and it is false for
 * NaN. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void select_chunk(const float *restrict row, int32_t c0, int32_t c1, const int32_t *tr,
                         size_t ntr, size_t kmax, sel_state *st, cand *h) {
    size_t p = st->p, fill = st->fill;
    int32_t i = c0;
    for (; i < c1 && fill < kmax; ++i) {
        if (p < ntr && tr[p] == i) {
            ++p;
            continue;
        }
        h[fill++] = make_cand(row[i - c0], i);
        if (fill == kmax) heapify(h, fill);
    }
    if (fill == kmax) {
        float thr = cand_score(h[0]);
        while (i < c1) {
            /* A run of unmasked items up to the next training item. */
            int32_t end = p < ntr && tr[p] < c1 ? tr[p] : c1;
            while (i < end) {
                if (end - i >= EVAL_VEC && !any_above(row + (i - c0), thr)) {
                    i += EVAL_VEC; /* most items lose: skip a vector at once */
                    continue;
                }
                int32_t stop = end - i >= EVAL_VEC ? i + EVAL_VEC : end;
                for (; i < stop; ++i) {
                    float s = row[i - c0];
                    if (s > thr) {
                        h[0] = make_cand(s, i);
                        sift_down(h, fill, 0);
                        thr = cand_score(h[0]);
                    }
                }
            }
            if (end < c1) { /* i == end: step over the training item */
                ++p;
                ++i;
            }
        }
    }
    st->p = p;
    st->fill = fill;
}

/* ---- metrics ---------------------------------------------------------- */

typedef struct run_ctx {
    cns_evaluator *ev;
    const float *scores; /* the chunk's scores, NULL for the popularity ranking */
    int32_t c0, c1;      /* the chunk's items */
    int32_t num_items;   /* items that can be ranked */
    const cns_dataset *test;
    const int32_t *ks;
    size_t num_ks;
    size_t kmax;
    size_t max_test_deg;
    const int32_t *users; /* users of the block */
} run_ctx;

static int cmp_double_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* The metrics of one user's ranked list (ALGORITHM.md §11) into row
 * (num_ks x NM). tu: the user's sorted test items, nt > 0 of them. */
static void user_metrics(const run_ctx *c, const int32_t *list, size_t m, const int32_t *tu,
                         size_t nt, double *wsorted, double *row) {
    const cns_evaluator *ev = c->ev;
    int32_t ni_train = ev->train->num_items;
    double wsum = 0.0;
    for (size_t j = 0; j < nt; ++j) {
        /* An item unseen in training has popularity 0, so weight 1. */
        double w = tu[j] < ni_train ? ev->w[tu[j]] : 1.0;
        wsorted[j] = w;
        wsum += w;
    }
    qsort(wsorted, nt, sizeof *wsorted, cmp_double_desc);
    double hits = 0.0, dcg = 0.0, idcg = 0.0, ips_hit = 0.0, ips_dcg = 0.0, ips_idcg = 0.0;
    for (size_t r = 0; r < c->kmax; ++r) {
        double d = ev->disc[r];
        if (r < m && cns__sorted_contains(tu, nt, list[r])) {
            double w = ev->w[list[r]];
            hits += 1.0;
            dcg += d;
            ips_hit += w;
            ips_dcg += w * d;
        }
        if (r < nt) {
            idcg += d;
            ips_idcg += wsorted[r] * d;
        }
        for (size_t q = 0; q < c->num_ks; ++q) {
            if ((size_t)c->ks[q] != r + 1) continue;
            double *o = row + q * NM;
            o[CNS_METRIC_RECALL] = hits / (double)nt;
            o[CNS_METRIC_NDCG] = dcg / idcg;
            o[CNS_METRIC_PRECISION] = hits / (double)c->ks[q];
            o[CNS_METRIC_HIT] = hits;
            o[CNS_METRIC_IPS_RECALL] = ips_hit / wsum;
            o[CNS_METRIC_IPS_NDCG] = ips_dcg / ips_idcg;
        }
    }
}

/* Feeds the chunk to users [begin, end) of the block and, after the last
 * chunk, ranks and scores them. Each worker owns its list scratch. */
static void rank_range(void *arg, size_t begin, size_t end, int worker) {
    const run_ctx *c = arg;
    cns_evaluator *ev = c->ev;
    const cns_dataset *tr = ev->train;
    int32_t *list = ev->lists + (size_t)worker * c->kmax;
    double *ws = ev->wsorted + (size_t)worker * c->max_test_deg;
    size_t width = (size_t)(c->c1 - c->c0);
    for (size_t j = begin; j < end; ++j) {
        int32_t u = c->users[j];
        const int32_t *tri = tr->items + tr->user_ptr[u];
        size_t ntr = tr->user_ptr[u + 1] - tr->user_ptr[u];
        size_t m;
        if (c->scores != NULL) {
            cand *h = ev->heaps + j * c->kmax;
            select_chunk(c->scores + j * width, c->c0, c->c1, tri, ntr, c->kmax, &ev->states[j], h);
            if (c->c1 < c->num_items) continue;
            m = ev->states[j].fill;
            heap_to_list(h, m, list);
        } else {
            /* Most-popular floor: the global order minus the user's items. */
            m = 0;
            for (int32_t q = 0; q < c->num_items && m < c->kmax; ++q) {
                int32_t it = ev->pop_order[q];
                if (!cns__sorted_contains(tri, ntr, it)) list[m++] = it;
            }
        }
        const cns_dataset *te = c->test;
        const int32_t *tu = te->items + te->user_ptr[u];
        size_t nt = te->user_ptr[u + 1] - te->user_ptr[u];
        user_metrics(c, list, m, tu, nt, ws, ev->blk_rows + j * c->num_ks * NM);
    }
}

/* ---- driver ----------------------------------------------------------- */

/* Makes *p hold at least need elements of size sz (contents not kept). */
static int grow(const cns__alloc *al, void **p, size_t *cap, size_t need, size_t sz) {
    if (need <= *cap && *p != NULL) return 1;
    size_t bytes;
    if (!cns__mul_ok(need, sz, &bytes)) return 0;
    void *q = cns__malloc(al, bytes);
    if (q == NULL) return 0;
    cns__free(al, *p);
    *p = q;
    *cap = need;
    return 1;
}

static cns_status check_ks(const char *fn, cns_evaluator *ev, const int32_t *ks, size_t num_ks, int32_t num_items,
                           size_t *kmax) {
    if (ks == NULL) return cns__msg(ev->last_error, CNS_E_ARG, "%s: ks is NULL", fn);
    if (num_ks == 0 || num_ks > EVAL_MAX_KS)
        return cns__msg(ev->last_error, CNS_E_ARG, "%s: num_ks = %zu is outside [1, %d]", fn, num_ks,
                        EVAL_MAX_KS);
    *kmax = 0;
    for (size_t q = 0; q < num_ks; ++q) {
        if (ks[q] < 1 || ks[q] > num_items)
            return cns__msg(ev->last_error, CNS_E_ARG, "%s: ks[%zu] = %d is outside [1, %d items]", fn,
                            q, (int)ks[q], (int)num_items);
        if ((size_t)ks[q] > *kmax) *kmax = (size_t)ks[q];
    }
    return CNS_OK;
}

/* Shared by the model and the popularity ranking; user_emb NULL selects
 * the popularity ranking. Arguments are already checked. */
static cns_status run_blocks(cns_evaluator *ev, const float *user_emb, int32_t num_users,
                             const float *item_emb, int32_t dim, const cns_dataset *test,
                             const int32_t *ks, size_t num_ks, size_t kmax, double *out,
                             size_t *num_evaluated) {
    const cns__alloc *al = &ev->al;
    int32_t ni = ev->train->num_items;
    int32_t nu = num_users < test->num_users ? num_users : test->num_users;
    size_t max_deg = 1;
    for (int32_t u = 0; u < nu; ++u) {
        size_t d = test->user_ptr[u + 1] - test->user_ptr[u];
        if (d > max_deg) max_deg = d;
    }
    size_t bu = (size_t)ev->block_users, nt = (size_t)ev->threads;
    if (bu > (size_t)nu) bu = nu > 0 ? (size_t)nu : 1;
    /* Items per sgemm call: the block's scores stay within EVAL_SCORE_BYTES. */
    size_t width = EVAL_SCORE_BYTES / (bu * sizeof(float));
    if (width < 256) width = 256;
    if (width > (size_t)ni) width = (size_t)ni;
    size_t score_n = 0, ublk_n = 0, heap_n = 0;
    int ok = cns__mul_ok(bu, num_ks * NM, &(size_t){0}) && cns__mul_ok(nt, kmax, &(size_t){0}) &&
             cns__mul_ok(nt, max_deg, &(size_t){0});
    if (user_emb != NULL)
        ok = ok && cns__mul_ok(bu, width, &score_n) && cns__mul_ok(bu, (size_t)dim, &ublk_n) &&
             cns__mul_ok(bu, kmax, &heap_n);
    ok = ok && grow(al, (void **)&ev->blk_users, &ev->blk_users_cap, bu, sizeof(int32_t)) &&
         grow(al, (void **)&ev->blk_rows, &ev->blk_rows_cap, bu * num_ks * NM, sizeof(double)) &&
         grow(al, (void **)&ev->lists, &ev->lists_cap, nt * kmax, sizeof(int32_t)) &&
         grow(al, (void **)&ev->wsorted, &ev->wsorted_cap, nt * max_deg, sizeof(double)) &&
         grow(al, (void **)&ev->disc, &ev->disc_cap, kmax, sizeof(double));
    if (ok && user_emb != NULL)
        ok = grow(al, (void **)&ev->scores, &ev->scores_cap, score_n, sizeof(float)) &&
             grow(al, (void **)&ev->ublk, &ev->ublk_cap, ublk_n, sizeof(float)) &&
             grow(al, (void **)&ev->heaps, &ev->heaps_cap, heap_n, sizeof(cand)) &&
             grow(al, (void **)&ev->states, &ev->states_cap, bu, sizeof(sel_state));
    if (!ok)
        return cns__msg(ev->last_error, CNS_E_NOMEM,
                        "out of memory for a block of %zu users x %d items", bu, (int)ni);
    for (size_t r = 0; r < kmax; ++r) ev->disc[r] = 1.0 / log2((double)r + 2.0);
    for (int32_t i = 0; i < ni; ++i) {
        int32_t pop = ev->train->pop[i];
        ev->w[i] = pow(pop > 1 ? (double)pop : 1.0, -ev->ips_gamma);
    }

    run_ctx c = {ev, NULL, 0, ni, ni, test, ks, num_ks, kmax, max_deg, ev->blk_users};
    double acc[EVAL_MAX_KS * NM] = {0};
    double test_total = 0.0;
    size_t n_eval = 0;
    int32_t u = 0;
    while (u < nu) {
        size_t nb = 0;
        for (; u < nu && nb < bu; ++u)
            if (test->user_ptr[u + 1] > test->user_ptr[u]) ev->blk_users[nb++] = u;
        if (nb == 0) break;
        if (user_emb != NULL) {
            for (size_t j = 0; j < nb; ++j) {
                memcpy(ev->ublk + j * (size_t)dim, user_emb + (size_t)ev->blk_users[j] * dim,
                       (size_t)dim * sizeof(float));
                ev->states[j] = (sel_state){0, 0};
            }
            c.scores = ev->scores;
            for (int32_t c0 = 0; c0 < ni; c0 += (int32_t)width) {
                int32_t w = ni - c0 < (int32_t)width ? ni - c0 : (int32_t)width;
                /* scores (nb x w) = U_blk (nb x dim) * E_items[c0, c0+w)^T (§11). */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, w, dim, 1.0f,
                            ev->ublk, dim, item_emb + (size_t)c0 * dim, dim, 0.0f, ev->scores, w);
                c.c0 = c0;
                c.c1 = c0 + w;
                cns__parallel_for((int)nt, nb, EVAL_USERS_PER_CHUNK, rank_range, &c);
            }
        } else {
            cns__parallel_for((int)nt, nb, EVAL_USERS_PER_CHUNK, rank_range, &c);
        }
        /* Sum in user order so the result does not depend on the threads. */
        for (size_t j = 0; j < nb; ++j) {
            const double *row = ev->blk_rows + j * num_ks * NM;
            for (size_t q = 0; q < num_ks * NM; ++q) acc[q] += row[q];
            int32_t uj = ev->blk_users[j];
            test_total += (double)(test->user_ptr[uj + 1] - test->user_ptr[uj]);
        }
        n_eval += nb;
    }
    if (n_eval == 0)
        return cns__msg(ev->last_error, CNS_E_EMPTY,
                        "no test user has test items and an id below %d users", (int)num_users);
    for (size_t q = 0; q < num_ks; ++q)
        for (int k = 0; k < NM; ++k)
            out[q * NM + k] = k == CNS_METRIC_HIT ? acc[q * NM + k] / test_total
                                                  : acc[q * NM + k] / (double)n_eval;
    if (num_evaluated != NULL) *num_evaluated = n_eval;
    ev->last_error[0] = '\0';
    return CNS_OK;
}

CNS_API cns_status cns_evaluator_run(cns_evaluator *ev, const float *user_emb, int32_t num_users,
                                     const float *item_emb, int32_t num_items, int32_t dim,
                                     const cns_dataset *test, const int32_t *ks, size_t num_ks,
                                     double *out, size_t *num_evaluated) {
    if (num_evaluated != NULL) *num_evaluated = 0;
    if (ev == NULL) return CNS_E_ARG;
    if (user_emb == NULL || item_emb == NULL || test == NULL || out == NULL)
        return cns__msg(ev->last_error, CNS_E_ARG, "cns_evaluator_run: %s is NULL",
                        user_emb == NULL   ? "user_emb"
                        : item_emb == NULL ? "item_emb"
                        : test == NULL     ? "test"
                                           : "out");
    if (dim < 1)
        return cns__msg(ev->last_error, CNS_E_ARG, "cns_evaluator_run: dim = %d must be >= 1",
                        (int)dim);
    if (num_users != ev->train->num_users)
        return cns__msg(ev->last_error, CNS_E_SIZE,
                        "cns_evaluator_run: num_users = %d but the training set has %d users",
                        (int)num_users, (int)ev->train->num_users);
    if (num_items != ev->train->num_items)
        return cns__msg(ev->last_error, CNS_E_SIZE,
                        "cns_evaluator_run: num_items = %d but the training set has %d items", (int)num_items,
                        (int)ev->train->num_items);
    size_t kmax;
    cns_status st = check_ks("cns_evaluator_run", ev, ks, num_ks, num_items, &kmax);
    if (st != CNS_OK) return st;
    return run_blocks(ev, user_emb, num_users, item_emb, dim, test, ks, num_ks, kmax, out,
                      num_evaluated);
}

CNS_API cns_status cns_evaluator_run_popularity(cns_evaluator *ev, const cns_dataset *test,
                                                const int32_t *ks, size_t num_ks, double *out,
                                                size_t *num_evaluated) {
    if (num_evaluated != NULL) *num_evaluated = 0;
    if (ev == NULL) return CNS_E_ARG;
    if (test == NULL || out == NULL)
        return cns__msg(ev->last_error, CNS_E_ARG, "cns_evaluator_run_popularity: %s is NULL",
                        test == NULL ? "test" : "out");
    size_t kmax;
    cns_status st = check_ks("cns_evaluator_run_popularity", ev, ks, num_ks, ev->train->num_items, &kmax);
    if (st != CNS_OK) return st;
    return run_blocks(ev, NULL, ev->train->num_users, NULL, 0, test, ks, num_ks, kmax, out,
                      num_evaluated);
}

CNS_API cns_status cns_evaluator_create_csr(const cns_csr *train, const cns_allocator *alloc,
                                            cns_evaluator **out, cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "cns_evaluator_create_csr: out is NULL");
    *out = NULL;
    /* The evaluator needs the popularity and the masks for every run: one
     * copy as a dataset, owned by the evaluator, built here. */
    cns_dataset *ds = NULL;
    cns_status st = cns_dataset_from_csr(train, alloc, &ds, err);
    if (st != CNS_OK) return st;
    st = cns_evaluator_create(ds, alloc, out, err);
    if (st != CNS_OK) {
        cns_dataset_free(ds);
        return st;
    }
    (*out)->owned_train = ds;
    return CNS_OK;
}

CNS_API cns_status cns_evaluator_run_csr(cns_evaluator *ev, const float *user_emb,
                                         int32_t num_users, const float *item_emb,
                                         int32_t num_items, int32_t dim, const cns_csr *test,
                                         const int32_t *ks, size_t num_ks, double *out,
                                         size_t *num_evaluated) {
    if (num_evaluated != NULL) *num_evaluated = 0;
    if (ev == NULL) return CNS_E_ARG;
    cns_error e;
    cns_dataset *ds = NULL;
    cns_allocator a = ev->al.a;
    /* O(nnz) to copy the test rows, small next to scoring every item. */
    cns_status st = cns_dataset_from_csr(test, &a, &ds, &e);
    if (st != CNS_OK) {
        static const char inner[] = "cns_dataset_from_csr: ";
        const char *detail = e.message;
        if (strncmp(detail, inner, sizeof inner - 1) == 0) detail += sizeof inner - 1;
        return cns__msg(ev->last_error, st, "cns_evaluator_run_csr: test: %s", detail);
        return st;
    }
    st = cns_evaluator_run(ev, user_emb, num_users, item_emb, num_items, dim, ds, ks, num_ks, out,
                           num_evaluated);
    cns_dataset_free(ds);
    return st;
}
