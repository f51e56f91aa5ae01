/* Replays a validation series through cns_selector, for the check that
 * docs/bench/summarize.py applies the same rule (check_select_equiv.py).
 *
 * usage: select_replay WINDOW MIN_EVALS PATIENCE < series
 * series: one "epoch value" per line. Each value is placed in the
 * IPS-NDCG@20 cell of an evaluator-shaped array (K = 10 and 20), as the tool
 * does. Prints "epoch improved stop best_epoch" per update; exits 1 with
 * the selector's message on a refused update. */
#include <stdio.h>
#include <stdlib.h>

#include "cnsdiff/cnsdiff.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: select_replay WINDOW MIN_EVALS PATIENCE < series\n");
        return 2;
    }
    cns_selector *s = NULL;
    cns_error err;
    if (cns_selector_create(NULL, &s, &err) != CNS_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const int ids[5] = {CNS_SELECT_METRIC, CNS_SELECT_K, CNS_SELECT_WINDOW, CNS_SELECT_MIN_EVALS,
                        CNS_SELECT_PATIENCE};
    const int64_t vals[5] = {CNS_METRIC_IPS_NDCG, 20, atoll(argv[1]), atoll(argv[2]), atoll(argv[3])};
    for (int j = 0; j < 5; ++j)
        if (cns_selector_set_int(s, ids[j], vals[j]) != CNS_OK) {
            fprintf(stderr, "%s\n", cns_selector_last_error(s));
            cns_selector_free(s);
            return 2;
        }
    const int32_t ks[2] = {10, 20};
    double m[2][CNS_METRIC_COUNT] = {{0}};
    long long epoch;
    double v;
    int rc = 0;
    while (scanf("%lld %lf", &epoch, &v) == 2) {
        m[1][CNS_METRIC_IPS_NDCG] = v;
        int improved, stop;
        if (cns_selector_update(s, epoch, ks, 2, &m[0][0], CNS_METRIC_COUNT, &improved, &stop) != CNS_OK) {
            fprintf(stderr, "%s\n", cns_selector_last_error(s));
            rc = 1;
            break;
        }
        printf("%lld %d %d %lld\n", epoch, improved, stop, (long long)cns_selector_best_epoch(s));
    }
    cns_selector_free(s);
    return rc;
}
