/* Typed parameters: lookup and bounds checks shared by the handles. */
#include "params.h"

#include <math.h>
#include <stdio.h>

#include "error.h"

const cns__param *cns__param_find(const cns__param *tab, size_t n, int id) {
    for (size_t i = 0; i < n; ++i)
        if (tab[i].id == id) return &tab[i];
    return NULL;
}

int cns__param_in_bounds(const cns__param *p, double v) {
    if (!(p->min_open ? v > p->min : v >= p->min)) return 0; /* also rejects NaN */
    return p->max_open ? v < p->max : v <= p->max;
}

cns_status cns__param_bounds(const cns__param *tab, size_t n, int id, double *min, double *max) {
    const cns__param *p = cns__param_find(tab, n, id);
    if (p == NULL) return CNS_E_PARAM;
    if (min) *min = p->min;
    if (max) *max = p->max;
    return CNS_OK;
}

/* value is v already printed, so one message serves both types. */
static cns_status check(const cns__param *tab, size_t n, const char *handle, int id, int is_int,
                        double v, const char *value, char *msg) {
    const cns__param *p = cns__param_find(tab, n, id);
    /* "function: detail", the function being the setter that was called */
    const char *setter = is_int ? "int" : "double";
    if (p == NULL)
        return cns__msg(msg, CNS_E_PARAM, "cns_%s_set_%s: unknown %s parameter %d", handle, setter,
                        handle, id);
    if (p->is_int != is_int)
        return cns__msg(msg, CNS_E_PARAM, "cns_%s_set_%s: %s is %s parameter: use cns_%s_set_%s",
                        handle, setter, p->name, p->is_int ? "an integer" : "a double", handle,
                        p->is_int ? "int" : "double");
    if (!cns__param_in_bounds(p, v))
        return cns__msg(msg, CNS_E_ARG, "cns_%s_set_%s: %s = %s is outside %c%g, %g%c", handle,
                        setter, p->name, value, p->min_open ? '(' : '[', p->min, p->max,
                        p->max_open ? ')' : ']');
    return CNS_OK;
}

cns_status cns__param_check_double(const cns__param *tab, size_t n, const char *handle, int id,
                                   double v, char *msg) {
    char value[32];
    snprintf(value, sizeof value, "%g", v);
    return check(tab, n, handle, id, 0, v, value, msg);
}

cns_status cns__param_check_int(const cns__param *tab, size_t n, const char *handle, int id,
                                int64_t v, char *msg) {
    char value[32];
    snprintf(value, sizeof value, "%lld", (long long)v);
    return check(tab, n, handle, id, 1, (double)v, value, msg);
}

cns_status cns__param_check_value(const cns__param *tab, size_t n, const char *handle, int id,
                                  double v, char *msg) {
    const cns__param *p = cns__param_find(tab, n, id);
    if (p == NULL || !p->is_int) return cns__param_check_double(tab, n, handle, id, v, msg);
    if (!(v == floor(v) && fabs(v) < 9.0e18))
        return cns__msg(msg, CNS_E_ARG, "%s parameter %s = %g is not an integer", handle, p->name, v);
    return cns__param_check_int(tab, n, handle, id, (int64_t)v, msg);
}
