/* Static parallel-for (see parallel.h for why static ranges). */
#include "parallel.h"

#include <pthread.h>
#include <time.h>

#define CNS_MAX_THREADS 256

typedef struct range_job {
    cns__range_fn fn;
    void *arg;
    size_t begin, end;
    int worker;
} range_job;

static void *run_job(void *p) {
    range_job *j = p;
    j->fn(j->arg, j->begin, j->end, j->worker);
    return NULL;
}

void cns__parallel_for(int threads, size_t n, size_t min_chunk, cns__range_fn fn, void *arg) {
    if (n == 0) return;
    if (min_chunk == 0) min_chunk = 1;
    size_t t = threads < 1 ? 1 : (size_t)threads;
    if (t > CNS_MAX_THREADS) t = CNS_MAX_THREADS;
    if (t > (n + min_chunk - 1) / min_chunk) t = (n + min_chunk - 1) / min_chunk;
    if (t <= 1) {
        fn(arg, 0, n, 0);
        return;
    }
    range_job jobs[CNS_MAX_THREADS];
    pthread_t tids[CNS_MAX_THREADS];
    int started[CNS_MAX_THREADS];
    for (size_t w = 0; w < t; ++w) {
        jobs[w].fn = fn;
        jobs[w].arg = arg;
        jobs[w].begin = n * w / t;
        jobs[w].end = n * (w + 1) / t;
        jobs[w].worker = (int)w;
    }
    for (size_t w = 1; w < t; ++w) started[w] = pthread_create(&tids[w], NULL, run_job, &jobs[w]) == 0;
    run_job(&jobs[0]);
    for (size_t w = 1; w < t; ++w) {
        if (started[w])
            pthread_join(tids[w], NULL);
        else
            run_job(&jobs[w]);
    }
}

double cns__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
