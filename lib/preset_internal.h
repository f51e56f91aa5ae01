/* Internal: the preset tables (lib/preset.c), read by the handles' create
 * functions for their initial values and by cns_preset_apply. */
#ifndef CNS_PRESET_INTERNAL_H
#define CNS_PRESET_INTERNAL_H

#include <stddef.h>

#include "cnsdiff/preset.h"

enum { CNS__PRESET_MODEL = 0, CNS__PRESET_SAMPLER = 1, CNS__PRESET_LOSS = 2 };

/* Room for one handle's complete list (the largest, the sampler's, has 17). */
#define CNS__PRESET_MAX_VALUES 32

/* The complete list of tunables that preset gives the handle kind
 * (CNS__PRESET_*): ids[k] and vals[k] (integer tunables hold exact
 * integers), *n entries, at most CNS__PRESET_MAX_VALUES. Returns 0 for an
 * unknown preset or handle kind, 1 otherwise. */
int cns__preset_values(int preset, int handle, int *ids, double *vals, size_t *n);

#endif
