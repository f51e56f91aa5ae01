/* The training run behind `cnsdiff train` and `cnsdiff demo`. */
#include "run.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { T_MODEL, T_SAMPLER, T_LOSS };
enum { V_INT, V_DOUBLE };

typedef struct param_entry {
    const char *name;
    int target;
    int id;
    int type;
    const char *help;
} param_entry;

/* Every tunable the tool exposes through --set; names follow ALGORITHM.md §12. */
static const param_entry k_params[] = {
    {"lr", T_MODEL, CNS_MODEL_LR, V_DOUBLE, "Adam learning rate of the embeddings (0.01)"},
    {"reg", T_MODEL, CNS_MODEL_REG, V_DOUBLE, "L2 weight on the batch's ego rows (1e-4)"},
    {"refresh_every", T_MODEL, CNS_MODEL_REFRESH_EVERY, V_INT,
     "propagate every K steps, reuse between (0 = exact; ALGORITHM.md §17)"},
    {"sparse_adam", T_MODEL, CNS_MODEL_SPARSE_ADAM, V_INT,
     "1 = lazy Adam on the batch's rows on stale steps and MF steps (0; ALGORITHM.md §17)"},
    {"noise_schedule", T_SAMPLER, CNS_SAMPLER_NOISE_SCHEDULE, V_INT, "0 linear, 1 linear-var (1)"},
    {"noise_scale", T_SAMPLER, CNS_SAMPLER_NOISE_SCALE, V_DOUBLE, "schedule scale s (0.1)"},
    {"noise_min", T_SAMPLER, CNS_SAMPLER_NOISE_MIN, V_DOUBLE, "schedule minimum (1e-4)"},
    {"noise_max", T_SAMPLER, CNS_SAMPLER_NOISE_MAX, V_DOUBLE, "schedule maximum (0.02)"},
    {"reweight", T_SAMPLER, CNS_SAMPLER_REWEIGHT, V_INT, "SNR step weights in the diffusion loss (1)"},
    {"causal_weight", T_SAMPLER, CNS_SAMPLER_CAUSAL_WEIGHT, V_DOUBLE, "weight of the KL regulariser (0.1)"},
    {"denoiser_lr", T_SAMPLER, CNS_SAMPLER_DENOISER_LR, V_DOUBLE, "denoiser Adam learning rate (1e-3)"},
    {"norm", T_SAMPLER, CNS_SAMPLER_NORM, V_INT, "normalise x_t before the denoiser (1)"},
    {"dropout", T_SAMPLER, CNS_SAMPLER_DROPOUT, V_DOUBLE, "denoiser input dropout (0.5)"},
    {"sample_start", T_SAMPLER, CNS_SAMPLER_SAMPLE_START, V_INT, "first hardness level (10)"},
    {"stride", T_SAMPLER, CNS_SAMPLER_STRIDE, V_INT, "hardness level stride (4)"},
    {"num_steps", T_SAMPLER, CNS_SAMPLER_NUM_STEPS, V_INT, "last admissible level (20)"},
    {"sampling_noise", T_SAMPLER, CNS_SAMPLER_SAMPLING_NOISE, V_INT, "noise in the reverse chain (0)"},
    {"mode", T_SAMPLER, CNS_SAMPLER_MODE, V_INT,
     "0 trained, 1 reference (§13), 2 gaussian ablation, 3 direction (§16) (preset: 3)"},
    {"direction_norm", T_SAMPLER, CNS_SAMPLER_DIRECTION_NORM, V_DOUBLE, "norm of the direction mode's vector (3.9)"},
    {"direction_source", T_SAMPLER, CNS_SAMPLER_DIRECTION_SOURCE, V_INT, "0 seeded random direction (0)"},
    {"score_discount", T_SAMPLER, CNS_SAMPLER_SCORE_DISCOUNT, V_DOUBLE,
     "share of the direction's axis removed from the item rows ranked by (§16, mode 3 only) (0)"},
    {"dns_candidates", T_SAMPLER, CNS_SAMPLER_DNS_CANDIDATES, V_INT, "DNS candidate pool M (32)"},
    {"cl_weight", T_LOSS, CNS_LOSS_CL_WEIGHT, V_DOUBLE, "contrastive weight gamma (preset: 0.15)"},
    {"temperature", T_LOSS, CNS_LOSS_TEMPERATURE, V_DOUBLE, "contrastive temperature tau (2)"},
    {"positive_noise", T_LOSS, CNS_LOSS_POSITIVE_NOISE, V_DOUBLE, "noise on the contrastive positive (0.01)"},
    {"alpha_start", T_LOSS, CNS_LOSS_ALPHA_START, V_DOUBLE, "Beta curriculum alpha at epoch 0 (1)"},
    {"beta_start", T_LOSS, CNS_LOSS_BETA_START, V_DOUBLE, "Beta curriculum beta at epoch 0 (9)"},
    {"alpha_end", T_LOSS, CNS_LOSS_ALPHA_END, V_DOUBLE, "Beta curriculum alpha at the horizon (9)"},
    {"beta_end", T_LOSS, CNS_LOSS_BETA_END, V_DOUBLE, "Beta curriculum beta at the horizon (1)"},
    {"min_mix", T_LOSS, CNS_LOSS_MIN_MIX, V_DOUBLE, "lower bound m of the mixing weight (0)"},
    {"curriculum_epochs", T_LOSS, CNS_LOSS_CURRICULUM_EPOCHS, V_INT, "mixing horizon in epochs (120)"},
    {"mixing", T_LOSS, CNS_LOSS_MIXING, V_INT, "1 mix h into BPR, 0 lambda = 0 (preset: 0)"},
    {"repel", T_LOSS, CNS_LOSS_REPEL, V_INT, "1 adds the fixed direction as a contrastive column of weight B (§19) (0)"},
};
#define N_PARAMS (sizeof k_params / sizeof k_params[0])

