/* cnsdiff bench eval — times cns_evaluator_run over every test user with
 * random (seeded) embeddings of the training set's shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cnsdiff/cnsdiff.h"
#include "parallel.h"
#include "rng.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cnsdiff bench eval --train FILE --test FILE [--dim D] [--repeat R]\n"
            "                          [--threads T] [--block B] [--seed S]\n"
            "\n"
            "Scores every item for every test user (Recall/NDCG/... at K = 10, 20) with\n"
            "random N(0, 0.1^2) embeddings; prints the median wall time over R runs\n"
            "(default D = 64, R = 7, T = 1, S = 1, B = the evaluator's default).\n");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Parses a positive integer option value; 0 on error. */
static long parse_pos(const char *name, const char *v, long max) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < 1 || x > max) {
        fprintf(stderr, "cnsdiff bench eval: %s must be an integer in [1, %ld], got '%s'\n", name,
                max, v);
        return 0;
    }
    return x;
}

int bench_eval(int argc, char **argv) {
    const char *train_path = NULL, *test_path = NULL;
    long dim = 64, repeat = 7, threads = 1, seed = 1, block = 0;
    for (int a = 1; a < argc; ++a) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "cnsdiff bench eval: unknown or incomplete option '%s'\n", argv[a]);
            usage(stderr);
            return 2;
        }
        const char *opt = argv[a], *v = argv[++a];
        long *target = NULL, max = 0;
        if (strcmp(opt, "--train") == 0)
            train_path = v;
        else if (strcmp(opt, "--test") == 0)
            test_path = v;
        else if (strcmp(opt, "--dim") == 0)
            target = &dim, max = 4096;
        else if (strcmp(opt, "--repeat") == 0)
            target = &repeat, max = 1000;
        else if (strcmp(opt, "--threads") == 0)
            target = &threads, max = 256;
        else if (strcmp(opt, "--block") == 0)
            target = &block, max = 65536;
        else if (strcmp(opt, "--seed") == 0)
            target = &seed, max = 2147483647L;
        else {
            fprintf(stderr, "cnsdiff bench eval: unknown option '%s'\n", opt);
            usage(stderr);
            return 2;
        }
        if (target != NULL && (*target = parse_pos(opt, v, max)) == 0) return 2;
    }
    if (train_path == NULL || test_path == NULL) {
        fprintf(stderr, "cnsdiff bench eval: --train and --test are required\n");
        usage(stderr);
        return 2;
    }

    int rc = 1;
    cns_error err;
    cns_dataset *train = NULL, *test = NULL;
    cns_evaluator *ev = NULL;
    float *U = NULL, *I = NULL;
    double *times = NULL;
    if (cns_dataset_load_file(train_path, 0, NULL, &train, &err) != CNS_OK ||
        cns_dataset_load_file(test_path, 0, NULL, &test, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff bench eval: %s\n", err.message);
        goto done;
    }
    int32_t nu = cns_dataset_num_users(train), ni = cns_dataset_num_items(train);
    U = malloc((size_t)nu * (size_t)dim * sizeof *U);
    I = malloc((size_t)ni * (size_t)dim * sizeof *I);
    times = malloc((size_t)repeat * sizeof *times);
    if (U == NULL || I == NULL || times == NULL) {
        fprintf(stderr, "cnsdiff bench eval: out of memory\n");
        goto done;
    }
    cns__rng rng;
    cns__rng_seed(&rng, (uint64_t)seed, 0);
    cns__rng_normal_fill(&rng, U, (size_t)nu * (size_t)dim, 0.1f);
    cns__rng_normal_fill(&rng, I, (size_t)ni * (size_t)dim, 0.1f);
    if (cns_evaluator_create(train, NULL, &ev, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff bench eval: %s\n", err.message);
        goto done;
    }
    if (cns_evaluator_set_int(ev, CNS_EVAL_THREADS, threads) != CNS_OK ||
        (block > 0 && cns_evaluator_set_int(ev, CNS_EVAL_BLOCK_USERS, block) != CNS_OK)) {
        fprintf(stderr, "cnsdiff bench eval: %s\n", cns_evaluator_last_error(ev));
        goto done;
    }
    int32_t ks[2] = {10, 20};
    int nks = ni >= 20 ? 2 : 1;
    if (ni < 10) ks[0] = ni;
    double out[2 * CNS_METRIC_COUNT];
    size_t n_eval = 0;
    for (long r = 0; r < repeat; ++r) {
        double t0 = cns__now();
        cns_status st = cns_evaluator_run(ev, U, nu, I, ni, (int32_t)dim, test, ks, (size_t)nks,
                                          out, &n_eval);
        times[r] = cns__now() - t0;
        if (st != CNS_OK) {
            fprintf(stderr, "cnsdiff bench eval: %s: %s\n", cns_status_name(st),
                    cns_evaluator_last_error(ev));
            goto done;
        }
    }
    qsort(times, (size_t)repeat, sizeof *times, cmp_double);
    printf("eval_ms %.2f ms\n", 1e3 * times[repeat / 2]);
    printf("eval_users %zu users\n", n_eval);
    rc = 0;
done:
    cns_evaluator_free(ev);
    cns_dataset_free(test);
    cns_dataset_free(train);
    free(U);
    free(I);
    free(times);
    return rc;
}
