/*
 * POST /csc/v{1,2}/credentials/list: the caller's credentials only (a userID, if given, must be
 * the caller's own).  Destroyed credentials are not listed; onlyValid keeps the enabled ones.
 * Paging: maxResults, and an opaque pageToken (the offset) in nextPageToken when more follow.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "db/db_api.h"
#include "db/db_ca.h"
#include "util/log.h"

#define PAGE_OFFSET_MAX   1000000
#define PAGE_TOKEN_DIGITS 7

static const char *const cert_choices[] = {"none", "single", "chain", NULL};

static const api_field_spec spec[] = {
    {.field = API_F_USER_ID, .type = API_T_STRING, .versions = API_V_BOTH, .min = 1, .max = 128},
    {.field = API_F_CREDENTIAL_INFO, .type = API_T_BOOL, .versions = API_V2_BIT},
    {.field = API_F_CERTIFICATES,
     .type = API_T_STRING,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 16,
     .allowed = cert_choices},
    {.field = API_F_CERT_INFO, .type = API_T_BOOL, .versions = API_V2_BIT},
    {.field = API_F_AUTH_INFO, .type = API_T_BOOL, .versions = API_V2_BIT},
    {.field = API_F_ONLY_VALID, .type = API_T_BOOL, .versions = API_V2_BIT},
    {.field = API_F_LANG, .type = API_T_STRING, .versions = API_V_BOTH, .min = 1, .max = 35},
    {.field = API_F_MAX_RESULTS,
     .type = API_T_INT,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_LIST_MAX_RESULTS},
    {.field = API_F_PAGE_TOKEN,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = PAGE_TOKEN_DIGITS},
    {.field = API_F_CLIENT_DATA,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_CLIENT_DATA_MAX},
};

typedef struct list_ctx {
    const uint8_t *user_id;
    bool only_enabled;
    uint32_t offset, max;
    qs_db_api_credential *creds;
    size_t n;
    bool more;
    uint8_t *ca, *ocsp; /* the CA's certificates (malloc'd), if has_ca */
    size_t ca_len, ocsp_len;
    bool has_ca;
} list_ctx;

static qs_err list_txn(qs_db *db, void *cls)
{
    list_ctx *c = cls;
    free(c->ca);
    free(c->ocsp);
    c->ca = c->ocsp = NULL;
    qs_err r = qs_db_account_credentials(db, c->user_id, c->only_enabled, c->offset, c->max,
                                         c->creds, &c->n, &c->more);
    if (r != QS_OK)
        return r;
    return qs_db_ca_public(db, &c->ca, &c->ca_len, &c->ocsp, &c->ocsp_len, &c->has_ca);
}

typedef struct cert_ctx {
    const uint8_t *cred_id;
    qs_db_certificate *row;
    bool found;
} cert_ctx;

static qs_err cert_txn(qs_db *db, void *cls)
{
    cert_ctx *c = cls;
    return qs_db_certificate_of_credential(db, c->cred_id, false, c->row, &c->found);
}

