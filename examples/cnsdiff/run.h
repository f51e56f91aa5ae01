/* The training run shared by `cnsdiff train` and `cnsdiff demo`: build the
 * handles, train with validation-based selection, evaluate the test splits
 * at every evaluation and keep the figures of the selected epoch. */
#ifndef CNSDIFF_RUN_H
#define CNSDIFF_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "cnsdiff/cnsdiff.h"

#define RUN_MAX_TESTS 8
#define RUN_MAX_PARAMS 64
#define RUN_NUM_KS 2 /* K = 10 and 20 */

/* A `--set name=value` override applied to the model, sampler or loss. */
typedef struct run_param {
    const char *name;
    double value;
} run_param;

/* A model-selection rule for cns_selector (include/cnsdiff/select.h), as
 * `--select-by` spells it: "default" (the library's default rule, whatever a
 * fresh selector holds), "ood" (the fixed smoothed IPS rule RUN_SELECT_OOD)
 * or METRIC@K[:smoothW][:minN], e.g. "ndcg@20", "ips_ndcg@20:smooth3:min10". */
/* The rule `--select-by ood` names: the smoothed IPS rule measured in the
 * selection study (docs/BENCHMARKS.md "the study on the development suite"), which did not choose it as
 * the default. Its one place of truth. */
#define RUN_SELECT_OOD "ips_ndcg@20:smooth5:min30"

typedef struct run_select {
    int metric;     /* cns_metric */
    int k;          /* 10 or 20: the cut-offs the tool evaluates */
    int window;     /* smoothing window W (1: raw) */
    int min_evals;  /* evaluations before patience counts */
    char name[64];  /* canonical spelling, e.g. "default (ndcg@20)", "ips_ndcg@20:smooth3" */
} run_select;

typedef struct run_config {
    int sampler;               /* CNS_SAMPLER_UNIFORM, _DNS or _DIFFUSION */
    int epochs;
    int eval_every;
    int patience;              /* evaluations without improvement; 0 = never stop early,
                                  -1 = the selector's default */
    uint64_t seed;
    int threads;
    int blas_threads_set;      /* nonzero: the caller has set OpenBLAS's process-wide thread
                                  count, run_training leaves it (concurrent runs must not
                                  change it); 0: run_training sets it to threads */
    run_select select;         /* the model-selection rule */
    double ips_gamma;
    int batch_size;
    int dim;
    int layers;
    int preset;                /* cns_preset applied to every handle before params */
    run_param params[RUN_MAX_PARAMS];
    size_t n_params;
    const char *log_path;      /* per-epoch CSV, or NULL */
    const char *save_path;     /* checkpoint of the selected epoch, or NULL */
    int save_every;            /* > 0: also a checkpoint every save_every epochs and of
                                  the last epoch run ... */
    const char *save_prefix;   /* ... at save_prefix.eNNN (run_save_every_path) */
    const cns_idmap *idmap;    /* the training file's raw ids, saved with the model; or NULL */
    int quiet;                 /* no progress lines */
    const char *label;         /* prefix of progress lines, or NULL */
} run_config;

typedef struct run_metrics {
    double at[RUN_NUM_KS][CNS_METRIC_COUNT]; /* [0]: K=10, [1]: K=20 */
} run_metrics;

typedef struct run_result {
    int best_epoch;            /* 1-based epoch selected by validation; 0 if none ran */
    int epochs_run;
    double *epoch_seconds;     /* epochs_run entries, malloc'd: free with run_result_free */
    double best_valid;
    size_t n_tests;
    run_metrics test[RUN_MAX_TESTS];
    run_metrics popular[RUN_MAX_TESTS];
    double phase_seconds[CNS_PHASE_SLOTS];
    double peak_rss_mb;
    char error[512];
} run_result;

void run_config_init(run_config *cfg);
/* Parses a --select-by value into *out; returns 0, or -1 with the reason in
 * why (why_len bytes). */
int run_parse_select(const char *spec, run_select *out, char *why, size_t why_len);
/* The library's default rule ("default") and patience, as a fresh cns_selector has them. */
void run_default_select(run_select *out, int *patience);
/* Writes the canonical spelling of r's rule, "METRIC@K[:smoothW][:minN]",
 * the parts at their neutral values (W = 1, N = 0) left out; truncated to
 * len bytes. */
void run_select_spelling(const run_select *r, char *buf, size_t len);
/* Applies name=value; returns 0 or prints why not and returns -1. */
int run_config_add_param(run_config *cfg, const char *assignment);
/* Prints the names accepted by --set. */
void run_print_params(FILE *f);
/* Names a preset from the command line (cns_preset_name's names); -1 if unknown. */
int run_preset(const char *name);
/* Names a sampler kind from the command line ("uniform", "dns", "cnsdiff"); -1 if unknown. */
int run_sampler_kind(const char *name);

/* Trains on train, selects on valid (may be NULL: the last epoch is kept),
 * evaluates tests. Returns a cns_status; on failure res->error says what. */
int run_training(const run_config *cfg, const cns_dataset *train, const cns_dataset *valid,
                 const char *const *test_names, const cns_dataset *const *tests, size_t n_tests,
                 run_result *res);
void run_result_free(run_result *res);

/* The tool's configuration of fresh handles, as run_training applies it:
 * the default CNSDiff configuration, then cfg's --set overrides (s may be
 * NULL). Returns a cns_status; on failure res->error says what. For
 * benchmarks that drive the trainer themselves. */
int run_apply_config(const run_config *cfg, cns_model *m, cns_sampler *s, cns_loss *l,
                     run_result *res);

/* The file `--save-every N PREFIX` writes after epoch (1-based): PREFIX.eNNN,
 * the epoch zero-padded to at least three digits, so the files sort by
 * epoch. Returns 0, or -1 if it does not fit in len bytes. */
int run_save_every_path(const char *prefix, int epoch, char *buf, size_t len);

/* Peak resident set size of this process, MB. */
double run_peak_rss_mb(void);

#endif
