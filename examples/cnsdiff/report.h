/* Tables and JSON reports of run results, shared by train and demo. */
#ifndef CNSDIFF_REPORT_H
#define CNSDIFF_REPORT_H

#include <stdio.h>

#include "run.h"

/* The metric keys of every report, in order: the key, the row of
 * run_metrics.at (0: K = 10, 1: K = 20) and the cns_metric column. */
typedef struct report_metric {
    const char *key;
    int row;
    int metric;
} report_metric;
#define REPORT_NUM_METRICS 8
extern const report_metric k_report_metrics[REPORT_NUM_METRICS];

/* `{"recall@10": .., "ndcg@10": .., "recall@20": .., "ndcg@20": ..,
 * "precision@20": .., "hit@20": .., "ips_recall@20": .., "ips_ndcg@20": ..}` */
void report_metrics_json(FILE *f, const run_metrics *m);
/* The split name of a path: its file name without directory and extension. */
void report_split_name(const char *path, char *buf, size_t len);

#endif
