/* The negative sampler: CNSDiff draw (ALGORITHM.md §7) and train step
 * (§6), reference and Gaussian modes (§13), the direction mode (§16),
 * uniform and DNS negatives (§3). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "csr_internal.h"
#include "dataset_internal.h"
#include "direction.h"
#include "error.h"
#include "parallel.h"
#include "params.h"
#include "preset_internal.h"
#include "sampler_internal.h"

#define MAX_DIM 65536
#define STREAM_DRAW 0x64726177ull  /* "draw" */
#define STREAM_TRAIN 0x747261696eull
#define STREAM_PICK 0x7069636bull

CNS_API void cns_sampler_desc_init(cns_sampler_desc *desc) {
    if (desc == NULL) return;
    memset(desc, 0, sizeof *desc);
    desc->struct_size = sizeof *desc;
    desc->kind = CNS_SAMPLER_DIFFUSION;
    desc->dim = 64;
    desc->steps = 20;
    desc->time_dim = 64;
    desc->hidden = 64;
    desc->seed = 1;
}

CNS_API void cns_sampler_context_init(cns_sampler_context *ctx) {
    if (ctx == NULL) return;
    memset(ctx, 0, sizeof *ctx);
    ctx->struct_size = sizeof *ctx;
}

static void free_draw(cns_sampler *s) {
    cns__free(&s->al, s->cand);
    cns__free(&s->al, s->xhat);
    cns__free(&s->al, s->noise);
    cns__free(&s->al, s->score);
    cns__free(&s->al, s->inv);
    cns__free(&s->al, s->drop);
    s->cand = s->xhat = s->noise = s->score = s->inv = NULL;
    s->drop = NULL;
    s->cap_draw = s->cap_drop = 0;
}

static void free_train(cns_sampler *s) {
    cns__free(&s->al, s->xt);
    cns__free(&s->al, s->xprev);
    cns__free(&s->al, s->eps);
    cns__free(&s->al, s->dout);
    cns__free(&s->al, s->xhat_train);
    cns__free(&s->al, s->trow);
    s->xt = s->xprev = s->eps = s->dout = s->xhat_train = NULL;
    s->trow = NULL;
    s->cap_train = 0;
}

CNS_API void cns_sampler_free(cns_sampler *s) {
    if (s == NULL) return;
    cns__alloc al = s->al;
    free_draw(s);
    free_train(s);
    cns__free(&al, s->pack);
    cns__denoiser_destroy(&s->den, &al);
    cns__adam_destroy(&s->adam, &al);
    cns__schedule_destroy(&s->sched, &al);
    cns__free(&al, s->levels);
    cns__free(&al, s->direction);
    cns__free(&al, s);
}

static cns_status check_desc(const cns_sampler_desc *in, cns_sampler_desc *d, cns_error *err) {
    cns_sampler_desc_init(d);
    if (in->struct_size < offsetof(cns_sampler_desc, kind) + sizeof(int32_t) ||
        in->struct_size > 65536)
        return cns__fail(err, CNS_E_SIZE, "cns_sampler_create: desc->struct_size = %zu (use cns_sampler_desc_init)",
                         in->struct_size);
    /* Read only the bytes the caller's version of the struct has. */
    size_t n = in->struct_size < sizeof *d ? in->struct_size : sizeof *d;
    memcpy(d, in, n);
    d->struct_size = sizeof *d;
    if (d->kind != CNS_SAMPLER_UNIFORM && d->kind != CNS_SAMPLER_DNS &&
        d->kind != CNS_SAMPLER_DIFFUSION)
        return cns__fail(err, CNS_E_ARG, "cns_sampler_create: desc.kind = %d is not UNIFORM (1), DNS (2) or DIFFUSION (3)",
                         (int)d->kind);
    if (d->dim < 1 || d->dim > MAX_DIM)
        return cns__fail(err, CNS_E_ARG, "cns_sampler_create: desc.dim = %d is outside [1, %d]", (int)d->dim, MAX_DIM);
    if (d->steps < 2 || d->steps > 1000)
        return cns__fail(err, CNS_E_ARG, "cns_sampler_create: desc.steps = %d is outside [2, 1000]", (int)d->steps);
    if (d->time_dim < 2 || d->time_dim > 4096 || d->time_dim % 2 != 0)
        return cns__fail(err, CNS_E_ARG, "cns_sampler_create: desc.time_dim = %d must be even and in [2, 4096]",
                         (int)d->time_dim);
    if (d->hidden < 1 || d->hidden > 4096)
        return cns__fail(err, CNS_E_ARG, "cns_sampler_create: desc.hidden = %d is outside [1, 4096]", (int)d->hidden);
    return CNS_OK;
}

CNS_API cns_status cns_sampler_create(const cns_sampler_desc *desc, const cns_allocator *alloc,
                                      cns_sampler **out, cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "cns_sampler_create: out is NULL");
    *out = NULL;
    if (desc == NULL) return cns__fail(err, CNS_E_ARG, "cns_sampler_create: desc is NULL");
    cns_sampler_desc d;
    cns_status st = check_desc(desc, &d, err);
    if (st != CNS_OK) return st;
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "cns_sampler_create: allocator has a NULL function");
    cns_sampler *s = cns__calloc(&al, 1, sizeof *s);
    if (s == NULL) return cns__fail(err, CNS_E_NOMEM, "cns_sampler_create: out of memory");
    s->al = al;
    s->desc = d;
    s->threads = 1;
    cns__rng_seed(&s->rng_draw, d.seed, STREAM_DRAW);
    cns__rng_seed(&s->rng_train, d.seed, STREAM_TRAIN);
    cns__rng_seed(&s->rng_pick, d.seed, STREAM_PICK);

    s->levels = cns__calloc(&al, (size_t)d.steps, sizeof(int32_t));
    if (s->levels == NULL) goto nomem;
    if (d.kind == CNS_SAMPLER_DIFFUSION) {
        if (cns__schedule_init(&s->sched, d.steps, &al) != CNS_OK) goto nomem;
        if (cns__denoiser_init(&s->den, d.dim, d.time_dim, d.hidden, d.steps, d.seed, &al) != CNS_OK)
            goto nomem;
        if (cns__adam_init(&s->adam, s->den.n_params, &al) != CNS_OK) goto nomem;
        s->direction = cns__malloc(&al, (size_t)d.dim * sizeof(float));
        if (s->direction == NULL) goto nomem;
        cns__direction_random(s->direction, (size_t)d.dim, d.seed); /* §16, lib/direction.c */
    }
    /* The initial tunables are the default preset's (lib/preset.c); this
     * also computes the schedule and the denoiser's learning rate. */
    int ids[CNS__PRESET_MAX_VALUES];
    double vals[CNS__PRESET_MAX_VALUES];
    size_t nv = 0;
    (void)cns__preset_values(CNS_PRESET_DEFAULT, CNS__PRESET_SAMPLER, ids, vals, &nv);
    st = cns__sampler_apply_values(s, ids, vals, nv, 0, s->last_error);
    if (st != CNS_OK) { /* cannot happen with the library's tables; kept for safety */
        cns__fail(err, st, "cns_sampler_create: default preset: %s", s->last_error);
        cns_sampler_free(s);
        return st;
    }
    cns__ok(err);
    *out = s;
    return CNS_OK;
nomem:
    cns_sampler_free(s);
    return cns__fail(err, CNS_E_NOMEM, "cns_sampler_create: out of memory (dim %d, hidden %d)",
                     (int)d.dim, (int)d.hidden);
}

CNS_API int32_t cns_sampler_kind_of(const cns_sampler *s) { return s ? s->desc.kind : 0; }
CNS_API int32_t cns_sampler_dim(const cns_sampler *s) { return s ? s->desc.dim : 0; }
CNS_API const char *cns_sampler_last_error(const cns_sampler *s) {
    return s ? s->last_error : "sampler is NULL";
}

/* ---- parameters ----------------------------------------------------------- */

