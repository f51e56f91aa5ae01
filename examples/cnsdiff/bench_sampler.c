/* cnsdiff bench sampler — not built yet. */
#include <stdio.h>

#include "cli.h"

int bench_sampler(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cnsdiff: 'bench sampler' is not available in this build yet\n");
    return 2;
}
