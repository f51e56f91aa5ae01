/* The cnsdiff tool: one file per subcommand, dispatched by main.c. */
#ifndef CNSDIFF_CLI_H
#define CNSDIFF_CLI_H

/* Each returns the process exit status: 0 success, 1 failure reported by
 * the library, 2 usage error. argv[0] is the subcommand name. */
int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_recommend(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_world(int argc, char **argv);
int cmd_split(int argc, char **argv);

/* Benchmarks under `cnsdiff bench`. */
int bench_sampler(int argc, char **argv);
int bench_eval(int argc, char **argv);
int bench_mechanism(int argc, char **argv);
int bench_scale(int argc, char **argv);

#endif
