/* custom_loop — the host-driven CNSDiff training loop (ALGORITHM.md §10).
 *
 * What a recommender that owns its training loop writes: the library gives
 * embeddings, negatives and gradients; the host decides the order.
 *
 * With a validation file it also does what every host should: evaluate
 * each epoch and let the library's default selection rule (cns_selector,
 * the tool's default `--select-by default`) say which epoch to keep and
 * when to stop.
 *
 *   usage: custom_loop TRAIN_FILE [EPOCHS [VALID_FILE]]
 */
#include <stdio.h>
#include <stdlib.h>

#include <cnsdiff/cnsdiff.h>

#define CHECK(call, handle_msg)                                                     \
    do {                                                                            \
        int st_ = (call);                                                           \
        if (st_ != CNS_OK) {                                                        \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, cns_strerror(st_), handle_msg); \
            goto out;                                                               \
        }                                                                           \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: custom_loop TRAIN_FILE [EPOCHS [VALID_FILE]]\n");
        return 2;
    }
    int epochs = argc > 2 ? atoi(argv[2]) : 5;
    int rc = 1;
    cns_error err;
    cns_dataset *train = NULL;
    cns_model *model = NULL;
    cns_sampler *sampler = NULL;
    cns_loss *loss = NULL;
    cns_batcher *batches = NULL;
    cns_dataset *valid = NULL;
    cns_evaluator *evaluator = NULL;
    cns_selector *selector = NULL;
    int64_t select_metric = CNS_METRIC_NDCG; /* the metric the rule reads */
    float *eu = NULL, *ep = NULL, *en = NULL, *h = NULL, *gu = NULL, *gp = NULL, *gn = NULL;
    float **bufs[] = {&eu, &ep, &en, &h, &gu, &gp, &gn};

    if (cns_dataset_load_file(argv[1], 0, NULL, &train, &err) != CNS_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    if (argc > 3) {
        CHECK(cns_dataset_load_file(argv[3], 0, NULL, &valid, &err), err.message);
        CHECK(cns_evaluator_create(train, NULL, &evaluator, &err), err.message);
        /* Created and not tuned: the library's default rule (NDCG@20,
         * patience 20; docs/EVALUATION.md "Model selection"). */
        CHECK(cns_selector_create(NULL, &selector, &err), err.message);
        CHECK(cns_selector_get_int(selector, CNS_SELECT_METRIC, &select_metric),
              cns_selector_last_error(selector));
    }

    /* Shapes go in descriptors; tunables through typed setters. Every
     * handle starts at the library's default preset (ALGORITHM.md §15);
     * cns_preset_apply(CNS_PRESET_PAPER, model, sampler, loss, &err) would
     * select the method as the paper describes it instead. */
    cns_model_desc md;
    cns_model_desc_init(&md); /* dim 64, 2 LightGCN layers */
    CHECK(cns_model_create(train, &md, NULL, &model, &err), err.message);

    cns_sampler_desc sd;
    cns_sampler_desc_init(&sd); /* CNS_SAMPLER_DIFFUSION, T = 20 */
    CHECK(cns_sampler_create(&sd, NULL, &sampler, &err), err.message);

    cns_loss_desc ld;
    cns_loss_desc_init(&ld);
    CHECK(cns_loss_create(&ld, NULL, &loss, &err), err.message);

    const size_t batch = 2048, d = (size_t)md.dim; /* §12's batch size */
    /* The rule reads @20; a catalogue smaller than that is cut at its size. */
    const int k_cut = cns_model_num_items(model) < 20 ? (int)cns_model_num_items(model) : 20;
    if (selector != NULL)
        CHECK(cns_selector_set_int(selector, CNS_SELECT_K, k_cut), cns_selector_last_error(selector));
    CHECK(cns_batcher_create(train, batch, 42, NULL, &batches, &err), err.message);

    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i)
        if ((*bufs[i] = malloc(batch * d * sizeof(float))) == NULL) goto out;

    for (int epoch = 0; epoch < epochs; ++epoch) {
        CHECK(cns_batcher_begin_epoch(batches, (uint64_t)epoch), cns_batcher_last_error(batches));
        CHECK(cns_loss_set_epoch(loss, epoch), cns_loss_last_error(loss));
        double total = 0.0;
        size_t steps = 0;
        for (;;) {
            const int32_t *u, *ip, *in;
            size_t n;
            /* 1. Propagate (LightGCN), then take the batch with its uniform negatives. */
            CHECK(cns_model_forward(model), cns_model_last_error(model));
            CHECK(cns_batcher_next(batches, &u, &ip, &in, &n), cns_batcher_last_error(batches));
            if (n == 0) break;
            CHECK(cns_model_gather(model, CNS_TABLE_USERS, u, n, eu), cns_model_last_error(model));
            CHECK(cns_model_gather(model, CNS_TABLE_ITEMS, ip, n, ep), cns_model_last_error(model));
            CHECK(cns_model_gather(model, CNS_TABLE_ITEMS, in, n, en), cns_model_last_error(model));

            /* 2. Train the denoiser on the positives, then synthesize hard negatives. */
            CHECK(cns_sampler_train_step(sampler, ep, n, NULL), cns_sampler_last_error(sampler));
            CHECK(cns_sampler_draw(sampler, eu, ep, n, h), cns_sampler_last_error(sampler));

            /* 3. Mixed BPR + contrastive loss; gradients w.r.t. the gathered rows. */
            double l = 0.0;
            CHECK(cns_loss_compute(loss, eu, ep, en, h, NULL, n, gu, gp, gn, &l), cns_loss_last_error(loss));

            /* 4. Scatter the row gradients, back through the propagation, Adam. */
            CHECK(cns_model_zero_grad(model), cns_model_last_error(model));
            CHECK(cns_model_accumulate_grad(model, CNS_TABLE_USERS, u, n, gu), cns_model_last_error(model));
            CHECK(cns_model_accumulate_grad(model, CNS_TABLE_ITEMS, ip, n, gp), cns_model_last_error(model));
            CHECK(cns_model_accumulate_grad(model, CNS_TABLE_ITEMS, in, n, gn), cns_model_last_error(model));
            double reg = 0.0;
            CHECK(cns_model_backward(model, u, ip, in, n, &reg), cns_model_last_error(model));
            CHECK(cns_model_step(model), cns_model_last_error(model));
            total += l + reg;
            steps++;
        }
        printf("epoch %d  loss %.4f  lambda %.3f\n", epoch + 1, total / (double)(steps ? steps : 1),
               cns_loss_term_value(loss, CNS_TERM_LAMBDA));

        /* 5. Model selection on the validation split (never on a test split). */
        if (selector != NULL) {
            const int32_t ks[1] = {(int32_t)k_cut};
            double metrics[CNS_METRIC_COUNT];
            int improved = 0, stop = 0;
            CHECK(cns_model_forward(model), cns_model_last_error(model));
            CHECK(cns_evaluator_run(evaluator, cns_model_embeddings(model, CNS_TABLE_USERS),
                                    cns_model_num_users(model),
                                    cns_model_embeddings(model, CNS_TABLE_ITEMS),
                                    cns_model_num_items(model), cns_model_dim(model), valid, ks, 1,
                                    metrics, NULL),
                  cns_evaluator_last_error(evaluator));
            CHECK(cns_selector_update(selector, epoch + 1, ks, 1, metrics, CNS_METRIC_COUNT,
                                      &improved, &stop),
                  cns_selector_last_error(selector));
            printf("         valid %s@%d %.4f%s\n", cns_metric_name((int)select_metric), k_cut,
                   metrics[select_metric],
                   improved ? "  (best so far: a host saves the model here)" : "");
            if (stop) break;
        }
    }
    if (selector != NULL)
        printf("selected epoch %lld\n", (long long)cns_selector_best_epoch(selector));

    /* Serve: top-5 for user 0, training items excluded. */
    CHECK(cns_model_forward(model), cns_model_last_error(model));
    int32_t items[5];
    float scores[5];
    size_t got = 0;
    CHECK(cns_model_recommend(model, 0, 5, items, scores, &got), cns_model_last_error(model));
    printf("user 0:");
    for (size_t k = 0; k < got; ++k) printf(" %d (%.3f)", (int)items[k], scores[k]);
    printf("\n");
    rc = 0;
out:
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) free(*bufs[i]);
    cns_batcher_free(batches);
    cns_selector_free(selector);
    cns_evaluator_free(evaluator);
    cns_dataset_free(valid);
    cns_loss_free(loss);
    cns_sampler_free(sampler);
    cns_model_free(model);
    cns_dataset_free(train);
    return rc;
}