void run_config_init(run_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->sampler = CNS_SAMPLER_DIFFUSION;
    cfg->preset = CNS_PRESET_DEFAULT;
    cfg->epochs = 120;
    cfg->eval_every = 1;
    cfg->patience = -1; /* the selector's default */
    cfg->seed = 1;
    cfg->threads = 2;
    run_default_select(&cfg->select, NULL);
    cfg->ips_gamma = 1.0;
    cfg->batch_size = 2048;
    cfg->dim = 64;
    cfg->layers = 2;
}

static const param_entry *find_param(const char *name, size_t len) {
    for (size_t i = 0; i < N_PARAMS; ++i)
        if (strlen(k_params[i].name) == len && strncmp(k_params[i].name, name, len) == 0)
            return &k_params[i];
    return NULL;
}

void run_select_spelling(const run_select *r, char *buf, size_t len) {
    int n = snprintf(buf, len, "%s@%d", cns_metric_name(r->metric), r->k);
    if (r->window > 1 && n >= 0 && (size_t)n < len) n += snprintf(buf + n, len - (size_t)n, ":smooth%d", r->window);
    if (r->min_evals > 0 && n >= 0 && (size_t)n < len) snprintf(buf + n, len - (size_t)n, ":min%d", r->min_evals);
}

void run_default_select(run_select *out, int *patience) {
    /* The rule is whatever a fresh selector holds: the library keeps the
     * defaults in one place (lib/select.c). */
    int64_t metric = CNS_METRIC_NDCG, k = 20, window = 1, min_evals = 0, pat = 0;
    cns_selector *s = NULL;
    if (cns_selector_create(NULL, &s, NULL) == CNS_OK) {
        if (cns_selector_get_int(s, CNS_SELECT_METRIC, &metric) != CNS_OK ||
            cns_selector_get_int(s, CNS_SELECT_K, &k) != CNS_OK ||
            cns_selector_get_int(s, CNS_SELECT_WINDOW, &window) != CNS_OK ||
            cns_selector_get_int(s, CNS_SELECT_MIN_EVALS, &min_evals) != CNS_OK ||
            cns_selector_get_int(s, CNS_SELECT_PATIENCE, &pat) != CNS_OK)
            metric = -1; /* cannot happen: every id above is an int parameter */
        cns_selector_free(s);
    }
    out->metric = (int)metric;
    out->k = (int)k;
    out->window = (int)window;
    out->min_evals = (int)min_evals;
    char spelling[48];
    run_select_spelling(out, spelling, sizeof spelling);
    snprintf(out->name, sizeof out->name, "default (%s)", spelling);
    if (patience != NULL) *patience = (int)pat;
}

