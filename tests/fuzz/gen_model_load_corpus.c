/* Writes the seed corpus of tests/fuzz/corpus/model_load/ (run by hand;
 * the files are committed): small valid checkpoints made through the
 * public API, plus two corrupt derivatives. Names follow the rule
 * tests/test_fuzz_replay_model_load.c enforces: model-* load as a model
 * (and are CNS_E_CORRUPT as the other kinds), sampler-* and loss-* as a
 * sampler and a loss only, bad-* are CNS_E_CORRUPT as all three. The
 * loss-* seeds are also copied into tests/fuzz/corpus/checkpoint/.
 *
 *   cc -Iinclude -Ibuild/include -DCNS_STATIC -D_POSIX_C_SOURCE=200809L \
 *     tests/fuzz/gen_model_load_corpus.c build/libcnsdiff.a \
 *     $(pkg-config --libs openblas) -lpthread -lm -o /tmp/gen_model_load
 *   /tmp/gen_model_load tests/fuzz/corpus/model_load */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnsdiff/cnsdiff.h"

#define CHECK(x)                                                                        \
    do {                                                                                \
        int st_ = (x);                                                                  \
        if (st_ != CNS_OK) {                                                            \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cns_status_name(st_)); \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

static const int32_t k_users[] = {0, 0, 0, 1, 1, 2, 2, 3, 4, 4};
static const int32_t k_items[] = {0, 2, 4, 1, 3, 0, 5, 2, 1, 5};

static cns_dataset *train_set(void) {
    cns_dataset *ds = NULL;
    cns_error err;
    CHECK(cns_dataset_from_arrays(k_users, k_items, 10, 0, 0, NULL, &ds, &err));
    return ds;
}

static void model_file(const char *dir, const char *name, int32_t dim, int32_t layers, int epochs) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cns_error err;
    cns_dataset *ds = train_set();
    cns_model_desc md;
    cns_model_desc_init(&md);
    md.dim = dim;
    md.layers = layers;
    md.seed = 7;
    cns_model *m = NULL;
    CHECK(cns_model_create(ds, &md, NULL, &m, &err));
    cns_loss_desc ld;
    cns_loss_desc_init(&ld);
    ld.dim = dim;
    cns_loss *l = NULL;
    CHECK(cns_loss_create(&ld, NULL, &l, &err));
    cns_trainer *t = NULL;
    CHECK(cns_trainer_create(m, NULL, l, ds, 4, 1, NULL, &t, &err));
    for (int e = 0; e < epochs; ++e) CHECK(cns_trainer_run_epoch(t, e, NULL));
    CHECK(cns_model_save(m, path));
    cns_trainer_free(t);
    cns_loss_free(l);
    cns_model_free(m);
    cns_dataset_free(ds);
}

/* A model with raw ids: the optional section 'IDMP' (docs/CHECKPOINT.md). */
static void model_idmap_file(const char *dir, const char *name) {
    static const char text[] = "alice shoe-42\nbob shoe-7\nalice hat\n18446744073709551615 shoe-7\n";
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cns_error err;
    cns_load_options o;
    cns_load_options_init(&o);
    o.ids = CNS_IDS_MAP;
    cns_dataset *ds = NULL;
    cns_idmap *map = NULL;
    CHECK(cns_dataset_load_buffer_ids(text, sizeof text - 1, "seed", &o, NULL, &ds, &map, &err));
    cns_model_desc md;
    cns_model_desc_init(&md);
    md.dim = 2;
    md.layers = 1;
    cns_model *m = NULL;
    CHECK(cns_model_create(ds, &md, NULL, &m, &err));
    CHECK(cns_model_set_idmap(m, map));
    CHECK(cns_model_save(m, path));
    cns_model_free(m);
    cns_idmap_free(map);
    cns_dataset_free(ds);
}

