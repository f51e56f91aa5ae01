/* The causal-regularised recommendation loss: the mixing curriculum
 * (ALGORITHM.md §8), BPR on the mixed negative and the contrastive term
 * against [h; e_neg] (§9), optionally with the fixed repel direction as
 * one more column of weight n (§19), with their gradients. */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "direction.h"
#include "error.h"
#include "parallel.h"
#include "params.h"
#include "loss_internal.h"
#include "preset_internal.h"
#include "rng.h"
#include "smallgemm.h"

#define LOSS_DIM_MAX (1 << 20)
/* Anchor rows per similarity block: the n x 2n matrix of §9 is never held
 * whole (2048 x 4096 floats would be 32 MiB), only CL_BLOCK x 2n of it. */
#define CL_BLOCK 256
/* The anchors are cut into CL_GROUPS fixed halves, each run in blocks of
 * CL_BLOCK / CL_GROUPS rows with its own scratch and its own partial
 * dL/dN: the halves may run on two threads, and the sums are the same
 * whatever the thread count (the partials are added in a fixed order). */
#define CL_GROUPS 2
#define CL_GBLOCK (CL_BLOCK / CL_GROUPS)
/* x / max(|x|, eps), as torch's F.normalize: a zero row stays finite. */
#define NORM_EPS 1e-12

/* The exp and max kernels in wide vectors where the CPU has them (the
 * library is built for generic x86-64). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* The block kernels: unknown-length loops vectorize only at -O3, and a
 * multiply-add contracts to an FMA only when asked (-std=c11 turns
 * contraction off); both are reassociations within one code path, so
 * results stay the same for any thread count. */
#define CNS__BLOCK_KERNEL                                                                     \
    __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3", "fp-contract=fast")))
#else
#define CNS__BLOCK_KERNEL
#endif

/* Draw purposes: separate streams, so turning the mixing off never shifts
 * the positive noise (and the reverse). */
enum { STREAM_LAMBDA = 1, STREAM_NOISE = 2 };

struct cns_loss {
    cns__alloc al;
    int32_t dim;
    uint64_t seed;
    double cl_weight, temperature, positive_noise;
    double alpha_start, beta_start, alpha_end, beta_end, min_mix;
    int64_t curriculum_epochs, mixing;
    int64_t repel;    /* CNS_LOSS_REPEL: the §19 column on or off */
    float *repel_dir; /* dim: the unit repel direction r̂ (seeded, or the host's) */
    int64_t threads; /* CNS_LOSS_THREADS: the contrastive term's worker threads */
    int64_t epoch;
    uint64_t calls; /* computes since the last set_epoch: keys the draws */
    double terms[4];
    const float *fixed_eps; /* test hook */
    int force_general;      /* test hook: never collapse identical h rows */
    int last_collapsed;     /* the last contrastive term took the collapsed path */
    size_t lam_n;           /* rows of lam from the last successful compute with h */
    /* Scratch for cap rows, one block, grown only when a batch is larger. */
    size_t cap;
    void *block;
    double *nrm; /* 4n: |pos|, |pos + s eps|, |h|, |neg| */
    float *lam;  /* n */
    float *eps;  /* n x d */
    float *A;    /* n x d  normalised anchors */
    float *P;    /* n x d  normalised positives */
    float *Nm;   /* (2n + 1) x d normalised negatives [r̂; h; neg] (see contrastive_term) */
    float *GA;   /* n x d  dL/dA (scaled by cl_weight) */
    float *GN;   /* n x d  dL/dN for the neg half */
    float *W;    /* CL_GROUPS x min(n, CL_GBLOCK) x (2n + 1): exp(S - shift), transposed */
    float *AT;   /* CL_GROUPS x d x CL_GBLOCK: a block of anchors, transposed */
    char last_error[CNS_ERROR_MESSAGE_SIZE];
};

/* ---- parameters ------------------------------------------------------ */

static const cns__param k_params[] = {
    {CNS_LOSS_CL_WEIGHT, 0, 0.0, 1e3, 0, 0, "CNS_LOSS_CL_WEIGHT"},
    {CNS_LOSS_TEMPERATURE, 0, 0.0, 1e3, 1, 0, "CNS_LOSS_TEMPERATURE"},
    {CNS_LOSS_POSITIVE_NOISE, 0, 0.0, 10.0, 0, 0, "CNS_LOSS_POSITIVE_NOISE"},
    {CNS_LOSS_ALPHA_START, 0, 0.0, 1e3, 1, 0, "CNS_LOSS_ALPHA_START"},
    {CNS_LOSS_BETA_START, 0, 0.0, 1e3, 1, 0, "CNS_LOSS_BETA_START"},
    {CNS_LOSS_ALPHA_END, 0, 0.0, 1e3, 1, 0, "CNS_LOSS_ALPHA_END"},
    {CNS_LOSS_BETA_END, 0, 0.0, 1e3, 1, 0, "CNS_LOSS_BETA_END"},
    {CNS_LOSS_MIN_MIX, 0, 0.0, 1.0, 0, 0, "CNS_LOSS_MIN_MIX"},
    {CNS_LOSS_CURRICULUM_EPOCHS, 1, 1.0, 1e6, 0, 0, "CNS_LOSS_CURRICULUM_EPOCHS"},
    {CNS_LOSS_MIXING, 1, 0.0, 1.0, 0, 0, "CNS_LOSS_MIXING"},
    {CNS_LOSS_REPEL, 1, 0.0, 1.0, 0, 0, "CNS_LOSS_REPEL"},
    {CNS_LOSS_THREADS, 1, 1.0, 256.0, 0, 0, "CNS_LOSS_THREADS"},
};
#define N_PARAMS (sizeof k_params / sizeof k_params[0])

/* Where the handle keeps a parameter: a double, or an int64_t for the
 * integer ones. */
static void *slot(cns_loss *l, int id) {
    switch (id) {
    case CNS_LOSS_CL_WEIGHT: return &l->cl_weight;
    case CNS_LOSS_TEMPERATURE: return &l->temperature;
    case CNS_LOSS_POSITIVE_NOISE: return &l->positive_noise;
    case CNS_LOSS_ALPHA_START: return &l->alpha_start;
    case CNS_LOSS_BETA_START: return &l->beta_start;
    case CNS_LOSS_ALPHA_END: return &l->alpha_end;
    case CNS_LOSS_BETA_END: return &l->beta_end;
    case CNS_LOSS_MIN_MIX: return &l->min_mix;
    case CNS_LOSS_CURRICULUM_EPOCHS: return &l->curriculum_epochs;
    case CNS_LOSS_MIXING: return &l->mixing;
    case CNS_LOSS_REPEL: return &l->repel;
    case CNS_LOSS_THREADS: return &l->threads;
    default: return NULL;
    }
}

