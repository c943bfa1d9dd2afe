/*
 * Test databases in the throwaway cluster of the `pg` ctest fixture (tests/lib/pg-cluster).
 *
 * The cluster's env file is named by $QS_TEST_PG_ENV (default $QS_BUILD_DIR/tests/pg-cluster/env).
 * Each qs_test_pg_create() makes a fresh database with a unique name, owned by qsign_owner, so
 * tests running in parallel never share one.  Failures abort the test program (exit 1); a
 * missing cluster skips it (qs_test_skip).
 */
#ifndef QS_TESTS_PG_H
#define QS_TESTS_PG_H

#include <stdbool.h>

#include <libpq-fe.h>

typedef struct qs_test_pg {
    char dbname[64];
    char *super_conninfo; /* the cluster superuser, on this database */
    char *owner_conninfo; /* qsign_owner */
    char *api_conninfo;   /* qsign_api */
    char *sam_conninfo;   /* qsign_sam */
    char *audit_conninfo; /* qsign_audit */
    char *admin_conninfo; /* the superuser on the maintenance database (postgres) */
} qs_test_pg;

/* A fresh, empty database; `tag` (letters, digits, _) goes into its name. */
qs_test_pg *qs_test_pg_create(const char *tag);

/* Drops the database (closing any session still connected to it) and frees. NULL: no-op. */
void qs_test_pg_destroy(qs_test_pg *pg);

/* Applies every migration as qsign_owner; aborts on failure. */
void qs_test_pg_migrate(const qs_test_pg *pg);

/* A raw libpq connection; aborts on failure.  PQfinish it. */
PGconn *qs_test_pg_connect(const char *conninfo);

/* Runs fixed SQL on a raw connection and aborts (printing the error) unless it succeeds. */
void qs_test_pg_exec_ok(PGconn *conn, const char *sql);

/* Runs fixed SQL and returns its SQLSTATE ("" on success) in state[6]. */
void qs_test_pg_exec_state(PGconn *conn, const char *sql, char state[static 6]);

/* First column of the first row of a query, malloc'd (NULL for SQL NULL); aborts on failure. */
char *qs_test_pg_query_value(PGconn *conn, const char *sql);

#endif
