/* The embedding model handle (ALGORITHM.md §2): ego embeddings, LightGCN
 * propagation (lightgcn.c), gradients, Adam, top-k recommendation. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "error.h"
#include "model_internal.h"
#include "cnsdiff/idmap.h"
#include "params.h"
#include "preset_internal.h"
#include "rng.h"

/* Bytes of the first cns_model_desc (struct_size, dim, layers, seed). A
 * caller struct must cover at least these; later versions append fields. */
#define CNS__MODEL_DESC_V1_SIZE (offsetof(cns_model_desc, seed) + sizeof(uint64_t))

/* Stream purpose for the Xavier draws ("xavier" in ASCII). */
#define CNS__STREAM_XAVIER 0x786176696572ull

static const char *table_name(cns_table t) { return t == CNS_TABLE_USERS ? "user" : "item"; }

/* ---- lifecycle ----------------------------------------------------------- */

CNS_API void cns_model_desc_init(cns_model_desc *desc) {
    if (desc == NULL) return;
    memset(desc, 0, sizeof *desc);
    desc->struct_size = sizeof *desc;
    desc->dim = 64;
    desc->layers = 2;
    desc->seed = 1;
}

static void model_destroy(cns_model *m) {
    if (m == NULL) return;
    cns__alloc al = m->al;
    cns__free(&al, m->user_ptr);
    cns__free(&al, m->items);
    cns__adj_destroy(&m->adj, &al);
    cns__free(&al, m->ego);
    cns__free(&al, m->emb);
    cns__free(&al, m->grad);
    cns__free(&al, m->grad_live);
    cns__free(&al, m->row_mark);
    cns__free(&al, m->row_list);
    cns__free(&al, m->live_row_ptr);
    cns__free(&al, m->live_col);
    cns__free(&al, m->live_val);
    cns__free(&al, m->grad_ego);
    cns__free(&al, m->s1);
    cns__free(&al, m->s2);
    cns__free(&al, m->ego_snap);
    cns__free(&al, m->step_rows);
    cns__model_train_view_free(m);
    cns_idmap_free(m->idmap);
    if (m->adam.m != NULL || m->adam.v != NULL) cns__adam_destroy(&m->adam, &al);
    cns__free(&al, m);
}

CNS_API void cns_model_free(cns_model *m) { model_destroy(m); }

static cns_status check_shape(const cns__model_shape *s, cns_error *err) {
    if (s->dim < 1 || s->dim > CNS__MODEL_MAX_DIM)
        return cns__fail(err, CNS_E_ARG, "dim = %d is outside [1, %d]", (int)s->dim,
                         CNS__MODEL_MAX_DIM);
    if (s->layers < 0 || s->layers > CNS__MODEL_MAX_LAYERS)
        return cns__fail(err, CNS_E_ARG, "layers = %d is outside [0, %d]", (int)s->layers,
                         CNS__MODEL_MAX_LAYERS);
    if (s->num_users < 1 || s->num_items < 1)
        return cns__fail(err, CNS_E_ARG, "the graph needs at least one user and one item (%d, %d)",
                         (int)s->num_users, (int)s->num_items);
    /* Node ids of Â are int32: users then items. */
    if ((int64_t)s->num_users + (int64_t)s->num_items > (int64_t)INT32_MAX)
        return cns__fail(err, CNS_E_SIZE, "%d users + %d items exceed the int32 node index",
                         (int)s->num_users, (int)s->num_items);
    return CNS_OK;
}

/* Allocates the handle and every buffer for nnz interactions; the graph
 * arrays are left for the caller to fill, then model_finish() builds Â. */
static cns_status model_alloc(const cns__alloc *al, const cns__model_shape *shape, size_t nnz,
                              cns_model **out, cns_error *err) {
    *out = NULL;
    cns_model *m = cns__calloc(al, 1, sizeof *m);
    if (m == NULL) return cns__fail(err, CNS_E_NOMEM, "out of memory for the model handle");
    m->al = *al;
    m->shape = *shape;
    m->rows = (size_t)shape->num_users + (size_t)shape->num_items;
    m->d = (size_t)shape->dim;
    m->threads = 1;
    size_t elems, bytes;
    if (!cns__mul_ok(m->rows, m->d, &elems) || !cns__mul_ok(elems, sizeof(float), &bytes)) {
        const size_t rows = m->rows, d = m->d;
        model_destroy(m);
        return cns__fail(err, CNS_E_NOMEM, "%zu x %zu embeddings overflow size_t", rows, d);
    }
    m->user_ptr = cns__calloc(al, (size_t)shape->num_users + 1, sizeof *m->user_ptr);
    m->items = cns__calloc(al, nnz ? nnz : 1, sizeof *m->items);
    m->ego = cns__calloc(al, elems, sizeof(float));
    m->emb = cns__calloc(al, elems, sizeof(float));
    m->grad = cns__calloc(al, elems, sizeof(float));
    m->grad_live = cns__calloc(al, m->rows, 1);
    m->row_mark = cns__calloc(al, m->rows, 1);
    m->row_list = cns__calloc(al, m->rows, sizeof *m->row_list);
    /* The adjacency holds each interaction twice (cns__adj_build refuses a
     * count that does not double without overflow). */
    const size_t entries = nnz <= SIZE_MAX / 2 && nnz > 0 ? 2 * nnz : 1;
    m->live_row_ptr = cns__calloc(al, m->rows + 1, sizeof *m->live_row_ptr);
    m->live_col = cns__calloc(al, entries, sizeof *m->live_col);
    m->live_val = cns__calloc(al, entries, sizeof *m->live_val);
    m->grad_ego = cns__calloc(al, elems, sizeof(float));
    if (shape->layers >= 2) m->s1 = cns__malloc(al, bytes);
    if (shape->layers >= 3) m->s2 = cns__malloc(al, bytes);
    int ok = m->user_ptr && m->items && m->ego && m->emb && m->grad && m->grad_live &&
             m->row_mark && m->row_list && m->live_row_ptr && m->live_col && m->live_val &&
             m->grad_ego && (shape->layers < 2 || m->s1) && (shape->layers < 3 || m->s2);
    if (!ok || cns__adam_init(&m->adam, elems, al) != CNS_OK) {
        const size_t rows = m->rows, d = m->d;
        model_destroy(m);
        return cns__fail(err, CNS_E_NOMEM, "out of memory for a model of %zu x %zu embeddings",
                         rows, d);
    }
    /* Steps may skip Adam's checking pass when bounds prove it cannot fail;
     * every write to ego or the moments outside a step forgets them. */
    m->adam.track_bounds = 1;
    /* The initial tunables are the default preset's (lib/preset.c). */
    int ids[CNS__PRESET_MAX_VALUES];
    double vals[CNS__PRESET_MAX_VALUES];
    size_t nv = 0;
    (void)cns__preset_values(CNS_PRESET_DEFAULT, CNS__PRESET_MODEL, ids, vals, &nv);
    cns_status st = cns__model_apply_values(m, ids, vals, nv, 0, m->last_error);
    if (st != CNS_OK) { /* cannot happen with the library's tables; kept for safety */
        cns__fail(err, st, "default preset: %s", m->last_error);
        model_destroy(m);
        return st;
    }
    *out = m;
    return CNS_OK;
}

