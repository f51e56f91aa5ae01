/* --ids: the id mode of the tool's subcommands (see ids.h). */
#include "ids.h"

#include <stdio.h>
#include <string.h>

int ids_option(const char *cmd, int argc, char **argv, int *i, int *mode) {
    const char *a = argv[*i], *v;
    if (strcmp(a, "--ids") == 0) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "cnsdiff %s: --ids needs a value: auto, dense or map\n", cmd);
            return -1;
        }
        v = argv[++*i];
    } else if (strncmp(a, "--ids=", 6) == 0) {
        v = a + 6;
    } else {
        return 0;
    }
    if (strcmp(v, "auto") == 0)
        *mode = CNS_IDS_AUTO;
    else if (strcmp(v, "dense") == 0)
        *mode = CNS_IDS_DENSE;
    else if (strcmp(v, "map") == 0)
        *mode = CNS_IDS_MAP;
    else {
        fprintf(stderr, "cnsdiff %s: --ids takes auto, dense or map, got '%s'\n", cmd, v);
        return -1;
    }
    return 1;
}

cns_dataset *ids_load_train(const char *path, unsigned flags, int mode, cns_idmap **map) {
    cns_load_options o;
    cns_load_options_init(&o);
    o.flags = flags;
    o.ids = mode;
    cns_dataset *ds = NULL;
    cns_error err;
    if (cns_dataset_load_file_ids(path, &o, NULL, &ds, map, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s\n", err.message);
        return NULL;
    }
    if (flags && cns_dataset_skipped(ds) > 0)
        fprintf(stderr, "cnsdiff: %s: skipped %zu malformed lines\n", path, cns_dataset_skipped(ds));
    if (*map != NULL && mode == CNS_IDS_AUTO)
        fprintf(stderr, "cnsdiff: %s: ids are not dense indices: mapped %d users and %d items "
                        "(--ids dense refuses such files instead)\n",
                path, (int)cns_dataset_num_users(ds), (int)cns_dataset_num_items(ds));
    return ds;
}

cns_dataset *ids_load_through(const char *path, unsigned flags, const cns_dataset *train,
                              const cns_idmap *map) {
    cns_load_options o;
    cns_load_options_init(&o);
    o.flags = flags;
    o.train = train;
    o.map = map;
    cns_dataset *ds = NULL;
    cns_error err;
    if (cns_dataset_load_file_ids(path, &o, NULL, &ds, NULL, &err) != CNS_OK) {
        fprintf(stderr, "cnsdiff: %s\n", err.message);
        if (err.status == CNS_E_ID_RANGE)
            fprintf(stderr, "cnsdiff: (--skip-bad skips and counts such lines)\n");
        return NULL;
    }
    if (flags && cns_dataset_skipped(ds) > 0)
        fprintf(stderr, "cnsdiff: %s: skipped %zu malformed lines\n", path, cns_dataset_skipped(ds));
    if (cns_dataset_unknown(ds) > 0)
        fprintf(stderr, "cnsdiff: %s: skipped %zu lines whose user or item is not in the training set\n",
                path, cns_dataset_unknown(ds));
    return ds;
}

const cns_idmap *ids_model_map(const char *cmd, const cns_model *m, int mode, int *bad) {
    const cns_idmap *map = cns_model_idmap(m);
    *bad = 0;
    if (mode == CNS_IDS_DENSE) return NULL;
    if (mode == CNS_IDS_MAP && map == NULL) {
        fprintf(stderr, "cnsdiff %s: --ids map: the model was trained on dense ids and holds no id map\n",
                cmd);
        *bad = 1;
    }
    return map;
}
