/* Operation: the latest checkpoint of a writer. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_audit_internal.h"

qs_err qs_db_audit_checkpoint_last(qs_db *db, const char *writer_id, qs_db_audit_checkpoint *cp,
                                   bool *found)
{
    static const char sql[] = "SELECT " QS_DB_AUDIT_CHECKPOINT_COLUMNS
                              " FROM qsign.audit_checkpoints WHERE writer_id = $1"
                              " ORDER BY seq DESC LIMIT 1";
    qs_db_param p[1];
    PGresult *res = NULL;

    memset(cp, 0, sizeof *cp);
    *found = false;
    qs_db_param_text(&p[0], writer_id);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK || PQntuples(res) == 0)
        goto out;
    r = qs_db_audit_checkpoint_read(res, 0, cp);
    *found = r == QS_OK;
out:
    PQclear(res);
    return r;
}
