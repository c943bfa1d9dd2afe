/* Operation: set an audit writer's checkpoint key, once. */
#define QS_LOG_MODULE "db"
#include "db/db_audit_internal.h"

qs_err qs_db_audit_writer_set_key(qs_db *db, const char *writer_id, const uint8_t *spki,
                                  size_t spki_len, bool *set)
{
    static const char sql[] = "UPDATE qsign.audit_writers SET checkpoint_spki = $2"
                              " WHERE writer_id = $1 AND checkpoint_spki IS NULL";
    qs_db_param p[2];
    PGresult *res = NULL;

    *set = false;
    qs_db_param_text(&p[0], writer_id);
    qs_db_param_bytea(&p[1], spki, spki_len);
    qs_err r = qs_db_exec(db, __func__, sql, 2, p, &res);
    if (r == QS_OK)
        *set = PQcmdTuples(res)[0] == '1';
    PQclear(res);
    return r;
}
