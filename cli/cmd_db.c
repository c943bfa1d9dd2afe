/*
 * qsignctl db: schema migrations.
 *   qsignctl db migrate   apply the pending migrations embedded in this binary (schema owner)
 *   qsignctl db status    print the schema version and the pending migrations
 * Both connect with [database] owner_conninfo.
 */
#define QS_LOG_MODULE "qsignctl"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "db/db.h"

static void db_usage(FILE *f)
{
    fprintf(f, "usage: qsignctl db migrate|status\n");
}

static void print_applied(const qs_db_migration *m, void *cls)
{
    (void)cls;
    printf("applied %s\n", m->name);
    fflush(stdout);
}

static int db_migrate(qs_db *db)
{
    size_t n = 0;
    qs_err r = qs_db_migrate(db, print_applied, NULL, &n);
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: db migrate: %s (%zu migration%s applied before the error)\n",
                qs_err_str(r), n, n == 1 ? "" : "s");
        return 1;
    }
    if (n == 0)
        printf("up to date (version %zu)\n", qs_db_migration_count());
    else
        printf("now at version %zu\n", qs_db_migration_count());
    return 0;
}

static int db_status(qs_db *db)
{
    uint32_t current = 0;
    size_t latest = qs_db_migration_count();
    qs_err r = qs_db_migration_status(db, &current);

    printf("schema version: %u\n", current);
    printf("latest known:   %zu\n", latest);
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: db status: %s\n", qs_err_str(r));
        return 1;
    }
    if (current >= latest) {
        printf("up to date\n");
        return 0;
    }
    printf("pending:\n");
    for (size_t i = current; i < latest; i++)
        printf("  %s\n", qs_db_migration_at(i)->name);
    return 0;
}

int qs_ctl_db(const qs_ctl_config *cfg, int argc, char **argv)
{
    if (argc != 2) {
        db_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        db_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "migrate") != 0 && strcmp(sub, "status") != 0) {
        fprintf(stderr, "qsignctl: db: unknown sub-command \"%s\"\n", sub);
        db_usage(stderr);
        return 2;
    }
    if (!qs_ctl_need(cfg->db_owner_conninfo, "database", "owner_conninfo"))
        return 1;

    qs_db *db = NULL;
    qs_err r = qs_db_connect(cfg->db_owner_conninfo, &db);
    if (r != QS_OK) {
        fprintf(stderr, "qsignctl: db %s: cannot connect to the database: %s\n", sub,
                qs_err_str(r));
        return 1;
    }
    int rc = strcmp(sub, "migrate") == 0 ? db_migrate(db) : db_status(db);
    qs_db_free(db);
    return rc;
}
