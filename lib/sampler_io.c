/* Sampler checkpoints (docs/CHECKPOINT.md, kind 2): the descriptor and the
 * tunables ('SHDR'), the denoiser's weights ('DNSR') and Adam state
 * ('DADM'), and the step counter and random streams ('SSTA'), so a loaded
 * sampler draws and trains exactly as the saved one would have. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "checkpoint.h"
#include "error.h"
#include "sampler_internal.h"

typedef unsigned long long ull;

#define TAG_SSTA CNS__TAG('S', 'S', 'T', 'A')

/* 'SHDR': descriptor, then one 16-byte record per saved tunable. */
enum {
    SH_KIND = 0,
    SH_DIM = 4,
    SH_STEPS = 8,
    SH_TIME_DIM = 12,
    SH_HIDDEN = 16,
    SH_RES0 = 20,
    SH_SEED = 24,
    SH_COUNT = 32,
    SH_RES1 = 36,
    SH_FIXED = 40,
    SH_RECORD = 16
};
#define TYPE_INT CNS__CKPT_TYPE_INT
#define TYPE_DOUBLE CNS__CKPT_TYPE_DOUBLE

/* Every tunable but CNS_SAMPLER_THREADS (a property of the process). The
 * first N_REQUIRED were in every file since the format began; the later
 * ones (the direction mode's, then the score discount) may be missing
 * from older files, which load with the handle's initial values for them
 * (score discount 0: the scores such a file's users ranked by). The direction itself is not
 * stored: CNS_DIRECTION_RANDOM recomputes it from the descriptor's seed. */
static const int k_saved[] = {
    CNS_SAMPLER_NOISE_SCHEDULE, CNS_SAMPLER_NOISE_SCALE,   CNS_SAMPLER_NOISE_MIN,
    CNS_SAMPLER_NOISE_MAX,      CNS_SAMPLER_REWEIGHT,      CNS_SAMPLER_CAUSAL_WEIGHT,
    CNS_SAMPLER_DENOISER_LR,    CNS_SAMPLER_NORM,          CNS_SAMPLER_DROPOUT,
    CNS_SAMPLER_SAMPLE_START,   CNS_SAMPLER_STRIDE,        CNS_SAMPLER_NUM_STEPS,
    CNS_SAMPLER_SAMPLING_NOISE, CNS_SAMPLER_MODE,          CNS_SAMPLER_DNS_CANDIDATES,
    CNS_SAMPLER_DIRECTION_NORM, CNS_SAMPLER_DIRECTION_SOURCE, CNS_SAMPLER_SCORE_DISCOUNT};
#define N_SAVED (sizeof k_saved / sizeof k_saved[0])
#define N_REQUIRED 15
#define SHDR_SIZE (SH_FIXED + SH_RECORD * N_SAVED)

/* 'SSTA': u64 train_steps, then the draw, train and pick streams. */
enum { RNG_S = 0, RNG_SPARE = 32, RNG_HAS_SPARE = 40, RNG_RES = 44, RNG_SIZE = 48 };
#define SSTA_SIZE (8 + 3 * RNG_SIZE)



/* Denoiser parameter count in u64 (the descriptor ranges keep it far
 * below 2^40, on any host). */
static uint64_t param_count(uint64_t d, uint64_t td, uint64_t hid) {
    return td * td + td + hid * (d + td) + hid + d * hid + d;
}

/* ---- save ------------------------------------------------------------------ */

