/* Operation: revoke every token of a login session. */
#define QS_LOG_MODULE "db"
#include <stdlib.h>

#include "db/db_api.h"
#include "db/db_internal.h"

qs_err qs_db_token_revoke_session(qs_db *db, const uint8_t session_id[static QS_DB_API_UUID_LEN],
                                  const uint8_t user_id[static QS_DB_API_UUID_LEN], int64_t *count)
{
    static const char sql[] = "UPDATE qsign.access_tokens SET revoked_at = pg_catalog.now()"
                              " WHERE session_id = $1 AND user_id = $2 AND revoked_at IS NULL";
    qs_db_param p[2];
    PGresult *res = NULL;

    if (count != NULL)
        *count = 0;
    qs_db_param_uuid(&p[0], session_id);
    qs_db_param_uuid(&p[1], user_id);
    qs_err r = qs_db_exec(db, __func__, sql, 2, p, &res);
    if (r == QS_OK && count != NULL)
        *count = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return r;
}
