/* Operation: whether this session's commits are durable (synchronous_commit is not off). */
#define QS_LOG_MODULE "db"
#include "db/db_audit.h"
#include "db/db_internal.h"

qs_err qs_db_audit_session_durable(qs_db *db, bool *durable)
{
    static const char sql[] = "SELECT pg_catalog.current_setting('synchronous_commit') <> 'off'";
    PGresult *res = NULL;

    *durable = false;
    qs_err r = qs_db_exec(db, __func__, sql, 0, NULL, &res);
    if (r == QS_OK)
        r = qs_db_get_bool(res, 0, 0, durable);
    PQclear(res);
    return r;
}
