/* Internal: the sampler handle's layout, for the checkpoint code
 * (cns_sampler_save/load persist den.params and the Adam moments) and for
 * the tests' hooks. */
#ifndef CNS_SAMPLER_INTERNAL_H
#define CNS_SAMPLER_INTERNAL_H

#include "adam.h"
#include "alloc.h"
#include "cnsdiff/sampler.h"
#include "denoiser.h"
#include "diffusion.h"
#include "rng.h"

struct cns_sampler {
    cns__alloc al;
    char last_error[CNS_ERROR_MESSAGE_SIZE];
    cns_sampler_desc desc;

    /* §12 tunables */
    int64_t schedule, reweight, norm, sample_start, stride, num_steps, sampling_noise, mode;
    int64_t dns_candidates, threads, direction_source;
    double noise_scale, noise_min, noise_max, causal_weight, denoiser_lr, dropout;
    double direction_norm;
    double score_discount; /* a of cns_sampler_score_items (lib/score_discount.c) */
    float *direction;      /* dim: the DIRECTION mode's unit d (DIFFUSION only), from
                              desc.seed at create (CNS_DIRECTION_RANDOM) */

    cns__schedule sched;
    cns__denoiser den;     /* DIFFUSION only */
    cns__adam adam;        /* the denoiser's own Adam (§6) */
    uint64_t train_steps;  /* Adam steps applied */

    /* independent streams: draws, train steps, catalogue picks */
    cns__rng rng_draw, rng_train, rng_pick;

    /* draw workspace (rows = levels x n) */
    int32_t *levels;       /* steps entries; the last draw's levels ascending */
    int32_t n_levels;
    size_t last_n;         /* rows of the last draw */
    size_t cap_draw;
    float *cand;           /* cap_draw x dim: chain states, then the candidates */
    float *xhat;           /* cap_draw x dim */
    float *noise;          /* cap_draw x dim */
    float *score;          /* cap_draw: <e_u, candidate>, level-major like cand */
    float *inv;            /* cap_draw: 1/|x| of the chain states, for the next step */
    uint64_t *drop;        /* cap_drop words: the reference chain's dropout bits */
    size_t cap_drop;
    int per_step;          /* tests: run the chains step by step (draw_steps) */

    /* train workspace */
    size_t cap_train;
    float *xt, *xprev, *eps, *dout; /* cap_train x dim */
    float *xhat_train;              /* cap_train x dim */
    int32_t *trow;                  /* cap_train */

    /* catalogue context (UNIFORM, DNS) */
    int has_ctx;
    cns_sampler_context ctx;
    int has_csr;           /* the context's observed items are csr, not ctx.train */
    cns_csr csr;           /* the context's CSR header, copied (arrays borrowed) */
    size_t item_stride;    /* floats between the context's item rows */

    /* draw_rows / train_step_rows: strided rows packed here (3 x cap_pack x dim) */
    float *pack;
    size_t cap_pack;

    /* Statistics of the last train step, to watch the §6 step weights. */
    double stat_loss_mse;      /* mean_rows(w_t mse) */
    double stat_loss_kl;       /* causal_weight * mean_elements(KL) */
    double stat_share_t1;      /* share of sum(w_t mse) from rows with t = 1 */
    double stat_max_row_share; /* largest single row's share of sum(w_t mse) */

    /* Test hooks: when set, train steps take t and eps from here. */
    const int32_t *hook_t;
    const float *hook_eps;
};

/* Stores the values vals[0, n) of the sampler tunables ids[0, n) (the
 * preset tables, preset.c). Every value is checked first (unknown id,
 * bounds, the level parameters against the handle's steps, the noise
 * schedule they make together); on failure nothing changes and msg
 * (CNS_ERROR_MESSAGE_SIZE bytes) names the value. check_only: only the checks. Level values
 * above the handle's steps follow the preset rule of ALGORITHM.md §15
 * (num_steps 0 = steps; sample_start, stride > steps = 1). */
cns_status cns__sampler_apply_values(cns_sampler *s, const int *ids, const double *vals, size_t n,
                                     int check_only, char *msg);

/* L_diff of §6 for pos (n x dim) without the Adam step; the gradient
 * w.r.t. the denoiser's parameters is left in s->den.grads. */
cns_status cns__sampler_diffusion_loss(cns_sampler *s, const float *pos, size_t n, double *loss);

/* cns_sampler_save with injectable I/O (sampler_io.c); io may be NULL. */
struct cns__ckpt_io;
cns_status cns__sampler_save_io(cns_sampler *s, const char *path, const struct cns__ckpt_io *io);

#endif
