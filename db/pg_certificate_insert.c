/* Operation: a certificate the CA issued. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_certificate_insert(qs_db *db, const qs_db_certificate *c)
{
    static const char sql[] =
        "INSERT INTO qsign.certificates (serial, credential_id, issuer, subject, not_before,"
        " not_after, der, profile, status, revoked_at, reason, record_mac)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
    qs_db_param p[12];
    qs_db_param_bytea(&p[0], c->serial, c->serial_len);
    qs_db_param_uuid(&p[1], c->credential_id);
    qs_db_param_text(&p[2], c->issuer);
    qs_db_param_text(&p[3], c->subject);
    qs_db_param_timestamptz(&p[4], c->not_before_us);
    qs_db_param_timestamptz(&p[5], c->not_after_us);
    qs_db_param_bytea(&p[6], c->der, c->der_len);
    qs_db_param_text(&p[7], c->profile);
    qs_db_param_text(&p[8], c->status);
    if (c->revoked) {
        qs_db_param_timestamptz(&p[9], c->revoked_at_us);
        qs_db_param_int4(&p[10], c->reason);
    } else {
        qs_db_param_null(&p[9], QS_DB_OID_TIMESTAMPTZ);
        qs_db_param_null(&p[10], QS_DB_OID_INT4);
    }
    qs_db_param_bytea(&p[11], c->record_mac, sizeof c->record_mac);
    qs_err r = qs_db_exec(db, __func__, sql, 12, p, NULL);
    if (r == QS_ERR_DB_CONSTRAINT && strcmp(qs_db_last_sqlstate(db), "23505") == 0)
        r = QS_ERR_EXISTS;
    return r;
}
