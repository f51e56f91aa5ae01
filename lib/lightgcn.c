/* LightGCN propagation (ALGORITHM.md §2): the normalised adjacency
 * Â = D^-1/2 A D^-1/2 as CSR and the mean of its powers applied to a dense
 * n x d matrix, E = (1/(L+1)) sum_k Â^k E0. The same operator serves the
 * backward pass because Â is symmetric. */
#include "lightgcn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "parallel.h"

/* The SpMM kernel comes in AVX-512, AVX2 and baseline versions, picked
 * per call from the CPU (the library is built for generic x86-64). Every
 * version does the same float operations per element in the same order
 * (C11 mode: no FMA contraction), so results do not depend on which runs. */
#if defined(__GNUC__) && defined(__x86_64__)
#define CNS__X86_KERNELS 1
#endif

#define CNS__MAX_PARTS 256

void cns__adj_destroy(cns__adj *adj, const cns__alloc *al) {
    cns__free(al, adj->row_ptr);
    cns__free(al, adj->col);
    cns__free(al, adj->val);
    memset(adj, 0, sizeof *adj);
}

cns_status cns__adj_build(cns__adj *adj, int32_t num_users, int32_t num_items,
                          const size_t *user_ptr, const int32_t *items, const cns__alloc *al) {
    memset(adj, 0, sizeof *adj);
    const size_t nu = (size_t)num_users, ni = (size_t)num_items;
    const size_t n = nu + ni, nnz_r = user_ptr[nu];
    size_t nnz;
    if (!cns__mul_ok(nnz_r, 2, &nnz)) return CNS_E_NOMEM;
    adj->n = n;
    adj->nnz = nnz;
    adj->row_ptr = cns__calloc(al, n + 1, sizeof *adj->row_ptr);
    adj->col = cns__calloc(al, nnz ? nnz : 1, sizeof *adj->col);
    adj->val = cns__calloc(al, nnz ? nnz : 1, sizeof *adj->val);
    if (adj->row_ptr == NULL || adj->col == NULL || adj->val == NULL) {
        cns__adj_destroy(adj, al);
        return CNS_E_NOMEM;
    }
    size_t *rp = adj->row_ptr;
    /* Degrees: users from their row length, items counted into rp first. */
    for (size_t k = 0; k < nnz_r; ++k) rp[nu + (size_t)items[k] + 1]++;
    for (size_t u = 0; u < nu; ++u) rp[u + 1] = user_ptr[u + 1] - user_ptr[u];
    for (size_t r = 0; r < n; ++r) rp[r + 1] += rp[r];
    /* User rows: the items, shifted past the user block. Item rows filled
     * while walking users in increasing order, so they come out sorted. */
    size_t *fill = cns__malloc(al, (ni ? ni : 1) * sizeof *fill); /* next slot per item row */
    if (fill == NULL) {
        cns__adj_destroy(adj, al);
        return CNS_E_NOMEM;
    }
    for (size_t i = 0; i < ni; ++i) fill[i] = rp[nu + i];
    for (size_t u = 0; u < nu; ++u) {
        const size_t du = user_ptr[u + 1] - user_ptr[u];
        for (size_t k = user_ptr[u]; k < user_ptr[u + 1]; ++k) {
            const size_t i = (size_t)items[k];
            const size_t di = rp[nu + i + 1] - rp[nu + i];
            /* One double expression for both (u,i) and (i,u): Â stays exactly symmetric. */
            const float w = (float)(1.0 / sqrt((double)du * (double)di));
            const size_t at_u = rp[u] + (k - user_ptr[u]);
            adj->col[at_u] = (int32_t)(nu + i);
            adj->val[at_u] = w;
            const size_t at_i = fill[i]++;
            adj->col[at_i] = (int32_t)u;
            adj->val[at_i] = w;
        }
    }
    cns__free(al, fill);
    adj->max_row_sum = 0.0;
    for (size_t r = 0; r < n; ++r) {
        double sum = 0.0;
        for (size_t p = rp[r]; p < rp[r + 1]; ++p) sum += (double)adj->val[p];
        if (sum > adj->max_row_sum) adj->max_row_sum = sum;
    }
    return CNS_OK;
}

