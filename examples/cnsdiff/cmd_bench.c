/* cnsdiff bench — micro-benchmarks; one file per benchmark. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cnsdiff bench sampler [--batch B] [--dim D] [--threads T] [--repeat R]\n"
            "       cnsdiff bench eval    --train FILE --test FILE [--dim D] [--repeat R]\n"
            "       cnsdiff bench mechanism --model FILE [--seed S] [--test FILE]... [--csv]\n"
            "       cnsdiff bench scale   [--sizes 0.1,0.3,1,3,10] [--report F.json] [...]\n"
            "\n"
            "sampler and eval print one line per figure, 'name value unit', medians over R\n"
            "runs; mechanism prints the embeddings against the direction mode's direction\n"
            "(see cnsdiff bench mechanism --help); scale prints a table of epoch cost\n"
            "against data size (see cnsdiff bench scale --help).\n");
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "sampler") == 0) return bench_sampler(argc - 1, argv + 1);
    if (strcmp(argv[1], "eval") == 0) return bench_eval(argc - 1, argv + 1);
    if (strcmp(argv[1], "mechanism") == 0) return bench_mechanism(argc - 1, argv + 1);
    if (strcmp(argv[1], "scale") == 0) return bench_scale(argc - 1, argv + 1);
    fprintf(stderr, "cnsdiff bench: unknown benchmark '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
