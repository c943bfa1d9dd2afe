/* Operation (qsignd): the active CA's certificate and its OCSP responder's. */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_ca_internal.h"

static qs_err copy_bytea(const PGresult *res, int col, uint8_t **out, size_t *len)
{
    int n = PQgetlength(res, 0, col);
    if (PQgetisnull(res, 0, col) || n <= 0 || n > QS_DB_CERT_DER_MAX)
        return QS_ERR_DB;
    if ((*out = malloc((size_t)n)) == NULL)
        return QS_ERR_NOMEM;
    memcpy(*out, PQgetvalue(res, 0, col), (size_t)n);
    *len = (size_t)n;
    return QS_OK;
}

qs_err qs_db_ca_public(qs_db *db, uint8_t **ca_cert, size_t *ca_cert_len, uint8_t **ocsp_cert,
                       size_t *ocsp_cert_len, bool *found)
{
    static const char sql[] =
        "SELECT ca_cert, ocsp_cert FROM qsign.ca_state WHERE id = 1 AND status = 'active'";
    PGresult *res = NULL;

    *ca_cert = *ocsp_cert = NULL;
    *ca_cert_len = *ocsp_cert_len = 0;
    *found = false;
    qs_err r = qs_db_exec(db, __func__, sql, 0, NULL, &res);
    if (r != QS_OK || PQntuples(res) != 1)
        goto out;
    if ((r = copy_bytea(res, 0, ca_cert, ca_cert_len)) != QS_OK ||
        (r = copy_bytea(res, 1, ocsp_cert, ocsp_cert_len)) != QS_OK)
        goto out;
    *found = true;
out:
    if (r != QS_OK) {
        free(*ca_cert);
        free(*ocsp_cert);
        *ca_cert = *ocsp_cert = NULL;
        *ca_cert_len = *ocsp_cert_len = 0;
    }
    PQclear(res);
    return r;
}
