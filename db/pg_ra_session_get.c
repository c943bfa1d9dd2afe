/* Operation: an RA or audit session by the hash of its handle. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_ra_session_get(qs_db *db, const uint8_t hash[static QS_DB_CA_SHA256_LEN],
                            qs_db_ra_session *out, bool *found)
{
    static const char sql[] =
        "SELECT session_hash, officer_id, role, created_at, expires_at, record_mac"
        " FROM qsign.ra_sessions WHERE session_hash = $1";
    qs_db_param p[1];
    PGresult *res = NULL;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_db_param_bytea(&p[0], hash, QS_DB_CA_SHA256_LEN);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK || PQntuples(res) != 1)
        goto out;
    if ((r = qs_db_get_bytea_fixed(res, 0, 0, out->session_hash, sizeof out->session_hash)) !=
            QS_OK ||
        (r = qs_db_sam_get_uuid(res, 0, 1, out->officer_id)) != QS_OK ||
        (r = qs_db_sam_get_text(res, 0, 2, out->role, sizeof out->role)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, 0, 3, &out->created_at_us)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, 0, 4, &out->expires_at_us)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, 0, 5, out->record_mac, sizeof out->record_mac)) != QS_OK)
        goto out;
    *found = true;
out:
    if (r != QS_OK)
        memset(out, 0, sizeof *out);
    PQclear(res);
    return r;
}
