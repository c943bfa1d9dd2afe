/*
 * POST /csc/v{1,2}/credentials/info: one of the caller's credentials, with its certificate and
 * the CA's (certificates single|chain) and their status (valid, revoked, expired).  A credential
 * that does not exist, is destroyed, or belongs to someone else gets the same answer ("Invalid
 * parameter credentialID"), so its existence is never revealed.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>

#include "api/api_internal.h"
#include "db/db_api.h"
#include "db/db_ca.h"
#include "util/log.h"

static const char *const cert_choices[] = {"none", "single", "chain", NULL};

static const api_field_spec spec[] = {
    {.field = API_F_CREDENTIAL_ID,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 128},
    {.field = API_F_CERTIFICATES,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 16,
     .allowed = cert_choices},
    {.field = API_F_CERT_INFO, .type = API_T_BOOL, .versions = API_V_BOTH},
    {.field = API_F_AUTH_INFO, .type = API_T_BOOL, .versions = API_V_BOTH},
    {.field = API_F_LANG, .type = API_T_STRING, .versions = API_V_BOTH, .min = 1, .max = 35},
    {.field = API_F_CLIENT_DATA,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_CLIENT_DATA_MAX},
};

typedef struct info_ctx {
    const uint8_t *user_id;
    uint8_t cred_id[API_UUID_LEN];
    qs_db_api_credential cred;
    bool found;
    qs_db_certificate *cert; /* the credential's certificate, if has_cert */
    bool has_cert;
    uint8_t *ca, *ocsp; /* the CA's certificates (malloc'd), if has_ca */
    size_t ca_len, ocsp_len;
    bool has_ca;
} info_ctx;

static qs_err info_txn(qs_db *db, void *cls)
{
    info_ctx *c = cls;
    free(c->ca);
    free(c->ocsp);
    c->ca = c->ocsp = NULL;
    qs_err r = qs_db_account_credential(db, c->user_id, c->cred_id, &c->cred, &c->found);
    if (r != QS_OK || !c->found)
        return r;
    if ((r = qs_db_certificate_of_credential(db, c->cred_id, false, c->cert, &c->has_cert)) !=
            QS_OK ||
        !c->has_cert)
        return r;
    return qs_db_ca_public(db, &c->ca, &c->ca_len, &c->ocsp, &c->ocsp_len, &c->has_ca);
}

static void handle(api_request *rq)
{
    const api_params *p = &rq->p;
    const api_param *id = &p->f[API_F_CREDENTIAL_ID];
    info_ctx c = {.user_id = rq->user_id};
    api_cert_view view;
    qs_db *db = NULL;
    qs_err r;

    if ((c.cert = malloc(sizeof *c.cert)) == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return;
    }
    if (api_uuid_parse(id->s, id->len, c.cred_id) == QS_OK) {
        if ((r = api_db(rq, &db)) != QS_OK ||
            (r = qs_db_run_txn_opt(db, "credential_info",
                                   QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, info_txn, &c)) !=
                QS_OK) {
            api_reply_error(rq, r, NULL);
            goto out;
        }
    }
    if (!c.found) {
        api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                         api_field_name(rq->ver, API_F_CREDENTIAL_ID));
        goto out;
    }
    api_cred_opts opts = {
        .certificates = p->f[API_F_CERTIFICATES].present ? p->f[API_F_CERTIFICATES].s : "single",
        .cert_info = p->f[API_F_CERT_INFO].present && p->f[API_F_CERT_INFO].b,
        .auth_info = p->f[API_F_AUTH_INFO].present && p->f[API_F_AUTH_INFO].b,
    };
    if (c.has_cert) {
        api_cert_view_make(c.cert, c.has_ca ? c.ca : NULL, c.ca_len, api_now_us(), &view);
        opts.cert = &view;
    }
    json_t *o = api_credential_json(rq, &c.cred, &opts);
    if (o == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    api_reply_json(rq, 200, o);
out:
    free(c.cert);
    free(c.ca);
    free(c.ocsp);
}

const api_endpoint api_ep_credentials_info = {
    .name = "credentials/info",
    .method = "POST",
    .versions = API_V_BOTH,
    .spec = spec,
    .nspec = sizeof spec / sizeof spec[0],
    .auth = API_AUTH_BEARER,
    .handler = handle,
};
