/* Model checkpoints (docs/CHECKPOINT.md, kind 1) and the training-data
 * view. A checkpoint holds what the model cannot recompute: shape and
 * hyperparameters ('MHDR'), the training graph ('GRPH'), the ego
 * embeddings E0 ('EGOU', 'EGOI') and the Adam moments ('ADMM', 'ADMV').
 * The final embeddings E are recomputed by one forward on load. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "checkpoint.h"
#include "dataset_internal.h"
#include "error.h"
#include "idmap_internal.h"
#include "model_internal.h"

typedef unsigned long long ull;

/* 'MHDR' field offsets (docs/CHECKPOINT.md). */
enum {
    MH_DIM = 0,
    MH_LAYERS = 4,
    MH_USERS = 8,
    MH_ITEMS = 12,
    MH_SEED = 16,
    MH_LR = 24,
    MH_REG = 32,
    MH_BETA1 = 40,
    MH_BETA2 = 48,
    MH_EPS = 56,
    MH_STEP = 64,
    MH_SIZE = 72
};



/* ---- the training-data view ---------------------------------------------- */

cns_status cns__model_train_view_build(cns_model *m) {
    cns_dataset *v = cns__calloc(&m->al, 1, sizeof *v);
    int32_t *pop = cns__calloc(&m->al, (size_t)m->shape.num_items, sizeof *pop);
    if (v == NULL || pop == NULL) {
        cns__free(&m->al, v);
        cns__free(&m->al, pop);
        return CNS_E_NOMEM;
    }
    const size_t nnz = m->user_ptr[m->shape.num_users];
    for (size_t k = 0; k < nnz; ++k) pop[m->items[k]]++;
    v->al = m->al;
    v->num_users = m->shape.num_users;
    v->num_items = m->shape.num_items;
    v->nnz = nnz;
    v->user_ptr = m->user_ptr; /* shared with the model: never freed through the view */
    v->items = m->items;
    v->pop = pop;
    m->train_view = v;
    return CNS_OK;
}

void cns__model_train_view_free(cns_model *m) {
    if (m == NULL || m->train_view == NULL) return;
    cns__free(&m->al, m->train_view->pop);
    cns__free(&m->al, m->train_view);
    m->train_view = NULL;
}

CNS_API const cns_dataset *cns_model_train_data(const cns_model *m) {
    return m ? m->train_view : NULL;
}

/* ---- raw ids ------------------------------------------------------------------ */

CNS_API cns_status cns_model_set_idmap(cns_model *m, const cns_idmap *map) {
    if (m == NULL) return CNS_E_ARG;
    cns_idmap *copy = NULL;
    if (map != NULL) {
        if (cns_idmap_count(map, CNS_TABLE_USERS) != m->shape.num_users ||
            cns_idmap_count(map, CNS_TABLE_ITEMS) != m->shape.num_items)
            return cns__msg(m->last_error, CNS_E_SIZE,
                            "cns_model_set_idmap: the map has %d users and %d items, the model %d "
                            "and %d",
                            (int)cns_idmap_count(map, CNS_TABLE_USERS),
                            (int)cns_idmap_count(map, CNS_TABLE_ITEMS), (int)m->shape.num_users,
                            (int)m->shape.num_items);
        if (cns__idmap_clone(map, &m->al, &copy) != CNS_OK)
            return cns__msg(m->last_error, CNS_E_NOMEM,
                            "cns_model_set_idmap: out of memory copying the map");
    }
    cns_idmap_free(m->idmap);
    m->idmap = copy;
    return CNS_OK;
}

CNS_API const cns_idmap *cns_model_idmap(const cns_model *m) { return m ? m->idmap : NULL; }

CNS_API cns_status cns_model_recommend_raw(const cns_model *m, const char *user, size_t user_len,
                                           size_t k, int32_t *items, const char **raw_items,
                                           float *scores, size_t *n_out) {
    if (m == NULL || n_out == NULL || (user == NULL && user_len > 0)) return CNS_E_ARG;
    if (m->idmap == NULL) return CNS_E_UNSUPPORTED;
    int32_t u;
    cns_status st = cns_idmap_find(m->idmap, CNS_TABLE_USERS, user, user_len, &u);
    if (st != CNS_OK) return st;
    st = cns_model_recommend(m, u, k, items, scores, n_out);
    if (st != CNS_OK || raw_items == NULL) return st;
    for (size_t j = 0; j < *n_out; ++j)
        if (cns_idmap_raw(m->idmap, CNS_TABLE_ITEMS, items[j], &raw_items[j], NULL) != CNS_OK)
            return CNS_E_ARG; /* unreachable: the map covers every item */
    return CNS_OK;
}

