/* cnsdiff demo — not built yet. */
#include <stdio.h>

#include "cli.h"

int cmd_demo(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cnsdiff: 'demo' is not available in this build yet\n");
    return 2;
}
