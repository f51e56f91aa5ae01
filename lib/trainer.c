/* One training epoch end to end (ALGORITHM.md §10): forward, batch,
 * sampler train step and draw, loss, backward (+L2), Adam. */
#include <string.h>

#include "alloc.h"
#include "cnsdiff/train.h"
#include "error.h"
#include "model_internal.h"
#include "parallel.h"
#include "trainer_internal.h"

struct cns_trainer {
    cns__alloc al;
    cns_model *model;
    cns_sampler *sampler;   /* NULL: the batcher's uniform negatives */
    cns_loss *loss;
    const cns_dataset *train;
    cns_batcher *batcher;
    int32_t dim;
    int32_t kind;           /* sampler kind, or CNS_SAMPLER_UNIFORM without one */
    size_t cap;             /* batch size: rows every buffer holds */
    float *eu, *ep, *en, *h, *gu, *gp, *gn;
    int32_t *neg_ids;       /* DNS: the chosen catalogue items */
    int stale;              /* the model's final embeddings are the batch rows only */
    char last_error[CNS__MSG_SIZE];
};

static void trainer_destroy(cns_trainer *t) {
    if (t == NULL) return;
    cns__alloc al = t->al;
    cns_batcher_free(t->batcher);
    float *bufs[] = {t->eu, t->ep, t->en, t->h, t->gu, t->gp, t->gn};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) cns__free(&al, bufs[i]);
    cns__free(&al, t->neg_ids);
    cns__free(&al, t);
}

CNS_API void cns_trainer_free(cns_trainer *t) { trainer_destroy(t); }

CNS_API cns_status cns_trainer_create(cns_model *model, cns_sampler *sampler, cns_loss *loss,
                                      const cns_dataset *train, size_t batch_size, uint64_t seed,
                                      const cns_allocator *alloc, cns_trainer **out,
                                      cns_error *err) {
    static const char fn[] = "cns_trainer_create";
    if (out == NULL) return cns__fail(err, CNS_E_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (model == NULL) return cns__fail(err, CNS_E_ARG, "%s: model is NULL", fn);
    if (loss == NULL) return cns__fail(err, CNS_E_ARG, "%s: loss is NULL", fn);
    if (train == NULL) return cns__fail(err, CNS_E_ARG, "%s: train is NULL", fn);
    if (batch_size == 0 || batch_size > ((size_t)1 << 24))
        return cns__fail(err, CNS_E_ARG, "%s: batch_size %zu is outside [1, 2^24]", fn, batch_size);
    if (cns_dataset_num_users(train) != cns_model_num_users(model) ||
        cns_dataset_num_items(train) != cns_model_num_items(model))
        return cns__fail(err, CNS_E_SIZE,
                         "%s: train has %d users x %d items, the model %d x %d", fn,
                         (int)cns_dataset_num_users(train), (int)cns_dataset_num_items(train),
                         (int)cns_model_num_users(model), (int)cns_model_num_items(model));
    int32_t dim = cns_model_dim(model);
    /* Where the sampler and the loss meet: the rows the sampler writes are
     * the loss's synth rows, so the three widths must agree. */
    if (sampler != NULL && cns_sampler_dim(sampler) != cns_loss_dim(loss))
        return cns__fail(err, CNS_E_SIZE, "%s: sampler dim %d differs from loss dim %d", fn,
                         (int)cns_sampler_dim(sampler), (int)cns_loss_dim(loss));
    if (cns_loss_dim(loss) != dim)
        return cns__fail(err, CNS_E_SIZE, "%s: loss dim %d differs from model dim %d", fn,
                         (int)cns_loss_dim(loss), (int)dim);
    cns__alloc al;
    if (cns__alloc_init(&al, alloc) != CNS_OK)
        return cns__fail(err, CNS_E_ARG, "%s: allocator has a NULL function", fn);
    cns_trainer *t = cns__calloc(&al, 1, sizeof *t);
    if (t == NULL) return cns__fail(err, CNS_E_NOMEM, "%s: out of memory for the trainer", fn);
    t->al = al;
    t->model = model;
    t->sampler = sampler;
    t->loss = loss;
    t->train = train;
    t->dim = dim;
    t->cap = batch_size;
    t->kind = sampler ? cns_sampler_kind_of(sampler) : CNS_SAMPLER_UNIFORM;
    cns_status st = cns_batcher_create(train, batch_size, seed, alloc, &t->batcher, err);
    if (st != CNS_OK) {
        trainer_destroy(t);
        return st;
    }
    size_t rows;
    if (!cns__mul_ok(batch_size, (size_t)dim, &rows)) {
        trainer_destroy(t);
        return cns__fail(err, CNS_E_ARG, "%s: batch_size x dim overflows", fn);
    }
    float **bufs[] = {&t->eu, &t->ep, &t->en, &t->h, &t->gu, &t->gp, &t->gn};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) {
        *bufs[i] = cns__calloc(&al, rows, sizeof(float));
        if (*bufs[i] == NULL) {
            trainer_destroy(t);
            return cns__fail(err, CNS_E_NOMEM, "%s: out of memory for %zu x %d batch rows",
                             fn, batch_size, (int)dim);
        }
    }
    t->neg_ids = cns__calloc(&al, batch_size, sizeof *t->neg_ids);
    if (t->neg_ids == NULL) {
        trainer_destroy(t);
        return cns__fail(err, CNS_E_NOMEM, "%s: out of memory for %zu ids", fn, batch_size);
    }
    t->last_error[0] = '\0';
    *out = t;
    cns__ok(err);
    return CNS_OK;
}