static const cns__param k_params[] = {
    {CNS_SAMPLER_NOISE_SCHEDULE, 1, 0, 1, 0, 0, "NOISE_SCHEDULE"},
    {CNS_SAMPLER_NOISE_SCALE, 0, 0, 100, 1, 0, "NOISE_SCALE"},
    {CNS_SAMPLER_NOISE_MIN, 0, 0, 1, 1, 1, "NOISE_MIN"},
    {CNS_SAMPLER_NOISE_MAX, 0, 0, 1, 1, 1, "NOISE_MAX"},
    {CNS_SAMPLER_REWEIGHT, 1, 0, 1, 0, 0, "REWEIGHT"},
    {CNS_SAMPLER_CAUSAL_WEIGHT, 0, 0, 1e3, 0, 0, "CAUSAL_WEIGHT"},
    {CNS_SAMPLER_DENOISER_LR, 0, 0, 10, 0, 0, "DENOISER_LR"},
    {CNS_SAMPLER_NORM, 1, 0, 1, 0, 0, "NORM"},
    {CNS_SAMPLER_DROPOUT, 0, 0, 1, 0, 1, "DROPOUT"},
    {CNS_SAMPLER_SAMPLE_START, 1, 1, 1000, 0, 0, "SAMPLE_START"},
    {CNS_SAMPLER_STRIDE, 1, 1, 1000, 0, 0, "STRIDE"},
    {CNS_SAMPLER_NUM_STEPS, 1, 1, 1000, 0, 0, "NUM_STEPS"},
    {CNS_SAMPLER_SAMPLING_NOISE, 1, 0, 1, 0, 0, "SAMPLING_NOISE"},
    {CNS_SAMPLER_MODE, 1, 0, 3, 0, 0, "MODE"},
    {CNS_SAMPLER_DIRECTION_NORM, 0, 0, 1e3, 1, 0, "DIRECTION_NORM"},
    {CNS_SAMPLER_DIRECTION_SOURCE, 1, 0, 0, 0, 0, "DIRECTION_SOURCE"},
    {CNS_SAMPLER_SCORE_DISCOUNT, 0, 0, 1, 0, 0, "SCORE_DISCOUNT"},
    {CNS_SAMPLER_DNS_CANDIDATES, 1, 1, 4096, 0, 0, "DNS_CANDIDATES"},
    {CNS_SAMPLER_THREADS, 1, 1, 256, 0, 0, "THREADS"},
};
#define N_PARAMS (sizeof k_params / sizeof k_params[0])

CNS_API cns_status cns_sampler_param_bounds(int param, double *min, double *max) {
    return cns__param_bounds(k_params, N_PARAMS, param, min, max);
}

/* Recomputes the schedule for the given values; on failure keeps the old one. */
static cns_status reschedule(cns_sampler *s, int64_t kind, double scale, double lo, double hi) {
    if (s->desc.kind != CNS_SAMPLER_DIFFUSION) return CNS_OK;
    return cns__schedule_compute(&s->sched, (int)kind, scale, lo, hi, s->last_error);
}

CNS_API cns_status cns_sampler_set_double(cns_sampler *s, int param, double v) {
    if (s == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL) return cns__msg(s->last_error, CNS_E_PARAM, "cns_sampler_set_double: unknown sampler parameter %d", param);
    if (p->is_int)
        return cns__msg(s->last_error, CNS_E_PARAM, "cns_sampler_set_double: sampler parameter %s is an int: use cns_sampler_set_int",
                        p->name);
    if (!cns__param_in_bounds(p, v))
        return cns__msg(s->last_error, CNS_E_ARG, "cns_sampler_set_double: sampler parameter %s = %g is outside %c%g, %g%c",
                        p->name, v, p->min_open ? '(' : '[', p->min, p->max, p->max_open ? ')' : ']');
    cns_status st = CNS_OK;
    switch (param) {
    case CNS_SAMPLER_NOISE_SCALE:
        st = reschedule(s, s->schedule, v, s->noise_min, s->noise_max);
        if (st == CNS_OK) s->noise_scale = v;
        break;
    case CNS_SAMPLER_NOISE_MIN:
        st = reschedule(s, s->schedule, s->noise_scale, v, s->noise_max);
        if (st == CNS_OK) s->noise_min = v;
        break;
    case CNS_SAMPLER_NOISE_MAX:
        st = reschedule(s, s->schedule, s->noise_scale, s->noise_min, v);
        if (st == CNS_OK) s->noise_max = v;
        break;
    case CNS_SAMPLER_CAUSAL_WEIGHT: s->causal_weight = v; break;
    case CNS_SAMPLER_DENOISER_LR:
        s->denoiser_lr = v;
        s->adam.lr = v;
        break;
    case CNS_SAMPLER_DROPOUT: s->dropout = v; break;
    case CNS_SAMPLER_DIRECTION_NORM: s->direction_norm = v; break;
    case CNS_SAMPLER_SCORE_DISCOUNT: s->score_discount = v; break;
    default: break;
    }
    return st;
}

CNS_API cns_status cns_sampler_get_double(const cns_sampler *s, int param, double *v) {
    if (s == NULL || v == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL || p->is_int) return CNS_E_PARAM;
    switch (param) {
    case CNS_SAMPLER_NOISE_SCALE: *v = s->noise_scale; break;
    case CNS_SAMPLER_NOISE_MIN: *v = s->noise_min; break;
    case CNS_SAMPLER_NOISE_MAX: *v = s->noise_max; break;
    case CNS_SAMPLER_CAUSAL_WEIGHT: *v = s->causal_weight; break;
    case CNS_SAMPLER_DENOISER_LR: *v = s->denoiser_lr; break;
    case CNS_SAMPLER_DROPOUT: *v = s->dropout; break;
    case CNS_SAMPLER_DIRECTION_NORM: *v = s->direction_norm; break;
    case CNS_SAMPLER_SCORE_DISCOUNT: *v = s->score_discount; break;
    default: return CNS_E_PARAM;
    }
    return CNS_OK;
}

CNS_API cns_status cns_sampler_set_int(cns_sampler *s, int param, int64_t v) {
    if (s == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL) return cns__msg(s->last_error, CNS_E_PARAM, "cns_sampler_set_int: unknown sampler parameter %d", param);
    if (!p->is_int)
        return cns__msg(s->last_error, CNS_E_PARAM,
                        "sampler parameter %s is a double: use cns_sampler_set_double", p->name);
    cns__param b = *p;
    /* hardness levels must lie in [1, steps] (§7) */
    if (param == CNS_SAMPLER_SAMPLE_START || param == CNS_SAMPLER_STRIDE ||
        param == CNS_SAMPLER_NUM_STEPS)
        b.max = (double)s->desc.steps;
    if (!cns__param_in_bounds(&b, (double)v))
        return cns__msg(s->last_error, CNS_E_ARG, "cns_sampler_set_int: sampler parameter %s = %lld is outside [%g, %g]",
                        p->name, (long long)v, b.min, b.max);
    switch (param) {
    case CNS_SAMPLER_NOISE_SCHEDULE: {
        cns_status st = reschedule(s, v, s->noise_scale, s->noise_min, s->noise_max);
        if (st != CNS_OK) return st;
        s->schedule = v;
        break;
    }
    case CNS_SAMPLER_REWEIGHT: s->reweight = v; break;
    case CNS_SAMPLER_NORM: s->norm = v; break;
    case CNS_SAMPLER_SAMPLE_START: s->sample_start = v; break;
    case CNS_SAMPLER_STRIDE: s->stride = v; break;
    case CNS_SAMPLER_NUM_STEPS: s->num_steps = v; break;
    case CNS_SAMPLER_SAMPLING_NOISE: s->sampling_noise = v; break;
    case CNS_SAMPLER_MODE: s->mode = v; break;
    case CNS_SAMPLER_DIRECTION_SOURCE: s->direction_source = v; break;
    case CNS_SAMPLER_DNS_CANDIDATES: s->dns_candidates = v; break;
    case CNS_SAMPLER_THREADS: s->threads = v; break;
    default: break;
    }
    return CNS_OK;
}

