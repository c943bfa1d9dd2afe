/* Operation: take the migration advisory lock for the rest of the transaction. */
#define QS_LOG_MODULE "db"
#include "db/db_internal.h"

/* Advisory lock key shared by every migrator of a database: "qsignmig" in ASCII. */
#define QS_DB_MIGRATION_LOCK_KEY INT64_C(0x717369676e6d6967)

qs_err qs_db_migration_lock(qs_db *db)
{
    static const char sql[] = "SELECT pg_catalog.pg_advisory_xact_lock($1)";
    qs_db_param p[1];

    qs_db_param_int8(&p[0], QS_DB_MIGRATION_LOCK_KEY);
    return qs_db_exec(db, __func__, sql, 1, p, NULL);
}
