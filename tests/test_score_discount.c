/* Scoring with a discount on the axis (ALGORITHM.md §16,
 * cns_sampler_score_items): out_i = e_i - a <e_i, d> d against a float64
 * computation whose d comes from a direction-mode draw (a draw's rows are
 * norm * d, so with norm 1 a row is d itself), the in-place form, the
 * tunable's range and checkpoint round trip, and the refusals. */
#include <float.h>
#include <stdint.h>

#include "testutil.h"

#define DIM 16
#define NI 7

static cns_sampler *make(int32_t kind, int64_t mode) {
    cns_sampler_desc d;
    cns_sampler_desc_init(&d);
    d.kind = kind;
    d.dim = DIM;
    d.seed = 5;
    cns_sampler *s = NULL;
    ck_assert_status(cns_sampler_create(&d, NULL, &s, NULL), CNS_OK);
    if (kind == CNS_SAMPLER_DIFFUSION)
        ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, mode), CNS_OK);
    return s;
}

/* Deterministic item rows with a clear component along any direction. */
static void items_fill(float *e) {
    for (int i = 0; i < NI; ++i)
        for (int k = 0; k < DIM; ++k) e[i * DIM + k] = (float)(sin(0.71 * k + 1.3 * i) + 0.2 * i);
}

/* The sampler's unit direction, read from what a draw emits (norm 1). */
static void direction_of(cns_sampler *s, double *d) {
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_DIRECTION_NORM, 1.0), CNS_OK);
    float u[2 * DIM] = {0}, p[2 * DIM] = {0}, out[2 * DIM];
    ck_assert_status(cns_sampler_draw(s, u, p, 2, out), CNS_OK);
    double ss = 0.0;
    for (int k = 0; k < DIM; ++k) {
        d[k] = out[k];
        ss += d[k] * d[k];
        ck_assert(out[k] == out[DIM + k]); /* every row is the same vector */
    }
    ck_assert_close(ss, 1.0, 0.0, 1e-6);
}

static double dot(const float *x, const double *d) {
    double p = 0.0;
    for (int k = 0; k < DIM; ++k) p += (double)x[k] * d[k];
    return p;
}

START_TEST(test_against_float64) {
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_DIRECTION);
    double d[DIM];
    direction_of(s, d);
    float e[NI * DIM], out[NI * DIM];
    items_fill(e);
    double v;
    ck_assert_status(cns_sampler_get_double(s, CNS_SAMPLER_SCORE_DISCOUNT, &v), CNS_OK);
    ck_assert(v == 0.0); /* the default (ALGORITHM.md §15) */

    /* a = 0: the table bit for bit */
    memset(out, 0xAB, sizeof out);
    ck_assert_status(cns_sampler_score_items(s, e, NI, DIM, out, NULL), CNS_OK);
    ck_assert(memcmp(out, e, sizeof e) == 0);

    static const double as[2] = {0.5, 1.0};
    for (int j = 0; j < 2; ++j) {
        const double a = as[j];
        ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SCORE_DISCOUNT, a), CNS_OK);
        cns_error err = {CNS_E_IO, "stale"};
        ck_assert_status(cns_sampler_score_items(s, e, NI, DIM, out, &err), CNS_OK);
        ck_assert_int_eq(err.status, CNS_OK);
        ck_assert_str_eq(err.message, "");
        double largest_change = 0.0;
        for (int i = 0; i < NI; ++i) {
            const double p = dot(e + i * DIM, d);
            for (int k = 0; k < DIM; ++k) {
                const double want = (double)e[i * DIM + k] - a * p * d[k];
                ck_assert_close(out[i * DIM + k], want, 1e-6, 1e-6);
                largest_change = fmax(largest_change, fabs(a * p * d[k]));
            }
            /* what is left on the axis: (1 - a) of it */
            ck_assert_close(dot(out + i * DIM, d), (1.0 - a) * p, 0.0, 1e-5);
        }
        ck_assert(largest_change > 0.05); /* the rows do have a component to remove */
    }
    cns_sampler_free(s);
}
END_TEST

START_TEST(test_in_place) {
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_DIRECTION);
    float e[NI * DIM], buf[NI * DIM], out[NI * DIM];
    items_fill(e);
    memcpy(buf, e, sizeof e);
    ck_assert_status(cns_sampler_score_items(s, buf, NI, DIM, buf, NULL), CNS_OK); /* a = 0 */
    ck_assert(memcmp(buf, e, sizeof e) == 0);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SCORE_DISCOUNT, 0.5), CNS_OK);
    ck_assert_status(cns_sampler_score_items(s, e, NI, DIM, out, NULL), CNS_OK);
    ck_assert_status(cns_sampler_score_items(s, buf, NI, DIM, buf, NULL), CNS_OK);
    ck_assert(memcmp(buf, out, sizeof out) == 0);
    ck_assert(memcmp(buf, e, sizeof e) != 0);
    cns_sampler_free(s);
}
END_TEST

/* The value and the scores survive a checkpoint (the sampler's 'SHDR'). */
START_TEST(test_checkpoint_round_trip) {
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_DIRECTION);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SCORE_DISCOUNT, 0.625), CNS_OK);
    size_t n = 0;
    ck_assert_status(cns_sampler_save_mem(s, NULL, 0, &n), CNS_OK);
    void *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    ck_assert_status(cns_sampler_save_mem(s, b, n, &n), CNS_OK);
    cns_sampler *l = NULL;
    ck_assert_status(cns_sampler_load_mem(b, n, NULL, &l, NULL), CNS_OK);
    free(b);
    double v;
    ck_assert_status(cns_sampler_get_double(l, CNS_SAMPLER_SCORE_DISCOUNT, &v), CNS_OK);
    ck_assert(v == 0.625);
    float e[NI * DIM], o1[NI * DIM], o2[NI * DIM];
    items_fill(e);
    ck_assert_status(cns_sampler_score_items(s, e, NI, DIM, o1, NULL), CNS_OK);
    ck_assert_status(cns_sampler_score_items(l, e, NI, DIM, o2, NULL), CNS_OK);
    ck_assert(memcmp(o1, o2, sizeof o1) == 0);
    ck_assert(memcmp(o1, e, sizeof e) != 0);
    cns_sampler_free(l);
    cns_sampler_free(s);
}
END_TEST

