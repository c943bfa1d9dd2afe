/* Operation: record a login attempt on an account's counters. */
#define QS_LOG_MODULE "db"
#include "db/db_api.h"
#include "db/db_internal.h"

qs_err qs_db_account_record_login(qs_db *db, const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                  bool success)
{
    static const char sql[] =
        "UPDATE qsign.accounts SET"
        " failed_logins = CASE WHEN $2 THEN 0 ELSE LEAST(failed_logins + 1, 1000000) END,"
        " last_login_at = CASE WHEN $2 THEN pg_catalog.now() ELSE last_login_at END,"
        " last_failed_at = CASE WHEN $2 THEN last_failed_at ELSE pg_catalog.now() END"
        " WHERE user_id = $1";
    qs_db_param p[2];
    qs_db_param_uuid(&p[0], user_id);
    qs_db_param_bool(&p[1], success);
    return qs_db_exec(db, __func__, sql, 2, p, NULL);
}