CNS_API const char *cns_trainer_last_error(const cns_trainer *t) {
    return t ? t->last_error : "trainer is NULL";
}

/* Records "epoch E, batch B: what: detail" and returns st. When the
 * model's final embeddings cover only a batch, they are recomputed in full
 * first, so a host reading them after the failure sees its current
 * weights (if that forward fails too, the model says so itself). */
static cns_status step_failed(cns_trainer *t, cns_status st, int64_t epoch, size_t batch,
                              const char *what, const char *detail) {
    cns__msg(t->last_error, st, "epoch %lld, batch %zu: %s: %s", (long long)epoch, batch, what,
             detail && *detail ? detail : cns_strerror(st));
    if (t->stale) {
        t->stale = 0;
        cns_status refresh = cns_model_forward(t->model);
        (void)refresh;
    }
    return st;
}

/* max_batches 0: the whole epoch; otherwise it stops after that many
 * batches (ending, like a whole epoch, with a full forward). */
static cns_status run_epoch(cns_trainer *t, int64_t epoch, size_t max_batches,
                            cns_epoch_stats *stats) {
    if (t == NULL) return CNS_E_ARG;
    if (epoch < 0) return cns__msg(t->last_error, CNS_E_ARG, "cns_trainer_run_epoch: epoch %lld is negative", (long long)epoch);
    if (stats != NULL && stats->struct_size < offsetof(cns_epoch_stats, phase_seconds))
        return cns__msg(t->last_error, CNS_E_SIZE, "cns_trainer_run_epoch: stats->struct_size %zu is too small",
                        stats->struct_size);
    double t_epoch = cns__now();
    double phase[CNS_PHASE_SLOTS] = {0};
    double sum_loss = 0, sum_bpr = 0, sum_cl = 0, sum_reg = 0, sum_diff = 0, sum_lambda = 0;
    size_t batches = 0;
    cns_model *m = t->model;

    /* The stale path (ALGORITHM.md §17): refresh every K steps, reuse between. */
    const int64_t K = t->kind == CNS_SAMPLER_DNS ? 0 : m->refresh_every;
    const int stale_path = K >= 2;
    /* Row-sparse steps with lazy Adam (CNS_MODEL_SPARSE_ADAM, §17): the
     * stale path's reusing steps, and every step of plain MF, whose final
     * embeddings are E0 itself (no forward needed). DNS reads the whole
     * catalogue's E, so its steps stay dense. */
    const int sparse = m->sparse_adam && t->kind != CNS_SAMPLER_DNS;
    const int mf_rows = sparse && m->shape.layers == 0;

    cns_status st = cns_loss_set_epoch(t->loss, epoch);
    if (st != CNS_OK) return step_failed(t, st, epoch, 0, "loss", cns_loss_last_error(t->loss));
    st = cns_batcher_begin_epoch(t->batcher, (uint64_t)epoch);
    if (st != CNS_OK)
        return step_failed(t, st, epoch, 0, "batcher", cns_batcher_last_error(t->batcher));

    for (;;) {
        double t0 = cns__now();
        const int32_t *users, *pos, *neg;
        size_t n;
        st = cns_batcher_next(t->batcher, &users, &pos, &neg, &n);
        if (st != CNS_OK)
            return step_failed(t, st, epoch, batches, "batcher", cns_batcher_last_error(t->batcher));
        double t1 = cns__now();
        phase[CNS_PHASE_BATCH] += t1 - t0;
        /* Uniform and diffusion steps read the final embeddings of the
         * batch rows only, so the last layer skips the others; DNS scores
         * candidates from the whole catalogue. The epoch ends with a full
         * forward: the host sees every row as of the last step. */
        if (max_batches > 0 && batches == max_batches) n = 0; /* a partial epoch ends here */
        /* A stale step reuses the last refresh's propagation: no forward. */
        const int reuse = stale_path && n > 0 && (int64_t)(batches % (uint64_t)K) != 0;
        const int row_step = n > 0 && (mf_rows || (sparse && reuse));
        if (mf_rows && n > 0) {
            t->stale = 1; /* E is E0 as of the last full forward: refresh on failure */
        } else if (!reuse) {
            const int batch_rows = n > 0 && t->kind != CNS_SAMPLER_DNS && !stale_path;
            st = batch_rows ? cns__model_forward_batch(m, users, pos, neg, n) : cns_model_forward(m);
            t->stale = batch_rows;
            if (st != CNS_OK)
                return step_failed(t, st, epoch, batches, "forward", cns_model_last_error(m));
            if (stale_path && n > 0) cns__model_snapshot(m);
        }
        const double t_fwd = cns__now();
        phase[CNS_PHASE_PROPAGATION] += t_fwd - t1;
        if (n == 0) break;
        if (mf_rows) {
            if ((st = cns__model_gather_ego(m, CNS_TABLE_USERS, users, n, t->eu)) != CNS_OK ||
                (st = cns__model_gather_ego(m, CNS_TABLE_ITEMS, pos, n, t->ep)) != CNS_OK ||
                (st = cns__model_gather_ego(m, CNS_TABLE_ITEMS, neg, n, t->en)) != CNS_OK)
                return step_failed(t, st, epoch, batches, "gather", cns_model_last_error(m));
        } else if (reuse) {
            /* E is a full forward of older weights: a failure must refresh it. */
            t->stale = 1;
            if ((st = cns__model_gather_stale(m, CNS_TABLE_USERS, users, n, t->eu)) != CNS_OK ||
                (st = cns__model_gather_stale(m, CNS_TABLE_ITEMS, pos, n, t->ep)) != CNS_OK ||
                (st = cns__model_gather_stale(m, CNS_TABLE_ITEMS, neg, n, t->en)) != CNS_OK)
                return step_failed(t, st, epoch, batches, "gather", cns_model_last_error(m));
        } else if ((st = cns_model_gather(m, CNS_TABLE_USERS, users, n, t->eu)) != CNS_OK ||
                   (st = cns_model_gather(m, CNS_TABLE_ITEMS, pos, n, t->ep)) != CNS_OK ||
                   (st = cns_model_gather(m, CNS_TABLE_ITEMS, neg, n, t->en)) != CNS_OK) {
            return step_failed(t, st, epoch, batches, "gather", cns_model_last_error(m));
        }
        const double t2 = cns__now();
        phase[CNS_PHASE_BATCH] += t2 - t_fwd;

        const float *synth = NULL;
        const int32_t *neg_ids = neg;
        double diff_loss = 0.0;
        if (t->kind == CNS_SAMPLER_DNS) {
            cns_sampler_context ctx;
            cns_sampler_context_init(&ctx);
            ctx.train = t->train;
            ctx.item_emb = cns_model_embeddings(m, CNS_TABLE_ITEMS);
            ctx.num_items = cns_model_num_items(m);
            ctx.users = users;
            ctx.n_rows = n;
            ctx.out_ids = t->neg_ids;
            st = cns_sampler_set_context(t->sampler, &ctx);
            if (st == CNS_OK) st = cns_sampler_draw(t->sampler, t->eu, t->ep, n, t->en);
            if (st != CNS_OK)
                return step_failed(t, st, epoch, batches, "sampler draw",
                                   cns_sampler_last_error(t->sampler));
            neg_ids = t->neg_ids; /* the chosen catalogue items take the gradient */
            phase[CNS_PHASE_DRAW] += cns__now() - t2;
        } else if (t->kind == CNS_SAMPLER_DIFFUSION) {
            st = cns_sampler_train_step(t->sampler, t->ep, n, &diff_loss);
            if (st != CNS_OK)
                return step_failed(t, st, epoch, batches, "sampler train step",
                                   cns_sampler_last_error(t->sampler));
            double t3 = cns__now();
            phase[CNS_PHASE_SAMPLER_TRAIN] += t3 - t2;
            st = cns_sampler_draw(t->sampler, t->eu, t->ep, n, t->h);
            if (st != CNS_OK)
                return step_failed(t, st, epoch, batches, "sampler draw",
                                   cns_sampler_last_error(t->sampler));
            synth = t->h;
            phase[CNS_PHASE_DRAW] += cns__now() - t3;
        }

        double t4 = cns__now();
        double loss = 0.0;
        st = cns_loss_compute(t->loss, t->eu, t->ep, t->en, synth, NULL, n, t->gu, t->gp, t->gn, &loss);
        if (st != CNS_OK) return step_failed(t, st, epoch, batches, "loss", cns_loss_last_error(t->loss));
        double t5 = cns__now();
        phase[CNS_PHASE_LOSS] += t5 - t4;

        double reg = 0.0;
        if ((st = cns_model_zero_grad(m)) != CNS_OK ||
            (st = cns_model_accumulate_grad(m, CNS_TABLE_USERS, users, n, t->gu)) != CNS_OK ||
            (st = cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, pos, n, t->gp)) != CNS_OK ||
            (st = cns_model_accumulate_grad(m, CNS_TABLE_ITEMS, neg_ids, n, t->gn)) != CNS_OK ||
            (st = row_step ? cns__model_backward_rows(m, users, pos, neg_ids, n, &reg)
                  : reuse  ? cns__model_backward_self(m, users, pos, neg_ids, n, &reg)
                           : cns_model_backward(m, users, pos, neg_ids, n, &reg)) != CNS_OK)
            return step_failed(t, st, epoch, batches, "backward", cns_model_last_error(m));
        double t6 = cns__now();
        phase[CNS_PHASE_BACKWARD] += t6 - t5;
        st = cns_model_step(m);
        if (st != CNS_OK) return step_failed(t, st, epoch, batches, "adam step", cns_model_last_error(m));
        phase[CNS_PHASE_ADAM] += cns__now() - t6;

        sum_loss += loss + reg;
        sum_bpr += cns_loss_term_value(t->loss, CNS_TERM_BPR);
        sum_cl += cns_loss_term_value(t->loss, CNS_TERM_CL);
        sum_lambda += cns_loss_term_value(t->loss, CNS_TERM_LAMBDA);
        sum_reg += reg;
        sum_diff += diff_loss;
        ++batches;
    }
    t->last_error[0] = '\0';
    if (stats != NULL) {
        size_t keep = stats->struct_size;
        cns_epoch_stats s;
        memset(&s, 0, sizeof s);
        s.struct_size = keep;
        s.batches = batches;
        double inv = batches ? 1.0 / (double)batches : 0.0;
        s.loss = sum_loss * inv;
        s.bpr = sum_bpr * inv;
        s.cl = sum_cl * inv;
        s.reg = sum_reg * inv;
        s.diffusion_loss = sum_diff * inv;
        s.mean_lambda = sum_lambda * inv;
        s.seconds = cns__now() - t_epoch;
        memcpy(s.phase_seconds, phase, sizeof phase);
        memcpy(stats, &s, keep < sizeof s ? keep : sizeof s);
    }
    return CNS_OK;
}

CNS_API cns_status cns_trainer_run_epoch(cns_trainer *t, int64_t epoch, cns_epoch_stats *stats) {
    return run_epoch(t, epoch, 0, stats);
}

cns_status cns__trainer_run_batches(cns_trainer *t, int64_t epoch, size_t max_batches,
                                    cns_epoch_stats *stats) {
    if (t != NULL && max_batches == 0)
        return cns__msg(t->last_error, CNS_E_ARG, "max_batches is 0");
    return run_epoch(t, epoch, max_batches, stats);
}

size_t cns__trainer_batches_per_epoch(const cns_trainer *t) {
    return t ? cns_batcher_num_batches(t->batcher) : 0;
}
