/* The seeded random unit direction (ALGORITHM.md §16, §19): one stream of
 * its own per seed, so no other draw shifts it and the thread count plays
 * no part; the sampler's direction mode and the loss's repel column both
 * take it from here, which is what makes them agree for one seed. */
#include "direction.h"

#include <math.h>
#include <string.h>

#include "rng.h"

#define STREAM_DIRECTION 0x646972ull /* "dir" */

/* A zero g (probability 0) falls back to the first axis. */
void cns__direction_random(float *dir, size_t dim, uint64_t seed) {
    cns__rng r;
    cns__rng_seed(&r, seed, STREAM_DIRECTION);
    double ss = 0.0;
    for (size_t k = 0; k < dim; ++k) {
        double g = cns__rng_normal(&r);
        dir[k] = (float)g;
        ss += (double)dir[k] * (double)dir[k];
    }
    if (!(ss > 0.0)) {
        memset(dir, 0, dim * sizeof *dir);
        dir[0] = 1.0f;
        return;
    }
    const double inv = 1.0 / sqrt(ss);
    for (size_t k = 0; k < dim; ++k) dir[k] = (float)((double)dir[k] * inv);
}
