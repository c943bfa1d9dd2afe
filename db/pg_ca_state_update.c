/* Operation: write the CA's changing columns. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_ca_state_update(qs_db *db, const qs_db_ca_state *s)
{
    static const char sql[] =
        "UPDATE qsign.ca_state SET status = $1, ca_cert = $2, csr = $3, ocsp_cert = $4,"
        " crl_number = $5, record_mac = $6, updated_at = pg_catalog.now() WHERE id = 1";
    qs_db_param p[6];
    PGresult *res = NULL;
    qs_db_param_text(&p[0], s->status);
    qs_db_param_bytea(&p[1], s->has_ca_cert ? s->ca_cert : NULL, s->ca_cert_len);
    qs_db_param_bytea(&p[2], s->has_csr ? s->csr : NULL, s->csr_len);
    qs_db_param_bytea(&p[3], s->has_ocsp_cert ? s->ocsp_cert : NULL, s->ocsp_cert_len);
    qs_db_param_int8(&p[4], s->crl_number);
    qs_db_param_bytea(&p[5], s->record_mac, sizeof s->record_mac);
    qs_err r = qs_db_exec(db, __func__, sql, 6, p, &res);
    if (r == QS_OK && strcmp(PQcmdTuples(res), "1") != 0)
        r = QS_ERR_NOT_FOUND;
    PQclear(res);
    return r;
}
