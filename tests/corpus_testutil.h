/* For the replay suites (test_fuzz_replay_*.c): walking a fuzzing seed
 * corpus under tests/fuzz/corpus/, and the statuses a checkpoint seed's
 * file name promises. */
#ifndef CNS_CORPUS_TESTUTIL_H
#define CNS_CORPUS_TESTUTIL_H

#include <dirent.h>

#include "testutil.h"

/* The files of one corpus directory, one at a time. */
typedef struct corpus_walk {
    const char *dir;
    DIR *d;
    const char *name; /* the current file's name */
    char path[1024];  /* and its path */
} corpus_walk;

static inline void corpus_open(corpus_walk *w, const char *dir) {
    w->dir = dir;
    w->d = opendir(dir);
    ck_assert_msg(w->d != NULL, "cannot open %s", dir);
}

/* Moves to the next file, skipping names that start with '.'; returns 0
 * (and closes the directory) when there is none. */
static inline int corpus_next(corpus_walk *w) {
    struct dirent *ent;
    while ((ent = readdir(w->d)) != NULL) {
        if (ent->d_name[0] == '.') continue;
        w->name = ent->d_name;
        snprintf(w->path, sizeof w->path, "%s/%s", w->dir, w->name);
        return 1;
    }
    closedir(w->d);
    w->d = NULL;
    return 0;
}

/* A checkpoint seed's name says what it is and so what loading it as each
 * kind must give:
 *   model-*    a valid model checkpoint: OK as a model, CNS_E_CORRUPT as a sampler
 *   sampler-*  a valid sampler checkpoint: the reverse
 *   loss-*     a valid loss checkpoint: OK as a loss, CNS_E_CORRUPT as the others
 *   bad-*      CNS_E_CORRUPT for every kind
 *   future-*   CNS_E_VERSION for every kind (only in corpora that allow it)
 * Any other name fails the suite, so a new fuzzer finding is renamed to the
 * status it must produce before it is committed. */
typedef enum { SEED_MODEL, SEED_SAMPLER, SEED_BAD, SEED_FUTURE, SEED_LOSS } seed_group;

typedef struct seed_expect {
    seed_group group;
    cns_status as_model, as_sampler, as_loss;
} seed_expect;

static inline int corpus_has_prefix(const char *s, const char *p) {
    return strncmp(s, p, strlen(p)) == 0;
}

static inline seed_expect corpus_expect(const char *name, int future_allowed) {
    seed_expect x = {SEED_BAD, CNS_E_CORRUPT, CNS_E_CORRUPT, CNS_E_CORRUPT};
    if (corpus_has_prefix(name, "model-")) {
        x.group = SEED_MODEL;
        x.as_model = CNS_OK;
    } else if (corpus_has_prefix(name, "sampler-")) {
        x.group = SEED_SAMPLER;
        x.as_sampler = CNS_OK;
    } else if (corpus_has_prefix(name, "loss-")) {
        x.group = SEED_LOSS;
        x.as_loss = CNS_OK;
    } else if (corpus_has_prefix(name, "bad-")) {
        x.group = SEED_BAD;
    } else if (future_allowed && corpus_has_prefix(name, "future-")) {
        x.group = SEED_FUTURE;
        x.as_model = x.as_sampler = x.as_loss = CNS_E_VERSION;
    } else if (future_allowed) {
        ck_abort_msg("%s: corpus file names start with model-, sampler-, loss-, bad- or future-", name);
    } else {
        ck_abort_msg("%s: corpus file names start with model-, sampler-, loss- or bad-", name);
    }
    return x;
}

#endif