static cns_status model_finish(cns_model *m, cns_error *err) {
    if (cns__adj_build(&m->adj, m->shape.num_users, m->shape.num_items, m->user_ptr, m->items,
                       &m->al) != CNS_OK)
        return cns__fail(err, CNS_E_NOMEM, "out of memory for the normalised adjacency (%zu entries)",
                         2 * m->user_ptr[m->shape.num_users]);
    if (cns__model_train_view_build(m) != CNS_OK)
        return cns__fail(err, CNS_E_NOMEM, "out of memory for the training-data view");
    return CNS_OK;
}

cns_status cns__model_new(const cns__alloc *al, const cns__model_shape *shape,
                          const size_t *user_ptr, const int32_t *items, cns_model **out,
                          cns_error *err) {
    *out = NULL;
    cns_status st = check_shape(shape, err);
    if (st != CNS_OK) return st;
    const size_t nu = (size_t)shape->num_users;
    if (user_ptr[0] != 0) return cns__fail(err, CNS_E_ARG, "graph offsets start at %zu, not 0", user_ptr[0]);
    for (size_t u = 0; u < nu; ++u) {
        if (user_ptr[u + 1] < user_ptr[u])
            return cns__fail(err, CNS_E_ARG, "graph offsets decrease at user %zu", u);
        for (size_t k = user_ptr[u]; k < user_ptr[u + 1]; ++k) {
            if (items[k] < 0 || items[k] >= shape->num_items)
                return cns__fail(err, CNS_E_ARG, "user %zu: item %d outside [0, %d)", u,
                                 (int)items[k], (int)shape->num_items);
            if (k > user_ptr[u] && items[k] <= items[k - 1])
                return cns__fail(err, CNS_E_ARG, "user %zu: items not strictly increasing", u);
        }
    }
    const size_t nnz = user_ptr[nu];
    cns_model *m;
    st = model_alloc(al, shape, nnz, &m, err);
    if (st != CNS_OK) return st;
    memcpy(m->user_ptr, user_ptr, (nu + 1) * sizeof *user_ptr);
    if (nnz) memcpy(m->items, items, nnz * sizeof *items);
    st = model_finish(m, err);
    if (st != CNS_OK) {
        model_destroy(m);
        return st;
    }
    *out = m;
    return CNS_OK;
}

void cns__model_init_xavier(cns_model *m) {
    /* U(-a, a), a = sqrt(6 / (rows + d)), one seeded stream per table:
     * sequential, so the values never depend on the thread count. */
    const size_t d = m->d;
    const int32_t counts[2] = {m->shape.num_users, m->shape.num_items};
    float *tables[2] = {m->ego, m->ego + (size_t)m->shape.num_users * d};
    for (int t = 0; t < 2; ++t) {
        const double a = sqrt(6.0 / ((double)counts[t] + (double)d));
        cns__rng r;
        cns__rng_seed(&r, m->shape.seed, cns__rng_key(CNS__STREAM_XAVIER, (uint64_t)t, 0));
        const size_t n = (size_t)counts[t] * d;
        for (size_t k = 0; k < n; ++k)
            tables[t][k] = (float)((2.0 * cns__rng_uniform(&r) - 1.0) * a);
    }
}

void cns__model_refresh(cns_model *m) {
    (void)cns__lightgcn_propagate(&m->adj, m->shape.layers, m->d, m->ego, NULL, m->emb, m->s1,
                                  m->s2, m->threads);
}

CNS_API cns_status cns_model_create(const cns_dataset *train, const cns_model_desc *desc,
                                    const cns_allocator *alloc, cns_model **out,
                                    cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "cns_model_create: out is NULL");
    *out = NULL;
    if (train == NULL) return cns__fail(err, CNS_E_ARG, "cns_model_create: train is NULL");
    if (desc == NULL) return cns__fail(err, CNS_E_ARG, "cns_model_create: desc is NULL");
    if (desc->struct_size < CNS__MODEL_DESC_V1_SIZE)
        return cns__fail(err, CNS_E_SIZE,
                         "desc->struct_size = %zu is smaller than the %zu bytes of the first "
                         "cns_model_desc (call cns_model_desc_init)",
                         desc->struct_size, (size_t)CNS__MODEL_DESC_V1_SIZE);
    /* Read only what the caller's struct has; fields it lacks keep defaults. */
    cns_model_desc dd;
    cns_model_desc_init(&dd);
    memcpy(&dd, desc, desc->struct_size < sizeof dd ? desc->struct_size : sizeof dd);
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "cns_model_create: allocator has a NULL function");

    cns__model_shape shape = {cns_dataset_num_users(train), cns_dataset_num_items(train), dd.dim,
                              dd.layers, dd.seed};
    cns_status st = check_shape(&shape, err);
    if (st != CNS_OK) return st;
    cns_model *m;
    st = model_alloc(&al, &shape, cns_dataset_num_interactions(train), &m, err);
    if (st != CNS_OK) return st;
    /* Copy the graph row by row through the public accessor. */
    size_t at = 0;
    for (int32_t u = 0; u < shape.num_users; ++u) {
        const int32_t *row;
        size_t cnt;
        if (cns_dataset_user_items(train, u, &row, &cnt) != CNS_OK ||
            at + cnt > cns_dataset_num_interactions(train)) {
            model_destroy(m);
            return cns__fail(err, CNS_E_ARG, "cns_model_create: train: cannot read the items of user %d", (int)u);
        }
        m->user_ptr[u] = at;
        if (cnt) memcpy(m->items + at, row, cnt * sizeof *row);
        at += cnt;
    }
    m->user_ptr[shape.num_users] = at;
    st = model_finish(m, err);
    if (st != CNS_OK) {
        model_destroy(m);
        return st;
    }
    cns__model_init_xavier(m);
    cns__model_refresh(m);
    *out = m;
    cns__ok(err);
    return CNS_OK;
}

