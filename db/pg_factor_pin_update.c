/* Operation: write a PIN factor's verifier, failure counter and MAC. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_sam_internal.h"

qs_err qs_db_factor_pin_update(qs_db *db, const qs_db_factor_pin *f, bool set_updated)
{
    static const char sql[] =
        "UPDATE qsign.factor_pin SET verifier = $2, failed_attempts = $3, record_mac = $4,"
        " updated_at = CASE WHEN $5 THEN pg_catalog.now() ELSE updated_at END"
        " WHERE user_id = $1";
    qs_db_param p[5];
    PGresult *res = NULL;

    qs_db_param_uuid(&p[0], f->user_id);
    qs_db_param_text(&p[1], f->verifier);
    qs_db_param_int4(&p[2], f->failed_attempts);
    qs_db_param_bytea(&p[3], f->record_mac, sizeof f->record_mac);
    qs_db_param_bool(&p[4], set_updated);
    qs_err r = qs_db_exec(db, __func__, sql, 5, p, &res);
    if (r == QS_OK && strcmp(PQcmdTuples(res), "1") != 0)
        r = QS_ERR_NOT_FOUND;
    PQclear(res);
    return r;
}
