/* Report helpers for the cnsdiff tool. */
#include "report.h"

#include <string.h>

void report_metrics_json(FILE *f, const run_metrics *m) {
    fprintf(f,
            "{\"recall@10\": %.6f, \"ndcg@10\": %.6f, \"recall@20\": %.6f, \"ndcg@20\": %.6f, "
            "\"precision@20\": %.6f, \"hit@20\": %.6f, \"ips_recall@20\": %.6f, \"ips_ndcg@20\": %.6f}",
            m->at[0][CNS_METRIC_RECALL], m->at[0][CNS_METRIC_NDCG], m->at[1][CNS_METRIC_RECALL],
            m->at[1][CNS_METRIC_NDCG], m->at[1][CNS_METRIC_PRECISION], m->at[1][CNS_METRIC_HIT],
            m->at[1][CNS_METRIC_IPS_RECALL], m->at[1][CNS_METRIC_IPS_NDCG]);
}

void report_split_name(const char *path, char *buf, size_t len) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, len, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot != NULL && dot != buf) *dot = '\0';
}