/* Reads a decimal integer in [lo, hi] at *p and advances p past it. */
static int parse_count(const char **p, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    if (**p < '0' || **p > '9') return -1;
    long v = strtol(*p, &end, 10);
    if (errno != 0 || v < lo || v > hi) return -1;
    *out = (int)v;
    *p = end;
    return 0;
}

int run_parse_select(const char *spec, run_select *out, char *why, size_t why_len) {
    if (strcmp(spec, "default") == 0) {
        run_default_select(out, NULL);
        return 0;
    }
    if (strcmp(spec, "ood") == 0) {
        /* The named smoothed IPS rule the study measured (RUN_SELECT_OOD):
         * a fixed spelling, not the library's default. */
        if (run_parse_select(RUN_SELECT_OOD, out, why, why_len) != 0) return -1;
        char spelling[48];
        run_select_spelling(out, spelling, sizeof spelling);
        snprintf(out->name, sizeof out->name, "ood (%s)", spelling);
        return 0;
    }
    run_select r;
    memset(&r, 0, sizeof r);
    r.window = 1;
    const char *at = strchr(spec, '@');
    r.metric = -1;
    for (int m = 0; at != NULL && m < cns_metric_count(); ++m) {
        const char *name = cns_metric_name(m);
        if (name != NULL && strlen(name) == (size_t)(at - spec) && strncmp(spec, name, strlen(name)) == 0)
            r.metric = m;
    }
    if (r.metric < 0) {
        snprintf(why, why_len, "'%s': expected default, ood or METRIC@K[:smoothW][:minN] with METRIC one of "
                               "ndcg, ips_ndcg, recall, ips_recall, precision, hit", spec);
        return -1;
    }
    const char *p = at + 1;
    if (parse_count(&p, 1, 1000000, &r.k) != 0 || (r.k != 10 && r.k != 20)) {
        snprintf(why, why_len, "'%s': K must be 10 or 20 (the cut-offs the tool evaluates)", spec);
        return -1;
    }
    int seen_smooth = 0, seen_min = 0;
    while (*p != '\0') {
        if (strncmp(p, ":smooth", 7) == 0 && !seen_smooth) {
            p += 7;
            seen_smooth = 1;
            if (parse_count(&p, 1, 64, &r.window) != 0) {
                snprintf(why, why_len, "'%s': smoothW takes a window W in [1, 64]", spec);
                return -1;
            }
        } else if (strncmp(p, ":min", 4) == 0 && !seen_min) {
            p += 4;
            seen_min = 1;
            if (parse_count(&p, 0, 1000000, &r.min_evals) != 0) {
                snprintf(why, why_len, "'%s': minN takes a number of evaluations in [0, 1000000]", spec);
                return -1;
            }
        } else {
            snprintf(why, why_len, "'%s': unexpected '%s' (expected :smoothW or :minN, once each)", spec, p);
            return -1;
        }
    }
    run_select_spelling(&r, r.name, sizeof r.name);
    *out = r;
    return 0;
}

