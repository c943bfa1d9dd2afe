/* Operation: a user's first TOTP factor. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_sam_internal.h"

qs_err qs_db_factor_totp_insert(qs_db *db, const qs_db_factor_totp *f)
{
    static const char sql[] =
        "INSERT INTO qsign.factor_totp (user_id, seed_ciphertext, algorithm, digits, period,"
        " last_step, failed_attempts, record_mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    qs_db_param p[8];
    qs_db_param_uuid(&p[0], f->user_id);
    qs_db_param_bytea(&p[1], f->seed_ciphertext, f->seed_ciphertext_len);
    qs_db_param_text(&p[2], f->algorithm);
    qs_db_param_int4(&p[3], f->digits);
    qs_db_param_int4(&p[4], f->period);
    qs_db_param_int8(&p[5], f->last_step);
    qs_db_param_int4(&p[6], f->failed_attempts);
    qs_db_param_bytea(&p[7], f->record_mac, sizeof f->record_mac);
    qs_err r = qs_db_exec(db, __func__, sql, 8, p, NULL);
    if (r == QS_ERR_DB_CONSTRAINT && strcmp(qs_db_last_sqlstate(db), "23505") == 0)
        r = QS_ERR_EXISTS;
    return r;
}
