/* Internal: a static parallel-for on short-lived pthreads.
 *
 * [0, n) is cut into `threads` contiguous ranges, fixed by n and threads
 * alone, so every output element is computed by the same code path in
 * the same order whatever the scheduling: results are bit-identical run to
 * run. Threads live only for the call (no pool, no global state). If a
 * thread cannot be started its range runs on the calling thread. */
#ifndef CNS_PARALLEL_H
#define CNS_PARALLEL_H

#include <stddef.h>

typedef void (*cns__range_fn)(void *arg, size_t begin, size_t end, int worker);

/* Runs fn over [0, n) on up to `threads` threads; ranges smaller than
 * min_chunk are not split further. */
void cns__parallel_for(int threads, size_t n, size_t min_chunk, cns__range_fn fn, void *arg);

/* Monotonic wall-clock seconds (for the trainer's phase timings). */
double cns__now(void);

#endif