/* The same sum for w columns from j0 (narrow widths and the tail). */
static inline __attribute__((always_inline)) void row_block(
    const int32_t *restrict col, const float *restrict val, size_t p0, size_t p1,
    const float *restrict x, size_t d, size_t j0, size_t w, float *restrict a) {
    for (size_t l = 0; l < w; ++l) a[l] = 0.0f;
    for (size_t p = p0; p < p1; ++p) {
        const float v = val[p];
        const float *restrict xr = x + (size_t)col[p] * d + j0;
        for (size_t l = 0; l < w; ++l) a[l] += v * xr[l];
    }
}

/* y[r][j0 ..] = a (when y is kept), acc[r][j0 ..] = (base[r][j0 ..] + a)
 * * scale, where base is x's own block for the first layer and acc itself
 * afterwards: the running sum of the powers needs no extra pass. Returns
 * nonzero when an acc value is an infinity or a NaN (exponent bits all
 * set: integer ops, so the loop still vectorizes). Two versions, so each
 * loop can be restrict-qualified. */
static inline __attribute__((always_inline)) uint32_t row_finish(
    const float *restrict a, size_t w, float *restrict y, const float *base, float *acc,
    float scale) {
    uint32_t bad = 0;
    if (y != NULL)
        for (size_t l = 0; l < w; ++l) y[l] = a[l];
    if (base == acc) {
        float *restrict o = acc;
        for (size_t l = 0; l < w; ++l) {
            const float r = (o[l] + a[l]) * scale;
            uint32_t b;
            memcpy(&b, &r, sizeof b);
            bad |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
            o[l] = r;
        }
    } else {
        float *restrict o = acc;
        const float *restrict bs = base;
        for (size_t l = 0; l < w; ++l) {
            const float r = (bs[l] + a[l]) * scale;
            uint32_t b;
            memcpy(&b, &r, sizeof b);
            bad |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
            o[l] = r;
        }
    }
    return bad;
}

/* One SpMM layer over rows [r0, r1): y = Â x (y may be NULL: not kept),
 * acc = (base + y) * scale. Returns nonzero when an acc value is not
 * finite. Each element is the same sum (multiply, then add, in entry
 * order) on every path, so results are bit-identical across versions and
 * thread counts.
 *
 * The x86 versions keep a row's 64-column sums in registers (4 zmm, 8 ymm,
 * or 8 xmm over two 32-column halves) through intrinsics: GCC's generic
 * vectors spilled them to the stack in the AVX2 build. The neighbour-row
 * gathers are latency-bound, so rows 8 entries ahead are prefetched.
 * Widths under 64 and the tail go through row_block / row_finish. */
typedef uint32_t (*spmm_fn)(const size_t *restrict, const int32_t *restrict,
                            const float *restrict, size_t, size_t, size_t, const float *restrict,
                            float *, const float *, float *, float);

/* The rows left of a 64-column block: 8-wide blocks, then the tail. */
static inline __attribute__((always_inline)) uint32_t row_rest(
    const int32_t *restrict col, const float *restrict val, size_t p0, size_t p1,
    const float *restrict x, size_t d, size_t j0, size_t o, float *y, const float *base,
    float *acc, float scale) {
    float a[8];
    uint32_t bad = 0;
    for (; j0 < d; j0 += 8) {
        const size_t w = d - j0 < 8 ? d - j0 : 8;
        if (w == 8) {
            row_block(col, val, p0, p1, x, d, j0, 8, a);
            bad |= row_finish(a, 8, y ? y + o + j0 : NULL, base + o + j0, acc + o + j0, scale);
        } else {
            row_block(col, val, p0, p1, x, d, j0, w, a);
            bad |= row_finish(a, w, y ? y + o + j0 : NULL, base + o + j0, acc + o + j0, scale);
        }
    }
    return bad;
}

