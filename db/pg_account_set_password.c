/* Operation: set a user's login password verifier (owner role). */
#define QS_LOG_MODULE "db"
#include "db/db_api.h"
#include "db/db_internal.h"

qs_err qs_db_account_set_password(qs_db *db, const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                  const char *verifier, bool *user_exists)
{
    static const char sql[] = "INSERT INTO qsign.accounts (user_id, verifier)"
                              " SELECT u.id, $2 FROM qsign.users u WHERE u.id = $1"
                              " ON CONFLICT (user_id) DO UPDATE SET verifier = EXCLUDED.verifier,"
                              " failed_logins = 0, updated_at = pg_catalog.now()"
                              " RETURNING user_id";
    qs_db_param p[2];
    PGresult *res = NULL;

    *user_exists = false;
    qs_db_param_uuid(&p[0], user_id);
    qs_db_param_text(&p[1], verifier);
    qs_err r = qs_db_exec(db, __func__, sql, 2, p, &res);
    if (r == QS_OK)
        *user_exists = PQntuples(res) == 1;
    PQclear(res);
    return r;
}
