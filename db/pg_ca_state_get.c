/* Operation: the CA's row, optionally locked until the transaction ends. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_ca_state_get(qs_db *db, bool lock, qs_db_ca_state *out, bool *found)
{
    static const char sql[] = "SELECT " QS_DB_CA_STATE_COLUMNS " FROM qsign.ca_state WHERE id = 1";
    static const char sql_lock[] =
        "SELECT " QS_DB_CA_STATE_COLUMNS " FROM qsign.ca_state WHERE id = 1 FOR UPDATE";
    PGresult *res = NULL;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_err r = lock ? qs_db_exec(db, "qs_db_ca_state_lock", sql_lock, 0, NULL, &res)
                    : qs_db_exec(db, __func__, sql, 0, NULL, &res);
    if (r == QS_OK && PQntuples(res) == 1) {
        r = qs_db_ca_state_row_read(res, 0, out);
        *found = r == QS_OK;
    }
    PQclear(res);
    return r;
}