/* Entries ahead of the one summed whose rows are prefetched, counted over
 * the whole range of rows: a row's first neighbours are fetched while the
 * previous row is summed. */
#define PF_AHEAD 8
static inline __attribute__((always_inline)) void prefetch_row(const float *restrict x,
                                                               const int32_t *restrict col,
                                                               size_t p, size_t pend, size_t d,
                                                               size_t j0, size_t len) {
    if (p + PF_AHEAD < pend) {
        const char *f = (const char *)(x + (size_t)col[p + PF_AHEAD] * d + j0);
        for (size_t b = 0; b < len * sizeof(float); b += 64) __builtin_prefetch(f + b);
    }
}

#ifdef CNS__X86_KERNELS
#include <immintrin.h>

__attribute__((target("avx512f"))) static uint32_t spmm_rows_avx512(
    const size_t *restrict rp, const int32_t *restrict col, const float *restrict val, size_t r0,
    size_t r1, size_t d, const float *restrict x, float *y,
    const float *base, float *acc, float scale) {
    const __m512 vs = _mm512_set1_ps(scale);
    const __m512i expo = _mm512_set1_epi32(0x7f800000);
    uint32_t bad = 0;
    const size_t pend = rp[r1];
    for (size_t r = r0; r < r1; ++r) {
        const size_t p0 = rp[r], p1 = rp[r + 1], o = r * d;
        size_t j0 = 0;
        for (; j0 + 64 <= d; j0 += 64) {
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            for (size_t p = p0; p < p1; ++p) {
                prefetch_row(x, col, p, pend, d, j0, 64);
                const __m512 v = _mm512_set1_ps(val[p]);
                const float *xr = x + (size_t)col[p] * d + j0;
                s0 = _mm512_add_ps(s0, _mm512_mul_ps(v, _mm512_loadu_ps(xr)));
                s1 = _mm512_add_ps(s1, _mm512_mul_ps(v, _mm512_loadu_ps(xr + 16)));
                s2 = _mm512_add_ps(s2, _mm512_mul_ps(v, _mm512_loadu_ps(xr + 32)));
                s3 = _mm512_add_ps(s3, _mm512_mul_ps(v, _mm512_loadu_ps(xr + 48)));
            }
            const __m512 sv[4] = {s0, s1, s2, s3};
            for (int q = 0; q < 4; ++q) {
                const size_t at = o + j0 + 16 * (size_t)q;
                if (y != NULL) _mm512_storeu_ps(y + at, sv[q]);
                /* base is loaded before acc is stored: they may be the same row. */
                const __m512 res = _mm512_mul_ps(_mm512_add_ps(_mm512_loadu_ps(base + at), sv[q]), vs);
                _mm512_storeu_ps(acc + at, res);
                bad |= _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(res), expo),
                                               expo) != 0;
            }
        }
        bad |= row_rest(col, val, p0, p1, x, d, j0, o, y, base, acc, scale);
    }
    return bad;
}