/* ---- parameters ---------------------------------------------------------- */

static const cns__param k_params[] = {
    /* Up to 1e30 on purpose: a runaway schedule must fail in training with
     * CNS_E_NUMERIC (tested), not be mistaken for a setter misuse. */
    {CNS_MODEL_LR, 0, 0.0, 1e30, 1, 0, "CNS_MODEL_LR"},
    {CNS_MODEL_REG, 0, 0.0, 1e3, 0, 0, "CNS_MODEL_REG"},
    {CNS_MODEL_ADAM_BETA1, 0, 0.0, 1.0, 0, 1, "CNS_MODEL_ADAM_BETA1"},
    {CNS_MODEL_ADAM_BETA2, 0, 0.0, 1.0, 0, 1, "CNS_MODEL_ADAM_BETA2"},
    {CNS_MODEL_ADAM_EPS, 0, 0.0, 1.0, 1, 0, "CNS_MODEL_ADAM_EPS"},
    {CNS_MODEL_THREADS, 1, 1.0, (double)CNS__MODEL_MAX_THREADS, 0, 0, "CNS_MODEL_THREADS"},
    {CNS_MODEL_REFRESH_EVERY, 1, 0.0, 1e9, 0, 0, "CNS_MODEL_REFRESH_EVERY"},
    {CNS_MODEL_SPARSE_ADAM, 1, 0.0, 1.0, 0, 0, "CNS_MODEL_SPARSE_ADAM"},
};
#define N_PARAMS (sizeof k_params / sizeof k_params[0])

static double *double_slot(cns_model *m, int id) {
    switch (id) {
    case CNS_MODEL_LR: return &m->adam.lr;
    case CNS_MODEL_REG: return &m->reg;
    case CNS_MODEL_ADAM_BETA1: return &m->adam.beta1;
    case CNS_MODEL_ADAM_BETA2: return &m->adam.beta2;
    case CNS_MODEL_ADAM_EPS: return &m->adam.eps;
    default: return NULL;
    }
}

CNS_API cns_status cns_model_set_double(cns_model *m, int param, double v) {
    if (m == NULL) return CNS_E_ARG;
    cns_status st = cns__param_check_double(k_params, N_PARAMS, "model", param, v, m->last_error);
    if (st == CNS_OK) *double_slot(m, param) = v;
    return st;
}

CNS_API cns_status cns_model_get_double(const cns_model *m, int param, double *v) {
    if (m == NULL || v == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL || p->is_int) return CNS_E_PARAM; /* read-only call: no message */
    *v = *double_slot((cns_model *)m, param);
    return CNS_OK;
}

CNS_API cns_status cns_model_set_int(cns_model *m, int param, int64_t v) {
    if (m == NULL) return CNS_E_ARG;
    cns_status st = cns__param_check_int(k_params, N_PARAMS, "model", param, v, m->last_error);
    if (st != CNS_OK) return st;
    if (param == CNS_MODEL_THREADS) {
        m->threads = (int)v;
        return CNS_OK;
    }
    if (param == CNS_MODEL_SPARSE_ADAM) {
        /* A row-sparse step lists its rows: at most every row once. */
        if (v == 1 && m->step_rows == NULL) {
            m->step_rows = cns__calloc(&m->al, m->rows, sizeof *m->step_rows);
            if (m->step_rows == NULL)
                return cns__msg(m->last_error, CNS_E_NOMEM,
                                "CNS_MODEL_SPARSE_ADAM = 1: out of memory for %zu row ids", m->rows);
        }
        m->sparse_adam = (int)v;
        return CNS_OK;
    }
    /* CNS_MODEL_REFRESH_EVERY: the stale path needs E0 of the last refresh. */
    if (v >= 2 && m->ego_snap == NULL) {
        m->ego_snap = cns__calloc(&m->al, m->rows * m->d, sizeof *m->ego_snap);
        if (m->ego_snap == NULL)
            return cns__msg(m->last_error, CNS_E_NOMEM,
                            "CNS_MODEL_REFRESH_EVERY = %lld: out of memory for %zu x %zu floats",
                            (long long)v, m->rows, m->d);
    }
    m->refresh_every = v;
    return CNS_OK;
}

CNS_API cns_status cns_model_get_int(const cns_model *m, int param, int64_t *v) {
    if (m == NULL || v == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL || !p->is_int) return CNS_E_PARAM;
    *v = param == CNS_MODEL_THREADS         ? m->threads
         : param == CNS_MODEL_SPARSE_ADAM ? m->sparse_adam
                                          : m->refresh_every;
    return CNS_OK;
}

