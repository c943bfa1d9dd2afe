/*
 * POST /csc/v{1,2}/auth/revoke: revokes one of the caller's tokens.  An access token is
 * revoked alone; a refresh token takes its whole login session with it.  As RFC 7009 asks,
 * the answer is 204 whether or not the token existed or belonged to the caller, so nothing
 * about other tokens can be learned.
 */
#define QS_LOG_MODULE "api"
#include <string.h>

#include "api/api_internal.h"
#include "db/db_api.h"
#include "util/log.h"

static const char *const hints[] = {"access_token", "refresh_token", NULL};

static const api_field_spec spec[] = {
    {.field = API_F_TOKEN,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 256,
     .flags = API_FS_TOKEN | API_FS_SECRET},
    {.field = API_F_TOKEN_TYPE_HINT,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 32,
     .allowed = hints},
    {.field = API_F_CLIENT_DATA,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_CLIENT_DATA_MAX},
};

typedef struct revoke_ctx {
    uint8_t hash[API_SHA256_LEN];
    const uint8_t *user_id;
    int64_t revoked;
} revoke_ctx;

static qs_err revoke_txn(qs_db *db, void *cls)
{
    revoke_ctx *c = cls;
    qs_db_api_token tok;
    bool found = false, one = false;
    c->revoked = 0;
    qs_err r = qs_db_token_get(db, c->hash, &tok, &found);
    if (r != QS_OK || !found || memcmp(tok.user_id, c->user_id, API_UUID_LEN) != 0)
        return r;
    if (tok.kind == QS_DB_TOKEN_REFRESH)
        return qs_db_token_revoke_session(db, tok.session_id, tok.user_id, &c->revoked);
    r = qs_db_token_revoke(db, c->hash, tok.user_id, &one);
    c->revoked = one ? 1 : 0;
    return r;
}

static void handle(api_request *rq)
{
    const api_param *t = &rq->p.f[API_F_TOKEN];
    revoke_ctx c = {.user_id = rq->user_id};
    qs_db *db = NULL;
    qs_err r;

    if (api_token_hash(t->s, t->len, c.hash) != QS_OK) {
        api_reply_error(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter token");
        return;
    }
    if ((r = api_db(rq, &db)) != QS_OK ||
        (r = qs_db_run_txn_opt(db, "token_revoke", QS_DB_TXN_READ_COMMITTED, revoke_txn, &c)) !=
            QS_OK) {
        api_reply_error(rq, r, NULL);
        return;
    }
    qs_info("revoke tokens=%lld", (long long)c.revoked);
    api_reply_no_content(rq);
}

const api_endpoint api_ep_auth_revoke = {
    .name = "auth/revoke",
    .method = "POST",
    .versions = API_V_BOTH,
    .spec = spec,
    .nspec = sizeof spec / sizeof spec[0],
    .auth = API_AUTH_BEARER,
    .handler = handle,
};
