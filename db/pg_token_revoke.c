/* Operation: revoke one token of a user. */
#define QS_LOG_MODULE "db"
#include "db/db_api.h"
#include "db/db_internal.h"

qs_err qs_db_token_revoke(qs_db *db, const uint8_t hash[static QS_DB_API_TOKEN_HASH_LEN],
                          const uint8_t user_id[static QS_DB_API_UUID_LEN], bool *revoked)
{
    static const char sql[] =
        "UPDATE qsign.access_tokens SET revoked_at = pg_catalog.now()"
        " WHERE token_hash = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING token_hash";
    qs_db_param p[2];
    PGresult *res = NULL;

    *revoked = false;
    qs_db_param_bytea(&p[0], hash, QS_DB_API_TOKEN_HASH_LEN);
    qs_db_param_uuid(&p[1], user_id);
    qs_err r = qs_db_exec(db, __func__, sql, 2, p, &res);
    if (r == QS_OK)
        *revoked = PQntuples(res) > 0;
    PQclear(res);
    return r;
}
