/* cnsdiff — command-line front end of libcnsdiff. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cnsdiff/cnsdiff.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command k_commands[] = {
    {"info", cmd_info, "count users, items and interactions of an interaction file"},
    {"train", cmd_train, "train a model (uniform, DNS or CNSDiff negatives) and evaluate it"},
    {"eval", cmd_eval, "evaluate a saved model on test files"},
    {"recommend", cmd_recommend, "top-K items for a user from a saved model"},
    {"demo", cmd_demo, "the demo: default pipeline vs uniform and DNS, two OOD worlds, 3 seeds"},
    {"world", cmd_world, "generate a confounded world and write its splits to files"},
    {"split", cmd_split, "redraw an interaction file into train / IID / OOD splits"},
    {"bench", cmd_bench, "benchmarks (bench sampler, eval, mechanism, scale)"},
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: cnsdiff COMMAND [OPTIONS]\n"
            "       cnsdiff COMMAND --help\n"
            "\n"
            "libcnsdiff %s: causal negative sampling via diffusion for recommender embeddings.\n"
            "\n"
            "commands:\n",
            cns_version());
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; ++i)
        fprintf(f, "  %-10s %s\n", k_commands[i].name, k_commands[i].summary);
    fprintf(f, "\nExit status: 0 success, 1 the library reported an error, 2 usage error.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("cnsdiff %s\n", cns_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; ++i)
        if (strcmp(argv[1], k_commands[i].name) == 0) return k_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cnsdiff: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
