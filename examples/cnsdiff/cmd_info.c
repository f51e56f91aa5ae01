/* cnsdiff info — loads an interaction file and prints its shape. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cnsdiff/cnsdiff.h"
#include "ids.h"

#define INFO_SYNOPSIS "usage: cnsdiff info [--skip-bad] [--ids MODE] FILE\n"

/* Usage errors get the synopsis and a pointer to --help, not the page. */
static int usage_error(void) {
    fprintf(stderr, INFO_SYNOPSIS "Try 'cnsdiff info --help'.\n");
    return 2;
}

static void info_usage(FILE *f) {
    fprintf(f,
            INFO_SYNOPSIS
            "\n"
            "Loads FILE (one interaction per line: 'user item' or 'user item weight',\n"
            "'#' starts a comment line) and prints\n"
            "\n"
            "  users N items M interactions K\n"
            "\n"
            "where, with dense ids, N and M are the largest user and item id plus one,\n"
            "and K counts the distinct (user, item) pairs (duplicates are removed).\n"
            "When the ids go through a map, N and M count the distinct ids and the line\n"
            "ends in 'ids map'.\n"
            "\n"
            "options:\n"
            "  --skip-bad          skip malformed lines instead of failing, and append\n"
            "                      'skipped S' (the number of lines skipped) to the output\n"
            IDS_OPTION_HELP
            "  -h, --help          show this help\n"
            "  --                  end of options (for a FILE whose name starts with '-')\n"
            "\n"
            "Exit status: 0 success, 1 the file could not be loaded (the reason, with the\n"
            "file and line, is printed on stderr), 2 usage error.\n");
}

int cmd_info(int argc, char **argv) {
    int skip_bad = 0, ids = CNS_IDS_AUTO;
    const char *path = NULL;
    int options_done = 0;
    for (int k = 1; k < argc; ++k) {
        const char *a = argv[k];
        int r;
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) {
                options_done = 1;
            } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                info_usage(stdout);
                return 0;
            } else if (strcmp(a, "--skip-bad") == 0) {
                skip_bad = 1;
            } else if ((r = ids_option("info", argc, argv, &k, &ids)) != 0) {
                if (r < 0) return usage_error();
            } else {
                fprintf(stderr, "cnsdiff info: unknown option '%s'\n", a);
                return usage_error();
            }
        } else if (path == NULL) {
            path = a;
        } else {
            fprintf(stderr, "cnsdiff info: expected one FILE, got '%s' and '%s'\n", path, a);
            return usage_error();
        }
    }
    if (path == NULL) {
        fprintf(stderr, "cnsdiff info: missing FILE\n");
        return usage_error();
    }
    cns_load_options o;
    cns_load_options_init(&o);
    o.flags = skip_bad ? CNS_LOAD_SKIP_BAD : 0u;
    o.ids = ids;
    cns_dataset *ds = NULL;
    cns_idmap *map = NULL;
    cns_error err;
    if (cns_dataset_load_file_ids(path, &o, NULL, &ds, &map, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s\n", err.message);
        return 1;
    }
    printf("users %d items %d interactions %zu", (int)cns_dataset_num_users(ds),
           (int)cns_dataset_num_items(ds), cns_dataset_num_interactions(ds));
    if (skip_bad) printf(" skipped %zu", cns_dataset_skipped(ds));
    if (map != NULL) printf(" ids map");
    printf("\n");
    cns_idmap_free(map);
    cns_dataset_free(ds);
    return fflush(stdout) == 0 ? 0 : 1;
}