int run_config_add_param(run_config *cfg, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (eq == NULL) {
        fprintf(stderr, "cnsdiff: --set takes NAME=VALUE, got '%s'\n", assignment);
        return -1;
    }
    const param_entry *p = find_param(assignment, (size_t)(eq - assignment));
    if (p == NULL) {
        fprintf(stderr, "cnsdiff: unknown parameter in '%s' (see --help-params)\n", assignment);
        return -1;
    }
    char *end;
    double v = strtod(eq + 1, &end);
    if (end == eq + 1 || *end != '\0' || !isfinite(v)) {
        fprintf(stderr, "cnsdiff: '%s' is not a number\n", eq + 1);
        return -1;
    }
    if (p->type == V_INT && v != floor(v)) {
        fprintf(stderr, "cnsdiff: %s takes an integer, got '%s'\n", p->name, eq + 1);
        return -1;
    }
    if (cfg->n_params == RUN_MAX_PARAMS) {
        fprintf(stderr, "cnsdiff: too many --set options\n");
        return -1;
    }
    cfg->params[cfg->n_params].name = p->name;
    cfg->params[cfg->n_params].value = v;
    cfg->n_params++;
    return 0;
}

void run_print_params(FILE *f) {
    static const char *targets[] = {"model", "sampler", "loss"};
    fprintf(f, "Parameters for --set NAME=VALUE, applied after --preset (the default preset's\n"
               "value in parentheses; ALGORITHM.md §15 lists every preset):\n");
    for (size_t i = 0; i < N_PARAMS; ++i)
        fprintf(f, "  %-18s %-7s %s\n", k_params[i].name, targets[k_params[i].target], k_params[i].help);
}

int run_preset(const char *name) {
    for (int p = 0; cns_preset_name(p) != NULL; ++p)
        if (strcmp(name, cns_preset_name(p)) == 0) return p;
    return -1;
}

int run_sampler_kind(const char *name) {
    if (strcmp(name, "uniform") == 0) return CNS_SAMPLER_UNIFORM;
    if (strcmp(name, "dns") == 0) return CNS_SAMPLER_DNS;
    if (strcmp(name, "cnsdiff") == 0) return CNS_SAMPLER_DIFFUSION;
    return -1;
}

double run_peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

void run_result_free(run_result *res) {
    free(res->epoch_seconds);
    res->epoch_seconds = NULL;
}

static int apply_params(const run_config *cfg, cns_model *m, cns_sampler *s, cns_loss *l,
                        run_result *res) {
    /* Every tunable from the preset (the library's default unless
     * --preset says otherwise), then --mode and --set on top. */
    cns_error err;
    int st = cns_preset_apply(cfg->preset, m, s, l, &err);
    if (st != CNS_OK) {
        snprintf(res->error, sizeof res->error, "--preset %s: %s",
                 cns_preset_name(cfg->preset) ? cns_preset_name(cfg->preset) : "?", err.message);
        return st;
    }
    for (size_t k = 0; k < cfg->n_params; ++k) {
        const param_entry *p = find_param(cfg->params[k].name, strlen(cfg->params[k].name));
        double v = cfg->params[k].value;
        st = CNS_OK;
        const char *detail = "";
        if (p->target == T_MODEL) {
            st = p->type == V_INT ? cns_model_set_int(m, p->id, (int64_t)v) : cns_model_set_double(m, p->id, v);
            detail = cns_model_last_error(m);
        } else if (p->target == T_SAMPLER) {
            if (s == NULL) {
                /* sampler settings do not apply to uniform negatives, but a
                 * discount would silently not be what the report shows */
                if (p->id == CNS_SAMPLER_SCORE_DISCOUNT && v != 0.0) {
                    snprintf(res->error, sizeof res->error,
                             "--set %s=%g: needs --sampler cnsdiff in the direction mode", p->name, v);
                    return CNS_E_STATE;
                }
                continue;
            }
            st = p->type == V_INT ? cns_sampler_set_int(s, p->id, (int64_t)v) : cns_sampler_set_double(s, p->id, v);
            detail = cns_sampler_last_error(s);
        } else {
            st = p->type == V_INT ? cns_loss_set_int(l, p->id, (int64_t)v) : cns_loss_set_double(l, p->id, v);
            detail = cns_loss_last_error(l);
        }
        if (st != CNS_OK) {
            snprintf(res->error, sizeof res->error, "--set %s=%g: %s%s%s", p->name, v,
                     cns_strerror(st), *detail ? ": " : "", detail);
            return st;
        }
    }
    return CNS_OK;
}

