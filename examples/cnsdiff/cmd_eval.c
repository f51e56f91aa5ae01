/* cnsdiff eval — evaluate a saved model on test files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ids.h"
#include "report.h"
#include "run.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cnsdiff eval --model FILE --test FILE [--test FILE]... [--ips-gamma G]\n"
            "                    [--skip-bad] [--ids MODE] [--report FILE.json]\n"
            "\n"
            "Loads a checkpoint written by `cnsdiff train --save` and prints Recall, NDCG,\n"
            "Precision, HitRatio and the popularity-debiased IPS-Recall and IPS-NDCG at 10\n"
            "and 20 for every test split, masking the model's training items\n"
            "(docs/EVALUATION.md).\n"
            "Scores are the model's own <e_u, e_i>: a score discount on the direction's axis\n"
            "(`cnsdiff train --set score_discount=A`, ALGORITHM.md §16) is not applied here;\n"
            "train's own figures apply it, and a host applies it with cns_sampler_score_items.\n"
            "\n"
            "  --model FILE        checkpoint to evaluate\n"
            "  --test FILE         a test split, repeatable\n"
            "  --ips-gamma G       exponent of the inverse-propensity weights (default 1)\n"
            "  --skip-bad          skip malformed lines of the test files, and lines whose\n"
            "                      user or item the model was not trained on (counted)\n"
            "  --ids MODE          auto (default): test ids are raw ids when the model holds\n"
            "                      an id map, else indices; dense: indices; map: raw ids\n"
            "  --report FILE.json  the same figures, per split name, as JSON\n"
            "\n"
            "Exit status: 0 success, 1 the library reported an error, 2 usage error.\n");
}

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *report_path = NULL;
    const char *test_paths[RUN_MAX_TESTS];
    size_t n_tests = 0;
    double gamma = 1.0;
    unsigned flags = 0;
    int ids = CNS_IDS_AUTO;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--skip-bad") == 0) {
            flags |= CNS_LOAD_SKIP_BAD;
            continue;
        }
        int r = ids_option("eval", argc, argv, &i, &ids);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (v == NULL) {
            fprintf(stderr, "cnsdiff eval: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        if (strcmp(a, "--model") == 0) {
            model_path = v;
        } else if (strcmp(a, "--test") == 0) {
            if (n_tests == RUN_MAX_TESTS) {
                fprintf(stderr, "cnsdiff eval: at most %d --test files\n", RUN_MAX_TESTS);
                return 2;
            }
            test_paths[n_tests++] = v;
        } else if (strcmp(a, "--ips-gamma") == 0) {
            char *end;
            errno = 0;
            gamma = strtod(v, &end);
            if (errno || *end || !(gamma >= 0 && gamma <= 4)) {
                fprintf(stderr, "cnsdiff eval: --ips-gamma takes a number in [0, 4]\n");
                return 2;
            }
        } else if (strcmp(a, "--report") == 0) {
            report_path = v;
        } else {
            fprintf(stderr, "cnsdiff eval: unknown option '%s'\n", a);
            return 2;
        }
        ++i;
    }
    if (model_path == NULL || n_tests == 0) {
        fprintf(stderr, "cnsdiff eval: --model and at least one --test are required\n");
        usage(stderr);
        return 2;
    }
    int rc = 1;
    cns_error err;
    cns_model *model = NULL;
    cns_evaluator *ev = NULL;
    cns_dataset *tests[RUN_MAX_TESTS] = {0};
    run_metrics res[RUN_MAX_TESTS];
    char names[RUN_MAX_TESTS][128];
    if (cns_model_load(model_path, NULL, &model, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s\n", err.message);
        goto out;
    }
    int bad;
    const cns_idmap *map = ids_model_map("eval", model, ids, &bad);
    if (bad) {
        rc = 2;
        goto out;
    }
    if (cns_evaluator_create(cns_model_train_data(model), NULL, &ev, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s\n", err.message);
        goto out;
    }
    if (cns_evaluator_set_double(ev, CNS_EVAL_IPS_GAMMA, gamma) != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s\n", cns_evaluator_last_error(ev));
        goto out;
    }
    static const int32_t ks[RUN_NUM_KS] = {10, 20};
    printf("%-16s %4s %9s %9s %9s %9s %11s %9s\n", "split", "K", "recall", "ndcg", "precision", "hit",
           "ips_recall", "ips_ndcg");
    for (size_t k = 0; k < n_tests; ++k) {
        if ((tests[k] = ids_load_through(test_paths[k], flags, cns_model_train_data(model), map)) ==
            NULL)
            goto out;
        report_split_name(test_paths[k], names[k], sizeof names[k]);
        double buf[RUN_NUM_KS * CNS_METRIC_COUNT];
        int st = cns_evaluator_run(ev, cns_model_embeddings(model, CNS_TABLE_USERS), cns_model_num_users(model),
                                   cns_model_embeddings(model, CNS_TABLE_ITEMS), cns_model_num_items(model),
                                   cns_model_dim(model), tests[k], ks, RUN_NUM_KS, buf, NULL);
        if (st != CNS_OK) {
            fprintf(stderr, "cnsdiff: %s: %s\n", names[k], cns_evaluator_last_error(ev));
            goto out;
        }
        for (int r = 0; r < RUN_NUM_KS; ++r) {
            const double *row = buf + r * CNS_METRIC_COUNT;
            for (int c = 0; c < CNS_METRIC_COUNT; ++c) res[k].at[r][c] = row[c];
            printf("%-16s %4d %9.4f %9.4f %9.4f %9.4f %11.4f %9.4f\n", names[k], (int)ks[r],
                   row[CNS_METRIC_RECALL], row[CNS_METRIC_NDCG], row[CNS_METRIC_PRECISION],
                   row[CNS_METRIC_HIT], row[CNS_METRIC_IPS_RECALL], row[CNS_METRIC_IPS_NDCG]);
        }
    }
    if (report_path != NULL) {
        FILE *f = fopen(report_path, "w");
        if (f == NULL) {
            fprintf(stderr, "cnsdiff: cannot write %s: %s\n", report_path, strerror(errno));
            goto out;
        }
        fprintf(f, "{\"splits\": {");
        for (size_t k = 0; k < n_tests; ++k) {
            fprintf(f, "%s\n  \"%s\": ", k ? "," : "", names[k]);
            report_metrics_json(f, &res[k]);
        }
        fprintf(f, "\n}}\n");
        if (fclose(f) != 0) goto out;
    }
    rc = 0;
out:
    for (size_t k = 0; k < n_tests; ++k) cns_dataset_free(tests[k]);
    cns_evaluator_free(ev);
    cns_model_free(model);
    return rc;
}