CNS_API cns_status cns_loss_set_double(cns_loss *l, int param, double v) {
    if (l == NULL) return CNS_E_ARG;
    cns_status st = cns__param_check_double(k_params, N_PARAMS, "loss", param, v, l->last_error);
    if (st == CNS_OK) memcpy(slot(l, param), &v, sizeof v);
    return st;
}

CNS_API cns_status cns_loss_get_double(const cns_loss *l, int param, double *v) {
    if (l == NULL || v == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL || p->is_int) return CNS_E_PARAM;
    memcpy(v, slot((cns_loss *)l, param), sizeof *v);
    return CNS_OK;
}

CNS_API cns_status cns_loss_set_int(cns_loss *l, int param, int64_t v) {
    if (l == NULL) return CNS_E_ARG;
    cns_status st = cns__param_check_int(k_params, N_PARAMS, "loss", param, v, l->last_error);
    if (st == CNS_OK) memcpy(slot(l, param), &v, sizeof v);
    return st;
}

CNS_API cns_status cns_loss_get_int(const cns_loss *l, int param, int64_t *v) {
    if (l == NULL || v == NULL) return CNS_E_ARG;
    const cns__param *p = cns__param_find(k_params, N_PARAMS, param);
    if (p == NULL || !p->is_int) return CNS_E_PARAM;
    memcpy(v, slot((cns_loss *)l, param), sizeof *v);
    return CNS_OK;
}

cns_status cns__loss_apply_values(cns_loss *l, const int *ids, const double *vals, size_t n,
                                  int check_only, char *msg) {
    for (size_t k = 0; k < n; ++k) {
        if (ids[k] == CNS_LOSS_THREADS)
            return cns__msg(msg, CNS_E_PARAM, "CNS_LOSS_THREADS is not a preset value");
        cns_status st = cns__param_check_value(k_params, N_PARAMS, "loss", ids[k], vals[k], msg);
        if (st != CNS_OK) return st;
    }
    if (check_only) return CNS_OK;
    for (size_t k = 0; k < n; ++k) {
        const cns__param *p = cns__param_find(k_params, N_PARAMS, ids[k]);
        if (p->is_int) {
            const int64_t v = (int64_t)vals[k];
            memcpy(slot(l, ids[k]), &v, sizeof v);
        } else {
            memcpy(slot(l, ids[k]), &vals[k], sizeof vals[k]);
        }
    }
    return CNS_OK;
}

CNS_API cns_status cns_loss_param_bounds(int param, double *min, double *max) {
    if (min == NULL || max == NULL) return CNS_E_ARG;
    return cns__param_bounds(k_params, N_PARAMS, param, min, max);
}

CNS_API cns_status cns_loss_set_epoch(cns_loss *l, int64_t epoch) {
    if (l == NULL) return CNS_E_ARG;
    if (epoch < 0)
        return cns__msg(l->last_error, CNS_E_ARG, "cns_loss_set_epoch: epoch = %lld is negative",
                        (long long)epoch);
    l->epoch = epoch;
    /* Draws are keyed by (seed, epoch, batch of the epoch): a resumed run
     * that sets the epoch again repeats them exactly. */
    l->calls = 0;
    return CNS_OK;
}

CNS_API double cns_loss_term_value(const cns_loss *l, int term) {
    if (l == NULL || term < CNS_TERM_TOTAL || term > CNS_TERM_LAMBDA) return NAN;
    return l->terms[term];
}

CNS_API const char *cns_loss_last_error(const cns_loss *l) {
    return l ? l->last_error : "the loss handle is NULL";
}

/* ---- lifecycle ------------------------------------------------------- */

CNS_API void cns_loss_desc_init(cns_loss_desc *desc) {
    if (desc == NULL) return;
    memset(desc, 0, sizeof *desc);
    desc->struct_size = sizeof *desc;
    desc->dim = 64;
    desc->seed = 1;
}

CNS_API cns_status cns_loss_create(const cns_loss_desc *desc, const cns_allocator *alloc,
                                   cns_loss **out, cns_error *err) {
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "cns_loss_create: out is NULL");
    *out = NULL;
    cns_loss_desc d;
    cns_loss_desc_init(&d);
    if (desc != NULL) {
        size_t sz = desc->struct_size;
        if (sz < sizeof(size_t))
            return cns__fail(err, CNS_E_SIZE, "cns_loss_create: desc->struct_size = %zu is too small (call cns_loss_desc_init)", sz);
        /* A newer caller's extra fields are accepted only when left at zero. */
        for (size_t k = sizeof d; k < sz; ++k)
            if (((const unsigned char *)desc)[k] != 0)
                return cns__fail(err, CNS_E_SIZE,
                                 "cns_loss_create: desc->struct_size = %zu: fields beyond the %zu bytes this "
                                 "library knows are set",
                                 sz, sizeof d);
        memcpy(&d, desc, sz < sizeof d ? sz : sizeof d);
    }
    if (d.dim < 1 || d.dim > LOSS_DIM_MAX)
        return cns__fail(err, CNS_E_ARG, "cns_loss_create: desc->dim = %d is outside [1, %d]", (int)d.dim,
                         LOSS_DIM_MAX);
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "cns_loss_create: allocator has a NULL function");
    cns_loss *l = cns__calloc(&al, 1, sizeof *l);
    if (l == NULL) return cns__fail(err, CNS_E_NOMEM, "cns_loss_create: out of memory for the loss handle");
    l->al = al;
    l->dim = d.dim;
    l->seed = d.seed;
    l->threads = 1;
    /* r̂ of §19 is the direction mode's d for the same seed (§16). */
    l->repel_dir = cns__malloc(&al, (size_t)d.dim * sizeof *l->repel_dir);
    if (l->repel_dir == NULL) {
        cns__free(&al, l);
        return cns__fail(err, CNS_E_NOMEM, "out of memory for the repel direction (%d floats)",
                         (int)d.dim);
    }
    cns__direction_random(l->repel_dir, (size_t)d.dim, d.seed);
    /* The initial tunables are the default preset's (lib/preset.c). */
    int ids[CNS__PRESET_MAX_VALUES];
    double vals[CNS__PRESET_MAX_VALUES];
    size_t nv = 0;
    (void)cns__preset_values(CNS_PRESET_DEFAULT, CNS__PRESET_LOSS, ids, vals, &nv);
    cns_status st = cns__loss_apply_values(l, ids, vals, nv, 0, l->last_error);
    if (st != CNS_OK) { /* cannot happen with the library's tables; kept for safety */
        cns__fail(err, st, "default preset: %s", l->last_error);
        cns_loss_free(l);
        return st;
    }
    *out = l;
    cns__ok(err);
    return CNS_OK;
}

