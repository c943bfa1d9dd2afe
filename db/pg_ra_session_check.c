/* Operation (qsignd): the user and role of an unexpired RA or audit session. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_ra_session_check(qs_db *db, const uint8_t hash[static QS_DB_CA_SHA256_LEN],
                              uint8_t user_id[static QS_DB_CA_UUID_LEN], char *role,
                              size_t role_len, bool *user_active, bool *found)
{
    static const char sql[] = "SELECT s.officer_id, s.role, u.status = 'active' AND u.kind = s.role"
                              " FROM qsign.ra_sessions s JOIN qsign.users u ON u.id = s.officer_id"
                              " WHERE s.session_hash = $1 AND s.expires_at > pg_catalog.now()";
    qs_db_param p[1];
    PGresult *res = NULL;

    memset(user_id, 0, QS_DB_CA_UUID_LEN);
    if (role_len > 0)
        role[0] = '\0';
    *user_active = false;
    *found = false;
    qs_db_param_bytea(&p[0], hash, QS_DB_CA_SHA256_LEN);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r == QS_OK && PQntuples(res) == 1 &&
        (r = qs_db_sam_get_uuid(res, 0, 0, user_id)) == QS_OK &&
        (r = qs_db_sam_get_text(res, 0, 1, role, role_len)) == QS_OK &&
        (r = qs_db_get_bool(res, 0, 2, user_active)) == QS_OK)
        *found = true;
    PQclear(res);
    return r;
}
