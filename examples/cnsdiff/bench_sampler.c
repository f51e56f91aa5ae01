/* cnsdiff bench sampler — the sampler's hot paths at a training batch size:
 * the machine's sgemm rate on representative shapes, then the median
 * draw, train_step and reference-mode draw times. One line per figure,
 * "name value unit". The machine may be shared: medians, not minima. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cnsdiff/cnsdiff.h"
#include "parallel.h"
#include "rng.h"

/* OpenBLAS's own thread count; the tool may set it, the library never does. */
void openblas_set_num_threads(int num_threads);

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

/* Median seconds of one m x n x k sgemm (C = A B^T, the denoiser's shape). */
static double time_sgemm(int m, int n, int k, int repeat) {
    float *a = malloc((size_t)m * k * sizeof(float)), *b = malloc((size_t)n * k * sizeof(float));
    float *c = malloc((size_t)m * n * sizeof(float));
    double *t = malloc((size_t)repeat * sizeof(double));
    for (size_t i = 0; i < (size_t)m * k; ++i) a[i] = (float)(i % 17) * 0.01f;
    for (size_t i = 0; i < (size_t)n * k; ++i) b[i] = (float)(i % 13) * 0.01f;
    /* many calls per sample: one small call is too short to time alone */
    int inner = (int)(2e8 / (2.0 * m * n * k)) + 1;
    for (int r = 0; r < repeat; ++r) {
        double t0 = cns__now();
        for (int i = 0; i < inner; ++i)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        t[r] = (cns__now() - t0) / inner;
    }
    double med = median(t, repeat);
    free(a);
    free(b);
    free(c);
    free(t);
    return med;
}

int bench_sampler(int argc, char **argv) {
    int batch = 2048, dim = 64, threads = 2, repeat = 21;
    for (int i = 1; i < argc; ++i) {
        int ok = i + 1 < argc;
        if (strcmp(argv[i], "--batch") == 0 && ok)
            ok = parse_int(argv[++i], 1, 1 << 24, &batch);
        else if (strcmp(argv[i], "--dim") == 0 && ok)
            ok = parse_int(argv[++i], 1, 4096, &dim);
        else if (strcmp(argv[i], "--threads") == 0 && ok)
            ok = parse_int(argv[++i], 1, 256, &threads);
        else if (strcmp(argv[i], "--repeat") == 0 && ok)
            ok = parse_int(argv[++i], 1, 100000, &repeat);
        else
            ok = 0;
        if (!ok) {
            fprintf(stderr, "usage: cnsdiff bench sampler [--batch B] [--dim D] [--threads T] [--repeat R]\n");
            return 2;
        }
    }
    openblas_set_num_threads(threads);

    cns_sampler_desc d;
    cns_sampler_desc_init(&d);
    d.dim = dim;
    cns_sampler *s = NULL;
    cns_error err;
    if (cns_sampler_create(&d, NULL, &s, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s\n", err.message);
        return 1;
    }
    if (cns_sampler_set_int(s, CNS_SAMPLER_THREADS, threads) != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s\n", cns_sampler_last_error(s));
        cns_sampler_free(s);
        return 2;
    }
    size_t n = (size_t)batch * (size_t)dim;
    float *pos = malloc(n * sizeof(float)), *user = malloc(n * sizeof(float));
    float *out = malloc(n * sizeof(float));
    double *t = malloc((size_t)repeat * sizeof(double));
    if (!pos || !user || !out || !t) {
        fprintf(stderr, "cnsdiff: out of memory\n");
        return 1;
    }
    cns__rng r;
    cns__rng_seed(&r, 1, 2);
    cns__rng_normal_fill(&r, pos, n, 0.1f);
    cns__rng_normal_fill(&r, user, n, 0.1f);

    int rc = 0;
    cns_status st = CNS_OK;
    /* warm-up: the first call at a size allocates */
    st = cns_sampler_train_step(s, pos, (size_t)batch, NULL);
    if (st == CNS_OK) st = cns_sampler_draw(s, user, pos, (size_t)batch, out);
    for (int i = 0; i < repeat && st == CNS_OK; ++i) {
        double t0 = cns__now();
        st = cns_sampler_train_step(s, pos, (size_t)batch, NULL);
        t[i] = cns__now() - t0;
    }
    double train_ms = st == CNS_OK ? median(t, repeat) * 1e3 : 0.0;
    for (int i = 0; i < repeat && st == CNS_OK; ++i) {
        double t0 = cns__now();
        st = cns_sampler_draw(s, user, pos, (size_t)batch, out);
        t[i] = cns__now() - t0;
    }
    double draw_ms = st == CNS_OK ? median(t, repeat) * 1e3 : 0.0;
    if (st == CNS_OK) st = cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_REFERENCE);
    if (st == CNS_OK) st = cns_sampler_draw(s, user, pos, (size_t)batch, out);
    for (int i = 0; i < repeat && st == CNS_OK; ++i) {
        double t0 = cns__now();
        st = cns_sampler_draw(s, user, pos, (size_t)batch, out);
        t[i] = cns__now() - t0;
    }
    double ref_ms = st == CNS_OK ? median(t, repeat) * 1e3 : 0.0;

    /* The machine's rates, measured after the sampler: OpenBLAS's workers
     * spin for a while after a threaded call and would take the cores
     * from the draws timed above. The denoiser's GEMM shape and a large
     * square one. */
    double t_small = time_sgemm(batch, dim, dim, repeat);
    double t_big = time_sgemm(1024, 1024, 1024, repeat < 5 ? repeat : 5);
    printf("sgemm_gflops %.1f GFLOP/s (%dx%dx%d)\n", 2.0 * batch * dim * dim / t_small * 1e-9, batch,
           dim, dim);
    printf("sgemm_square_gflops %.1f GFLOP/s (1024x1024x1024)\n", 2.0 * 1024 * 1024 * 1024 / t_big * 1e-9);
    if (st != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s: %s\n", cns_status_name(st), cns_sampler_last_error(s));
        rc = 1;
    } else {
        /* useful flops of a default draw: levels {10,14,18} run 10+14+18 = 42
         * denoiser steps per row, two GEMMs of 2 d hidden flops each */
        int64_t ss = 10, st2 = 4, ns = 20;
        if (cns_sampler_get_int(s, CNS_SAMPLER_SAMPLE_START, &ss) != CNS_OK ||
            cns_sampler_get_int(s, CNS_SAMPLER_STRIDE, &st2) != CNS_OK ||
            cns_sampler_get_int(s, CNS_SAMPLER_NUM_STEPS, &ns) != CNS_OK)
            fprintf(stderr, "cnsdiff: cannot read the levels; assuming 10/4/20\n");
        double steps = 0;
        for (int64_t l = ss; l <= ns; l += st2) steps += (double)l;
        double flops = steps * batch * 2.0 * (2.0 * dim * d.hidden);
        /* GEMM share: the time the same GEMMs take alone at this rate */
        double t_gemm = flops / (2.0 * batch * dim * dim / t_small);
        printf("draw_ms %.3f ms\n", draw_ms);
        printf("train_step_ms %.3f ms\n", train_ms);
        printf("draw_reference_ms %.3f ms\n", ref_ms);
        printf("draw_gflops %.1f GFLOP/s\n", flops / (draw_ms * 1e-3) * 1e-9);
        printf("draw_sgemm_share %.2f fraction\n", t_gemm / (draw_ms * 1e-3));
    }
    free(pos);
    free(user);
    free(out);
    free(t);
    cns_sampler_free(s);
    return rc;
}
