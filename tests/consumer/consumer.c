/* A program written the way a user of the installed library writes one:
 * only <cnsdiff/cnsdiff.h>, no internal header, no source-tree path.
 * Built by tests/consumer/run.sh through pkg-config and through
 * find_package(cnsdiff); the script checks what it prints. */
#include <cnsdiff/cnsdiff.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    /* (0,1) (1,2) (0,1): ids count as max + 1, so 2 users and 3 items;
     * the repeated pair leaves 2 interactions and 1 duplicate. */
    const int32_t users[] = {0, 1, 0};
    const int32_t items[] = {1, 2, 1};
    cns_dataset *ds = NULL;
    cns_error err;
    cns_status st = cns_dataset_from_arrays(users, items, 3, 0, 0, NULL, &ds, &err);
    if (st != CNS_OK || ds == NULL) {
        fprintf(stderr, "cns_dataset_from_arrays: %d %s\n", (int)st, err.message);
        return 1;
    }
    const char *msg = cns_strerror(CNS_E_FIELDS);
    if (msg == NULL || msg[0] == '\0') {
        fprintf(stderr, "cns_strerror returned an empty message\n");
        cns_dataset_free(ds);
        return 1;
    }
    /* The header the program was compiled with must match the library it
     * runs against. */
    if (strcmp(cns_version(), CNS_VERSION_STRING) != 0 ||
        cns_version_number() != CNS_VERSION_NUMBER) {
        fprintf(stderr, "header %s but library %s\n", CNS_VERSION_STRING, cns_version());
        cns_dataset_free(ds);
        return 1;
    }
    printf("version %s\n", cns_version());
    printf("users %d items %d interactions %zu duplicates %zu\n",
           (int)cns_dataset_num_users(ds), (int)cns_dataset_num_items(ds),
           cns_dataset_num_interactions(ds), cns_dataset_duplicates(ds));
    cns_dataset_free(ds);
    printf("ok\n");
    return 0;
}
