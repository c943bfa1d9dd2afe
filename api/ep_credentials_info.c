/*
 * POST /csc/v{1,2}/credentials/info: one of the caller's credentials.  A credential that does
 * not exist, is destroyed, or belongs to someone else gets the same answer ("Invalid parameter
 * credentialID"), so its existence is never revealed.
 */
#define QS_LOG_MODULE "api"
#include "api/api_internal.h"
#include "db/db_api.h"
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
} info_ctx;

static qs_err info_txn(qs_db *db, void *cls)
{
    info_ctx *c = cls;
    return qs_db_account_credential(db, c->user_id, c->cred_id, &c->cred, &c->found);
}

static void handle(api_request *rq)
{
    const api_params *p = &rq->p;
    const api_param *id = &p->f[API_F_CREDENTIAL_ID];
    info_ctx c = {.user_id = rq->user_id};
    qs_db *db = NULL;
    qs_err r;

    if (api_uuid_parse(id->s, id->len, c.cred_id) == QS_OK) {
        if ((r = api_db(rq, &db)) != QS_OK ||
            (r = qs_db_run_txn_opt(db, "credential_info",
                                   QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, info_txn, &c)) !=
                QS_OK) {
            api_reply_error(rq, r, NULL);
            return;
        }
    }
    if (!c.found) {
        api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                         api_field_name(rq->ver, API_F_CREDENTIAL_ID));
        return;
    }
    api_cred_opts opts = {
        .certificates = p->f[API_F_CERTIFICATES].present ? p->f[API_F_CERTIFICATES].s : "single",
        .cert_info = p->f[API_F_CERT_INFO].present && p->f[API_F_CERT_INFO].b,
        .auth_info = p->f[API_F_AUTH_INFO].present && p->f[API_F_AUTH_INFO].b,
    };
    json_t *o = api_credential_json(rq, &c.cred, &opts);
    if (o == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return;
    }
    api_reply_json(rq, 200, o);
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
