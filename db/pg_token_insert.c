/* Operation: store a new access or refresh token (its hash). */
#define QS_LOG_MODULE "db"
#include "db/db_api.h"
#include "db/db_internal.h"
#include "util/log.h"

qs_err qs_db_token_insert(qs_db *db, const uint8_t hash[static QS_DB_API_TOKEN_HASH_LEN],
                          const uint8_t user_id[static QS_DB_API_UUID_LEN],
                          const uint8_t session_id[static QS_DB_API_UUID_LEN],
                          qs_db_token_kind kind, int64_t lifetime_s)
{
    static const char sql[] =
        "INSERT INTO qsign.access_tokens (token_hash, user_id, session_id, kind, expires_at)"
        " VALUES ($1, $2, $3, $4, pg_catalog.now() + pg_catalog.make_interval(secs => $5))";
    const char *kind_name = NULL;
    switch (kind) {
    case QS_DB_TOKEN_ACCESS:
        kind_name = "access";
        break;
    case QS_DB_TOKEN_REFRESH:
        kind_name = "refresh";
        break;
    }
    if (kind_name == NULL || lifetime_s < 1) {
        qs_bug("token kind %d, lifetime %lld", (int)kind, (long long)lifetime_s);
        return QS_ERR_INVALID_ARGUMENT;
    }
    qs_db_param p[5];
    qs_db_param_bytea(&p[0], hash, QS_DB_API_TOKEN_HASH_LEN);
    qs_db_param_uuid(&p[1], user_id);
    qs_db_param_uuid(&p[2], session_id);
    qs_db_param_text(&p[3], kind_name);
    qs_db_param_int8(&p[4], lifetime_s);
    return qs_db_exec(db, __func__, sql, 5, p, NULL);
}
