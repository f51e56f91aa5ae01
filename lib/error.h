/* Internal: writing failure details into a cns_error or a handle's
 * last-error buffer. Every helper returns the status it was given, so a
 * failure path reads `return cns__fail(err, CNS_E_ARG, "...")`. */
#ifndef CNS_ERROR_H
#define CNS_ERROR_H

#include <stddef.h>

#include "cnsdiff/common.h"

#define CNS__MSG_SIZE CNS_ERROR_MESSAGE_SIZE

#if defined(__GNUC__)
#define CNS__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CNS__PRINTF(a, b)
#endif

/* Fills err (may be NULL) and returns status. */
cns_status cns__fail(cns_error *err, cns_status status, const char *fmt, ...) CNS__PRINTF(3, 4);
/* Clears err (may be NULL): status CNS_OK, empty message. */
void cns__ok(cns_error *err);
/* Formats into a handle's buffer of CNS__MSG_SIZE bytes and returns status. */
cns_status cns__msg(char *buf, cns_status status, const char *fmt, ...) CNS__PRINTF(3, 4);
/* Copies a cns_error (e.g. from an inner create) into a handle buffer. */
void cns__msg_copy(char *buf, const char *text);

#endif
