/* cnsdiff eval — not built yet. */
#include <stdio.h>

#include "cli.h"

int cmd_eval(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cnsdiff: 'eval' is not available in this build yet\n");
    return 2;
}
