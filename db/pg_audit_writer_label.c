/* Operation: the MAC key label of a registered audit writer. */
#define QS_LOG_MODULE "db"
#include "db/db_audit.h"
#include "db/db_internal.h"

qs_err qs_db_audit_writer_label(qs_db *db, const char *writer_id, char **label)
{
    static const char sql[] = "SELECT mac_key_label FROM qsign.audit_writers WHERE writer_id = $1";
    qs_db_param p[1];
    PGresult *res = NULL;

    *label = NULL;
    qs_db_param_text(&p[0], writer_id);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK)
        goto out;
    if (PQntuples(res) == 0) {
        r = QS_ERR_NOT_FOUND;
        goto out;
    }
    r = qs_db_get_text(res, 0, 0, label);
out:
    PQclear(res);
    return r;
}
