/* Internal: the seeded random unit direction of ALGORITHM.md §16, shared
 * by the sampler's CNS_MODE_DIRECTION and the loss's repel column (§19),
 * so a sampler and a loss created with the same seed hold the same d. */
#ifndef CNS_DIRECTION_H
#define CNS_DIRECTION_H

#include <stddef.h>
#include <stdint.h>

/* dir[0, dim) = g / |g|, g ~ N(0, I_dim) from seed's own stream. */
void cns__direction_random(float *dir, size_t dim, uint64_t seed);

#endif
