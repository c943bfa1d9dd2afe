/* Operation: a user's activation code, locked until the transaction ends. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_activation_lock(qs_db *db, const uint8_t user_id[static QS_DB_CA_UUID_LEN],
                             qs_db_activation *out, bool *found)
{
    static const char sql[] =
        "SELECT user_id, code_hash, created_at, expires_at, used_at, failed_attempts, record_mac"
        " FROM qsign.activation_codes WHERE user_id = $1 FOR UPDATE";
    qs_db_param p[1];
    PGresult *res = NULL;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_db_param_uuid(&p[0], user_id);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK || PQntuples(res) != 1)
        goto out;
    if ((r = qs_db_sam_get_uuid(res, 0, 0, out->user_id)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, 0, 1, out->code_hash, sizeof out->code_hash)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, 0, 2, &out->created_at_us)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, 0, 3, &out->expires_at_us)) != QS_OK ||
        (r = qs_db_sam_get_timestamptz_opt(res, 0, 4, &out->used_at_us, &out->used)) != QS_OK ||
        (r = qs_db_get_int4(res, 0, 5, &out->failed_attempts)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, 0, 6, out->record_mac, sizeof out->record_mac)) != QS_OK)
        goto out;
    *found = true;
out:
    if (r != QS_OK)
        memset(out, 0, sizeof *out);
    PQclear(res);
    return r;
}
