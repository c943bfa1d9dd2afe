/* Operation: the CA's row, once. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_ca_state_insert(qs_db *db, const qs_db_ca_state *s)
{
    static const char sql[] =
        "INSERT INTO qsign.ca_state (id, key_label, key_alg, status, ca_cert, csr, ocsp_key_label,"
        " ocsp_cert, crl_number, record_mac) VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9)";
    qs_db_param p[9];
    qs_db_param_text(&p[0], s->key_label);
    qs_db_param_text(&p[1], s->key_alg);
    qs_db_param_text(&p[2], s->status);
    qs_db_param_bytea(&p[3], s->has_ca_cert ? s->ca_cert : NULL, s->ca_cert_len);
    qs_db_param_bytea(&p[4], s->has_csr ? s->csr : NULL, s->csr_len);
    qs_db_param_text(&p[5], s->ocsp_key_label);
    qs_db_param_bytea(&p[6], s->has_ocsp_cert ? s->ocsp_cert : NULL, s->ocsp_cert_len);
    qs_db_param_int8(&p[7], s->crl_number);
    qs_db_param_bytea(&p[8], s->record_mac, sizeof s->record_mac);
    qs_err r = qs_db_exec(db, __func__, sql, 9, p, NULL);
    if (r == QS_ERR_DB_CONSTRAINT && strcmp(qs_db_last_sqlstate(db), "23505") == 0)
        r = QS_ERR_EXISTS;
    return r;
}
