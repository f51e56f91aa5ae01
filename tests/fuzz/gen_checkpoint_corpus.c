/* Writes the seed corpus of tests/fuzz/corpus/checkpoint/ (run by hand; the
 * files are committed). Names follow the rule that
 * tests/test_fuzz_replay_checkpoint.c enforces (docs/CHECKPOINT.md):
 * model-* and sampler-* are valid checkpoints of that kind, bad-* are
 * corrupt, future-* claim a newer format version.
 *
 *   cc -Iinclude -Ibuild/include -Ilib -DCNS_STATIC -D_POSIX_C_SOURCE=200809L \
 *     tests/fuzz/gen_checkpoint_corpus.c build/libcnsdiff.a \
 *     $(pkg-config --libs openblas) -lpthread -lm -o /tmp/gen_ckpt
 *   /tmp/gen_ckpt tests/fuzz/corpus/checkpoint
 *
 * The section contents follow the layouts proposed in docs/CHECKPOINT.md
 * with tiny shapes, so the fuzzer starts from realistic files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "checkpoint.h"

enum { DIM = 4, USERS = 3, ITEMS = 5, NNZ = 7 };

static int put(const char *dir, const char *name, uint32_t kind, const cns__ckpt_section *s, size_t n) {
    char path[1024], msg[CNS_ERROR_MESSAGE_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cns__alloc al;
    cns__alloc_init(&al, NULL);
    if (cns__ckpt_write(path, kind, s, n, NULL, &al, msg) != CNS_OK) {
        fprintf(stderr, "%s: %s\n", path, msg);
        return 1;
    }
    return 0;
}

/* Copies src to dst after edit(bytes, len) changed it. */
static int derive(const char *dir, const char *src, const char *dst, size_t keep, size_t flip,
                  uint32_t version) {
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s/%s", dir, src);
    snprintf(out, sizeof out, "%s/%s", dir, dst);
    unsigned char buf[65536];
    FILE *f = fopen(in, "rb");
    if (f == NULL) return 1;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (keep < n) n = keep;
    if (flip < n) buf[flip] ^= 0x10;
    if (version != 0) cns__le32_put(buf + 8, version);
    f = fopen(out, "wb");
    if (f == NULL || fwrite(buf, 1, n, f) != n) return 1;
    return fclose(f) != 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int bad = 0;

    /* 'MHDR': u32 dim, layers, num_users, num_items; u64 seed; f64 lr, reg,
     * beta1, beta2, eps; u64 adam step (72 bytes). */
    unsigned char mhdr[72];
    cns__le32_put(mhdr + 0, DIM);
    cns__le32_put(mhdr + 4, 2);
    cns__le32_put(mhdr + 8, USERS);
    cns__le32_put(mhdr + 12, ITEMS);
    cns__le64_put(mhdr + 16, 42);
    const double hp[5] = {1e-3, 1e-4, 0.9, 0.999, 1e-8};
    for (int i = 0; i < 5; ++i) memcpy(mhdr + 24 + 8 * i, &hp[i], 8);
    cns__le64_put(mhdr + 64, 17);
    /* 'GRPH': user_ptr u64[USERS+1], items i32[NNZ]. */
    uint64_t ptr[USERS + 1] = {0, 3, 4, NNZ};
    int32_t items[NNZ] = {0, 2, 4, 1, 0, 3, 4};
    unsigned char grph[sizeof ptr + sizeof items];
    memcpy(grph, ptr, sizeof ptr);
    memcpy(grph + sizeof ptr, items, sizeof items);
    float egou[USERS * DIM], egoi[ITEMS * DIM], admm[(USERS + ITEMS) * DIM], admv[(USERS + ITEMS) * DIM];
    for (int i = 0; i < USERS * DIM; ++i) egou[i] = 0.01f * (float)(i - 6);
    for (int i = 0; i < ITEMS * DIM; ++i) egoi[i] = -0.02f * (float)(i - 9);
    for (int i = 0; i < (USERS + ITEMS) * DIM; ++i) {
        admm[i] = 1e-3f * (float)i;
        admv[i] = 1e-6f * (float)(i * i);
    }
    cns__ckpt_section model[] = {
        {CNS__TAG_MHDR, mhdr, sizeof mhdr}, {CNS__TAG_GRPH, grph, sizeof grph},
        {CNS__TAG_EGOU, egou, sizeof egou}, {CNS__TAG_EGOI, egoi, sizeof egoi},
        {CNS__TAG_ADMM, admm, sizeof admm}, {CNS__TAG_ADMV, admv, sizeof admv}};
    bad |= put(dir, "model-small.ckpt", CNS__CKPT_KIND_MODEL, model, 6);
    bad |= put(dir, "model-header-only.ckpt", CNS__CKPT_KIND_MODEL, model, 1);
    bad |= put(dir, "model-empty.ckpt", CNS__CKPT_KIND_MODEL, NULL, 0);

    /* 'SHDR' (descriptor + tunables, opaque here), 'DNSR', 'DADM'. */
    unsigned char shdr[40];
    for (int i = 0; i < 40; ++i) shdr[i] = (unsigned char)(i * 3);
    float dnsr[24], dadm[49];
    for (int i = 0; i < 24; ++i) dnsr[i] = 0.1f * (float)(i % 7) - 0.3f;
    for (int i = 0; i < 49; ++i) dadm[i] = 1e-4f * (float)i;
    cns__ckpt_section sampler[] = {{CNS__TAG_SHDR, shdr, 37},
                                   {CNS__TAG_DNSR, dnsr, sizeof dnsr},
                                   {CNS__TAG_DADM, dadm, sizeof dadm}};
    bad |= put(dir, "sampler-small.ckpt", CNS__CKPT_KIND_SAMPLER, sampler, 3);
    bad |= put(dir, "sampler-one.ckpt", CNS__CKPT_KIND_SAMPLER, sampler, 1);

    bad |= derive(dir, "model-small.ckpt", "bad-truncated.ckpt", 100, SIZE_MAX, 0);
    bad |= derive(dir, "sampler-small.ckpt", "bad-payload-crc.ckpt", SIZE_MAX, 150, 0);
    bad |= derive(dir, "model-small.ckpt", "bad-table-crc.ckpt", SIZE_MAX, 60, 0);
    bad |= derive(dir, "sampler-small.ckpt", "future-v2.ckpt", SIZE_MAX, SIZE_MAX, 2);
    return bad;
}
