/* Report helpers for the cnsdiff tool. */
#include "report.h"

#include <string.h>

const report_metric k_report_metrics[REPORT_NUM_METRICS] = {
    {"recall@10", 0, CNS_METRIC_RECALL},     {"ndcg@10", 0, CNS_METRIC_NDCG},
    {"recall@20", 1, CNS_METRIC_RECALL},     {"ndcg@20", 1, CNS_METRIC_NDCG},
    {"precision@20", 1, CNS_METRIC_PRECISION}, {"hit@20", 1, CNS_METRIC_HIT},
    {"ips_recall@20", 1, CNS_METRIC_IPS_RECALL}, {"ips_ndcg@20", 1, CNS_METRIC_IPS_NDCG},
};

void report_metrics_json(FILE *f, const run_metrics *m) {
    fputc('{', f);
    for (int j = 0; j < REPORT_NUM_METRICS; ++j)
        fprintf(f, "%s\"%s\": %.6f", j ? ", " : "", k_report_metrics[j].key,
                m->at[k_report_metrics[j].row][k_report_metrics[j].metric]);
    fputc('}', f);
}

void report_split_name(const char *path, char *buf, size_t len) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, len, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot != NULL && dot != buf) *dot = '\0';
}
