/* Operation: does the migration version table exist? */
#define QS_LOG_MODULE "db"
#include "db/db_internal.h"

qs_err qs_db_migration_table_exists(qs_db *db, bool *exists)
{
    static const char sql[] = "SELECT pg_catalog.to_regclass('qsign.schema_migration') IS NOT NULL";
    PGresult *res = NULL;
    qs_err r;

    *exists = false;
    r = qs_db_exec(db, __func__, sql, 0, NULL, &res);
    if (r != QS_OK)
        goto out;
    r = qs_db_get_bool(res, 0, 0, exists);
out:
    PQclear(res);
    return r;
}
