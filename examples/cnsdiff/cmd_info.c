/* cnsdiff info — not built yet. */
#include <stdio.h>

#include "cli.h"

int cmd_info(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cnsdiff: 'info' is not available in this build yet\n");
    return 2;
}
