/* Loss checkpoints (docs/CHECKPOINT.md, kind 3): one section 'LHDR' with
 * the descriptor, the draw key (epoch and the computes since the last
 * cns_loss_set_epoch) and the tunables, so a loaded loss draws the lambdas
 * and the positive noise an uninterrupted one would have drawn. The draws
 * are keyed, not streamed (lib/loss.c): the key is the whole random state. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "checkpoint.h"
#include "error.h"
#include "loss_internal.h"

typedef unsigned long long ull;

/* 'LHDR': fixed part, then one 16-byte record per saved tunable (the
 * record layout of the sampler's 'SHDR'). */
enum {
    LH_DIM = 0,
    LH_RES0 = 4,
    LH_SEED = 8,
    LH_EPOCH = 16,
    LH_CALLS = 24,
    LH_COUNT = 32,
    LH_RES1 = 36,
    LH_FIXED = 40,
    LH_RECORD = 16
};
#define TYPE_INT CNS__CKPT_TYPE_INT
#define TYPE_DOUBLE CNS__CKPT_TYPE_DOUBLE
/* The widths cns_loss_create accepts (include/cnsdiff/loss.h). */
#define LOSS_DIM_MAX (1 << 20)

/* Every tunable but CNS_LOSS_THREADS (a property of the process, as the
 * model's and the sampler's thread counts). The first N_REQUIRED are
 * required: the format began with these. Those after them were appended
 * later: always written, optional on load (a file from before them keeps
 * the create default, which is what that library computed with). Writing
 * one makes older libraries answer CNS_E_VERSION (unknown parameter), as
 * the sampler does. The repel direction set with
 * cns_loss_set_repel_direction is not saved (include/cnsdiff/loss.h): a
 * loaded loss holds the direction seeded from its seed. */
static const int k_saved[] = {CNS_LOSS_CL_WEIGHT,  CNS_LOSS_TEMPERATURE, CNS_LOSS_POSITIVE_NOISE,
                              CNS_LOSS_ALPHA_START, CNS_LOSS_BETA_START,  CNS_LOSS_ALPHA_END,
                              CNS_LOSS_BETA_END,   CNS_LOSS_MIN_MIX,     CNS_LOSS_CURRICULUM_EPOCHS,
                              CNS_LOSS_MIXING,     CNS_LOSS_REPEL};
/* The record type each one must have (include/cnsdiff/loss.h): checked
 * before the handle exists, so a damaged file costs no allocation. */
static const uint32_t k_type[] = {TYPE_DOUBLE, TYPE_DOUBLE, TYPE_DOUBLE, TYPE_DOUBLE,
                                  TYPE_DOUBLE, TYPE_DOUBLE, TYPE_DOUBLE, TYPE_DOUBLE,
                                  TYPE_INT,    TYPE_INT,    TYPE_INT};
#define N_SAVED (sizeof k_saved / sizeof k_saved[0])
#define N_REQUIRED 10 /* CNS_LOSS_CL_WEIGHT .. CNS_LOSS_MIXING */
#define LHDR_SIZE (LH_FIXED + LH_RECORD * N_SAVED)

/* ---- save ------------------------------------------------------------------ */

/* A cns__ckpt_save_fn. */
static cns_status loss_save_to(void *handle, const cns__ckpt_sink *sink) {
    cns_loss *l = handle;
    char *msgbuf = cns__loss_msgbuf(l);
    const cns__loss_key key = cns__loss_key_get(l);
    unsigned char hdr[LHDR_SIZE];
    memset(hdr, 0, sizeof hdr);
    cns__le32_put(hdr + LH_DIM, (uint32_t)cns_loss_dim(l));
    cns__le64_put(hdr + LH_SEED, key.seed);
    cns__le64_put(hdr + LH_EPOCH, (uint64_t)key.epoch);
    cns__le64_put(hdr + LH_CALLS, key.calls);
    cns__le32_put(hdr + LH_COUNT, (uint32_t)N_SAVED);
    for (size_t k = 0; k < N_SAVED; ++k) {
        unsigned char *r = hdr + LH_FIXED + LH_RECORD * k;
        int64_t iv;
        double dv;
        cns__le32_put(r, (uint32_t)k_saved[k]);
        /* The getter that answers tells the type: no second type table. */
        if (cns_loss_get_int(l, k_saved[k], &iv) == CNS_OK) {
            cns__le32_put(r + 4, TYPE_INT);
            cns__le64_put(r + 8, (uint64_t)iv);
        } else if (cns_loss_get_double(l, k_saved[k], &dv) == CNS_OK) {
            cns__le32_put(r + 4, TYPE_DOUBLE);
            cns__lef64_put(r + 8, dv);
        } else {
            return cns__msg(msgbuf, CNS_E_STATE, "loss parameter %d has no getter", k_saved[k]);
        }
    }
    const cns__ckpt_section sections[1] = {{CNS__TAG_LHDR, hdr, LHDR_SIZE}};
    /* The handle's message changes only on failure. */
    char msg[CNS_ERROR_MESSAGE_SIZE];
    cns_status st = cns__ckpt_emit(sink, CNS__CKPT_KIND_LOSS, sections, 1, cns__loss_alloc(l), msg);
    if (st != CNS_OK) cns__msg_copy(msgbuf, msg);
    return st;
}

CNS_API cns_status cns_loss_save(cns_loss *l, const char *path) {
    if (l == NULL) return CNS_E_ARG;
    return cns__ckpt_save_path("cns_loss_save", l, cns__loss_msgbuf(l), loss_save_to, path, NULL);
}