cns_status cns__model_apply_values(cns_model *m, const int *ids, const double *vals, size_t n,
                                   int check_only, char *msg) {
    for (size_t k = 0; k < n; ++k) {
        if (double_slot(m, ids[k]) == NULL)
            return cns__msg(msg, CNS_E_PARAM, "model parameter %d is not a preset value", ids[k]);
        cns_status st = cns__param_check_value(k_params, N_PARAMS, "model", ids[k], vals[k], msg);
        if (st != CNS_OK) return st;
    }
    if (!check_only)
        for (size_t k = 0; k < n; ++k) *double_slot(m, ids[k]) = vals[k];
    return CNS_OK;
}

CNS_API cns_status cns_model_param_bounds(int param, double *min, double *max) {
    if (min == NULL || max == NULL) return CNS_E_ARG;
    return cns__param_bounds(k_params, N_PARAMS, param, min, max);
}

/* ---- shape and access ---------------------------------------------------- */

CNS_API int32_t cns_model_num_users(const cns_model *m) { return m ? m->shape.num_users : 0; }
CNS_API int32_t cns_model_num_items(const cns_model *m) { return m ? m->shape.num_items : 0; }
CNS_API int32_t cns_model_dim(const cns_model *m) { return m ? m->shape.dim : 0; }
CNS_API int32_t cns_model_layers(const cns_model *m) { return m ? m->shape.layers : 0; }
CNS_API uint64_t cns_model_steps_taken(const cns_model *m) { return m ? m->adam.t : 0; }
CNS_API const char *cns_model_last_error(const cns_model *m) { return m ? m->last_error : ""; }

static int table_ok(cns_table t) { return t == CNS_TABLE_USERS || t == CNS_TABLE_ITEMS; }
static int32_t table_rows(const cns_model *m, cns_table t) {
    return t == CNS_TABLE_USERS ? m->shape.num_users : m->shape.num_items;
}
/* First row of table t in the stacked (users; items) layout. */
static size_t table_base(const cns_model *m, cns_table t) {
    return t == CNS_TABLE_USERS ? 0 : (size_t)m->shape.num_users;
}

CNS_API const float *cns_model_embeddings(const cns_model *m, cns_table table) {
    if (m == NULL || !table_ok(table)) return NULL;
    return m->emb + table_base(m, table) * m->d;
}

CNS_API cns_status cns_model_gather(const cns_model *m, cns_table table, const int32_t *ids,
                                    size_t n, float *out) {
    if (m == NULL || !table_ok(table) || (n > 0 && (ids == NULL || out == NULL)))
        return CNS_E_ARG;
    const int32_t rows = table_rows(m, table);
    for (size_t b = 0; b < n; ++b)
        if (ids[b] < 0 || ids[b] >= rows) return CNS_E_ARG; /* before any copy */
    const float *base = cns_model_embeddings(m, table);
    for (size_t b = 0; b < n; ++b)
        memcpy(out + b * m->d, base + (size_t)ids[b] * m->d, m->d * sizeof *out);
    return CNS_OK;
}

CNS_API cns_status cns_model_set_ego_row(cns_model *m, cns_table table, int32_t row,
                                         const float *values) {
    if (m == NULL) return CNS_E_ARG;
    if (!table_ok(table)) return cns__msg(m->last_error, CNS_E_ARG, "cns_model_set_ego_row: unknown table %d", (int)table);
    if (values == NULL) return cns__msg(m->last_error, CNS_E_ARG, "cns_model_set_ego_row: values is NULL");
    if (row < 0 || row >= table_rows(m, table))
        return cns__msg(m->last_error, CNS_E_ARG, "cns_model_set_ego_row: %s row %d is outside [0, %d)",
                        table_name(table), (int)row, (int)table_rows(m, table));
    memcpy(m->ego + (table_base(m, table) + (size_t)row) * m->d, values, m->d * sizeof *values);
    m->ego_unchecked = 1;
    cns__adam_forget_bounds(&m->adam);
    return CNS_OK;
}

CNS_API cns_status cns_model_get_ego_row(const cns_model *m, cns_table table, int32_t row,
                                         float *values) {
    if (m == NULL || !table_ok(table) || values == NULL) return CNS_E_ARG;
    if (row < 0 || row >= table_rows(m, table)) return CNS_E_ARG;
    memcpy(values, m->ego + (table_base(m, table) + (size_t)row) * m->d, m->d * sizeof *values);
    return CNS_OK;
}

/* ---- forward, gradients, step -------------------------------------------- */

/* Index of the first non-finite value of x[0..n), or n. The first pass
 * ORs exponent tests in blocks of 16 (a fixed trip count, so GCC
 * vectorizes it at -O2); only a failure pays for the search. */
static size_t first_nonfinite(const float *x, size_t n) {
    uint32_t any = 0;
    size_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (size_t l = k; l < k + 16; ++l) {
            uint32_t b;
            memcpy(&b, x + l, sizeof b);
            any |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
        }
    for (; k < n; ++k) any |= (uint32_t)!isfinite(x[k]);
    if (!any) return n;
    for (k = 0; k < n; ++k)
        if (!isfinite(x[k])) return k;
    return n;
}

/* dst += src over d floats, in blocks of 16 so it vectorizes at -O2. */
static void add_row(float *restrict dst, const float *restrict src, size_t d) {
    size_t j = 0;
    for (; j + 16 <= d; j += 16)
        for (size_t l = j; l < j + 16; ++l) dst[l] += src[l];
    for (; j < d; ++j) dst[j] += src[j];
}

/* Names the row holding flat index k of a stacked (users; items) buffer. */
static void locate(const cns_model *m, size_t k, cns_table *t, int32_t *row) {
    size_t r = k / m->d;
    if (r < (size_t)m->shape.num_users) {
        *t = CNS_TABLE_USERS;
        *row = (int32_t)r;
    } else {
        *t = CNS_TABLE_ITEMS;
        *row = (int32_t)(r - (size_t)m->shape.num_users);
    }
}

static cns_status check_ids(cns_model *m, const char *name, const int32_t *ids, size_t n,
                            int32_t rows) {
    for (size_t b = 0; b < n; ++b)
        if (ids[b] < 0 || ids[b] >= rows)
            return cns__msg(m->last_error, CNS_E_ARG, "%s[%zu] = %d is outside [0, %d)", name, b,
                            (int)ids[b], (int)rows);
    return CNS_OK;
}

