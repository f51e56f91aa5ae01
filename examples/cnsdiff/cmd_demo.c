/* cnsdiff demo — the confounded world: uniform vs DNS vs CNSDiff with the
 * same budget, IID and OOD test metrics side by side. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"
#include "run.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cnsdiff demo [--epochs N] [--seed S] [--threads T] [--select-by RULE]\n"
            "                    [--preset NAME] [--set NAME=VALUE]... [--report FILE.json] [--quiet]\n"
            "\n"
            "Generates a synthetic world in which item popularity drives exposure (the\n"
            "confounder) and latent user and item factors drive relevance (docs/WORLD.md),\n"
            "with train, validation, IID-test and OOD-test splits (the OOD test exposes items\n"
            "uniformly). Trains uniform negatives (BPR only), DNS and CNSDiff with the same\n"
            "budget and the same seed (CNSDiff in the library's default preset unless\n"
            "--preset says otherwise, see cnsdiff train --help), selects each run's epoch on\n"
            "the validation split, and prints IID and OOD Recall@20 and NDCG@20 side by side.\n"
            "\n"
            "  --epochs N          training epochs per sampler (default 15)\n"
            "  --seed S            world and training seed (default 1)\n"
            "  --threads T         library and OpenBLAS threads (default 2)\n"
            "  --select-by RULE    ood (default), ndcg@20, ips_ndcg@20, ... (cnsdiff train --help)\n"
            "  --preset NAME       default, paper, paper-code or direction, for every run\n"
            "                      (ALGORITHM.md §15; default: default)\n"
            "  --set NAME=VALUE    a tunable for every run (see cnsdiff train --help-params)\n"
            "  --report FILE.json  {\"uniform\": {\"test_iid\": {...}, \"test_ood\": {...}}, \"dns\": ..., \"cnsdiff\": ...}\n"
            "  --quiet             no progress lines\n"
            "\n"
            "Exit status: 0 success, 1 the library reported an error, 2 usage error.\n");
}

int cmd_demo(int argc, char **argv) {
    run_config base;
    run_config_init(&base);
    base.epochs = 15; /* keeps the three runs well under a minute on 2 cores (docs/BENCHMARKS.md) */
    base.patience = 0;
    const char *report_path = NULL;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--quiet") == 0) {
            base.quiet = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "cnsdiff demo: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        char *end = NULL;
        errno = 0;
        if (strcmp(a, "--epochs") == 0) {
            long e = strtol(v, &end, 10);
            if (errno || *end || e < 1 || e > 10000) {
                fprintf(stderr, "cnsdiff demo: --epochs takes an integer in [1, 10000]\n");
                return 2;
            }
            base.epochs = (int)e;
        } else if (strcmp(a, "--preset") == 0) {
            if ((base.preset = run_preset(v)) < 0) {
                fprintf(stderr, "cnsdiff demo: --preset takes default, paper, paper-code or direction\n");
                return 2;
            }
        } else if (strcmp(a, "--seed") == 0) {
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || *end || v[0] == '-') {
                fprintf(stderr, "cnsdiff demo: --seed takes a non-negative integer\n");
                return 2;
            }
            base.seed = s;
        } else if (strcmp(a, "--threads") == 0) {
            long t = strtol(v, &end, 10);
            if (errno || *end || t < 1 || t > 256) {
                fprintf(stderr, "cnsdiff demo: --threads takes an integer in [1, 256]\n");
                return 2;
            }
            base.threads = (int)t;
        } else if (strcmp(a, "--select-by") == 0) {
            char why[256];
            if (run_parse_select(v, &base.select, why, sizeof why) != 0) {
                fprintf(stderr, "cnsdiff demo: --select-by %s\n", why);
                return 2;
            }
        } else if (strcmp(a, "--set") == 0) {
            if (run_config_add_param(&base, v)) return 2;
        } else if (strcmp(a, "--report") == 0) {
            report_path = v;
        } else {
            fprintf(stderr, "cnsdiff demo: unknown option '%s'\n", a);
            return 2;
        }
        ++i;
    }

    cns_world_desc wd;
    cns_world_desc_init(&wd);
    wd.seed = base.seed;
    cns_world *world = NULL;
    cns_error err;
    if (cns_world_create(&wd, NULL, &world, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s\n", err.message);
        return 1;
    }
    const cns_dataset *train = cns_world_dataset(world, CNS_SPLIT_TRAIN);
    const cns_dataset *valid = cns_world_dataset(world, CNS_SPLIT_VALID);
    const cns_dataset *tests[2] = {cns_world_dataset(world, CNS_SPLIT_TEST_IID),
                                   cns_world_dataset(world, CNS_SPLIT_TEST_OOD)};
    const char *names[2] = {"test_iid", "test_ood"};
    fprintf(stderr, "confounded world: %d users, %d items, %zu training interactions\n",
            (int)cns_dataset_num_users(train), (int)cns_dataset_num_items(train),
            cns_dataset_num_interactions(train));

    static const char *labels[3] = {"uniform", "dns", "cnsdiff"};
    const int kinds[3] = {CNS_SAMPLER_UNIFORM, CNS_SAMPLER_DNS, CNS_SAMPLER_DIFFUSION};
    run_result res[3];
    memset(res, 0, sizeof res);
    int rc = 1, ran = 0;
    for (int r = 0; r < 3; ++r) {
        run_config cfg = base;
        cfg.sampler = kinds[r];
        cfg.label = labels[r];
        int st = run_training(&cfg, train, valid, names, tests, 2, &res[r]);
        ran = r + 1;
        if (st != CNS_OK) {
            fprintf(stderr, "cnsdiff: %s: %s (%s)\n", labels[r], res[r].error, cns_status_name(st));
            goto out;
        }
    }
    printf("\n%-10s %6s %13s %13s %13s %13s\n", "sampler", "epoch", "IID recall@20", "IID ndcg@20",
           "OOD recall@20", "OOD ndcg@20");
    for (int r = 0; r < 3; ++r)
        printf("%-10s %6d %13.4f %13.4f %13.4f %13.4f\n", labels[r], res[r].best_epoch,
               res[r].test[0].at[1][CNS_METRIC_RECALL], res[r].test[0].at[1][CNS_METRIC_NDCG],
               res[r].test[1].at[1][CNS_METRIC_RECALL], res[r].test[1].at[1][CNS_METRIC_NDCG]);
    printf("%-10s %6s %13.4f %13.4f %13.4f %13.4f\n", "popular", "-",
           res[0].popular[0].at[1][CNS_METRIC_RECALL], res[0].popular[0].at[1][CNS_METRIC_NDCG],
           res[0].popular[1].at[1][CNS_METRIC_RECALL], res[0].popular[1].at[1][CNS_METRIC_NDCG]);
    printf("(epochs selected by validation %s; test splits never used for selection)\n",
           base.select.name);
    if (report_path != NULL) {
        FILE *f = fopen(report_path, "w");
        if (f == NULL) {
            fprintf(stderr, "cnsdiff: cannot write %s: %s\n", report_path, strerror(errno));
            goto out;
        }
        fprintf(f, "{");
        for (int r = 0; r < 3; ++r) {
            fprintf(f, "%s\n  \"%s\": {\"best_epoch\": %d, \"test_iid\": ", r ? "," : "", labels[r],
                    res[r].best_epoch);
            report_metrics_json(f, &res[r].test[0]);
            fprintf(f, ", \"test_ood\": ");
            report_metrics_json(f, &res[r].test[1]);
            fprintf(f, "}");
        }
        fprintf(f, ",\n  \"most_popular\": {\"test_iid\": ");
        report_metrics_json(f, &res[0].popular[0]);
        fprintf(f, ", \"test_ood\": ");
        report_metrics_json(f, &res[0].popular[1]);
        fprintf(f, "}\n}\n");
        if (fclose(f) != 0) {
            fprintf(stderr, "cnsdiff: writing %s failed\n", report_path);
            goto out;
        }
    }
    rc = 0;
out:
    for (int r = 0; r < ran; ++r) run_result_free(&res[r]);
    cns_world_free(world);
    return rc;
}