CNS_API cns_status cns_sampler_get_int(const cns_sampler *s, int param, int64_t *v) {
    if (s == NULL || v == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL || !p->is_int) return CNS_E_PARAM;
    switch (param) {
    case CNS_SAMPLER_NOISE_SCHEDULE: *v = s->schedule; break;
    case CNS_SAMPLER_REWEIGHT: *v = s->reweight; break;
    case CNS_SAMPLER_NORM: *v = s->norm; break;
    case CNS_SAMPLER_SAMPLE_START: *v = s->sample_start; break;
    case CNS_SAMPLER_STRIDE: *v = s->stride; break;
    case CNS_SAMPLER_NUM_STEPS: *v = s->num_steps; break;
    case CNS_SAMPLER_SAMPLING_NOISE: *v = s->sampling_noise; break;
    case CNS_SAMPLER_MODE: *v = s->mode; break;
    case CNS_SAMPLER_DIRECTION_SOURCE: *v = s->direction_source; break;
    case CNS_SAMPLER_DNS_CANDIDATES: *v = s->dns_candidates; break;
    case CNS_SAMPLER_THREADS: *v = s->threads; break;
    default: return CNS_E_PARAM;
    }
    return CNS_OK;
}

/* A preset's list (preset.c): every value checked, the schedule computed
 * once from the four values together (a one-by-one replay could pass
 * through a degenerate schedule), then the plain stores, which cannot fail. */
cns_status cns__sampler_apply_values(cns_sampler *s, const int *ids, const double *vals, size_t n,
                                     int check_only, char *msg) {
    int64_t kind = s->schedule;
    double scale = s->noise_scale, lo = s->noise_min, hi = s->noise_max;
    double v[CNS__PRESET_MAX_VALUES];
    if (n > CNS__PRESET_MAX_VALUES) return cns__msg(msg, CNS_E_ARG, "%zu values is too many", n);
    for (size_t k = 0; k < n; ++k) {
        const cns__param *p = cns__param_find(k_params, N_PARAMS, ids[k]);
        if (p == NULL || ids[k] == CNS_SAMPLER_THREADS)
            return cns__msg(msg, CNS_E_PARAM, "sampler parameter %d is not a preset value", ids[k]);
        v[k] = vals[k];
        /* §15: the level values follow the handle's steps */
        const double steps = (double)s->desc.steps;
        if (ids[k] == CNS_SAMPLER_NUM_STEPS && v[k] == 0.0) v[k] = steps;
        if ((ids[k] == CNS_SAMPLER_SAMPLE_START || ids[k] == CNS_SAMPLER_STRIDE) && v[k] > steps)
            v[k] = 1.0;
        cns__param b = *p;
        if (ids[k] == CNS_SAMPLER_SAMPLE_START || ids[k] == CNS_SAMPLER_STRIDE ||
            ids[k] == CNS_SAMPLER_NUM_STEPS)
            b.max = steps;
        if (!cns__param_in_bounds(&b, v[k]) || (p->is_int && v[k] != floor(v[k])))
            return cns__msg(msg, CNS_E_ARG, "sampler parameter %s = %g is outside %c%g, %g%c%s",
                            p->name, v[k], p->min_open ? '(' : '[', b.min, b.max,
                            p->max_open ? ')' : ']', p->is_int ? " or not an integer" : "");
        switch (ids[k]) {
        case CNS_SAMPLER_NOISE_SCHEDULE: kind = (int64_t)v[k]; break;
        case CNS_SAMPLER_NOISE_SCALE: scale = v[k]; break;
        case CNS_SAMPLER_NOISE_MIN: lo = v[k]; break;
        case CNS_SAMPLER_NOISE_MAX: hi = v[k]; break;
        default: break;
        }
    }
    cns_status st = cns__schedule_check(s->desc.steps, (int)kind, scale, lo, hi, msg);
    if (st != CNS_OK || check_only) return st;
    if ((st = reschedule(s, kind, scale, lo, hi)) != CNS_OK) {
        cns__msg_copy(msg, s->last_error);
        return st;
    }
    s->schedule = kind;
    s->noise_scale = scale;
    s->noise_min = lo;
    s->noise_max = hi;
    for (size_t k = 0; k < n; ++k) {
        if (ids[k] == CNS_SAMPLER_NOISE_SCHEDULE || ids[k] == CNS_SAMPLER_NOISE_SCALE ||
            ids[k] == CNS_SAMPLER_NOISE_MIN || ids[k] == CNS_SAMPLER_NOISE_MAX)
            continue;
        const cns__param *p = cns__param_find(k_params, N_PARAMS, ids[k]);
        /* checked above: in bounds, so the setters only store */
        st = p->is_int ? cns_sampler_set_int(s, ids[k], (int64_t)v[k])
                       : cns_sampler_set_double(s, ids[k], v[k]);
        if (st != CNS_OK) {
            cns__msg_copy(msg, s->last_error);
            return st;
        }
    }
    return CNS_OK;
}

/* ---- context -------------------------------------------------------------- */

/* The first release's context ends with out_ids: any later, longer
 * version is read up to what this library knows. */
#define CTX_V1_SIZE (offsetof(cns_sampler_context, out_ids) + sizeof(int32_t *))

/* Both set_context calls: dim 0 means unchecked (the old call). */
static cns_status set_context(cns_sampler *s, const char *fn, const cns_sampler_context *ctx,
                              int32_t dim, size_t item_stride, const cns_csr *csr) {
    s->has_ctx = 0;
    if (ctx == NULL) return cns__msg(s->last_error, CNS_E_ARG, "%s: ctx is NULL", fn);
    if (ctx->struct_size < CTX_V1_SIZE || ctx->struct_size > 65536)
        return cns__msg(s->last_error, CNS_E_SIZE,
                        "%s: ctx->struct_size = %zu, expected at least %zu "
                        "(use cns_sampler_context_init)",
                        fn, ctx->struct_size, (size_t)CTX_V1_SIZE);
    cns_sampler_context c;
    cns_sampler_context_init(&c);
    memcpy(&c, ctx, ctx->struct_size < sizeof c ? ctx->struct_size : sizeof c);
    c.struct_size = sizeof c;
    if ((c.train == NULL) == (csr == NULL))
        return cns__msg(s->last_error, CNS_E_ARG, "%s: %s", fn,
                        csr == NULL ? "train is NULL"
                                    : "give ctx->train or csr, not both");
    if (c.item_emb == NULL || c.users == NULL)
        return cns__msg(s->last_error, CNS_E_ARG, "%s: %s is NULL", fn,
                        c.item_emb == NULL ? "item_emb" : "users");
    if (c.n_rows == 0) return cns__msg(s->last_error, CNS_E_ARG, "%s: n_rows is 0", fn);
    const size_t D = (size_t)s->desc.dim;
    if (dim != 0 && dim != s->desc.dim)
        return cns__msg(s->last_error, CNS_E_SIZE,
                        "%s: dim = %d but the sampler was created with dim %d", fn, (int)dim,
                        (int)s->desc.dim);
    const size_t stride = item_stride == 0 ? D : item_stride;
    if (stride < D)
        return cns__msg(s->last_error, CNS_E_SIZE,
                        "%s: item_stride = %zu is smaller than the sampler's dim %zu", fn, stride,
                        D);
    int32_t ni;
    if (csr != NULL) {
        cns_status st = cns__csr_read(csr, &s->csr, fn, s->last_error);
        if (st != CNS_OK) return st;
        ni = s->csr.num_items;
    } else {
        ni = cns_dataset_num_items(c.train);
    }
    if (c.num_items != ni || c.num_items < 1)
        return cns__msg(s->last_error, CNS_E_SIZE, "%s: num_items %d differs from the %s's %d", fn,
                        (int)c.num_items, csr != NULL ? "CSR" : "dataset", (int)ni);
    s->ctx = c;
    s->has_csr = csr != NULL;
    s->item_stride = stride;
    s->has_ctx = 1;
    return CNS_OK;
}