/* The ids of a batch: users and pos (n each), and neg unless NULL. */
static cns_status check_batch(cns_model *m, const int32_t *users, const int32_t *pos,
                              const int32_t *neg, size_t n) {
    cns_status st = check_ids(m, "users", users, n, m->shape.num_users);
    if (st == CNS_OK) st = check_ids(m, "pos", pos, n, m->shape.num_items);
    if (st == CNS_OK && neg != NULL) st = check_ids(m, "neg", neg, n, m->shape.num_items);
    return st;
}

/* The forward of cns_model_forward, over every row (rows NULL) or with
 * the last layer restricted to rows->dst. */
static cns_status forward(cns_model *m, const cns__prop_rows *rows) {
    const size_t n = m->rows * m->d;
    cns_table t;
    int32_t row;
    /* A non-finite ego value is caught before E is touched. Only
     * cns_model_set_ego_row (or a loader) can plant one — Xavier and Adam
     * never write one — so the scan runs only after such a write. */
    if (m->ego_unchecked) {
        size_t bad = first_nonfinite(m->ego, n);
        if (bad < n) {
            locate(m, bad, &t, &row);
            return cns__msg(m->last_error, CNS_E_NUMERIC,
                            "ego embedding of %s row %d is not finite; embeddings not recomputed",
                            table_name(t), (int)row);
        }
        m->ego_unchecked = 0;
    }
    /* Finite ego values can still overflow in the sums over neighbours. */
    m->propagations++;
    if (cns__lightgcn_propagate(&m->adj, m->shape.layers, m->d, m->ego, rows, m->emb, m->s1,
                                m->s2, m->threads)) {
        locate(m, first_nonfinite(m->emb, n), &t, &row);
        return cns__msg(m->last_error, CNS_E_NUMERIC,
                        "final embedding of %s row %d overflowed; embeddings are invalid until "
                        "a forward succeeds",
                        table_name(t), (int)row);
    }
    return CNS_OK;
}

CNS_API cns_status cns_model_forward(cns_model *m) {
    if (m == NULL) return CNS_E_ARG;
    return forward(m, NULL);
}

/* Moves the flagged rows, in increasing order, into m->row_list and clears
 * the flags; returns how many. */
static size_t take_flagged_rows(cns_model *m) {
    size_t k = 0;
    for (size_t r = 0; r < m->rows; ++r)
        if (m->row_mark[r]) {
            m->row_list[k++] = (int32_t)r;
            m->row_mark[r] = 0;
        }
    return k;
}

cns_status cns__model_forward_batch(cns_model *m, const int32_t *users, const int32_t *pos,
                                    const int32_t *neg, size_t n) {
    const size_t nu = (size_t)m->shape.num_users;
    cns_status st = check_batch(m, users, pos, neg, n);
    if (st != CNS_OK) return st;
    for (size_t b = 0; b < n; ++b) {
        m->row_mark[users[b]] = 1;
        m->row_mark[nu + (size_t)pos[b]] = 1;
        m->row_mark[nu + (size_t)neg[b]] = 1;
    }
    const size_t listed = take_flagged_rows(m);
    /* Every entry of every layer is at most max|E0| sum_k R^k, R the
     * largest row sum of Â (the float sums add a relative error far below
     * the margin to FLT_MAX = 3.4e38). Unknown or too large: full pass. */
    double growth = 1.0, power = 1.0;
    for (int k = 1; k <= m->shape.layers; ++k) {
        power *= m->adj.max_row_sum;
        growth += power;
    }
    if (!m->adam.bounded || !((double)m->adam.max_param * growth < 1e37)) return forward(m, NULL);
    cns__prop_rows rows = {NULL, NULL, NULL, NULL, m->row_list, listed};
    return forward(m, &rows);
}

CNS_API cns_status cns_model_zero_grad(cns_model *m) {
    if (m == NULL) return CNS_E_ARG;
    /* Only rows a batch touched can be nonzero: clear those. */
    const size_t d = m->d;
    for (size_t r = 0; r < m->rows; ++r)
        if (m->grad_live[r]) {
            memset(m->grad + r * d, 0, d * sizeof *m->grad);
            m->grad_live[r] = 0;
        }
    return CNS_OK;
}

/* Rows fetched ahead by accumulate_grad: a batch's rows are scattered over
 * the whole table, one cache miss each unless fetched (docs/BENCHMARKS.md). */
#define ACC_AHEAD 8
CNS_API cns_status cns_model_accumulate_grad(cns_model *m, cns_table table, const int32_t *ids,
                                             size_t n, const float *grad) {
    if (m == NULL) return CNS_E_ARG;
    if (!table_ok(table)) return cns__msg(m->last_error, CNS_E_ARG, "cns_model_accumulate_grad: unknown table %d", (int)table);
    if (n > 0 && (ids == NULL || grad == NULL))
        return cns__msg(m->last_error, CNS_E_ARG, "cns_model_accumulate_grad: %s is NULL", ids == NULL ? "ids" : "grad");
    const int32_t rows = table_rows(m, table);
    for (size_t b = 0; b < n; ++b)
        if (ids[b] < 0 || ids[b] >= rows)
            return cns__msg(m->last_error, CNS_E_ARG, "cns_model_accumulate_grad: ids[%zu] = %d is outside [0, %d) (%s table)",
                            b, (int)ids[b], (int)rows, table_name(table));
    const size_t d = m->d;
    float *base = m->grad + table_base(m, table) * d;
    unsigned char *live = m->grad_live + table_base(m, table);
    for (size_t b = 0; b < n; ++b) {
        if (b + ACC_AHEAD < n) /* the rows are scattered: fetch ahead */
            for (size_t off = 0; off < d; off += 16)
                __builtin_prefetch(base + (size_t)ids[b + ACC_AHEAD] * d + off, 1);
        live[ids[b]] = 1;
        add_row(base + (size_t)ids[b] * d, grad + b * d, d);
    }
    return CNS_OK;
}

