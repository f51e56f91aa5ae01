/* Shared helpers for the Check suites. */
#ifndef CNS_TESTUTIL_H
#define CNS_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnsdiff/cnsdiff.h"

/* Asserts a status and prints the detail when it differs. */
#define ck_assert_status(expr, expected)                                                     \
    do {                                                                                     \
        int st_ = (int)(expr);                                                               \
        ck_assert_msg(st_ == (int)(expected), "%s returned %s (%d), expected %s", #expr,     \
                      cns_status_name(st_), st_, cns_status_name((int)(expected)));          \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
#define ck_assert_close(a, b, rtol, atol)                                                    \
    do {                                                                                     \
        double a_ = (double)(a), b_ = (double)(b);                                           \
        ck_assert_msg(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_), "%s = %.17g, expected %.17g", \
                      #a, a_, b_);                                                           \
    } while (0)

/* Path of a file under ../shared (benchmark data, vectors); NULL when absent. */
static inline const char *cns_test_shared_path(const char *rel, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", CNS_SHARED_DIR, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

/* Writes text to a fresh temporary file and returns its path in buf. */
static inline const char *cns_test_write_temp(const char *text, char *buf, size_t len) {
    snprintf(buf, len, "/tmp/cns_test_XXXXXX");
    int fd = mkstemp(buf);
    if (fd < 0) return NULL;
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) {
        close(fd);
        return NULL;
    }
    close(fd);
    return buf;
}

/* Runs one suite and returns the process exit status. */
static inline int cns_test_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