/* The one save routine behind the file and the memory form. */
/* A cns__ckpt_save_fn. */
static cns_status sampler_save_to(void *handle, const cns__ckpt_sink *sink) {
    cns_sampler *s = handle;
    const int diffusion = s->desc.kind == CNS_SAMPLER_DIFFUSION;
    const size_t P = diffusion ? s->den.n_params : 0;
    if (diffusion) {
        const struct {
            const char *tag, *what;
            const float *x;
        } arrays[3] = {{"DNSR", "denoiser weight", s->den.params},
                       {"DADM", "Adam first moment", s->adam.m},
                       {"DADM", "Adam second moment", s->adam.v}};
        for (int a = 0; a < 3; ++a) {
            size_t k = cns__first_bad_float(arrays[a].x, P, 0);
            if (k < P)
                return cns__msg(s->last_error, CNS_E_NUMERIC,
                                "cannot save: section '%s' %s %zu is %g; nothing written",
                                arrays[a].tag, arrays[a].what, k, (double)arrays[a].x[k]);
        }
    }

    unsigned char hdr[SHDR_SIZE];
    memset(hdr, 0, sizeof hdr);
    cns__le32_put(hdr + SH_KIND, (uint32_t)s->desc.kind);
    cns__le32_put(hdr + SH_DIM, (uint32_t)s->desc.dim);
    cns__le32_put(hdr + SH_STEPS, (uint32_t)s->desc.steps);
    cns__le32_put(hdr + SH_TIME_DIM, (uint32_t)s->desc.time_dim);
    cns__le32_put(hdr + SH_HIDDEN, (uint32_t)s->desc.hidden);
    cns__le64_put(hdr + SH_SEED, s->desc.seed);
    cns__le32_put(hdr + SH_COUNT, (uint32_t)N_SAVED);
    for (size_t k = 0; k < N_SAVED; ++k) {
        unsigned char *r = hdr + SH_FIXED + SH_RECORD * k;
        int64_t iv;
        double dv;
        cns__le32_put(r, (uint32_t)k_saved[k]);
        /* The getter that answers tells the type: no second type table. */
        if (cns_sampler_get_int(s, k_saved[k], &iv) == CNS_OK) {
            cns__le32_put(r + 4, TYPE_INT);
            cns__le64_put(r + 8, (uint64_t)iv);
        } else if (cns_sampler_get_double(s, k_saved[k], &dv) == CNS_OK) {
            cns__le32_put(r + 4, TYPE_DOUBLE);
            cns__lef64_put(r + 8, dv);
        } else {
            return cns__msg(s->last_error, CNS_E_STATE, "sampler parameter %d has no getter",
                            k_saved[k]);
        }
    }

    unsigned char state[SSTA_SIZE];
    memset(state, 0, sizeof state);
    cns__le64_put(state, s->train_steps);
    const cns__rng *streams[3] = {&s->rng_draw, &s->rng_train, &s->rng_pick};
    for (int k = 0; k < 3; ++k) {
        unsigned char *r = state + 8 + RNG_SIZE * k;
        for (int w = 0; w < 4; ++w) cns__le64_put(r + RNG_S + 8 * w, streams[k]->s[w]);
        cns__lef64_put(r + RNG_SPARE, streams[k]->spare);
        cns__le32_put(r + RNG_HAS_SPARE, streams[k]->has_spare ? 1u : 0u);
    }

    /* 'DADM' is one payload: u64 step, then m, then v. */
    unsigned char *adam = NULL;
    size_t adam_bytes = 0;
    if (diffusion) {
        adam_bytes = 8 + 2 * P * sizeof(float); /* P < 2^30: cannot overflow */
        adam = cns__malloc(&s->al, adam_bytes);
        if (adam == NULL)
            return cns__msg(s->last_error, CNS_E_NOMEM,
                            "cannot allocate %zu bytes for the Adam section", adam_bytes);
        cns__le64_put(adam, s->adam.t);
        memcpy(adam + 8, s->adam.m, P * sizeof(float));
        memcpy(adam + 8 + P * sizeof(float), s->adam.v, P * sizeof(float));
    }
    const cns__ckpt_section sections[4] = {
        {CNS__TAG_SHDR, hdr, SHDR_SIZE},
        {TAG_SSTA, state, SSTA_SIZE},
        {CNS__TAG_DNSR, diffusion ? s->den.params : NULL, (uint64_t)P * sizeof(float)},
        {CNS__TAG_DADM, adam, adam_bytes},
    };
    /* The handle's message changes only on failure. */
    char msg[CNS_ERROR_MESSAGE_SIZE];
    cns_status st =
        cns__ckpt_emit(sink, CNS__CKPT_KIND_SAMPLER, sections, diffusion ? 4 : 2, &s->al, msg);
    cns__free(&s->al, adam);
    if (st != CNS_OK) cns__msg_copy(s->last_error, msg);
    return st;
}

cns_status cns__sampler_save_io(cns_sampler *s, const char *path, const cns__ckpt_io *io) {
    if (s == NULL) return CNS_E_ARG;
    return cns__ckpt_save_path("cns_sampler_save", s, s->last_error, sampler_save_to, path, io);
}

CNS_API cns_status cns_sampler_save(cns_sampler *s, const char *path) {
    return cns__sampler_save_io(s, path, NULL);
}

CNS_API cns_status cns_sampler_save_mem(cns_sampler *s, void *buf, size_t cap, size_t *size) {
    if (s == NULL) return CNS_E_ARG;
    return cns__ckpt_save_buffer("cns_sampler_save_mem", s, s->last_error, sampler_save_to, buf,
                                 cap, size);
}

/* ---- load ------------------------------------------------------------------ */

static int has_section(const cns__ckpt_file *f, uint32_t tag) {
    const void *p;
    cns_error scratch;
    return cns__ckpt_find(f, tag, UINT64_MAX, &p, NULL, &scratch) == CNS_OK;
}

/* Validates the file in place, then builds the sampler through
 * cns_sampler_create and the public setters. Every size and value check
 * runs before the first allocation; err gets the detail (no path). */