CNS_API void cns_loss_free(cns_loss *l) {
    if (l == NULL) return;
    cns__alloc al = l->al;
    cns__free(&al, l->block);
    cns__free(&al, l->repel_dir);
    cns__free(&al, l);
}

CNS_API cns_status cns_loss_set_repel_direction(cns_loss *l, const float *dir, size_t dim) {
    if (l == NULL) return CNS_E_ARG;
    const size_t d = (size_t)l->dim;
    if (dir == NULL) {
        if (dim != 0 && dim != d)
            return cns__msg(l->last_error, CNS_E_ARG,
                            "cns_loss_set_repel_direction: dir is NULL but dim = %zu (0 or %zu)",
                            dim, d);
        cns__direction_random(l->repel_dir, d, l->seed);
        return CNS_OK;
    }
    if (dim != d)
        return cns__msg(l->last_error, CNS_E_ARG,
                        "cns_loss_set_repel_direction: dim = %zu, the loss's dim is %zu", dim, d);
    double ss = 0.0;
    for (size_t k = 0; k < d; ++k) {
        if (!isfinite(dir[k]))
            return cns__msg(l->last_error, CNS_E_ARG,
                            "cns_loss_set_repel_direction: dir[%zu] = %g is not finite", k,
                            (double)dir[k]);
        ss += (double)dir[k] * (double)dir[k];
    }
    if (!(ss > 0.0) || !isfinite(ss))
        return cns__msg(l->last_error, CNS_E_ARG,
                        "cns_loss_set_repel_direction: |dir|^2 = %g: the direction needs a "
                        "finite, non-zero norm", ss);
    const double inv = 1.0 / sqrt(ss);
    for (size_t k = 0; k < d; ++k) l->repel_dir[k] = (float)((double)dir[k] * inv);
    return CNS_OK;
}

CNS_API cns_status cns_loss_get_repel_direction(const cns_loss *l, float *out, size_t dim) {
    /* Read-only, as the other getters: no message (l may be shared). */
    if (l == NULL || out == NULL) return CNS_E_ARG;
    if (dim != (size_t)l->dim) return CNS_E_ARG;
    memcpy(out, l->repel_dir, dim * sizeof *out);
    return CNS_OK;
}

void cns__loss_fix_noise(cns_loss *l, const float *eps) { l->fixed_eps = eps; }

void cns__loss_force_general(cns_loss *l, int on) { l->force_general = on != 0; }

cns__loss_key cns__loss_key_get(const cns_loss *l) {
    const cns__loss_key k = {l->seed, l->epoch, l->calls};
    return k;
}

void cns__loss_key_put(cns_loss *l, int64_t epoch, uint64_t calls) {
    l->epoch = epoch;
    l->calls = calls;
}

const cns__alloc *cns__loss_alloc(const cns_loss *l) { return &l->al; }

char *cns__loss_msgbuf(cns_loss *l) { return l->last_error; }

int cns__loss_last_collapsed(const cns_loss *l) { return l->last_collapsed; }

const float *cns__loss_lambdas(const cns_loss *l, size_t *n) {
    if (n) *n = l->lam_n;
    return l->lam_n ? l->lam : NULL;
}

/* ---- scratch --------------------------------------------------------- */

/* Adds count elements of elem bytes, rounded up to 64 bytes, to *total. */
static int add_segment(size_t *total, size_t count, size_t elem, size_t *offset) {
    size_t bytes;
    if (!cns__mul_ok(count, elem, &bytes) || bytes > SIZE_MAX - 64) return 0;
    bytes = (bytes + 63) & ~(size_t)63;
    if (*total > SIZE_MAX - bytes) return 0;
    *offset = *total;
    *total += bytes;
    return 1;
}

static cns_status ensure_scratch(cns_loss *l, size_t n) {
    if (n <= l->cap) return CNS_OK;
    const size_t d = (size_t)l->dim;
    const size_t blk = CL_GROUPS * (n < CL_GBLOCK ? n : CL_GBLOCK);
    size_t nd, n2d, wn, total = 0;
    /* [r̂; h; neg]: 2n + 1 rows of negatives, and as many columns of W */
    size_t o_nrm, o_lam, o_eps, o_A, o_P, o_N, o_GA, o_GN, o_W, o_AT;
    if (!cns__mul_ok(n, d, &nd) || !cns__mul_ok(2 * n + 1, d, &n2d) ||
        !cns__mul_ok(blk, 2 * n + 1, &wn) ||
        !add_segment(&total, d * CL_GROUPS, CL_GBLOCK * sizeof(float), &o_AT) ||
        !add_segment(&total, n, 4 * sizeof(double), &o_nrm) ||
        !add_segment(&total, n, sizeof(float), &o_lam) ||
        !add_segment(&total, nd, sizeof(float), &o_eps) ||
        !add_segment(&total, nd, sizeof(float), &o_A) ||
        !add_segment(&total, nd, sizeof(float), &o_P) ||
        !add_segment(&total, n2d, sizeof(float), &o_N) ||
        !add_segment(&total, nd, sizeof(float), &o_GA) ||
        !add_segment(&total, nd, sizeof(float), &o_GN) ||
        !add_segment(&total, wn, sizeof(float), &o_W))
        return cns__msg(l->last_error, CNS_E_ARG, "cns_loss_compute: n = %zu rows of dim %zu: sizes overflow", n, d);
    unsigned char *b = cns__malloc(&l->al, total);
    if (b == NULL)
        return cns__msg(l->last_error, CNS_E_NOMEM,
                        "cns_loss_compute: out of memory for the loss scratch of %zu rows (%zu bytes)", n, total);
    cns__free(&l->al, l->block);
    l->block = b;
    l->cap = n;
    l->lam_n = 0;
    l->nrm = (double *)(void *)(b + o_nrm);
    l->lam = (float *)(void *)(b + o_lam);
    l->eps = (float *)(void *)(b + o_eps);
    l->A = (float *)(void *)(b + o_A);
    l->P = (float *)(void *)(b + o_P);
    l->Nm = (float *)(void *)(b + o_N);
    l->GA = (float *)(void *)(b + o_GA);
    l->GN = (float *)(void *)(b + o_GN);
    l->W = (float *)(void *)(b + o_W);
    l->AT = (float *)(void *)(b + o_AT);
    return CNS_OK;
}

