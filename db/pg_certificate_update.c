/* Operation: write a certificate's revocation state and MAC. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_certificate_update(qs_db *db, const qs_db_certificate *c)
{
    static const char sql[] = "UPDATE qsign.certificates SET status = $2, revoked_at = $3,"
                              " reason = $4, record_mac = $5 WHERE serial = $1";
    qs_db_param p[5];
    PGresult *res = NULL;
    qs_db_param_bytea(&p[0], c->serial, c->serial_len);
    qs_db_param_text(&p[1], c->status);
    if (c->revoked) {
        qs_db_param_timestamptz(&p[2], c->revoked_at_us);
        qs_db_param_int4(&p[3], c->reason);
    } else {
        qs_db_param_null(&p[2], QS_DB_OID_TIMESTAMPTZ);
        qs_db_param_null(&p[3], QS_DB_OID_INT4);
    }
    qs_db_param_bytea(&p[4], c->record_mac, sizeof c->record_mac);
    qs_err r = qs_db_exec(db, __func__, sql, 5, p, &res);
    if (r == QS_OK && strcmp(PQcmdTuples(res), "1") != 0)
        r = QS_ERR_NOT_FOUND;
    PQclear(res);
    return r;
}