/* Adds coef * e0 to the gradient of one ego row and returns |e0|^2. The
 * squares are summed in 16 float lanes (a fixed trip count, so it
 * vectorizes at -O2; a double chain cost ~1 ms per Food batch), then the
 * lanes in double in a fixed order. Returns nonzero in *bad when the
 * updated gradient row holds an infinity or a NaN. */
static double l2_row(float *restrict g, const float *restrict e, size_t d, float coef,
                     uint32_t *bad) {
    float lane[16] = {0};
    uint32_t nf = 0;
    size_t j = 0;
    for (; j + 16 <= d; j += 16)
        for (size_t l = 0; l < 16; ++l) {
            const float x = e[j + l], r = g[j + l] + coef * x;
            uint32_t b;
            memcpy(&b, &r, sizeof b);
            nf |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
            g[j + l] = r;
            lane[l] += x * x;
        }
    double sq = 0.0;
    for (; j < d; ++j) {
        g[j] += coef * e[j];
        nf |= (uint32_t)!isfinite(g[j]);
        sq += (double)e[j] * (double)e[j];
    }
    for (size_t l = 0; l < 16; ++l) sq += (double)lane[l];
    *bad |= nf;
    return sq;
}

/* Batch triples fetched ahead by the L2 term (4 before: no better). */
#define L2_AHEAD 8

/* L2 on the batch's ego rows into grad_ego (cns_model_backward); returns
 * the sum of squares and flags a non-finite gradient row in *nf. */
static double add_l2(cns_model *m, const int32_t *users, const int32_t *pos, const int32_t *neg,
                     size_t n, uint32_t *nf_out) {
    const size_t d = m->d, nu = (size_t)m->shape.num_users;
    /* L2 on the batch's ego rows: reg (|e_u|^2 + |e_i+|^2 + |e_j|^2) / (2n),
     * gradient reg e0 / n per occurrence. Only these rows change, so only
     * they need another finiteness check. */
    double sq = 0.0;
    uint32_t nf = 0;
    if (n > 0) {
        const float coef = (float)(m->reg / (double)n);
        for (size_t b = 0; b < n; ++b) {
            if (b + L2_AHEAD < n) { /* batch rows are scattered: fetch a few triples ahead */
                const size_t a = b + L2_AHEAD;
                const size_t f[3] = {(size_t)users[a], nu + (size_t)pos[a],
                                     nu + (size_t)(neg ? neg[a] : pos[a])};
                for (int q = 0; q < 3; ++q)
                    for (size_t off = 0; off < d; off += 16) {
                        __builtin_prefetch(m->ego + f[q] * d + off);
                        __builtin_prefetch(m->grad_ego + f[q] * d + off, 1);
                    }
            }
            size_t r[3] = {(size_t)users[b], nu + (size_t)pos[b], neg ? nu + (size_t)neg[b] : 0};
            for (int q = 0; q < (neg ? 3 : 2); ++q)
                sq += l2_row(m->grad_ego + r[q] * d, m->ego + r[q] * d, d, coef, &nf);
        }
    }
    *nf_out = nf;
    return sq;
}

CNS_API cns_status cns_model_backward(cns_model *m, const int32_t *users, const int32_t *pos,
                                      const int32_t *neg, size_t n, double *reg_loss) {
    if (m == NULL) return CNS_E_ARG;
    if (n > 0 && (users == NULL || pos == NULL))
        return cns__msg(m->last_error, CNS_E_ARG, "cns_model_backward: %s is NULL",
                        users == NULL ? "users" : "pos");
    cns_status st = check_batch(m, users, pos, neg, n);
    if (st != CNS_OK) return st;

    m->grad_ready = 0;
    m->grad_rows = 0;
    const size_t d = m->d;
    /* dL/dE0 = 1/(L+1) sum_k Â^k dL/dE (§2; Â is symmetric). */
    cns__prop_rows live = {m->grad_live, m->live_row_ptr, m->live_col, m->live_val, NULL, 0};
    m->propagations++;
    int bad = cns__lightgcn_propagate(&m->adj, m->shape.layers, d, m->grad, &live, m->grad_ego,
                                      m->s1, m->s2, m->threads);
    uint32_t nf = 0;
    const double sq = add_l2(m, users, pos, neg, n, &nf);
    if (bad || nf) {
        const size_t total = m->rows * d;
        cns_table t;
        int32_t row;
        locate(m, first_nonfinite(m->grad_ego, total), &t, &row);
        return cns__msg(m->last_error, CNS_E_NUMERIC,
                        "gradient of ego %s row %d is not finite (a non-finite dL/dE or ego "
                        "value); no gradient is kept",
                        table_name(t), (int)row);
    }
    if (reg_loss != NULL) *reg_loss = n > 0 ? m->reg * sq / (2.0 * (double)n) : 0.0;
    m->grad_ready = 1;
    return CNS_OK;
}

/* ---- the stale path (ALGORITHM.md §17) ------------------------------------ */

void cns__model_snapshot(cns_model *m) {
    memcpy(m->ego_snap, m->ego, m->rows * m->d * sizeof *m->ego);
}