static const int32_t k_ks[RUN_NUM_KS] = {10, 20};

/* items: the item table to rank by (the model's, or the discounted copy). */
static int evaluate(cns_evaluator *ev, const cns_model *m, const float *items, const cns_dataset *test,
                    run_metrics *out) {
    double buf[RUN_NUM_KS * CNS_METRIC_COUNT];
    int st = cns_evaluator_run(ev, cns_model_embeddings(m, CNS_TABLE_USERS), cns_model_num_users(m), items,
                               cns_model_num_items(m), cns_model_dim(m), test, k_ks, RUN_NUM_KS, buf, NULL);
    if (st != CNS_OK) return st;
    for (int r = 0; r < RUN_NUM_KS; ++r)
        for (int c = 0; c < CNS_METRIC_COUNT; ++c) out->at[r][c] = buf[r * CNS_METRIC_COUNT + c];
    return CNS_OK;
}

static void format_eta(double seconds, char *buf, size_t len) {
    if (seconds < 60)
        snprintf(buf, len, "%.0fs", seconds);
    else if (seconds < 3600)
        snprintf(buf, len, "%.0fm%02.0fs", floor(seconds / 60), fmod(seconds, 60));
    else
        snprintf(buf, len, "%.0fh%02.0fm", floor(seconds / 3600), fmod(seconds / 60, 60));
}

