/* Operation: a user's first PIN factor. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_sam_internal.h"

qs_err qs_db_factor_pin_insert(qs_db *db, const qs_db_factor_pin *f)
{
    static const char sql[] = "INSERT INTO qsign.factor_pin (user_id, verifier, failed_attempts,"
                              " record_mac) VALUES ($1, $2, $3, $4)";
    qs_db_param p[4];
    qs_db_param_uuid(&p[0], f->user_id);
    qs_db_param_text(&p[1], f->verifier);
    qs_db_param_int4(&p[2], f->failed_attempts);
    qs_db_param_bytea(&p[3], f->record_mac, sizeof f->record_mac);
    qs_err r = qs_db_exec(db, __func__, sql, 4, p, NULL);
    if (r == QS_ERR_DB_CONSTRAINT && strcmp(qs_db_last_sqlstate(db), "23505") == 0)
        r = QS_ERR_EXISTS;
    return r;
}
