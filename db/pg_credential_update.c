/* Operation: write a credential's changing columns (key, status, failure counter, MAC). */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_sam_internal.h"

qs_err qs_db_credential_update(qs_db *db, const qs_db_credential *c)
{
    static const char sql[] = "UPDATE qsign.credentials SET wrapped_key = $2, status = $3,"
                              " failed_attempts = $4, record_mac = $5 WHERE id = $1";
    qs_db_param p[5];
    PGresult *res = NULL;

    qs_db_param_uuid(&p[0], c->id);
    qs_db_param_bytea(&p[1], c->has_wrapped_key ? c->wrapped_key : NULL, c->wrapped_key_len);
    qs_db_param_text(&p[2], c->status);
    qs_db_param_int4(&p[3], c->failed_attempts);
    qs_db_param_bytea(&p[4], c->record_mac, sizeof c->record_mac);
    qs_err r = qs_db_exec(db, __func__, sql, 5, p, &res);
    if (r == QS_OK && strcmp(PQcmdTuples(res), "1") != 0)
        r = QS_ERR_NOT_FOUND;
    PQclear(res);
    return r;
}