CNS_API cns_status cns_sampler_set_context(cns_sampler *s, const cns_sampler_context *ctx) {
    if (s == NULL) return CNS_E_ARG;
    return set_context(s, "cns_sampler_set_context", ctx, 0, 0, NULL);
}

CNS_API cns_status cns_sampler_set_context_rows(cns_sampler *s, const cns_sampler_context *ctx,
                                                int32_t dim, size_t item_stride,
                                                const cns_csr *csr) {
    if (s == NULL) return CNS_E_ARG;
    s->has_ctx = 0;
    if (dim == 0) /* 0 is the old call's "unchecked"; here the width is required */
        return cns__msg(s->last_error, CNS_E_SIZE,
                        "cns_sampler_set_context_rows: dim = 0 but the sampler was created with "
                        "dim %d",
                        (int)s->desc.dim);
    return set_context(s, "cns_sampler_set_context_rows", ctx, dim, item_stride, csr);
}

/* ---- kernels (§4, §7) ------------------------------------------------------ */

/* x = a * x0 + b * x (x holds eps on entry): the forward noising of §4. */
CNS__HOT static void noise_rows(float *restrict x, const float *restrict x0, size_t n, float a,
                                float b) {
    for (size_t i = 0; i < n; ++i) x[i] = a * x0[i] + b * x[i];
}

typedef struct post_job {
    float *x;
    const float *xhat, *z;
    float *inv; /* the next step's inverse norms, while the rows are hot */
    size_t d;
    float c1, c2;
    int norm;
} post_job;

static void post_range(void *arg, size_t b, size_t e) {
    post_job *j = arg;
    cns__posterior_step(j->x + b * j->d, j->xhat + b * j->d, j->z ? j->z + b * j->d : NULL,
                        (e - b) * j->d, j->c1, j->c2);
    if (j->inv) cns__inv_norms(j->x + b * j->d, j->inv + b, e - b, j->d, j->norm);
}

/* score[r] = <u[r], c[r]> for n rows of width d. */
CNS__HOT static void row_dots(const float *restrict u, const float *restrict c, size_t n, size_t d,
                              float *restrict score) {
    for (size_t r = 0; r < n; ++r) score[r] = cns__dot16(u + r * d, c + r * d, d);
}

static cns_status reserve_draw(cns_sampler *s, size_t rows) {
    if (cns__denoiser_reserve(&s->den, rows, &s->al) != CNS_OK) return CNS_E_NOMEM;
    if (rows <= s->cap_draw) return CNS_OK;
    size_t bytes;
    if (!cns__mul_ok(rows, (size_t)s->desc.dim * sizeof(float), &bytes)) return CNS_E_NOMEM;
    free_draw(s);
    s->cand = cns__malloc(&s->al, bytes);
    s->xhat = cns__malloc(&s->al, bytes);
    s->noise = cns__malloc(&s->al, bytes);
    s->score = cns__malloc(&s->al, rows * sizeof(float));
    s->inv = cns__malloc(&s->al, rows * sizeof(float));
    if (!s->cand || !s->xhat || !s->noise || !s->score || !s->inv) {
        free_draw(s);
        return CNS_E_NOMEM;
    }
    s->cap_draw = rows;
    return CNS_OK;
}

/* The hardness levels S = {start, start + stride, ...} ∩ [1, num_steps]. */
static int32_t make_levels(cns_sampler *s) {
    int32_t n = 0;
    for (int64_t l = s->sample_start; l <= s->num_steps; l += s->stride) s->levels[n++] = (int32_t)l;
    s->n_levels = n;
    return n;
}

/* Starts level j's chain at step t0: x_t0 = sqrt(ab) pos + sqrt(1 - ab) eps
 * with fresh normals into block j of the candidates, and, when inv is not
 * NULL, its rows' inverse norms. Every draw path starts chains here, in
 * the order it needs the random stream to run. */
static void start_chain(cns_sampler *s, const float *pos, size_t n, int32_t j, int32_t t0,
                        float *inv) {
    const size_t D = (size_t)s->desc.dim, blk = n * D;
    float *x = s->cand + (size_t)j * blk;
    cns__normal_fill_fast(&s->rng_draw, x, blk, 1.0f);
    noise_rows(x, pos, blk, s->sched.sqrt_ab[t0], s->sched.sqrt_1mab[t0]);
    if (inv != NULL) cns__inv_norms(x, inv, n, D, (int)s->norm);
}

/* The reverse chains one step at a time over every running level, with
 * the random draws made per step in row order: the path for sampling
 * noise (drawn between steps) and for reference chains longer than 32
 * steps (see draw_diffusion); tests force it through per_step. */
static void draw_steps(cns_sampler *s, const float *pos, size_t n, int32_t L, int reference,
                       double p_drop) {
    const size_t D = (size_t)s->desc.dim, blk = n * D;
    const int32_t T = s->desc.steps;
    const cns__schedule *sc = &s->sched;
    /* Levels are ascending, so at step t the levels whose chain has started
     * are a suffix of the blocks: one GEMM per step over all of them. */
    const int32_t t_top = reference ? T - 1 : s->levels[L - 1] - 1;
    int32_t started = L; /* blocks [started, L) are running */
    if (reference) {
        for (int32_t j = 0; j < L; ++j)
            start_chain(s, pos, n, j, s->levels[j] - 1, s->inv + (size_t)j * n);
        started = 0;
    }
    for (int32_t t = t_top; t >= 0; --t) {
        while (!reference && started > 0 && s->levels[started - 1] - 1 == t) {
            --started;
            start_chain(s, pos, n, started, t, s->inv + (size_t)started * n);
        }
        float *x = s->cand + (size_t)started * blk;
        size_t active = (size_t)(L - started) * n;
        const float *z = NULL;
        if (s->sampling_noise && t > 0) {
            cns__normal_fill_fast(&s->rng_draw, s->noise, active * D, sc->sigma[t]);
            z = s->noise;
        }
        /* x̂0 = f(x, t), then x <- c1 x̂0 + c2 x (+ z) per block of rows */
        float *inv = s->inv + (size_t)started * n;
        post_job pj = {x, s->xhat, z, p_drop > 0.0 ? NULL : inv, D, sc->c1f[t], sc->c2f[t],
                       (int)s->norm};
        cns__denoiser_forward_ex(&s->den, x, active, NULL, t, (int)s->norm, p_drop, &s->rng_draw,
                                 s->xhat, 0, p_drop > 0.0 ? NULL : inv, post_range, &pj);
    }
}

/* §7.3: sigma is monotonic, so the best score is the largest dot. */
static cns_status pick_best(cns_sampler *s, const float *user, size_t n, int32_t L, float *out) {
    const size_t D = (size_t)s->desc.dim, blk = n * D;
    for (int32_t j = 0; j < L; ++j)
        row_dots(user, s->cand + (size_t)j * blk, n, D, s->score + (size_t)j * n);
    for (size_t r = 0; r < n; ++r) {
        int32_t best = 0;
        float bs = s->score[r];
        for (int32_t j = 0; j < L; ++j) {
            float v = s->score[(size_t)j * n + r];
            if (!isfinite(v))
                return cns__msg(s->last_error, CNS_E_NUMERIC,
                                "cns_sampler_draw: row %zu, level %d: candidate score is %g",
                                r, (int)s->levels[j], (double)v);
            if (v > bs) {
                bs = v;
                best = j;
            }
        }
        memcpy(out + r * D, s->cand + ((size_t)best * n + r) * D, D * sizeof(float));
    }
    if (s->mode == CNS_MODE_GAUSSIAN) {
        /* the ablation: same norm, random direction */
        cns__normal_fill_fast(&s->rng_draw, s->xhat, blk, 1.0f);
        for (size_t r = 0; r < n; ++r) {
            float *o = out + r * D;
            const float *z = s->xhat + r * D;
            double no = 0.0, nz = 0.0;
            for (size_t k = 0; k < D; ++k) {
                no += (double)o[k] * o[k];
                nz += (double)z[k] * z[k];
            }
            float f = nz > 0.0 ? (float)sqrt(no / nz) : 0.0f;
            for (size_t k = 0; k < D; ++k) o[k] = z[k] * f;
        }
    }
    return CNS_OK;
}

