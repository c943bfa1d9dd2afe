/* Operation: the checkpoint key (SubjectPublicKeyInfo) of a registered audit writer. */
#define QS_LOG_MODULE "db"
#include <stdlib.h>

#include "db/db_audit_internal.h"

qs_err qs_db_audit_writer_key(qs_db *db, const char *writer_id, uint8_t **spki, size_t *spki_len)
{
    static const char sql[] =
        "SELECT checkpoint_spki FROM qsign.audit_writers WHERE writer_id = $1";
    qs_db_param p[1];
    PGresult *res = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    bool present = false;

    *spki = NULL;
    *spki_len = 0;
    qs_db_param_text(&p[0], writer_id);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK)
        goto out;
    if (PQntuples(res) == 0) {
        r = QS_ERR_NOT_FOUND;
        goto out;
    }
    buf = malloc(QS_DB_AUDIT_SPKI_MAX);
    if (buf == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    r = qs_db_audit_get_bytea(res, 0, 0, buf, QS_DB_AUDIT_SPKI_MAX, &len, &present);
    if (r != QS_OK || !present)
        goto out;
    *spki = buf;
    *spki_len = len;
    buf = NULL;
out:
    free(buf);
    PQclear(res);
    return r;
}
