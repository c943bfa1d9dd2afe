/* Operation: the certificate of a credential, optionally locked until the transaction ends. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_certificate_of_credential(qs_db *db, const uint8_t cred_id[static QS_DB_CA_UUID_LEN],
                                       bool lock, qs_db_certificate *out, bool *found)
{
    static const char sql[] =
        "SELECT " QS_DB_CERTIFICATE_COLUMNS " FROM qsign.certificates WHERE credential_id = $1";
    static const char sql_lock[] = "SELECT " QS_DB_CERTIFICATE_COLUMNS
                                   " FROM qsign.certificates WHERE credential_id = $1 FOR UPDATE";
    qs_db_param p[1];
    PGresult *res = NULL;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_db_param_uuid(&p[0], cred_id);
    qs_err r = lock ? qs_db_exec(db, "qs_db_certificate_of_credential_lock", sql_lock, 1, p, &res)
                    : qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r == QS_OK && PQntuples(res) == 1) {
        r = qs_db_certificate_row_read(res, 0, out);
        *found = r == QS_OK;
    }
    PQclear(res);
    return r;
}
