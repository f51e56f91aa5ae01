/* cnsdiff recommend — top-K items for a user from a saved model. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cnsdiff/cnsdiff.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cnsdiff recommend --model FILE --user U [-k K]\n"
            "\n"
            "Prints the K (default 20) highest-scored items for user U, one 'item score' line\n"
            "each, best first, excluding the user's training items (ties: smaller item id).\n"
            "\n"
            "Exit status: 0 success, 1 the library reported an error, 2 usage error.\n");
}

int cmd_recommend(int argc, char **argv) {
    const char *model_path = NULL;
    long user = -1, k = 20;
    /* Every option takes a value: they come in pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
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
            user = strtol(v, &end, 10);
            if (errno || *end || user < 0 || user > INT32_MAX) {
                fprintf(stderr, "cnsdiff recommend: --user takes a non-negative id, got '%s'\n", v);
                return 2;
            }
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
    if (model_path == NULL || user < 0) {
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
    int32_t *items = malloc((size_t)k * sizeof *items);
    float *scores = malloc((size_t)k * sizeof *scores);
    int rc = 1;
    size_t got = 0;
    if (items == NULL || scores == NULL) {
        fprintf(stderr, "cnsdiff: out of memory\n");
    } else if (cns_model_recommend(model, (int32_t)user, (size_t)k, items, scores, &got) != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s\n", cns_model_last_error(model));
    } else {
        for (size_t i = 0; i < got; ++i) printf("%d %.6f\n", (int)items[i], scores[i]);
        rc = 0;
    }
    free(items);
    free(scores);
    cns_model_free(model);
    return rc;
}
