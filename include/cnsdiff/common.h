/** @file
 * libcnsdiff — conventions shared by every handle.
 *
 * Status codes, messages, the optional per-handle allocator, the version.
 *
 * Conventions (they hold for every header of this library):
 *  - Every call that can fail returns a cns_status: CNS_OK (0) or a fixed
 *    negative code. Codes never change value between releases.
 *  - A call that fails before a handle exists (a create, a load) writes the
 *    detail into an optional caller-owned cns_error; a call on a handle keeps
 *    the detail in that handle, readable with cns_X_last_error().
 *  - cns_X_create(..., cns_X **out) sets *out only on success; on failure
 *    nothing is allocated and *out is NULL. cns_X_free(NULL) is a no-op.
 *  - The library never prints, never aborts, never exits, and keeps no
 *    global mutable state: there is no init call.
 *  - Threads: one handle is used by one thread at a time; different handles
 *    may be used concurrently. Calls documented "read-only" on a const
 *    handle may run concurrently with each other on the same handle.
 */
#ifndef CNSDIFF_COMMON_H
#define CNSDIFF_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "cnsdiff/version.h" /* generated into the build tree */

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. Grouped in decades; values are part of the ABI. */
typedef enum cns_status {
    CNS_OK = 0, /**< success */

    /* Caller errors. */
    CNS_E_ARG = -1,          /**< NULL pointer or argument out of range */
    CNS_E_SIZE = -2,         /**< sizes disagree (dimension, row count, struct_size) */
    CNS_E_PARAM = -3,        /**< unknown parameter id, or the setter of the wrong type */
    CNS_E_STATE = -4,        /**< call made in the wrong state or order */
    CNS_E_NOMEM = -5,        /**< an allocation failed */
    CNS_E_UNSUPPORTED = -6,  /**< the operation does not apply to this kind of handle */

    /* Interaction data. */
    CNS_E_NOFILE = -10,      /**< the file does not exist or cannot be opened */
    CNS_E_IO = -11,          /**< reading, writing, fsync or rename failed */
    CNS_E_EMPTY = -12,       /**< the input holds no interactions */
    CNS_E_FIELDS = -13,      /**< a line has the wrong number of fields */
    CNS_E_BAD_ID = -14,      /**< an id is not a non-negative integer */
    CNS_E_ID_RANGE = -15,    /**< an id is outside the id space: above the dense-id bound or the
                                32-bit index type, or unknown to the training set (idmap.h) */
    CNS_E_BAD_VALUE = -16,   /**< a weight is not a finite number */

    /* Checkpoints. */
    CNS_E_CORRUPT = -20,     /**< bad magic, bad sizes, bad checksum, truncated */
    CNS_E_VERSION = -21,     /**< written by a newer, unknown format version */

    /* Training. */
    CNS_E_NUMERIC = -30,     /**< a NaN or infinity appeared (loss, gradient, weights) */
    CNS_E_SATURATED = -31    /**< a user has interacted with every item: no negative exists */
} cns_status;

/** A static, non-empty English sentence for every status (and for unknown
 * values). Never NULL; the string must not be freed. Thread-safe.
 *  @param status  a cns_status value, or any other int
 *  @return the sentence; static storage, never NULL.
 */
CNS_API const char *cns_strerror(int status);

/** Short symbolic name of a status, e.g. "CNS_E_FIELDS". Never NULL.
 *  @param status  a cns_status value, or any other int
 *  @return the name; static storage, never NULL. Thread-safe.
 */
CNS_API const char *cns_status_name(int status);

/** Size in bytes of cns_error::message, NUL included. Fixed forever. */
#define CNS_ERROR_MESSAGE_SIZE 256
/** Detail of a failure that happened before a handle existed.
 * Pass NULL where the detail is not wanted. The layout is fixed forever. */
typedef struct cns_error {
    int status;                              /**< the status that was returned */
    char message[CNS_ERROR_MESSAGE_SIZE];    /**< NUL-terminated detail */
} cns_error;

/** Optional per-handle allocator. The library copies the struct at create
 * time; the handle and everything it owns then go through these functions.
 * alloc must return memory aligned for any object type (or NULL on
 * failure); free must accept what alloc returned. Pass NULL to any create
 * call to use malloc/free. There is no process-global allocator. */
typedef struct cns_allocator {
    void *(*alloc)(void *user, size_t size); /**< returns size bytes aligned for any object
                                                  type, or NULL on failure */
    void (*free)(void *user, void *ptr);     /**< releases what alloc returned */
    void *user;                              /**< passed unchanged to alloc and free */
} cns_allocator;

/** The library's version as "MAJOR.MINOR.PATCH", and as a number
 * MAJOR*10000 + MINOR*100 + PATCH. Compare with CNS_VERSION_* to detect a
 * header/library mismatch.
 * @return "MAJOR.MINOR.PATCH"; static storage, never NULL. Thread-safe.
 */
CNS_API const char *cns_version(void);
/** The library's version as the number MAJOR*10000 + MINOR*100 + PATCH,
 *  to compare with CNS_VERSION_NUMBER (header/library mismatch).
 *  @return the number. Thread-safe. */
CNS_API unsigned cns_version_number(void);

#ifdef __cplusplus
}
#endif

#endif
