/* Operation: read a credential without locking it. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_sam_internal.h"

qs_err qs_db_credential_get(qs_db *db, const uint8_t id[static QS_DB_SAM_UUID_LEN],
                            qs_db_credential *out, bool *found)
{
    static const char sql[] = "SELECT " QS_DB_CREDENTIAL_COLUMNS " FROM qsign.credentials"
                              " WHERE id = $1";
    qs_db_param p[1];
    PGresult *res = NULL;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_db_param_uuid(&p[0], id);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r == QS_OK && PQntuples(res) == 1) {
        r = qs_db_credential_row_read(res, 0, out);
        *found = r == QS_OK;
    }
    PQclear(res);
    return r;
}
