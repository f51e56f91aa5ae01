/* libFuzzer target for the model, sampler and loss loaders
 * (lib/model_io.c, lib/sampler_io.c, lib/loss_io.c), end to end through
 * the public calls, in both forms.
 *
 * Each input is written to one temporary file per process and loaded with
 * cns_model_load, cns_sampler_load and cns_loss_load, and handed as it is
 * to their memory forms (cns_*_load_mem), which must give the same status
 * and the same detail (the file form prefixes the path), and hold at most
 * the bound of fuzz_mem.h while they run; then again with
 * every reachable CRC32C recomputed, so mutations get past the container's
 * checksums into the loaders' own checks (shapes, graph, hyperparameters,
 * finite weights, tunables, RNG state). Beyond ASan/UBSan/LSan it checks
 * the contract: a rejection is one of the documented statuses, with err
 * filled in and *out NULL; an accepted model or sampler is usable (the
 * model recommends and gathers, the sampler draws, the loss computes). The seeds are
 * tests/fuzz/corpus/model_load/ (written by gen_model_load_corpus.c).
 *
 * Run: CNS_FUZZ_SECONDS=60 tests/ci/fuzz.sh model_load */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cnsdiff/cnsdiff.h"
#include "fuzz_mem.h"
#include "fuzz_reseal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)                       \
    do {                                 \
        if (!(c)) __builtin_trap();      \
    } while (0)

static char g_path[64]; /* this process's scratch file */

static void put_file(const unsigned char *b, size_t n) {
    if (g_path[0] == '\0') {
        snprintf(g_path, sizeof g_path, "/tmp/cns_fuzz_model_load_XXXXXX");
        int fd = mkstemp(g_path);
        REQUIRE(fd >= 0);
        close(fd);
    }
    int fd = open(g_path, O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0);
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, b + done, n - done);
        REQUIRE(w > 0);
        done += (size_t)w;
    }
    close(fd);
}

static int load_status_ok(int st) {
    return st == CNS_E_CORRUPT || st == CNS_E_VERSION || st == CNS_E_IO || st == CNS_E_NOMEM;
}

static const unsigned char *g_data; /* the current input, for the memory forms */
static size_t g_size;

/* The memory form's answer agrees with the file form's st / err: the same
 * status, and for content errors the same detail after the "'path': "
 * prefix. The file form may also fail where memory cannot (CNS_E_IO). */
static void agree(int st_file, const cns_error *ef, int st_mem, const cns_error *em) {
    if (st_file == CNS_E_IO) return;
    REQUIRE(st_mem == st_file);
    if (st_mem == CNS_OK) return;
    REQUIRE(em->status == st_mem && em->message[0] != '\0');
    if (st_file == CNS_E_CORRUPT || st_file == CNS_E_VERSION) {
        size_t lf = strlen(ef->message), lm = strlen(em->message);
        /* A message cut at the buffer size may differ in its tail. */
        if (lf + 1 < sizeof ef->message)
            REQUIRE(lf >= lm && strcmp(ef->message + (lf - lm), em->message) == 0);
    }
}

static cns_allocator counted(fuzz_alloc *fa) {
    memset(fa, 0, sizeof *fa);
    cns_allocator a = {fuzz_alloc_fn, fuzz_free_fn, fa};
    return a;
}

static void check_model_mem(int st_file, const cns_error *ef) {
    fuzz_alloc fa;
    cns_allocator a = counted(&fa);
    cns_model *m = (cns_model *)1;
    cns_error em;
    memset(&em, 0, sizeof em);
    int st = cns_model_load_mem(g_data, g_size, &a, &m, &em);
    agree(st_file, ef, st, &em);
    REQUIRE(st == CNS_OK ? m != NULL : m == NULL);
    cns_model_free(m);
    REQUIRE(fa.live == 0 && fuzz_mem_ok(&fa, g_size));
}

static void check_sampler_mem(int st_file, const cns_error *ef) {
    fuzz_alloc fa;
    cns_allocator a = counted(&fa);
    cns_sampler *s = (cns_sampler *)1;
    cns_error em;
    memset(&em, 0, sizeof em);
    int st = cns_sampler_load_mem(g_data, g_size, &a, &s, &em);
    agree(st_file, ef, st, &em);
    REQUIRE(st == CNS_OK ? s != NULL : s == NULL);
    cns_sampler_free(s);
    REQUIRE(fa.live == 0 && fuzz_mem_ok(&fa, g_size));
}

/* The loss in both forms; an accepted one round-trips through memory and
 * computes a small batch. */