/* §7: the levels, the reverse chain from each, the hardest candidate per
 * row. Level j occupies rows [j n, (j+1) n) of the candidate block. */
static cns_status draw_diffusion(cns_sampler *s, const float *user, const float *pos, size_t n,
                                 float *out) {
    const size_t D = (size_t)s->desc.dim;
    if (s->mode == CNS_MODE_DIRECTION) {
        /* §16: c = norm * d in every row; rows are bit-identical, which the
         * loss detects to collapse the contrastive term's h columns. */
        const float norm = (float)s->direction_norm;
        for (size_t k = 0; k < D; ++k) out[k] = norm * s->direction[k];
        for (size_t r = 1; r < n; ++r) memcpy(out + r * D, out, D * sizeof(float));
        s->last_n = n;
        return CNS_OK;
    }
    const int32_t T = s->desc.steps;
    const int32_t L = make_levels(s);
    if (L == 0)
        return cns__msg(s->last_error, CNS_E_STATE,
                        "no hardness level: sample_start %lld > num_steps %lld",
                        (long long)s->sample_start, (long long)s->num_steps);
    size_t rows;
    if (!cns__mul_ok(n, (size_t)L, &rows) || reserve_draw(s, rows) != CNS_OK)
        return cns__msg(s->last_error, CNS_E_NOMEM, "cns_sampler_draw: out of memory for %zu rows x %d levels",
                        n, (int)L);
    s->last_n = n;
    const cns__schedule *sc = &s->sched;
    const int reference = s->mode != CNS_MODE_TRAINED;
    const double p_drop = reference ? s->dropout : 0.0; /* §13: dropout on while sampling */
    s->den.threads = (int)s->threads;

    /* The packed masks take T x rows x D bits; the per-step loop's float
     * mask 32 x rows x D: past T = 32 the per-step loop is the smaller. */
    if (!s->sampling_noise && !s->per_step && (p_drop <= 0.0 || T <= 32)) {
        /* Every chain's start first (in the order the per-step loop draws
         * them), then the dropout masks of every step, then each chunk of
         * rows runs all its steps in one pass: the same random draws as
         * draw_steps. The reference and Gaussian modes keep its bits
         * (exact); the trained mode may use the AVX-512 tanh. The mask
         * workspace is grown before any draw, so a failed call leaves the
         * streams where they were. */
        const size_t step_bits = rows * D; /* rows x D floats fit: checked above */
        if (p_drop > 0.0) {
            size_t total = 0;
            const int fits = cns__mul_ok((size_t)T, step_bits, &total) && total <= SIZE_MAX - 63;
            const size_t words = fits ? (total + 63) / 64 : 0;
            if (!fits || words > s->cap_drop) {
                uint64_t *w = fits ? cns__malloc(&s->al, words * sizeof *w) : NULL;
                if (w == NULL)
                    return cns__msg(s->last_error, CNS_E_NOMEM,
                                    "cns_sampler_draw: out of memory for the dropout masks of "
                                    "%zu rows x %d steps",
                                    rows, (int)T);
                cns__free(&s->al, s->drop);
                s->drop = w;
                s->cap_drop = words;
            }
        }
        cns__chain c = {n,       L,    s->levels, reference ? T - 1 : -1,
                        sc->c1f, sc->c2f, (int)s->norm, NULL,
                        (float)(1.0 / (1.0 - p_drop)), reference};
        for (int32_t k = 0; k < L; ++k) {
            const int32_t j = reference ? k : L - 1 - k;
            start_chain(s, pos, n, j, s->levels[j] - 1, NULL);
        }
        if (p_drop > 0.0) {
            /* step by step from the top, as forward_ex would draw them */
            for (int32_t t = T - 1; t >= 0; --t)
                cns__dropout_bits_at(&s->rng_draw, s->drop, (size_t)(T - 1 - t) * step_bits,
                                     step_bits, p_drop);
            c.drop = s->drop;
        }
        cns__denoiser_chain(&s->den, &c, s->cand, s->xhat);
    } else {
        draw_steps(s, pos, n, L, reference, p_drop);
    }
    return pick_best(s, user, n, L, out);
}

/* ---- catalogue samplers (§3) ------------------------------------------------ */

/* A uniformly drawn item the user has not interacted with, given the
 * user's ascending observed items obs[0..deg): rejection first, then (for
 * nearly saturated users) an exact pick among the unobserved. */
static cns_status pick_unobserved(cns_sampler *s, int32_t user, const int32_t *obs, size_t deg,
                                  int32_t *item) {
    const int32_t ni = s->ctx.num_items;
    if (deg >= (size_t)ni)
        return cns__msg(s->last_error, CNS_E_SATURATED,
                        "cns_sampler_draw: user %d has interacted with all %d items: no negative "
                        "exists",
                        (int)user, (int)ni);
    for (int tries = 0; tries < 64; ++tries) {
        int32_t j = (int32_t)cns__rng_below(&s->rng_pick, (uint32_t)ni);
        if (!cns__sorted_contains(obs, deg, j)) {
            *item = j;
            return CNS_OK;
        }
    }
    /* k-th unobserved item: walk the sorted observed list */
    uint32_t k = cns__rng_below(&s->rng_pick, (uint32_t)((size_t)ni - deg));
    int32_t cand = (int32_t)k;
    for (size_t p = 0; p < deg && obs[p] <= cand; ++p) ++cand;
    *item = cand;
    return CNS_OK;
}

static cns_status draw_catalogue(cns_sampler *s, const float *user, size_t user_stride, size_t n,
                                 float *out, size_t out_stride) {
    const size_t D = (size_t)s->desc.dim, IS = s->item_stride;
    const cns_sampler_context *c = &s->ctx;
    const int dns = s->desc.kind == CNS_SAMPLER_DNS;
    const int csr = s->has_csr;
    const int32_t nu = csr ? s->csr.num_users : c->train->num_users;
    for (size_t r = 0; r < n; ++r) {
        int32_t u = c->users[r];
        if (u < 0 || u >= nu)
            return cns__msg(s->last_error, CNS_E_ARG,
                            "cns_sampler_draw: context users[%zu] = %d is outside [0, %d)", r,
                            (int)u, (int)nu);
        const int32_t *obs;
        size_t deg;
        if (csr) {
            cns_status st = cns__csr_check_row(&s->csr, u, "cns_sampler_draw", s->last_error);
            if (st != CNS_OK) return st;
            obs = s->csr.item_ids + s->csr.row_ptr[u];
            deg = (size_t)(s->csr.row_ptr[u + 1] - s->csr.row_ptr[u]);
        } else {
            obs = c->train->items + c->train->user_ptr[u];
            deg = c->train->user_ptr[u + 1] - c->train->user_ptr[u];
        }
        int32_t best = -1;
        if (!dns) {
            cns_status st = pick_unobserved(s, u, obs, deg, &best);
            if (st != CNS_OK) return st;
        } else {
            float bs = -INFINITY;
            const float *eu = user + r * user_stride;
            for (int64_t m = 0; m < s->dns_candidates; ++m) {
                int32_t j;
                cns_status st = pick_unobserved(s, u, obs, deg, &j);
                if (st != CNS_OK) return st;
                float v;
                row_dots(eu, c->item_emb + (size_t)j * IS, 1, D, &v);
                if (best < 0 || v > bs) {
                    bs = v;
                    best = j;
                }
            }
        }
        memcpy(out + r * out_stride, c->item_emb + (size_t)best * IS, D * sizeof(float));
        if (c->out_ids) c->out_ids[r] = best;
    }
    return CNS_OK;
}

/* The draw behind cns_sampler_draw and cns_sampler_draw_rows. Strides
 * are resolved (>= dim); the catalogue kinds read them directly, the
 * diffusion chain needs packed rows (the caller packs them). */