/* ---- save ------------------------------------------------------------------ */

/* The one save routine behind the file and the memory form. */
/* A cns__ckpt_save_fn. */
static cns_status model_save_to(void *handle, const cns__ckpt_sink *sink) {
    cns_model *m = handle;
    const size_t nu = (size_t)m->shape.num_users, d = m->d;
    const size_t n_u = nu * d, n_i = (size_t)m->shape.num_items * d, n_all = m->rows * d;

    /* A checkpoint never holds a non-finite value: refuse before writing. */
    const struct {
        const char *tag, *what;
        const float *x;
        size_t n;
    } arrays[4] = {{"EGOU", "user ego embedding", m->ego, n_u},
                   {"EGOI", "item ego embedding", m->ego + n_u, n_i},
                   {"ADMM", "Adam first moment", m->adam.m, n_all},
                   {"ADMV", "Adam second moment", m->adam.v, n_all}};
    for (int a = 0; a < 4; ++a) {
        size_t k = cns__first_bad_float(arrays[a].x, arrays[a].n, 0);
        if (k < arrays[a].n)
            return cns__msg(m->last_error, CNS_E_NUMERIC,
                            "cannot save: section '%s' value %zu (%s, row %zu, column %zu) is %g; "
                            "nothing written",
                            arrays[a].tag, k, arrays[a].what, k / d, k % d, (double)arrays[a].x[k]);
    }

    unsigned char hdr[MH_SIZE];
    cns__le32_put(hdr + MH_DIM, (uint32_t)m->shape.dim);
    cns__le32_put(hdr + MH_LAYERS, (uint32_t)m->shape.layers);
    cns__le32_put(hdr + MH_USERS, (uint32_t)m->shape.num_users);
    cns__le32_put(hdr + MH_ITEMS, (uint32_t)m->shape.num_items);
    cns__le64_put(hdr + MH_SEED, m->shape.seed);
    cns__lef64_put(hdr + MH_LR, m->adam.lr);
    cns__lef64_put(hdr + MH_REG, m->reg);
    cns__lef64_put(hdr + MH_BETA1, m->adam.beta1);
    cns__lef64_put(hdr + MH_BETA2, m->adam.beta2);
    cns__lef64_put(hdr + MH_EPS, m->adam.eps);
    cns__le64_put(hdr + MH_STEP, m->adam.t);

    /* 'GRPH' is one payload: u64 offsets then i32 items, copied together. */
    const size_t nnz = m->user_ptr[nu];
    const size_t ptr_bytes = (nu + 1) * sizeof(uint64_t);
    size_t item_bytes, graph_bytes;
    if (!cns__mul_ok(nnz, sizeof(int32_t), &item_bytes) || item_bytes > SIZE_MAX - ptr_bytes)
        return cns__msg(m->last_error, CNS_E_NOMEM, "a graph of %zu interactions overflows size_t", nnz);
    graph_bytes = ptr_bytes + item_bytes;
    unsigned char *graph = cns__malloc(&m->al, graph_bytes);
    if (graph == NULL)
        return cns__msg(m->last_error, CNS_E_NOMEM,
                        "cannot allocate %zu bytes for the graph section", graph_bytes);
    uint64_t *ptr = (uint64_t *)(void *)graph; /* 64-byte aligned */
    for (size_t u = 0; u <= nu; ++u) ptr[u] = (uint64_t)m->user_ptr[u];
    if (nnz) memcpy(graph + ptr_bytes, m->items, item_bytes);

    /* 'IDMP' only when the model has raw ids: a dense model's file stays
     * byte-identical to what earlier versions wrote. */
    unsigned char *idmp = NULL;
    uint64_t idmp_size = 0;
    if (m->idmap != NULL) {
        idmp_size = cns__idmap_section_size(m->idmap);
        idmp = idmp_size <= SIZE_MAX ? cns__malloc(&m->al, (size_t)idmp_size) : NULL;
        if (idmp == NULL) {
            cns__free(&m->al, graph);
            return cns__msg(m->last_error, CNS_E_NOMEM,
                            "cannot allocate %llu bytes for the id map section", (ull)idmp_size);
        }
        cns__idmap_section_write(m->idmap, idmp);
    }
    const cns__ckpt_section sections[7] = {
        {CNS__TAG_MHDR, hdr, MH_SIZE},
        {CNS__TAG_GRPH, graph, graph_bytes},
        {CNS__TAG_EGOU, m->ego, (uint64_t)n_u * sizeof(float)},
        {CNS__TAG_EGOI, m->ego + n_u, (uint64_t)n_i * sizeof(float)},
        {CNS__TAG_ADMM, m->adam.m, (uint64_t)n_all * sizeof(float)},
        {CNS__TAG_ADMV, m->adam.v, (uint64_t)n_all * sizeof(float)},
        {CNS__TAG_IDMP, idmp, idmp_size},
    };
    /* The handle's message changes only on failure (model.h). */
    char msg[CNS_ERROR_MESSAGE_SIZE];
    cns_status st = cns__ckpt_emit(sink, CNS__CKPT_KIND_MODEL, sections, idmp ? 7 : 6, &m->al, msg);
    cns__free(&m->al, graph);
    cns__free(&m->al, idmp);
    if (st != CNS_OK) cns__msg_copy(m->last_error, msg);
    return st;
}

