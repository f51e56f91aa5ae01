/* cnsdiff recommend — not built yet. */
#include <stdio.h>

#include "cli.h"

int cmd_recommend(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cnsdiff: 'recommend' is not available in this build yet\n");
    return 2;
}
