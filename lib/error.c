/* Status strings and failure details. Static tables only: no global
 * mutable state. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cnsdiff/version.h"

typedef struct status_text {
    int status;
    const char *name;
    const char *text;
} status_text;

static const status_text k_status[] = {
    {CNS_OK, "CNS_OK", "success"},
    {CNS_E_ARG, "CNS_E_ARG", "invalid argument (NULL pointer or value out of range)"},
    {CNS_E_SIZE, "CNS_E_SIZE", "sizes disagree (dimension, row count or struct size)"},
    {CNS_E_PARAM, "CNS_E_PARAM", "unknown parameter, or parameter set with the wrong type"},
    {CNS_E_STATE, "CNS_E_STATE", "call made in the wrong state or order"},
    {CNS_E_NOMEM, "CNS_E_NOMEM", "out of memory"},
    {CNS_E_UNSUPPORTED, "CNS_E_UNSUPPORTED", "operation not supported by this kind of handle"},
    {CNS_E_NOFILE, "CNS_E_NOFILE", "file does not exist or cannot be opened"},
    {CNS_E_IO, "CNS_E_IO", "input/output error (read, write, fsync or rename failed)"},
    {CNS_E_EMPTY, "CNS_E_EMPTY", "no interactions in the input"},
    {CNS_E_FIELDS, "CNS_E_FIELDS", "parse error: a line has the wrong number of fields"},
    {CNS_E_BAD_ID, "CNS_E_BAD_ID", "parse error: an id is not a non-negative integer"},
    {CNS_E_ID_RANGE, "CNS_E_ID_RANGE", "an id is outside the id space (above the dense-id bound or the 32-bit index type, or unknown to the training set)"},
    {CNS_E_BAD_VALUE, "CNS_E_BAD_VALUE", "parse error: a weight is not a finite number"},
    {CNS_E_CORRUPT, "CNS_E_CORRUPT", "checkpoint is corrupt (magic, size, checksum or value check failed)"},
    {CNS_E_VERSION, "CNS_E_VERSION", "checkpoint was written by a newer format version"},
    {CNS_E_NUMERIC, "CNS_E_NUMERIC", "numerical failure: a NaN or infinity appeared"},
    {CNS_E_SATURATED, "CNS_E_SATURATED", "a user has interacted with every item, so no negative exists"},
};

static const status_text *find_status(int status) {
    for (size_t i = 0; i < sizeof k_status / sizeof k_status[0]; ++i)
        if (k_status[i].status == status) return &k_status[i];
    return NULL;
}

CNS_API const char *cns_strerror(int status) {
    const status_text *s = find_status(status);
    return s ? s->text : "unknown status code";
}

CNS_API const char *cns_status_name(int status) {
    const status_text *s = find_status(status);
    return s ? s->name : "CNS_E_UNKNOWN";
}

CNS_API const char *cns_version(void) { return CNS_VERSION_STRING; }

CNS_API unsigned cns_version_number(void) { return (unsigned)CNS_VERSION_NUMBER; }

cns_status cns__fail(cns_error *err, cns_status status, const char *fmt, ...) {
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

void cns__ok(cns_error *err) {
    if (err != NULL) {
        err->status = CNS_OK;
        err->message[0] = '\0';
    }
}

cns_status cns__msg(char *buf, cns_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, CNS__MSG_SIZE, fmt, ap);
    va_end(ap);
    return status;
}

void cns__msg_copy(char *buf, const char *text) {
    snprintf(buf, CNS__MSG_SIZE, "%s", text ? text : "");
}