cns_status cns__model_save_io(cns_model *m, const char *path, const cns__ckpt_io *io) {
    if (m == NULL) return CNS_E_ARG;
    return cns__ckpt_save_path("cns_model_save", m, m->last_error, model_save_to, path, io);
}

CNS_API cns_status cns_model_save(cns_model *m, const char *path) {
    return cns__model_save_io(m, path, NULL);
}

CNS_API cns_status cns_model_save_mem(cns_model *m, void *buf, size_t cap, size_t *size) {
    if (m == NULL) return CNS_E_ARG;
    return cns__ckpt_save_buffer("cns_model_save_mem", m, m->last_error, model_save_to, buf, cap,
                                 size);
}

/* ---- load ------------------------------------------------------------------ */

/* Hyperparameter ranges of include/cnsdiff/model.h, checked before
 * anything is allocated (the setters check them again afterwards). */
static int hyper_ok(double v, double lo, int lo_open, double hi, int hi_open) {
    if (!(lo_open ? v > lo : v >= lo)) return 0; /* also NaN */
    return hi_open ? v < hi : v <= hi;
}

/* Validates the file's values in place and builds the model (out is a
 * cns_model **; a cns__ckpt_build_fn). Every check runs before the first
 * allocation; err gets the detail (no path). */
static cns_status model_from_file(const cns__ckpt_file *f, const cns_allocator *alloc,
                                  const cns__alloc *al, void *out, cns_error *err) {
    (void)alloc; /* the model keeps al, the checked copy */
    const void *p;
    uint64_t size;
    cns_status st = cns__ckpt_find(f, CNS__TAG_MHDR, MH_SIZE, &p, NULL, err);
    if (st != CNS_OK) return st;
    const unsigned char *h = p;
    const uint32_t dim = cns__le32_get(h + MH_DIM), layers = cns__le32_get(h + MH_LAYERS);
    const uint32_t nu32 = cns__le32_get(h + MH_USERS), ni32 = cns__le32_get(h + MH_ITEMS);
    if (dim < 1 || dim > CNS__MODEL_MAX_DIM)
        return cns__fail(err, CNS_E_CORRUPT, "section 'MHDR': dim = %u is outside [1, %d]",
                         (unsigned)dim, CNS__MODEL_MAX_DIM);
    if (layers > CNS__MODEL_MAX_LAYERS)
        return cns__fail(err, CNS_E_CORRUPT, "section 'MHDR': layers = %u is outside [0, %d]",
                         (unsigned)layers, CNS__MODEL_MAX_LAYERS);
    if (nu32 < 1 || ni32 < 1 || (uint64_t)nu32 + ni32 > (uint64_t)INT32_MAX)
        return cns__fail(err, CNS_E_CORRUPT,
                         "section 'MHDR': %u users and %u items (each >= 1, together <= %d)",
                         (unsigned)nu32, (unsigned)ni32, (int)INT32_MAX);
    const struct {
        const char *name;
        size_t off;
        double lo;
        int lo_open;
        double hi;
        int hi_open;
    } hyper[5] = {{"lr", MH_LR, 0.0, 1, 1e30, 0},      {"reg", MH_REG, 0.0, 0, 1e3, 0},
                  {"beta1", MH_BETA1, 0.0, 0, 1.0, 1}, {"beta2", MH_BETA2, 0.0, 0, 1.0, 1},
                  {"eps", MH_EPS, 0.0, 1, 1.0, 0}};
    for (int k = 0; k < 5; ++k) {
        double v = cns__lef64_get(h + hyper[k].off);
        if (!hyper_ok(v, hyper[k].lo, hyper[k].lo_open, hyper[k].hi, hyper[k].hi_open))
            return cns__fail(err, CNS_E_CORRUPT, "section 'MHDR': %s = %g is out of range",
                             hyper[k].name, v);
    }

    /* Every size from the header, in u64: at most 2^31 rows x 2^12 x 4 bytes,
     * so nothing here can overflow; cns__ckpt_find compares them with the
     * real section sizes, which the container has bounded by the file. */
    const uint64_t nu = nu32, ni = ni32, d = dim;
    const uint64_t ptr_bytes = 8u * (nu + 1);
    const void *graph, *egou, *egoi, *admm, *admv;
    st = cns__ckpt_find(f, CNS__TAG_GRPH, UINT64_MAX, &graph, &size, err);
    if (st != CNS_OK) return st;
    if (size < ptr_bytes || (size - ptr_bytes) % 4u != 0)
        return cns__fail(err, CNS_E_CORRUPT,
                         "section 'GRPH' is %llu bytes: not 8 x (%llu users + 1) offsets plus 4 "
                         "bytes per interaction",
                         (ull)size, (ull)nu);
    const uint64_t nnz = (size - ptr_bytes) / 4u;
    if ((st = cns__ckpt_find(f, CNS__TAG_EGOU, 4u * nu * d, &egou, NULL, err)) != CNS_OK ||
        (st = cns__ckpt_find(f, CNS__TAG_EGOI, 4u * ni * d, &egoi, NULL, err)) != CNS_OK ||
        (st = cns__ckpt_find(f, CNS__TAG_ADMM, 4u * (nu + ni) * d, &admm, NULL, err)) != CNS_OK ||
        (st = cns__ckpt_find(f, CNS__TAG_ADMV, 4u * (nu + ni) * d, &admv, NULL, err)) != CNS_OK)
        return st;

    /* The graph: offsets from 0, non-decreasing, ending at nnz; items in
     * range and strictly increasing per user. The offsets are checked
     * before any item is read through them. */
    const uint64_t *uptr = graph;
    const int32_t *items = (const int32_t *)(const void *)((const unsigned char *)graph + ptr_bytes);
    if (uptr[0] != 0)
        return cns__fail(err, CNS_E_CORRUPT, "section 'GRPH': user_ptr[0] = %llu, not 0",
                         (ull)uptr[0]);
    for (uint64_t u = 0; u < nu; ++u)
        if (uptr[u + 1] < uptr[u] || uptr[u + 1] > nnz)
            return cns__fail(err, CNS_E_CORRUPT,
                             "section 'GRPH': user_ptr[%llu] = %llu after %llu (offsets must not "
                             "decrease or pass the %llu interactions)",
                             (ull)(u + 1), (ull)uptr[u + 1], (ull)uptr[u], (ull)nnz);
    if (uptr[nu] != nnz)
        return cns__fail(err, CNS_E_CORRUPT,
                         "section 'GRPH': user_ptr[%llu] = %llu, but the section holds %llu "
                         "interactions",
                         (ull)nu, (ull)uptr[nu], (ull)nnz);
    for (uint64_t u = 0; u < nu; ++u)
        for (uint64_t k = uptr[u]; k < uptr[u + 1]; ++k) {
            if (items[k] < 0 || (uint64_t)items[k] >= ni)
                return cns__fail(err, CNS_E_CORRUPT,
                                 "section 'GRPH': user %llu: item %d is outside [0, %llu)", (ull)u,
                                 (int)items[k], (ull)ni);
            if (k > uptr[u] && items[k] <= items[k - 1])
                return cns__fail(err, CNS_E_CORRUPT,
                                 "section 'GRPH': user %llu: items %d, %d are not strictly "
                                 "increasing",
                                 (ull)u, (int)items[k - 1], (int)items[k]);
        }

    /* Every float finite; second moments also non-negative. */
    const struct {
        const char *tag;
        const float *x;
        size_t n;
        int nonneg;
    } arrays[4] = {{"EGOU", egou, (size_t)(nu * d), 0},
                   {"EGOI", egoi, (size_t)(ni * d), 0},
                   {"ADMM", admm, (size_t)((nu + ni) * d), 0},
                   {"ADMV", admv, (size_t)((nu + ni) * d), 1}};
    for (int a = 0; a < 4; ++a) {
        size_t k = cns__first_bad_float(arrays[a].x, arrays[a].n, arrays[a].nonneg);
        if (k < arrays[a].n)
            return cns__fail(err, CNS_E_CORRUPT, "section '%s': value %zu (row %zu) is %g",
                             arrays[a].tag, k, k / (size_t)d, (double)arrays[a].x[k]);
    }

    /* The optional raw ids: checked in place like everything above. */
    const void *idmp = NULL;
    uint64_t idmp_size = 0;
    if (cns__ckpt_has(f, CNS__TAG_IDMP)) {
        if ((st = cns__ckpt_find(f, CNS__TAG_IDMP, UINT64_MAX, &idmp, &idmp_size, err)) != CNS_OK)
            return st;
        if ((st = cns__idmap_section_check(idmp, idmp_size, (int32_t)nu32, (int32_t)ni32, err)) !=
            CNS_OK)
            return st;
    }

    /* Build through the create path's constructor (it checks the graph
     * once more), then copy the state in. */
    const cns__model_shape shape = {(int32_t)nu32, (int32_t)ni32, (int32_t)dim, (int32_t)layers,
                                    cns__le64_get(h + MH_SEED)};
    const size_t *user_ptr;
#if SIZE_MAX == UINT64_MAX
    user_ptr = (const size_t *)uptr;
    size_t *conv = NULL;
#else
    /* The offsets fit size_t: they are at most nnz < file size. */
    size_t *conv = cns__calloc(al, (size_t)nu + 1, sizeof *conv);
    if (conv == NULL) return cns__fail(err, CNS_E_NOMEM, "out of memory for the graph offsets");
    for (uint64_t u = 0; u <= nu; ++u) conv[u] = (size_t)uptr[u];
    user_ptr = conv;
#endif
    cns_model *m;
    st = cns__model_new(al, &shape, user_ptr, items, &m, err);
    cns__free(al, conv);
    if (st != CNS_OK) {
        /* A graph or shape refusal (already ruled out above) is still damage. */
        if (st != CNS_E_NOMEM) {
            st = CNS_E_CORRUPT;
            if (err != NULL) err->status = st;
        }
        return st;
    }
    memcpy(m->ego, egou, (size_t)(nu * d) * sizeof(float));
    memcpy(m->ego + nu * d, egoi, (size_t)(ni * d) * sizeof(float));
    memcpy(m->adam.m, admm, m->rows * m->d * sizeof(float));
    memcpy(m->adam.v, admv, m->rows * m->d * sizeof(float));
    m->adam.t = cns__le64_get(h + MH_STEP);
    static const int ids[5] = {CNS_MODEL_LR, CNS_MODEL_REG, CNS_MODEL_ADAM_BETA1,
                               CNS_MODEL_ADAM_BETA2, CNS_MODEL_ADAM_EPS};
    for (int k = 0; k < 5; ++k)
        if (cns_model_set_double(m, ids[k], cns__lef64_get(h + hyper[k].off)) != CNS_OK) {
            cns__fail(err, CNS_E_CORRUPT, "section 'MHDR': %s", m->last_error);
            cns_model_free(m);
            return CNS_E_CORRUPT;
        }
    /* The values were checked above; forward still refuses an overflow in
     * the sums over neighbours, which no saved model could have produced. */
    m->ego_unchecked = 0;
    if (cns_model_forward(m) != CNS_OK) {
        cns__fail(err, CNS_E_CORRUPT, "the saved embeddings do not propagate: %s", m->last_error);
        cns_model_free(m);
        return CNS_E_CORRUPT;
    }
    if (idmp != NULL && (st = cns__idmap_section_read(idmp, al, &m->idmap, err)) != CNS_OK) {
        cns_model_free(m);
        return st;
    }
    m->last_error[0] = '\0';
    *(cns_model **)out = m;
    return CNS_OK;
}

CNS_API cns_status cns_model_load_mem(const void *buf, size_t size, const cns_allocator *alloc,
                                      cns_model **out, cns_error *err) {
    if (out != NULL) *out = NULL;
    const cns__ckpt_source src = {0, NULL, buf, size};
    return cns__ckpt_load("cns_model_load_mem", &src, CNS__CKPT_KIND_MODEL, alloc,
                          model_from_file, out, err);
}

CNS_API cns_status cns_model_load(const char *path, const cns_allocator *alloc, cns_model **out,
                                  cns_error *err) {
    if (out != NULL) *out = NULL;
    const cns__ckpt_source src = {1, path, NULL, 0};
    return cns__ckpt_load("cns_model_load", &src, CNS__CKPT_KIND_MODEL, alloc, model_from_file,
                          out, err);
}