static cns_status sampler_from_file(const cns__ckpt_file *f, const cns_allocator *alloc,
                                    const cns__alloc *al, void *out, cns_error *err) {
    (void)al; /* cns_sampler_create checks alloc itself */
    const void *p;
    uint64_t size;
    cns_status st = cns__ckpt_find(f, CNS__TAG_SHDR, UINT64_MAX, &p, &size, err);
    if (st != CNS_OK) return st;
    const unsigned char *h = p;
    if (size < SH_FIXED || (size - SH_FIXED) % SH_RECORD != 0 ||
        cns__le32_get(h + SH_COUNT) != (size - SH_FIXED) / SH_RECORD)
        return cns__fail(err, CNS_E_CORRUPT,
                         "section 'SHDR' is %llu bytes: not 40 plus 16 per parameter record",
                         (ull)size);
    if (cns__le32_get(h + SH_RES0) != 0 || cns__le32_get(h + SH_RES1) != 0)
        return cns__fail(err, CNS_E_CORRUPT, "section 'SHDR': reserved fields are not zero");
    cns_sampler_desc desc;
    cns_sampler_desc_init(&desc);
    desc.kind = (int32_t)cns__le32_get(h + SH_KIND);
    desc.dim = (int32_t)cns__le32_get(h + SH_DIM);
    desc.steps = (int32_t)cns__le32_get(h + SH_STEPS);
    desc.time_dim = (int32_t)cns__le32_get(h + SH_TIME_DIM);
    desc.hidden = (int32_t)cns__le32_get(h + SH_HIDDEN);
    desc.seed = cns__le64_get(h + SH_SEED);
    /* The ranges of include/cnsdiff/sampler.h, needed here to size the
     * denoiser before cns_sampler_create (which checks them again). */
    if (desc.kind < CNS_SAMPLER_UNIFORM || desc.kind > CNS_SAMPLER_DIFFUSION ||
        desc.dim < 1 || desc.dim > 65536 || desc.steps < 2 || desc.steps > 1000 ||
        desc.time_dim < 2 || desc.time_dim > 4096 || desc.time_dim % 2 != 0 || desc.hidden < 1 ||
        desc.hidden > 4096)
        return cns__fail(err, CNS_E_CORRUPT,
                         "section 'SHDR': descriptor out of range (kind %d, dim %d, steps %d, "
                         "time_dim %d, hidden %d)",
                         (int)desc.kind, (int)desc.dim, (int)desc.steps, (int)desc.time_dim,
                         (int)desc.hidden);

    /* Parameter records: known ids, each saved tunable exactly once. */
    const uint32_t count = cns__le32_get(h + SH_COUNT);
    const unsigned char *rec[N_SAVED];
    cns_status pst = cns__ckpt_param_records(h + SH_FIXED, count, SH_RECORD, "SHDR",
                                             "sampler", cns_sampler_param_bounds, k_saved, N_SAVED,
                                             N_REQUIRED, rec, err);
    if (pst != CNS_OK) return pst;

    /* Step counter and random streams. */
    const unsigned char *sst;
    if ((st = cns__ckpt_find(f, TAG_SSTA, SSTA_SIZE, &p, NULL, err)) != CNS_OK) return st;
    sst = p;
    for (int k = 0; k < 3; ++k) {
        const unsigned char *r = sst + 8 + RNG_SIZE * k;
        uint64_t any = 0;
        for (int w = 0; w < 4; ++w) any |= cns__le64_get(r + RNG_S + 8 * w);
        const uint32_t spare = cns__le32_get(r + RNG_HAS_SPARE);
        /* xoshiro never reaches the all-zero state: it would stay there. */
        if (any == 0 || spare > 1 || cns__le32_get(r + RNG_RES) != 0 ||
            !isfinite(cns__lef64_get(r + RNG_SPARE)))
            return cns__fail(err, CNS_E_CORRUPT, "section 'SSTA': random stream %d is invalid", k);
    }

    /* The denoiser (DIFFUSION only): sizes from the descriptor, then values. */
    const int diffusion = desc.kind == CNS_SAMPLER_DIFFUSION;
    const uint64_t P =
        diffusion ? param_count((uint64_t)desc.dim, (uint64_t)desc.time_dim, (uint64_t)desc.hidden)
                  : 0;
    const float *weights = NULL, *am = NULL, *av = NULL;
    const unsigned char *adam = NULL;
    if (diffusion) {
        if ((st = cns__ckpt_find(f, CNS__TAG_DNSR, 4u * P, &p, NULL, err)) != CNS_OK) return st;
        weights = p;
        if ((st = cns__ckpt_find(f, CNS__TAG_DADM, 8u + 8u * P, &p, NULL, err)) != CNS_OK) return st;
        adam = p;
        am = (const float *)(const void *)(adam + 8);
        av = am + P;
        const struct {
            const char *tag, *what;
            const float *x;
            int nonneg;
        } arrays[3] = {{"DNSR", "weight", weights, 0},
                       {"DADM", "first moment", am, 0},
                       {"DADM", "second moment", av, 1}};
        for (int a = 0; a < 3; ++a) {
            size_t k = cns__first_bad_float(arrays[a].x, (size_t)P, arrays[a].nonneg);
            if (k < (size_t)P)
                return cns__fail(err, CNS_E_CORRUPT, "section '%s': %s %zu is %g", arrays[a].tag,
                                 arrays[a].what, k, (double)arrays[a].x[k]);
        }
    } else if (has_section(f, CNS__TAG_DNSR) || has_section(f, CNS__TAG_DADM)) {
        return cns__fail(err, CNS_E_CORRUPT,
                         "a %s sampler has no denoiser, but the file holds one",
                         desc.kind == CNS_SAMPLER_UNIFORM ? "UNIFORM" : "DNS");
    }

    cns_sampler *s;
    st = cns_sampler_create(&desc, alloc, &s, err);
    if (st != CNS_OK) {
        if (st != CNS_E_NOMEM) {
            st = CNS_E_CORRUPT;
            if (err != NULL) err->status = st;
        }
        return st;
    }
    if (diffusion && s->den.n_params != (size_t)P) {
        cns_sampler_free(s);
        return cns__fail(err, CNS_E_CORRUPT, "denoiser has %zu parameters, the file %llu",
                         s->den.n_params, (ull)P);
    }
    /* The schedule depends on four values at once: put them all in place,
     * then let every setter check its value against the complete set (a
     * one-by-one replay could pass through a degenerate schedule). */
    for (size_t k = 0; k < N_REQUIRED; ++k) {
        const unsigned char *v = rec[k] + 8;
        switch (k_saved[k]) {
        case CNS_SAMPLER_NOISE_SCHEDULE: s->schedule = (int64_t)cns__le64_get(v); break;
        case CNS_SAMPLER_NOISE_SCALE: s->noise_scale = cns__lef64_get(v); break;
        case CNS_SAMPLER_NOISE_MIN: s->noise_min = cns__lef64_get(v); break;
        case CNS_SAMPLER_NOISE_MAX: s->noise_max = cns__lef64_get(v); break;
        default: break;
        }
    }
    for (size_t k = 0; k < N_SAVED; ++k) {
        if (rec[k] == NULL) continue; /* an optional record an older file lacks */
        const unsigned char *v = rec[k] + 8;
        st = cns__le32_get(rec[k] + 4) == TYPE_INT
                 ? cns_sampler_set_int(s, k_saved[k], (int64_t)cns__le64_get(v))
                 : cns_sampler_set_double(s, k_saved[k], cns__lef64_get(v));
        if (st != CNS_OK) {
            cns__fail(err, CNS_E_CORRUPT, "section 'SHDR': %s", s->last_error);
            cns_sampler_free(s);
            return CNS_E_CORRUPT;
        }
    }
    if (diffusion) {
        memcpy(s->den.params, weights, (size_t)P * sizeof(float));
        memcpy(s->adam.m, am, (size_t)P * sizeof(float));
        memcpy(s->adam.v, av, (size_t)P * sizeof(float));
        s->adam.t = cns__le64_get(adam);
    }
    s->train_steps = cns__le64_get(sst);
    cns__rng *streams[3] = {&s->rng_draw, &s->rng_train, &s->rng_pick};
    for (int k = 0; k < 3; ++k) {
        const unsigned char *r = sst + 8 + RNG_SIZE * k;
        for (int w = 0; w < 4; ++w) streams[k]->s[w] = cns__le64_get(r + RNG_S + 8 * w);
        streams[k]->spare = cns__lef64_get(r + RNG_SPARE);
        streams[k]->has_spare = (int)cns__le32_get(r + RNG_HAS_SPARE);
    }
    s->last_error[0] = '\0';
    *(cns_sampler **)out = s;
    return CNS_OK;
}

CNS_API cns_status cns_sampler_load_mem(const void *buf, size_t size, const cns_allocator *alloc,
                                        cns_sampler **out, cns_error *err) {
    if (out != NULL) *out = NULL;
    const cns__ckpt_source src = {0, NULL, buf, size};
    return cns__ckpt_load("cns_sampler_load_mem", &src, CNS__CKPT_KIND_SAMPLER, alloc,
                          sampler_from_file, out, err);
}

CNS_API cns_status cns_sampler_load(const char *path, const cns_allocator *alloc,
                                    cns_sampler **out, cns_error *err) {
    if (out != NULL) *out = NULL;
    const cns__ckpt_source src = {1, path, NULL, 0};
    return cns__ckpt_load("cns_sampler_load", &src, CNS__CKPT_KIND_SAMPLER, alloc,
                          sampler_from_file, out, err);
}
