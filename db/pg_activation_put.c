/* Operation: a user's activation code, new or replacing the previous one. */
#define QS_LOG_MODULE "db"
#include "db/db_ca_internal.h"

qs_err qs_db_activation_put(qs_db *db, const qs_db_activation *a)
{
    static const char sql[] =
        "INSERT INTO qsign.activation_codes (user_id, code_hash, created_at, expires_at, used_at,"
        " failed_attempts, record_mac) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (user_id) DO UPDATE SET code_hash = EXCLUDED.code_hash,"
        " created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,"
        " used_at = EXCLUDED.used_at, failed_attempts = EXCLUDED.failed_attempts,"
        " record_mac = EXCLUDED.record_mac";
    qs_db_param p[7];
    qs_db_param_uuid(&p[0], a->user_id);
    qs_db_param_bytea(&p[1], a->code_hash, sizeof a->code_hash);
    qs_db_param_timestamptz(&p[2], a->created_at_us);
    qs_db_param_timestamptz(&p[3], a->expires_at_us);
    if (a->used)
        qs_db_param_timestamptz(&p[4], a->used_at_us);
    else
        qs_db_param_null(&p[4], QS_DB_OID_TIMESTAMPTZ);
    qs_db_param_int4(&p[5], a->failed_attempts);
    qs_db_param_bytea(&p[6], a->record_mac, sizeof a->record_mac);
    return qs_db_exec(db, __func__, sql, 7, p, NULL);
}
