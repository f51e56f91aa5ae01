/* cnsdiff recommend — top-K items for a user from a saved model. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cnsdiff/cnsdiff.h"
#include "ids.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cnsdiff recommend --model FILE --user U [-k K] [--ids MODE]\n"
            "\n"
            "Prints the K (default 20) highest-scored items for user U, one 'item score' line\n"
            "each, best first, excluding the user's training items (ties: smaller item index).\n"
            "A model trained on raw ids (an id map) takes U as a raw user id and prints raw\n"
            "item ids; a model trained on dense ids takes and prints indices.\n"
            "Scores are the model's own <e_u, e_i>: a score discount on the direction's axis\n"
            "(`cnsdiff train --set score_discount=A`, ALGORITHM.md §16) is not applied here;\n"
            "a host applies it with cns_sampler_score_items.\n"
            "\n"
            "  --ids MODE   auto (default): raw ids when the model holds an id map;\n"
            "               dense: indices even then; map: raw ids (an error without a map)\n"
            "\n"
            "Exit status: 0 success, 1 the library reported an error, 2 usage error.\n");
}

int cmd_recommend(int argc, char **argv) {
    const char *model_path = NULL, *user_arg = NULL;
    long k = 20;
    int ids = CNS_IDS_AUTO;
    /* Every option takes a value: they come in pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        int r = ids_option("recommend", argc, argv, &i, &ids);
        if (r < 0) return 2;
        if (r > 0) {
            --i; /* the loop steps by two */
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "cnsdiff recommend: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        char *end;
        errno = 0;
        if (strcmp(a, "--model") == 0) {
            model_path = v;
        } else if (strcmp(a, "--user") == 0) {
            user_arg = v;
        } else if (strcmp(a, "-k") == 0 || strcmp(a, "--k") == 0) {
            k = strtol(v, &end, 10);
            if (errno || *end || k < 1 || k > 100000) {
                fprintf(stderr, "cnsdiff recommend: -k takes an integer in [1, 100000], got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "cnsdiff recommend: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (model_path == NULL || user_arg == NULL) {
        fprintf(stderr, "cnsdiff recommend: --model and --user are required\n");
        usage(stderr);
        return 2;
    }
    cns_error err;
    cns_model *model = NULL;
    if (cns_model_load(model_path, NULL, &model, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s\n", err.message);
        return 1;
    }
    int bad;
    const cns_idmap *map = ids_model_map("recommend", model, ids, &bad);
    long user = -1;
    if (!bad && map == NULL) {
        char *end;
        errno = 0;
        user = strtol(user_arg, &end, 10);
        if (errno || *end || end == user_arg || user < 0 || user > INT32_MAX) {
            fprintf(stderr, "cnsdiff recommend: --user takes a non-negative index (the model has "
                            "dense ids), got '%s'\n", user_arg);
            bad = 1;
        }
    }
    if (bad) {
        cns_model_free(model);
        return 2;
    }
    int32_t *items = malloc((size_t)k * sizeof *items);
    const char **raw = malloc((size_t)k * sizeof *raw);
    float *scores = malloc((size_t)k * sizeof *scores);
    int rc = 1;
    size_t got = 0;
    cns_status st;
    if (items == NULL || scores == NULL || raw == NULL) {
        fprintf(stderr, "cnsdiff: out of memory\n");
    } else if (map != NULL) {
        st = cns_model_recommend_raw(model, user_arg, strlen(user_arg), (size_t)k, items, raw,
                                     scores, &got);
        if (st == CNS_E_ID_RANGE)
            fprintf(stderr, "cnsdiff: user '%s' is not in the model's training data\n", user_arg);
        else if (st != CNS_OK)
            fprintf(stderr, "cnsdiff: recommend for user '%s': %s\n", user_arg, cns_strerror(st));
        else {
            for (size_t i = 0; i < got; ++i) printf("%s %.6f\n", raw[i], scores[i]);
            rc = 0;
        }
    } else if ((st = cns_model_recommend(model, (int32_t)user, (size_t)k, items, scores, &got)) !=
               CNS_OK) {
        fprintf(stderr, "cnsdiff: recommend for user %ld: %s (the model has %d users)\n", user,
                cns_strerror(st), (int)cns_model_num_users(model));
    } else {
        for (size_t i = 0; i < got; ++i) printf("%d %.6f\n", (int)items[i], scores[i]);
        rc = 0;
    }
    free(items);
    free(raw);
    free(scores);
    cns_model_free(model);
    return rc;
}
