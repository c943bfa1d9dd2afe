/* Operation: store one signed checkpoint of a writer's chain. */
#define QS_LOG_MODULE "db"
#include "db/db_audit_internal.h"
#include "util/log.h"

qs_err qs_db_audit_checkpoint_insert(qs_db *db, const char *writer_id,
                                     const qs_db_audit_checkpoint *cp)
{
    static const char sql[] = "INSERT INTO qsign.audit_checkpoints (writer_id, seq, head_hash,"
                              " checkpoint_time, signature) VALUES ($1, $2, $3, $4, $5)";
    qs_db_param p[5];

    if (cp->signature_len == 0 || cp->signature_len > sizeof cp->signature) {
        qs_bug("audit checkpoint with a signature of %zu bytes", cp->signature_len);
        return QS_ERR_INTERNAL;
    }
    qs_db_param_text(&p[0], writer_id);
    qs_db_param_int8(&p[1], cp->seq);
    qs_db_param_bytea(&p[2], cp->head_hash, sizeof cp->head_hash);
    qs_db_param_timestamptz(&p[3], cp->time_us);
    qs_db_param_bytea(&p[4], cp->signature, cp->signature_len);
    return qs_db_exec(db, __func__, sql, 5, p, NULL);
}