/* ---- kernels --------------------------------------------------------- */

/* log σ(x) = -softplus(-x); softplus(z) = max(z, 0) + log1p(exp(-|z|))
 * never overflows and keeps the tiny tail (x = 80 gives 1.8e-35, not 0). */
static double softplus(double z) { return (z > 0.0 ? z : 0.0) + log1p(exp(-fabs(z))); }

/* σ(z) without overflow for either sign. */
static double sigmoid(double z) {
    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* Independent partial sums: GCC at -O2 vectorizes fixed-width blocks
 * (SLP) but not reductions of unknown length, and one running sum is a
 * latency chain. */
#define LANES 16

static double dot_d(const float *restrict a, const float *restrict b, size_t d) {
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    size_t k = 0;
    for (; k + 4 <= d; k += 4)
        for (size_t j = 0; j < 4; ++j) acc[j] += (double)a[k + j] * (double)b[k + j];
    for (; k < d; ++k) acc[0] += (double)a[k] * (double)b[k];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* e^x for x <= 0 without a libm call or a branch, so a block of them
 * vectorizes: x = k ln2 + r, |r| <= ln2/2, degree-6 Taylor (relative
 * error < 2e-7), 2^k built in the exponent bits. Below -87 it returns
 * e^-87 ~ 1.6e-38, which no softmax row can notice next to its max, 1. */
static inline float exp_nonpos(float x) {
    /* A NaN or huge x (a temperature so small that the logits overflow)
     * must not reach the integer conversion below, which would be
     * undefined: such x compute on -87 and come back as NaN, which the
     * caller's finiteness check reports. Rounding can leave x a little
     * above 0; that still computes as before. The selects vectorize. */
    const int bad = !(x <= 80.0f); /* NaN, or far above the max it is shifted by */
    x = x >= -87.0f ? x : -87.0f;
    x = bad ? -87.0f : x;
    const float k = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* round(x / ln2) */
    float r = x - k * 0.693145752f;                               /* ln2, high part */
    r = r - k * 1.42860677e-6f;                                   /* ln2, low part */
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t)k + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return bad ? NAN : p * scale;
}

/* WT[c][i] = exp(WT[c][i] - shift[i]) over a 2n x m block (ld m), and
 * sum[i] = the column sums: column i is anchor row i's softmax row. */
CNS__BLOCK_KERNEL
static void exp_cols(float *restrict wt, size_t rows, size_t m, const float *restrict shift,
                     double *restrict sum, float *restrict part) {
    for (size_t i = 0; i < m; ++i) sum[i] = 0.0;
    for (size_t c0 = 0; c0 < rows; c0 += 256) {
        const size_t c1 = rows - c0 < 256 ? rows : c0 + 256;
        for (size_t i = 0; i < m; ++i) part[i] = 0.0f;
        for (size_t c = c0; c < c1; ++c) {
            float *restrict w = wt + c * m;
            for (size_t i = 0; i < m; ++i) {
                const float e = exp_nonpos(w[i] - shift[i]);
                w[i] = e;
                part[i] += e;
            }
        }
        /* float partials of 256 terms each, summed in double */
        for (size_t i = 0; i < m; ++i) sum[i] += part[i];
    }
}

/* shift[i] = max_c WT[c][i]: the fallback shift when 1/τ is too large. */
CNS__BLOCK_KERNEL
static void max_cols(const float *restrict wt, size_t rows, size_t m, float *restrict shift) {
    for (size_t i = 0; i < m; ++i) shift[i] = wt[i];
    for (size_t c = 1; c < rows; ++c) {
        const float *restrict w = wt + c * m;
        for (size_t i = 0; i < m; ++i) shift[i] = w[i] > shift[i] ? w[i] : shift[i];
    }
}

/* y = (x + s e) / max(|x + s e|, eps) (e may be NULL); returns the norm. */
static double normalize_row(const float *restrict x, const float *restrict e, float s,
                            float *restrict y, size_t d) {
    if (e != NULL)
        for (size_t k = 0; k < d; ++k) y[k] = x[k] + s * e[k];
    else
        memcpy(y, x, d * sizeof *y);
    double nrm = sqrt(dot_d(y, y, d));
    const float inv = (float)(1.0 / (nrm > NORM_EPS ? nrm : NORM_EPS));
    for (size_t k = 0; k < d; ++k) y[k] *= inv;
    return nrm;
}

/* acc += d/dx of y = x / max(|x|, eps) applied to g * gs:
 * (g - y <g, y>) / |x| on the sphere, g / eps inside the clamp. */
static void normalize_back(const float *restrict y, const float *restrict g, float gs, double nrm,
                           float *restrict acc, size_t d) {
    if (nrm > NORM_EPS) {
        const float gy = (float)dot_d(g, y, d);
        const float c = (float)(gs / nrm);
        for (size_t k = 0; k < d; ++k) acc[k] += c * (g[k] - y[k] * gy);
    } else {
        const float c = (float)(gs / NORM_EPS);
        for (size_t k = 0; k < d; ++k) acc[k] += c * g[k];
    }
}

/* Index of the first non-finite value, or count when all are finite. */
static size_t first_nonfinite(const float *x, size_t count) {
    float probe[LANES] = {0.0f}; /* x * 0 is NaN exactly for NaN and Inf */
    size_t k = 0;
    for (; k + LANES <= count; k += LANES)
        for (size_t j = 0; j < LANES; ++j) probe[j] += x[k + j] * 0.0f;
    for (; k < count; ++k) probe[0] += x[k] * 0.0f;
    int clean = 1;
    for (size_t j = 0; j < LANES; ++j) clean &= probe[j] == 0.0f;
    if (clean) return count;
    for (size_t i = 0; i < count; ++i)
        if (!isfinite(x[i])) return i;
    return count;
}

/* A batch's rows as the compute reads and writes them: row b of x starts
 * at x + b * sx (strides in floats, >= dim). */
typedef struct loss_io {
    const float *u, *pos, *neg, *synth;
    size_t su, sp, sn, sh;
    float *gu, *gp, *gn;
    size_t sgu, sgp, sgn;
} loss_io;

/* Per-row λ of §8: the caller's, 0 without mixing, or Beta(α_e, β_e)
 * drawn from the stream (seed, epoch, call) and lifted by min_mix. */
static void mixing_weights(cns_loss *l, const float *lambda, size_t n, uint64_t call) {
    if (lambda != NULL) {
        memcpy(l->lam, lambda, n * sizeof *l->lam);
        return;
    }
    if (!l->mixing) {
        memset(l->lam, 0, n * sizeof *l->lam);
        return;
    }
    double p = (double)l->epoch / (double)l->curriculum_epochs;
    if (p > 1.0) p = 1.0;
    const double a = l->alpha_start + (l->alpha_end - l->alpha_start) * p;
    const double b = l->beta_start + (l->beta_end - l->beta_start) * p;
    const double m = l->min_mix;
    cns__rng r;
    cns__rng_seed(&r, l->seed, cns__rng_key(STREAM_LAMBDA, (uint64_t)l->epoch, call));
    for (size_t i = 0; i < n; ++i) {
        double x = (1.0 - m) * cns__rng_beta(&r, a, b) + m;
        l->lam[i] = (float)(x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x);
    }
}

/* BPR of §9 on n = λ h + (1 - λ) e_neg (plain e_neg without h); writes
 * (overwrites) the three gradients. dL/dx_b = -σ(-x_b) gscale, with
 * gscale = 1 / B for the batch mean, 1 for the per-row (summed) form. */
static cns_status bpr_term(cns_loss *l, const loss_io *io, const float *lam, size_t n,
                           double gscale, double *out) {
    const size_t d = (size_t)l->dim;
    const float *h = io->synth;
    double sum = 0.0;
    for (size_t b = 0; b < n; ++b) {
        const float *restrict ub = io->u + b * io->su, *restrict pb = io->pos + b * io->sp;
        const float *restrict jb = io->neg + b * io->sn;
        const float *restrict hb = h ? h + b * io->sh : jb;
        const float lb = h ? lam[b] : 0.0f, ml = 1.0f - lb;
        float *restrict gu = io->gu + b * io->sgu, *restrict gp = io->gp + b * io->sgp;
        float *restrict gn = io->gn + b * io->sgn;
        /* gu holds pos - n for the moment: the score and grad_u share it. */
        for (size_t k = 0; k < d; ++k) gu[k] = pb[k] - (lb * hb[k] + ml * jb[k]);
        const double x = dot_d(ub, gu, d);
        if (!isfinite(x))
            return cns__msg(l->last_error, CNS_E_NUMERIC,
                            "cns_loss_compute: BPR term: row %zu: the score <u, pos - neg> is %g", b, x);
        sum += softplus(-x);
        const float c = (float)(-sigmoid(-x) * gscale);
        const float cn = -c * ml; /* the negative's share; h's share is dropped */
        for (size_t k = 0; k < d; ++k) {
            gu[k] *= c;
            gp[k] = c * ub[k];
            gn[k] = cn * ub[k];
        }
    }
    *out = sum / (double)n;
    return CNS_OK;
}

typedef struct cl_job {
    cns_loss *l;
    size_t n, d;
    /* The softmax's negatives: n2 rows of l->Nm from Nm on; the first nw
     * of them each stand for n equal columns (weight n: the repel column
     * r̂ of §19, a collapsed h of §16), and the neg rows start at noff. */
    const float *Nm;
    size_t n2, noff, nw;
    double tau;
    float scale;
    float *gn[CL_GROUPS]; /* each half's partial dL/dN_neg */
    double lse[CL_GROUPS];
    size_t bad[CL_GROUPS]; /* first row with a non-finite logsumexp, or n */
} cl_job;

/* One half of the anchors, in blocks of CL_GBLOCK rows: the similarities
 * (transposed: column i is anchor i's row of §9), their exp and sums, then
 * dL/dA for the block and the half's dL/dN_neg. */
static void cl_group(void *arg, size_t g0, size_t g1, int worker) {
    (void)worker;
    cl_job *j = arg;
    cns_loss *l = j->l;
    const size_t n = j->n, d = j->d;
    const float *A = l->A;
    const size_t n2 = j->n2, noff = j->noff, nw = j->nw;
    const float *Nm = j->Nm;
    /* Rows of A and N are unit (or zero) vectors, so every similarity is
     * within 1/τ of 0 (up to rounding): 1/τ serves as the shift, saving a
     * pass over the block. When exp(-2/τ) would underflow the max is used. */
    const int bounded = 2.0 / j->tau <= 80.0;
    const float inv_tau = (float)(1.0 / j->tau);
    float shift[CL_GBLOCK], part[CL_GBLOCK];
    double sum[CL_GBLOCK];
    for (size_t g = g0; g < g1; ++g) {
        const size_t r0 = n * g / CL_GROUPS, r1 = n * (g + 1) / CL_GROUPS;
        const size_t cap = n < CL_GBLOCK ? n : CL_GBLOCK;
        float *W = l->W + g * cap * n2, *AT = l->AT + g * d * CL_GBLOCK;
        float *GN = j->gn[g];
        double lse_sum = 0.0;
        j->bad[g] = n;
        if (r0 == r1) memset(GN, 0, n * d * sizeof *GN);
        for (size_t b0 = r0; b0 < r1; b0 += CL_GBLOCK) {
            const size_t m = r1 - b0 < CL_GBLOCK ? r1 - b0 : CL_GBLOCK;
            for (size_t i = 0; i < m; ++i)
                for (size_t k = 0; k < d; ++k) AT[k * m + i] = A[(b0 + i) * d + k];
            /* W^T = N A_blk^T / τ  (2n x m) */
            cns__small_gemm(0, n2, m, d, inv_tau, Nm, d, AT, m, 0.0f, W, m);
            if (bounded)
                for (size_t i = 0; i < m; ++i) shift[i] = inv_tau;
            else
                max_cols(W, n2, m, shift);
            exp_cols(W, n2, m, shift, sum, part);
            if (n > 1)
                /* each weighted column as n equal ones (§16, §19): the sums
                 * and the gradients' weights count it n times */
                for (size_t c = 0; c < nw; ++c)
                    for (size_t i = 0; i < m; ++i) {
                        sum[i] += (double)(n - 1) * (double)W[c * m + i];
                        W[c * m + i] *= (float)n;
                    }
            float *ga = l->GA + b0 * d;
            for (size_t i = 0; i < m; ++i) {
                const double lse = (double)shift[i] + log(sum[i]);
                if (!isfinite(lse) || !(sum[i] > 0.0)) {
                    if (j->bad[g] == n) j->bad[g] = b0 + i;
                    sum[i] = 1.0;
                }
                lse_sum += lse;
                /* the softmax's 1/sum on the m x d side: A' = A diag(scale/sum) */
                const float c = (float)(j->scale / sum[i]);
                part[i] = c;
                for (size_t k = 0; k < d; ++k) ga[i * d + k] = c * A[(b0 + i) * d + k];
            }
            /* dL/dN_neg += W[:, B:]^T A'  (W^T's last n rows) */
            cns__small_gemm(0, n, d, m, 1.0f, W + noff * m, m, ga, d, b0 == r0 ? 0.0f : 1.0f, GN, d);
            /* dL/dA = diag(scale/sum) W N */
            cns__small_gemm(1, m, d, n2, 1.0f, W, m, Nm, d, 0.0f, ga, d);
            for (size_t i = 0; i < m; ++i)
                for (size_t k = 0; k < d; ++k) ga[i * d + k] *= part[i];
        }
        j->lse[g] = lse_sum;
    }
}

/* The contrastive term's row-wise passes, split over the loss's threads:
 * every row is computed the same way whichever worker takes it. */
#define ROWS_CHUNK 128
typedef struct rows_job {
    cns_loss *l;
    const float *pos, *neg, *h, *eps;
    float *grad_pos, *grad_neg;
    size_t n, d;
    size_t sp, sn, sh, sgp, sgn; /* row strides of pos, neg, h, grad_pos, grad_neg */
    float s;     /* positive_noise */
    float scale; /* cl_weight / (n tau), for the backward pass */
} rows_job;

/* A, P, N = the normalised rows of §9 and their norms. */
static void normalize_range(void *arg, size_t b0, size_t b1, int worker) {
    (void)worker;
    const rows_job *j = arg;
    cns_loss *l = j->l;
    const size_t n = j->n, d = j->d;
    double *na = l->nrm, *np = na + n, *nN = np + n;
    for (size_t b = b0; b < b1; ++b) {
        const float *pb = j->pos + b * j->sp;
        na[b] = normalize_row(pb, NULL, 0.0f, l->A + b * d, d);
        np[b] = normalize_row(pb, j->eps ? j->eps + b * d : NULL, j->s, l->P + b * d, d);
        /* row 0 of Nm is the repel slot, h rows follow (none without h) */
        nN[b] = j->h ? normalize_row(j->h + b * j->sh, NULL, 0.0f, l->Nm + (1 + b) * d, d) : 1.0;
        nN[n + b] = normalize_row(j->neg + b * j->sn, NULL, 0.0f, l->Nm + (n + 1 + b) * d, d);
    }
}

/* GN = the two halves' partial dL/dN summed, then every row's gradient
 * back through its normalisation into grad_pos and grad_neg. */
static void backward_range(void *arg, size_t b0, size_t b1, int worker) {
    (void)worker;
    const rows_job *j = arg;
    cns_loss *l = j->l;
    const size_t n = j->n, d = j->d;
    const double *na = l->nrm, *np = na + n, *nN = np + n;
    const float scale = j->scale;
    for (size_t b = b0; b < b1; ++b) {
        const float *restrict a = l->A + b * d, *restrict p = l->P + b * d;
        float *restrict ga = l->GA + b * d, *restrict gn = l->GN + b * d;
        const float *restrict g1 = l->eps + b * d; /* the second half's partial */
        for (size_t k = 0; k < d; ++k) gn[k] += g1[k];
        /* The positive pair: dL/dA -= p / (B τ), dL/dP = -a / (B τ). */
        for (size_t k = 0; k < d; ++k) ga[k] -= scale * p[k];
        normalize_back(a, ga, 1.0f, na[b], j->grad_pos + b * j->sgp, d);
        normalize_back(p, a, -scale, np[b], j->grad_pos + b * j->sgp, d);
        normalize_back(l->Nm + (n + 1 + b) * d, gn, 1.0f, nN[n + b], j->grad_neg + b * j->sgn, d);
    }
}

/* Contrastive term of §9; adds cl_weight * dL_cl/d(pos, neg) into the
 * gradients (times n in the per-row form, gscale = 1). Similarities
 * through sgemm in blocks of anchor rows. io->synth may be NULL when the
 * repel column is on (§19: [r̂; neg] only). */
static cns_status contrastive_term(cns_loss *l, const loss_io *io, size_t n, uint64_t call,
                                   double gscale, double *out) {
    const size_t d = (size_t)l->dim;
    const double tau = l->temperature;
    const float s = (float)l->positive_noise;
    double *na = l->nrm, *np = na + n, *nN = np + n;
    const float *A = l->A, *P = l->P;
    float *GN = l->GN;

    const float *eps = NULL;
    if (s != 0.0f) {
        eps = l->fixed_eps;
        if (eps == NULL) {
            cns__rng r;
            cns__rng_seed(&r, l->seed, cns__rng_key(STREAM_NOISE, (uint64_t)l->epoch, call));
            cns__rng_normal_fill(&r, l->eps, n * d, 1.0f);
            eps = l->eps;
        }
    }
    rows_job rj = {l,  io->pos, io->neg, io->synth, eps,     io->gp,  io->gn, n,
                   d,  io->sp,  io->sn,  io->sh,    io->sgp, io->sgn, s,      0.0f};
    cns__parallel_for((int)l->threads, n, ROWS_CHUNK, normalize_range, &rj);
    for (size_t b = 0; b < n; ++b) {
        if (!isfinite(na[b] + np[b] + nN[b] + nN[n + b]))
            return cns__msg(l->last_error, CNS_E_NUMERIC,
                            "cns_loss_compute: contrastive term: row %zu: the norm of %s is not finite", b,
                            !isfinite(na[b])   ? "pos"
                            : !isfinite(np[b]) ? "pos + noise"
                            : !isfinite(nN[b]) ? "synth"
                                               : "neg");
    }

    double pos_sum = 0.0, lse_sum = 0.0;
    for (size_t b = 0; b < n; ++b) pos_sum += dot_d(A + b * d, P + b * d, d);

    /* cl_weight folded into the softmax weights' scale: GA, GN come out
     * already weighted. */
    const float scale = (float)(l->cl_weight * gscale / tau);
    /* Rows that are all the same h (CNS_MODE_DIRECTION draws them so) make
     * n equal columns of every softmax row: they collapse to one column of
     * weight n, log(n e^{<a, ĉ>/τ} + Σ_j e^{<a, n_j>/τ}), which drops the h
     * half of the O(n² dim) products. One pass of memcmp finds out. */
    int collapsed = io->synth != NULL && !l->force_general;
    for (size_t b = 1; b < n && collapsed; ++b)
        collapsed = memcmp(io->synth + b * io->sh, io->synth, d * sizeof *io->synth) == 0;
    l->last_collapsed = collapsed;
    /* The softmax's negatives, contiguous in Nm = [slot; h_1..h_n; neg]:
     *   general h        [h; neg]          from row 1, 2n rows
     *   general h, r̂     [r̂; h; neg]       from row 0, 2n + 1 rows
     *   collapsed h      [ĉ; neg]          from row n (the last h row)
     *   collapsed h, r̂   [r̂; ĉ; neg]       from row n - 1 (an equal h row,
     *                                       or the slot when n = 1)
     *   no h, r̂          [r̂; neg]          from row n
     * r̂ (§19) and a collapsed ĉ are the leading columns of weight n; r̂
     * costs O(n dim) per compute, whatever the rest. */
    const int repel = l->repel != 0;
    size_t first, n2, nw;
    if (io->synth == NULL) {
        first = n, n2 = n + 1, nw = 1;
    } else if (collapsed) {
        first = repel ? n - 1 : n, n2 = n + 1 + (size_t)repel, nw = 1 + (size_t)repel;
    } else {
        first = repel ? 0 : 1, n2 = 2 * n + (size_t)repel, nw = (size_t)repel;
    }
    if (repel) normalize_row(l->repel_dir, NULL, 0.0f, l->Nm + first * d, d);
    /* The second half's partial dL/dN goes to the noise rows, free now. */
    cl_job job = {l,     n, d, l->Nm + first * d, n2, n2 - n, nw, tau, scale, {GN, l->eps},
                  {0.0, 0.0}, {n, n}};
    /* The two halves are fixed (CL_GROUPS), so the result does not depend
     * on the thread count. */
    cns__parallel_for((int)l->threads, CL_GROUPS, 1, cl_group, &job);
    size_t bad = job.bad[0] < job.bad[1] ? job.bad[0] : job.bad[1];
    if (bad < n)
        return cns__msg(l->last_error, CNS_E_NUMERIC, "cns_loss_compute: contrastive term: row %zu: logsumexp is not finite",
                        bad);
    lse_sum = job.lse[0] + job.lse[1];
    rj.scale = scale;
    cns__parallel_for((int)l->threads, n, ROWS_CHUNK, backward_range, &rj);
    *out = (lse_sum - pos_sum / tau) / (double)n;
    return CNS_OK;
}

/* ---- compute --------------------------------------------------------- */

/* Index of the first row of n (stride st, width d) holding a non-finite
 * value, or n. */
static size_t first_bad_row(const float *x, size_t n, size_t st, size_t d) {
    if (st == d) {
        size_t nd = n * d, at = first_nonfinite(x, nd);
        return at < nd ? at / d : n;
    }
    for (size_t b = 0; b < n; ++b)
        if (first_nonfinite(x + b * st, d) < d) return b;
    return n;
}

/* The compute behind cns_loss_compute and cns_loss_compute_rows: io is
 * complete and checked for NULLs; fn names the public call for messages. */
static cns_status compute(cns_loss *l, const char *fn, const loss_io *io, const float *lambda,
                          size_t n, int per_row, float *lambda_out, double *loss) {
    if (n == 0) return cns__msg(l->last_error, CNS_E_ARG, "%s: n = 0: the batch has no rows", fn);
    const size_t d = (size_t)l->dim;
    size_t nd;
    if (n > (size_t)INT_MAX / 2 || !cns__mul_ok(n, d, &nd))
        return cns__msg(l->last_error, CNS_E_ARG, "%s: n = %zu rows is too many", fn, n);
    const float *synth = io->synth;
    if (synth != NULL && lambda != NULL)
        for (size_t b = 0; b < n; ++b)
            if (!(lambda[b] >= 0.0f && lambda[b] <= 1.0f))
                return cns__msg(l->last_error, CNS_E_ARG, "%s: lambda[%zu] = %g is outside [0, 1]",
                                fn, b, (double)lambda[b]);
    const int contrast = (synth != NULL || l->repel) && l->cl_weight > 0.0;
    if (synth != NULL || contrast) {
        cns_status st = ensure_scratch(l, n);
        if (st != CNS_OK) return st;
        if (synth != NULL) l->lam_n = 0;
    }
    const uint64_t call = l->calls++;
    /* The per-row form is the gradient of the batch's sum, n times the
     * mean's: computed with the 1/n left out, not multiplied back in. */
    const double gscale = per_row ? 1.0 : 1.0 / (double)n;

    double lam_mean = 0.0;
    if (synth != NULL) {
        mixing_weights(l, lambda, n, call);
        for (size_t b = 0; b < n; ++b) lam_mean += l->lam[b];
        lam_mean /= (double)n;
    }
    double bpr = 0.0, cl = 0.0;
    cns_status st = bpr_term(l, io, l->lam, n, gscale, &bpr);
    if (st != CNS_OK) return st;
    if (contrast) {
        st = contrastive_term(l, io, n, call, gscale, &cl);
        if (st != CNS_OK) return st;
    }
    const double total = bpr + l->cl_weight * cl;
    if (!isfinite(total))
        return cns__msg(l->last_error, CNS_E_NUMERIC,
                        "%s: total loss is %g (BPR %g, contrastive %g)", fn, total, bpr, cl);
    float *const grads[3] = {io->gu, io->gp, io->gn};
    const size_t strides[3] = {io->sgu, io->sgp, io->sgn};
    static const char *const names[3] = {"u", "pos", "neg"};
    for (int g = 0; g < 3; ++g) {
        size_t at = first_bad_row(grads[g], n, strides[g], d);
        if (at < n)
            return cns__msg(l->last_error, CNS_E_NUMERIC,
                            "%s: %s: gradient of %s, row %zu is not finite", fn,
                            g == 0 ? "BPR term" : "BPR or contrastive term", names[g], at);
    }
    l->terms[CNS_TERM_TOTAL] = total;
    l->terms[CNS_TERM_BPR] = bpr;
    l->terms[CNS_TERM_CL] = cl;
    l->terms[CNS_TERM_LAMBDA] = lam_mean;
    if (synth != NULL) l->lam_n = n;
    if (lambda_out != NULL) {
        if (synth != NULL)
            memcpy(lambda_out, l->lam, n * sizeof *lambda_out);
        else
            memset(lambda_out, 0, n * sizeof *lambda_out);
    }
    if (loss != NULL) *loss = total;
    return CNS_OK;
}

CNS_API cns_status cns_loss_compute(cns_loss *l, const float *u, const float *pos,
                                    const float *neg, const float *synth, const float *lambda,
                                    size_t n, float *grad_u, float *grad_pos, float *grad_neg,
                                    double *loss) {
    if (l == NULL) return CNS_E_ARG;
    const char *missing = u == NULL          ? "u"
                          : pos == NULL      ? "pos"
                          : neg == NULL      ? "neg"
                          : grad_u == NULL   ? "grad_u"
                          : grad_pos == NULL ? "grad_pos"
                          : grad_neg == NULL ? "grad_neg"
                                             : NULL;
    if (missing != NULL)
        return cns__msg(l->last_error, CNS_E_ARG, "cns_loss_compute: %s is NULL", missing);
    const size_t d = (size_t)l->dim;
    const loss_io io = {u, pos, neg, synth, d, d, d, d, grad_u, grad_pos, grad_neg, d, d, d};
    return compute(l, "cns_loss_compute", &io, lambda, n, 0, NULL, loss);
}

CNS_API void cns_loss_rows_init(cns_loss_rows *rows) {
    if (rows == NULL) return;
    memset(rows, 0, sizeof *rows);
    rows->struct_size = sizeof *rows;
}

CNS_API int32_t cns_loss_dim(const cns_loss *l) { return l ? l->dim : 0; }

/* A stride of 0 means packed rows; a smaller one than the width would make
 * rows overlap. */
static int resolve_stride(size_t *st, size_t d) {
    if (*st == 0) *st = d;
    return *st >= d;
}

CNS_API cns_status cns_loss_compute_rows(cns_loss *l, const cns_loss_rows *rows, double *loss) {
    static const char fn[] = "cns_loss_compute_rows";
    if (l == NULL) return CNS_E_ARG;
    if (rows == NULL) return cns__msg(l->last_error, CNS_E_ARG, "%s: rows is NULL", fn);
    /* Every version of the struct has the fields up to lambda_out. */
    if (rows->struct_size < offsetof(cns_loss_rows, lambda_out) + sizeof(float *) ||
        rows->struct_size > 65536)
        return cns__msg(l->last_error, CNS_E_SIZE,
                        "%s: rows->struct_size = %zu (use cns_loss_rows_init)", fn,
                        rows->struct_size);
    cns_loss_rows r;
    cns_loss_rows_init(&r);
    memcpy(&r, rows, rows->struct_size < sizeof r ? rows->struct_size : sizeof r);
    if (r.dim != l->dim)
        return cns__msg(l->last_error, CNS_E_SIZE,
                        "%s: rows->dim = %d but the loss was created with dim %d", fn, (int)r.dim,
                        (int)l->dim);
    const char *missing = r.u == NULL          ? "u"
                          : r.pos == NULL      ? "pos"
                          : r.neg == NULL      ? "neg"
                          : r.grad_u == NULL   ? "grad_u"
                          : r.grad_pos == NULL ? "grad_pos"
                          : r.grad_neg == NULL ? "grad_neg"
                                               : NULL;
    if (missing != NULL) return cns__msg(l->last_error, CNS_E_ARG, "%s: rows->%s is NULL", fn, missing);
    if (r.per_row != 0 && r.per_row != 1)
        return cns__msg(l->last_error, CNS_E_ARG, "%s: rows->per_row = %d is not 0 or 1", fn,
                        (int)r.per_row);
    const size_t d = (size_t)l->dim;
    size_t *st[7] = {&r.u_stride,      &r.pos_stride,      &r.neg_stride,     &r.synth_stride,
                     &r.grad_u_stride, &r.grad_pos_stride, &r.grad_neg_stride};
    static const char *const sn[7] = {"u_stride",      "pos_stride",      "neg_stride",
                                      "synth_stride",  "grad_u_stride",   "grad_pos_stride",
                                      "grad_neg_stride"};
    for (int k = 0; k < 7; ++k)
        if (!resolve_stride(st[k], d))
            return cns__msg(l->last_error, CNS_E_SIZE,
                            "%s: rows->%s = %zu is smaller than the row width %zu", fn, sn[k],
                            *st[k], d);
    /* The last row's end must be addressable: (n - 1) stride + d. */
    size_t span;
    for (int k = 0; k < 7; ++k)
        if (r.n > 0 && (!cns__mul_ok(r.n - 1, *st[k], &span) || span > SIZE_MAX / sizeof(float) - d))
            return cns__msg(l->last_error, CNS_E_ARG, "%s: n = %zu rows of %s %zu overflow", fn,
                            r.n, sn[k], *st[k]);
    const loss_io io = {r.u,      r.pos,        r.neg,        r.synth,      r.u_stride,
                        r.pos_stride, r.neg_stride, r.synth_stride, r.grad_u, r.grad_pos,
                        r.grad_neg, r.grad_u_stride, r.grad_pos_stride, r.grad_neg_stride};
    return compute(l, fn, &io, r.lambda, r.n, (int)r.per_row, r.lambda_out, loss);
}