int run_save_every_path(const char *prefix, int epoch, char *buf, size_t len) {
    const int n = snprintf(buf, len, "%s.e%03d", prefix, epoch);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int run_training(const run_config *cfg, const cns_dataset *train, const cns_dataset *valid,
                 const char *const *test_names, const cns_dataset *const *tests, size_t n_tests,
                 run_result *res) {
    memset(res, 0, sizeof *res);
    if (n_tests > RUN_MAX_TESTS) n_tests = RUN_MAX_TESTS;
    res->n_tests = n_tests;
    res->epoch_seconds = calloc((size_t)cfg->epochs + 1, sizeof(double));
    cns_model *model = NULL;
    cns_sampler *sampler = NULL;
    cns_loss *loss = NULL;
    cns_trainer *trainer = NULL;
    cns_evaluator *ev = NULL;
    cns_selector *selector = NULL;
    float *scored = NULL; /* the discounted item table, when score_discount > 0 */
    FILE *log = NULL;
    cns_error err = {0, ""};
    int st = CNS_OK;
    if (res->epoch_seconds == NULL) {
        snprintf(res->error, sizeof res->error, "out of memory");
        return CNS_E_NOMEM;
    }
    if (!cfg->blas_threads_set) openblas_set_num_threads(cfg->threads);

    cns_model_desc md;
    cns_model_desc_init(&md);
    md.dim = cfg->dim;
    md.layers = cfg->layers;
    md.seed = cfg->seed;
    if ((st = cns_model_create(train, &md, NULL, &model, &err)) != CNS_OK) goto failed_err;
    if (cfg->idmap != NULL && (st = cns_model_set_idmap(model, cfg->idmap)) != CNS_OK) {
        snprintf(res->error, sizeof res->error, "id map: %s", cns_model_last_error(model));
        goto done;
    }
    if ((st = cns_model_set_int(model, CNS_MODEL_THREADS, cfg->threads)) != CNS_OK) {
        snprintf(res->error, sizeof res->error, "--threads %d: %s", cfg->threads, cns_model_last_error(model));
        goto done;
    }
    if (cfg->sampler != CNS_SAMPLER_UNIFORM) {
        cns_sampler_desc sd;
        cns_sampler_desc_init(&sd);
        sd.kind = cfg->sampler;
        sd.dim = cfg->dim;
        sd.seed = cfg->seed;
        if ((st = cns_sampler_create(&sd, NULL, &sampler, &err)) != CNS_OK) goto failed_err;
        if ((st = cns_sampler_set_int(sampler, CNS_SAMPLER_THREADS, cfg->threads)) != CNS_OK) {
            snprintf(res->error, sizeof res->error, "--threads: %s", cns_sampler_last_error(sampler));
            goto done;
        }
    }
    cns_loss_desc ld;
    cns_loss_desc_init(&ld);
    ld.dim = cfg->dim;
    ld.seed = cfg->seed;
    if ((st = cns_loss_create(&ld, NULL, &loss, &err)) != CNS_OK) goto failed_err;
    if ((st = cns_loss_set_int(loss, CNS_LOSS_THREADS, cfg->threads)) != CNS_OK) {
        snprintf(res->error, sizeof res->error, "--threads: %s", cns_loss_last_error(loss));
        goto done;
    }
    if ((st = apply_params(cfg, model, sampler, loss, res)) != CNS_OK) goto done;
    /* Scoring with a discount on the direction's axis (ALGORITHM.md §16):
     * every evaluation below ranks by the table a host would get from
     * cns_sampler_score_items. Checked once here, so a discount outside
     * the direction mode fails before training, not after the first epoch. */
    double discount = 0.0;
    if (sampler != NULL && (st = cns_sampler_get_double(sampler, CNS_SAMPLER_SCORE_DISCOUNT, &discount)) != CNS_OK) {
        snprintf(res->error, sizeof res->error, "score_discount: %s", cns_strerror(st));
        goto done;
    }
    if (discount > 0.0) {
        const size_t cells = (size_t)cns_model_num_items(model) * (size_t)cns_model_dim(model);
        if ((scored = malloc(cells * sizeof *scored)) == NULL) {
            snprintf(res->error, sizeof res->error, "out of memory for the discounted item table");
            st = CNS_E_NOMEM;
            goto done;
        }
        if ((st = cns_sampler_score_items(sampler, cns_model_embeddings(model, CNS_TABLE_ITEMS),
                                          cns_model_num_items(model), cns_model_dim(model), scored, &err)) !=
            CNS_OK) {
            snprintf(res->error, sizeof res->error, "--set score_discount=%g: %s", discount, err.message);
            goto done;
        }
    }
    if ((st = cns_trainer_create(model, sampler, loss, train, (size_t)cfg->batch_size, cfg->seed, NULL,
                                 &trainer, &err)) != CNS_OK)
        goto failed_err;
    if ((st = cns_evaluator_create(train, NULL, &ev, &err)) != CNS_OK) goto failed_err;
    if ((st = cns_evaluator_set_double(ev, CNS_EVAL_IPS_GAMMA, cfg->ips_gamma)) != CNS_OK) {
        snprintf(res->error, sizeof res->error, "--ips-gamma: %s", cns_evaluator_last_error(ev));
        goto done;
    }
    if ((st = cns_evaluator_set_int(ev, CNS_EVAL_THREADS, cfg->threads)) != CNS_OK) {
        snprintf(res->error, sizeof res->error, "--threads: %s", cns_evaluator_last_error(ev));
        goto done;
    }

    for (size_t k = 0; k < n_tests; ++k) {
        double buf[RUN_NUM_KS * CNS_METRIC_COUNT];
        if ((st = cns_evaluator_run_popularity(ev, tests[k], k_ks, RUN_NUM_KS, buf, NULL)) != CNS_OK) {
            snprintf(res->error, sizeof res->error, "most-popular on %s: %s", test_names[k],
                     cns_evaluator_last_error(ev));
            goto done;
        }
        for (int r = 0; r < RUN_NUM_KS; ++r)
            for (int c = 0; c < CNS_METRIC_COUNT; ++c)
                res->popular[k].at[r][c] = buf[r * CNS_METRIC_COUNT + c];
    }

    if (cfg->log_path != NULL) {
        log = fopen(cfg->log_path, "w");
        if (log == NULL) {
            snprintf(res->error, sizeof res->error, "cannot write the log %s", cfg->log_path);
            st = CNS_E_IO;
            goto done;
        }
        fprintf(log, "epoch,seconds,loss,bpr,cl,reg,diffusion_loss,lambda,valid_recall@20,valid_ndcg@20,valid_ips_ndcg@20");
        for (size_t k = 0; k < n_tests; ++k)
            fprintf(log, ",%s_recall@20,%s_ndcg@20,%s_ips_ndcg@20", test_names[k], test_names[k], test_names[k]);
        fprintf(log, "\n");
    }

    /* Selection and early stopping: the library's helper, so the tool and
     * a host loop apply the same rule (include/cnsdiff/select.h). */
    if ((st = cns_selector_create(NULL, &selector, &err)) != CNS_OK) goto failed_err;
    {
        const int ids[4] = {CNS_SELECT_METRIC, CNS_SELECT_K, CNS_SELECT_WINDOW, CNS_SELECT_MIN_EVALS};
        const int vals[4] = {cfg->select.metric, cfg->select.k, cfg->select.window, cfg->select.min_evals};
        for (int j = 0; j < 4 && st == CNS_OK; ++j) st = cns_selector_set_int(selector, ids[j], vals[j]);
        if (st == CNS_OK && cfg->patience >= 0)
            st = cns_selector_set_int(selector, CNS_SELECT_PATIENCE, cfg->patience);
        if (st != CNS_OK) {
            snprintf(res->error, sizeof res->error, "--select-by %s: %s", cfg->select.name,
                     cns_selector_last_error(selector));
            goto done;
        }
    }
    int stop = 0;
    double train_seconds = 0.0;
    res->best_valid = -1.0;
    for (int epoch = 0; epoch < cfg->epochs; ++epoch) {
        cns_epoch_stats es;
        memset(&es, 0, sizeof es);
        es.struct_size = sizeof es;
        st = cns_trainer_run_epoch(trainer, epoch, &es);
        if (st != CNS_OK) {
            snprintf(res->error, sizeof res->error, "%s", cns_trainer_last_error(trainer));
            goto done;
        }
        res->epoch_seconds[epoch] = es.seconds;
        res->epochs_run = epoch + 1;
        train_seconds += es.seconds;
        for (int p = 0; p < CNS_PHASE_SLOTS; ++p) res->phase_seconds[p] += es.phase_seconds[p];

        int last = epoch + 1 == cfg->epochs;
        int do_eval = (epoch + 1) % cfg->eval_every == 0 || last;
        run_metrics vm, tm[RUN_MAX_TESTS];
        int improved = 0;
        if (do_eval) {
            const float *items = cns_model_embeddings(model, CNS_TABLE_ITEMS);
            if (scored != NULL) {
                if ((st = cns_sampler_score_items(sampler, items, cns_model_num_items(model), cns_model_dim(model),
                                                  scored, &err)) != CNS_OK) {
                    snprintf(res->error, sizeof res->error, "scoring: %s", err.message);
                    goto done;
                }
                items = scored;
            }
            if (valid != NULL) {
                if ((st = evaluate(ev, model, items, valid, &vm)) != CNS_OK) {
                    snprintf(res->error, sizeof res->error, "validation: %s", cns_evaluator_last_error(ev));
                    goto done;
                }
            }
            for (size_t k = 0; k < n_tests; ++k) {
                if ((st = evaluate(ev, model, items, tests[k], &tm[k])) != CNS_OK) {
                    snprintf(res->error, sizeof res->error, "%s: %s", test_names[k], cns_evaluator_last_error(ev));
                    goto done;
                }
            }
            /* Selection reads the validation split only; with none, the latest epoch is kept. */
            if (valid != NULL) {
                st = cns_selector_update(selector, epoch + 1, k_ks, RUN_NUM_KS, &vm.at[0][0], CNS_METRIC_COUNT,
                                         &improved, &stop);
                if (st != CNS_OK) {
                    snprintf(res->error, sizeof res->error, "validation: %s", cns_selector_last_error(selector));
                    goto done;
                }
            } else {
                improved = 1;
            }
            if (improved) {
                res->best_valid = valid != NULL ? cns_selector_best_score(selector) : (double)epoch;
                res->best_epoch = epoch + 1;
                for (size_t k = 0; k < n_tests; ++k) res->test[k] = tm[k];
                if (cfg->save_path != NULL && (st = cns_model_save(model, cfg->save_path)) != CNS_OK) {
                    snprintf(res->error, sizeof res->error, "saving %s: %s", cfg->save_path,
                             cns_model_last_error(model));
                    goto done;
                }
            }
        }
        /* A snapshot per N epochs, so the embeddings can be measured over
         * training (ALGORITHM.md §18), and one of the last epoch run (the
         * budget's or early stopping's); cns_model_save replaces the file
         * atomically, so a crash never leaves a half-written snapshot. */
        if (cfg->save_every > 0 && ((epoch + 1) % cfg->save_every == 0 || last || (do_eval && stop))) {
            char path[4096];
            if (run_save_every_path(cfg->save_prefix, epoch + 1, path, sizeof path) != 0) {
                snprintf(res->error, sizeof res->error, "--save-every: the path for %s is too long",
                         cfg->save_prefix);
                st = CNS_E_ARG;
                goto done;
            }
            if ((st = cns_model_save(model, path)) != CNS_OK) {
                snprintf(res->error, sizeof res->error, "saving %.200s: %.280s", path, cns_model_last_error(model));
                goto done;
            }
        }
        if (log != NULL) {
            fprintf(log, "%d,%.4f,%.6f,%.6f,%.6f,%.6g,%.6g,%.4f", epoch + 1, es.seconds, es.loss, es.bpr,
                    es.cl, es.reg, es.diffusion_loss, es.mean_lambda);
            if (do_eval && valid != NULL)
                fprintf(log, ",%.6f,%.6f,%.6f", vm.at[1][CNS_METRIC_RECALL], vm.at[1][CNS_METRIC_NDCG],
                        vm.at[1][CNS_METRIC_IPS_NDCG]);
            else
                fprintf(log, ",,,");
            for (size_t k = 0; k < n_tests; ++k) {
                if (do_eval)
                    fprintf(log, ",%.6f,%.6f,%.6f", tm[k].at[1][CNS_METRIC_RECALL], tm[k].at[1][CNS_METRIC_NDCG],
                            tm[k].at[1][CNS_METRIC_IPS_NDCG]);
                else
                    fprintf(log, ",,,");
            }
            fprintf(log, "\n");
            fflush(log);
        }
        if (!cfg->quiet) {
            char eta[32];
            format_eta(train_seconds / (epoch + 1) * (cfg->epochs - epoch - 1), eta, sizeof eta);
            fprintf(stderr, "%s%sepoch %3d/%d  loss %.4f  %.2fs  eta %s", cfg->label ? cfg->label : "",
                    cfg->label ? "  " : "", epoch + 1, cfg->epochs, es.loss, es.seconds, eta);
            if (do_eval && valid != NULL)
                fprintf(stderr, "  valid ndcg@20 %.4f ips_ndcg@20 %.4f%s", vm.at[1][CNS_METRIC_NDCG],
                        vm.at[1][CNS_METRIC_IPS_NDCG], improved ? "  *" : "");
            fprintf(stderr, "\n");
        }
        if (do_eval && stop) break;
    }
    st = CNS_OK;
    goto done;

failed_err:
    snprintf(res->error, sizeof res->error, "%s", err.message[0] ? err.message : cns_strerror(st));
done:
    res->peak_rss_mb = run_peak_rss_mb();
    if (log != NULL) fclose(log);
    free(scored);
    cns_selector_free(selector);
    cns_evaluator_free(ev);
    cns_trainer_free(trainer);
    cns_loss_free(loss);
    cns_sampler_free(sampler);
    cns_model_free(model);
    return st;
}

int run_apply_config(const run_config *cfg, cns_model *m, cns_sampler *s, cns_loss *l,
                     run_result *res) {
    return apply_params(cfg, m, s, l, res);
}
