/* cnsdiff train — train a model with uniform, DNS or CNSDiff negatives,
 * select the epoch on validation, report the test splits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ids.h"
#include "report.h"
#include "run.h"

static void usage(FILE *f) {
    run_select def;
    int def_patience;
    run_default_select(&def, &def_patience);
    char spelling[48];
    run_select_spelling(&def, spelling, sizeof spelling);
    fprintf(f,
            "usage: cnsdiff train --train FILE [--valid FILE | --valid-fraction F] [--test FILE]...\n"
            "                     [options]\n"
            "\n"
            "Trains LightGCN embeddings (ALGORITHM.md §2) with the chosen negatives, evaluates\n"
            "the validation split every --eval-every epochs, keeps the epoch with the best\n"
            "validation value of the selection metric (never a test split), and prints Recall\n"
            "and NDCG @10 and @20 of every test split at that epoch, beside the most-popular floor.\n"
            "\n"
            "data:\n"
            "  --train FILE          training interactions ('user item [weight]' per line)\n"
            "  --valid FILE          validation split used for model selection\n"
            "  --valid-fraction F    without --valid: hold out this share of each user's\n"
            "                        training pairs (fixed by --seed) as the validation split\n"
            "  --test FILE           a test split, repeatable; reported under its file name\n"
            "                        without extension (e.g. test_ood)\n"
            "  --skip-bad            skip malformed lines instead of failing, and validation or\n"
            "                        test lines whose user or item is not in --train (counts\n"
            "                        reported)\n"
            "  --ids MODE            auto (default), dense or map: how --train's ids are read;\n"
            "                        --valid and --test files use --train's ids (docs/DATA.md).\n"
            "                        With a map, --save stores it and eval/recommend speak raw ids\n"
            "training:\n"
            "  --sampler KIND        uniform (BPR only), dns, or cnsdiff (default cnsdiff)\n"
            "  --preset NAME         every tunable from a preset (ALGORITHM.md §15), before --mode\n"
            "                        and --set: default (the library's: direction mode, mixing=0,\n"
            "                        cl_weight=0.15, chosen on validation splits,\n"
            "                        docs/BENCHMARKS.md), paper\n"
            "                        (trained denoiser, mixing on), paper-code (reference mode,\n"
            "                        mixing on), direction (one fixed vector as h, mixing=0)\n"
            "  --mode MODE           cnsdiff only: reference (§13: frozen denoiser, full chain),\n"
            "                        trained (the method as described), gaussian (ablation), or\n"
            "                        direction (§16: one seeded vector of norm direction_norm)\n"
            "  --epochs N            training epochs (default 120)\n"
            "  --eval-every N        evaluate every N epochs (default 1)\n"
            "  --patience N          stop after N evaluations without improvement, counted\n"
            "                        after the rule's minimum (minN); 0 = never (default %d)\n"
            "  --select-by RULE      the validation rule that selects the epoch and stops:\n"
            "                        default (the default): the library's rule, %s,\n"
            "                        chosen by the selection study (docs/BENCHMARKS.md\n"
            "                        \"Study\"); ood: " RUN_SELECT_OOD ",\n"
            "                        the smoothed IPS rule the study measured; or\n"
            "                        METRIC@K[:smoothW][:minN]: METRIC ndcg, ips_ndcg, recall,\n"
            "                        ips_recall, precision or hit; K 10 or 20; the mean of the\n"
            "                        last W evaluations (default 1); patience counts only after\n"
            "                        N evaluations (default 0). The rule is cns_selector's\n"
            "                        (docs/EVALUATION.md)\n"
            "  --ips-gamma G         exponent of the inverse-propensity weights (default 1)\n"
            "  --seed S              seed of initialisation, batches and sampler (default 1)\n"
            "  --threads T           library and OpenBLAS threads (default 2)\n"
            "  --batch-size B        (default 2048)   --dim D (default 64)   --layers L (default 2)\n"
            "  --set NAME=VALUE      any tunable of the model, sampler or loss (see --help-params)\n"
            "output:\n"
            "  --log FILE.csv        one CSV row per epoch (loss terms, validation and test metrics)\n"
            "  --report FILE.json    best_epoch, epochs_run, epoch_seconds, phase_seconds (summed\n"
            "                        over epochs), peak_rss_mb, and the\n"
            "                        test and most-popular metrics per split at the selected epoch\n"
            "  --save FILE           checkpoint of the selected epoch's model (its own tables:\n"
            "                        with --set score_discount=A > 0 the figures above rank\n"
            "                        by the discounted item table, which eval and recommend\n"
            "                        do not apply; ALGORITHM.md §16)\n"
            "  --save-every N PREFIX also a checkpoint after every N-th epoch and the last one\n"
            "                        run (budget or early stop), at\n"
            "                        PREFIX.eNNN (epoch, three digits or more); each replaced\n"
            "                        atomically like --save. For `cnsdiff bench mechanism`\n"
            "                        over training (ALGORITHM.md §18)\n"
            "  --quiet               no progress lines\n"
            "  --help-params         list the --set names\n"
            "\n"
            "Exit status: 0 success, 1 the library reported an error, 2 usage error.\n",
            def_patience, spelling);
}

static int parse_int(const char *opt, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "cnsdiff train: %s takes an integer in [%ld, %ld], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "cnsdiff train: %s takes a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_train(int argc, char **argv) {
    run_config cfg;
    run_config_init(&cfg);
    const char *train_path = NULL, *valid_path = NULL, *report_path = NULL;
    const char *test_paths[RUN_MAX_TESTS];
    size_t n_tests = 0;
    double valid_fraction = 0.0;
    unsigned flags = 0;
    int mode = -1, ids = CNS_IDS_AUTO;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1, r;
        if ((r = ids_option("train", argc, argv, &i, &ids)) != 0) {
            if (r < 0) return 2;
            takes = 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--help-params") == 0) {
            run_print_params(stdout);
            return 0;
        } else if (strcmp(a, "--skip-bad") == 0) {
            flags |= CNS_LOAD_SKIP_BAD;
            takes = 0;
        } else if (strcmp(a, "--quiet") == 0) {
            cfg.quiet = 1;
            takes = 0;
        } else if (v == NULL) {
            fprintf(stderr, "cnsdiff train: %s needs a value (or is unknown)\n", a);
            return 2;
        } else if (strcmp(a, "--train") == 0) {
            train_path = v;
        } else if (strcmp(a, "--valid") == 0) {
            valid_path = v;
        } else if (strcmp(a, "--test") == 0) {
            if (n_tests == RUN_MAX_TESTS) {
                fprintf(stderr, "cnsdiff train: at most %d --test files\n", RUN_MAX_TESTS);
                return 2;
            }
            test_paths[n_tests++] = v;
        } else if (strcmp(a, "--valid-fraction") == 0) {
            if (parse_double(a, v, 1e-6, 0.9, &valid_fraction)) return 2;
        } else if (strcmp(a, "--sampler") == 0) {
            if ((cfg.sampler = run_sampler_kind(v)) < 0) {
                fprintf(stderr, "cnsdiff train: --sampler takes uniform, dns or cnsdiff, got '%s'\n", v);
                return 2;
            }
        } else if (strcmp(a, "--mode") == 0) {
            mode = strcmp(v, "trained") == 0     ? CNS_MODE_TRAINED
                   : strcmp(v, "reference") == 0 ? CNS_MODE_REFERENCE
                   : strcmp(v, "gaussian") == 0  ? CNS_MODE_GAUSSIAN
                   : strcmp(v, "direction") == 0 ? CNS_MODE_DIRECTION
                                                 : -1;
            if (mode < 0) {
                fprintf(stderr,
                        "cnsdiff train: --mode takes trained, reference, gaussian or direction, got '%s'\n", v);
                return 2;
            }
        } else if (strcmp(a, "--preset") == 0) {
            if ((cfg.preset = run_preset(v)) < 0) {
                fprintf(stderr, "cnsdiff train: --preset takes default, paper, paper-code or direction, got '%s'\n",
                        v);
                return 2;
            }
        } else if (strcmp(a, "--epochs") == 0) {
            if (parse_int(a, v, 1, 100000, &cfg.epochs)) return 2;
        } else if (strcmp(a, "--eval-every") == 0) {
            if (parse_int(a, v, 1, 100000, &cfg.eval_every)) return 2;
        } else if (strcmp(a, "--patience") == 0) {
            if (parse_int(a, v, 0, 100000, &cfg.patience)) return 2;
        } else if (strcmp(a, "--select-by") == 0) {
            char why[256];
            if (run_parse_select(v, &cfg.select, why, sizeof why) != 0) {
                fprintf(stderr, "cnsdiff train: --select-by %s\n", why);
                return 2;
            }
        } else if (strcmp(a, "--ips-gamma") == 0) {
            if (parse_double(a, v, 0, 4, &cfg.ips_gamma)) return 2;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno != 0 || end == v || *end != '\0' || v[0] == '-') {
                fprintf(stderr, "cnsdiff train: --seed takes a non-negative integer, got '%s'\n", v);
                return 2;
            }
            cfg.seed = s;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_int(a, v, 1, 256, &cfg.threads)) return 2;
        } else if (strcmp(a, "--batch-size") == 0) {
            if (parse_int(a, v, 1, 1 << 24, &cfg.batch_size)) return 2;
        } else if (strcmp(a, "--dim") == 0) {
            if (parse_int(a, v, 1, 4096, &cfg.dim)) return 2;
        } else if (strcmp(a, "--layers") == 0) {
            if (parse_int(a, v, 0, 8, &cfg.layers)) return 2;
        } else if (strcmp(a, "--set") == 0) {
            if (run_config_add_param(&cfg, v)) return 2;
        } else if (strcmp(a, "--log") == 0) {
            cfg.log_path = v;
        } else if (strcmp(a, "--report") == 0) {
            report_path = v;
        } else if (strcmp(a, "--save") == 0) {
            cfg.save_path = v;
        } else if (strcmp(a, "--save-every") == 0) {
            if (parse_int(a, v, 1, 100000, &cfg.save_every)) return 2;
            if (i + 2 >= argc || argv[i + 2][0] == '\0') {
                fprintf(stderr, "cnsdiff train: --save-every N PREFIX: PREFIX is missing\n");
                return 2;
            }
            cfg.save_prefix = argv[i + 2];
            char probe[4096];
            if (run_save_every_path(cfg.save_prefix, 100000, probe, sizeof probe) != 0) {
                fprintf(stderr, "cnsdiff train: --save-every: PREFIX '%.64s...' is too long\n", cfg.save_prefix);
                return 2;
            }
            takes = 2;
        } else {
            fprintf(stderr, "cnsdiff train: unknown option '%s'\n", a);
            return 2;
        }
        i += takes;
    }
    if (train_path == NULL) {
        fprintf(stderr, "cnsdiff train: --train FILE is required\n");
        usage(stderr);
        return 2;
    }
    if (valid_path != NULL && valid_fraction > 0) {
        fprintf(stderr, "cnsdiff train: give --valid or --valid-fraction, not both\n");
        return 2;
    }
    if (mode >= 0) {
        if (cfg.sampler != CNS_SAMPLER_DIFFUSION) {
            fprintf(stderr, "cnsdiff train: --mode applies to --sampler cnsdiff only\n");
            return 2;
        }
        char buf[32];
        snprintf(buf, sizeof buf, "mode=%d", mode);
        if (run_config_add_param(&cfg, buf)) return 2;
    }

    int rc = 1;
    cns_dataset *train = NULL, *valid = NULL, *kept = NULL, *held = NULL;
    cns_dataset *tests[RUN_MAX_TESTS] = {0};
    cns_idmap *map = NULL;
    char names[RUN_MAX_TESTS][128];
    const char *name_ptrs[RUN_MAX_TESTS];
    run_result res;
    memset(&res, 0, sizeof res);

    if ((train = ids_load_train(train_path, flags, ids, &map)) == NULL) goto out;
    cfg.idmap = map;
    if (valid_path != NULL && (valid = ids_load_through(valid_path, flags, train, map)) == NULL)
        goto out;
    for (size_t k = 0; k < n_tests; ++k) {
        if ((tests[k] = ids_load_through(test_paths[k], flags, train, map)) == NULL) goto out;
        report_split_name(test_paths[k], names[k], sizeof names[k]);
        name_ptrs[k] = names[k];
    }
    const cns_dataset *fit = train, *sel = valid;
    if (valid_fraction > 0) {
        cns_error err;
        if (cns_dataset_split(train, valid_fraction, cfg.seed, NULL, &kept, &held, &err) != CNS_OK) {
            fprintf(stderr, "cnsdiff: --valid-fraction: %s\n", err.message);
            goto out;
        }
        fit = kept;
        sel = held;
    }
    if (sel == NULL)
        fprintf(stderr, "cnsdiff train: no validation split: the last epoch is reported "
                        "(give --valid or --valid-fraction to select by validation)\n");

    int st = run_training(&cfg, fit, sel, name_ptrs, (const cns_dataset *const *)tests, n_tests, &res);
    if (st != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s (%s)\n", res.error, cns_status_name(st));
        goto out;
    }
    printf("selected epoch %d of %d (by validation %s)\n", res.best_epoch, res.epochs_run,
           sel == NULL ? "none: last epoch" : cfg.select.name);
    printf("%-16s %10s %10s %10s %10s\n", "split", "recall@10", "ndcg@10", "recall@20", "ndcg@20");
    for (size_t k = 0; k < n_tests; ++k) {
        const run_metrics *m = &res.test[k];
        const run_metrics *p = &res.popular[k];
        printf("%-16s %10.4f %10.4f %10.4f %10.4f\n", names[k], m->at[0][CNS_METRIC_RECALL],
               m->at[0][CNS_METRIC_NDCG], m->at[1][CNS_METRIC_RECALL], m->at[1][CNS_METRIC_NDCG]);
        printf("%-16s %10.4f %10.4f %10.4f %10.4f\n", "  most-popular", p->at[0][CNS_METRIC_RECALL],
               p->at[0][CNS_METRIC_NDCG], p->at[1][CNS_METRIC_RECALL], p->at[1][CNS_METRIC_NDCG]);
    }
    if (report_path != NULL) {
        FILE *f = fopen(report_path, "w");
        if (f == NULL) {
            fprintf(stderr, "cnsdiff: cannot write %s: %s\n", report_path, strerror(errno));
            goto out;
        }
        fprintf(f, "{\n  \"best_epoch\": %d,\n  \"epochs_run\": %d,\n  \"epoch_seconds\": [", res.best_epoch,
                res.epochs_run);
        for (int e = 0; e < res.epochs_run; ++e) fprintf(f, "%s%.4f", e ? ", " : "", res.epoch_seconds[e]);
        static const char *phases[] = {"propagation", "batch", "sampler_train", "draw", "loss", "backward", "adam"};
        fprintf(f, "],\n  \"phase_seconds\": {");
        for (int p = 0; p < 7; ++p) fprintf(f, "%s\"%s\": %.4f", p ? ", " : "", phases[p], res.phase_seconds[p]);
        fprintf(f, "},\n  \"peak_rss_mb\": %.1f,\n  \"select_by\": \"%s\",\n  \"splits\": {", res.peak_rss_mb,
                cfg.select.name);
        for (size_t k = 0; k < n_tests; ++k) {
            fprintf(f, "%s\n    \"%s\": ", k ? "," : "", names[k]);
            report_metrics_json(f, &res.test[k]);
        }
        fprintf(f, "\n  },\n  \"most_popular\": {");
        for (size_t k = 0; k < n_tests; ++k) {
            fprintf(f, "%s\n    \"%s\": ", k ? "," : "", names[k]);
            report_metrics_json(f, &res.popular[k]);
        }
        fprintf(f, "\n  }\n}\n");
        if (fclose(f) != 0) {
            fprintf(stderr, "cnsdiff: writing %s failed\n", report_path);
            goto out;
        }
    }
    rc = 0;
out:
    run_result_free(&res);
    for (size_t k = 0; k < n_tests; ++k) cns_dataset_free(tests[k]);
    cns_dataset_free(kept);
    cns_dataset_free(held);
    cns_dataset_free(valid);
    cns_dataset_free(train);
    cns_idmap_free(map);
    return rc;
}
