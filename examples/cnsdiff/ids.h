/* `--ids auto|dense|map`: the option every data-reading subcommand takes
 * (info, train, eval, recommend, and split when it exists), and the
 * loaders that apply it. Parse with ids_option(); print IDS_OPTION_HELP in
 * the subcommand's --help. */
#ifndef CNSDIFF_IDS_H
#define CNSDIFF_IDS_H

#include "cnsdiff/cnsdiff.h"

#define IDS_OPTION_HELP                                                                   \
    "  --ids MODE          how user and item ids are read: auto (default: dense when\n"   \
    "                      every id is a small number, else a map), dense (ids are\n"     \
    "                      indices; ids far above the line count are refused), or map\n"  \
    "                      (any ids: 64-bit numbers or strings; docs/DATA.md)\n"

/* If argv[*i] is "--ids" (with its value in argv[*i + 1]) or
 * "--ids=MODE", stores the cns_id_mode in *mode, advances *i past the
 * value and returns 1; returns 0 when argv[*i] is another argument, -1
 * (after printing "cnsdiff CMD: ...") for a missing or unknown value. */
int ids_option(const char *cmd, int argc, char **argv, int *i, int *mode);

/* Loads a training file under mode; *map receives its id map (NULL when
 * dense). Prints the error and returns NULL on failure. */
cns_dataset *ids_load_train(const char *path, unsigned flags, int mode, cns_idmap **map);

/* Loads a validation or test file through the training id space (map may
 * be NULL: dense). Says on stderr how many lines had unknown ids. Prints
 * the error and returns NULL on failure. */
cns_dataset *ids_load_through(const char *path, unsigned flags, const cns_dataset *train,
                              const cns_idmap *map);

/* The model's map to use under mode (NULL: dense ids), or prints why not
 * and sets *bad: --ids map on a model without raw ids. */
const cns_idmap *ids_model_map(const char *cmd, const cns_model *m, int mode, int *bad);

#endif