static cns_status draw(cns_sampler *s, const float *user_emb, size_t us, const float *pos_emb,
                       size_t n_rows, float *out_neg, size_t os) {
    const int32_t kind = s->desc.kind;
    /* A catalogue draw consumes the context whatever happens below, so a
     * failed draw never lets the next one run on a stale context. */
    const int had_ctx = s->has_ctx;
    s->has_ctx = 0;
    if (out_neg == NULL) return cns__msg(s->last_error, CNS_E_ARG, "cns_sampler_draw: out_neg is NULL");
    if (n_rows == 0) return cns__msg(s->last_error, CNS_E_ARG, "cns_sampler_draw: n_rows is 0");
    if (kind == CNS_SAMPLER_DIFFUSION) {
        if (user_emb == NULL || pos_emb == NULL)
            return cns__msg(s->last_error, CNS_E_ARG, "cns_sampler_draw: %s is NULL",
                            user_emb == NULL ? "user_emb" : "pos_emb");
        return draw_diffusion(s, user_emb, pos_emb, n_rows, out_neg);
    }
    if (kind == CNS_SAMPLER_DNS && user_emb == NULL)
        return cns__msg(s->last_error, CNS_E_ARG, "cns_sampler_draw: user_emb is NULL (DNS scores with it)");
    if (!had_ctx)
        return cns__msg(s->last_error, CNS_E_STATE,
                        "cns_sampler_draw: %s needs cns_sampler_set_context before each draw",
                        kind == CNS_SAMPLER_DNS ? "DNS" : "UNIFORM");
    if (s->ctx.n_rows != n_rows)
        return cns__msg(s->last_error, CNS_E_STATE,
                        "cns_sampler_draw: n_rows %zu differs from the context's %zu", n_rows,
                        s->ctx.n_rows);
    return draw_catalogue(s, user_emb, us, n_rows, out_neg, os);
}

CNS_API cns_status cns_sampler_draw(cns_sampler *s, const float *user_emb, const float *pos_emb,
                                    size_t n_rows, float *out_neg) {
    if (s == NULL) return CNS_E_ARG;
    const size_t D = (size_t)s->desc.dim;
    return draw(s, user_emb, D, pos_emb, n_rows, out_neg, D);
}

/* Room for k packed blocks of n rows in s->pack. */
static cns_status reserve_pack(cns_sampler *s, size_t n, const char *fn) {
    size_t rows;
    if (!cns__mul_ok(n, 3, &rows))
        return cns__msg(s->last_error, CNS_E_ARG, "%s: n_rows = %zu is too many", fn, n);
    if (rows <= s->cap_pack) return CNS_OK;
    size_t bytes;
    float *p = cns__mul_ok(rows, (size_t)s->desc.dim * sizeof(float), &bytes)
                   ? cns__malloc(&s->al, bytes)
                   : NULL;
    if (p == NULL)
        return cns__msg(s->last_error, CNS_E_NOMEM, "%s: out of memory to pack %zu rows", fn, n);
    cns__free(&s->al, s->pack);
    s->pack = p;
    s->cap_pack = rows;
    return CNS_OK;
}

static void pack_rows(float *dst, const float *src, size_t n, size_t stride, size_t d) {
    for (size_t r = 0; r < n; ++r) memcpy(dst + r * d, src + r * stride, d * sizeof *dst);
}

/* The width and stride checks of the _rows calls; resolves 0 strides. */
static cns_status check_rows(cns_sampler *s, const char *fn, int32_t dim, size_t n,
                             size_t *const *strides, const char *const *names, int count) {
    if (dim != s->desc.dim)
        return cns__msg(s->last_error, CNS_E_SIZE,
                        "%s: dim = %d but the sampler was created with dim %d", fn, (int)dim,
                        (int)s->desc.dim);
    const size_t D = (size_t)s->desc.dim;
    for (int k = 0; k < count; ++k) {
        if (*strides[k] == 0) *strides[k] = D;
        if (*strides[k] < D)
            return cns__msg(s->last_error, CNS_E_SIZE, "%s: %s = %zu is smaller than dim %zu", fn,
                            names[k], *strides[k], D);
        size_t span;
        if (n > 0 && (!cns__mul_ok(n - 1, *strides[k], &span) || span > SIZE_MAX / sizeof(float) - D))
            return cns__msg(s->last_error, CNS_E_ARG, "%s: %zu rows of %s %zu overflow", fn, n,
                            names[k], *strides[k]);
    }
    return CNS_OK;
}

CNS_API cns_status cns_sampler_draw_rows(cns_sampler *s, int32_t dim, const float *user_emb,
                                         size_t user_stride, const float *pos_emb,
                                         size_t pos_stride, size_t n_rows, float *out_neg,
                                         size_t out_stride) {
    static const char fn[] = "cns_sampler_draw_rows";
    if (s == NULL) return CNS_E_ARG;
    size_t *const strides[3] = {&user_stride, &pos_stride, &out_stride};
    static const char *const names[3] = {"user_stride", "pos_stride", "out_stride"};
    cns_status st = check_rows(s, fn, dim, n_rows, strides, names, 3);
    if (st != CNS_OK) {
        s->has_ctx = 0; /* consumed, as by any failed draw */
        return st;
    }
    const size_t D = (size_t)s->desc.dim;
    const int packed = user_stride == D && pos_stride == D && out_stride == D;
    if (s->desc.kind != CNS_SAMPLER_DIFFUSION || packed || out_neg == NULL || n_rows == 0 ||
        user_emb == NULL || pos_emb == NULL)
        return draw(s, user_emb, user_stride, pos_emb, n_rows, out_neg, out_stride);
    /* The reverse chains read packed rows: pack, draw, unpack. */
    st = reserve_pack(s, n_rows, fn);
    if (st != CNS_OK) return st;
    float *u = s->pack, *p = u + n_rows * D, *o = p + n_rows * D;
    pack_rows(u, user_emb, n_rows, user_stride, D);
    pack_rows(p, pos_emb, n_rows, pos_stride, D);
    st = draw_diffusion(s, u, p, n_rows, o);
    if (st != CNS_OK) return st;
    for (size_t r = 0; r < n_rows; ++r) memcpy(out_neg + r * out_stride, o + r * D, D * sizeof *o);
    return CNS_OK;
}

/* ---- training (§6) ------------------------------------------------------------ */

static cns_status reserve_train(cns_sampler *s, size_t n) {
    if (cns__denoiser_reserve(&s->den, n, &s->al) != CNS_OK) return CNS_E_NOMEM;
    if (n <= s->cap_train) return CNS_OK;
    size_t bytes;
    if (!cns__mul_ok(n, (size_t)s->desc.dim * sizeof(float), &bytes)) return CNS_E_NOMEM;
    free_train(s);
    s->xt = cns__malloc(&s->al, bytes);
    s->xprev = cns__malloc(&s->al, bytes);
    s->eps = cns__malloc(&s->al, bytes);
    s->dout = cns__malloc(&s->al, bytes);
    s->xhat_train = cns__malloc(&s->al, bytes);
    s->trow = cns__malloc(&s->al, n * sizeof(int32_t));
    if (!s->xt || !s->xprev || !s->eps || !s->dout || !s->xhat_train || !s->trow) {
        free_train(s);
        return CNS_E_NOMEM;
    }
    s->cap_train = n;
    return CNS_OK;
}

/* Per row: the squared errors against x0 and x_{t-1}, and
 * dout = a (x̂0 - x0) + b (x̂0 - x_{t-1}). */