static bool parse_offset(const api_param *p, uint32_t *offset)
{
    *offset = 0;
    if (!p->present)
        return true;
    uint32_t v = 0;
    for (size_t i = 0; i < p->len; i++) {
        if (p->s[i] < '0' || p->s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(p->s[i] - '0');
    }
    if (v > PAGE_OFFSET_MAX)
        return false;
    *offset = v;
    return true;
}

static void handle(api_request *rq)
{
    const api_params *p = &rq->p;
    const api_version *ver = api_version_get(rq->ver);
    list_ctx c = {.user_id = rq->user_id};
    qs_db_certificate *row = NULL;
    qs_db *db = NULL;
    json_t *o = NULL;
    qs_err r;

    if (p->f[API_F_USER_ID].present) {
        uint8_t uid[API_UUID_LEN];
        if (api_uuid_parse(p->f[API_F_USER_ID].s, p->f[API_F_USER_ID].len, uid) != QS_OK ||
            memcmp(uid, rq->user_id, API_UUID_LEN) != 0) {
            api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                             api_field_name(rq->ver, API_F_USER_ID));
            return;
        }
    }
    if (!parse_offset(&p->f[API_F_PAGE_TOKEN], &c.offset)) {
        api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                         api_field_name(rq->ver, API_F_PAGE_TOKEN));
        return;
    }
    c.only_enabled = p->f[API_F_ONLY_VALID].present && p->f[API_F_ONLY_VALID].b;
    c.max = p->f[API_F_MAX_RESULTS].present ? (uint32_t)p->f[API_F_MAX_RESULTS].i
                                            : API_LIST_MAX_RESULTS;
    c.creds = calloc(c.max, sizeof *c.creds);
    if (c.creds == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return;
    }
    if ((r = api_db(rq, &db)) != QS_OK ||
        (r = qs_db_run_txn_opt(db, "credentials_list",
                               QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, list_txn, &c)) !=
            QS_OK) {
        api_reply_error(rq, r, NULL);
        goto out;
    }

    bool with_info = p->f[API_F_CREDENTIAL_INFO].present && p->f[API_F_CREDENTIAL_INFO].b;
    api_cred_opts opts = {
        .certificates = p->f[API_F_CERTIFICATES].present ? p->f[API_F_CERTIFICATES].s : "single",
        .cert_info = p->f[API_F_CERT_INFO].present && p->f[API_F_CERT_INFO].b,
        .auth_info = p->f[API_F_AUTH_INFO].present && p->f[API_F_AUTH_INFO].b,
    };
    json_t *ids = json_array(), *infos = with_info ? json_array() : NULL;
    o = json_object();
    int rc = (ids == NULL || o == NULL || (with_info && infos == NULL)) ? -1 : 0;
    if (with_info && (row = malloc(sizeof *row)) == NULL)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < c.n; i++) {
        char id[API_UUID_STR_LEN + 1];
        api_uuid_format(c.creds[i].id, id);
        rc |= json_array_append_new(ids, json_string(id));
        if (with_info) {
            cert_ctx cc = {.cred_id = c.creds[i].id, .row = row};
            api_cert_view view;
            r = qs_db_run_txn_opt(db, "credential_cert",
                                  QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED, cert_txn, &cc);
            if (r != QS_OK) {
                json_decref(ids);
                json_decref(infos);
                json_decref(o);
                api_reply_error(rq, r, NULL);
                goto out;
            }
            opts.cert = NULL;
            if (cc.found) {
                api_cert_view_make(row, c.has_ca ? c.ca : NULL, c.ca_len, api_now_us(), &view);
                opts.cert = &view;
            }
            json_t *info = api_credential_json(rq, &c.creds[i], &opts);
            if (info != NULL)
                rc |= json_object_set_new(info, "credentialID", json_string(id));
            rc |= json_array_append_new(infos, info);
        }
    }
    if (rc == 0)
        rc |= json_object_set_new(o, "credentialIDs", ids);
    else
        json_decref(ids);
    ids = NULL;
    if (with_info) {
        if (rc == 0)
            rc |= json_object_set_new(o, "credentialInfos", infos);
        else
            json_decref(infos);
    }
    if (rc == 0 && c.more) {
        char next[16];
        snprintf(next, sizeof next, "%u", c.offset + (uint32_t)c.n);
        rc |= json_object_set_new(o, "nextPageToken", json_string(next));
    }
    if (rc == 0 && ver->echo_only_valid)
        rc |= json_object_set_new(o, "onlyValid", json_boolean(c.only_enabled));
    if (rc != 0) {
        json_decref(o);
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    api_reply_json(rq, 200, o);
out:
    free(row);
    free(c.ca);
    free(c.ocsp);
    free(c.creds);
}

const api_endpoint api_ep_credentials_list = {
    .name = "credentials/list",
    .method = "POST",
    .versions = API_V_BOTH,
    .spec = spec,
    .nspec = sizeof spec / sizeof spec[0],
    .auth = API_AUTH_BEARER,
    .handler = handle,
};
