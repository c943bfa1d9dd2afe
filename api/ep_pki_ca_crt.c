/*
 * GET /pki/ca.crt: the CA certificate, DER (application/pkix-cert), the AIA caIssuers target of
 * every certificate the CA issues.  Public; read from the database (qsign_api may read the CA's
 * public certificates).  404 until the CA is active.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>

#include "api/api_internal.h"
#include "db/db_ca.h"

typedef struct ca_ctx {
    uint8_t *ca, *ocsp;
    size_t ca_len, ocsp_len;
    bool found;
} ca_ctx;

static qs_err ca_txn(qs_db *db, void *cls)
{
    ca_ctx *c = cls;
    free(c->ca);
    free(c->ocsp);
    c->ca = c->ocsp = NULL;
    return qs_db_ca_public(db, &c->ca, &c->ca_len, &c->ocsp, &c->ocsp_len, &c->found);
}

static void handle(api_request *rq)
{
    ca_ctx c = {0};
    qs_db *db = NULL;
    qs_err r = api_db(rq, &db);
    if (r == QS_OK)
        r = qs_db_run_txn_opt(db, "pki_ca_crt", QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED,
                              ca_txn, &c);
    if (r != QS_OK)
        api_reply_error(rq, r, NULL);
    else if (!c.found)
        api_reply_error(rq, QS_ERR_NOT_FOUND, "The CA is not initialised");
    else {
        api_reply_text(rq, 200, "application/pkix-cert", (char *)c.ca, c.ca_len);
        c.ca = NULL;
    }
    free(c.ca);
    free(c.ocsp);
}

const api_endpoint api_ep_pki_ca_crt = {
    .name = "pki/ca.crt",
    .method = "GET",
    .auth = API_AUTH_NONE,
    .handler = handle,
};