CNS__HOT static void loss_row(const float *restrict xhat, const float *restrict x0,
                              const float *restrict xprev, size_t d, float a, float b,
                              float *restrict dout, float *restrict sq0, float *restrict sq1) {
    float acc0[16] = {0}, acc1[16] = {0};
    size_t j = 0;
    for (; j + 16 <= d; j += 16)
        for (size_t k = 0; k < 16; ++k) {
            float e0 = xhat[j + k] - x0[j + k], e1 = xhat[j + k] - xprev[j + k];
            acc0[k] += e0 * e0;
            acc1[k] += e1 * e1;
            dout[j + k] = a * e0 + b * e1;
        }
    float s0 = 0.0f, s1 = 0.0f;
    for (; j < d; ++j) {
        float e0 = xhat[j] - x0[j], e1 = xhat[j] - xprev[j];
        s0 += e0 * e0;
        s1 += e1 * e1;
        dout[j] = a * e0 + b * e1;
    }
    for (size_t k = 0; k < 16; ++k) {
        s0 += acc0[k];
        s1 += acc1[k];
    }
    *sq0 = s0;
    *sq1 = s1;
}

cns_status cns__sampler_diffusion_loss(cns_sampler *s, const float *pos, size_t n, double *loss) {
    const size_t D = (size_t)s->desc.dim;
    const int32_t T = s->desc.steps;
    const cns__schedule *sc = &s->sched;
    if (reserve_train(s, n) != CNS_OK)
        return cns__msg(s->last_error, CNS_E_NOMEM, "cns_sampler_train_step: out of memory for %zu rows", n);
    /* §6.1: t per row, one eps per row, x_t and x_{t-1} from the same eps */
    for (size_t r = 0; r < n; ++r)
        s->trow[r] = s->hook_t ? s->hook_t[r] : (int32_t)cns__rng_below(&s->rng_train, (uint32_t)T);
    if (s->hook_eps)
        memcpy(s->eps, s->hook_eps, n * D * sizeof(float));
    else
        cns__normal_fill_fast(&s->rng_train, s->eps, n * D, 1.0f);
    for (size_t r = 0; r < n; ++r) {
        int32_t t = s->trow[r], tp = t > 0 ? t - 1 : 0;
        const size_t o = r * D;
        memcpy(s->xt + o, s->eps + o, D * sizeof(float));
        noise_rows(s->xt + o, pos + o, D, sc->sqrt_ab[t], sc->sqrt_1mab[t]);
        memcpy(s->xprev + o, s->eps + o, D * sizeof(float));
        noise_rows(s->xprev + o, pos + o, D, sc->sqrt_ab[tp], sc->sqrt_1mab[tp]);
    }
    /* §6.2 */
    s->den.threads = (int)s->threads;
    cns__denoiser_forward(&s->den, s->xt, n, s->trow, 0, (int)s->norm, s->dropout, &s->rng_train,
                          s->xhat_train);
    /* §6.3–5, in double across rows: the step weights span five orders */
    const double inv_n = 1.0 / (double)n, inv_nd = 1.0 / ((double)n * (double)D);
    const double cw = s->causal_weight;
    double sum_wmse = 0.0, sum_kl = 0.0, sum_t1 = 0.0, max_row = 0.0;
    size_t bad_row = n; /* the first row whose loss is not finite */
    for (size_t r = 0; r < n; ++r) {
        int32_t t = s->trow[r];
        double w = s->reweight ? sc->weight[t] : 1.0;
        double lv1 = sc->post_logvar[t], lv2 = t > 0 ? sc->post_logvar[t - 1] : 0.0;
        double inv_var2 = exp(-lv2);
        /* d L / d x̂0 = w 2 (x̂0 - x0) / (n d) + cw exp(-lv2) (x̂0 - x_{t-1}) / (n d) */
        float a = (float)(2.0 * w * inv_nd), b = (float)(cw * inv_var2 * inv_nd);
        float sq0, sq1;
        const size_t o = r * D;
        loss_row(s->xhat_train + o, pos + o, s->xprev + o, D, a, b, s->dout + o, &sq0, &sq1);
        double wmse = w * (double)sq0 / (double)D;
        sum_wmse += wmse;
        if (t == 1) sum_t1 += wmse;
        if (wmse > max_row) max_row = wmse;
        const double kl = 0.5 * ((double)D * (-1.0 + lv2 - lv1 + exp(lv1 - lv2)) + (double)sq1 * inv_var2);
        sum_kl += kl;
        if (bad_row == n && !isfinite(wmse + kl)) bad_row = r;
    }
    s->stat_loss_mse = sum_wmse * inv_n;
    s->stat_loss_kl = cw * sum_kl * inv_nd;
    s->stat_share_t1 = sum_wmse > 0.0 ? sum_t1 / sum_wmse : 0.0;
    s->stat_max_row_share = sum_wmse > 0.0 ? max_row / sum_wmse : 0.0;
    double L = s->stat_loss_mse + s->stat_loss_kl;
    if (loss) *loss = L;
    if (!isfinite(L)) {
        if (bad_row < n)
            return cns__msg(s->last_error, CNS_E_NUMERIC,
                            "cns_sampler_train_step: diffusion loss is %g: row %zu (t = %d) is "
                            "not finite (a non-finite pos_emb value or denoiser output)",
                            L, bad_row, (int)s->trow[bad_row]);
        return cns__msg(s->last_error, CNS_E_NUMERIC,
                        "cns_sampler_train_step: diffusion loss is %g (the sum over rows "
                        "overflowed)", L);
    }
    cns__denoiser_backward(&s->den, s->xt, s->dout, n, s->trow, 0, NULL);
    return CNS_OK;
}

CNS_API cns_status cns_sampler_train_step(cns_sampler *s, const float *pos_emb, size_t n_rows,
                                          double *loss) {
    if (s == NULL) return CNS_E_ARG;
    if (pos_emb == NULL) return cns__msg(s->last_error, CNS_E_ARG, "cns_sampler_train_step: pos_emb is NULL");
    if (n_rows == 0) return cns__msg(s->last_error, CNS_E_ARG, "cns_sampler_train_step: n_rows is 0");
    if (loss) *loss = 0.0;
    /* frozen denoiser (§13) or nothing to train */
    if (s->desc.kind != CNS_SAMPLER_DIFFUSION || s->mode != CNS_MODE_TRAINED) return CNS_OK;
    double L = 0.0;
    cns_status st = cns__sampler_diffusion_loss(s, pos_emb, n_rows, &L);
    if (loss) *loss = L;
    if (st != CNS_OK) return st;
    s->adam.lr = s->denoiser_lr;
    size_t bad = 0;
    st = cns__adam_step(&s->adam, s->den.params, s->den.grads, &bad);
    if (st != CNS_OK)
        return cns__msg(s->last_error, st,
                        "cns_sampler_train_step: gradient of denoiser parameter %zu is %g "
                        "(or the step would overflow); denoiser unchanged",
                        bad, (double)s->den.grads[bad]);
    ++s->train_steps;
    return CNS_OK;
}

CNS_API cns_status cns_sampler_train_step_rows(cns_sampler *s, int32_t dim, const float *pos_emb,
                                               size_t pos_stride, size_t n_rows, double *loss) {
    static const char fn[] = "cns_sampler_train_step_rows";
    if (s == NULL) return CNS_E_ARG;
    size_t *const strides[1] = {&pos_stride};
    static const char *const names[1] = {"pos_stride"};
    cns_status st = check_rows(s, fn, dim, n_rows, strides, names, 1);
    if (st != CNS_OK) return st;
    const size_t D = (size_t)s->desc.dim;
    /* Frozen and catalogue samplers train nothing: no need to pack. */
    if (pos_stride == D || pos_emb == NULL || n_rows == 0 || s->desc.kind != CNS_SAMPLER_DIFFUSION ||
        s->mode != CNS_MODE_TRAINED)
        return cns_sampler_train_step(s, pos_emb, n_rows, loss);
    st = reserve_pack(s, n_rows, fn);
    if (st != CNS_OK) return st;
    pack_rows(s->pack, pos_emb, n_rows, pos_stride, D);
    return cns_sampler_train_step(s, s->pack, n_rows, loss);
}

/* ---- weights (data-parallel hosts) ------------------------------------------- */

CNS_API size_t cns_sampler_weight_count(const cns_sampler *s) {
    return s != NULL && s->desc.kind == CNS_SAMPLER_DIFFUSION ? s->den.n_params : 0;
}