cns_status cns__model_gather_stale(cns_model *m, cns_table table, const int32_t *ids, size_t n,
                                   float *out) {
    if (m->ego_snap == NULL)
        return cns__msg(m->last_error, CNS_E_STATE, "no propagation to reuse (CNS_MODEL_REFRESH_EVERY < 2)");
    if (!table_ok(table)) return cns__msg(m->last_error, CNS_E_ARG, "unknown table %d", (int)table);
    const int32_t rows = table_rows(m, table);
    const size_t d = m->d, base = table_base(m, table);
    /* E's ego term is E0 / (L + 1) (§2): only that part of the batch's rows
     * is brought up to date; the neighbours' terms are the last refresh's. */
    const float c = 1.0f / (float)(m->shape.layers + 1);
    uint32_t bad = 0;
    for (size_t b = 0; b < n; ++b) {
        if (ids[b] < 0 || ids[b] >= rows)
            return cns__msg(m->last_error, CNS_E_ARG, "ids[%zu] = %d is outside [0, %d) (%s table)",
                            b, (int)ids[b], (int)rows, table_name(table));
        const size_t r = (base + (size_t)ids[b]) * d;
        for (size_t k = 0; k < d; ++k) {
            float v = m->emb[r + k] + c * (m->ego[r + k] - m->ego_snap[r + k]);
            out[b * d + k] = v;
            bad |= !isfinite(v);
        }
    }
    if (bad)
        return cns__msg(m->last_error, CNS_E_NUMERIC,
                        "a reused %s embedding is not finite; a full forward is needed",
                        table_name(table));
    return CNS_OK;
}

cns_status cns__model_backward_self(cns_model *m, const int32_t *users, const int32_t *pos,
                                    const int32_t *neg, size_t n, double *reg_loss) {
    cns_status st = check_batch(m, users, pos, neg, n);
    if (st != CNS_OK) return st;
    m->grad_ready = 0;
    m->grad_rows = 0;
    const size_t d = m->d;
    const float c = 1.0f / (float)(m->shape.layers + 1);
    memset(m->grad_ego, 0, m->rows * d * sizeof *m->grad_ego);
    uint32_t bad = 0;
    for (size_t r = 0; r < m->rows; ++r)
        if (m->grad_live[r])
            for (size_t k = 0; k < d; ++k) {
                float g = c * m->grad[r * d + k];
                m->grad_ego[r * d + k] = g;
                bad |= !isfinite(g);
            }
    uint32_t nf = 0;
    const double sq = add_l2(m, users, pos, neg, n, &nf);
    if (bad || nf) {
        cns_table t;
        int32_t row;
        locate(m, first_nonfinite(m->grad_ego, m->rows * d), &t, &row);
        return cns__msg(m->last_error, CNS_E_NUMERIC,
                        "gradient of ego %s row %d is not finite (a non-finite dL/dE or ego "
                        "value); no gradient is kept",
                        table_name(t), (int)row);
    }
    if (reg_loss != NULL) *reg_loss = n > 0 ? m->reg * sq / (2.0 * (double)n) : 0.0;
    m->grad_ready = 1;
    return CNS_OK;
}

cns_status cns__model_backward_rows(cns_model *m, const int32_t *users, const int32_t *pos,
                                    const int32_t *neg, size_t n, double *reg_loss) {
    if (m->step_rows == NULL)
        return cns__msg(m->last_error, CNS_E_STATE, "no row list for a row-sparse step (CNS_MODEL_SPARSE_ADAM = 0)");
    cns_status st = check_batch(m, users, pos, neg, n);
    if (st != CNS_OK) return st;
    m->grad_ready = 0;
    m->grad_rows = 0;
    const size_t d = m->d, nu = (size_t)m->shape.num_users;
    /* The rows that may get a gradient: the accumulated ones, and the
     * batch's, which the L2 term reaches (§2). One pass over the flags
     * (bytes, not rows x d floats) lists them in ascending order. */
    for (size_t b = 0; b < n; ++b) {
        m->row_mark[users[b]] = 1;
        m->row_mark[nu + (size_t)pos[b]] = 1;
        if (neg != NULL) m->row_mark[nu + (size_t)neg[b]] = 1;
    }
    size_t listed = 0;
    for (size_t r = 0; r < m->rows; ++r)
        if (m->grad_live[r] | m->row_mark[r]) {
            m->step_rows[listed++] = (int32_t)r;
            m->row_mark[r] = 0;
        }
    /* Written, not accumulated: no reset of the rows x d buffer, whose
     * other rows may hold an earlier dense step's gradient and are not read. */
    const float c = 1.0f / (float)(m->shape.layers + 1);
    uint32_t bad = 0;
    for (size_t q = 0; q < listed; ++q) {
        const size_t o = (size_t)m->step_rows[q] * d;
        for (size_t k = 0; k < d; ++k) {
            const float g = c * m->grad[o + k];
            m->grad_ego[o + k] = g;
            bad |= !isfinite(g);
        }
    }
    uint32_t nf = 0;
    const double sq = add_l2(m, users, pos, neg, n, &nf);
    if (bad || nf) {
        size_t q = 0;
        while (q + 1 < listed &&
               first_nonfinite(m->grad_ego + (size_t)m->step_rows[q] * d, d) == d)
            ++q;
        cns_table t;
        int32_t row;
        locate(m, (size_t)m->step_rows[q] * d, &t, &row);
        return cns__msg(m->last_error, CNS_E_NUMERIC,
                        "gradient of ego %s row %d is not finite (a non-finite dL/dE or ego "
                        "value); no gradient is kept",
                        table_name(t), (int)row);
    }
    if (reg_loss != NULL) *reg_loss = n > 0 ? m->reg * sq / (2.0 * (double)n) : 0.0;
    m->n_step_rows = listed;
    m->grad_rows = 1;
    m->grad_ready = 1;
    return CNS_OK;
}

cns_status cns__model_gather_ego(cns_model *m, cns_table table, const int32_t *ids, size_t n,
                                 float *out) {
    if (m->shape.layers != 0)
        return cns__msg(m->last_error, CNS_E_ARG, "E0 is the final embedding only with 0 layers (%d)",
                        (int)m->shape.layers);
    if (!table_ok(table)) return cns__msg(m->last_error, CNS_E_ARG, "unknown table %d", (int)table);
    const int32_t rows = table_rows(m, table);
    const size_t d = m->d, base = table_base(m, table);
    for (size_t b = 0; b < n; ++b)
        if (ids[b] < 0 || ids[b] >= rows)
            return cns__msg(m->last_error, CNS_E_ARG, "ids[%zu] = %d is outside [0, %d) (%s table)",
                            b, (int)ids[b], (int)rows, table_name(table));
    uint32_t bad = 0;
    for (size_t b = 0; b < n; ++b) {
        const float *src = m->ego + (base + (size_t)ids[b]) * d;
        memcpy(out + b * d, src, d * sizeof *out);
        /* Adam never writes a non-finite weight; a host's set_ego_row can. */
        if (m->ego_unchecked) bad |= first_nonfinite(src, d) != d;
    }
    if (bad)
        return cns__msg(m->last_error, CNS_E_NUMERIC,
                        "ego embedding of a %s row of the batch is not finite", table_name(table));
    return CNS_OK;
}

