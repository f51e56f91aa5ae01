/* Internal: the denoiser MLP f(x_t, t) -> x̂0 (ALGORITHM.md §5), batched
 * forward and backward over rows on cblas_sgemm.
 *
 *   e_t = W_tau tau(t) + b_tau
 *   x̃   = dropout(x_t / |x_t|)        (the norm only when norm is on)
 *   h   = tanh(W1 [x̃; e_t] + b1)
 *   x̂0  = W2 h + b2
 *
 * W1 = [W1x | W1t] (hidden x (dim + time_dim), row-major). Because e_t and
 * g_t = W1t e_t + b1 depend on t only, they are computed once per distinct
 * t of a call and shared by the rows of that t (§5 note): the per-row work
 * is two GEMMs (dim -> hidden, hidden -> dim) and the tanh. */
#ifndef CNS_DENOISER_H
#define CNS_DENOISER_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "cnsdiff/common.h"
#include "rng.h"

typedef struct cns__denoiser {
    int32_t d, td, hid, T;
    size_t n_params;
    float *params;                /* flat, the order below (Adam and checkpoints) */
    float *Wt, *bt, *W1, *b1, *W2, *b2;       /* views into params */
    float *grads;                 /* same layout as params */
    float *gWt, *gbt, *gW1, *gb1, *gW2, *gb2; /* views into grads */
    /* per t (T rows each) */
    float *tau;                   /* T x td, the fixed sinusoidal embedding */
    float *et;                    /* T x td, e_t of the current call */
    float *gt;                    /* T x hid, W1t e_t + b1 of the current call */
    float *st;                    /* T x hid, backward: sum of dpre over the rows of t */
    unsigned char *t_used;        /* T flags of the current call */
    float *de;                    /* td scratch of the backward */
    /* activations kept for backward, sized for cap rows */
    size_t cap;
    float *xin;                   /* cap x d: the (normalised, dropped-out) input */
    float *mask;                  /* cap x d: dropout scale per element */
    float *inv_norm;              /* cap: 1 / |x_t| (1 when norm is off) */
    float *h;                     /* cap x hid */
    float *dh;                    /* cap x hid */
    int last_norm, last_dropout;  /* what the last forward applied */
    int threads;                  /* workers for the elementwise phases (GEMMs: OpenBLAS's own) */
} cns__denoiser;

/* Parameter counts: n_params = td*td + td + hid*(d+td) + hid + d*hid + d. */
size_t cns__denoiser_param_count(int32_t d, int32_t td, int32_t hid);

/* Allocates and initialises (§5: weights N(0, sqrt(2/(fan_in+fan_out))),
 * biases N(0, 0.001)) from seed. No row workspace yet. */
cns_status cns__denoiser_init(cns__denoiser *m, int32_t d, int32_t td, int32_t hid, int32_t T,
                              uint64_t seed, const cns__alloc *al);
void cns__denoiser_destroy(cns__denoiser *m, const cns__alloc *al);

/* Ensures the row workspace holds n rows (grows only; CNS_E_NOMEM leaves
 * the old workspace in place). */
cns_status cns__denoiser_reserve(cns__denoiser *m, size_t n, const cns__alloc *al);

/* x̂0 = f(x, t) for n rows (n <= cap). t per row from t_rows, or t_all for
 * every row when t_rows is NULL. dropout > 0 draws a mask from rng. Keeps
 * the activations for cns__denoiser_backward. out may not alias x. */
void cns__denoiser_forward(cns__denoiser *m, const float *x, size_t n, const int32_t *t_rows,
                           int32_t t_all, int norm, double dropout, cns__rng *rng, float *out);

/* Called on each block of rows [begin, end) as soon as its x̂0 is in
 * out, on the worker that computed it (the sampler fuses its posterior
 * step here while the rows are in cache). */
typedef void (*cns__rows_fn)(void *arg, size_t begin, size_t end);

/* cns__denoiser_forward with an epilogue per block of rows. Rows are split
 * over m->threads workers; each runs its GEMMs in blocks of 64 rows.
 * keep = 0 (inference: no backward will follow) lets a shared-t call
 * without dropout skip the copy of the normalised input; on that path
 * inv_in (optional, n entries from cns__inv_norms) supplies the inverse
 * norms, which a caller can compute while the rows are still in cache. */
void cns__denoiser_forward_ex(cns__denoiser *m, const float *x, size_t n, const int32_t *t_rows,
                              int32_t t_all, int norm, double dropout, cns__rng *rng, float *out,
                              int keep, const float *inv_in, cns__rows_fn epilogue,
                              void *epilogue_arg);

/* The reverse chains of §7 without sampling noise. x holds `blocks`
 * blocks of n rows; block b runs t = levels[b] - 1 .. 0 (levels in
 * [1, T]), or t = t_from .. 0 when t_from >= 0 (the reference mode's full
 * chain), x <- c1[t] f(x, t) + c2[t] x, and ends holding its candidates.
 * drop (optional): the dropout masks of every step, packed by
 * cns__dropout_bits_at, step after step from the top, each over all
 * blocks * n rows in order; a kept entry scales by keep. */
typedef struct cns__chain {
    size_t n;
    int32_t blocks;
    const int32_t *levels;
    int32_t t_from;
    const float *c1, *c2;
    int norm;
    const uint64_t *drop;
    float keep;
    int exact; /* no AVX-512 tanh: the per-step path's bits */
} cns__chain;

/* Runs the chains in place on x; xhat (same size as x) is scratch;
 * m->cap must cover blocks * n rows. Rows are split over m->threads
 * workers once for the whole chain: each runs every step of a 64-row
 * chunk while the chunk is in cache. With exact set, the result has the
 * same bits as one cns__denoiser_forward_ex and posterior step per t
 * (with the masks drawn in that order) wherever the products go through
 * the small-GEMM kernel (dim x hidden <= 8192), whose rows do not depend
 * on where a block starts; without exact, it differs from that only
 * through the AVX-512 tanh (<= 5e-7 on the candidates). */
void cns__denoiser_chain(cns__denoiser *m, const cns__chain *c, float *x, float *xhat);

/* inv[r] = 1 / max(|x_r|, 1e-12), or 1 when norm is 0. */
/* Hidden explicitly: as target_clones ifuncs they would otherwise be
 * exported from the shared library with their resolvers. */
__attribute__((visibility("hidden"))) void cns__inv_norms(const float *x, float *inv, size_t n,
                                                          size_t d, int norm);

/* Backward of the last forward (same x, n, t): grads := d loss / d params
 * for dout = d loss / d x̂0 (n x d). dx (optional, n x d) receives
 * d loss / d x. */
void cns__denoiser_backward(cns__denoiser *m, const float *x, const float *dout, size_t n,
                            const int32_t *t_rows, int32_t t_all, float *dx);

/* tanh for n floats in place, vectorized: a rational approximation with
 * relative error below ~1e-6 (3e-7 measured), exactly +-1 from |x| ~ 9 on;
 * a NaN or infinite input gives NaN. */
__attribute__((visibility("hidden"))) void cns__tanh_inplace(float *x, size_t n);

#endif