START_TEST(test_setter_range) {
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_DIRECTION);
    double v, lo, hi;
    ck_assert_status(cns_sampler_param_bounds(CNS_SAMPLER_SCORE_DISCOUNT, &lo, &hi), CNS_OK);
    ck_assert(lo == 0.0 && hi == 1.0);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SCORE_DISCOUNT, 1.0), CNS_OK);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SCORE_DISCOUNT, 0.0), CNS_OK);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SCORE_DISCOUNT, 0.25), CNS_OK);
    static const double bad[3] = {-0.1, 1.1, NAN};
    for (int j = 0; j < 3; ++j) {
        ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SCORE_DISCOUNT, bad[j]), CNS_E_ARG);
        ck_assert_ptr_nonnull(strstr(cns_sampler_last_error(s), "SCORE_DISCOUNT"));
        ck_assert_status(cns_sampler_get_double(s, CNS_SAMPLER_SCORE_DISCOUNT, &v), CNS_OK);
        ck_assert(v == 0.25); /* unchanged */
    }
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_SCORE_DISCOUNT, 1), CNS_E_PARAM);
    int64_t iv;
    ck_assert_status(cns_sampler_get_int(s, CNS_SAMPLER_SCORE_DISCOUNT, &iv), CNS_E_PARAM);
    cns_sampler_free(s);
}
END_TEST

START_TEST(test_refusals) {
    cns_sampler *s = make(CNS_SAMPLER_DIFFUSION, CNS_MODE_DIRECTION);
    float e[NI * DIM], out[NI * DIM], sentinel[NI * DIM];
    items_fill(e);
    memset(sentinel, 0xCD, sizeof sentinel);
    memcpy(out, sentinel, sizeof out);
    cns_error err;
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SCORE_DISCOUNT, 0.5), CNS_OK);

    ck_assert_status(cns_sampler_score_items(NULL, e, NI, DIM, out, &err), CNS_E_ARG);
    ck_assert_str_eq(err.message, "cns_sampler_score_items: s is NULL");
    ck_assert_status(cns_sampler_score_items(s, NULL, NI, DIM, out, &err), CNS_E_ARG);
    ck_assert_str_eq(err.message, "cns_sampler_score_items: items is NULL");
    ck_assert_status(cns_sampler_score_items(s, e, NI, DIM, NULL, &err), CNS_E_ARG);
    ck_assert_str_eq(err.message, "cns_sampler_score_items: out is NULL");
    ck_assert_status(cns_sampler_score_items(s, e, -1, DIM, out, &err), CNS_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.message, "n_items is -1"));
    ck_assert_status(cns_sampler_score_items(s, e, NI, DIM - 1, out, &err), CNS_E_SIZE);
    ck_assert_str_eq(err.message, "cns_sampler_score_items: dim is 15, the sampler's is 16");
    /* a row count whose table no pointer can span: refused before any read */
    ck_assert_status(cns_sampler_score_items(s, e, INT64_MAX, DIM, out, &err), CNS_E_SIZE);
    ck_assert_ptr_nonnull(strstr(err.message, "cannot be addressed"));
    ck_assert(memcmp(out, sentinel, sizeof out) == 0);
    ck_assert_status(cns_sampler_score_items(s, e, NI, DIM, out, NULL), CNS_OK); /* err optional */
    float untouched[NI * DIM];
    memcpy(untouched, sentinel, sizeof untouched);
    ck_assert_status(cns_sampler_score_items(s, e, 0, DIM, untouched, &err), CNS_OK);
    ck_assert(memcmp(untouched, sentinel, sizeof untouched) == 0); /* 0 rows: nothing written */

    /* a > 0 needs the direction mode: the other modes have no known axis */
    memcpy(out, sentinel, sizeof out);
    ck_assert_status(cns_sampler_set_int(s, CNS_SAMPLER_MODE, CNS_MODE_REFERENCE), CNS_OK);
    ck_assert_status(cns_sampler_score_items(s, e, NI, DIM, out, &err), CNS_E_STATE);
    ck_assert_int_eq(err.status, CNS_E_STATE);
    ck_assert_str_eq(err.message,
                     "cns_sampler_score_items: score_discount needs the direction mode");
    ck_assert(memcmp(out, sentinel, sizeof out) == 0); /* not written */
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SCORE_DISCOUNT, 0.0), CNS_OK);
    ck_assert_status(cns_sampler_score_items(s, e, NI, DIM, out, &err), CNS_OK); /* a = 0: copy */
    ck_assert(memcmp(out, e, sizeof e) == 0);
    cns_sampler_free(s);

    s = make(CNS_SAMPLER_UNIFORM, 0);
    ck_assert_status(cns_sampler_set_double(s, CNS_SAMPLER_SCORE_DISCOUNT, 1.0), CNS_OK);
    ck_assert_status(cns_sampler_score_items(s, e, NI, DIM, out, &err), CNS_E_STATE);
    cns_sampler_free(s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("score_discount");
    TCase *tc = tcase_create("score_discount");
    tcase_add_test(tc, test_against_float64);
    tcase_add_test(tc, test_in_place);
    tcase_add_test(tc, test_checkpoint_round_trip);
    tcase_add_test(tc, test_setter_range);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
