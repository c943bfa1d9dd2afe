/* Operation (qsignd): the officer of an unexpired RA session. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_ra_session_check(qs_db *db, const uint8_t hash[static QS_DB_CA_SHA256_LEN],
                              uint8_t officer_id[static QS_DB_CA_UUID_LEN], bool *officer_active,
                              bool *found)
{
    static const char sql[] = "SELECT s.officer_id, u.status = 'active' AND u.kind = 'officer'"
                              " FROM qsign.ra_sessions s JOIN qsign.users u ON u.id = s.officer_id"
                              " WHERE s.session_hash = $1 AND s.expires_at > pg_catalog.now()";
    qs_db_param p[1];
    PGresult *res = NULL;

    memset(officer_id, 0, QS_DB_CA_UUID_LEN);
    *officer_active = false;
    *found = false;
    qs_db_param_bytea(&p[0], hash, QS_DB_CA_SHA256_LEN);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r == QS_OK && PQntuples(res) == 1 &&
        (r = qs_db_sam_get_uuid(res, 0, 0, officer_id)) == QS_OK &&
        (r = qs_db_get_bool(res, 0, 1, officer_active)) == QS_OK)
        *found = true;
    PQclear(res);
    return r;
}
