/* Operation: the highest applied migration version. */
#define QS_LOG_MODULE "db"
#include "db/db_internal.h"

qs_err qs_db_schema_version(qs_db *db, uint32_t *version)
{
    static const char sql[] = "SELECT COALESCE(max(version), 0) FROM qsign.schema_migration";
    PGresult *res = NULL;
    int32_t v;
    qs_err r;

    *version = 0;
    r = qs_db_exec(db, __func__, sql, 0, NULL, &res);
    if (r != QS_OK)
        goto out;
    r = qs_db_get_int4(res, 0, 0, &v);
    if (r != QS_OK)
        goto out;
    if (v < 0) {
        r = QS_ERR_DB_SCHEMA;
        goto out;
    }
    *version = (uint32_t)v;
    r = QS_OK;
out:
    PQclear(res);
    return r;
}
