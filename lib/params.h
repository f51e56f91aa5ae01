/* Internal: the typed parameters behind each handle's set/get/bounds calls.
 * A handle keeps its own table and decides what setting a value does; this
 * component only finds an id and checks a value against its bounds, so
 * every handle refuses a bad id, type or value the same way. */
#ifndef CNS_PARAMS_H
#define CNS_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "cnsdiff/common.h"

typedef struct cns__param {
    int id;
    int is_int;
    double min, max;        /* the ends the public bounds query reports */
    int min_open, max_open; /* 1: that end itself is excluded */
    const char *name;       /* for messages */
} cns__param;

/* The entry for id in tab[0, n), or NULL. */
const cns__param *cns__param_find(const cns__param *tab, size_t n, int id);

/* Whether v lies within p's bounds; NaN never does. */
int cns__param_in_bounds(const cns__param *p, double v);

/* The bounds query: CNS_E_PARAM for an unknown id, else the ends of its
 * range through min and max, either of which may be NULL (the handle
 * decides whether a NULL output is an error). */
cns_status cns__param_bounds(const cns__param *tab, size_t n, int id, double *min, double *max);

/* A setter's checks for the handle called `handle` ("model" names
 * cns_model_set_int in the message): CNS_E_PARAM for an unknown id or the
 * other type, CNS_E_ARG for a value out of bounds; the message goes to the
 * handle's buffer msg. CNS_OK means the caller may store v. */
cns_status cns__param_check_double(const cns__param *tab, size_t n, const char *handle, int id,
                                   double v, char *msg);
cns_status cns__param_check_int(const cns__param *tab, size_t n, const char *handle, int id,
                                int64_t v, char *msg);

/* Either check, by the parameter's type, for a value held in a double
 * (the preset tables): an integer parameter also needs an integral v. */
cns_status cns__param_check_value(const cns__param *tab, size_t n, const char *handle, int id,
                                  double v, char *msg);

#endif
