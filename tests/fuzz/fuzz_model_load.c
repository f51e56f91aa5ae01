/* libFuzzer target for the model and sampler loaders (lib/model_io.c,
 * lib/sampler_io.c), end to end through the public calls.
 *
 * The loaders read a path (there is no parse-from-buffer entry past the
 * container), so each input is written to one temporary file per process
 * and loaded with cns_model_load and cns_sampler_load; then again with
 * every reachable CRC32C recomputed, so mutations get past the container's
 * checksums into the loaders' own checks (shapes, graph, hyperparameters,
 * finite weights, tunables, RNG state). Beyond ASan/UBSan/LSan it checks
 * the contract: a rejection is one of the documented statuses, with err
 * filled in and *out NULL; an accepted model or sampler is usable (the
 * model recommends and gathers, the sampler draws). The seeds are
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

static void check_model(void) {
    cns_model *m = (cns_model *)1;
    cns_error err;
    memset(&err, 0, sizeof err);
    int st = cns_model_load(g_path, NULL, &m, &err);
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
    check_model();
    check_sampler();
    reseal(copy, size);
    if (size == 0 || memcmp(copy, data, size) != 0) {
        put_file(copy, size);
        check_model();
        check_sampler();
    }
    free(copy);
    return 0;
}