static void sampler_file(const char *dir, const char *name, int32_t kind, int train_steps) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cns_error err;
    cns_sampler_desc sd;
    cns_sampler_desc_init(&sd);
    sd.kind = kind;
    sd.dim = 3;
    sd.steps = 4;
    sd.time_dim = 2;
    sd.hidden = 3;
    sd.seed = 9;
    cns_sampler *s = NULL;
    CHECK(cns_sampler_create(&sd, NULL, &s, &err));
    CHECK(cns_sampler_set_int(s, CNS_SAMPLER_SAMPLE_START, 2));
    CHECK(cns_sampler_set_int(s, CNS_SAMPLER_STRIDE, 1));
    CHECK(cns_sampler_set_int(s, CNS_SAMPLER_NUM_STEPS, 4));
    const float pos[6] = {0.1f, -0.2f, 0.3f, 0.0f, 0.4f, -0.1f};
    float out[6];
    for (int k = 0; k < train_steps; ++k) {
        CHECK(cns_sampler_train_step(s, pos, 2, NULL));
        CHECK(cns_sampler_draw(s, pos, pos, 2, out));
    }
    CHECK(cns_sampler_save(s, path));
    cns_sampler_free(s);
}

/* A loss with tunables off their defaults, after `computes` computes of
 * epoch 2, so the draw counter is not 0. */
static void loss_file(const char *dir, const char *name, int computes) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cns_loss_desc ld;
    cns_loss_desc_init(&ld);
    ld.dim = 3;
    ld.seed = 21;
    cns_loss *l = NULL;
    CHECK(cns_loss_create(&ld, NULL, &l, NULL));
    CHECK(cns_loss_set_int(l, CNS_LOSS_MIXING, 1));
    CHECK(cns_loss_set_double(l, CNS_LOSS_TEMPERATURE, 0.5));
    CHECK(cns_loss_set_epoch(l, 2));
    const float u[6] = {0.1f, -0.2f, 0.3f, 0.0f, 0.4f, -0.1f};
    const float p[6] = {0.2f, 0.1f, -0.3f, 0.5f, 0.0f, 0.1f};
    float gu[6], gp[6], gn[6];
    for (int k = 0; k < computes; ++k) CHECK(cns_loss_compute(l, u, p, u, p, NULL, 2, gu, gp, gn, NULL));
    CHECK(cns_loss_save(l, path));
    cns_loss_free(l);
}

/* dst = src cut to keep bytes, with byte flip (if < length) xor 0x10. */
static void derive(const char *dir, const char *src, const char *dst, size_t keep, size_t flip) {
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s/%s", dir, src);
    snprintf(out, sizeof out, "%s/%s", dir, dst);
    static unsigned char buf[1 << 16];
    FILE *f = fopen(in, "rb");
    if (f == NULL) exit(1);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (keep < n) n = keep;
    if (flip < n) buf[flip] ^= 0x10;
    f = fopen(out, "wb");
    if (f == NULL || fwrite(buf, 1, n, f) != n || fclose(f) != 0) exit(1);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    model_file(dir, "model-mf.ckpt", 2, 0, 1);
    model_file(dir, "model-lightgcn.ckpt", 3, 2, 2);
    model_file(dir, "model-fresh.ckpt", 1, 1, 0);
    model_idmap_file(dir, "model-idmap.ckpt");
    sampler_file(dir, "sampler-diffusion.ckpt", CNS_SAMPLER_DIFFUSION, 2);
    sampler_file(dir, "sampler-diffusion-fresh.ckpt", CNS_SAMPLER_DIFFUSION, 0);
    sampler_file(dir, "sampler-uniform.ckpt", CNS_SAMPLER_UNIFORM, 0);
    sampler_file(dir, "sampler-dns.ckpt", CNS_SAMPLER_DNS, 0);
    loss_file(dir, "loss-fresh.ckpt", 0);
    loss_file(dir, "loss-computed.ckpt", 3);
    derive(dir, "model-mf.ckpt", "bad-model-truncated.ckpt", 100, (size_t)-1);
    derive(dir, "sampler-diffusion.ckpt", "bad-sampler-flipped.ckpt", (size_t)-1, 200);
    return 0;
}
