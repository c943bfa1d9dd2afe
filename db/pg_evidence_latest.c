/* Operation: the latest identity evidence of a user. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_evidence_latest(qs_db *db, const uint8_t user_id[static QS_DB_CA_UUID_LEN],
                             qs_db_evidence *out, bool *found)
{
    static const char sql[] = "SELECT " QS_DB_EVIDENCE_COLUMNS " FROM qsign.identity_evidence"
                              " WHERE user_id = $1 ORDER BY verified_at DESC, id LIMIT 1";
    qs_db_param p[1];
    PGresult *res = NULL;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_db_param_uuid(&p[0], user_id);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r == QS_OK && PQntuples(res) == 1) {
        r = qs_db_evidence_row_read(res, 0, out);
        *found = r == QS_OK;
    }
    PQclear(res);
    return r;
}
