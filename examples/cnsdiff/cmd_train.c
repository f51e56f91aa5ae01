/* cnsdiff train — not built yet. */
#include <stdio.h>

#include "cli.h"

int cmd_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cnsdiff: 'train' is not available in this build yet\n");
    return 2;
}