static void check_loss(void) {
    cns_loss *l = (cns_loss *)1;
    cns_error ef;
    memset(&ef, 0, sizeof ef);
    int st = cns_loss_load(g_path, NULL, &l, &ef);
    if (st != CNS_OK) {
        REQUIRE(load_status_ok(st));
        REQUIRE(l == NULL && ef.status == st && ef.message[0] != '\0');
    } else {
        REQUIRE(l != NULL);
        cns_loss_free(l);
    }
    fuzz_alloc fa;
    cns_allocator a = counted(&fa);
    cns_loss *m = (cns_loss *)1;
    cns_error em;
    memset(&em, 0, sizeof em);
    int sm = cns_loss_load_mem(g_data, g_size, &a, &m, &em);
    agree(st, &ef, sm, &em);
    if (sm == CNS_OK) {
        REQUIRE(m != NULL);
        /* Saved again, it loads again and saves to the same bytes (the
         * input itself may hold its records in another order). */
        size_t n = 0;
        REQUIRE(cns_loss_save_mem(m, NULL, 0, &n) == CNS_OK);
        unsigned char *again = malloc(n), *third = malloc(n);
        REQUIRE(again != NULL && third != NULL);
        REQUIRE(cns_loss_save_mem(m, again, n, &n) == CNS_OK);
        cns_loss *r = NULL;
        REQUIRE(cns_loss_load_mem(again, n, NULL, &r, NULL) == CNS_OK);
        size_t n3 = 0;
        REQUIRE(cns_loss_save_mem(r, third, n, &n3) == CNS_OK && n3 == n);
        REQUIRE(memcmp(again, third, n) == 0);
        cns_loss_free(r);
        free(again);
        free(third);
        int32_t d = cns_loss_dim(m);
        if (d <= 64) {
            float *b = calloc((size_t)d * 8, sizeof(float));
            REQUIRE(b != NULL);
            for (int32_t k = 0; k < d; ++k) b[k] = b[d + k] = b[2 * d + k] = 0.1f * (float)(k % 5);
            int cs = cns_loss_compute(m, b, b + d, b + 2 * d, b + 3 * d, NULL, 1, b + 4 * d,
                                      b + 5 * d, b + 6 * d, NULL);
            REQUIRE(cs == CNS_OK || cs == CNS_E_NUMERIC);
            free(b);
        }
    } else {
        REQUIRE(m == NULL);
    }
    cns_loss_free(m);
    REQUIRE(fa.live == 0 && fuzz_mem_ok(&fa, g_size));
}

static void check_model(void) {
    cns_model *m = (cns_model *)1;
    cns_error err;
    memset(&err, 0, sizeof err);
    int st = cns_model_load(g_path, NULL, &m, &err);
    check_model_mem(st, &err);
    if (st != CNS_OK) {
        REQUIRE(load_status_ok(st));
        REQUIRE(m == NULL && err.status == st && err.message[0] != '\0');
        return;
    }
    REQUIRE(m != NULL);
    int32_t users = cns_model_num_users(m), items = cns_model_num_items(m), d = cns_model_dim(m);
    REQUIRE(users >= 1 && items >= 1 && d >= 1);
    int32_t top[4];
    float scores[4];
    size_t got = 0;
    REQUIRE(cns_model_recommend(m, users - 1, 4, top, scores, &got) == CNS_OK);
    REQUIRE(got <= 4);
    for (size_t k = 0; k < got; ++k) REQUIRE(top[k] >= 0 && top[k] < items);
    float *row = malloc((size_t)d * sizeof(float));
    REQUIRE(row != NULL);
    int32_t last = items - 1;
    REQUIRE(cns_model_gather(m, CNS_TABLE_ITEMS, &last, 1, row) == CNS_OK);
    free(row);
    const cns_dataset *g = cns_model_train_data(m);
    REQUIRE(g != NULL && cns_dataset_num_users(g) == users && cns_dataset_num_items(g) == items);
    cns_model_free(m);
}

static void check_sampler(void) {
    cns_sampler *s = (cns_sampler *)1;
    cns_error err;
    memset(&err, 0, sizeof err);
    int st = cns_sampler_load(g_path, NULL, &s, &err);
    check_sampler_mem(st, &err);
    if (st != CNS_OK) {
        REQUIRE(load_status_ok(st));
        REQUIRE(s == NULL && err.status == st && err.message[0] != '\0');
        return;
    }
    REQUIRE(s != NULL);
    int32_t kind = cns_sampler_kind_of(s), d = cns_sampler_dim(s);
    REQUIRE(kind >= CNS_SAMPLER_UNIFORM && kind <= CNS_SAMPLER_DIFFUSION);
    /* A draw on a small batch: only when cheap (the fuzzer's time limit). */
    if (kind == CNS_SAMPLER_DIFFUSION && d <= 256) {
        float *buf = calloc((size_t)d * 3, sizeof(float));
        REQUIRE(buf != NULL);
        for (int32_t k = 0; k < d; ++k) buf[k] = buf[d + k] = 0.1f * (float)(k % 7) - 0.3f;
        st = cns_sampler_draw(s, buf, buf + d, 1, buf + 2 * d);
        REQUIRE(st == CNS_OK || st == CNS_E_STATE || st == CNS_E_NUMERIC);
        free(buf);
    }
    cns_sampler_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL) return 0;
    if (size > 0) memcpy(copy, data, size);
    put_file(copy, size);
    g_data = copy;
    g_size = size;
    check_model();
    check_sampler();
    check_loss();
    reseal(copy, size);
    if (size == 0 || memcmp(copy, data, size) != 0) {
        put_file(copy, size);
        check_model();
        check_sampler();
        check_loss();
    }
    free(copy);
    return 0;
}
