/* A float64 reference of the denoiser (ALGORITHM.md §5), written from the
 * formulas independently of lib/denoiser.c, for the value and
 * finite-difference checks of test_denoiser and test_sampler. Parameters
 * are read in the flat layout documented in lib/denoiser.h:
 * Wt[td][td], bt[td], W1[hid][d+td], b1[hid], W2[d][hid], b2[d]. */
#ifndef CNS_DENOISER_REF_H
#define CNS_DENOISER_REF_H

#include <math.h>
#include <stddef.h>

typedef struct ref_shape {
    int d, td, hid;
} ref_shape;

/* out[d] = f(x, t) in double, no dropout. */
static inline void ref_denoise(const ref_shape *s, const double *p, const double *x, int t,
                               int norm, double *out) {
    const int d = s->d, td = s->td, H = s->hid, half = td / 2;
    const double *Wt = p, *bt = Wt + td * td, *W1 = bt + td, *b1 = W1 + H * (d + td);
    const double *W2 = b1 + H, *b2 = W2 + d * H;
    double tau[64], e[64], in[128], h[64];
    for (int k = 0; k < half; ++k) {
        double f = exp(-log(10000.0) * k / half);
        tau[k] = cos(t * f);
        tau[half + k] = sin(t * f);
    }
    for (int i = 0; i < td; ++i) {
        e[i] = bt[i];
        for (int k = 0; k < td; ++k) e[i] += Wt[i * td + k] * tau[k];
    }
    double nrm = 0.0;
    for (int j = 0; j < d; ++j) nrm += x[j] * x[j];
    nrm = sqrt(nrm);
    for (int j = 0; j < d; ++j) in[j] = norm ? x[j] / nrm : x[j];
    for (int k = 0; k < td; ++k) in[d + k] = e[k];
    for (int i = 0; i < H; ++i) {
        double a = b1[i];
        for (int k = 0; k < d + td; ++k) a += W1[i * (d + td) + k] * in[k];
        h[i] = tanh(a);
    }
    for (int j = 0; j < d; ++j) {
        double a = b2[j];
        for (int i = 0; i < H; ++i) a += W2[j * H + i] * h[i];
        out[j] = a;
    }
}

#endif
