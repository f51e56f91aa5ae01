/* cnsdiff bench eval — not built yet. */
#include <stdio.h>

#include "cli.h"

int bench_eval(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cnsdiff: 'bench eval' is not available in this build yet\n");
    return 2;
}
