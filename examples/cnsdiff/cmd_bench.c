/* cnsdiff bench — not built yet. */
#include <stdio.h>

#include "cli.h"

int cmd_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cnsdiff: 'bench' is not available in this build yet\n");
    return 2;
}
