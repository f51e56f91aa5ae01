/* cnsdiff world — not built yet. */
#include <stdio.h>

#include "cli.h"

int cmd_world(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cnsdiff: 'world' is not available in this build yet\n");
    return 2;
}
