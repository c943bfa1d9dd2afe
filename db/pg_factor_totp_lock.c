/* Operation: read a user's TOTP factor and lock its row until the transaction ends. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_sam_internal.h"

qs_err qs_db_factor_totp_lock(qs_db *db, const uint8_t user_id[static QS_DB_SAM_UUID_LEN],
                              qs_db_factor_totp *out, bool *found)
{
    /* smallint columns come as int4: the readers know int4 */
    static const char sql[] =
        "SELECT user_id, seed_ciphertext, algorithm, digits::int4, period::int4, last_step,"
        " failed_attempts, record_mac FROM qsign.factor_totp WHERE user_id = $1 FOR UPDATE";
    qs_db_param p[1];
    PGresult *res = NULL;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_db_param_uuid(&p[0], user_id);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK || PQntuples(res) != 1)
        goto out;
    if ((r = qs_db_sam_get_uuid(res, 0, 0, out->user_id)) != QS_OK ||
        (r = qs_db_sam_get_bytea(res, 0, 1, out->seed_ciphertext, sizeof out->seed_ciphertext,
                                 &out->seed_ciphertext_len, NULL)) != QS_OK ||
        (r = qs_db_sam_get_text(res, 0, 2, out->algorithm, sizeof out->algorithm)) != QS_OK ||
        (r = qs_db_get_int4(res, 0, 3, &out->digits)) != QS_OK ||
        (r = qs_db_get_int4(res, 0, 4, &out->period)) != QS_OK ||
        (r = qs_db_get_int8(res, 0, 5, &out->last_step)) != QS_OK ||
        (r = qs_db_get_int4(res, 0, 6, &out->failed_attempts)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, 0, 7, out->record_mac, sizeof out->record_mac)) != QS_OK) {
        memset(out, 0, sizeof *out);
        goto out;
    }
    *found = true;
out:
    PQclear(res);
    return r;
}