__attribute__((target("avx2"))) static uint32_t spmm_rows_avx2(
    const size_t *restrict rp, const int32_t *restrict col, const float *restrict val, size_t r0,
    size_t r1, size_t d, const float *restrict x, float *y,
    const float *base, float *acc, float scale) {
    const __m256 vs = _mm256_set1_ps(scale);
    const __m256i expo = _mm256_set1_epi32(0x7f800000);
    uint32_t bad = 0;
    const size_t pend = rp[r1];
    for (size_t r = r0; r < r1; ++r) {
        const size_t p0 = rp[r], p1 = rp[r + 1], o = r * d;
        size_t j0 = 0;
        for (; j0 + 64 <= d; j0 += 64) {
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0,
                   s6 = s0, s7 = s0;
            for (size_t p = p0; p < p1; ++p) {
                prefetch_row(x, col, p, pend, d, j0, 64);
                const __m256 v = _mm256_set1_ps(val[p]);
                const float *xr = x + (size_t)col[p] * d + j0;
                s0 = _mm256_add_ps(s0, _mm256_mul_ps(v, _mm256_loadu_ps(xr)));
                s1 = _mm256_add_ps(s1, _mm256_mul_ps(v, _mm256_loadu_ps(xr + 8)));
                s2 = _mm256_add_ps(s2, _mm256_mul_ps(v, _mm256_loadu_ps(xr + 16)));
                s3 = _mm256_add_ps(s3, _mm256_mul_ps(v, _mm256_loadu_ps(xr + 24)));
                s4 = _mm256_add_ps(s4, _mm256_mul_ps(v, _mm256_loadu_ps(xr + 32)));
                s5 = _mm256_add_ps(s5, _mm256_mul_ps(v, _mm256_loadu_ps(xr + 40)));
                s6 = _mm256_add_ps(s6, _mm256_mul_ps(v, _mm256_loadu_ps(xr + 48)));
                s7 = _mm256_add_ps(s7, _mm256_mul_ps(v, _mm256_loadu_ps(xr + 56)));
            }
            const __m256 sv[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
            __m256i badv = _mm256_setzero_si256();
            for (int q = 0; q < 8; ++q) {
                const size_t at = o + j0 + 8 * (size_t)q;
                if (y != NULL) _mm256_storeu_ps(y + at, sv[q]);
                const __m256 res = _mm256_mul_ps(_mm256_add_ps(_mm256_loadu_ps(base + at), sv[q]), vs);
                _mm256_storeu_ps(acc + at, res);
                badv = _mm256_or_si256(
                    badv, _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(res), expo), expo));
            }
            bad |= _mm256_movemask_epi8(badv) != 0;
        }
        bad |= row_rest(col, val, p0, p1, x, d, j0, o, y, base, acc, scale);
    }
    return bad;
}

