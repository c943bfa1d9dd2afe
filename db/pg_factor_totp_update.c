/* Operation: write a TOTP factor's seed, parameters, last step, failure counter and MAC. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_sam_internal.h"

qs_err qs_db_factor_totp_update(qs_db *db, const qs_db_factor_totp *f, bool set_updated)
{
    static const char sql[] =
        "UPDATE qsign.factor_totp SET seed_ciphertext = $2, algorithm = $3, digits = $4,"
        " period = $5, last_step = $6, failed_attempts = $7, record_mac = $8,"
        " updated_at = CASE WHEN $9 THEN pg_catalog.now() ELSE updated_at END"
        " WHERE user_id = $1";
    qs_db_param p[9];
    PGresult *res = NULL;

    qs_db_param_uuid(&p[0], f->user_id);
    qs_db_param_bytea(&p[1], f->seed_ciphertext, f->seed_ciphertext_len);
    qs_db_param_text(&p[2], f->algorithm);
    qs_db_param_int4(&p[3], f->digits);
    qs_db_param_int4(&p[4], f->period);
    qs_db_param_int8(&p[5], f->last_step);
    qs_db_param_int4(&p[6], f->failed_attempts);
    qs_db_param_bytea(&p[7], f->record_mac, sizeof f->record_mac);
    qs_db_param_bool(&p[8], set_updated);
    qs_err r = qs_db_exec(db, __func__, sql, 9, p, &res);
    if (r == QS_OK && strcmp(PQcmdTuples(res), "1") != 0)
        r = QS_ERR_NOT_FOUND;
    PQclear(res);
    return r;
}