CNS_API cns_status cns_sampler_get_weights(const cns_sampler *s, float *out, size_t count) {
    if (s == NULL || out == NULL) return CNS_E_ARG;
    if (s->desc.kind != CNS_SAMPLER_DIFFUSION) return CNS_E_UNSUPPORTED;
    if (count != s->den.n_params) return CNS_E_SIZE;
    memcpy(out, s->den.params, count * sizeof *out);
    return CNS_OK;
}

CNS_API cns_status cns_sampler_set_weights(cns_sampler *s, const float *w, size_t count) {
    static const char fn[] = "cns_sampler_set_weights";
    if (s == NULL) return CNS_E_ARG;
    if (w == NULL) return cns__msg(s->last_error, CNS_E_ARG, "%s: w is NULL", fn);
    if (s->desc.kind != CNS_SAMPLER_DIFFUSION)
        return cns__msg(s->last_error, CNS_E_UNSUPPORTED,
                        "%s: a %s sampler has no denoiser", fn,
                        s->desc.kind == CNS_SAMPLER_DNS ? "DNS" : "UNIFORM");
    if (count != s->den.n_params)
        return cns__msg(s->last_error, CNS_E_SIZE, "%s: count = %zu but the denoiser has %zu weights",
                        fn, count, s->den.n_params);
    for (size_t i = 0; i < count; ++i)
        if (!isfinite(w[i]))
            return cns__msg(s->last_error, CNS_E_NUMERIC, "%s: w[%zu] = %g is not finite", fn, i,
                            (double)w[i]);
    memcpy(s->den.params, w, count * sizeof *w);
    cns__adam_forget_bounds(&s->adam); /* the weights were written outside a step */
    return CNS_OK;
}

/* ---- streams: many threads, one sampler -------------------------------------- */

/* A stream is a shadow sampler: the parent's tunables, schedule and desc
 * are copied in at each draw (all read-only for the parent), its denoiser
 * is a view whose weights are the parent's and whose per-call and per-row
 * scratch is its own, and the draw workspace and stream are its own. The
 * draw code then runs on the shadow unchanged. */
struct cns_sampler_stream {
    const cns_sampler *parent;
    cns_sampler shadow;
};

#define STREAM_KEY 0x73747265616dull /* "stream" */

CNS_API cns_status cns_sampler_stream_create(const cns_sampler *s, uint64_t stream_id,
                                             const cns_allocator *alloc, cns_sampler_stream **out,
                                             cns_error *err) {
    static const char fn[] = "cns_sampler_stream_create";
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (s == NULL) return cns__fail(err, CNS_E_ARG, "%s: s is NULL", fn);
    if (s->desc.kind != CNS_SAMPLER_DIFFUSION)
        return cns__fail(err, CNS_E_UNSUPPORTED,
                         "%s: only a DIFFUSION sampler has a denoiser to share (give each thread "
                         "its own %s sampler)",
                         fn, s->desc.kind == CNS_SAMPLER_DNS ? "DNS" : "UNIFORM");
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "%s: allocator has a NULL function", fn);
    cns_sampler_stream *st = cns__calloc(&al, 1, sizeof *st);
    if (st == NULL) return cns__fail(err, CNS_E_NOMEM, "%s: out of memory", fn);
    st->parent = s;
    cns_sampler *sh = &st->shadow;
    sh->al = al;
    const cns__denoiser *pd = &s->den;
    cns__denoiser *v = &sh->den;
    /* weights and the fixed time embedding: the parent's, read only */
    v->d = pd->d, v->td = pd->td, v->hid = pd->hid, v->T = pd->T, v->n_params = pd->n_params;
    v->params = pd->params, v->Wt = pd->Wt, v->bt = pd->bt, v->W1 = pd->W1, v->b1 = pd->b1;
    v->W2 = pd->W2, v->b2 = pd->b2, v->tau = pd->tau;
    v->threads = 1;
    /* per-call scratch of the forward: the stream's own */
    const size_t T = (size_t)pd->T;
    v->et = cns__malloc(&al, T * (size_t)pd->td * sizeof(float));
    v->gt = cns__malloc(&al, T * (size_t)pd->hid * sizeof(float));
    v->t_used = cns__calloc(&al, T, 1);
    sh->levels = cns__calloc(&al, T, sizeof(int32_t));
    if (v->et == NULL || v->gt == NULL || v->t_used == NULL || sh->levels == NULL) {
        cns_sampler_stream_free(st);
        return cns__fail(err, CNS_E_NOMEM, "%s: out of memory", fn);
    }
    cns__rng_seed(&sh->rng_draw, s->desc.seed, cns__rng_key(STREAM_DRAW, STREAM_KEY, stream_id));
    *out = st;
    cns__ok(err);
    return CNS_OK;
}

CNS_API void cns_sampler_stream_free(cns_sampler_stream *st) {
    if (st == NULL) return;
    cns_sampler *sh = &st->shadow;
    cns__alloc al = sh->al;
    /* only what the stream allocated: never the parent's weights */
    free_draw(sh);
    cns__free(&al, sh->pack);
    cns__free(&al, sh->levels);
    cns__free(&al, sh->den.et);
    cns__free(&al, sh->den.gt);
    cns__free(&al, sh->den.t_used);
    cns__free(&al, sh->den.xin);
    cns__free(&al, sh->den.mask);
    cns__free(&al, sh->den.inv_norm);
    cns__free(&al, sh->den.h);
    cns__free(&al, sh->den.dh);
    cns__free(&al, st);
}

CNS_API const char *cns_sampler_stream_last_error(const cns_sampler_stream *st) {
    return st ? st->shadow.last_error : "the stream is NULL";
}

CNS_API cns_status cns_sampler_stream_draw_rows(cns_sampler_stream *st, int32_t dim,
                                                const float *user_emb, size_t user_stride,
                                                const float *pos_emb, size_t pos_stride,
                                                size_t n_rows, float *out_neg, size_t out_stride) {
    if (st == NULL) return CNS_E_ARG;
    const cns_sampler *p = st->parent;
    cns_sampler *sh = &st->shadow;
    /* The parent's tunables, schedule and shape, as they are now. */
    sh->desc = p->desc;
    sh->schedule = p->schedule, sh->reweight = p->reweight, sh->norm = p->norm;
    sh->sample_start = p->sample_start, sh->stride = p->stride, sh->num_steps = p->num_steps;
    sh->sampling_noise = p->sampling_noise, sh->mode = p->mode;
    sh->dns_candidates = p->dns_candidates, sh->threads = p->threads;
    sh->noise_scale = p->noise_scale, sh->noise_min = p->noise_min, sh->noise_max = p->noise_max;
    sh->causal_weight = p->causal_weight, sh->denoiser_lr = p->denoiser_lr;
    sh->dropout = p->dropout;
    /* §16: the parent's unit direction, read only (never freed by the
     * stream), and its tunables. */
    sh->direction = p->direction, sh->direction_norm = p->direction_norm;
    sh->direction_source = p->direction_source, sh->score_discount = p->score_discount;
    sh->sched = p->sched; /* its arrays are only read by a draw */
    sh->per_step = p->per_step;
    const cns_status rc = cns_sampler_draw_rows(sh, dim, user_emb, user_stride, pos_emb,
                                                pos_stride, n_rows, out_neg, out_stride);
    if (rc != CNS_OK && strncmp(sh->last_error, "cns_sampler_draw", 16) == 0) {
        /* name the call that was made: "cns_sampler_draw_rows: x" and
         * "cns_sampler_draw: x" become "cns_sampler_stream_draw_rows: x" */
        const char *colon = strstr(sh->last_error, ": ");
        char detail[CNS_ERROR_MESSAGE_SIZE];
        cns__msg_copy(detail, colon != NULL ? colon + 2 : sh->last_error);
        cns__msg(sh->last_error, rc, "cns_sampler_stream_draw_rows: %s", detail);
    }
    return rc;
}
