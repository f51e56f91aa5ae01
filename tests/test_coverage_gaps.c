/* Error paths of the loaders and savers that no other suite reaches
 * (found with tests/ci/coverage.sh): a long line whose buffer cannot
 * grow, a dataset save that runs out of memory or hits the file-size
 * limit mid-write, a split with a broken allocator, checkpoint saves to a
 * path without a directory part, and the container refusing a section
 * with no data. */
#include <signal.h>
#include <sys/resource.h>

#include "alloc.h"
#include "checkpoint.h"
#include "testutil.h"

/* Fails every allocation after the first `budget` ones. */
typedef struct budget_alloc {
    long budget;
} budget_alloc;
static void *ba_alloc(void *user, size_t size) {
    budget_alloc *b = user;
    if (b->budget <= 0) return NULL;
    b->budget--;
    return malloc(size);
}
static void ba_free(void *user, void *p) {
    (void)user;
    free(p);
}

/* A line longer than the read chunk: the buffer must double, and that
 * allocation fails. */
START_TEST(test_long_line_nomem) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/cns_gap_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("0 1\n#", f);
    for (int k = 0; k < (1 << 18); ++k) fputc('x', f);
    fputs("\n1 2\n", f);
    fclose(f);
    cns_error err;
    cns_dataset *ds = NULL;
    /* With memory, the long comment is skipped. */
    ck_assert_status(cns_dataset_load_file(path, 0, NULL, &ds, &err), CNS_OK);
    ck_assert_uint_eq(cns_dataset_num_interactions(ds), 2);
    cns_dataset_free(ds);
    /* Parser arrays and the read buffer succeed, the growth does not. */
    int saw_long_line = 0;
    for (long b = 0; b < 8; ++b) {
        budget_alloc ba = {b};
        cns_allocator a = {ba_alloc, ba_free, &ba};
        int st = cns_dataset_load_file(path, 0, &a, &ds, &err);
        if (st == CNS_OK) {
            cns_dataset_free(ds);
            break;
        }
        ck_assert_status(st, CNS_E_NOMEM);
        ck_assert_ptr_null(ds);
        saw_long_line |= strstr(err.message, "long line") != NULL;
    }
    ck_assert(saw_long_line);
    unlink(path);
}
END_TEST

static cns_dataset *grid(const cns_allocator *a, int32_t users, int32_t items) {
    size_t n = (size_t)users * (size_t)items;
    int32_t *u = malloc(n * sizeof *u), *i = malloc(n * sizeof *i);
    for (size_t k = 0; k < n; ++k) {
        u[k] = (int32_t)(k / (size_t)items);
        i[k] = (int32_t)(k % (size_t)items);
    }
    cns_dataset *ds = NULL;
    cns_error err;
    ck_assert_status(cns_dataset_from_arrays(u, i, n, 0, 0, a, &ds, &err), CNS_OK);
    free(u);
    free(i);
    return ds;
}

START_TEST(test_save_text_nomem) {
    budget_alloc ba = {100};
    cns_allocator a = {ba_alloc, ba_free, &ba};
    cns_dataset *ds = grid(&a, 3, 4);
    ba.budget = 0;
    char dir[] = "/tmp/cns_gap_XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/d.txt", dir);
    cns_error err;
    ck_assert_status(cns_dataset_save_text(ds, path, &err), CNS_E_NOMEM);
    ck_assert(strstr(err.message, "out of memory") != NULL);
    ck_assert_int_eq(rmdir(dir), 0); /* nothing written */
    cns_dataset_free(ds);
}
END_TEST

/* The file-size limit makes write(2) fail with EFBIG (SIGXFSZ ignored):
 * the save reports the write, removes its temporary file and leaves the
 * old file as it was. Runs in Check's forked child, so the limit does not
 * outlive the test. */
START_TEST(test_save_text_write_fails) {
    cns_dataset *ds = grid(NULL, 200, 200); /* > 64 KiB of text: flushes mid-loop */
    char dir[] = "/tmp/cns_gap_XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/d.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("old\n", f);
    fclose(f);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1000;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cns_error err;
    int st = cns_dataset_save_text(ds, path, &err);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    ck_assert_status(st, CNS_E_IO);
    ck_assert_msg(strstr(err.message, "write failed") != NULL, "%s", err.message);
    char line[16] = "";
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_str_eq(line, "old\n");
    unlink(path);
    ck_assert_int_eq(rmdir(dir), 0); /* no temporary file left */
    cns_dataset_free(ds);
}
END_TEST

START_TEST(test_split_bad_allocator) {
    cns_dataset *ds = grid(NULL, 3, 4), *kept = NULL, *held = NULL;
    cns_allocator a = {ba_alloc, NULL, NULL};
    cns_error err;
    ck_assert_status(cns_dataset_split(ds, 0.5, 1, &a, &kept, &held, &err), CNS_E_ARG);
    ck_assert_ptr_null(kept);
    ck_assert_ptr_null(held);
    cns_dataset_free(ds);
}
END_TEST

/* A checkpoint path with no '/': the directory to fsync is ".". */
START_TEST(test_save_relative_path) {
    char dir[] = "/tmp/cns_gap_XXXXXX", cwd[1024];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    cns_dataset *ds = grid(NULL, 3, 4);
    cns_model_desc md;
    cns_model_desc_init(&md);
    md.dim = 4;
    cns_model *m = NULL, *back = NULL;
    cns_error err;
    ck_assert_status(cns_model_create(ds, &md, NULL, &m, &err), CNS_OK);
    ck_assert_status(cns_model_save(m, "m.ckpt"), CNS_OK);
    ck_assert_status(cns_model_load("m.ckpt", NULL, &back, &err), CNS_OK);
    ck_assert_int_eq(cns_model_num_items(back), 4);
    cns_model_free(back);
    cns_model_free(m);
    cns_dataset_free(ds);
    unlink("m.ckpt");
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_section_without_data) {
    cns__alloc al;
    cns__alloc_init(&al, NULL);
    cns__ckpt_section s = {CNS__TAG('A', 'B', 'C', 'D'), NULL, 8};
    char msg[CNS_ERROR_MESSAGE_SIZE];
    ck_assert_status(cns__ckpt_write("/tmp/cns_gap_never", CNS__CKPT_KIND_MODEL, &s, 1, NULL, &al, msg),
                     CNS_E_ARG);
    ck_assert(strstr(msg, "data is NULL") != NULL);
    ck_assert_int_eq(access("/tmp/cns_gap_never", F_OK), -1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("coverage_gaps");
    TCase *tc = tcase_create("gaps");
    tcase_add_test(tc, test_long_line_nomem);
    tcase_add_test(tc, test_save_text_nomem);
    tcase_add_test(tc, test_save_text_write_fails);
    tcase_add_test(tc, test_split_bad_allocator);
    tcase_add_test(tc, test_save_relative_path);
    tcase_add_test(tc, test_section_without_data);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
