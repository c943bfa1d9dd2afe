/* Operation: a new SAD row. */
#define QS_LOG_MODULE "db"
#include "db/db_sam_internal.h"

qs_err qs_db_sad_insert(qs_db *db, const qs_db_sad *s)
{
    static const char sql[] =
        "INSERT INTO qsign.sads (sad_hash, user_id, credential_id, hash_alg, num_signatures,"
        " remaining, hashes_sha256, created_at, expires_at, auth_event_writer, auth_event_seq,"
        " record_mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
    qs_db_param p[12];
    qs_db_param_bytea(&p[0], s->sad_hash, sizeof s->sad_hash);
    qs_db_param_uuid(&p[1], s->user_id);
    qs_db_param_uuid(&p[2], s->credential_id);
    qs_db_param_text(&p[3], s->hash_alg);
    qs_db_param_int4(&p[4], s->num_signatures);
    qs_db_param_int4(&p[5], s->remaining);
    qs_db_param_bytea(&p[6], s->hashes_sha256, sizeof s->hashes_sha256);
    qs_db_param_timestamptz(&p[7], s->created_at_us);
    qs_db_param_timestamptz(&p[8], s->expires_at_us);
    qs_db_param_text(&p[9], s->auth_event_writer);
    qs_db_param_int8(&p[10], s->auth_event_seq);
    qs_db_param_bytea(&p[11], s->record_mac, sizeof s->record_mac);
    return qs_db_exec(db, __func__, sql, 12, p, NULL);
}
