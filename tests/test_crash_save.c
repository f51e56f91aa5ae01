/* Crash safety of cns_model_save (docs/CHECKPOINT.md, "Crash safety"): a
 * child process saves two models in turn over one path and is killed with
 * SIGKILL at a random moment, 200 times. After every kill the path must
 * load, its checksums must hold, and it must be exactly one of the two
 * models. A kill can leave a "<path>.tmp-XXXXXX" file behind (nobody is
 * left to unlink it); that is expected, harmless, and the only other
 * entry the directory may hold. */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "ckpt_testutil.h"

#define ITERATIONS 200

/* ~140 KB checkpoints: a save takes about 1-4 ms here (fsync included),
 * so kills after 0-5 ms land before, inside and between saves. */
static cns_model *make(uint64_t seed) {
    enum { NU = 200, NI = 150, PER = 3 };
    int32_t users[NU * PER], items[NU * PER];
    for (int k = 0; k < NU * PER; ++k) {
        users[k] = k / PER;
        items[k] = (int32_t)((k * 7919 + k / PER) % NI);
    }
    cns_dataset *ds;
    ck_assert_status(cns_dataset_from_arrays(users, items, NU * PER, NU, NI, NULL, &ds, NULL),
                     CNS_OK);
    cns_model_desc d;
    cns_model_desc_init(&d);
    d.dim = 32;
    d.seed = seed;
    cns_model *m;
    ck_assert_status(cns_model_create(ds, &d, NULL, &m, NULL), CNS_OK);
    cns_dataset_free(ds);
    return m;
}

static unsigned char *bytes_of(cns_model *m, const char *path, size_t *n) {
    ck_assert_status(cns_model_save(m, path), CNS_OK);
    unsigned char *b = ck_read_all(path, n);
    ck_assert_ptr_nonnull(b);
    return b;
}

START_TEST(test_kill_during_save) {
    char dir[64], path[128];
    ck_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    cns_model *a = make(1), *b = make(2);
    size_t na, nb;
    unsigned char *bb = bytes_of(b, path, &nb);
    unsigned char *ba = bytes_of(a, path, &na); /* the path starts out holding A */
    ck_assert(na != nb || memcmp(ba, bb, na) != 0);

    uint64_t x = 0x5EEDull;
    int seen_a = 0, seen_b = 0, temps = 0;
    for (int it = 0; it < ITERATIONS; ++it) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        cns_model *first = (it / 2) % 2 ? a : b, *second = first == a ? b : a;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            /* Child: save, save, ... until killed; a byte per finished save. */
            close(fds[0]);
            for (;;) {
                if (cns_model_save(first, path) != CNS_OK) _exit(2);
                if (write(fds[1], "a", 1) != 1) _exit(3);
                if (cns_model_save(second, path) != CNS_OK) _exit(2);
                if (write(fds[1], "b", 1) != 1) _exit(3);
            }
        }
        close(fds[1]);
        /* Odd rounds count the delay from the first finished save, so the
         * path changes hands in every run, however slow the disk is. */
        char c;
        if (it % 2) ck_assert_int_eq(read(fds[0], &c, 1), 1);
        struct timespec ts = {0, (long)(ck_rand(&x) % 5001) * 1000L};
        nanosleep(&ts, NULL);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        close(fds[0]);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "the child stopped by itself (status %d): a save failed", status);

        /* The path loads, and is A or B byte for byte. */
        cns_model *l;
        cns_error e;
        ck_assert_msg(cns_model_load(path, NULL, &l, &e) == CNS_OK, "iteration %d: %s", it,
                      e.message);
        cns_model_free(l);
        size_t n;
        unsigned char *got = ck_read_all(path, &n);
        ck_assert_ptr_nonnull(got);
        if (n == na && memcmp(got, ba, n) == 0)
            ++seen_a;
        else if (n == nb && memcmp(got, bb, n) == 0)
            ++seen_b;
        else
            ck_abort_msg("iteration %d: the file is neither model", it);
        free(got);

        /* Besides the path, only temporary files of the save may remain. */
        int kept;
        int entries = ck_dir_count(dir, "m.ckpt.tmp-", &kept);
        ck_assert_int_eq(entries, 1 + kept);
        ck_assert_int_eq(ck_remove_temps(dir), kept);
        temps += kept;
    }
    /* The kills did land both inside a save (a temporary file was left)
     * and after saves of each model. */
    ck_assert_int_gt(temps, 0);
    ck_assert_int_gt(seen_a, 0);
    ck_assert_int_gt(seen_b, 0);
    fprintf(stderr, "crash_save: %d kills: %d left A, %d left B, %d temporary files left\n",
            ITERATIONS, seen_a, seen_b, temps);
    free(ba);
    free(bb);
    cns_model_free(a);
    cns_model_free(b);
    ck_rmdir_all(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("crash_save");
    TCase *tc = tcase_create("crash_save");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_kill_during_save);
    suite_add_tcase(s, tc);
    return cns_test_run(s);
}
