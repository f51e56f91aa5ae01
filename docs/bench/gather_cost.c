/* gather_cost — what a bring-your-own-model host pays to hand its rows to
 * libcnsdiff (docs/EMBEDDING.md, "Cost"): per batch, cns_rows_gather of the
 * u, pos and neg rows from double tables by index, against the
 * cns_sampler_draw_rows (reference mode) and cns_loss_compute_rows
 * (per-row, with h) that follow; and compute_rows on strided rows against
 * packed ones.
 *
 *   cc -O2 -std=c11 -Iinclude -Ibuild/include docs/bench/gather_cost.c \
 *      -Lbuild -lcnsdiff -Wl,-rpath,$PWD/build -lm -o /tmp/gather_cost
 *   /tmp/gather_cost [BATCH] [DIM] [REPS]      (defaults 2048 64 20)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cnsdiff/cnsdiff.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define OK(x)                                                                      \
    do {                                                                           \
        int st_ = (x);                                                             \
        if (st_ != CNS_OK) {                                                       \
            fprintf(stderr, "%s: %s\n", #x, cns_status_name(st_));                 \
            return 1;                                                              \
        }                                                                          \
    } while (0)

int main(int argc, char **argv) {
    const size_t n = argc > 1 ? (size_t)atol(argv[1]) : 2048;
    const int d = argc > 2 ? atoi(argv[2]) : 64;
    const int reps = argc > 3 ? atoi(argv[3]) : 20;
    const int64_t nu = 7809, ni = 6309; /* Food's shape */
    double *U = malloc(sizeof(double) * (size_t)nu * d), *V = malloc(sizeof(double) * (size_t)ni * d);
    float *buf = malloc(sizeof(float) * n * (size_t)d * 7), *wide = malloc(sizeof(float) * n * (size_t)(d + 16) * 7);
    int64_t *iu = malloc(sizeof(int64_t) * n * 3);
    if (!U || !V || !buf || !wide || !iu) return 1;
    srand(1);
    for (int64_t i = 0; i < nu * d; ++i) U[i] = (rand() / (double)RAND_MAX - 0.5) * 0.2;
    for (int64_t i = 0; i < ni * d; ++i) V[i] = (rand() / (double)RAND_MAX - 0.5) * 0.2;
    for (size_t b = 0; b < n; ++b) {
        iu[b] = rand() % nu;
        iu[n + b] = rand() % ni;
        iu[2 * n + b] = rand() % ni;
    }
    float *x[7];
    for (int k = 0; k < 7; ++k) x[k] = buf + (size_t)k * n * d;
    cns_sampler_desc sd;
    cns_sampler_desc_init(&sd);
    sd.dim = d;
    cns_loss_desc ld;
    cns_loss_desc_init(&ld);
    ld.dim = d;
    cns_sampler *s = NULL;
    cns_loss *l = NULL;
    OK(cns_sampler_create(&sd, NULL, &s, NULL));
    OK(cns_loss_create(&ld, NULL, &l, NULL));
    OK(cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_REFERENCE));
    OK(cns_loss_set_int(l, CNS_LOSS_MIXING, 0));
    cns_rows_src src;
    cns_rows_src_init(&src);
    src.elem = CNS_ELEM_F64;
    src.dim = d;
    cns_loss_rows r;
    cns_loss_rows_init(&r);
    r.dim = d, r.n = n, r.per_row = 1, r.u = x[0], r.pos = x[1], r.neg = x[2], r.synth = x[3];
    r.grad_u = x[4], r.grad_pos = x[5], r.grad_neg = x[6];
    double t_gather = 0, t_draw = 0, t_loss = 0, t_loss_strided = 0;
    for (int rep = -1; rep < reps; ++rep) { /* rep -1 warms up */
        double t0 = now();
        for (int k = 0; k < 3; ++k) {
            src.base = k == 0 ? (const void *)U : (const void *)V;
            src.num_rows = k == 0 ? nu : ni;
            src.index = iu + (size_t)k * n;
            OK(cns_rows_gather(&src, n, x[k], 0, NULL));
        }
        double t1 = now();
        OK(cns_sampler_draw_rows(s, d, x[0], 0, x[1], 0, n, x[3], 0));
        double t2 = now();
        OK(cns_loss_compute_rows(l, &r, NULL));
        double t3 = now();
        /* the same rows at stride d + 16, read and written in place */
        cns_loss_rows w = r;
        const size_t st = (size_t)d + 16;
        const float *in[4];
        float *out[3];
        for (int k = 0; k < 4; ++k) {
            float *dst = wide + (size_t)k * n * st;
            for (size_t b = 0; b < n; ++b)
                for (int j = 0; j < d; ++j) dst[b * st + j] = x[k][b * d + j];
            in[k] = dst;
        }
        for (int k = 0; k < 3; ++k) out[k] = wide + (size_t)(4 + k) * n * st;
        w.u = in[0], w.pos = in[1], w.neg = in[2], w.synth = in[3];
        w.grad_u = out[0], w.grad_pos = out[1], w.grad_neg = out[2];
        w.u_stride = w.pos_stride = w.neg_stride = w.synth_stride = st;
        w.grad_u_stride = w.grad_pos_stride = w.grad_neg_stride = st;
        double t4 = now();
        OK(cns_loss_compute_rows(l, &w, NULL));
        double t5 = now();
        if (rep >= 0) {
            t_gather += t1 - t0;
            t_draw += t2 - t1;
            t_loss += t3 - t2;
            t_loss_strided += t5 - t4;
        }
    }
    const double k = 1e6 / reps;
    printf("batch %zu, dim %d, %d reps (microseconds per batch)\n", n, d, reps);
    printf("gather u,pos,neg from double tables by index: %10.1f\n", t_gather * k);
    printf("cns_sampler_draw_rows (reference mode):       %10.1f\n", t_draw * k);
    printf("cns_loss_compute_rows (per row, with h):      %10.1f\n", t_loss * k);
    printf("  the same on rows at stride dim + 16:        %10.1f\n", t_loss_strided * k);
    printf("gather share of gather + draw + loss:         %10.2f %%\n",
           100.0 * t_gather / (t_gather + t_draw + t_loss));
    cns_sampler_free(s);
    cns_loss_free(l);
    free(U), free(V), free(buf), free(wide), free(iu);
    return 0;
}
