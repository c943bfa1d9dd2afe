/* Operation: a new credential (signer key). */
#define QS_LOG_MODULE "db"
#include "db/db_sam_internal.h"

qs_err qs_db_credential_insert(qs_db *db, const qs_db_credential *c)
{
    static const char sql[] = "INSERT INTO qsign.credentials (id, user_id, key_alg, spki,"
                              " wrapped_key, status, failed_attempts, record_mac)"
                              " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    qs_db_param p[8];
    qs_db_param_uuid(&p[0], c->id);
    qs_db_param_uuid(&p[1], c->user_id);
    qs_db_param_text(&p[2], c->key_alg);
    qs_db_param_bytea(&p[3], c->spki, c->spki_len);
    qs_db_param_bytea(&p[4], c->has_wrapped_key ? c->wrapped_key : NULL, c->wrapped_key_len);
    qs_db_param_text(&p[5], c->status);
    qs_db_param_int4(&p[6], c->failed_attempts);
    qs_db_param_bytea(&p[7], c->record_mac, sizeof c->record_mac);
    return qs_db_exec(db, __func__, sql, 8, p, NULL);
}
