/* Operation: delete a user's expired tokens. */
#define QS_LOG_MODULE "db"
#include "db/db_api.h"
#include "db/db_internal.h"

qs_err qs_db_token_purge_expired(qs_db *db, const uint8_t user_id[static QS_DB_API_UUID_LEN])
{
    static const char sql[] = "DELETE FROM qsign.access_tokens"
                              " WHERE user_id = $1 AND expires_at <= pg_catalog.now()";
    qs_db_param p[1];
    qs_db_param_uuid(&p[0], user_id);
    return qs_db_exec(db, __func__, sql, 1, p, NULL);
}