CNS_API cns_status cns_model_step(cns_model *m) {
    if (m == NULL) return CNS_E_ARG;
    if (!m->grad_ready)
        return cns__msg(m->last_error, CNS_E_STATE,
                        "no gradient to apply: call cns_model_backward() before each step");
    size_t bad = 0;
    /* Lazy Adam over the listed rows (§17), where the gradient is zero
     * elsewhere; otherwise the dense step. */
    const int lazy = m->grad_rows;
    const cns_status st =
        lazy ? cns__adam_step_rows(&m->adam, m->ego, m->grad_ego, m->d, m->step_rows,
                                   m->n_step_rows, &bad)
             : cns__adam_step_mt(&m->adam, m->ego, m->grad_ego, &bad, m->threads);
    if (st != CNS_OK) {
        cns_table t;
        int32_t row;
        locate(m, bad, &t, &row);
        /* The gradient stays available: the caller may lower the lr and retry. */
        return cns__msg(m->last_error, CNS_E_NUMERIC,
                        "%sAdam step would make ego %s row %d non-finite (lr = %g); weights "
                        "unchanged",
                        lazy ? "lazy " : "", table_name(t), (int)row, m->adam.lr);
    }
    m->grad_ready = 0;
    m->grad_rows = 0;
    return CNS_OK;
}

/* ---- recommendation ------------------------------------------------------ */

/* <a, b> with eight running sums in a fixed order: vectorizes without
 * -ffast-math, and the same inputs always give the same bits. */
static float dot8(const float *restrict a, const float *restrict b, size_t d) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t j = 0;
    for (; j + 8 <= d; j += 8)
        for (size_t l = 0; l < 8; ++l) acc[l] += a[j + l] * b[j + l];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < d; ++j) s += a[j] * b[j];
    return s;
}

/* A min-heap over the caller's arrays: the root is the worst kept item.
 * Without a scores array the scores are recomputed (rarely: only when a
 * candidate beats the root). */
typedef struct topk {
    int32_t *items;
    float *scores;  /* may be NULL */
    const float *user, *item_emb;
    size_t d;
} topk;

static float score_of(const topk *h, int32_t item) {
    float s = dot8(h->user, h->item_emb + (size_t)item * h->d, h->d);
    return s != s ? -INFINITY : s; /* a NaN ranks last instead of breaking the heap */
}
static float heap_score(const topk *h, size_t pos) {
    return h->scores ? h->scores[pos] : score_of(h, h->items[pos]);
}
/* a worse than b: lower score, or the same score and a larger id. */
static int worse(float sa, int32_t ia, float sb, int32_t ib) {
    return sa < sb || (sa == sb && ia > ib);
}
static void heap_set(topk *h, size_t pos, int32_t item, float s) {
    h->items[pos] = item;
    if (h->scores) h->scores[pos] = s;
}
static void sift_down(topk *h, size_t pos, size_t size, int32_t item, float s) {
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= size) break;
        float sc = heap_score(h, c);
        if (c + 1 < size) {
            float s2 = heap_score(h, c + 1);
            if (worse(s2, h->items[c + 1], sc, h->items[c])) {
                ++c;
                sc = s2;
            }
        }
        if (!worse(sc, h->items[c], s, item)) break;
        heap_set(h, pos, h->items[c], sc);
        pos = c;
    }
    heap_set(h, pos, item, s);
}
static void sift_up(topk *h, size_t pos, int32_t item, float s) {
    while (pos > 0) {
        size_t p = (pos - 1) / 2;
        float sp = heap_score(h, p);
        if (!worse(s, item, sp, h->items[p])) break;
        heap_set(h, pos, h->items[p], sp);
        pos = p;
    }
    heap_set(h, pos, item, s);
}

CNS_API cns_status cns_model_recommend(const cns_model *m, int32_t user, size_t k,
                                       int32_t *items, float *scores, size_t *n_out) {
    if (n_out != NULL) *n_out = 0;
    if (m == NULL || n_out == NULL || (k > 0 && items == NULL)) return CNS_E_ARG;
    if (user < 0 || user >= m->shape.num_users) return CNS_E_ARG;
    const size_t d = m->d;
    topk h = {items, scores, m->emb + (size_t)user * d,
              m->emb + (size_t)m->shape.num_users * d, d};
    const int32_t *train = m->items;
    size_t p = m->user_ptr[user];
    const size_t pe = m->user_ptr[user + 1];
    size_t size = 0;
    float root_s = 0.0f;
    for (int32_t i = 0; i < m->shape.num_items && k > 0; ++i) {
        /* The training row is sorted: walk it beside i. */
        while (p < pe && train[p] < i) ++p;
        if (p < pe && train[p] == i) continue;
        const float s = score_of(&h, i);
        if (size < k) {
            sift_up(&h, size++, i, s);
        } else if (worse(root_s, items[0], s, i)) {
            sift_down(&h, 0, size, i, s);
        } else {
            continue;
        }
        root_s = heap_score(&h, 0);
    }
    /* Heap-sort: move the worst to the back until the array runs best first. */
    for (size_t end = size; end > 1; --end) {
        const int32_t it = items[end - 1];
        const float s = heap_score(&h, end - 1);
        const float s0 = root_s;
        heap_set(&h, end - 1, items[0], s0);
        sift_down(&h, 0, end - 1, it, s);
        root_s = heap_score(&h, 0);
    }
    *n_out = size;
    return CNS_OK;
}