CNS_API cns_status cns_loss_save_mem(cns_loss *l, void *buf, size_t cap, size_t *size) {
    if (l == NULL) return CNS_E_ARG;
    return cns__ckpt_save_buffer("cns_loss_save_mem", l, cns__loss_msgbuf(l), loss_save_to, buf,
                                 cap, size);
}

/* ---- load ------------------------------------------------------------------ */

/* Validates 'LHDR' in place, then builds the loss through cns_loss_create
 * and the public setters (which check every value against its bounds and
 * type once more). err gets the detail (no path). */
static cns_status loss_from_file(const cns__ckpt_file *f, const cns_allocator *alloc,
                                 const cns__alloc *al, void *out, cns_error *err) {
    (void)al; /* cns_loss_create checks alloc itself */
    const void *p;
    uint64_t size;
    cns_status st = cns__ckpt_find(f, CNS__TAG_LHDR, UINT64_MAX, &p, &size, err);
    if (st != CNS_OK) return st;
    const unsigned char *h = p;
    if (size < LH_FIXED || (size - LH_FIXED) % LH_RECORD != 0 ||
        cns__le32_get(h + LH_COUNT) != (size - LH_FIXED) / LH_RECORD)
        return cns__fail(err, CNS_E_CORRUPT,
                         "section 'LHDR' is %llu bytes: not 40 plus 16 per parameter record",
                         (ull)size);
    if (cns__le32_get(h + LH_RES0) != 0 || cns__le32_get(h + LH_RES1) != 0)
        return cns__fail(err, CNS_E_CORRUPT, "section 'LHDR': reserved fields are not zero");
    const uint32_t dim = cns__le32_get(h + LH_DIM);
    if (dim < 1 || dim > LOSS_DIM_MAX)
        return cns__fail(err, CNS_E_CORRUPT, "section 'LHDR': dim = %u is outside [1, %d]",
                         (unsigned)dim, LOSS_DIM_MAX);
    const uint64_t epoch = cns__le64_get(h + LH_EPOCH);
    if (epoch > (uint64_t)INT64_MAX)
        return cns__fail(err, CNS_E_CORRUPT, "section 'LHDR': epoch = %lld is negative",
                         (long long)(int64_t)epoch);

    /* Parameter records: known ids, each saved tunable exactly once. */
    const uint32_t count = cns__le32_get(h + LH_COUNT);
    const unsigned char *rec[N_SAVED];
    cns_status pst = cns__ckpt_param_records(h + LH_FIXED, count, LH_RECORD, "LHDR",
                                             "loss", cns_loss_param_bounds, k_saved, N_SAVED,
                                             N_REQUIRED, rec, err);
    if (pst != CNS_OK) return pst;

    /* Types, then every value against its bounds (integers also integral),
     * all before the handle is allocated. */
    int ids[N_SAVED];
    double vals[N_SAVED];
    size_t n_vals = 0;
    for (size_t k = 0; k < N_SAVED; ++k) {
        if (rec[k] == NULL) continue; /* an optional record of a newer format */
        const uint32_t type = cns__le32_get(rec[k] + 4);
        if (type != k_type[k])
            return cns__fail(err, CNS_E_CORRUPT,
                             "section 'LHDR': parameter %d is stored as %s, it is %s",
                             k_saved[k], type == TYPE_INT ? "an int" : "a double",
                             k_type[k] == TYPE_INT ? "an int" : "a double");
        ids[n_vals] = k_saved[k];
        /* An int out of the double range's exactness is out of bounds anyway. */
        vals[n_vals++] = type == TYPE_INT ? (double)(int64_t)cns__le64_get(rec[k] + 8)
                                          : cns__lef64_get(rec[k] + 8);
    }
    char msg[CNS_ERROR_MESSAGE_SIZE];
    st = cns__loss_apply_values(NULL, ids, vals, n_vals, 1, msg);
    if (st != CNS_OK) return cns__fail(err, CNS_E_CORRUPT, "section 'LHDR': %s", msg);

    cns_loss_desc desc;
    cns_loss_desc_init(&desc);
    desc.dim = (int32_t)dim;
    desc.seed = cns__le64_get(h + LH_SEED);
    cns_loss *l;
    st = cns_loss_create(&desc, alloc, &l, err);
    if (st != CNS_OK) {
        if (st != CNS_E_NOMEM) {
            st = CNS_E_CORRUPT;
            if (err != NULL) err->status = st;
        }
        return st;
    }
    st = cns__loss_apply_values(l, ids, vals, n_vals, 0, msg);
    if (st != CNS_OK) { /* unreachable: the same values passed the check above */
        cns__fail(err, CNS_E_CORRUPT, "section 'LHDR': %s", msg);
        cns_loss_free(l);
        return CNS_E_CORRUPT;
    }
    cns__loss_key_put(l, (int64_t)epoch, cns__le64_get(h + LH_CALLS));
    cns__loss_msgbuf(l)[0] = '\0';
    *(cns_loss **)out = l;
    return CNS_OK;
}

CNS_API cns_status cns_loss_load(const char *path, const cns_allocator *alloc, cns_loss **out,
                                 cns_error *err) {
    if (out != NULL) *out = NULL;
    const cns__ckpt_source src = {1, path, NULL, 0};
    return cns__ckpt_load("cns_loss_load", &src, CNS__CKPT_KIND_LOSS, alloc, loss_from_file, out,
                          err);
}

CNS_API cns_status cns_loss_load_mem(const void *buf, size_t size, const cns_allocator *alloc,
                                     cns_loss **out, cns_error *err) {
    if (out != NULL) *out = NULL;
    const cns__ckpt_source src = {0, NULL, buf, size};
    return cns__ckpt_load("cns_loss_load_mem", &src, CNS__CKPT_KIND_LOSS, alloc, loss_from_file,
                          out, err);
}
