/* Internal: the confounded world's hidden truth (latent factors and
 * propensities), for the tests and `cnsdiff world --stats`. A model never
 * sees these; they let a caller compute oracle rankings. */
#ifndef CNS_WORLD_INTERNAL_H
#define CNS_WORLD_INTERNAL_H

#include "cnsdiff/world.h"

/* The descriptor the world was built from (after validation). */
const cns_world_desc *cns__world_desc(const cns_world *w);
/* num_users x factors user topic weights theta_u, row-major, rows sum to 1. */
const double *cns__world_user_factors(const cns_world *w);
/* num_items x factors item topic weights phi_i, row-major, rows sum to 1. */
const double *cns__world_item_factors(const cns_world *w);
/* num_items log-propensities log(pi_i). */
const double *cns__world_log_propensity(const cns_world *w);
/* log of user u's relevance for item i, log <theta_u, phi_i> + pop_relevance
 * log pi_i (docs/WORLD.md §1): the oracle ranking's score. */
double cns__world_log_relevance(const cns_world *w, int32_t u, int32_t i);
/* Items an OOD test item must reach in the training split (m in docs/WORLD.md). */
int32_t cns__world_ood_min_pop(void);

#endif
