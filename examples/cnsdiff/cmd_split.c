/* cnsdiff split — redraws an interaction file into train / IID / OOD splits
 * (cns_split_create, docs/DATA.md "OOD splits"). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cnsdiff/cnsdiff.h"
#include "ids.h"

#define SPLIT_SYNOPSIS                                                                       \
    "usage: cnsdiff split --kind popularity|random --in FILE --out DIR [--ratio R]\n"        \
    "                     [--seed N] [--skip-bad] [--ids MODE]\n"

static int usage_error(void) {
    fprintf(stderr, SPLIT_SYNOPSIS "Try 'cnsdiff split --help'.\n");
    return 2;
}

static void split_usage(FILE *f) {
    cns_split_desc d;
    cns_split_desc_init(&d);
    fprintf(f,
            SPLIT_SYNOPSIS
            "\n"
            "Redraws every interaction of FILE into five disjoint files in DIR (created\n"
            "if missing; existing files are replaced):\n"
            "\n"
            "  train.txt      training\n"
            "  valid.txt      IID validation (%g of what the OOD sample leaves)\n"
            "  test_iid.txt   IID test (%g of what the OOD sample leaves)\n"
            "  valid_ood.txt  half of the OOD sample (%g of all interactions), cut at random\n"
            "  test_ood.txt   the other half\n"
            "\n"
            "--kind popularity draws the OOD sample the way popularity-shift benchmarks\n"
            "draw their intervened test sets: each interaction with probability\n"
            "proportional to pop^-beta (pop = its item's number of users in FILE), and\n"
            "searches beta so that the popularity ratio comes close to R. --kind random\n"
            "draws it uniformly, so every file is IID. A pair is held out only if its\n"
            "user and item keep a training pair, so every user and item of the four\n"
            "held-out files is in train.txt. Duplicate pairs of FILE count once.\n"
            "\n"
            "Prints 'ratio X' (the achieved popularity ratio), 'beta B', and the\n"
            "interactions of each file. The popularity ratio is the mean training\n"
            "popularity of the items of the test_ood interactions divided by the mean\n"
            "training popularity over the training interactions (popularity = the\n"
            "item's count in train.txt): 1 means no shift, smaller a stronger one.\n"
            "\n"
            "options:\n"
            "  --kind K     popularity or random (required)\n"
            "  --in FILE    interaction file ('user item [weight]' lines, docs/DATA.md)\n"
            "  --out DIR    output directory\n"
            "  --ratio R    target popularity ratio in (0, 1] (popularity only,\n"
            "               default %g); if no beta in [0, 16] reaches it the\n"
            "               closest ratio is used and printed\n"
            "  --seed N     random seed (default %llu); the same seed and FILE give\n"
            "               byte-identical files\n"
            "  --skip-bad   skip malformed lines of FILE instead of failing\n"
            "  --ids MODE   auto (default), dense or map: how FILE's ids are read\n"
            "               (docs/DATA.md \"Ids\"); the files are written in FILE's\n"
            "               own ids, so raw (string or 64-bit) ids stay as they were\n"
            "  -h, --help   show this help\n"
            "\n"
            "Exit status: 0 success, 1 the library reported an error (the reason, with\n"
            "the file and line for a malformed FILE, is printed on stderr), 2 usage error.\n",
            d.valid_fraction, d.test_fraction, d.ood_fraction, d.target_ratio,
            (unsigned long long)d.seed);
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0') return 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') return 0;
    *out = (uint64_t)v;
    return 1;
}

static int parse_ratio(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0.0 && v <= 1.0)) return 0;
    *out = v;
    return 1;
}

int cmd_split(int argc, char **argv) {
    cns_split_desc d;
    cns_split_desc_init(&d);
    const char *in = NULL, *out = NULL, *kind = NULL;
    int skip_bad = 0, have_ratio = 0, ids_mode = CNS_IDS_AUTO;
    for (int a = 1; a < argc; ++a) {
        const char *opt = argv[a];
        int r = ids_option("split", argc, argv, &a, &ids_mode);
        if (r < 0) return usage_error();
        if (r > 0) continue;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            split_usage(stdout);
            return 0;
        }
        if (strcmp(opt, "--skip-bad") == 0) {
            skip_bad = 1;
            continue;
        }
        if (strcmp(opt, "--kind") != 0 && strcmp(opt, "--in") != 0 && strcmp(opt, "--out") != 0 &&
            strcmp(opt, "--ratio") != 0 && strcmp(opt, "--seed") != 0) {
            fprintf(stderr, "cnsdiff split: unknown option '%s'\n", opt);
            return usage_error();
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "cnsdiff split: %s needs a value\n", opt);
            return usage_error();
        }
        const char *val = argv[++a];
        int good = 1;
        if (strcmp(opt, "--kind") == 0) {
            kind = val;
            if (strcmp(val, "popularity") == 0)
                d.kind = CNS_SPLIT_KIND_POPULARITY;
            else if (strcmp(val, "random") == 0)
                d.kind = CNS_SPLIT_KIND_RANDOM;
            else
                good = 0;
        } else if (strcmp(opt, "--in") == 0) {
            in = val;
        } else if (strcmp(opt, "--out") == 0) {
            out = val;
        } else if (strcmp(opt, "--ratio") == 0) {
            good = parse_ratio(val, &d.target_ratio);
            have_ratio = 1;
        } else {
            good = parse_u64(val, &d.seed);
        }
        if (!good) {
            fprintf(stderr, "cnsdiff split: bad value '%s' for %s\n", val, opt);
            return usage_error();
        }
    }
    if (kind == NULL || in == NULL || out == NULL) {
        fprintf(stderr, "cnsdiff split: missing %s\n",
                kind == NULL ? "--kind" : in == NULL ? "--in FILE" : "--out DIR");
        return usage_error();
    }
    if (have_ratio && d.kind == CNS_SPLIT_KIND_RANDOM) {
        fprintf(stderr, "cnsdiff split: --ratio applies to --kind popularity only\n");
        return usage_error();
    }

    cns_error err;
    cns_idmap *map = NULL;
    cns_dataset *ds = ids_load_train(in, skip_bad ? CNS_LOAD_SKIP_BAD : 0u, ids_mode, &map);
    if (ds == NULL) return 1;
    cns_split *s = NULL;
    if (cns_split_create(ds, &d, NULL, &s, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff split: %s\n", err.message);
        cns_dataset_free(ds);
        cns_idmap_free(map);
        return 1;
    }
    int rc = 0;
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "cnsdiff split: cannot create %s: %s\n", out, strerror(errno));
        rc = 1;
    } else if (cns_split_write_ids(s, out, map, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff split: %s\n", err.message);
        rc = 1;
    }
    if (rc == 0) {
        printf("ratio %.4f\n", cns_split_ratio(s));
        printf("beta %.4f\n", cns_split_beta(s));
        printf("input %zu interactions", cns_dataset_num_interactions(ds));
        if (skip_bad) printf(" skipped %zu", cns_dataset_skipped(ds));
        printf("\n");
        for (int p = 0; p < CNS_SPLIT_PART_COUNT; ++p)
            printf("  %s/%-13s %8zu interactions\n", out, cns_split_part_file(p),
                   cns_dataset_num_interactions(cns_split_dataset(s, p)));
        if (fflush(stdout) != 0) rc = 1;
    }
    cns_split_free(s);
    cns_dataset_free(ds);
    cns_idmap_free(map);
    return rc;
}