/* Baseline x86-64 (SSE2): 32 columns at a time in 8 xmm registers. */
static uint32_t spmm_rows_sse2(const size_t *restrict rp, const int32_t *restrict col,
                               const float *restrict val, size_t r0, size_t r1, size_t d,
                               const float *restrict x, float *y, const float *base,
                               float *acc, float scale) {
    const __m128 vs = _mm_set1_ps(scale);
    const __m128i expo = _mm_set1_epi32(0x7f800000);
    uint32_t bad = 0;
    const size_t pend = rp[r1];
    for (size_t r = r0; r < r1; ++r) {
        const size_t p0 = rp[r], p1 = rp[r + 1], o = r * d;
        size_t j0 = 0;
        for (; j0 + 32 <= d; j0 += 32) {
            __m128 s0 = _mm_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0,
                   s7 = s0;
            for (size_t p = p0; p < p1; ++p) {
                prefetch_row(x, col, p, pend, d, j0, 32);
                const __m128 v = _mm_set1_ps(val[p]);
                const float *xr = x + (size_t)col[p] * d + j0;
                s0 = _mm_add_ps(s0, _mm_mul_ps(v, _mm_loadu_ps(xr)));
                s1 = _mm_add_ps(s1, _mm_mul_ps(v, _mm_loadu_ps(xr + 4)));
                s2 = _mm_add_ps(s2, _mm_mul_ps(v, _mm_loadu_ps(xr + 8)));
                s3 = _mm_add_ps(s3, _mm_mul_ps(v, _mm_loadu_ps(xr + 12)));
                s4 = _mm_add_ps(s4, _mm_mul_ps(v, _mm_loadu_ps(xr + 16)));
                s5 = _mm_add_ps(s5, _mm_mul_ps(v, _mm_loadu_ps(xr + 20)));
                s6 = _mm_add_ps(s6, _mm_mul_ps(v, _mm_loadu_ps(xr + 24)));
                s7 = _mm_add_ps(s7, _mm_mul_ps(v, _mm_loadu_ps(xr + 28)));
            }
            const __m128 sv[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
            __m128i badv = _mm_setzero_si128();
            for (int q = 0; q < 8; ++q) {
                const size_t at = o + j0 + 4 * (size_t)q;
                if (y != NULL) _mm_storeu_ps(y + at, sv[q]);
                const __m128 res = _mm_mul_ps(_mm_add_ps(_mm_loadu_ps(base + at), sv[q]), vs);
                _mm_storeu_ps(acc + at, res);
                badv = _mm_or_si128(badv,
                                    _mm_cmpeq_epi32(_mm_and_si128(_mm_castps_si128(res), expo), expo));
            }
            bad |= _mm_movemask_epi8(badv) != 0;
        }
        bad |= row_rest(col, val, p0, p1, x, d, j0, o, y, base, acc, scale);
    }
    return bad;
}

static spmm_fn pick_spmm(int kernel) {
    __builtin_cpu_init();
    const int has512 = __builtin_cpu_supports("avx512f") != 0;
    const int has2 = __builtin_cpu_supports("avx2") != 0;
    if (kernel == 0) kernel = has512 ? 3 : has2 ? 2 : 1;
    if (kernel >= 3 && has512) return spmm_rows_avx512;
    if (kernel >= 2 && has2) return spmm_rows_avx2;
    return spmm_rows_sse2;
}
#else
/* Portable C: 8-wide blocks (GCC and Clang vectorize them), then the tail. */
static uint32_t spmm_rows_plain(const size_t *restrict rp, const int32_t *restrict col,
                                const float *restrict val, size_t r0, size_t r1, size_t d,
                                const float *restrict x, float *y, const float *base,
                                float *acc, float scale) {
    uint32_t bad = 0;
    for (size_t r = r0; r < r1; ++r)
        bad |= row_rest(col, val, rp[r], rp[r + 1], x, d, 0, r * d, y, base, acc, scale);
    return bad;
}
static spmm_fn pick_spmm(int kernel) {
    (void)kernel;
    return spmm_rows_plain;
}
#endif

typedef struct layer_job {
    const cns__adj *adj;
    const size_t *bounds; /* part boundaries: rows, or positions in `rows` */
    const int32_t *rows;  /* NULL: parts are row ranges; else the listed rows */
    size_t d;
    const float *x;
    float *y;
    const float *base;
    float *acc;
    float scale;
    spmm_fn spmm;
    unsigned char bad[CNS__MAX_PARTS]; /* per part: one writer each */
} layer_job;

static void layer_range(void *arg, size_t part_begin, size_t part_end, int worker) {
    (void)worker;
    layer_job *j = arg;
    const size_t *rp = j->adj->row_ptr;
    for (size_t part = part_begin; part < part_end; ++part) {
        uint32_t bad = 0;
        if (j->rows == NULL) {
            bad = j->spmm(rp, j->adj->col, j->adj->val, j->bounds[part], j->bounds[part + 1], j->d,
                          j->x, j->y, j->base, j->acc, j->scale);
        } else {
            for (size_t k = j->bounds[part]; k < j->bounds[part + 1]; ++k) {
                const size_t r = (size_t)j->rows[k];
                bad |= j->spmm(rp, j->adj->col, j->adj->val, r, r + 1, j->d, j->x, j->y, j->base,
                               j->acc, j->scale);
            }
        }
        j->bad[part] = bad != 0;
    }
}

/* Cuts `count` units into `parts` ranges of about equal work, one unit per
 * row plus one per stored entry: node degrees are heavy-tailed, so equal
 * row counts would leave one worker with most of the entries. The units
 * are the rows themselves (rows == NULL) or the listed rows. The cut only
 * decides who computes a row, never how. */
static void split_work(const cns__adj *adj, const int32_t *rows, size_t count, size_t parts,
                       size_t *bounds) {
    const size_t *rp = adj->row_ptr;
    bounds[0] = 0;
    if (rows == NULL) {
        const double work = (double)(adj->nnz + count);
        for (size_t p = 1; p < parts; ++p) {
            const double target = work * (double)p / (double)parts;
            size_t lo = bounds[p - 1], hi = count; /* first r with rp[r] + r >= target */
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if ((double)(rp[mid] + mid) < target)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            bounds[p] = lo;
        }
    } else {
        double work = 0.0;
        for (size_t k = 0; k < count; ++k)
            work += (double)(rp[(size_t)rows[k] + 1] - rp[(size_t)rows[k]] + 1);
        double done = 0.0;
        size_t p = 1;
        for (size_t k = 0; k < count && p < parts; ++k) {
            while (p < parts && done >= work * (double)p / (double)parts) bounds[p++] = k;
            done += (double)(rp[(size_t)rows[k] + 1] - rp[(size_t)rows[k]] + 1);
        }
        while (p < parts) bounds[p++] = count;
    }
    bounds[parts] = count;
}

/* view = Â with only the entries whose column is flagged in rows->live, in
 * the same order, written to the scratch arrays of rows (view borrows them). A sum
 * over view's row is the sum over Â's row with the zero rows skipped: the
 * same operations on what remains. One branch-free pass: about half of a
 * batch's entries are live, in no pattern a predictor could learn, and
 * the gather that follows runs without a test per entry and prefetches
 * only rows it will read. */
static void live_columns(const cns__adj *adj, const cns__prop_rows *rows, cns__adj *view) {
    const size_t n = adj->n, *rp = adj->row_ptr;
    const int32_t *col = adj->col;
    const float *val = adj->val;
    const unsigned char *live = rows->live;
    size_t *vrp = rows->live_row_ptr;
    int32_t *vcol = rows->live_col;
    float *vval = rows->live_val;
    size_t q = 0;
    for (size_t r = 0; r < n; ++r) {
        vrp[r] = q;
        for (size_t p = rp[r]; p < rp[r + 1]; ++p) {
            const int32_t c = col[p];
            vcol[q] = c;
            vval[q] = val[p];
            q += live[c] != 0;
        }
    }
    vrp[n] = q;
    *view = *adj;
    view->nnz = q;
    view->row_ptr = vrp;
    view->col = vcol;
    view->val = vval;
}

int cns__lightgcn_propagate(const cns__adj *adj, int layers, size_t d, const float *in,
                            const cns__prop_rows *rows, float *out, float *s1, float *s2,
                            int threads) {
    const size_t n = adj->n;
    if (layers <= 0) {
        memcpy(out, in, n * d * sizeof *out);
        for (size_t k = 0; k < n * d; ++k)
            if (!isfinite(out[k])) return 1;
        return 0;
    }
    size_t max_parts = threads < 1 ? 1 : (size_t)threads;
    if (max_parts > CNS__MAX_PARTS) max_parts = CNS__MAX_PARTS;
    size_t bounds[CNS__MAX_PARTS + 1];

    /* A sparse input: Â restricted to the live columns, as its own CSR. */
    cns__adj live_view;
    const cns__adj *live = NULL;
    if (rows != NULL && rows->live != NULL) {
        live_columns(adj, rows, &live_view);
        live = &live_view;
    }
    const float last_scale = (float)(1.0 / (double)(layers + 1));
    layer_job job;
    job.adj = adj;
    job.bounds = bounds;
    job.d = d;
    job.x = in;
    job.spmm = pick_spmm(adj->kernel);
    int bad = 0;
    for (int k = 1; k <= layers; ++k) {
        /* Layer k's Â^k x is kept only when layer k + 1 reads it. */
        float *y = k == layers ? NULL : (k % 2 ? s1 : s2);
        /* The first layer of a sparse input reads only the live entries. */
        job.adj = k == 1 && live != NULL ? live : adj;
        job.y = y;
        job.base = k == 1 ? in : out;
        job.acc = out;
        job.scale = k == layers ? last_scale : 1.0f;
        /* The last layer computes only the listed rows, when there is a list. */
        job.rows = k == layers && rows != NULL ? rows->dst : NULL;
        const size_t count = job.rows ? rows->n_dst : n;
        size_t parts = max_parts;
        if (parts > count) parts = count ? count : 1;
        split_work(job.adj, job.rows, count, parts, bounds);
        cns__parallel_for((int)parts, parts, 1, layer_range, &job);
        for (size_t part = 0; part < parts; ++part) bad |= job.bad[part];
        job.x = y;
    }
    return bad;
}
