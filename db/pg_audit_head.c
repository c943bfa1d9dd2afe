/* Operation: the last record of a writer's chain. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_audit.h"
#include "db/db_internal.h"

qs_err qs_db_audit_head(qs_db *db, const char *writer_id, qs_db_audit_row *row, bool *found)
{
    static const char sql[] = "SELECT " QS_DB_AUDIT_ROW_COLUMNS " FROM qsign.audit_log"
                              " WHERE writer_id = $1 ORDER BY seq DESC LIMIT 1";
    qs_db_param p[1];
    PGresult *res = NULL;

    memset(row, 0, sizeof *row);
    *found = false;
    qs_db_param_text(&p[0], writer_id);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK || PQntuples(res) == 0)
        goto out;
    r = qs_db_audit_row_read(res, 0, row);
    *found = r == QS_OK;
out:
    PQclear(res);
    return r;
}
